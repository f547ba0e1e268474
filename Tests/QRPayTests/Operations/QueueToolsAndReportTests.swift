// Operating QR-Pay like Postfix, end to end through the built programs: typos fail
// loudly, check's warnings and findings, the queue tools (list, flush, delete with its audit log,
// cat, hold/release of ALL), --version, progress only on a terminal, the daily report (numbers equal
// to status and reconcile; rendered by headless Chromium), and make install/uninstall.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayImaging
@testable import QRPayPayments
import Testing
import QRPayCommand
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct QueueToolsAndReportTests {
    // MARK: fail loudly

    @Test func typosAreErrorsNeverEmptyReports() throws {
        let o = try OperationsSpool()
        let missing = o.s.dir.path + "/no-such-spool"
        for args in [["status"], ["status", "--json"], ["list"], ["check"], ["quarantine"], ["report"], ["flush"], ["purge"],
                     ["cat", "x.json"], ["hold", "ALL"]] {
            let r = runProgram("qrpay-spool", [args[0], "--spool", missing] + args.dropFirst())
            #expect(r.status == 66, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(missing) && r.stderr.contains("--spool") && !r.stderr.contains("qrpay-ca init"), "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args) printed \(r.stdout)")
        }
        let reconcile = runProgram("qrpay-reconcile", ["--spool", missing])
        #expect(reconcile.status == 66 && reconcile.stderr.contains("--spool"), "\(reconcile.stderr)")
        // A shop the spool does not know.
        let shop = o.s.run("qrpay-reconcile", ["--shop", "9999"])
        #expect(shop.status == 66 && shop.stderr.contains("no shop 9999") && shop.stdout.isEmpty, "\(shop.stderr)")
        #expect(o.s.run("qrpay-reconcile", ["--shop", "2002", "--json"]).status == 0)
        // An outbox that is not there.
        let send = o.s.run("qrpay-shop", ["send", "--outbox", o.s.dir.path + "/nonexistent"])
        #expect(send.status == 66 && send.stderr.contains(o.s.dir.path + "/nonexistent") && !send.stderr.contains("carried"), "\(send.stderr)")
        // Durations need a unit, days are not negative: usage errors that say how.
        let hold = o.s.run("qrpay-settle", ["--password-file", o.s.passwordFile, "--hold", "5", "--once"])
        #expect(hold.status == 64 && hold.stderr.contains("90s, 15m, 2h") && !hold.stderr.contains("Missing value"), "\(hold.stderr)")
        let negative = o.s.run("qrpay-spool", ["purge", "--keep-days", "-1"])
        #expect(negative.status == 64 && negative.stderr.contains("0 or more") && !negative.stderr.contains("Missing value"), "\(negative.stderr)")
        let crl = runProgram("qrpay-ca", ["crl", "--spool", o.root, "--ca-password-file", o.s.passwordFile, "--valid-for", "7"])
        #expect(crl.status == 64 && crl.stderr.contains("no unit"), "\(crl.stderr)")
        #expect(o.s.run("qrpay-spool", ["check", "--max-age", "-5m"]).stderr.contains("90s, 15m, 2h"))
    }

    @Test(arguments: CatalogueTests.programs)
    func everyProgramHasAVersion(program: String) throws {
        let r = runProgram(program, ["--version"])
        #expect(r.status == 0 && r.stdout.hasPrefix(QRPayVersion.number), "\(program): \(r.stdout) \(r.stderr)")
        // Built from this checkout: the commit is there too.
        if FileIO.exists(LayoutTests.repository + "/.git") { #expect(r.stdout.contains("(commit "), "\(r.stdout)") }
    }

    // MARK: check: warnings and findings

    @Test func checkWarnsBeforeExpiriesAndFindsThemAfter() throws {
        let o = try OperationsSpool()
        func check(_ args: [String], ahead: Double = 0) throws -> (status: Int32, findings: [JSONValue], stdout: String) {
            let r = o.s.run("qrpay-spool", ["check", "--json"] + args, clockAhead: ahead)
            return (r.status, try JSONValue.parse(r.stdout)["findings"]?.arrayValue ?? [], r.stdout)
        }
        // Certificates valid a year: within a 400-day window, warnings only, and the spool stays green.
        var r = try check(["--cert-warn", "400d"])
        #expect(r.status == 0, "\(r.stdout)")
        let expiring = r.findings.filter { $0["code"] == "cert.expiring" }
        let expiringPaths = Set(expiring.compactMap { $0["path"]?.stringValue })
        #expect(expiringPaths.isSuperset(of: ["ca/certs/pg/PG1.pem", "ca/certs/shop/1001.pem", "ca/certs/user/u2.pem"]), "\(expiringPaths)")
        #expect(expiring.allSatisfy { $0["severity"] == "warning" })
        let text = o.spool("check", "--cert-warn", "400d")
        #expect(text.status == 0 && text.stdout.contains("warning: cert.expiring ca/certs/shop/1001.pem: "), "\(text.stdout)")
        // The daily checkpoint signs the journal, as the timer does (days later, an unsigned journal is
        // a finding of its own: checkpoint.missing).
        #expect(o.spool("checkpoint", "--password-file", o.s.passwordFile).status == 0)
        // The CRL (valid 7 days) within a day of its nextUpdate: a warning; past it: a finding.
        r = try check([], ahead: 6.5 * 86400)
        #expect(codes(r.findings).contains("crl.expiring") && r.status == 0, "\(r.stdout)")
        r = try check([], ahead: 8 * 86400)
        #expect(r.status == 1 && codes(r.findings).contains("crl.expired") && !codes(r.findings).contains("crl.expiring"), "\(r.stdout)")
        // A certificate past its notAfter: a finding.
        r = try check([], ahead: 400 * 86400)
        #expect(r.status == 1 && r.findings.contains { $0["code"] == "cert.expired" && $0["path"] == "ca/certs/shop/2002.pem" }, "\(r.stdout)")
    }

    @Test func checkFindsForeignNamesLongDeferralsAndStuckFiles() throws {
        let o = try OperationsSpool()
        let inbox = SpoolLayout(root: o.root).inbox
        try Durable.write(Data("x".utf8), to: inbox.newDirectory + "/bad name.json", mode: 0o640)
        // A file deferred since two hours ago (its first arrival, as the attempt record keeps it).
        try Durable.write(Data("{}".utf8), to: inbox.deferredDirectory + "/D.json", mode: 0o640)
        let reason: JSONValue = ["stage": "register", "reason": "there is no readable CRL", "code": "pki.crl-missing",
                                 "at": .string(Timestamp.format(Date())), "file": "D.json", "queue": "pg/inbox", "attempts": 7,
                                 "retryAt": .string(Timestamp.format(Date() + 600)), "arrived": .string(Timestamp.format(Date() - 7200))]
        try Durable.write(reason.serialized(), to: inbox.deferredDirectory + "/D.json.reason.json", mode: 0o640)
        // An approval waiting in new/: old only when the clock says so.
        try o.s.dropApproval(Data("{}".utf8))
        var r = o.s.run("qrpay-spool", ["check", "--json"])
        var found = codes(try JSONValue.parse(r.stdout)["findings"]?.arrayValue ?? [])
        #expect(r.status == 1 && found.contains("queue.foreign") && found.contains("queue.deferred") && !found.contains("queue.old"), "\(r.stdout)")
        #expect(r.stdout.contains("bad\\\\u{20}name.json") || r.stdout.contains("bad\\u{20}name.json"), "\(r.stdout)")
        r = o.s.run("qrpay-spool", ["check", "--json", "--max-deferred", "3h"], clockAhead: 2 * 3600)
        let findings = try JSONValue.parse(r.stdout)["findings"]?.arrayValue ?? []
        found = codes(findings)
        #expect(found.contains("queue.old") && found.contains("queue.deferred"), "\(r.stdout)")
        #expect(findings.first { $0["code"] == "queue.old" }?["message"]?.stringValue?.contains("qrpay-approve") == true)
        // Notices waiting for an offline shop are not stuck.
        #expect(!findings.contains { $0["code"] == "queue.old" && ($0["path"]?.stringValue?.hasPrefix("shops/") ?? false) })
    }

    // MARK: the queue tools

    @Test func listFlushHoldReleaseDeleteAndCat() throws {
        let o = try OperationsSpool()
        let layout = SpoolLayout(root: o.root)
        let inbox = layout.inbox
        let bad = try o.s.dropInInbox(Data("{\"not\": \"a payment\"}".utf8))
        #expect(o.s.run("qrpay-register", ["--password-file", o.s.passwordFile, "--once"]).status == 65)
        // A deferred file, due in an hour.
        try Durable.write(Data("{}".utf8), to: inbox.deferredDirectory + "/later.json", mode: 0o640)
        let reason: JSONValue = ["stage": "register", "reason": "no space", "code": "io.no-space", "at": .string(Timestamp.format(Date())),
                                 "file": "later.json", "queue": "pg/inbox", "attempts": 2, "retryAt": .string(Timestamp.format(Date() + 3600))]
        try Durable.write(reason.serialized(), to: inbox.deferredDirectory + "/later.json.reason.json", mode: 0o640)

        // list: every state, JSON with v; --state filters; text shows reason and retry.
        var r = o.spool("list", "--json")
        #expect(r.status == 0, "\(r.stderr)")
        var listed = try JSONValue.parse(r.stdout)
        #expect(listed["v"] == 1)
        let files = listed["files"]?.arrayValue ?? []
        let quarantined = try #require(files.first { $0["id"] == .string("pg/inbox/" + bad) })
        #expect(quarantined["state"] == "quarantined" && quarantined["code"] == "jws.malformed" && (quarantined["size"]?.intValue ?? 0) > 0)
        let deferred = try #require(files.first { $0["name"] == "later.json" })
        #expect(deferred["state"] == "deferred" && deferred["attempts"] == 2 && deferred["code"] == "io.no-space" && deferred["retryAt"]?.stringValue != nil)
        #expect(files.contains { $0["queue"] == "shops/1001/notices" && $0["state"] == "waiting" })
        listed = try JSONValue.parse(o.spool("list", "pg/inbox", "--state", "deferred", "--json").stdout)
        #expect(listed["files"]?.arrayValue?.map { $0["name"] } == ["later.json"])
        r = o.spool("list", "pg/inbox")
        #expect(r.stdout.contains("io.no-space, 2 attempts, next retry ") && r.stdout.contains("jws.malformed (register)"), "\(r.stdout)")
        #expect(o.spool("list", "pg/nowhere").status == 64)

        // flush: due now, back in new/, the attempt record kept.
        r = o.spool("flush", "pg/inbox")
        #expect(r.status == 0 && r.stdout.contains("pg/inbox/later.json: due now"), "\(r.stdout)\(r.stderr)")
        #expect(o.s.files(inbox.newDirectory) == ["later.json"] && FileIO.exists(inbox.deferredDirectory + "/later.json.reason.json"))

        // hold ALL and release ALL, of one queue.
        r = o.spool("hold", "ALL", "--queue", "pg/inbox")
        #expect(r.status == 0 && o.s.files(inbox.holdDirectory) == ["later.json"] && o.s.files(inbox.newDirectory).isEmpty, "\(r.stderr)")
        r = o.spool("release", "ALL")
        #expect(r.status == 0 && o.s.files(inbox.newDirectory) == ["later.json"], "\(r.stderr)")
        #expect(o.spool("hold", "ALL", "pg/inbox/x").status == 64)  // ALL stands alone
        #expect(o.spool("hold", "later.json", "nosuch.json").status == 66)  // one missing: reported, the other done
        #expect(o.s.files(inbox.holdDirectory) == ["later.json"])

        // delete: only quarantined or held files, each one in the audit log first.
        let notices = layout.notices(shop: "1001")
        let waiting = try #require(o.s.files(notices.newDirectory).first)
        r = o.spool("delete", "shops/1001/notices/" + waiting)
        #expect(r.status == 65 && r.stderr.contains("only quarantined or held"), "\(r.stderr)")
        #expect(FileIO.exists(notices.newDirectory + "/" + waiting))
        let badBytes = try FileIO.read(inbox.quarantineDirectory + "/" + bad)
        r = o.spool("delete", "pg/inbox/" + bad, "later.json")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(o.s.files(inbox.quarantineDirectory).isEmpty && o.s.files(inbox.holdDirectory).isEmpty)
        let audit = String(decoding: try FileIO.read(layout.auditLog), as: UTF8.self).split(separator: "\n")
        #expect(audit.count == 2)
        let first = try JSONValue.parse(Data(audit[0].utf8))
        #expect(first["action"] == "delete" && first["queue"] == "pg/inbox" && first["name"] == .string(bad) && first["state"] == "quarantined")
        #expect(first["sha256"] == .string(Base64URL.encode(Digest.sha256(badBytes))) && first["code"] == "jws.malformed" && first["v"] == 1)
        #expect(try JSONValue.parse(Data(audit[1].utf8))["state"] == "held")
        var st = stat()
        #expect(lstat(layout.auditLog, &st) == 0 && st.st_mode & 0o777 == 0o640)
        #expect(SpoolLayout.entry(matching: layout.relative(layout.auditLog))?.entry.kind == .file)

        // cat: a signed notice verified now as what its typ says; a record; a reason file.
        r = o.spool("cat", "shops/1001/notices/" + waiting)
        #expect(r.status == 0 && r.stdout.contains("typ qrpay-notice+jws") && r.stdout.contains("as a qrpay-notice+jws of a pg: ok"), "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("signer    pg PG1"))
        let cat = try JSONValue.parse(o.spool("cat", "--json", "shops/1001/notices/" + waiting).stdout)
        #expect(cat["v"] == 1 && cat["kind"] == "jws" && cat["verification"]?["ok"] == true && cat["signer"]?["role"] == "pg")
        #expect(cat["path"] == .string("shops/1001/notices/new/" + waiting))
        let record = o.spool("cat", layout.relative(o.s.store.recordPath(shop: "1001", payment: "C")))
        #expect(record.status == 0 && record.stdout.contains("payment record") && record.stdout.contains("USD 12.50"), "\(record.stdout)")
        // A list entry: signed by the PG, verified as one, with the payment it stands for.
        let listDir = layout.listDirectory
        let entry = try #require(FileManager.default.enumerator(atPath: listDir)?.compactMap { $0 as? String }
            .first { !FileIO.isDirectory(listDir + "/" + $0) })
        let shownEntry = o.spool("cat", layout.relative(listDir + "/" + entry))
        #expect(shownEntry.status == 0 && shownEntry.stdout.contains("typ qrpay-list+jws") && shownEntry.stdout.contains("of a pg: ok")
                && (shownEntry.stdout.contains("payment   1001/") || shownEntry.stdout.contains("payment   2002/")),
                "\(shownEntry.stdout)\(shownEntry.stderr)")  // whichever shop's entry the directory lists first
        // A signature that no longer verifies: exit 1, and why.
        guard case .object(var notice) = try JSONValue.parse(try FileIO.read(notices.newDirectory + "/" + waiting)) else { return }
        notice["signature"] = .string(Base64URL.encode(Data(repeating: 7, count: 64)))
        let forged = o.s.dir.write("forged.json", data: JSONValue.object(notice).serialized())
        let bad2 = o.spool("cat", forged)
        #expect(bad2.status == 1 && bad2.stdout.contains("FAILED") && bad2.stdout.contains("jws.bad-signature"), "\(bad2.stdout)\(bad2.stderr)")
        let nonsense = o.s.dir.write("nonsense.txt", "hello")
        #expect(o.spool("cat", nonsense).status == 65)
        #expect(o.spool("cat", "no-such-file.json").status == 66)
    }

    @Test func reasonFilesAndNewRecordsKeepRelativePaths() throws {
        let o = try OperationsSpool()
        let bad = try o.s.dropInInbox(Data("{}".utf8))
        #expect(o.s.run("qrpay-register", ["--password-file", o.s.passwordFile, "--once"]).status == 65)
        let reason = try JSONValue.parse(try FileIO.read(SpoolLayout(root: o.root).inbox.quarantineDirectory + "/" + bad + ".reason.json"))
        #expect(reason["queue"] == "pg/inbox")
        #expect(try o.record("1001", "A").qrPath == "shops/1001/qr/A.png")
        let cat = try JSONValue.parse(o.spool("cat", "--json", "pg/inbox/quarantine/\(bad).reason.json").stdout)
        #expect(cat["kind"] == "reason" && cat["reason"]?["code"] == "jws.malformed")
        // No absolute path in any --json output of the operator's commands.
        for args in [["status", "--json"], ["list", "--json"], ["quarantine", "--json"], ["check", "--json"], ["report", "--json"],
                     ["show", "--json", "1001", "A"]] {
            let r = o.s.run("qrpay-spool", args)
            #expect(r.status == 0 || r.status == 1, "\(args): \(r.stderr)")
            #expect(!r.stdout.contains(o.root), "\(args) shows an absolute path")
            #expect(try JSONValue.parse(r.stdout)["v"] == 1, "\(args) has no v")
        }
    }

    // MARK: progress

    @Test func progressOnlyOnATerminal() throws {
        let o = try OperationsSpool()
        // stderr is a pipe here: nothing but the summary.
        for args in [["check"], ["report"], ["purge", "--dry-run"], ["init"]] {
            let r = o.s.run("qrpay-spool", args)
            #expect(!r.stderr.contains("\r"), "\(args): \(r.stderr)")
        }
        // Forced as on a terminal: a line rewritten in place, cleared before the result.
        let forced = runProgram("qrpay-reconcile", [], env: ["QRPAY_SPOOL": o.root, "QRPAY_PROGRESS": "1"])
        #expect(forced.status == 0 && forced.stderr.contains("\r\u{1B}[K"), "\(forced.stderr)")
        // init looks at some 4,000 list directories: its line counts them, of how many.
        let initForced = runProgram("qrpay-spool", ["init"], env: ["QRPAY_SPOOL": o.root, "QRPAY_PROGRESS": "1"])
        #expect(initForced.status == 0 && initForced.stderr.contains(" directories") && initForced.stderr.contains("\r\u{1B}[K"),
                "\(initForced.stderr)")
    }

    // MARK: the daily report

    /// The numbers of every `data-k` span of the page.
    static func numbers(_ html: String) throws -> [String: String] {
        let regex = try NSRegularExpression(pattern: #"data-k="([^"]+)"(?: data-minor="(-?[0-9]+)")?>([^<]*)<"#)
        var out: [String: String] = [:]
        for m in regex.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
            let key = String(html[Range(m.range(at: 1), in: html)!])
            if let minor = Range(m.range(at: 2), in: html) { out[key] = String(html[minor]) } else {
                out[key] = String(html[Range(m.range(at: 3), in: html)!])
            }
        }
        return out
    }

    @Test func theDailyReportAgreesWithStatusAndReconcile() throws {
        let o = try OperationsSpool()
        _ = try o.s.dropInInbox(Data("{}".utf8))  // one refusal
        #expect(o.s.run("qrpay-register", ["--password-file", o.s.passwordFile, "--once"]).status == 65)
        let json = try JSONValue.parse(o.spool("report", "--json").stdout)
        let status = try JSONValue.parse(o.spool("status", "--json").stdout)
        let reconcile = try JSONValue.parse(o.s.run("qrpay-reconcile", ["--json"]).stdout)
        #expect(json["v"] == 1 && json["days"] == .array([.string(o.day)]))
        #expect(json["totals"]?["registered"] == 5 && json["totals"]?["accepted"] == 2 && json["totals"]?["finished"] == 1
                && json["totals"]?["cancelled"] == 1 && json["totals"]?["refused"] == 1, "\(json["totals"] ?? .null)")
        #expect(json["refusedByCode"]?["jws.malformed"] == 1)
        #expect(json["requestToAccept"]?["payments"] == 2 && json["requestToAccept"]?["p95Seconds"]?.intValue != nil)
        #expect(json["accepted"]?.arrayValue?.contains { $0["currency"] == "USD" && $0["minor"] == 1250 && $0["decimal"] == "12.50" } == true)
        for state in PaymentState.allCases {
            #expect(json["status"]?["payments"]?[state.rawValue] == status["payments"]?[state.rawValue])
            #expect(json["created"]?[state.rawValue] == reconcile["states"]?[state.rawValue], "\(state)")
        }
        let text = o.spool("report", "--text")
        #expect(text.status == 0 && text.stdout.contains("Grand totals") && text.stdout.contains("jws.malformed")
                && text.stdout.contains("USD 12.50"), "\(text.stdout)")
        #expect(o.spool("report", "--days", "0").status == 64 && o.spool("report", "--date", "2026-13-01").status == 64)

        // The page: self-contained, charts as inline SVG, the numbers of status and reconcile.
        let page = o.s.dir.path + "/report.html"
        let r = o.spool("report", "--html", "\(page)")
        #expect(r.status == 0, "\(r.stderr)")
        let html = String(decoding: try FileIO.read(page), as: UTF8.self)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="))
        #expect(html.components(separatedBy: "<svg").count - 1 >= 3 && html.contains("<rect class=\"bar\""))
        let n = try Self.numbers(html)
        for state in PaymentState.allCases {
            #expect(n["now.\(state.rawValue).count"] == status["payments"]?[state.rawValue]?.intValue.map(String.init), "\(state)")
            let created = reconcile["states"]?[state.rawValue]?.objectValue ?? [:]
            #expect(n["created.\(state.rawValue).count"] == String(created.values.reduce(Int64(0)) { $0 + ($1["count"]?.intValue ?? 0) }))
            for (cur, tally) in created { #expect(n["created.\(state.rawValue).\(cur).total"] == tally["total"]?.intValue.map(String.init)) }
        }
        #expect(n["queue.pg/inbox.quarantined"] == status["queueDetails"]?["pg/inbox"]?["quarantined"]?.intValue.map(String.init))
        #expect(n["total.refused"] == "1" && n["refused.jws.malformed"] == "1")

        // Headless Chromium renders it: a screenshot that is not blank.
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            print("QueueToolsAndReportTests: chromium is not installed (make test's set-up installs it); the rendering is not checked")
            return
        }
        let shot = o.s.dir.path + "/shot.png"
        let rendered = runExecutable(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,1600",
                                                "--user-data-dir=" + o.s.dir.path + "/chromium", "--screenshot=" + shot, "file://" + page],
                                     env: ["HOME": o.s.dir.path])
        #expect(FileIO.exists(shot), "\(rendered.stderr.suffix(2000))")
        let image = try PNGReader.gray(try FileIO.read(shot, maxBytes: 64 << 20), maxPixels: 1 << 24)
        var histogram = [Int](repeating: 0, count: 256)
        for y in stride(from: 0, to: image.height, by: 2) {
            for x in stride(from: 0, to: image.width, by: 2) { histogram[Int(image.pixels[y * image.width + x])] += 1 }
        }
        let total = histogram.reduce(0, +)
        let dark = histogram[0..<128].reduce(0, +)
        let mid = histogram[1..<250].reduce(0, +)
        #expect(image.width >= 900 && total > 0)
        // Text and bars: some dark pixels and a good number of grey ones, not one colour.
        #expect(dark > total / 500 && mid > total / 100 && histogram.filter { $0 > 0 }.count > 20, "dark \(dark), mid \(mid) of \(total)")
    }

    // MARK: make install

    @Test func makeInstallPutsEverythingInPlaceAndUninstallRemovesIt() throws {
        let generate = programDirectory() + "/generate-manual"
        guard FileManager.default.isExecutableFile(atPath: generate), FileManager.default.isExecutableFile(atPath: "/usr/bin/make") else {
            print("QueueToolsAndReportTests: \(generate) or make is missing (make test builds generate-manual); install is not checked")
            return
        }
        let dir = TemporaryDirectory("install")
        let vars = ["BIN=" + programDirectory(), "GENERATE_MANUAL=" + generate, "DOCS=" + dir.path + "/docs",
                    "DESTDIR=" + dir.path + "/root", "PREFIX=/usr"]
        var r = runExecutable("/usr/bin/make", ["-C", LayoutTests.repository, "--no-print-directory", "install-files"] + vars)
        #expect(r.status == 0, "\(r.stdout.suffix(3000))\(r.stderr.suffix(3000))")
        let root = dir.path + "/root"
        for program in CatalogueTests.programs {
            #expect(FileManager.default.isExecutableFile(atPath: root + "/usr/bin/" + program), "\(program)")
            #expect(FileIO.exists(root + "/usr/share/man/man1/\(program).1"), "\(program)")
            #expect(FileIO.exists(root + "/usr/share/bash-completion/completions/" + program), "\(program)")
            #expect(FileIO.exists(root + "/usr/share/zsh/site-functions/_" + program), "\(program)")
            #expect(FileIO.exists(root + "/usr/share/fish/vendor_completions.d/\(program).fish"), "\(program)")
        }
        for page in ["qrpay-spool.list.1", "qrpay-spool.report.1", "qrpay-spool.cat.1", "qrpay-ca.issue.1", "qrpay-shop.send.1"] {
            #expect(FileIO.exists(root + "/usr/share/man/man1/" + page), "\(page)")
        }
        let list = String(decoding: try FileIO.read(root + "/usr/share/man/man1/qrpay-spool.list.1"), as: UTF8.self)
        #expect(list.contains("--state") && list.contains("mailq"))
        let five = String(decoding: try FileIO.read(root + "/usr/share/man/man5/qrpay-spool.5"), as: UTF8.self)
        #expect(five.hasPrefix(".TH QRPAY-SPOOL 5") && five.contains("pg/audit.log") && five.contains("pg/inbox (queue"))
        #expect(String(decoding: try FileIO.read(root + "/usr/share/bash-completion/completions/qrpay-spool"), as: UTF8.self).contains("flush"))
        #expect(FileIO.exists(root + "/usr/lib/systemd/system/qrpay-report.timer") && FileIO.exists(root + "/usr/share/qrpay/crontab"))
        #expect(String(decoding: try FileIO.read(root + "/usr/lib/systemd/system/qrpay-report.service"), as: UTF8.self).contains("ExecStart=/usr/bin/qrpay-spool report"))
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/man") {
            let shown = runExecutable("/usr/bin/man", ["-l", root + "/usr/share/man/man1/qrpay-spool.check.1"], env: ["MANPAGER": "cat", "PAGER": "cat"])
            #expect(shown.status == 0 && shown.stdout.contains("cert-warn"), "\(shown.stderr)")
        }

        r = runExecutable("/usr/bin/make", ["-C", LayoutTests.repository, "--no-print-directory", "uninstall"] + vars)
        #expect(r.status == 0, "\(r.stderr)")
        let left = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String }.filter { !FileIO.isDirectory(root + "/" + $0) } ?? []
        #expect(left.isEmpty, "left after uninstall: \(left)")
    }
}
