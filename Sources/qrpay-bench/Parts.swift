import ArgumentParser
import Foundation
import QRPayCore

extension QRPayBench {
    struct Parts: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "parts", abstract: "temporary", shouldDisplay: false)
        func run() throws {
            let root = NSTemporaryDirectory() + "parts." + FileIO.uniqueName()
            let spool = try BenchSpool(root: root, shops: 5, users: 2)
            defer { try? FileManager.default.removeItem(atPath: root) }
            let payments = try spool.signPayments(2000, prefix: "P")
            let pg = try Credentials.load(spoolRoot: root, role: .pg, id: "PG1", password: BenchSpool.ownerPassword)
            func time(_ name: String, _ body: (SignedPayment) throws -> Void) rethrows {
                let t0 = BenchTable.now()
                for p in payments { try body(p) }
                print(name.padding(toLength: 28, withPad: " ", startingAt: 0), String(format: "%7.1f us", (BenchTable.now() - t0) / Double(payments.count) * 1e6))
            }
            let key = spool.shops[0].credentials.certificate.publicKey
            try time("JWS parse") { _ = try JWS(parsing: $0.data) }
            try time("JWS parse + PaymentInfo") { _ = try PaymentInfo(payload: try JWS(parsing: $0.data).payload) }
            time("ECDSA verify") { p in _ = spool.shops.first { $0.id == p.shop }!.credentials.certificate.publicKey.verify(signature: p.signature, message: p.signingInput) }
            _ = key
            try time("QR modules+PNG") { p in _ = try QRCodeImage.png(text: try QRPayload(shop: p.shop, payment: p.payment, signature: p.signature).text) }
            try time("JWS sign (notice)") { p in _ = try JWS.sign(payload: Data("{\"a\":1}".utf8), type: .notice, key: pg.key, certificate: pg.certificate) }
            try time("JSON parse doc") { p in _ = try JSONValue.parse(p.data) }
            try time("JSON parse+pretty doc") { p in _ = try JSONValue.parse(p.data).serialized(pretty: true) }
            try time("JSON parse+compact doc") { p in _ = try JSONValue.parse(p.data).serialized() }
            time("sha256 doc") { p in _ = Digest.sha256(p.data) }
            time("documentHash") { p in _ = try! JWS(parsing: p.data).documentHash }
            let parsed = try payments.map { try JWS(parsing: $0.data) }
            let infos = try parsed.map { try PaymentInfo(payload: $0.payload) }
            var k = 0
            let now = Date()
            let records: [PaymentRecord] = payments.indices.map { i in
                PaymentRecord(info: infos[i], state: .request, document: payments[i].data, documentHash: payments[i].documentHash,
                              signature: Base64URL.encode(payments[i].signature),
                              signer: ["fingerprint": "x", "serial": "01", "name": "Shop", "notAfter": .string(Timestamp.format(now))],
                              qrPath: "/x/y.png", history: [HistoryEntry(state: .request, at: now, evidence: ["type": "payment", "documentHash": .string(payments[i].documentHash), "verifiedAt": .string(Timestamp.format(now))])])
            }
            time("record.json build") { _ in _ = records[k % records.count].json; k += 1 }
            time("record.serialized") { _ in _ = records[k % records.count].serialized(); k += 1 }
            time("info.json") { _ in _ = infos[k % infos.count].json; k += 1 }
            time("Timestamp.format") { _ in _ = Timestamp.format(now) }
            time("PaymentInfo(payload)") { _ in _ = try! PaymentInfo(payload: parsed[k % parsed.count].payload); k += 1 }
            time("JSONValue.parse(payload)") { _ in _ = try! JSONValue.parse(parsed[k % parsed.count].payload); k += 1 }
        }
    }
}
