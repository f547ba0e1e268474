// End to end through the built programs: qrpay-shop → pg/inbox → qrpay-register.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPKI
@testable import QRPayDecoder
@testable import QRPayPayments
import Testing

@Suite(.serialized) struct RegisterPipelineTests {
    @Test func happyPath() throws {
        let s = try PipelineSpool()
        let create = s.run("qrpay-shop", ["create", "--shop", "1001", "--password-file", s.passwordFile, "--currency", "KRW",
                                          "--item", "Americano:2:4500", "--item", "Bagel:1:3200"])
        #expect(create.status == 0, "\(create.stderr)")
        let payment = create.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Identifier.isValid(payment))
        #expect(s.files(SpoolLayout(root: s.root).inbox.newDirectory).count == 1)

        let reg = s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"])
        #expect(reg.status == 0, "\(reg.stderr)")
        #expect(reg.stderr.contains("1 processed"))
        #expect(s.files(SpoolLayout(root: s.root).inbox.newDirectory).isEmpty)
        #expect(s.files(SpoolLayout(root: s.root).inbox.curDirectory).isEmpty)

        let record = try #require(try s.store.load(shop: "1001", payment: payment))
        #expect(record.state == .request && record.info.total == 12200)
        #expect(try s.markers(.request) == ["1001/\(payment)"])

        // The QR PNG holds only shop, payment and the shop's signature.
        let decoded = try QRImageDecoder().decode(file: SpoolLayout(root: s.root).absolute(record.qrPath))
        let qr = try QRPayload(text: try #require(decoded.symbols.first))
        #expect(qr.shop == "1001" && qr.payment == payment)
        #expect(Base64URL.encode(qr.signature) == record.signature)
        #expect(!decoded.symbols[0].contains("12200") && !decoded.symbols[0].contains("Americano"))

        // Published on the list under a name derived from the signature, signed by the PG (a JWS
        // `qrpay-list+jws` that openssl-free JOSE readers can check: protected, payload, signature).
        let entry = try #require(try s.store.listEntry(for: qr, trust: try s.pki.trustStore(), at: Date()))
        #expect(entry.state == .request)
        let listed = try JWS(parsing: try FileIO.read(SpoolLayout(root: s.root).listPath(token: qr.listToken)))
        #expect(listed.type == "qrpay-list+jws" && listed.fingerprint == s.pg.certificate.fingerprint)

        // A PG-signed notice for the shop.
        let notices = s.files(s.root + "/shops/1001/notices/new")
        #expect(notices == ["\(payment).request.json"])
        let notice = try JWS(parsing: try FileIO.read(s.root + "/shops/1001/notices/new/" + notices[0]))
        let verified = try TrustStore(spoolRoot: s.root).verify(notice, type: .notice, role: .pg, id: "PG1", at: Date())
        #expect(try StateNotice(payload: verified.payload).state == .request)

        // The shop's own journal has the payment.
        #expect(try String(decoding: FileIO.read(s.root + "/shops/1001/journal.jsonl"), as: UTF8.self).contains(payment))

        // qrpay-spool show / status --json
        let show = s.run("qrpay-spool", ["show", "--json", "1001", payment])
        #expect(show.status == 0, "\(show.stderr)")
        let shown = try JSONValue.parse(show.stdout)
        #expect(shown["shop"] == "1001" && shown["payment"] == .string(payment) && shown["state"] == "request")
        #expect(shown["currency"] == "KRW" && shown["total"] == 12200)
        #expect(shown["items"]?.arrayValue?.count == 2)
        #expect(shown["history"]?.arrayValue?.first?["state"] == "request")
        #expect(shown["history"]?.arrayValue?.first?["at"]?.stringValue != nil)
        #expect(shown["qr"]?.stringValue == record.qrPath && record.qrPath == "shops/1001/qr/\(payment).png")  // relative to the spool
        let status = try JSONValue.parse(s.run("qrpay-spool", ["status", "--json"]).stdout)
        #expect(status["payments"]?["request"] == 1 && status["payments"]?["finish"] == 0)
        #expect(status["payments"]?["expire"] == 0 && status["payments"]?["cancel"] == 0 && status["payments"]?["accept"] == 0)
        #expect(status["queues"]?["pg/inbox"] == 0)
        #expect(s.run("qrpay-spool", ["show", "1001", "nope"]).status == 66)
    }

    /// Each bad document is quarantined with its own reason, and nothing else changes.
    static let badPayloads: [(String, String, String)] = [
        ("duplicate keys", #""total":9000"#, #""total":9000,"total":1"#),
        ("unknown field", #""total":9000"#, #""total":9000,"tip":100"#),
        ("float money", #""total":9000"#, #""total":9000.0"#),
        ("string money", #""unit":4500"#, #""unit":"4500""#),
        ("negative amount", #""unit":4500"#, #""unit":-4500"#),
        ("overflowing amount", #""unit":4500"#, #""unit":99999999999999999999"#),
        ("total not the sum", #""total":9000"#, #""total":9001"#),
        ("unknown currency", #""currency":"KRW""#, #""currency":"XXX""#),
        ("unsafe id", #""payment":"P-bad""#, #""payment":"../../etc/passwd""#),
        ("missing expiry", #","expires":"#, #","expired":"#),
    ]
    static let expectedCodes: [String: String] = [
        "duplicate keys": "json.malformed", "unknown field": "json.unknown-field", "float money": "json.type",
        "string money": "json.type", "negative amount": "payment.amount", "overflowing amount": "json.malformed",
        "total not the sum": "payment.total-mismatch", "unknown currency": "payment.currency", "unsafe id": "id.unsafe",
        "missing expiry": "json.unknown-field",
    ]

    @Test(arguments: badPayloads)
    func badPayloadsAreQuarantined(label: String, original: String, replacement: String) throws {
        let s = try PipelineSpool()
        let text = try s.paymentInfo(payment: "P-bad").json.serializedString()
        #expect(text.contains(original), "fixture drifted: \(text)")
        let tampered = text.replacingOccurrences(of: original, with: replacement)
        try expectQuarantined(s, try s.signedPayment(Data(tampered.utf8)), code: Self.expectedCodes[label]!)
    }

    enum BadDocument: String, CaseIterable {
        case notJSON, oversized, userSigned, otherShopSigned, tamperedPayload, algNone, algHS256, wrongType, pastExpiry, revokedShop
    }

    @Test(arguments: BadDocument.allCases)
    func badDocumentsAreQuarantined(_ bad: BadDocument) throws {
        let s = try PipelineSpool()
        let info = try s.paymentInfo(payment: "P-\(bad.rawValue)")
        let good = try s.signedPayment(info)
        func withProtected(_ header: JSONValue) throws -> Data {
            var o = try JSONValue.parse(good).objectValue!
            o["protected"] = .string(Base64URL.encode(header.serialized()))
            return JSONValue.object(o).serialized()
        }
        let fp = s.shops["1001"]!.certificate.fingerprint
        switch bad {
        case .notJSON:
            try expectQuarantined(s, Data("{\"payload\": oops".utf8), code: "jws.malformed")
        case .oversized:
            try expectQuarantined(s, Data(repeating: 0x20, count: 70_000) + good, code: "spool.too-large")
        case .userSigned:
            try expectQuarantined(s, try s.signedPayment(info, signer: s.users["u1"]), code: "pki.wrong-role")
        case .otherShopSigned:
            try expectQuarantined(s, try s.signedPayment(info, signer: s.shops["2002"]), code: "pki.wrong-id")
        case .tamperedPayload:
            var o = try JSONValue.parse(good).objectValue!
            let other = try s.paymentInfo(payment: info.payment, total: 1)
            o["payload"] = .string(Base64URL.encode(other.json.serialized()))
            try expectQuarantined(s, JSONValue.object(o).serialized(), code: "jws.bad-signature")
        case .algNone:
            try expectQuarantined(s, try withProtected(["alg": "none", "typ": "qrpay-payment+jws", "x5t#S256": .string(fp)]), code: "jws.alg")
        case .algHS256:
            try expectQuarantined(s, try withProtected(["alg": "HS256", "typ": "qrpay-payment+jws", "x5t#S256": .string(fp)]), code: "jws.alg")
        case .wrongType:
            try expectQuarantined(s, try s.signedPayment(info.json.serialized(), type: .approval), code: "jws.type")
        case .pastExpiry:
            let old = try s.paymentInfo(payment: "P-old", created: Date() - 3600, lifetime: 600)
            try expectQuarantined(s, try s.signedPayment(old), code: "payment.expired")
        case .revokedShop:
            try s.pki.ca.revoke(role: .shop, id: "1001", caPassword: s.pki.caPassword)
            try expectQuarantined(s, good, code: "pki.revoked")
        }
    }

    func expectQuarantined(_ s: PipelineSpool, _ document: Data, code: String,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
        let name = try s.dropInInbox(document)
        let r = s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"])
        #expect(r.status == 65, "\(r.stderr)", sourceLocation: sourceLocation)  // 65: the run quarantined something
        let q = try s.quarantine(SpoolLayout(root: s.root).inbox)
        #expect(q.map(\.name) == [name], sourceLocation: sourceLocation)
        #expect(q.first?.code == code, "\(q.first?.reason ?? "no reason")", sourceLocation: sourceLocation)
        #expect(q.first?.stage == "register", sourceLocation: sourceLocation)
        #expect((q.first?.reason.count ?? 0) > 10, sourceLocation: sourceLocation)
        // The bytes are kept as they came.
        #expect(try FileIO.read(SpoolLayout(root: s.root).inbox.quarantineDirectory + "/" + name, maxBytes: 1 << 20) == document,
                sourceLocation: sourceLocation)
        // Nothing else changed.
        #expect(s.recordCount() == 0, sourceLocation: sourceLocation)
        #expect(try s.journalEntries().isEmpty, sourceLocation: sourceLocation)
        #expect(s.files(s.root + "/pg/list").isEmpty, sourceLocation: sourceLocation)
        #expect(s.files(s.root + "/shops/1001/qr").isEmpty, sourceLocation: sourceLocation)
        #expect(s.files(SpoolLayout(root: s.root).inbox.newDirectory).isEmpty, sourceLocation: sourceLocation)
    }

    @Test func replayIsQuarantinedAndTheSameContentIsANoOp() throws {
        let s = try PipelineSpool()
        let info = try s.paymentInfo(payment: "P-1")
        let first = try s.registerPayment(info)
        // The same content again (even signed anew): a no-op.
        try s.dropInInbox(try s.signedPayment(info))
        try s.dropInInbox(try s.signedPayment(info))
        var r = s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"])
        #expect(r.status == 0 && r.stderr.contains("2 processed"), "\(r.stderr)")
        #expect(try s.store.load(shop: "1001", payment: "P-1") == first)
        #expect(try s.journalEntries().count == 1)
        // Other content under the same payment number: a replay.
        let other = try s.paymentInfo(payment: "P-1", total: 1)
        let name = try s.dropInInbox(try s.signedPayment(other))
        r = s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"])
        #expect(r.status == 65)
        let q = try s.quarantine(SpoolLayout(root: s.root).inbox)
        #expect(q.map(\.name) == [name] && q.first?.code == "payment.replay")
        #expect(try s.store.load(shop: "1001", payment: "P-1") == first)
    }

    @Test func symlinkAndFIFOAreQuarantinedNotFollowed() throws {
        let s = try PipelineSpool()
        let inbox = SpoolLayout(root: s.root).inbox
        try inbox.create()
        let target = s.dir.write("secret.json", "{\"not\": \"for you\"}")
        #expect(symlink(target, inbox.newDirectory + "/link.json") == 0)
        #expect(mkfifo(inbox.newDirectory + "/fifo.json", 0o600) == 0)
        let r = s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"])
        #expect(r.status == 65, "\(r.stderr)")
        let q = try s.quarantine(inbox)
        #expect(q.map(\.name) == ["fifo.json", "link.json"])
        #expect(q.allSatisfy { $0.code == "spool.not-regular" })
        #expect(FileIO.exists(target))
        #expect(s.recordCount() == 0)
    }

    @Test func missingCRLDefersInsteadOfQuarantining() throws {
        let s = try PipelineSpool()
        let name = try s.dropInInbox(try s.signedPayment(try s.paymentInfo(payment: "D-1")))
        let crl = s.root + "/ca/crl.pem"
        #expect(rename(crl, crl + ".away") == 0)
        let r = s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"])
        #expect(r.status == 75, "\(r.stderr)")  // 75: deferred, try again later
        #expect(r.stderr.contains("deferred"))
        let inbox = SpoolLayout(root: s.root).inbox
        #expect(s.files(inbox.deferredDirectory).contains(name))
        #expect(try s.quarantine(inbox).isEmpty)
        #expect(s.recordCount() == 0)
        // Once the CRL is back and the file is due again, it is registered.
        #expect(rename(crl + ".away", crl) == 0)
        // Make it due now (the backoff would wait 30 s).
        #expect(try inbox.promoteDeferred(now: Date() + 3600) == 1)
        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 0)
        #expect(try s.store.load(shop: "1001", payment: "D-1")?.state == .request)
    }

    @Test func wrongPGPasswordExits77() throws {
        let s = try PipelineSpool()
        let r = s.run("qrpay-register", ["--password-file", s.wrongPasswordFile, "--once"])
        #expect(r.status == 77)
        #expect(r.stderr.contains("password"))
        let shop = s.run("qrpay-shop", ["create", "--shop", "1001", "--password-file", s.wrongPasswordFile, "--currency", "KRW", "--item", "a:1:1"])
        #expect(shop.status == 77)
        #expect(s.files(SpoolLayout(root: s.root).inbox.newDirectory).isEmpty)
        let usage = s.run("qrpay-register", ["--password-file", s.passwordFile])
        #expect(usage.status == 64)
        #expect(s.run("qrpay-shop", ["create", "--shop", "../x", "--password-file", s.passwordFile, "--currency", "KRW", "--item", "a:1:1"]).status == 64)
    }

    @Test func offlineShopOutboxIsCarriedOver() throws {
        let s = try PipelineSpool()
        let outbox = s.dir.path + "/outbox"
        let c = s.run("qrpay-shop", ["create", "--shop", "1001", "--password-file", s.passwordFile, "--currency", "USD",
                                     "--item", "Tea:3:250", "--payment", "OFF-1", "--outbox", outbox])
        #expect(c.status == 0 && c.stdout == "OFF-1\n", "\(c.stderr)")
        #expect(s.files(outbox + "/new").count == 1)
        #expect(s.files(SpoolLayout(root: s.root).inbox.newDirectory).isEmpty)
        #expect(s.run("qrpay-shop", ["send", "--outbox", outbox]).status == 0)
        #expect(s.files(outbox + "/new").isEmpty)
        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 0)
        #expect(try s.store.load(shop: "1001", payment: "OFF-1")?.info.total == 750)
    }

    @Test func twoRegistersRacingHandleEachFileOnce() throws {
        let s = try PipelineSpool()
        for i in 0..<60 { try s.dropInInbox(try s.signedPayment(try s.paymentInfo(payment: "R-\(i)"))) }
        let group = DispatchGroup()
        let results = ResultsBox()
        for _ in 0..<2 {
            group.enter()
            DispatchQueue.global().async {
                let r = s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"])
                results.append(r.status, r.stderr)
                group.leave()
            }
        }
        group.wait()
        // One ran, or both in turn; a loser exits 75 (spool.busy) and handled nothing.
        #expect(results.statuses.allSatisfy { $0 == 0 || $0 == 75 }, "\(results.errors)")
        #expect(results.statuses.contains(0))
        #expect(s.recordCount() == 60)
        let entries = try s.journalEntries()
        #expect(entries.count == 60)
        #expect(Set(entries.map(\.payment)).count == 60)
        #expect(s.files(SpoolLayout(root: s.root).inbox.newDirectory).isEmpty)
        #expect(try s.quarantine(SpoolLayout(root: s.root).inbox).isEmpty)
    }

    @Test func killDashNineDuringADrainLosesNothing() throws {
        // On the disk: each commit's syncfs reaches a device, so a drain lasts long enough for the
        // kill to land in it (on a tmpfs 150 payments can be through before the test looks again),
        // and a kill -9 is survived where it matters.
        let s = try PipelineSpool(base: diskTemporaryBase())
        let count = 150
        for i in 0..<count { try s.dropInInbox(try s.signedPayment(try s.paymentInfo(payment: "K-\(i)"))) }
        for _ in 0..<3 {
            let before = s.recordCount()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: programDirectory() + "/qrpay-register")
            // Small batches, one at a time: many commits, so the kill lands between or inside them.
            process.arguments = ["--spool", s.root, "--password-file", s.passwordFile, "--once", "--batch-size", "4", "--concurrency", "1"]
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Wait until this run has registered some payments, then kill it without warning.
            let deadline = Date() + 60
            while s.recordCount() < before + 8 && process.isRunning && Date() < deadline { usleep(1000) }
            let running = process.isRunning
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            // The kill landed mid-drain: this run had made progress, was still running, and had not finished.
            #expect(running, "qrpay-register ended before the kill")
            #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
            #expect(s.recordCount() > before && s.recordCount() < count, "records \(before) → \(s.recordCount()) of \(count)")
        }
        let r = s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(s.recordCount() == count)
        #expect(try s.markers(.request).count == count)
        for i in 0..<count { #expect(try s.store.load(shop: "1001", payment: "K-\(i)")?.state == .request) }
        let inbox = SpoolLayout(root: s.root).inbox
        #expect(s.files(inbox.newDirectory).isEmpty && s.files(inbox.curDirectory).isEmpty)
        let q = try s.quarantine(inbox)
        #expect(q.isEmpty, "\(q)")
        // Every payment's transition is in the journal (a crash may leave a benign repeat), chained intact.
        let entries = try s.journalEntries()
        #expect(Set(entries.map(\.payment)).count == count)
        #expect(entries.allSatisfy { $0.isIntact })
        for (a, b) in zip(entries, entries.dropFirst()) { #expect(b.prev == a.hash && b.seq == a.seq + 1) }
        // Every notice once.
        #expect(s.files(s.root + "/shops/1001/notices/new").count == count)
    }
}

final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var statuses: [Int32] = []
    private(set) var errors: [String] = []
    func append(_ status: Int32, _ error: String) {
        lock.lock(); statuses.append(status); errors.append(error); lock.unlock()
    }
}
