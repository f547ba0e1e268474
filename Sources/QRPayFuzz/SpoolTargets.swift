// Targets over files on a spool that someone may have edited: reason files beside deferred and
// quarantined files, journal lines, and the payment-information list entries users fetch.
// Each works in a scratch spool of its own, under the environment's file lock.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
import QRPayLedger
import QRPayUserClient
import QRPayOperations

/// deferred/NAME.reason.json and quarantine/NAME.reason.json hold the input; the queue then counts
/// attempts, defers the file again (attempts + 1), promotes it, and quarantines it.
enum ReasonTarget {
    static let name = "1764000000.fuzz-1.json"
    static let day = Timestamp.parse("2026-11-25T12:00:00Z")!

    static func run(_ data: Data) throws -> FuzzOutcome {
        let env = FuzzEnvironment.shared
        return try env.fileLock.withLock {
            let root = try must("a scratch queue") { try env.freshDirectory("reason") }
            let queue = Queue(path: root + "/q")
            try must("creating the queue") { try queue.create() }
            try writeScratch(Data("x".utf8), queue.quarantineDirectory + "/" + name)
            try writeScratch(data, queue.quarantineDirectory + "/" + name + ".reason.json")
            let listed = try must("listing quarantine/") { try queue.quarantined() }
            try require(listed.count == 1 && listed[0].name == name, "quarantine/ lists \(listed.map(\.name)), not \(name)")

            try writeScratch(data, queue.deferredDirectory + "/" + name + ".reason.json")
            try must("delivering the file") { try queue.deliver(Data("{}".utf8), name: name) }
            let attempts = queue.attempts(name)
            try require(attempts >= 0, "a reason file made the attempt count \(attempts)")
            guard let claimed = try must("claiming", { try queue.claim(name) }) else {
                throw FuzzViolation(target: "", message: "the delivered file could not be claimed")
            }
            let transient = QRPayError(.ioBusy, "a transient failure")
            try must("deferring the file") { try queue.deferFile(claimed, stage: "fuzz", error: transient, retryAt: day, now: day) }
            // Counting on (a count an edited file put at the queue's ceiling, 1,000,000, stays there).
            let counted = queue.attempts(name)
            try require(counted == attempts + 1 || (counted == attempts && attempts >= 1_000_000),
                        "deferring again counted \(counted) attempts after \(attempts)")
            let promoted = try must("promoting deferred files") { try queue.promoteDeferred(now: day.addingTimeInterval(1)) }
            try require(promoted == 1, "\(promoted) deferred files were due, not 1")
            guard let again = try must("claiming again", { try queue.claim(name) }) else {
                throw FuzzViolation(target: "", message: "the promoted file could not be claimed")
            }
            try must("quarantining the file") { try queue.quarantine(again, stage: "fuzz", error: QRPayError(.jwsMalformed, "bad input"), now: day) }
            let quarantined = try must("listing quarantine/ again") { try queue.quarantined() }
            try require(quarantined.count == 2 && quarantined.contains(where: { $0.attempts == counted && $0.code == ErrorCode.jwsMalformed.rawValue }),
                        "the quarantined file lost its reason or attempt count")
            return listed[0].code == "unknown" ? .refused("reason.unreadable") : .accepted
        }
    }
}

/// The input is pg/journal/2026-11-25.jsonl: every line is read as an entry (and must round-trip),
/// the audit walks the file (findings, never a crash), and an append continues the chain or refuses.
enum JournalTarget {
    static let at = Timestamp.parse("2026-11-25T12:00:00Z")!

    static func run(_ data: Data) throws -> FuzzOutcome {
        let env = FuzzEnvironment.shared
        return try env.fileLock.withLock {
            var parsed = 0
            for line in data.split(separator: 0x0A) {
                guard case .success(let entry) = try attempt({ try JournalEntry(line: Data(line)) }) else { continue }
                parsed += 1
                let again = try must("parsing an entry's own line") { try JournalEntry(line: entry.line) }
                try require(again == entry && again.line == entry.line && entry.line.last == 0x0A, "a journal entry does not round-trip")
            }
            let root = try must("a scratch spool") { try env.freshDirectory("journal") }
            try must("the journal directory") { try FileManager.default.createDirectory(atPath: SpoolLayout(root: root).journalDirectory, withIntermediateDirectories: true) }
            try writeScratch(data, SpoolLayout(root: root).journalFile(day: "2026-11-25"))
            var findings: [String] = []
            var audit = JournalAudit(spoolRoot: root) { code, _, _ in findings.append(code) }
            try must("auditing the journal") { try audit.run() }
            for code in findings { try require(code.contains(".") && !code.hasPrefix("."), "the audit reported the code \"\(code)\"") }

            let transition = TransitionRequest(shop: "1001", payment: "P1", from: nil, to: .request, evidence: Data("fuzz".utf8), at: at)
            switch try attempt({ try Journal(layout: SpoolLayout(root: root)).append([transition]) }) {
            case .success(let entries):
                try require(entries.count == 1 && entries[0].isIntact && entries[0].seq >= 1, "the appended entry is not intact")
                try require((try? JournalEntry(line: entries[0].line)) == entries[0], "the appended entry does not round-trip")
                // The chain continues: a fresh audit finds the new entry after the old head.
                var after = JournalAudit(spoolRoot: root) { _, _, _ in }
                try must("auditing the appended journal") { try after.run() }
                try require(after.head?.hash == entries[0].hash, "the appended entry is not the journal's head")
                return parsed > 0 ? .accepted : .refused("journal.empty")
            case .failure(let error):
                return .refused(error.code.rawValue)
            }
        }
    }
}

/// The input is the list entry of the fixture payment (pg/list/TT/TOKEN.json); the user's client
/// reviews the fixture QR code against it, as `qrpay-user scan` does.
enum ListEntryTarget {
    static let setup: (spool: String, client: UserClient, qr: QRPayload, trust: TrustStore) = {
        let env = FuzzEnvironment.shared
        let spool = env.scratch + "/list-spool"
        do {
            try FuzzEnvironment.writeCA(spool: spool, crl: Data(FixturePKI.crl.utf8), issued: [env.shop, env.user, env.pg, env.revoked])
            let qr = try QRPayload(text: FixturePKI.listQR)
            let path = SpoolLayout(root: spool).listPath(token: qr.listToken)
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            return (spool, try UserClient(spoolRoot: spool), qr, try TrustStore(spoolRoot: spool))
        } catch { fatalError("list-entry target: \(error)") }
    }()

    static func run(_ data: Data) throws -> FuzzOutcome {
        let env = FuzzEnvironment.shared
        let (spool, client, qr, trust) = setup
        return try env.fileLock.withLock {
            let store = PaymentStore(spoolRoot: spool)
            try writeScratch(data, store.layout.listPath(token: qr.listToken))
            let entry = try attempt { try store.listEntry(for: qr, trust: trust, at: fixtureNow) }
            switch try attempt({ try client.review(symbol: FixturePKI.listQR, now: fixtureNow) }) {
            case .success(let review):
                guard case .success(let listed?) = entry else {
                    throw FuzzViolation(target: "", message: "a review passed on a list entry that does not read")
                }
                try require(listed.state == .request && review.state == .request, "a payment that is not open was reviewed")
                try require(review.info.shop == qr.shop && review.info.payment == qr.payment, "the review is of another payment")
                try require(review.shopCertificate == env.shop.fingerprint, "the review names another signer")
                try require(review.info.expires > fixtureNow, "an expired payment was reviewed")
                let jws = try must("the listed document") { try JWS(parsing: listed.document) }
                try require(jws.signature == qr.signature, "the review accepted another signature than the QR code's")
                _ = review.text(now: fixtureNow)
                try checkJSONRoundTrip(review.json, what: "review")
                return .accepted
            case .failure(let error):
                return .refused(error.code.rawValue)
            }
        }
    }
}
