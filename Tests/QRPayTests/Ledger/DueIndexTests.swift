// The due index (pg/due): a settle pass reads only the payments that are due, whatever else the spool
// holds; entries follow every state change; check finds a missing one and --repair writes it.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayLedger
import Testing

@Suite(.serialized) struct DueIndexTests {
    func entries(_ s: PipelineSpool, _ kind: DueKind) throws -> [String] {
        let base = SpoolLayout(root: s.root).dueDirectory(kind)
        var out: [String] = []
        for minute in try FileIO.listDirectory(base) { out += try FileIO.listDirectory(base + "/" + minute) }
        return out.compactMap { DueEntry(kind: kind, name: $0).map { "\($0.shop)/\($0.payment)" } }.sorted()
    }

    @Test func aSettlePassReadsOnlyWhatIsDue() throws {
        let s = try PipelineSpool()
        for i in 0..<10 { try s.dropInInbox(try s.signedPayment(try s.paymentInfo(payment: "SOON-\(i)", lifetime: 60))) }
        for i in 0..<20 { try s.dropInInbox(try s.signedPayment(try s.paymentInfo(payment: "LATER-\(i)", lifetime: 3600))) }
        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 0)
        for i in 0..<5 { try s.dropApproval(try s.approval(for: try #require(try s.store.load(shop: "1001", payment: "LATER-\(i)")))) }
        #expect(s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"]).status == 0)
        #expect(try entries(s, .expires).count == 25)
        #expect(try entries(s, .accepted) == (0..<5).map { "1001/LATER-\($0)" }.sorted())

        // Damage every record that is not due: a pass that read them would fail on them.
        var saved: [String: Data] = [:]
        for i in 0..<20 {
            let path = s.store.recordPath(shop: "1001", payment: "LATER-\(i)")
            saved[path] = try FileIO.read(path, maxBytes: 1 << 22)
            try Durable.write(Data("not a record".utf8), to: path, mode: 0o640, ifExists: .replace)
        }
        let settled = s.run("qrpay-settle", ["--password-file", s.passwordFile, "--once", "--hold", "1h"], clockAhead: 120)
        #expect(settled.status == 0, "\(settled.stderr)")
        #expect(settled.stderr.contains("10 changed by the clock"), "\(settled.stderr)")
        for i in 0..<10 { #expect(try s.store.load(shop: "1001", payment: "SOON-\(i)")?.state == .expire) }
        #expect(try entries(s, .expires).count == 15)
        for (path, data) in saved { try Durable.write(data, to: path, mode: 0o640, ifExists: .replace) }

        // The hold passes for the accepted ones: finished, their entries gone; the open requests' stay.
        let finished = s.run("qrpay-settle", ["--password-file", s.passwordFile, "--once", "--hold", "1h"], clockAhead: 3600 + 60)
        #expect(finished.status == 0, "\(finished.stderr)")
        for i in 0..<5 { #expect(try s.store.load(shop: "1001", payment: "LATER-\(i)")?.state == .finish) }
        #expect(try entries(s, .accepted).isEmpty)
        // By then the open requests had expired too (lifetime 1 h): the index is empty.
        for i in 5..<20 { #expect(try s.store.load(shop: "1001", payment: "LATER-\(i)")?.state == .expire) }
        #expect(try entries(s, .expires).isEmpty)
        #expect(try FileIO.listDirectory(SpoolLayout(root: s.root).dueDirectory(.expires)).isEmpty)  // empty minutes removed
        #expect(s.run("qrpay-spool", ["check"]).status == 0)
    }

    @Test func checkFindsAMissingEntryAndRepairWritesIt() throws {
        let s = try PipelineSpool()
        let record = try s.registerPayment(try s.paymentInfo(payment: "D-1"))
        let entry = try #require(DueIndex.entry(for: record))
        let path = DueIndex.path(entry, layout: SpoolLayout(root: s.root))
        #expect(FileIO.exists(path))
        try FileIO.remove(path)
        let found = s.run("qrpay-spool", ["check"])
        #expect(found.status == 1 && found.stdout.contains("due.missing"), "\(found.stdout)")
        #expect(s.run("qrpay-spool", ["check", "--repair"]).status == 0)
        #expect(FileIO.exists(path))
        // And settle then expires it when its time comes.
        #expect(s.run("qrpay-settle", ["--password-file", s.passwordFile, "--once", "--hold", "0"], clockAhead: 3600).status == 0)
        #expect(try s.store.load(shop: "1001", payment: "D-1")?.state == .expire)
    }

    @Test func minuteNamesRoundTrip() {
        for epoch: Int64 in [0, 1_800_000_000, 1_800_000_059, 1_800_000_060, 4_102_444_799] {
            let minute = DueIndex.minute(epoch)
            #expect(minute.utf8.count == 13)
            let start = DueIndex.minuteStart(minute)
            #expect(start == epoch - epoch % 60, "\(minute)")
        }
        #expect(DueIndex.minuteStart("2026-11-28") == nil)
        #expect(DueEntry(kind: .expires, name: "12~1001~P-1") == DueEntry(kind: .expires, epoch: 12, shop: "1001", payment: "P-1"))
        #expect(DueEntry(kind: .expires, name: "x~1001~P-1") == nil)
        #expect(DueEntry(kind: .expires, name: "12~../x~P") == nil)
    }
}
