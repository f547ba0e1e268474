// What `make stress` found, each now a test: a commit that fails after its journal
// append is retried without journaling the transition twice; an approval or cancel that arrives
// while its payment still waits in the inbox is deferred, never quarantined as "unknown payment".

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPKI
@testable import QRPayPayments
@testable import QRPayLedger
import Testing

@Suite(.serialized) struct RetryTests {
    func entries(_ journal: Journal) throws -> [JournalEntry] {
        var out: [JournalEntry] = []
        try journal.forEachEntry { e, _, _ in out.append(e) }
        return out
    }

    /// The journal append is announced by an intent; a flush that fails at naming (here: a target
    /// that exists) keeps the intent, and the retry journals nothing twice and, done, takes the
    /// change out of it. A clean flush leaves no intent behind.
    @Test func aFailedCommitIsRetriedWithoutJournalingTwice() throws {
        let dir = TemporaryDirectory("retry")
        let layout = SpoolLayout(root: dir.path + "/Spool")
        try layout.makeDirectories(layout.journalDirectory)
        let journal = Journal(layout: layout)
        let target = dir.path + "/Spool/record.json"
        try Data("in the way".utf8).write(to: URL(fileURLWithPath: target))
        let t = TransitionRequest(shop: "1001", payment: "P-1", from: .request, to: .accept, evidence: Data("approval".utf8), at: Date())

        let first = GroupCommit(context: StageContext(layout: layout))
        first.journal(journal, t)
        try first.write(Data("accepted".utf8), to: target)
        #expect(throws: QRPayError.self) { try first.flush() }
        #expect(try entries(journal).count == 1)
        #expect(try FileIO.listDirectory(layout.journalIntentsDirectory).count == 1)

        // The cause goes; the stage runs again and stages the very same transition.
        try FileManager.default.removeItem(atPath: target)
        let retry = GroupCommit(context: StageContext(layout: layout))
        retry.journal(journal, t)
        try retry.write(Data("accepted".utf8), to: target)
        try retry.flush()
        #expect(try entries(journal).map { $0.transition?.to } == [.accept])
        #expect(try String(decoding: FileIO.read(target), as: UTF8.self) == "accepted")
        // The retry adopted the failed commit's change: with its records in place, no intent is left
        // (one left would keep the payment from any other change: ledger.unfinished).
        #expect(try FileIO.listDirectory(layout.journalIntentsDirectory).isEmpty)

        // A different transition of the same payment is journaled as usual.
        let next = GroupCommit(context: StageContext(layout: layout))
        next.journal(journal, TransitionRequest(shop: "1001", payment: "P-1", from: .accept, to: .finish, evidence: Data("hold".utf8), at: Date()))
        try next.flush()
        #expect(try entries(journal).map { $0.transition?.to } == [.accept, .finish])
        #expect(try FileIO.listDirectory(layout.journalIntentsDirectory).isEmpty)
    }

    /// An approval and a cancel that overtake their payment (deferred in the inbox by a fault of the
    /// system) wait for it; once it is registered they apply. With nothing left in the inbox, an
    /// approval of an unknown payment is the input's fault, as before.
    @Test func documentsThatOvertakeTheirPaymentWaitForIt() throws {
        let s = try PipelineSpool()
        let layout = SpoolLayout(root: s.root)
        let waiting = try s.paymentInfo(payment: "O-1")
        let cancelled = try s.paymentInfo(payment: "O-2")
        let signed = try s.signedPayment(waiting)
        try s.dropInInbox(signed)
        try s.dropInInbox(try s.signedPayment(cancelled))
        // The approval, made for the record the PG will write (same document hash).
        let approval = try Approval(shop: "1001", payment: "O-1", user: "u1", total: waiting.total, currency: "KRW",
                                    document: try JWS(parsing: signed).documentHash, audience: "PG1", at: Date())
        try s.dropApproval(try JWS.sign(payload: approval.json.serialized(), type: .approval, credentials: try #require(s.users["u1"])))
        let cancel = try Cancel(shop: "1001", payment: "O-2", reason: "", at: Date())
        try layout.cancels.create()
        try layout.cancels.deliver(try JWS.sign(payload: cancel.json.serialized(), type: .cancel, credentials: try #require(s.shops["1001"])))

        let early = s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"])
        #expect(early.status == 75, "\(early.stderr)")
        #expect(early.stderr.contains("approval.payment-pending") || early.stderr.contains("waits for it"), "\(early.stderr)")
        let earlyCancel = s.run("qrpay-settle", ["--password-file", s.passwordFile, "--hold", "1h", "--once"])
        #expect(earlyCancel.status == 75, "\(earlyCancel.stderr)")
        #expect(try s.quarantine(layout.approvals).isEmpty && s.quarantine(layout.cancels).isEmpty)
        #expect(s.files(layout.approvals.deferredDirectory).contains { !$0.hasSuffix(".reason.json") })

        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 0)
        // Past the backoff: the deferred documents are due again.
        #expect(s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"], clockAhead: 120).status == 0)
        #expect(try s.store.load(shop: "1001", payment: "O-1")?.state == .accept)
        #expect(s.run("qrpay-settle", ["--password-file", s.passwordFile, "--hold", "1h", "--once"], clockAhead: 120).status == 0)
        #expect(try s.store.load(shop: "1001", payment: "O-2")?.state == .cancel)

        // Nothing in the inbox any more: an approval of a payment never sent is refused.
        let stray = try Approval(shop: "1001", payment: "NEVER", user: "u1", total: 1, currency: "KRW",
                                 document: String(repeating: "A", count: 43), audience: "PG1", at: Date())
        try s.dropApproval(try JWS.sign(payload: stray.json.serialized(), type: .approval, credentials: try #require(s.users["u1"])))
        #expect(s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"]).status == 65)
        #expect(try s.quarantine(layout.approvals).map(\.code) == ["approval.unknown-payment"])
    }

    /// An idle `qrpay-settle --once` (nothing due, no cancel) ends before unlocking the PG's key; as
    /// soon as something is due it unlocks it (a wrong password is then 77) and settles.
    @Test func idleSettleDoesNotUnlockTheKey() throws {
        let s = try PipelineSpool()
        let settle = ["--password-file", s.wrongPasswordFile, "--hold", "10m", "--once"]
        let idle = s.run("qrpay-settle", settle)
        #expect(idle.status == 0 && idle.stderr.contains("not unlocked"), "\(idle.stderr)")
        let missing = s.run("qrpay-settle", ["--password-file", s.dir.path + "/no-such.pass", "--once"])
        #expect(missing.status == 66, "\(missing.stderr)")
        _ = try s.registerPayment(try s.paymentInfo(payment: "I-1", lifetime: 60))
        #expect(s.run("qrpay-settle", settle).status == 0)  // not due yet
        let due = s.run("qrpay-settle", settle, clockAhead: 120)
        #expect(due.status == 77, "\(due.stderr)")
        #expect(try s.store.load(shop: "1001", payment: "I-1")?.state == .request)
        let ok = s.run("qrpay-settle", ["--password-file", s.passwordFile, "--once"], clockAhead: 120)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(try s.store.load(shop: "1001", payment: "I-1")?.state == .expire)
    }
}
