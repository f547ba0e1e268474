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

    /// A record edited by hand never refuses a valid input: an approval meeting a `request` edited
    /// to `finish` is not quarantined as a replay, nor a cancel meeting one edited to `expire` as
    /// too late; both wait (`ledger.mismatch`) and apply once the record is restored.
    @Test func anEditedRecordNeverRefusesAValidInput() throws {
        let o = try OperationsSpool()
        let s = o.s
        try o.rewriteRecord("1001", "B") { $0["state"] = "finish" }
        try o.rewriteRecord("2002", "E") { $0["state"] = "expire" }
        try s.dropApproval(try s.approval(for: try o.record("1001", "B")))
        let approve = s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"])
        #expect(approve.status == 75 && approve.stderr.contains("says finish, but the journal does not hold that change"), "\(approve.stderr)")
        #expect(s.run("qrpay-shop", ["cancel", "--shop", "2002", "--password-file", s.passwordFile, "E"]).status == 0)
        let settle = s.run("qrpay-settle", ["--password-file", s.passwordFile, "--hold", "1h", "--once"])
        #expect(settle.status == 75 && settle.stderr.contains("says expire, but the journal does not hold that change"), "\(settle.stderr)")
        let layout = SpoolLayout(root: s.root)
        #expect(try s.quarantine(layout.approvals).isEmpty && s.quarantine(layout.cancels).isEmpty)
        // Restored, the waiting inputs apply (flushed: retried now).
        try o.rewriteRecord("1001", "B") { $0["state"] = "request" }
        try o.rewriteRecord("2002", "E") { $0["state"] = "request" }
        #expect(s.run("qrpay-spool", ["flush"]).status == 0)
        let again = s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"])
        #expect(again.status == 0, "\(again.stderr)")
        let cancel = s.run("qrpay-settle", ["--password-file", s.passwordFile, "--hold", "1h", "--once"])
        #expect(cancel.status == 0, "\(cancel.stderr)")
        #expect(try o.record("1001", "B").state == .accept)
        #expect(try o.record("2002", "E").state == .cancel)
        #expect(try o.check().findings.isEmpty)
    }

    /// A due entry made by hand (for a finished payment) is a finding; settle, meeting it, removes
    /// it and changes nothing; --repair removes it too.
    @Test func aDueEntryMadeByHandIsNamedAndChangesNothing() throws {
        let o = try OperationsSpool()
        let a = try o.record("1001", "A")
        let forged = DueEntry(kind: .expires, epoch: DueIndex.seconds(Date()) - 120, shop: "1001", payment: "A")
        let path = DueIndex.path(forged, layout: o.s.store.layout)
        try o.s.store.layout.makeDirectories(FileIO.parentDirectory(path))
        try Durable.write(Data(), to: path, mode: 0o640, ifExists: .fail)
        let (status, findings) = try o.check()
        #expect(status == 1 && codes(findings) == ["due.extra"], "\(findings)")
        let entries = try o.s.journalEntries().count
        let settle = o.settle("1h")
        #expect(settle.status == 0, "\(settle.stderr)")
        #expect(try !FileIO.exists(path) && o.s.journalEntries().count == entries)
        #expect(try o.record("1001", "A").state == a.state)
        try o.s.store.layout.makeDirectories(FileIO.parentDirectory(path))  // settle removed the empty minute
        try Durable.write(Data(), to: path, mode: 0o640, ifExists: .fail)
        _ = try o.check(repair: true)
        #expect(!FileIO.exists(path))
        #expect(try o.check().findings.isEmpty)
    }

    /// The day's reconciliation counts by the journal: a marker made by hand (B, a request, marked
    /// finish too) is not counted as finished; it is the difference `unjournaled` (exit 1).
    @Test func reconcileCountsWhatTheJournalHolds() throws {
        let o = try OperationsSpool()
        let b = try o.record("1001", "B")
        let layout = o.s.store.layout
        let before = o.s.run("qrpay-reconcile", ["--date", o.day, "--format", "json", "--out", o.s.dir.path])
        #expect(before.status == 0, "\(before.stderr)")
        let forged = layout.markerPath(state: .finish, info: b.info)
        try Durable.write(Data(), to: forged, mode: 0o640, ifExists: .fail)
        let r = o.s.run("qrpay-reconcile", ["--date", o.day, "--format", "json", "--out", o.s.dir.path])
        #expect(r.status == 1, "\(r.stderr)")
        let report = try JSONValue.parse(r.stdout)
        let old = try JSONValue.parse(before.stdout)
        #expect(report["states"] == old["states"], "the forged marker was counted: \(report["states"] ?? .null)")
        let differences = report["discrepancies"]?.arrayValue ?? []
        #expect(differences.count == 1 && differences.first?["kind"]?.stringValue == "unjournaled"
                && differences.first?["payment"]?.stringValue == "B", "\(differences)")
    }
}
