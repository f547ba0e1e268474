// The hot path's building blocks: table-driven base64url (strict, canonical), timestamps, and the
// group commit's journal, removals, at-most-once deliveries and in-flight keys; and the register and
// approve stages handling duplicates inside one batch.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayLedger
import Testing

@Suite struct HotPathTests {
    @Test func base64urlRoundTripsAndRefusesNonCanonicalSpellings() {
        for n in 0..<70 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = Base64URL.encode(Data(bytes))
            #expect(text == Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: ""))
            #expect(Base64URL.decode(text) == Data(bytes))
        }
        for bad in ["A", "AB=", "AB+/", "AB C", "QQ==", "QR", "QUF", "QUG", "é"] { #expect(Base64URL.decode(bad) == nil, "\(bad)") }
        #expect(Base64URL.decode("QQ") == Data("A".utf8) && Base64URL.decode("QUE") == Data("AA".utf8))
    }

    @Test func timestampsFormatAsBefore() {
        for t in [0.0, 1_700_000_000, 1_795_627_315.9, 253_402_300_799] {
            let date = Date(timeIntervalSince1970: t)
            var tt = time_t(t.rounded(.down))
            var tmv = tm()
            gmtime_r(&tt, &tmv)
            let expected = String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday,
                                  tmv.tm_hour, tmv.tm_min, tmv.tm_sec)
            #expect(Timestamp.format(date) == expected)
        }
    }

    @Test func groupCommitAppendsTheJournalRemovesAndDeliversAtMostOnce() throws {
        let dir = TemporaryDirectory("hot")
        let journal = Journal(layout: SpoolLayout(root: dir.path))
        let q = Queue(path: dir.path + "/q")
        try q.create()
        let old = dir.write("old-marker", "x")
        // Many files: the syncfs path.
        let commit = testCommit(dir.path)
        for i in 0..<10 { try commit.write(Data("f\(i)".utf8), to: dir.path + "/f\(i)") }
        commit.journal(journal, TransitionRequest(shop: "S1", payment: "P1", from: nil, to: .request, evidence: Data("e".utf8), at: Date()))
        commit.remove(old)
        try commit.deliver(Data("n1".utf8), to: q, name: "n.json", ifExists: .keep)
        try commit.deliver(Data("n2".utf8), to: q, name: "n.json", ifExists: .keep)  // the same name again: dropped
        #expect(try journal.files().isEmpty)  // nothing before the flush
        try commit.flush()
        #expect(!FileIO.exists(old))
        #expect(try FileIO.read(q.newDirectory + "/n.json") == Data("n1".utf8))
        var entries: [JournalEntry] = []
        try journal.forEachEntry { e, _, _ in entries.append(e) }
        #expect(entries.map(\.payment) == ["P1"])
        #expect(try FileIO.listDirectory(dir.path).filter { $0.hasPrefix(".tmp.") }.isEmpty)
        // At most once across batches: an existing notice is kept, the batch still commits.
        let again = testCommit(dir.path)
        try again.deliver(Data("n3".utf8), to: q, name: "n.json", ifExists: .keep)
        try again.write(Data("g".utf8), to: dir.path + "/g")
        try again.flush()
        #expect(try FileIO.read(q.newDirectory + "/n.json") == Data("n1".utf8))
        #expect(FileIO.exists(dir.path + "/g"))
        #expect(try q.pending() == ["n.json"])
        #expect(try FileIO.listDirectory(q.tmpDirectory).isEmpty)
    }

    @Test func keysKeepTwoBatchesOffOnePaymentUntilFlushOrRollback() throws {
        // Two commits of one stage run share its context: its reserved keys.
        let context = StageContext(spoolRoot: NSTemporaryDirectory())
        let a = GroupCommit(context: context), b = GroupCommit(context: context)
        let key = "/nowhere/\(UUID().uuidString)"
        try a.claim(key: key)
        try a.claim(key: key)  // again by the holder: fine
        #expect(throws: QRPayError.self) { try b.claim(key: key) }
        do { try b.claim(key: key) } catch let e as QRPayError { #expect(e.code == "spool.in-flight" && e.isTransient) }
        try a.flush()
        try b.claim(key: key)  // released by the flush
        let mark = b.mark
        let other = key + "-2"
        try b.claim(key: other)
        b.rollback(to: mark)  // released by the rollback
        try a.claim(key: other)
        #expect(throws: QRPayError.self) { try a.claim(key: key) }
        b.discard()
        try a.claim(key: key)
        a.discard()
    }
}

@Suite(.serialized) struct HotPathStageTests {
    /// Copies of one payment and of one approval in the same batch: handled once, the rest no-ops.
    @Test func duplicatesInOneBatchAreNoOps() throws {
        let s = try PipelineSpool()
        let info = try s.paymentInfo(payment: "D-1")
        let signed = try s.signedPayment(info)
        for _ in 0..<3 { try s.dropInInbox(signed) }
        try s.dropInInbox(try s.signedPayment(try s.paymentInfo(payment: "D-2")))
        var r = s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"])
        #expect(r.status == 0 && r.stderr.contains("4 processed, 0 quarantined"), "\(r.stderr)")
        #expect(s.recordCount() == 2)
        #expect(try s.journalEntries().count == 2)
        #expect(s.files(s.root + "/shops/1001/notices/new") == ["D-1.request.json", "D-2.request.json"])

        let record = try #require(try s.store.load(shop: "1001", payment: "D-1"))
        let approval = try s.approval(for: record)
        try s.dropApproval(approval)
        try s.dropApproval(approval)
        try s.dropApproval(try s.approval(for: record, user: "u2"))  // another approval of the same payment: a replay
        r = s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"])
        #expect(r.status == 65 && r.stderr.contains("2 processed, 1 quarantined"), "\(r.stderr)")  // 65: something was quarantined
        #expect(try s.store.load(shop: "1001", payment: "D-1")?.state == .accept)
        #expect(try s.markers(.accept) == ["1001/D-1"] && s.markers(.request) == ["1001/D-2"])
        #expect(try s.quarantine(SpoolLayout(root: s.root).approvals).map(\.code) == ["approval.replay"])
        #expect(try s.journalEntries().count == 3)
    }
}
