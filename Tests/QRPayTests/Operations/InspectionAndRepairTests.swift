// End to end through the built programs: how an operator inspects and repairs: qrpay-spool status, show
// (signatures re-verified), check [--repair], checkpoint, quarantine, requeue, hold, release;
// qrpay-reconcile; the systemd samples.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPKI
@testable import QRPayPayments
@testable import QRPayLedger
@testable import QRPayOperations
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A spool with payments in several states and currencies, all created at `created`:
///   1001/A  KRW 9000  finish     1001/B  KRW 9000  request    1001/C  USD 1250  accept
///   1001/D  KRW 4000  cancel     2002/E  USD  500  request
final class OperationsSpool {
    let s: PipelineSpool
    let created = Date()
    var day: String { Timestamp.day(created) }
    var root: String { s.root }

    /// The helpers over a spool set up elsewhere.
    init(wrapping spool: PipelineSpool) throws {
        s = spool
    }

    init() throws {
        s = try PipelineSpool()
        for (shop, payment, unit, currency) in [("1001", "A", 4500, "KRW"), ("1001", "B", 4500, "KRW"), ("1001", "C", 625, "USD"),
                                                ("1001", "D", 2000, "KRW"), ("2002", "E", 250, "USD")] {
            try s.dropInInbox(try s.signedPayment(try s.paymentInfo(shop: shop, payment: payment, total: Int64(unit),
                                                                   currency: currency, created: created, lifetime: 3600)))
        }
        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 0)
        try s.dropApproval(try s.approval(for: try record("1001", "A")))
        #expect(approve().status == 0)
        #expect(settle("0").status == 0)
        try s.dropApproval(try s.approval(for: try record("1001", "C"), user: "u2"))
        #expect(approve().status == 0)
        let cancel = s.run("qrpay-shop", ["cancel", "--shop", "1001", "--password-file", s.passwordFile, "--reason", "left", "D"])
        #expect(cancel.status == 0, "\(cancel.stderr)")
        #expect(settle("1h").status == 0)
        #expect(try record("1001", "A").state == .finish && record("1001", "C").state == .accept && record("1001", "D").state == .cancel)
    }

    func record(_ shop: String, _ payment: String) throws -> PaymentRecord {
        try #require(try s.store.load(shop: shop, payment: payment))
    }
    func approve() -> (status: Int32, stdout: String, stderr: String) {
        s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"])
    }
    func settle(_ hold: String) -> (status: Int32, stdout: String, stderr: String) {
        s.run("qrpay-settle", ["--password-file", s.passwordFile, "--hold", hold, "--once"])
    }
    func spool(_ args: String...) -> (status: Int32, stdout: String, stderr: String) { s.run("qrpay-spool", args) }

    /// `qrpay-spool check --json [--repair]`: exit status and the findings' codes.
    func check(repair: Bool = false) throws -> (status: Int32, findings: [JSONValue]) {
        let r = s.run("qrpay-spool", ["check", "--json"] + (repair ? ["--repair"] : []))
        let list = try JSONValue.parse(r.stdout)["findings"]?.arrayValue ?? []
        return (r.status, list)
    }

    func rewriteRecord(_ shop: String, _ payment: String, _ edit: (inout [String: JSONValue]) -> Void) throws {
        let path = s.store.recordPath(shop: shop, payment: payment)
        guard case .object(var o) = try JSONValue.parse(try FileIO.read(path, maxBytes: 4 << 20), options: .init(maxBytes: 4 << 20)) else { return }
        edit(&o)
        try Durable.write(JSONValue.object(o).serialized(pretty: true), to: path, mode: 0o640, ifExists: .replace)
    }

    var journalFile: String { s.root + "/pg/journal/" + (try! s.store.journal.files().last!).split(separator: "/").last! }
}

func codes(_ findings: [JSONValue]) -> [String] { findings.compactMap { $0["code"]?.stringValue } }

@Suite(.serialized) struct InspectionAndRepairTests {
    // MARK: check

    @Test func checkIsCleanAfterARealLifecycle() throws {
        let o = try OperationsSpool()
        let r = o.spool("check")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.isEmpty && r.stderr.contains("0 findings"))
        #expect(try o.check().findings.isEmpty)
        // A journal line still being appended (no newline yet) is not a finding.
        let fd = open(o.journalFile, O_WRONLY | O_APPEND)
        #expect(fd >= 0 && write(fd, "{\"seq\":99,\"at\"", 14) == 14)
        close(fd)
        #expect(try o.check().findings.isEmpty)
    }

    @Test func checkCatchesAHandEditedRecordAndNeverRepairsIt() throws {
        let o = try OperationsSpool()
        try o.rewriteRecord("1001", "B") { $0["state"] = "finish" }
        let before = try FileIO.read(o.s.store.recordPath(shop: "1001", payment: "B"), maxBytes: 1 << 22)
        let (status, findings) = try o.check()
        #expect(status == 1)
        let journal = try #require(findings.first { $0["code"] == "record.journal" })
        #expect(journal["path"]?.stringValue?.hasPrefix("pg/payments/1001/") == true)
        #expect(journal["message"]?.stringValue?.contains("record says finish") == true)
        #expect(journal["repairable"] == false)
        // Its markers disagree too, but a suspect record does not get its markers "repaired".
        #expect(codes(findings).contains("marker.missing") && codes(findings).contains("marker.extra"))
        #expect(findings.allSatisfy { $0["repairable"] == false })
        let repaired = try o.check(repair: true)
        #expect(repaired.status == 1)
        #expect(try FileIO.read(o.s.store.recordPath(shop: "1001", payment: "B"), maxBytes: 1 << 22) == before)
        // Text: one line per finding, CODE path: message.
        let text = o.spool("check")
        #expect(text.status == 1)
        #expect(text.stdout.split(separator: "\n").contains { $0.hasPrefix("record.journal pg/payments/1001/") && $0.contains(": the record says finish") })
    }

    /// A finished record moved into another bucket: `check --repair` reports it misplaced and keeps
    /// the finish marker the journal supports (it used to delete it as an orphan, and payout and
    /// reconcile then lost the payment).
    @Test func repairNeverRemovesAMarkerTheJournalSupports() throws {
        let o = try OperationsSpool()
        let a = try o.record("1001", "A")
        let path = o.s.store.recordPath(shop: "1001", payment: "A")
        let bucket = SpoolLayout.bucket("A") == "00" ? "01" : "00"
        let moved = o.s.root + "/pg/payments/1001/" + bucket + "/A.json"
        try FileIO.makeDirectory(FileIO.parentDirectory(moved), mode: 0o750)
        #expect(rename(path, moved) == 0)
        let marker = o.s.store.markerPath(state: .finish, info: a.info)
        #expect(FileIO.exists(marker))
        let repaired = try o.check(repair: true)
        #expect(repaired.status == 1)
        #expect(codes(repaired.findings).contains("record.misplaced"))
        let orphan = try #require(repaired.findings.first { $0["code"] == "marker.orphan" })
        #expect(orphan["repaired"] == false && orphan["repairable"] == false)
        #expect(orphan["message"]?.stringValue?.contains("which the journal supports") == true, "\(orphan)")
        #expect(FileIO.exists(marker), "the finish marker the journal supports was removed")
        // Put back, the spool is clean again.
        #expect(rename(moved, path) == 0)
        #expect(try o.check().findings.isEmpty)
    }

    /// A journal no checkpoint signs for over a day is a finding, and so are entries left unsigned
    /// after the newest checkpoint: removing the checkpoints no longer makes `check` clean.
    @Test func aJournalLeftUnsignedTooLongIsAFinding() throws {
        let o = try OperationsSpool()
        func checkpointCodes(_ ahead: Int, _ extra: [String] = []) throws -> [String] {
            let r = runProgram("qrpay-spool", ["check", "--json"] + extra, env: o.s.env.merging(["QRPAY_CLOCK": "+\(ahead)"]) { $1 })
            return codes(try JSONValue.parse(r.stdout)["findings"]?.arrayValue ?? []).filter { $0.hasPrefix("checkpoint.") }
        }
        #expect(try checkpointCodes(3600).isEmpty, "an hour-old journal waits for tonight's checkpoint")
        let day = 26 * 3600
        #expect(try checkpointCodes(day) == ["checkpoint.missing"])
        #expect(try checkpointCodes(day, ["--checkpoint-age", "2d"]).isEmpty)
        let text = runProgram("qrpay-spool", ["check"], env: o.s.env.merging(["QRPAY_CLOCK": "+\(day)"]) { $1 })
        #expect(text.status == 1 && text.stdout.contains("checkpoint.missing pg/journal/checkpoints: no checkpoint signs the journal"), "\(text.stdout)")
        #expect(o.spool("checkpoint", "--password-file", o.s.passwordFile).status == 0)
        #expect(try checkpointCodes(day).isEmpty, "everything is signed")
        // A transition after the checkpoint, then a day without one.
        try o.s.dropApproval(try o.s.approval(for: try o.record("1001", "B")))
        #expect(o.approve().status == 0)
        #expect(try checkpointCodes(3600).isEmpty)
        #expect(try checkpointCodes(day) == ["checkpoint.behind"])
        // Removing the checkpoints shows the whole journal unsigned again.
        try FileManager.default.removeItem(atPath: o.s.root + "/pg/journal/checkpoints")
        #expect(try checkpointCodes(day) == ["checkpoint.missing"])
    }

    @Test func checkCatchesARemovedJournalLine() throws {
        let o = try OperationsSpool()
        let file = o.journalFile
        var lines = String(decoding: try FileIO.read(file, maxBytes: 1 << 24), as: UTF8.self).split(separator: "\n")
        lines.remove(at: 2)
        try Durable.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: file, mode: 0o640, ifExists: .replace)
        let (status, findings) = try o.check()
        #expect(status == 1)
        #expect(codes(findings).contains("journal.chain") && codes(findings).contains("journal.seq"))
        #expect(findings.first { $0["code"] == "journal.chain" }?["path"]?.stringValue?.hasSuffix(".jsonl:3") == true)
    }

    @Test func checkFindsAndRepairsAPaymentInTwoStates() throws {
        let o = try OperationsSpool()
        let b = try o.record("1001", "B")
        let extra = o.s.store.markerPath(state: .finish, info: b.info)
        try FileIO.makeDirectory((extra as NSString).deletingLastPathComponent, mode: 0o750)
        try Durable.write(Data("{}".utf8), to: extra, mode: 0o640)
        let (status, findings) = try o.check()
        #expect(status == 1)
        #expect(codes(findings) == ["marker.extra"])
        #expect(findings[0]["repairable"] == true && findings[0]["message"]?.stringValue?.contains("two states") == true)
        // status counts it twice until repaired.
        #expect(try JSONValue.parse(o.spool("status", "--json").stdout)["payments"]?["finish"] == 2)
        let repaired = try o.check(repair: true)
        #expect(repaired.status == 0)
        #expect(repaired.findings.first?["repaired"] == true)
        #expect(!FileIO.exists(extra) && FileIO.exists(o.s.store.markerPath(state: .request, info: b.info)))
        #expect(try o.check() == (0, []))
    }

    @Test func checkRepairsAMissingMarkerAndRemovesAnOrphan() throws {
        let o = try OperationsSpool()
        let c = try o.record("1001", "C")
        unlink(o.s.store.markerPath(state: .accept, info: c.info))
        let orphan = o.root + "/pg/states/request/\(o.day)/1001~GHOST~KRW~100"
        try Durable.write(Data("{}".utf8), to: orphan, mode: 0o640)
        #expect(try codes(o.check().findings).sorted() == ["marker.missing", "marker.orphan"])
        #expect(try o.check(repair: true).status == 0)
        #expect(FileIO.exists(o.s.store.markerPath(state: .accept, info: c.info)) && !FileIO.exists(orphan))
        #expect(try o.check() == (0, []))
    }

    @Test func checkFindsAndRepairsAKeyWithMode0644() throws {
        let o = try OperationsSpool()
        let key = o.root + "/shops/2002/key.pem"
        chmod(key, 0o644)
        let (status, findings) = try o.check()
        #expect(status == 1)
        #expect(codes(findings) == ["mode.key"])
        #expect(findings[0]["path"] == "shops/2002/key.pem" && findings[0]["repairable"] == true)
        #expect(try o.check(repair: true).status == 0)
        var st = stat()
        #expect(lstat(key, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(try o.check() == (0, []))
    }

    @Test func checkRemovesStaleTemporaryFilesAndWorldWritableBits() throws {
        let o = try OperationsSpool()
        let old = o.root + "/pg/inbox/tmp/crashed.json"
        let fresh = o.root + "/pg/inbox/tmp/writing.json"
        try Durable.write(Data("x".utf8), to: old, mode: 0o640)
        try Durable.write(Data("x".utf8), to: fresh, mode: 0o640)
        var times = [timespec(tv_sec: time(nil) - 40 * 3600, tv_nsec: 0), timespec(tv_sec: time(nil) - 40 * 3600, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, old, &times, 0) == 0)
        chmod(o.root + "/pg/cancels/hold", 0o777)
        #expect(try codes(o.check().findings).sorted() == ["mode.world-writable", "tmp.stale"])
        #expect(try o.check(repair: true).status == 0)
        #expect(!FileIO.exists(old) && FileIO.exists(fresh))
        #expect(try o.check() == (0, []))
    }

    @Test func repairWaitsForRunningStages() throws {
        let o = try OperationsSpool()
        let fd = open(SpoolLayout(root: o.root).lockFile(stage: "approve"), O_RDWR)
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        let r = o.spool("check", "--repair")
        #expect(r.status == 75 && r.stderr.contains("qrpay-approve is running"))
        // A transition in flight (journaled, record not yet written) is not judged while stages run...
        try o.s.store.journal.append([TransitionRequest(shop: "1001", payment: "B", from: .request, to: .accept,
                                                        evidence: Data("approval".utf8), at: Date())])
        let running = o.spool("check")
        #expect(running.status == 0 && running.stderr.contains("stages were running"))
        close(fd)
        // ...but is when none runs: the journal is ahead of the record (a crash the stage's rerun repairs).
        #expect(try codes(o.check().findings) == ["record.journal"])
    }

    // MARK: checkpoints

    @Test func checkpointsCatchARewrittenJournalEvenWithRecomputedHashes() throws {
        let o = try OperationsSpool()
        let sign = o.spool("checkpoint", "--password-file", o.s.passwordFile, "--json")
        #expect(sign.status == 0, "\(sign.stderr)")
        let cp = try JSONValue.parse(sign.stdout)
        let path = try #require(cp["path"]?.stringValue)
        // JSON paths are relative to the spool.
        #expect(cp["new"] == true && cp["v"] == 1 && path == "pg/journal/checkpoints/\(cp["day"]!.stringValue!)-\(cp["seq"]!.intValue!).jws")
        let jws = try JWS(parsing: try FileIO.read(o.root + "/" + path))
        _ = try TrustStore(spoolRoot: o.root).verify(jws, type: .checkpoint, role: .pg, id: "PG1", at: Date())
        // Signing again without new entries writes nothing new.
        #expect(try JSONValue.parse(o.spool("checkpoint", "--password-file", o.s.passwordFile, "--json").stdout)["new"] == false)
        #expect(try o.check() == (0, []))

        // Rewrite the second entry's evidence and recompute every hash after it: the chain is intact...
        let entries = try o.s.journalEntries()
        var prev = Journal.genesis
        var lines = Data()
        for (i, e) in entries.enumerated() {
            let rebuilt = JournalEntry(seq: e.seq, at: e.at, event: e.event, shop: e.shop, payment: e.payment,
                                       evidence: i == 1 ? String(repeating: "B", count: 43) : e.evidence, prev: prev)
            prev = rebuilt.hash
            lines.append(rebuilt.line)
        }
        try Durable.write(lines, to: o.journalFile, mode: 0o640, ifExists: .replace)
        let (status, findings) = try o.check()
        // ...but the checkpoint no longer matches.
        #expect(status == 1)
        // The rewritten evidence no longer matches its record's either.
        #expect(codes(findings) == ["checkpoint.mismatch", "record.evidence"])
        // A broken journal is never signed.
        let refused = o.spool("checkpoint", "--password-file", o.s.passwordFile)
        #expect(refused.status == 65 && refused.stderr.contains("checkpoint.mismatch"))
    }

    @Test func aForgedOrTruncatedCheckpointIsFound() throws {
        let o = try OperationsSpool()
        #expect(o.spool("checkpoint", "--password-file", o.s.passwordFile).status == 0)
        let entries = try o.s.journalEntries()
        // A checkpoint signed by a shop instead of the PG.
        let forged = Checkpoint(seq: 1, hash: entries[0].hash, day: o.day, at: Date())
        let shop = o.s.shops["1001"]!
        try Durable.write(try JWS.sign(payload: forged.json.serialized(), type: .checkpoint, key: shop.key, certificate: shop.certificate),
                                to: Checkpoint.directory(spoolRoot: o.root) + "/" + forged.fileName, mode: 0o640)
        // The journal loses its last line (the chain alone cannot see that).
        let file = o.journalFile
        var lines = String(decoding: try FileIO.read(file, maxBytes: 1 << 24), as: UTF8.self).split(separator: "\n")
        lines.removeLast()
        try Durable.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: file, mode: 0o640, ifExists: .replace)
        let found = try codes(o.check().findings)
        #expect(found.contains("checkpoint.signature"))
        #expect(found.contains("checkpoint.mismatch"))
        #expect(found.contains("record.journal"))
    }

    // MARK: show

    @Test func showReverifiesEverySignature() throws {
        let o = try OperationsSpool()
        let shown = o.spool("show", "--json", "1001", "A")
        #expect(shown.status == 0, "\(shown.stderr)")
        let v = try #require(try JSONValue.parse(shown.stdout)["verification"])
        #expect(v["ok"] == true)
        #expect(v["documents"]?.arrayValue?.map { $0["document"]?.stringValue ?? "" } == ["payment", "approval"])
        #expect(v["documents"]?.arrayValue?[1]["signer"]?.stringValue?.hasPrefix("user u1") == true)
        let cancelled = try JSONValue.parse(o.spool("show", "--json", "1001", "D").stdout)
        #expect(cancelled["verification"]?["documents"]?.arrayValue?.map { $0["document"]?.stringValue ?? "" } == ["payment", "cancel"])
        let text = o.spool("show", "1001", "A")
        #expect(text.status == 0 && text.stdout.contains("verification") && text.stdout.contains("approval→accept  ok"))

        // An approval whose signature was swapped in the record no longer verifies.
        let a = try o.record("1001", "A")
        try o.rewriteRecord("1001", "A") { r in
            guard case .array(var history) = r["history"]!, case .object(var entry) = history[1],
                  case .object(var evidence) = entry["evidence"]!, case .object(var doc) = evidence["document"]! else { return }
            doc["signature"] = .string(a.signature)
            evidence["document"] = .object(doc); entry["evidence"] = .object(evidence); history[1] = .object(entry)
            r["history"] = .array(history)
        }
        let bad = o.spool("show", "--json", "1001", "A")
        #expect(bad.status == 1)
        let docs = try JSONValue.parse(bad.stdout)["verification"]?["documents"]?.arrayValue ?? []
        #expect(docs.count == 2 && docs[0]["ok"] == true && docs[1]["ok"] == false && docs[1]["code"] == "jws.bad-signature")
        #expect(o.spool("show", "1001", "A").stdout.contains("FAILED"))
    }

    // MARK: quarantine, requeue, hold, release

    @Test func quarantineRequeueHoldAndRelease() throws {
        let o = try OperationsSpool()
        let bad = try o.s.dropInInbox(Data("{\"not\": \"a payment\"}".utf8))
        #expect(o.s.run("qrpay-register", ["--password-file", o.s.passwordFile, "--once"]).status == 65)
        let listed = try JSONValue.parse(o.spool("quarantine", "--json").stdout)["files"]?.arrayValue ?? []
        #expect(listed.count == 1)
        #expect(listed.first?["id"] == .string("pg/inbox/" + bad) && listed.first?["stage"] == "register")
        #expect(listed.first?["code"] == "jws.malformed" && listed.first?["at"]?.stringValue != nil)
        #expect(listed.first?["reason"]?.stringValue?.isEmpty == false)
        #expect(o.spool("quarantine").stdout.contains("pg/inbox/\(bad)"))

        let inbox = SpoolLayout(root: o.root).inbox
        #expect(o.spool("requeue", "pg/inbox/" + bad).status == 0)
        #expect(o.s.files(inbox.newDirectory) == [bad] && o.s.files(inbox.quarantineDirectory).isEmpty)
        #expect(o.spool("hold", bad).status == 0)  // a bare NAME
        #expect(o.s.files(inbox.holdDirectory) == [bad] && o.s.files(inbox.newDirectory).isEmpty)
        #expect(try JSONValue.parse(o.spool("status", "--json").stdout)["queueDetails"]?["pg/inbox"]?["held"] == 1)
        // The stage leaves a held file alone.
        #expect(o.s.run("qrpay-register", ["--password-file", o.s.passwordFile, "--once"]).status == 0)
        #expect(o.s.files(inbox.holdDirectory) == [bad])
        #expect(o.spool("release", "pg/inbox/hold/" + bad).status == 0)
        #expect(o.s.files(inbox.newDirectory) == [bad])

        // Not there: 66. In two queues: ambiguous, 64. Not a name: 64.
        #expect(o.spool("release", bad).status == 66)
        #expect(o.spool("hold", "pg/nosuch/" + bad).status == 64)
        let approvals = SpoolLayout(root: o.root).approvals
        try approvals.deliver(Data("x".utf8), name: bad)
        let twice = o.spool("hold", bad)
        #expect(twice.status == 64 && twice.stderr.contains("several queues"))
        #expect(o.spool("hold", "pg/approvals/" + bad).status == 0)
        #expect(o.spool("hold", "../../etc/passwd").status == 64)
    }

    // MARK: reconcile

    @Test(arguments: ["csv", "json"])
    func reconcileTotalsByShopStateAndCurrency(format: String) throws {
        let o = try OperationsSpool()
        // A payment of another day is not counted.
        let yesterday = o.created - 86400
        try o.s.dropInInbox(try o.s.signedPayment(try o.s.paymentInfo(payment: "Y", total: 100, created: yesterday, lifetime: 2 * 86400)))
        #expect(o.s.run("qrpay-register", ["--password-file", o.s.passwordFile, "--once"]).status == 0)

        let r = o.s.run("qrpay-reconcile", ["--date", o.day, "--format", format])
        #expect(r.status == 0, "\(r.stderr)")
        let file = o.root + "/reports/reconcile-\(o.day).\(format)"
        #expect(try String(decoding: FileIO.read(file), as: UTF8.self) == r.stdout)
        #expect(!r.stderr.contains("\r"))  // no progress when stderr is not a terminal
        if format == "json" {
            let j = try JSONValue.parse(r.stdout)
            let s1 = j["shops"]?["1001"]
            #expect(s1?["finish"]?["KRW"] == ["count": 1, "total": 9000, "exponent": 0, "decimal": "9000"])
            #expect(s1?["request"]?["KRW"]?["total"] == 9000 && s1?["request"]?["KRW"]?["count"] == 1)
            #expect(s1?["accept"]?["USD"] == ["count": 1, "total": 1250, "exponent": 2, "decimal": "12.50"])
            #expect(s1?["cancel"]?["KRW"]?["total"] == 4000 && s1?["cancel"]?["KRW"]?["count"] == 1)
            #expect(j["shops"]?["2002"]?["request"]?["USD"]?["decimal"] == "5.00" && j["shops"]?["2002"]?["request"]?["USD"]?["total"] == 500)
            #expect(j["states"]?["request"]?["USD"]?["total"] == 500 && j["v"] == 1)
            #expect(j["markers"] == 5 && j["discrepancies"] == [])
        } else {
            let rows = Set(r.stdout.split(separator: "\n").map(String.init))
            // Minor units, with the exponent and the decimal amount beside them.
            #expect(rows.isSuperset(of: ["section,shop,state,currency,count,total,payment,kind,message,exponent,amount",
                                         "total,1001,request,KRW,1,9000,,,,0,9000", "total,1001,accept,USD,1,1250,,,,2,12.50",
                                         "total,1001,finish,KRW,1,9000,,,,0,9000", "total,1001,cancel,KRW,1,4000,,,,0,4000",
                                         "total,2002,request,USD,1,500,,,,2,5.00"]), "\(rows)")
            #expect(rows.count == 6)
        }
        // One shop; another day.
        let one = try JSONValue.parse(o.s.run("qrpay-reconcile", ["--date", o.day, "--shop", "2002", "--format", "json"]).stdout)
        #expect(one["shops"]?.objectValue?.keys.sorted() == ["2002"] && one["markers"] == 1)
        #expect(FileIO.exists(o.root + "/reports/reconcile-\(o.day)-2002.json"))
        let before = try JSONValue.parse(o.s.run("qrpay-reconcile", ["--date", Timestamp.day(yesterday), "--format", "json"]).stdout)
        #expect(before["shops"]?["1001"]?["request"]?["KRW"]?["total"] == 200 && before["markers"] == 1)
        #expect(o.s.run("qrpay-reconcile", ["--date", "2026-02-31"]).status == 64)
        #expect(o.s.run("qrpay-reconcile", ["--shop-journal", "/nonexistent"]).status == 64)
    }

    @Test func reconcileListsDiscrepanciesAgainstTheShopsJournal() throws {
        let o = try OperationsSpool()
        // The shop's journal as qrpay-shop writes it: one payment made through the real client...
        let made = o.s.run("qrpay-shop", ["create", "--shop", "1001", "--password-file", o.s.passwordFile, "--currency", "KRW",
                                          "--item", "Tea:1:3000", "--payment", "F"])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(o.s.run("qrpay-register", ["--password-file", o.s.passwordFile, "--once"]).status == 0)
        // ...and the others as the shop remembers them.
        let at = Timestamp.format(o.created)
        func created(_ p: String, _ cur: String, _ total: Int) -> String {
            #"{"at":"\#(at)","created":"\#(at)","currency":"\#(cur)","documentHash":"x","event":"created","payment":"\#(p)","total":\#(total)}"#
        }
        let journal = try String(decoding: FileIO.read(o.root + "/shops/1001/journal.jsonl"), as: UTF8.self).split(separator: "\n")
            .filter { $0.contains("\"cancel\"") || $0.contains("\"F\"") }.joined(separator: "\n") + "\n"
            + [created("A", "KRW", 9000), created("B", "KRW", 9100), created("C", "USD", 1250), created("D", "KRW", 4000),
               created("X", "KRW", 700), #"{"at":"\#(at)","event":"cancel","payment":"C","reason":"oops"}"#].joined(separator: "\n") + "\n"
        let path = o.s.dir.write("shop-1001.jsonl", journal)

        let r = o.s.run("qrpay-reconcile", ["--date", o.day, "--shop", "1001", "--shop-journal", path, "--format", "json",
                                            "--sign", "--password-file", o.s.passwordFile])
        #expect(r.status == 1, "\(r.stderr)")
        let list = try JSONValue.parse(r.stdout)["discrepancies"]?.arrayValue ?? []
        let found = list.map { "\($0["payment"]!.stringValue!) \($0["kind"]!.stringValue!)" }
        // A and D agree (D cancelled on both sides); F too. B: amount. C: the shop cancelled, the PG accepted. X: never reached the PG.
        #expect(found == ["B amount-mismatch", "C state-mismatch", "X missing-at-pg"])
        #expect(list[0]["pg"]?["total"] == 9000 && list[0]["shopJournal"]?["total"] == 9100)
        #expect(list[1]["pg"]?["state"] == "accept" && list[1]["shopJournal"]?["cancelled"] == true)
        #expect(list[2]["pg"] == .null)

        // The PG has a payment the shop forgot.
        let noE = o.s.dir.write("shop-2002.jsonl", "")
        let extra = o.s.run("qrpay-reconcile", ["--date", o.day, "--shop", "2002", "--shop-journal", noE])
        #expect(extra.status == 1)
        #expect(extra.stdout.contains("discrepancy,2002,request,USD,,500,E,missing-at-shop,"))

        // The signed report verifies, and binds the report's bytes.
        let report = o.root + "/reports/reconcile-\(o.day)-1001.json"
        let jws = try JWS(parsing: try FileIO.read(report + ".jws"))
        let verified = try TrustStore(spoolRoot: o.root).verify(jws, type: .report, role: .pg, id: "PG1", at: Date())
        let payload = try JSONValue.parse(verified.payload)
        #expect(payload["sha256"] == .string(Base64URL.encode(Digest.sha256(try FileIO.read(report)))))
        #expect(payload["file"] == .string("reconcile-\(o.day)-1001.json") && payload["discrepancies"] == 3)

        // A malformed shop journal: 65. A missing one: 66.
        let broken = o.s.dir.write("broken.jsonl", "{\"event\":\"created\",\"payment\":\"Q\",\"total\":1.5}\n")
        #expect(o.s.run("qrpay-reconcile", ["--shop", "1001", "--shop-journal", broken]).status == 65)
        #expect(o.s.run("qrpay-reconcile", ["--shop", "1001", "--shop-journal", o.s.dir.path + "/none.jsonl"]).status == 66)
    }

    // MARK: samples

    var samples: String {
        repositoryRoot + "/Samples"
    }

    @Test func samplePayloadsParse() throws {
        let info = try PaymentInfo(payload: try FileIO.read(samples + "/payment.json"))
        #expect(info.total == 12200 && info.currency.code == "KRW" && info.items.count == 2)
        let approval = try Approval(payload: try FileIO.read(samples + "/approval.json"))
        #expect(approval.shop == info.shop && approval.payment == info.payment && approval.total == info.total)
        let sidecar = try JSONValue.parse(try FileIO.read(samples + "/shot1.approve"))
        #expect(sidecar == ["shop": .string(info.shop), "total": 12200, "currency": "KRW"])
    }

    @Test func systemdSamplesVerify() throws {
        let analyze = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: analyze) else { return }
        let samples = self.samples + "/systemd"
        let units = try FileManager.default.contentsOfDirectory(atPath: samples)
            .filter { $0.hasSuffix(".service") || $0.hasSuffix(".timer") || $0.hasSuffix(".path") }.sorted()
        #expect(units.count >= 8)
        // Units name /usr/local/bin/qrpay-*: point them at the built programs in a copy.
        let dir = TemporaryDirectory("units")
        for unit in units {
            let text = try String(contentsOfFile: samples + "/" + unit, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/", with: programDirectory() + "/")
            dir.write(unit, text)
        }
        let r = runExecutable(analyze, ["verify"] + units.map { dir.path + "/" + $0 }, env: ["SYSTEMD_LOG_LEVEL": "warning"])
        #expect(r.status == 0, "\(r.stderr)")
        for bad in ["Unknown", "Invalid", "Failed to parse", "not executable", "ignoring"] {
            #expect(!r.stderr.contains(bad), "\(r.stderr)")
        }
    }
}
