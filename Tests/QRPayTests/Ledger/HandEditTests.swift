// A short seeded run of `make stress`'s hand edits, in `make test`: one edit of one index at a time
// (a record's state made final, a marker deleted or moved, a due entry added), `qrpay-spool check`
// names it, the stages run past every hold and expiry meanwhile, and afterwards no notice or
// receipt tells of a state the journal does not hold; undone, check is clean and `rebuild` changes
// nothing. (make stress does the same among kill -9, full disks and read-only directories.)

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPayments
@testable import QRPayLedger
import Testing

@Suite(.serialized) struct HandEditTests {
    /// SplitMix64: the same sequence of edits for a seed, on every machine.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Each notice and receipt names a state the journal holds for its payment.
    func outputsTheJournalHolds(_ o: OperationsSpool) throws -> [String] {
        var held: [String: Set<String>] = [:]
        for e in try o.s.journalEntries() { if let t = e.transition { held[e.shop + "/" + e.payment, default: []].insert(t.to.rawValue) } }
        var wrong: [String] = []
        for shop in ["1001", "2002"] {
            for name in o.s.files(o.root + "/shops/\(shop)/notices/new") {
                let parts = name.dropLast(".json".count).split(separator: ".").map(String.init)
                if parts.count == 2, held[shop + "/" + parts[0]]?.contains(parts[1]) != true { wrong.append("notice \(shop)/\(name)") }
            }
        }
        for user in ["u1", "u2"] {
            for name in o.s.files(o.root + "/users/\(user)/receipts/new") {
                let parts = name.dropLast(".json".count).split(separator: ".").map(String.init)
                if parts.count == 3, held[parts[0] + "/" + parts[1]]?.contains(parts[2]) != true { wrong.append("receipt \(user)/\(name)") }
            }
        }
        return wrong
    }

    @Test(arguments: [UInt64(7), 11]) func aHandEditIsNamedAndNeverFollowed(seed: UInt64) throws {
        var rng = Seeded(state: seed)
        let o = try OperationsSpool()
        let layout = o.s.store.layout
        let payments = [("1001", "A"), ("1001", "B"), ("1001", "C"), ("1001", "D"), ("2002", "E")]
        var ahead = 0.0
        for round in 0..<4 {
            let (shop, payment) = payments.randomElement(using: &rng)!
            let record = try o.record(shop, payment)
            let marker = layout.markerPath(state: record.state, info: record.info)
            let kind = ["record-state", "marker-delete", "marker-move", "due-add"].randomElement(using: &rng)!
            let expected: String
            var undo: () throws -> Void
            switch kind {
            case "record-state":
                let path = o.s.store.recordPath(shop: shop, payment: payment)
                let original = try FileIO.read(path, maxBytes: 1 << 22)
                let state = record.state == .finish ? "expire" : "finish"
                try o.rewriteRecord(shop, payment) { $0["state"] = .string(state) }
                expected = "record.journal"
                undo = { try Durable.write(original, to: path, mode: 0o640, ifExists: .replace) }
            case "marker-delete":
                try FileIO.remove(marker)
                expected = "marker.missing"
                undo = { try Durable.write(Data(), to: marker, mode: 0o640, ifExists: .replace) }
            case "marker-move":
                let other = PaymentState.allCases.filter { $0 != record.state }.randomElement(using: &rng)!
                let moved = layout.markerPath(state: other, info: record.info)
                try layout.makeDirectories(FileIO.parentDirectory(moved))
                #expect(rename(marker, moved) == 0)
                expected = "marker.extra"
                undo = { _ = rename(moved, marker) }
            default:
                let entry = DueEntry(kind: .expires, epoch: DueIndex.seconds(Date()) + 7200 * Int64(round + 1), shop: shop, payment: payment)
                let path = DueIndex.path(entry, layout: layout)
                try layout.makeDirectories(FileIO.parentDirectory(path))
                try Durable.write(Data(), to: path, mode: 0o640, ifExists: .replace)
                // An expiry entry of an open request is its own index (a second one, a finding too).
                expected = "due.extra"
                undo = { try FileIO.remove(path) }
            }
            let (status, findings) = try o.check()
            #expect(status == 1 && codes(findings).contains(expected), "seed \(seed) round \(round): \(kind) of \(shop)/\(payment) (\(record.state.rawValue)): \(codes(findings))")
            // The stages run, past every hold and expiry; whatever they do, they tell of nothing
            // the journal does not hold.
            ahead += 7200
            _ = o.s.run("qrpay-settle", ["--password-file", o.s.passwordFile, "--hold", "1h", "--once"], clockAhead: ahead)
            let wrong = try outputsTheJournalHolds(o)
            #expect(wrong.isEmpty, "seed \(seed) round \(round) \(kind): \(wrong)")
            // Undone (the state the payment is in now, as the journal has it, is what check wants).
            try undo()
            _ = o.s.run("qrpay-spool", ["check", "--repair"])
            let after = try o.check()
            #expect(after.status == 0, "seed \(seed) round \(round) after undoing \(kind) of \(shop)/\(payment): \(codes(after.findings))")
        }
        let settle = o.s.run("qrpay-settle", ["--password-file", o.s.passwordFile, "--hold", "1h", "--once"], clockAhead: ahead + 7200)
        #expect(settle.status == 0, "\(settle.stderr)")
        #expect(try outputsTheJournalHolds(o).isEmpty)
        let rebuild = o.s.run("qrpay-spool", ["rebuild", "--dry-run", "--json"])
        let report = try JSONValue.parse(rebuild.stdout)
        #expect(rebuild.status == 0 && report["added"]?.arrayValue?.isEmpty == true && report["removed"]?.arrayValue?.isEmpty == true,
                "\(rebuild.stdout)")
    }
}
