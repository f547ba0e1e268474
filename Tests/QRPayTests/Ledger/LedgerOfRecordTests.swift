// The journal is the ledger of record: a record edited by hand (its state no longer the journal's)
// never gets markers or due entries from a stage, so money never follows it. Settle's stale due
// entry and a replayed payment document used to rebuild the indexes from whatever the record said
// (a `request` edited to `finish` got a finish marker, and the payout paid it).

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayLedger
import Testing

@Suite(.serialized) struct LedgerOfRecordTests {
    @Test func aRecordEditedByHandIsNeverIndexed() throws {
        let o = try OperationsSpool()
        let b = try o.record("1001", "B")
        #expect(b.state == .request)
        try o.rewriteRecord("1001", "B") { $0["state"] = "finish" }
        let finishMarker = o.s.store.markerPath(state: .finish, info: b.info)
        let dueEntry = try #require(DueIndex.entry(for: b))
        let duePath = DueIndex.path(dueEntry, layout: o.s.store.layout)
        #expect(FileIO.exists(duePath) && !FileIO.exists(finishMarker))

        // Settle meets B's due entry (it expired) and finds the record in another state: the journal
        // does not hold `finish`, so nothing is indexed from it; the entry stays, the run defers.
        let settle = o.s.run("qrpay-settle", ["--password-file", o.s.passwordFile, "--hold", "1h", "--once"], clockAhead: 7200)
        #expect(settle.status == 75, "\(settle.stdout)\(settle.stderr)")
        #expect(settle.stderr.contains("1001/B deferred [ledger.mismatch]"), "\(settle.stderr)")
        #expect(!FileIO.exists(finishMarker), "a finish marker was made from a record the journal does not hold")
        #expect(FileIO.exists(duePath))

        // The shop's document replayed into the inbox: register does not rebuild B's indexes either.
        try o.s.dropInInbox(try o.s.signedPayment(b.info))
        let register = o.s.run("qrpay-register", ["--password-file", o.s.passwordFile, "--once"])
        #expect(register.status == 75, "\(register.stdout)\(register.stderr)")
        #expect(register.stderr.contains("says finish, but the journal does not hold that change"), "\(register.stderr)")
        #expect(!FileIO.exists(finishMarker))

        // check names the edit; restored, the next passes go on as before.
        let (status, findings) = try o.check()
        #expect(status == 1 && codes(findings).contains("record.journal"))
        try o.rewriteRecord("1001", "B") { $0["state"] = "request" }
        let again = o.s.run("qrpay-settle", ["--password-file", o.s.passwordFile, "--hold", "1h", "--once"], clockAhead: 7200)
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        #expect(try o.record("1001", "B").state == .expire)
    }

    /// A record the journal does hold (a crash left its indexes behind) is still reindexed.
    @Test func aRecordTheJournalHoldsIsReindexed() throws {
        let o = try OperationsSpool()
        let a = try o.record("1001", "A")
        let marker = o.s.store.markerPath(state: .finish, info: a.info)
        #expect(unlink(marker) == 0)
        #expect(o.s.store.journalHolds(a, now: Date()))
        try o.s.dropInInbox(try o.s.signedPayment(a.info))
        let register = o.s.run("qrpay-register", ["--password-file", o.s.passwordFile, "--once"])
        #expect(register.status == 0, "\(register.stdout)\(register.stderr)")
        #expect(FileIO.exists(marker), "the replay rebuilt the finish marker the journal supports")
        #expect(try o.check().findings.isEmpty)
    }
}
