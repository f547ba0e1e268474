// A ledger change and its outputs are one: a crash between the journal and the last name of a
// commit leaves an announced change (the journal's intent) that no other change of that payment may
// overtake; the rerun delivers what is pending, once. Before this, approve killed at its second
// rename, then a cancel, left the user a PG-signed accept receipt, the journal request→accept and
// request→cancel, and a clean `check`.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayLedger
import Testing

@Suite(.serialized) struct OutboxTests {
    /// Runs `program` under strace, killed by SIGKILL at its `when`-th call of one of `syscalls`.
    func killed(_ s: PipelineSpool, _ program: String, _ args: [String], at syscalls: String, when: Int) -> (status: Int32, stdout: String, stderr: String) {
        runExecutable(tool("strace"), ["-f", "-o", "/dev/null", "-e", "inject=\(syscalls):signal=SIGKILL:when=\(when)",
                                       programDirectory() + "/" + program] + args, env: s.env)
    }

    @Test(arguments: [1, 2, 3, 4]) func aCrashedApprovalIsNeverOvertakenByACancel(when: Int) throws {
        let s = try PipelineSpool()
        let record = try s.registerPayment(try s.paymentInfo(payment: "K-1"))
        try s.dropApproval(try s.approval(for: record))
        let crash = killed(s, "qrpay-approve", ["--password-file", s.passwordFile, "--once"],
                           at: "rename,renameat,renameat2,linkat", when: when)
        #expect(crash.status != 0, "\(crash.stderr)")
        // Whether the kill came after the journal append (the first rename claims the approval).
        let begun = try s.journalEntries().contains { $0.payment == "K-1" && $0.transition?.to == .accept }
        #expect(begun == (when > 1), "the first rename claims the approval; the journal append comes before the second")
        if begun {
            // check names the unfinished change once it is older than --max-age, and the stage to rerun.
            let check = s.run("qrpay-spool", ["check", "--json"], clockAhead: 7200)
            let findings = try JSONValue.parse(check.stdout)["findings"]?.arrayValue ?? []
            let unfinished = findings.filter { $0["code"]?.stringValue == "journal.unfinished" }
            #expect(check.status == 1 && unfinished.count == 1, "\(check.stdout)")
            #expect(unfinished.first?["message"]?.stringValue?.contains("1001/K-1 → accept") == true
                    && unfinished.first?["message"]?.stringValue?.contains("qrpay-approve reruns") == true, "\(check.stdout)")
        }
        // The shop cancels; settle runs before approve comes back, then approve, then settle again
        // (after the deferred cancel's retry delay).
        #expect(s.run("qrpay-shop", ["cancel", "--shop", "1001", "--password-file", s.passwordFile, "K-1"]).status == 0)
        let first = s.run("qrpay-settle", ["--password-file", s.passwordFile, "--hold", "1h", "--once"])
        if begun {
            #expect(first.status == 75 && first.stderr.contains("deferred: payment 1001/K-1 has a change to accept that the journal holds") && first.stderr.contains("until qrpay-approve reruns"), "\(first.stderr)")
        }
        let approve = s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"])
        let second = s.run("qrpay-settle", ["--password-file", s.passwordFile, "--hold", "1h", "--once"], clockAhead: 900)
        #expect(second.status == 0, "first: \(first.stderr)\nsecond: \(second.stdout)\(second.stderr)")

        let changes = try s.journalEntries().filter { $0.payment == "K-1" }.compactMap { $0.transition }
        let final = try #require(try s.store.load(shop: "1001", payment: "K-1"))
        let receipts = s.files(s.root + "/users/u1/receipts/new")
        let notices = s.files(s.root + "/shops/1001/notices/new")
        #expect(final.state == .cancel)
        if begun {
            // The journal holds one history of K-1: request, accept, cancel; the record says the
            // same; the user has the accept receipt and the cancel receipt, the shop each notice.
            #expect(approve.status == 0, "\(approve.stdout)\(approve.stderr)")
            #expect(changes.map { "\($0.from?.rawValue ?? "-")>\($0.to.rawValue)" } == ["->request", "request>accept", "accept>cancel"])
            #expect(final.history.map(\.state) == [.request, .accept, .cancel])
            // The rerun accepted it when the journal says it did (the hold, the due entry the killed run named).
            let journaled = try s.journalEntries().filter { $0.payment == "K-1" }.map(\.at)
            #expect(final.history.map(\.at) == journaled, "\(final.history.map(\.at)) \(journaled)")
            #expect(receipts == ["1001.K-1.accept.json", "1001.K-1.cancel.json"], "\(receipts)")
            #expect(notices == ["K-1.accept.json", "K-1.cancel.json", "K-1.request.json"], "\(notices)")
            #expect(try s.quarantine(SpoolLayout(root: s.root).approvals).isEmpty)
        } else {
            // Killed before it began: the cancel came first, the approval is refused; no receipt
            // tells the user of an acceptance the journal does not hold.
            #expect(approve.status == 65, "\(approve.stdout)\(approve.stderr)")
            #expect(changes.map { "\($0.from?.rawValue ?? "-")>\($0.to.rawValue)" } == ["->request", "request>cancel"])
            #expect(receipts.isEmpty, "\(receipts)")
            #expect(notices == ["K-1.cancel.json", "K-1.request.json"], "\(notices)")
        }
        #expect(s.files(SpoolLayout(root: s.root).journalIntentsDirectory).isEmpty, "an intent was left")
        // check finds nothing.
        let check = s.run("qrpay-spool", ["check"])
        #expect(check.status == 0, "\(check.stdout)")
    }

    /// A rerun adopts the changes an unfinished intent announced (they are not journaled twice) and
    /// takes them out of it when its own records are in place; an intent with changes left stays.
    @Test func aRerunTakesItsChangesOutOfAnUnfinishedIntent() throws {
        try withSpool { spool in
            let layout = SpoolLayout(root: spool.root)
            let journal = Journal(layout: layout)
            let now = Date()
            func t(_ payment: String) -> TransitionRequest {
                TransitionRequest(shop: "1001", payment: payment, from: .request, to: .accept, evidenceHash: "E-" + payment, at: now)
            }
            // A commit of two changes killed after its journal append: its intent stays.
            _ = try journal.append([t("P1"), t("P2")], announcing: true)
            #expect(journal.unfinishedChanges(shop: "1001", payment: "P1") == [.init(to: "accept", evidence: "E-P1")])
            #expect(journal.unfinishedChanges(shop: "1001", payment: "P3").isEmpty)
            // The rerun of P1 writes nothing and, finished, leaves P2 announced.
            let rerun = try journal.append([t("P1")], announcing: true)
            #expect(rerun.entries.isEmpty)
            journal.finished(rerun.completion)
            #expect(journal.unfinishedChanges(shop: "1001", payment: "P1").isEmpty)
            #expect(journal.unfinishedChanges(shop: "1001", payment: "P2").count == 1)
            #expect(try FileIO.listDirectory(layout.journalIntentsDirectory).count == 1)
            // P2's rerun, together with a new change: one entry (P3), and no intent left.
            let last = try journal.append([t("P2"), t("P3")], announcing: true)
            #expect(last.entries.map(\.payment) == ["P3"])
            journal.finished(last.completion)
            #expect(try FileIO.listDirectory(layout.journalIntentsDirectory).isEmpty)
            var seen: [String] = []
            try journal.forEachEntry { entry, _, _ in seen.append(entry.payment) }
            #expect(seen == ["P1", "P2", "P3"])
        }
    }
}
