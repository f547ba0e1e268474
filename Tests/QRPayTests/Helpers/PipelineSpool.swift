// Helpers of the pipeline tests: a spool with a CA, the PG, shops and users; signing documents the
// way clients do (or deliberately wrong); running the stage programs; reading what they left.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPKI
@testable import QRPayPayments
@testable import QRPayLedger
import Testing

final class PipelineSpool: @unchecked Sendable {
    let pki: PKIFixture
    var root: String { pki.root }
    let dir: TemporaryDirectory
    let pg: Credentials
    var shops: [String: Credentials] = [:]
    var users: [String: Credentials] = [:]
    /// Password files for the programs.
    let passwordFile: String
    let wrongPasswordFile: String

    /// `base`: where the spool's directory is made (default TMPDIR; `diskTemporaryBase()` for the
    /// disk's file system). Only the usual cast can be placed elsewhere.
    init(shops shopIDs: [String] = ["1001", "2002"], users userIDs: [String] = ["u1", "u2"], base: String? = nil) throws {
        if shopIDs == ["1001", "2002"] && userIDs == ["u1", "u2"] {
            // The usual cast, minted once per test run and copied.
            let template = try PKITemplates.pipeline.get()
            pki = try PKIFixture(pipelineTemplate: template.root, base: base)
            pg = template.pg
            shops = template.shops
            users = template.users
        } else {
            pki = try PKIFixture()
            pg = try pki.issue(.pg, "PG1", name: "Test Gateway")
            for id in shopIDs { shops[id] = try pki.issue(.shop, id, name: "Shop \(id)") }
            for id in userIDs { users[id] = try pki.issue(.user, id, name: "User \(id)") }
        }
        dir = pki.dir
        passwordFile = dir.write("owner.pass", pki.ownerPassword + "\n")
        wrongPasswordFile = dir.write("wrong.pass", "not the password\n")
    }

    var env: [String: String] { ["QRPAY_SPOOL": root] }

    func run(_ program: String, _ args: [String]) -> (status: Int32, stdout: String, stderr: String) {
        runProgram(program, args, env: env)
    }

    /// Runs a program with its clock `seconds` ahead (QRPAY_CLOCK): expiries and holds pass without waiting.
    func run(_ program: String, _ args: [String], clockAhead seconds: Double) -> (status: Int32, stdout: String, stderr: String) {
        runProgram(program, args, env: env.merging(["QRPAY_CLOCK": String(format: "+%.3f", seconds)]) { $1 })
    }

    // MARK: documents

    func paymentInfo(shop: String = "1001", payment: String, total unit: Int64 = 4500, quantity: Int64 = 2,
                     currency: String = "KRW", created: Date = Date(), lifetime: TimeInterval = 900) throws -> PaymentInfo {
        try PaymentInfo(shop: shop, payment: payment, currency: try Currency(currency),
                        items: [try PaymentItem(name: "Americano", quantity: quantity, unitPrice: unit)],
                        created: created, expires: created + lifetime)
    }

    /// A payment JWS signed with `signer` (default: the shop's own key) over raw `payload` bytes.
    func signedPayment(_ payload: Data, signer: Credentials? = nil, shop: String = "1001",
                       type: DocumentType = .payment) throws -> Data {
        let c = signer ?? shops[shop]!
        return try JWS.sign(payload: payload, type: type, key: c.key, certificate: c.certificate)
    }

    /// A payment signed as the shop's client signs it; signed with the shop's own key, it is also
    /// recorded in the shop's journal as `qrpay-shop create` records it (so the shop can cancel it).
    func signedPayment(_ info: PaymentInfo, signer: Credentials? = nil) throws -> Data {
        let signed = try signedPayment(info.json.serialized(), signer: signer, shop: info.shop)
        if signer == nil {
            let layout = SpoolLayout(root: root)
            try PartyJournal(path: layout.shopJournal(shop: info.shop), layout: layout).append([[
                "at": .string(Timestamp.format(info.created)), "event": "created", "payment": .string(info.payment),
                "currency": .string(info.currency.code), "total": .int(info.total), "created": .string(Timestamp.format(info.created)),
                "documentHash": .string(try JWS(parsing: signed).documentHash),
            ]])
        }
        return signed
    }

    @discardableResult
    func dropInInbox(_ data: Data, name: String? = nil) throws -> String {
        let q = SpoolLayout(root: root).inbox
        try q.create()
        return try q.deliver(data, name: name)
    }

    @discardableResult
    func dropApproval(_ data: Data) throws -> String {
        let q = SpoolLayout(root: root).approvals
        try q.create()
        return try q.deliver(data)
    }

    /// Registers a payment through the real programs' path (inbox + qrpay-register --once).
    @discardableResult
    func registerPayment(_ info: PaymentInfo) throws -> PaymentRecord {
        try dropInInbox(try signedPayment(info))
        let r = run("qrpay-register", ["--password-file", passwordFile, "--once"])
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(try store.load(shop: info.shop, payment: info.payment))
    }

    var store: PaymentStore { PaymentStore(spoolRoot: root) }

    func approval(for record: PaymentRecord, user: String = "u1", signer: Credentials? = nil, total: Int64? = nil,
                  shop: String? = nil, payment: String? = nil, document: String? = nil, audience: String = "PG1",
                  at: Date = Date()) throws -> Data {
        let a = try Approval(shop: shop ?? record.info.shop, payment: payment ?? record.info.payment, user: user,
                             total: total ?? record.info.total, currency: record.info.currency.code,
                             document: document ?? record.documentHash, audience: audience, at: at)
        let c = signer ?? users[user]!
        return try JWS.sign(payload: a.json.serialized(), type: .approval, key: c.key, certificate: c.certificate)
    }

    // MARK: what the stages left

    func quarantine(_ queue: Queue) throws -> [(name: String, code: String, reason: String, stage: String)] {
        try FileIO.listDirectory(queue.quarantineDirectory).filter { $0.hasSuffix(".reason.json") }.sorted().map { name in
            let v = try JSONValue.parse(try FileIO.read(queue.quarantineDirectory + "/" + name))
            return (String(name.dropLast(".reason.json".count)), v["code"]?.stringValue ?? "", v["reason"]?.stringValue ?? "",
                    v["stage"]?.stringValue ?? "")
        }
    }

    func files(_ dir: String) -> [String] { ((try? FileIO.listDirectory(dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted() }

    /// Every payment record under pg/payments.
    func recordCount() -> Int {
        var n = 0
        for shop in files(root + "/pg/payments") {
            for bucket in files(root + "/pg/payments/" + shop) { n += files(root + "/pg/payments/\(shop)/\(bucket)").count }
        }
        return n
    }

    func journalEntries() throws -> [JournalEntry] {
        var out: [JournalEntry] = []
        try store.journal.forEachEntry { e, _, _ in out.append(e) }
        return out
    }

    func markers(_ state: PaymentState) throws -> [String] {
        try store.payments(in: state).map { "\($0.shop)/\($0.payment)" }.sorted()
    }
}

extension PipelineSpool {
    /// A record's QR PNG as a path to open: records keep it relative to the spool.
    func qrFile(_ record: PaymentRecord) -> String { SpoolLayout(root: root).absolute(record.qrPath) }
}
