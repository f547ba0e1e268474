// The shop's and the user's clients finish the protocol, end to end through the built
// programs: `qrpay-shop notices` and `qrpay-user receipts` verify, print, journal and consume what
// the PG sends (a forged notice is set aside); refusals reach the shop; `approve` signs only the
// payment the user meant (two-code photos, swapped codes, forged list entries, a revoked user, a
// second approval); passwords are bytes; the terminal QR reads back; bidirectional text is refused.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPKI
@testable import QRPayImaging
@testable import QRPayDecoder
@testable import QRPayPayments
@testable import QRPayLedger
import Testing

@Suite(.serialized) struct ClientTests {
    typealias Run = (status: Int32, stdout: String, stderr: String)

    func approveStage(_ s: PipelineSpool) -> Run { s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"]) }
    func settle(_ s: PipelineSpool, hold: String = "0") -> Run {
        s.run("qrpay-settle", ["--password-file", s.passwordFile, "--hold", hold, "--once"])
    }
    func approvalsWaiting(_ s: PipelineSpool) -> [String] { s.files(SpoolLayout(root: s.root).approvals.newDirectory) }

    /// The QR PNG of a registered payment decoded back to its text.
    func qrText(_ s: PipelineSpool, _ record: PaymentRecord) throws -> String {
        try #require(try QRImageDecoder().decode(file: s.qrFile(record)).symbols.first)
    }

    // MARK: the shop

    /// One payment finished, one cancelled, one refused (expired when it arrived): `notices` prints a
    /// line per payment and state, records them in the shop's journal, consumes them; `status` sums
    /// the day; a forged notice is set aside, never believed.
    @Test func shopReadsNoticesAndRefusals() throws {
        let s = try PipelineSpool()
        let layout = SpoolLayout(root: s.root)
        // The day the payments are created (the status below asks for it: run across midnight, "today"
        // would be the next day).
        let created = Timestamp.day(Date())
        let paid = try s.registerPayment(try s.paymentInfo(payment: "N-1"))
        _ = try s.registerPayment(try s.paymentInfo(payment: "N-2", total: 1500, quantity: 1))
        try s.dropApproval(try s.approval(for: paid))
        #expect(approveStage(s).status == 0)
        let cancel = s.run("qrpay-shop", ["cancel", "--shop", "1001", "--password-file", s.passwordFile, "--reason", "left", "N-2"])
        #expect(cancel.status == 0, "\(cancel.stderr)")
        #expect(settle(s).status == 0)
        // N-3 expired before the PG saw it: the PG refuses it and tells the shop. Created on the same
        // UTC day as the others (an hour ago, or at midnight when the day is younger), so that the
        // day's status below counts it whatever the time of day.
        let now = Date()
        let dayStart = try #require(Timestamp.parse(created + "T00:00:00Z"))
        let n3Created = max(dayStart, now - 3600)
        try s.dropInInbox(try s.signedPayment(try s.paymentInfo(payment: "N-3", created: n3Created,
                                                                lifetime: max(1, min(60, now.timeIntervalSince(n3Created) / 2)))))
        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 65)
        let notices = layout.notices(shop: "1001")
        #expect(s.files(notices.newDirectory).contains { $0.hasPrefix("N-3.refused.") })

        // --keep --json: read only.
        let peek = s.run("qrpay-shop", ["notices", "--shop", "1001", "--json", "--keep"])
        #expect(peek.status == 0, "\(peek.stderr)")
        let all = try #require(try JSONValue.parse(peek.stdout).arrayValue)
        #expect(all.count == 6)
        let states = all.filter { $0["kind"] == "state" }.map { "\($0["payment"]?.stringValue ?? "") \($0["state"]?.stringValue ?? "")" }
        #expect(Set(states) == ["N-1 request", "N-1 accept", "N-1 finish", "N-2 request", "N-2 cancel"])
        let refusal = try #require(all.first { $0["kind"] == "refusal" })
        #expect(refusal["payment"] == "N-3" && refusal["code"] == "payment.expired" && refusal["refusedKind"] == "payment")
        #expect(s.files(notices.newDirectory).count == 6)
        let before = try PartyJournal(path: layout.shopJournal(shop: "1001"), layout: layout).entries()
        #expect(!before.isEmpty && before.allSatisfy { $0["event"] != "state" && $0["event"] != "refused" })

        // A forged notice (signed by the shop itself, not the PG) beside the real ones.
        let real = try FileIO.read(notices.newDirectory + "/N-1.finish.json")
        let forged = try JWS.sign(payload: try JWS(parsing: real).payload, type: .notice, credentials: try #require(s.shops["2002"]))
        try forged.write(to: URL(fileURLWithPath: notices.newDirectory + "/N-9.finish.json"))

        let read = s.run("qrpay-shop", ["notices", "--shop", "1001"])
        #expect(read.status == 65, "\(read.stderr)")  // something was set aside
        #expect(read.stdout.contains("N-1 accept KRW 9,000 by user u1"), "\(read.stdout)")
        #expect(read.stdout.contains("N-1 finish KRW 9,000") && read.stdout.contains("N-2 cancel KRW 1,500: left"))
        #expect(read.stdout.contains("N-3 refused payment (payment.expired)"))
        #expect(read.stdout.split(separator: "\n").count == 6)
        #expect(read.stderr.contains("N-9.finish.json") && read.stderr.contains("set aside"), "\(read.stderr)")
        #expect(s.files(notices.newDirectory).isEmpty)
        #expect(try s.quarantine(notices).map(\.name) == ["N-9.finish.json"])
        let journal = try PartyJournal(path: layout.shopJournal(shop: "1001"), layout: layout).entries()
        #expect(journal.filter { $0["event"] == "state" }.count == 5)
        #expect(journal.filter { $0["event"] == "refused" }.map { $0["code"] } == ["payment.expired"])
        // Read again: nothing new, nothing printed.
        let again = s.run("qrpay-shop", ["notices", "--shop", "1001"])
        #expect(again.status == 0 && again.stdout.isEmpty, "\(again.stdout) \(again.stderr)")

        // The day at closing time, from the journal.
        let status = s.run("qrpay-shop", ["status", "--shop", "1001", "--day", created, "--json"])
        #expect(status.status == 0, "\(status.stderr)")
        let day = try JSONValue.parse(status.stdout)
        #expect(day["payments"] == 3)
        #expect(day["states"]?["finish"]?["count"] == 1 && day["states"]?["finish"]?["totals"]?["KRW"] == 9000)
        #expect(day["states"]?["cancel"]?["count"] == 1 && day["states"]?["refused"]?["count"] == 1)
        let text = s.run("qrpay-shop", ["status", "--shop", "1001", "--day", created])
        #expect(text.status == 0 && text.stdout.contains("3 payment(s) created") && text.stdout.contains("KRW 9,000"), "\(text.stdout)")
    }

    /// The shop's own client refuses, before anything is sent, a payment number it already used and
    /// a cancel of a payment it never created.
    @Test func shopRefusesReusedNumbersAndUnknownCancels() throws {
        let s = try PipelineSpool()
        let layout = SpoolLayout(root: s.root)
        let create = ["create", "--shop", "1001", "--password-file", s.passwordFile, "--currency", "KRW", "--payment", "R-1"]
        #expect(s.run("qrpay-shop", create + ["--item", "Tea:1:3000"]).status == 0)
        let reused = s.run("qrpay-shop", create + ["--item", "Cake:1:5000"])
        #expect(reused.status == 65 && reused.stderr.contains("R-1"), "\(reused.stderr)")
        #expect(s.files(layout.inbox.newDirectory).count == 1)
        let unknown = s.run("qrpay-shop", ["cancel", "--shop", "1001", "--password-file", s.passwordFile, "NEVER-1"])
        #expect(unknown.status == 65 && unknown.stderr.contains("NEVER-1"), "\(unknown.stderr)")
        #expect(s.files(layout.cancels.newDirectory).isEmpty)
        // Text that would reach the payer: a bidi override in an item name is refused at the shop.
        let bidi = s.run("qrpay-shop", ["create", "--shop", "1001", "--password-file", s.passwordFile, "--currency", "KRW",
                                        "--item", "Ameri\u{202E}onac:1:100"])
        #expect(bidi.status == 65 && bidi.stderr.contains("\\u{202E}"), "\(bidi.stderr)")
        #expect(s.files(layout.inbox.newDirectory).count == 1)
    }

    /// A payment signed around the shop's client with a bidi override in an item name: the PG
    /// quarantines it with its reason and sends the shop a refusal.
    @Test func pgRefusesBidiTextAndTellsTheShop() throws {
        let s = try PipelineSpool()
        let payload = try s.paymentInfo(payment: "B-1").json.serialized()
        let tampered = Data(String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "Americano", with: "Ameri\u{2067}cano").utf8)
        let name = try s.dropInInbox(try s.signedPayment(tampered))
        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 65)
        let q = try s.quarantine(SpoolLayout(root: s.root).inbox)
        #expect(q.map(\.name) == [name] && q.first?.code == "payment.item-name")
        let read = s.run("qrpay-shop", ["notices", "--shop", "1001"])
        #expect(read.status == 0 && read.stdout.contains("B-1 refused payment (payment.item-name)"), "\(read.stdout) \(read.stderr)")
    }

    /// The CA refuses display names with bidi controls and a second shop named like a certified one.
    @Test func caRefusesBidiAndLookAlikeShopNames() throws {
        let s = try PipelineSpool()
        let caPass = s.dir.write("ca.pass", s.pki.caPassword + "\n")
        func issue(_ id: String, _ name: String) -> Run {
            s.run("qrpay-ca", ["issue", "--role", "shop", "--id", id, "--name", name, "--ca-password-file", caPass,
                               "--password-file", s.passwordFile])
        }
        let bidi = issue("3003", "Coffee\u{202E}esuoH")
        #expect(bidi.status == 65, "\(bidi.stderr)")
        let lookAlike = issue("3003", "shop  1001")
        #expect(lookAlike.status == 65 && lookAlike.stderr.contains("1001"), "\(lookAlike.stderr)")
        #expect(!FileManager.default.fileExists(atPath: SpoolLayout(root: s.root).certificateFile(role: .shop, id: "3003")))
    }

    /// The counter's display: the terminal rendering, drawn as pixels, decodes to the payment's code.
    @Test(arguments: [false, true])
    func terminalQRReadsBack(invert: Bool) throws {
        let s = try PipelineSpool()
        let record = try s.registerPayment(try s.paymentInfo(payment: "T-1"))
        let expected = try qrText(s, record)
        let r = s.run("qrpay-shop", ["qr", "--shop", "1001", "--terminal", "T-1"] + (invert ? ["--invert"] : []))
        #expect(r.status == 0, "\(r.stderr)")
        // A character cell is two modules high: the upper and the lower half. The foreground (the
        // block) is light on a dark terminal, dark with --invert on a light one.
        let lines = r.stdout.split(separator: "\n").map { Array($0) }
        let width = try #require(lines.first?.count)
        #expect(lines.allSatisfy { $0.count == width } && lines.joined().allSatisfy { " ▀▄█".contains($0) })
        let scale = 6
        let fg: UInt8 = invert ? 0 : 255, bg: UInt8 = invert ? 255 : 0
        var image = GrayImage(width: width * scale, height: lines.count * 2 * scale, fill: bg)
        for (row, line) in lines.enumerated() {
            for (column, cell) in line.enumerated() {
                let halves: (Bool, Bool) = cell == "█" ? (true, true) : cell == "▀" ? (true, false) : cell == "▄" ? (false, true) : (false, false)
                for (half, on) in [halves.0, halves.1].enumerated() where on {
                    for y in 0..<scale { for x in 0..<scale {
                        image.pixels[((row * 2 + half) * scale + y) * image.width + column * scale + x] = fg
                    } }
                }
            }
        }
        // Either way the dark modules come out dark and the quiet zone light.
        let decoded = try QRImageDecoder().decode(image: image)
        #expect(decoded == [expected])
        // --png copies the PNG the PG made; without either, a pipe gets the path.
        let copy = s.dir.path + "/counter.png"
        #expect(s.run("qrpay-shop", ["qr", "--shop", "1001", "--png", copy, "T-1"]).status == 0)
        #expect(try FileIO.read(copy) == FileIO.read(s.qrFile(record)))
        #expect(s.run("qrpay-shop", ["qr", "--shop", "1001", "T-1"]).stdout == s.qrFile(record) + "\n")
        #expect(s.run("qrpay-shop", ["qr", "--shop", "1001", "T-2"]).status == 66)
    }

    // MARK: the user

    /// Receipts: verified, printed, journaled and consumed; another user's receipt is set aside.
    @Test func userReadsReceipts() throws {
        let s = try PipelineSpool()
        let layout = SpoolLayout(root: s.root)
        let record = try s.registerPayment(try s.paymentInfo(payment: "U-1"))
        try s.dropApproval(try s.approval(for: record))
        #expect(approveStage(s).status == 0)
        #expect(settle(s).status == 0)
        let receipts = layout.receipts(user: "u1")
        #expect(s.files(receipts.newDirectory).count == 2)
        // u1's receipt dropped into u2's queue is about another party.
        let stray = try FileIO.read(receipts.newDirectory + "/" + s.files(receipts.newDirectory)[0])
        try layout.receipts(user: "u2").create()
        try stray.write(to: URL(fileURLWithPath: layout.receipts(user: "u2").newDirectory + "/stray.json"))

        let r = s.run("qrpay-user", ["receipts", "--user", "u1", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let list = try #require(try JSONValue.parse(r.stdout).arrayValue)
        #expect(Set(list.compactMap { $0["state"]?.stringValue }) == ["accept", "finish"])
        #expect(list.allSatisfy { $0["payment"] == "U-1" && $0["user"] == "u1" && $0["totalText"] == "KRW 9,000" })
        #expect(s.files(receipts.newDirectory).isEmpty)
        #expect(try PartyJournal(path: layout.userJournal(user: "u1"), layout: layout).entries().filter { $0["event"] == "state" }.count == 2)
        #expect(s.run("qrpay-user", ["receipts", "--user", "u1", "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        let other = s.run("qrpay-user", ["receipts", "--user", "u2"])
        #expect(other.status == 65 && other.stderr.contains("not user u2"), "\(other.stderr)")
        #expect(try s.quarantine(layout.receipts(user: "u2")).first?.code == "notice.party")
    }

    /// A photo with two codes of the same total (two shops): nothing signed without --code, the
    /// other shop's code refused by --expect-shop, the right one approved.
    @Test func twoCodePhotoNeedsTheUsersChoice() throws {
        let s = try PipelineSpool()
        let mine = try s.registerPayment(try s.paymentInfo(payment: "D-1"))
        let theirs = try s.registerPayment(try s.paymentInfo(shop: "2002", payment: "D-9"))
        let codes = try [mine, theirs].map { try PNGReader.gray(try FileIO.read(s.qrFile($0)), maxPixels: 1 << 24) }
        var canvas = GrayImage(width: codes[0].width + codes[1].width + 60, height: max(codes[0].height, codes[1].height) + 40)
        var x0 = 20
        for code in codes {
            for y in 0..<code.height { for x in 0..<code.width { canvas.pixels[(y + 20) * canvas.width + x + x0] = code.pixels[y * code.width + x] } }
            x0 += code.width + 20
        }
        let photo = s.dir.write("two.png", data: try PNGWriter.gray(rows: canvas.pixels, width: canvas.width, height: canvas.height, bitDepth: 8))

        let scan = s.run("qrpay-user", ["scan", "--user", "u1", "--json", photo])
        #expect(scan.status == 0, "\(scan.stderr)")
        let listed = try #require(try JSONValue.parse(scan.stdout)["codes"]?.arrayValue)
        #expect(Set(listed.compactMap { $0["shop"]?.stringValue }) == ["1001", "2002"])
        let mineIndex = try #require(listed.firstIndex { $0["shop"] == "1001" }) + 1
        let theirsIndex = 3 - mineIndex

        let base = ["approve", "--user", "u1", "--password-file", s.passwordFile, "--expect-shop", "1001", "--expect-total", "9000"]
        let ambiguous = s.run("qrpay-user", base + [photo])
        #expect(ambiguous.status == 65 && ambiguous.stderr.contains("--code"), "\(ambiguous.stderr)")
        let wrong = s.run("qrpay-user", base + ["--code", String(theirsIndex), photo])
        #expect(wrong.status == 65 && wrong.stderr.contains("2002"), "\(wrong.stderr)")
        let beyond = s.run("qrpay-user", base + ["--code", "3", photo])
        #expect(beyond.status == 65 && beyond.stderr.contains("--code 3"), "\(beyond.stderr)")
        #expect(approvalsWaiting(s).isEmpty)
        let right = s.run("qrpay-user", base + ["--code", String(mineIndex), photo])
        #expect(right.status == 0, "\(right.stderr)")
        #expect(approveStage(s).status == 0)
        #expect(try s.store.load(shop: "1001", payment: "D-1")?.state == .accept)
        #expect(try s.store.load(shop: "2002", payment: "D-9")?.state == .request)
    }

    /// Swapped codes with the same total: another shop's, or another bill at the same shop.
    @Test func swappedCodesAreRefused() throws {
        let s = try PipelineSpool()
        _ = try s.registerPayment(try s.paymentInfo(payment: "S-1"))
        let otherBill = try s.registerPayment(try s.paymentInfo(payment: "S-2"))
        let otherShop = try s.registerPayment(try s.paymentInfo(shop: "2002", payment: "S-1"))
        let base = ["approve", "--user", "u1", "--password-file", s.passwordFile, "--expect-total", "9000"]
        let shop = s.run("qrpay-user", base + ["--expect-shop", "1001", s.qrFile(otherShop)])
        #expect(shop.status == 65 && shop.stderr.contains("the shop is 2002"), "\(shop.stderr)")
        let bill = s.run("qrpay-user", base + ["--expect-shop", "1001", "--expect-payment", "S-1", s.qrFile(otherBill)])
        #expect(bill.status == 65 && bill.stderr.contains("S-2"), "\(bill.stderr)")
        let currency = s.run("qrpay-user", base + ["--expect-shop", "1001", "--expect-currency", "USD", s.qrFile(otherBill)])
        #expect(currency.status == 65 && currency.stderr.contains("USD"), "\(currency.stderr)")
        #expect(approvalsWaiting(s).isEmpty)
    }

    /// A list entry not signed by the PG (here: re-signed by a shop) is not believed.
    @Test func forgedListEntryIsRefused() throws {
        let s = try PipelineSpool()
        let record = try s.registerPayment(try s.paymentInfo(payment: "F-1"))
        let qr = try QRPayload(text: try qrText(s, record))
        let path = SpoolLayout(root: s.root).listPath(token: qr.listToken)
        let entry = try JWS(parsing: try FileIO.read(path))
        #expect(entry.type == DocumentType.list.rawValue)
        try JWS.sign(payload: entry.payload, type: .list, credentials: try #require(s.shops["1001"])).write(to: URL(fileURLWithPath: path))
        let scan = s.run("qrpay-user", ["scan", "--user", "u1", s.qrFile(record)])
        #expect(scan.status == 65 && scan.stderr.contains("list"), "\(scan.stderr)")
        let approve = s.run("qrpay-user", ["approve", "--user", "u1", "--password-file", s.passwordFile, "--expect-shop", "1001",
                                           "--expect-total", "9000", s.qrFile(record)])
        #expect(approve.status == 65)
        #expect(approvalsWaiting(s).isEmpty)
    }

    /// Before signing, the client checks its own certificate (revoked: 77) and its own record of
    /// what it approved (a second approval: 65).
    @Test func revokedUserAndSecondApprovalAreRefusedLocally() throws {
        let s = try PipelineSpool()
        let record = try s.registerPayment(try s.paymentInfo(payment: "V-1"))
        let args = ["approve", "--user", "u1", "--password-file", s.passwordFile, "--expect-shop", "1001", "--expect-total", "9000", s.qrFile(record)]
        #expect(s.run("qrpay-user", args).status == 0)
        let second = s.run("qrpay-user", args)
        #expect(second.status == 65 && second.stderr.contains("already approved"), "\(second.stderr)")
        #expect(approvalsWaiting(s).count == 1)
        let other = try s.registerPayment(try s.paymentInfo(payment: "V-2"))
        try s.pki.ca.revoke(role: .user, id: "u1", caPassword: s.pki.caPassword)
        let revoked = s.run("qrpay-user", ["approve", "--user", "u1", "--password-file", s.passwordFile, "--expect-shop", "1001",
                                           "--expect-total", "9000", s.qrFile(other)])
        #expect(revoked.status == 77 && revoked.stderr.contains("revoked"), "\(revoked.stderr)")
        #expect(approvalsWaiting(s).count == 1)
    }

    /// Approvals and cancels dated far from their arrival are refused by the PG.
    @Test func documentsDatedFarFromTheirArrivalAreRefused() throws {
        let s = try PipelineSpool()
        let record = try s.registerPayment(try s.paymentInfo(payment: "Z-1"))
        let y1999 = Date(timeIntervalSince1970: 915_148_800), y2099 = Date(timeIntervalSince1970: 4_070_908_800)
        try s.dropApproval(try s.approval(for: record, at: y1999))
        try s.dropApproval(try s.approval(for: record, at: y2099))
        #expect(approveStage(s).status == 65)
        #expect(try s.quarantine(SpoolLayout(root: s.root).approvals).map(\.code) == ["approval.time", "approval.time"])
        let cancel = try Cancel(shop: "1001", payment: "Z-1", reason: "", at: y2099)
        let cancels = SpoolLayout(root: s.root).cancels
        try cancels.create()
        try cancels.deliver(try JWS.sign(payload: cancel.json.serialized(), type: .cancel, credentials: try #require(s.shops["1001"])))
        #expect(settle(s, hold: "1h").status == 65)
        #expect(try s.quarantine(cancels).map(\.code) == ["cancel.time"])
        #expect(try s.store.load(shop: "1001", payment: "Z-1")?.state == .request)
    }

    /// Passwords are the file's bytes: Latin-1 works as itself (not as its UTF-8 look-alike); a NUL
    /// byte is refused before any key is made or opened.
    @Test func passwordsAreBytes() throws {
        let s = try PipelineSpool()
        let caPass = s.dir.write("ca.pass", s.pki.caPassword + "\n")
        let latin1 = s.dir.write("latin1.pass", data: Data([0x63, 0x61, 0x66, 0xE9, 0x0A]))  // "café" in Latin-1
        let utf8 = s.dir.write("utf8.pass", "café\n")
        let nul = s.dir.write("nul.pass", data: Data([0x00, 0x61, 0x62, 0x63]))
        let issueNul = s.run("qrpay-ca", ["issue", "--role", "user", "--id", "u7", "--name", "User Seven", "--ca-password-file", caPass, "--password-file", nul])
        #expect(issueNul.status == 65 && issueNul.stderr.contains("NUL"), "\(issueNul.stderr)")
        let issue = s.run("qrpay-ca", ["issue", "--role", "user", "--id", "u7", "--name", "User Seven", "--ca-password-file", caPass, "--password-file", latin1])
        #expect(issue.status == 0, "\(issue.stderr)")
        let record = try s.registerPayment(try s.paymentInfo(payment: "P-1"))
        func approve(_ file: String) -> Run {
            s.run("qrpay-user", ["approve", "--user", "u7", "--password-file", file, "--expect-shop", "1001", "--expect-total", "9000", s.qrFile(record)])
        }
        #expect(approve(nul).status == 65)
        #expect(approve(utf8).status == 77)
        #expect(approvalsWaiting(s).isEmpty)
        let ok = approve(latin1)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(approvalsWaiting(s).count == 1)
        // --password-stdin reads the same bytes.
        let other = try s.registerPayment(try s.paymentInfo(payment: "P-2"))
        let stdin = runProgram("qrpay-user", ["approve", "--user", "u7", "--password-stdin", "--expect-shop", "1001", "--expect-total", "9000", s.qrFile(other)],
                               stdin: Data([0x63, 0x61, 0x66, 0xE9]), env: s.env)
        #expect(stdin.status == 0, "\(stdin.stderr)")
    }
}
