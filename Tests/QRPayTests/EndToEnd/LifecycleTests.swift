// End to end through the built programs: the whole payment life: photo → review
// → password-unlocked approval → accept → finish; cancel; expiry; and every refused approval.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPKI
@testable import QRPayImaging
@testable import QRPayTestPhotos
@testable import QRPayPayments
@testable import QRPayLedger
import Testing

@Suite(.serialized) struct LifecycleTests {
    func approve(_ s: PipelineSpool) -> (status: Int32, stdout: String, stderr: String) {
        s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"])
    }

    func settle(_ s: PipelineSpool, hold: String) -> (status: Int32, stdout: String, stderr: String) {
        s.run("qrpay-settle", ["--password-file", s.passwordFile, "--hold", hold, "--once"])
    }

    /// Where a test's spool lives: TMPDIR (a tmpfs under `make test`) or the disk's file system,
    /// so that the whole life also runs where a deployed spool does (ext4 or XFS: journaled
    /// directory operations, fsync and syncfs that reach a device).
    enum Storage: String, CaseIterable, CustomTestStringConvertible {
        case temporary, disk
        var testDescription: String { rawValue }
        var base: String? { self == .disk ? diskTemporaryBase() : nil }
    }

    @Test(arguments: Storage.allCases)
    func fullLifecycleFromAPhonePhoto(_ storage: Storage) throws {
        let s = try PipelineSpool(base: storage.base)
        if storage == .disk && isTmpfs(s.root) {
            print("note: fullLifecycleFromAPhonePhoto(disk): \(diskTemporaryBase()) is itself on a tmpfs; set QRPAY_DISK_TMPDIR to a disk folder")
        }
        let record = try s.registerPayment(try s.paymentInfo(payment: "L-1", total: 6100, quantity: 2))
        // The shop's display, photographed: rotated, tilted, noisy JPEG.
        let photo = try PhoneCamera.photograph(png: try FileIO.read(SpoolLayout(root: s.root).absolute(record.qrPath)), shot: PhoneCamera.Shot(rotationDegrees: 33))
        let photoPath = s.dir.write("photo.jpg", data: photo)

        let scan = s.run("qrpay-user", ["scan", "--user", "u1", "--json", photoPath])
        #expect(scan.status == 0, "\(scan.stderr)")
        let review = try JSONValue.parse(scan.stdout)
        #expect(review["shopName"] == "Shop 1001" && review["total"] == 12200 && review["totalText"] == "KRW 12,200")
        let text = s.run("qrpay-user", ["scan", "--user", "u1", photoPath])
        #expect(text.stdout.contains("Shop 1001") && text.stdout.contains("KRW 12,200") && text.stdout.contains("Americano"))

        let ok = s.run("qrpay-user", ["approve", "--user", "u1", "--password-file", s.passwordFile, "--expect-shop", "1001", "--expect-total", "12200", photoPath])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(s.files(SpoolLayout(root: s.root).approvals.newDirectory).count == 1)
        #expect(approve(s).status == 0)
        var now = try #require(try s.store.load(shop: "1001", payment: "L-1"))
        #expect(now.state == .accept && now.user == "u1")
        #expect(now.history.map(\.state) == [.request, .accept])
        #expect(now.history[1].evidence["type"] == "approval")
        #expect(now.history[1].evidence["document"]?["signature"]?.stringValue != nil)
        #expect(s.files(s.root + "/users/u1/receipts/new") == ["1001.L-1.accept.json"])

        // Hold 1h: nothing finishes yet. Hold 0: it finishes.
        #expect(settle(s, hold: "1h").status == 0)
        #expect(try s.store.load(shop: "1001", payment: "L-1")?.state == .accept)
        #expect(settle(s, hold: "0").status == 0)
        now = try #require(try s.store.load(shop: "1001", payment: "L-1"))
        #expect(now.state == .finish)
        #expect(now.history.map(\.state) == [.request, .accept, .finish])
        #expect(s.files(s.root + "/shops/1001/notices/new") == ["L-1.accept.json", "L-1.finish.json", "L-1.request.json"])
        #expect(try s.markers(.finish) == ["1001/L-1"] && s.markers(.accept).isEmpty && s.markers(.request).isEmpty)
        // The journal tells the same story, chained.
        #expect(try s.journalEntries().map { $0.transition?.to } == [.request, .accept, .finish])
        // A finished payment can no longer be approved from the photo.
        #expect(s.run("qrpay-user", ["scan", "--user", "u1", photoPath]).status == 65)
    }

    @Test func cancelBeforeApproval() throws {
        let s = try PipelineSpool()
        let record = try s.registerPayment(try s.paymentInfo(payment: "C-1"))
        let c = s.run("qrpay-shop", ["cancel", "--shop", "1001", "--password-file", s.passwordFile, "--reason", "customer left", "C-1"])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(settle(s, hold: "10m").status == 0)
        let now = try #require(try s.store.load(shop: "1001", payment: "C-1"))
        #expect(now.state == .cancel)
        #expect(now.history.last?.evidence["reason"] == "customer left")
        // An approval arriving after the cancel is refused.
        try s.dropApproval(try s.approval(for: record))
        #expect(approve(s).status == 65)  // the run quarantined a file
        #expect(try s.quarantine(SpoolLayout(root: s.root).approvals).first?.code == "approval.replay")
        #expect(try s.store.load(shop: "1001", payment: "C-1")?.state == .cancel)
    }

    @Test func cancelDuringTheHoldAndAfterFinish() throws {
        let s = try PipelineSpool()
        let a = try s.registerPayment(try s.paymentInfo(payment: "H-1"))
        let b = try s.registerPayment(try s.paymentInfo(payment: "H-2"))
        try s.dropApproval(try s.approval(for: a))
        try s.dropApproval(try s.approval(for: b, user: "u2"))
        #expect(approve(s).status == 0)
        #expect(try s.store.load(shop: "1001", payment: "H-1")?.state == .accept)
        // H-1: cancelled while the hold lasts.
        #expect(s.run("qrpay-shop", ["cancel", "--shop", "1001", "--password-file", s.passwordFile, "H-1"]).status == 0)
        #expect(settle(s, hold: "1h").status == 0)
        #expect(try s.store.load(shop: "1001", payment: "H-1")?.state == .cancel)
        #expect(s.files(s.root + "/users/u1/receipts/new").contains("1001.H-1.cancel.json"))
        // H-2: finished with hold 0; a later cancel is refused.
        #expect(settle(s, hold: "0").status == 0)
        #expect(try s.store.load(shop: "1001", payment: "H-2")?.state == .finish)
        #expect(s.run("qrpay-shop", ["cancel", "--shop", "1001", "--password-file", s.passwordFile, "H-2"]).status == 0)
        #expect(settle(s, hold: "0").status == 65)
        #expect(try s.quarantine(SpoolLayout(root: s.root).cancels).map(\.code) == ["cancel.finished"])
        #expect(try s.store.load(shop: "1001", payment: "H-2")?.state == .finish)
        // Another shop cannot cancel 1001's payment: its own client refuses (its journal never
        // created H-1), and a cancel signed anyway names its own shop, where there is no such payment.
        let c = s.run("qrpay-shop", ["cancel", "--shop", "2002", "--password-file", s.passwordFile, "H-1"])
        #expect(c.status == 65 && c.stderr.contains("never created payment H-1"), "\(c.stderr)")
        #expect(s.files(SpoolLayout(root: s.root).cancels.newDirectory).isEmpty)
        let forced = try Cancel(shop: "2002", payment: "H-1", reason: "", at: Date())
        try SpoolLayout(root: s.root).cancels.deliver(try JWS.sign(payload: forced.json.serialized(), type: .cancel,
                                                                   key: s.shops["2002"]!.key, certificate: s.shops["2002"]!.certificate))
        #expect(settle(s, hold: "0").status == 65)
        #expect(try s.quarantine(SpoolLayout(root: s.root).cancels).map(\.code).sorted() == ["cancel.finished", "cancel.unknown-payment"])
        // Each refused cancel was told to the shop that signed it.
        #expect(s.files(s.root + "/shops/2002/notices/new").contains { $0.hasPrefix("H-1.refused.") })
        #expect(s.files(s.root + "/shops/1001/notices/new").contains { $0.hasPrefix("H-2.refused.") })
    }

    @Test func cancelAndApprovalTogetherTheCancelWins() throws {
        let s = try PipelineSpool()
        let r = try s.registerPayment(try s.paymentInfo(payment: "T-1"))
        try s.dropApproval(try s.approval(for: r))
        #expect(s.run("qrpay-shop", ["cancel", "--shop", "1001", "--password-file", s.passwordFile, "T-1"]).status == 0)
        // Approve first, then settle with a hold of 0: the queued cancel is applied before the hold check.
        #expect(approve(s).status == 0)
        let settled = settle(s, hold: "0")
        #expect(settled.status == 0)
        #expect(try s.store.load(shop: "1001", payment: "T-1")?.state == .cancel, "\(settled.stderr)")
    }

    /// qrpay-approve and qrpay-settle are separate programs changing the same records; run together
    /// around the payments' expiry, every payment still ends in exactly one state that the journal,
    /// the markers and `qrpay-spool check` agree on.
    @Test func approveAndSettleRacingStayConsistent() throws {
        let s = try PipelineSpool()
        var records: [PaymentRecord] = []
        for i in 0..<40 {
            try s.dropInInbox(try s.signedPayment(try s.paymentInfo(payment: "X-\(i)", created: Date(), lifetime: 61)))
        }
        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 0)
        for i in 0..<40 { records.append(try #require(try s.store.load(shop: "1001", payment: "X-\(i)"))) }
        for r in records { try s.dropApproval(try s.approval(for: r)) }
        // Both programs run with their clocks at the payments' expiry (no waiting): whichever gets a
        // payment first decides, an approval before the expiry or the expiry.
        let ahead = records[0].info.expires.timeIntervalSinceNow - 0.05
        let group = DispatchGroup()
        let results = ResultsBox()
        for program in ["qrpay-approve", "qrpay-settle"] {
            group.enter()
            DispatchQueue.global().async {
                let args = program == "qrpay-settle" ? ["--hold", "1h"] : []
                let r = s.run(program, ["--password-file", s.passwordFile, "--once"] + args, clockAhead: ahead)
                results.append(r.status, r.stderr)
                group.leave()
            }
        }
        group.wait()
        // Approvals that arrived after the expiry are quarantined (65); none failed otherwise.
        #expect(results.statuses.allSatisfy { $0 == 0 || $0 == 65 }, "\(results.errors)")
        #expect(s.run("qrpay-settle", ["--password-file", s.passwordFile, "--once", "--hold", "1h"], clockAhead: ahead + 2).status == 0)  // expires whatever is left
        for r in records {
            let now = try #require(try s.store.load(shop: "1001", payment: r.info.payment))
            #expect(now.state == .accept || now.state == .expire)
            #expect(now.history.count == 2)
        }
        #expect(try s.markers(.accept).count + s.markers(.expire).count == 40)
        #expect(try s.markers(.request).isEmpty)
        let check = s.run("qrpay-spool", ["check"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }

    @Test func expiry() throws {
        let s = try PipelineSpool()
        let c = s.run("qrpay-shop", ["create", "--shop", "1001", "--password-file", s.passwordFile, "--currency", "USD",
                                     "--item", "Tea:1:250", "--payment", "E-1", "--expires-in", "6s"])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 0)
        let record = try #require(try s.store.load(shop: "1001", payment: "E-1"))
        #expect(settle(s, hold: "0").status == 0)
        #expect(try s.store.load(shop: "1001", payment: "E-1")?.state == .request)
        // An approval that arrived before the expiry counts, however late the stages run (their clock
        // three seconds ahead): settle does not expire a payment while its approval waits...
        try s.dropApproval(try s.approval(for: record))
        #expect(s.run("qrpay-settle", ["--password-file", s.passwordFile, "--once", "--hold", "1h"], clockAhead: 3).status == 0)
        #expect(try s.store.load(shop: "1001", payment: "E-1")?.state == .request)
        // ...and approve accepts it.
        #expect(s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"], clockAhead: 3).status == 0)
        #expect(try s.store.load(shop: "1001", payment: "E-1")?.state == .accept)

        // E-2 expires a second from now: an approval that arrives after that is refused, and settle expires it.
        let e2 = s.run("qrpay-shop", ["create", "--shop", "1001", "--password-file", s.passwordFile, "--currency", "USD",
                                      "--item", "Tea:1:250", "--payment", "E-2", "--expires-in", "60s"], clockAhead: -59)
        #expect(e2.status == 0, "\(e2.stderr)")
        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 0)
        let second = try #require(try s.store.load(shop: "1001", payment: "E-2"))
        while Date() <= second.info.expires { usleep(20_000) }  // at most a second: arrivals are real times
        try s.dropApproval(try s.approval(for: second))
        #expect(approve(s).status == 65)
        #expect(try s.quarantine(SpoolLayout(root: s.root).approvals).map(\.code) == ["approval.expired"])
        #expect(settle(s, hold: "1h").status == 0)
        let now = try #require(try s.store.load(shop: "1001", payment: "E-2"))
        #expect(now.state == .expire && now.history.last?.evidence["type"] == "expired")
        #expect(s.files(s.root + "/shops/1001/notices/new").contains("E-2.expire.json"))
    }

    enum BadApproval: String, CaseIterable {
        case tampered, revokedUser, shopCertificate, otherShopsPayment, amountMismatch, wrongAudience, replayed, copied, unknownPayment
    }

    @Test(arguments: BadApproval.allCases)
    func refusedApprovalsChangeNothing(_ bad: BadApproval) throws {
        let s = try PipelineSpool()
        let record = try s.registerPayment(try s.paymentInfo(payment: "A-1"))
        let other = try s.registerPayment(try s.paymentInfo(shop: "2002", payment: "A-1", total: 100))
        var expected: String
        var document: Data
        switch bad {
        case .tampered:
            let good = try s.approval(for: record)
            var o = try JSONValue.parse(good).objectValue!
            let payload = try JSONValue.parse(Base64URL.decode(o["payload"]!.stringValue!)!)
            var p = payload.objectValue!
            p["total"] = 1
            o["payload"] = .string(Base64URL.encode(JSONValue.object(p).serialized()))
            document = JSONValue.object(o).serialized()
            expected = "jws.bad-signature"
        case .revokedUser:
            try s.pki.ca.revoke(role: .user, id: "u1", caPassword: s.pki.caPassword)
            document = try s.approval(for: record)
            expected = "pki.revoked"
        case .shopCertificate:
            document = try s.approval(for: record, signer: s.shops["1001"])
            expected = "pki.wrong-role"
        case .otherShopsPayment:
            // Bound to 1001's document, but claims 2002's payment of the same number.
            document = try s.approval(for: record, total: other.info.total, shop: "2002")
            expected = "approval.document-mismatch"
        case .amountMismatch:
            document = try s.approval(for: record, total: record.info.total - 1)
            expected = "approval.total-mismatch"
        case .wrongAudience:
            document = try s.approval(for: record, audience: "PG9")
            expected = "approval.audience"
        case .replayed, .copied:
            let first = try s.approval(for: record)
            try s.dropApproval(first)
            #expect(approve(s).status == 0)
            document = bad == .copied ? first : try s.approval(for: record, user: "u2")
            // The very same approval again is a no-op; another one is a replay.
            expected = bad == .copied ? "" : "approval.replay"
        case .unknownPayment:
            document = try s.approval(for: record, payment: "A-404")
            expected = "approval.unknown-payment"
        }
        let before = try s.store.load(shop: "1001", payment: "A-1")
        let journal = try s.journalEntries().count
        try s.dropApproval(document)
        let r = approve(s)
        #expect(r.status == (expected.isEmpty ? 0 : 65), "\(r.stderr)")  // 65: the run quarantined what it refused
        let q = try s.quarantine(SpoolLayout(root: s.root).approvals)
        if expected.isEmpty {
            #expect(q.isEmpty)
        } else {
            #expect(q.map(\.code) == [expected], "\(q.map(\.reason))")
            #expect((q.first?.reason.count ?? 0) > 10)
            if bad == .amountMismatch {
                // Amounts read one way everywhere: never bare minor units in a refusal.
                let total = record.info.currency.format(record.info.total), less = record.info.currency.format(record.info.total - 1)
                #expect(q.first?.reason == "the approval is for \(less) but the payment is \(total)", "\(q.first?.reason ?? "")")
            }
        }
        #expect(try s.store.load(shop: "1001", payment: "A-1") == before)
        #expect(try s.journalEntries().count == journal)
        #expect(try s.store.load(shop: "2002", payment: "A-1")?.state == .request)
    }

    @Test func wrongPasswordSignsNothingAndExpectTotalRefuses() throws {
        let s = try PipelineSpool()
        let record = try s.registerPayment(try s.paymentInfo(payment: "W-1"))
        let wrong = s.run("qrpay-user", ["approve", "--user", "u1", "--password-file", s.wrongPasswordFile, "--expect-shop", "1001", "--expect-total", "9000", SpoolLayout(root: s.root).absolute(record.qrPath)])
        #expect(wrong.status == 77)
        #expect(wrong.stderr.contains("password"))
        let mismatch = s.run("qrpay-user", ["approve", "--user", "u1", "--password-file", s.passwordFile, "--expect-shop", "1001", "--expect-total", "1", SpoolLayout(root: s.root).absolute(record.qrPath)])
        #expect(mismatch.status == 65 && mismatch.stderr.contains("the total is KRW 9,000 (9000), not 1"), "\(mismatch.stderr)")
        // Without a terminal, the user's intent must be stated: no --expect-shop/--expect-total is a usage error.
        let unbound = s.run("qrpay-user", ["approve", "--user", "u1", "--password-file", s.passwordFile, SpoolLayout(root: s.root).absolute(record.qrPath)])
        #expect(unbound.status == 64 && unbound.stderr.contains("--expect-shop"), "\(unbound.stderr)")
        #expect(s.files(SpoolLayout(root: s.root).approvals.newDirectory).isEmpty)
        // A forged QR (right shop and payment, someone else's signature) is refused by scan.
        let forged = try QRPayload(shop: "1001", payment: "W-1", signature: Data(repeating: 7, count: 64))
        let png = s.dir.write("forged.png", data: try QRCodeImage.png(text: forged.text))
        let f = s.run("qrpay-user", ["scan", "--user", "u1", png])
        #expect(f.status != 0)
        #expect(f.stderr.contains("not on the PG's payment-information list"))
    }

    @Test func scanStageWithSidecars() throws {
        let s = try PipelineSpool()
        let a = try s.registerPayment(try s.paymentInfo(payment: "S-1"))
        let b = try s.registerPayment(try s.paymentInfo(payment: "S-2"))
        let c = try s.registerPayment(try s.paymentInfo(payment: "S-3"))
        let inbox = SpoolLayout(root: s.root).scanInbox(user: "u1")
        try inbox.create()
        // S-1: sidecar first, then the photo → approval. S-2: photo alone → review only. S-3: wrong amount → quarantine.
        try inbox.deliver(Data(#"{"shop": "1001", "total": 9000, "currency": "KRW"}"#.utf8), name: "one.approve")
        let waiting = s.run("qrpay-scan", ["--user", "u1", "--password-file", s.passwordFile, "--once"])
        #expect(waiting.status == 0)
        #expect(s.files(inbox.newDirectory) == ["one.approve"])  // waits for its photo
        try inbox.deliver(try FileIO.read(SpoolLayout(root: s.root).absolute(a.qrPath)), name: "one.png")
        try inbox.deliver(try FileIO.read(SpoolLayout(root: s.root).absolute(b.qrPath)), name: "two.png")
        try inbox.deliver(Data(#"{"shop": "1001", "total": 1, "currency": "KRW"}"#.utf8), name: "three.approve")
        try inbox.deliver(try FileIO.read(SpoolLayout(root: s.root).absolute(c.qrPath)), name: "three.png")
        let wrong = s.run("qrpay-scan", ["--user", "u1", "--password-file", s.wrongPasswordFile, "--once"])
        #expect(wrong.status == 77)
        let r = s.run("qrpay-scan", ["--user", "u1", "--password-file", s.passwordFile, "--once"])
        #expect(r.status == 65, "\(r.stderr)")  // three.png was quarantined
        #expect(s.files(inbox.newDirectory).isEmpty)
        #expect(s.files(s.root + "/users/u1/reviews") == ["one.json", "three.json", "two.json"])
        let q = try s.quarantine(inbox)
        #expect(Set(q.map(\.name)) == ["three.png", "three.approve"])
        #expect(q.allSatisfy { $0.code == "scan.total-mismatch" })
        #expect(approve(s).status == 0)
        #expect(try s.store.load(shop: "1001", payment: "S-1")?.state == .accept)
        #expect(try s.store.load(shop: "1001", payment: "S-2")?.state == .request)
        #expect(try s.store.load(shop: "1001", payment: "S-3")?.state == .request)
    }
}
