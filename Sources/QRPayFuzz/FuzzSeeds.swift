// Makes the fixture PKI (FixturePKI.swift) and the seed corpora (Tests/QRPayFuzzTests/Corpus/TARGET/)
// from QR-Pay's own code, as the tests and the programs make these documents and images:
//
//     make fuzz-seeds      (QRPAY_FUZZ_REGENERATE=1 swift test --filter FuzzSeedTests)
//
// The fixture is a CA valid for 100 years with a shop (1001), a user (u42), the PG (PG1) and a
// revoked shop (1002), and a CRL valid for 30 years: the targets verify against it without a
// private key (none is kept: regenerating makes a new CA, new fingerprints and new seeds). Seeds
// named `ok-…` are inputs their target must accept and `no-…` ones it must refuse; the tests check
// that they still are (other names: either, for example the CA's first CRL, which goes stale).

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayImaging
import QRPayDecoder
import QRPayTestPhotos
import QRPayPayments
import QRPayLedger
import QRPayOperations

public enum FuzzSeeds {
    /// Regenerates Sources/QRPayFuzz/FixturePKI.swift and every Corpus/TARGET/ directory under
    /// `packageRoot` (the seeds of a target are replaced, not merged).
    public static func regenerate(packageRoot: String) throws {
        let fm = FileManager.default
        let work = NSTemporaryDirectory() + "/qrpay-fuzz-seeds-\(getpid())"
        try? fm.removeItem(atPath: work)
        defer { try? fm.removeItem(atPath: work) }
        let spool = work + "/spool"
        let password = "fuzz-fixture"

        // The fixture PKI.
        let ca = try CertificateAuthority.create(spoolRoot: spool, name: "QR-Pay Fuzz Fixture CA", password: password, validityDays: 36500)
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let days = 30 * 365
        let shopCert = try ca.issue(role: .shop, id: "1001", name: "Fuzz Coffee", caPassword: password, ownerPassword: password, validityDays: days)
        let userCert = try ca.issue(role: .user, id: "u42", name: "Fuzz User", caPassword: password, ownerPassword: password, validityDays: days)
        let pgCert = try ca.issue(role: .pg, id: "PG1", name: "Fuzz Gateway", caPassword: password, ownerPassword: password, validityDays: days)
        let firstCRL = try Data(contentsOf: URL(fileURLWithPath: SpoolLayout(root: spool).crl))
        let revokedCert = try ca.issue(role: .shop, id: "1002", name: "Revoked Shop", caPassword: password, ownerPassword: password, validityDays: days)
        try ca.revoke(role: .shop, id: "1002", caPassword: password)
        try ca.issueCRL(caPassword: password, validFor: TimeInterval(days) * 86400)
        let crl = try Data(contentsOf: URL(fileURLWithPath: SpoolLayout(root: spool).crl))
        let shop = try Credentials.load(spoolRoot: spool, role: .shop, id: "1001", password: password)
        let user = try Credentials.load(spoolRoot: spool, role: .user, id: "u42", password: password)
        let pg = try Credentials.loadPG(spoolRoot: spool, password: password)

        // A payment as `qrpay-shop create` makes it, its signed document, QR code and list entry.
        let created = now
        let info = try PaymentInfo(shop: "1001", payment: "P20261125A1", currency: try Currency("KRW"),
                                   items: [try PaymentItem(name: "Americano", quantity: 2, unitPrice: 4500),
                                           try PaymentItem(name: "Bagel", quantity: 1, unitPrice: 3200)],
                                   created: created, expires: created.addingTimeInterval(900))
        let usd = try PaymentInfo(shop: "1001", payment: "P-usd.2", currency: try Currency("USD"),
                                  items: [try PaymentItem(name: "Café crème: grand", quantity: 3, unitPrice: 1234)],
                                  created: created, expires: created.addingTimeInterval(7 * 86400))
        let paymentJWS = try JWS.sign(payload: info.json.serialized(), type: .payment, key: shop.key, certificate: shop.certificate)
        let jws = try JWS(parsing: paymentJWS)
        let qr = try QRPayload(shop: info.shop, payment: info.payment, signature: jws.signature)
        let compact = String(decoding: jws.signingInput, as: UTF8.self) + "." + jws.encodedSignature
        let approval = try Approval(shop: info.shop, payment: info.payment, user: "u42", total: info.total, currency: "KRW",
                                    document: jws.documentHash, audience: "PG1", at: created.addingTimeInterval(60))
        let approvalJWS = try JWS.sign(payload: approval.json.serialized(), type: .approval, key: user.key, certificate: user.certificate)
        let cancel = try Cancel(shop: info.shop, payment: info.payment, reason: "customer left", at: created.addingTimeInterval(120))
        let cancelJWS = try JWS.sign(payload: cancel.json.serialized(), type: .cancel, key: shop.key, certificate: shop.certificate)
        let notice = StateNotice(shop: info.shop, payment: info.payment, state: .accept, total: info.total, currency: "KRW",
                                 user: "u42", at: created.addingTimeInterval(61))
        let noticeJWS = try JWS.sign(payload: notice.json.serialized(), type: .notice, key: pg.key, certificate: pg.certificate)
        let checkpoint = Checkpoint(seq: 3, hash: String(repeating: "B", count: 43), day: Timestamp.day(created), at: created)
        let checkpointJWS = try JWS.sign(payload: checkpoint.json.serialized(), type: .checkpoint, key: pg.key, certificate: pg.certificate)
        let record = PaymentRecord(info: info, state: .request, document: paymentJWS, documentHash: jws.documentHash,
                                   signature: jws.encodedSignature, signer: ["fingerprint": .string(shop.certificate.fingerprint), "name": "Fuzz Coffee"],
                                   qrPath: "shops/1001/qr/\(info.payment).png",
                                   history: [HistoryEntry(state: .request, at: created, evidence: ["type": "payment"])])
        let store = PaymentStore(spoolRoot: spool)
        try commitNow(store.layout) { try store.publish(record, signedBy: pg, commit: $0) }
        let listEntry = try Data(contentsOf: URL(fileURLWithPath: store.layout.listPath(token: qr.listToken)))
        var accepted = record
        accepted.state = .accept
        accepted.history.append(HistoryEntry(state: .accept, at: created.addingTimeInterval(61), evidence: ["type": "approval", "user": "u42"]))
        try commitNow(store.layout) { try store.publish(accepted, signedBy: pg, commit: $0) }
        let acceptedEntry = try Data(contentsOf: URL(fileURLWithPath: store.layout.listPath(token: qr.listToken)))

        // Journal lines as the stages append them.
        let journal = Journal(layout: SpoolLayout(root: spool))
        try journal.append([
            TransitionRequest(shop: "1001", payment: info.payment, from: nil, to: .request, evidence: paymentJWS, at: created),
            TransitionRequest(shop: "1001", payment: info.payment, from: .request, to: .accept, evidence: approvalJWS, at: created.addingTimeInterval(61)),
            TransitionRequest(shop: "1001", payment: info.payment, from: .accept, to: .finish, evidence: Data("hold".utf8), at: created.addingTimeInterval(700)),
        ])
        let journalFile = try journal.files().first.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } ?? Data()

        // Reason files as Queue.quarantine and Queue.deferFile write them.
        let quarantineReason: JSONValue = ["stage": "register", "reason": "the total 9000 is not the sum of the items (12200)",
                                           "code": "payment.total-mismatch", "at": .string(Timestamp.format(created)),
                                           "file": "1764000000.fuzz-1.json", "queue": .string(SpoolLayout(root: spool).inbox.path), "attempts": 2]
        let deferReason: JSONValue = ["stage": "register", "reason": "There is no CRL", "code": "pki.crl-missing",
                                      "at": .string(Timestamp.format(created)), "file": "1764000000.fuzz-1.json",
                                      "queue": .string(SpoolLayout(root: spool).inbox.path), "attempts": 1,
                                      "retryAt": .string(Timestamp.format(created.addingTimeInterval(30)))]

        // Images: the QR PNG the register stage writes (small module sizes: the targets' budgets
        // are small), a phone-like photo of it, and its gray pixels for the search.
        let qrPNG2 = try QRCodeImage.png(text: qr.text, moduleSize: 2)
        let qrPNG3 = try QRCodeImage.png(text: qr.text, moduleSize: 3)
        let shortPNG = try QRCodeImage.png(text: "QRP1", moduleSize: 4, margin: 1)
        let photo = try PhoneCamera.photograph(png: qrPNG3, shot: .init(rotationDegrees: 8, perspective: 0.04, blur: 0.8, noise: 3,
                                                                         jpegQuality: 70, frameWidth: 160, frameHeight: 120,
                                                                         codeFraction: 0.9, seed: 7))
        let photoTilted = try PhoneCamera.photograph(png: qrPNG2, shot: .init(rotationDegrees: 30, jpegQuality: 50, frameWidth: 96,
                                                                               frameHeight: 96, codeFraction: 0.95, seed: 3))
        let preview = try PhoneCamera.previewPNG(jpeg: photo, scaleDenominator: 2)
        let reader = QRImageDecoder()
        func raw(_ png: Data) throws -> Data {
            let image = try reader.readGray(data: png)
            precondition(image.width <= 160)
            return Data([UInt8(image.width - 1)]) + Data(image.pixels.prefix(image.width * 160))
        }

        let seeds: [String: [(String, Data)]] = [
            "json": [
                ("ok-payment-info", info.json.serialized()), ("ok-record", record.serialized()), ("ok-list-entry", listEntry),
                ("ok-values", Data(#"{"a":[1,-2,2.5,-0.0,1e-7,"x\u00e9\n",null,true,false,{"b":{}}],"c":9223372036854775807}"#.utf8)),
                ("ok-scalar", Data(#""\ud83d\ude00""#.utf8)),
                ("ok-nested", Data((String(repeating: "[", count: 31) + String(repeating: "]", count: 31)).utf8)),
                ("no-duplicate", Data(#"{"total":1,"total":2}"#.utf8)),
                ("no-too-deep", Data((String(repeating: "[", count: 40) + String(repeating: "]", count: 40)).utf8)),
            ],
            "jws": [
                ("ok-payment", paymentJWS), ("ok-payment-compact", Data(compact.utf8)), ("ok-cancel", cancelJWS),
                ("no-approval-by-user", approvalJWS), ("no-notice-by-pg", noticeJWS), ("no-checkpoint-by-pg", checkpointJWS),
            ],
            "payment": [("ok-krw", info.json.serialized()), ("ok-usd", usd.json.serialized(pretty: true)),
                        ("no-total", Data(text(info.json.serialized()).replacingOccurrences(of: "\"total\":12200", with: "\"total\":12201").utf8))],
            "documents": [
                ("ok-approval", approval.json.serialized()), ("ok-cancel", cancel.json.serialized()), ("ok-notice", notice.json.serialized()),
                ("ok-checkpoint", checkpoint.json.serialized()), ("ok-record", record.serialized()), ("ok-record-accepted", accepted.serialized()),
            ],
            "qr-payload": [("ok-qr", Data(qr.text.utf8)), ("no-prefix", Data(("QRP2" + qr.text.dropFirst(4)).utf8))],
            "base64url": [("ok-signature", Data(jws.encodedSignature.utf8)), ("ok-fingerprint", Data(shop.certificate.fingerprint.utf8)),
                          ("ok-empty", Data()), ("no-padding", Data("AAA=".utf8)), ("ok-hex-digest", Data(Digest.sha256Hex(paymentJWS).utf8))],
            "certificate": [("ok-shop-pem", shopCert.pem), ("ok-user-der", userCert.der), ("ok-pg-pem", pgCert.pem),
                            ("no-ca-pem", ca.certificate.pem), ("no-revoked-der", revokedCert.der)],
            "crl": [("ok-crl", crl), ("first-crl-revokes-nothing", firstCRL)],
            "png": [("ok-qr-2", qrPNG2), ("ok-qr-3", qrPNG3), ("ok-short", shortPNG), ("ok-preview", preview)],
            "jpeg": [("ok-photo", photo), ("ok-photo-tilted", photoTilted)],
            "decoder": [("ok-qr-2", try raw(qrPNG2)), ("ok-short", try raw(shortPNG))],
            "reason": [("ok-quarantine", quarantineReason.serialized(pretty: true)), ("ok-deferred", deferReason.serialized(pretty: true))],
            "journal": [("ok-three-entries", journalFile)],
            "list-entry": [("ok-request", listEntry), ("no-accepted", acceptedEntry)],
        ]
        let corpus = packageRoot + "/Tests/QRPayFuzzTests/Corpus"
        for (target, files) in seeds {
            precondition(FuzzTargets.names.contains(target), "no target \(target)")
            let dir = corpus + "/" + target
            try? fm.removeItem(atPath: dir)
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (name, data) in files { try data.write(to: URL(fileURLWithPath: dir + "/" + name)) }
        }

        // The fixture PKI, as Swift source.
        func literal(_ pem: Data) -> String {
            "\"\"\"\n" + text(pem).trimmingCharacters(in: .newlines) + "\n\"\"\""
        }
        let source = """
            // Generated by FuzzSeeds.regenerate (`make fuzz-seeds`) with the seed corpora: do not edit.
            // The fuzz fixture CA's public half: its root, a CRL that revokes shop 1002, the certificates
            // it issued, and the QR code of the list-entry seed (reviewed at `listNow`).
            enum FixturePKI {
                static let ca = \(literal(ca.certificate.pem))
                static let crl = \(literal(crl))
                static let shop = \(literal(shopCert.pem))
                static let user = \(literal(userCert.pem))
                static let pg = \(literal(pgCert.pem))
                static let revoked = \(literal(revokedCert.pem))
                static let listQR = "\(qr.text)"
                static let listNow = "\(Timestamp.format(created.addingTimeInterval(60)))"
            }

            """
        try Data(source.utf8).write(to: URL(fileURLWithPath: packageRoot + "/Sources/QRPayFuzz/FixturePKI.swift"))
    }
}

/// Runs `body` in a group commit of its own and flushes it.
func commitNow(_ layout: SpoolLayout? = nil, _ body: (GroupCommit) throws -> Void) throws {
    let commit = GroupCommit(context: StageContext(layout: layout ?? SpoolLayout(root: "/")))
    try body(commit)
    try commit.flush()
}
