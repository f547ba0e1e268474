// A payout: one pain.001 file in one currency, one credit transfer per shop, and what the bank said
// of each transfer. Its record is ROOT/pg/payout-records/PAYOUT.json (paths: SpoolLayout):
//
//   {"v":1,"payout":"PO20261125EUR1a2b3c4d5e","state":"prepared"|"sent","currency":"EUR",
//    "created":"…","until":"…","debtor":{account},"file":"PO….xml","fileHash":"<b64url SHA-256>",
//    "manifest":{the PG-signed JWS, typ qrpay-payout+jws},
//    "transfers":[{"endToEndId":"PO…-0001","shop":"1001","amount":12345,"account":{account},
//                  "payments":[{"payment":"P1","total":12345,"day":"2026-11-25"}],
//                  "status":"sent"|"accepted"|"rejected"|"booked","reason":"…","bookedAmount":12345,
//                  "bookedOn":"2026-11-26","history":[{"status":"…","at":"…","evidence":"<hash>","file":"…"}]}]}
//
// The id is "PO" + the creation day + the currency + 10 hex digits of SHA-256 over the payments it
// covers, so a run repeated on the same spool at the same time makes the same payout; the file is
// written from the record alone (same record, same bytes), and the manifest is signed once, into the
// record, before anything else is written.

import Foundation

public struct PayoutPayment: Sendable, Equatable {
    public let payment: String
    public let total: Int64
    /// The payment's creation day (UTC): its markers' day.
    public let day: String

    var json: JSONValue { ["payment": .string(payment), "total": .int(total), "day": .string(day)] }
}

public struct PayoutTransfer: Sendable, Equatable {
    public let endToEndId: String
    public let shop: String
    public let amount: Int64
    public let account: PayoutAccount
    public let payments: [PayoutPayment]
    public var status: String
    public var reason: String?
    public var bookedAmount: Int64?
    public var bookedOn: String?
    public var history: [JSONValue]

    /// The remittance information (Max140Text): it names the payout.
    public func remittance(payout: String) -> String {
        let text = "QR-Pay payout \(payout) shop \(shop): \(payments.count) payment\(payments.count == 1 ? "" : "s")"
        return String(text.prefix(140))
    }

    var json: JSONValue {
        var o: [String: JSONValue] = [
            "endToEndId": .string(endToEndId), "shop": .string(shop), "amount": .int(amount), "account": account.json,
            "payments": .array(payments.map(\.json)), "status": .string(status), "history": .array(history),
        ]
        if let reason { o["reason"] = .string(reason) }
        if let bookedAmount { o["bookedAmount"] = .int(bookedAmount) }
        if let bookedOn { o["bookedOn"] = .string(bookedOn) }
        return .object(o)
    }

    /// The manifest lists what the transfer pays, not what the bank said.
    var manifestJSON: JSONValue {
        ["endToEndId": .string(endToEndId), "shop": .string(shop), "amount": .int(amount), "payments": .array(payments.map(\.json))]
    }
}

public struct Payout: Sendable, Equatable {
    public static let version: Int64 = 1
    public static let statuses: Set<String> = ["sent", "accepted", "rejected", "booked"]
    public let id: String
    /// "prepared" (record written, file and payments not yet) or "sent" (everything written).
    public var state: String
    public let currency: Currency
    public let created: Date
    public let until: Date
    public let debtor: PayoutAccount
    public var transfers: [PayoutTransfer]
    public var fileHash: String
    public var manifest: Data

    public var fileName: String { id + ".xml" }
    public var manifestName: String { id + ".manifest.jws" }
    public var total: Int64 { transfers.reduce(0) { $0 + $1.amount } }

    /// PO + YYYYMMDD + CUR + 10 hex digits of SHA-256 over "shop/payment" lines, sorted.
    public static func makeID(created: Date, currency: String, payments: [String]) -> String {
        let day = Timestamp.day(created).replacingOccurrences(of: "-", with: "")
        let digest = Digest.sha256Hex(Data(payments.sorted().joined(separator: "\n").utf8))
        return "PO" + day + currency + String(digest.prefix(10))
    }

    /// The payout an end-to-end id `PAYOUT-NNNN` belongs to.
    public static func id(ofEndToEnd e2e: String) -> String? {
        guard let dash = e2e.lastIndex(of: "-"), e2e.hasPrefix("PO") else { return nil }
        let id = String(e2e[..<dash])
        return Identifier.isValid(id) ? id : nil
    }

    public init(id: String, currency: Currency, created: Date, until: Date, debtor: PayoutAccount, transfers: [PayoutTransfer]) {
        self.id = id; state = "prepared"; self.currency = currency
        self.created = Date(timeIntervalSince1970: created.timeIntervalSince1970.rounded(.down))
        self.until = Date(timeIntervalSince1970: until.timeIntervalSince1970.rounded(.down))
        self.debtor = debtor; self.transfers = transfers; fileHash = ""; manifest = Data()
    }

    /// The manifest's payload: every payment the file covers.
    public var manifestPayload: JSONValue {
        ["v": 1, "payout": .string(id), "currency": .string(currency.code), "created": .string(Timestamp.format(created)),
         "until": .string(Timestamp.format(until)), "file": .string(fileName), "fileHash": .string(fileHash),
         "count": .int(Int64(transfers.reduce(0) { $0 + $1.payments.count })), "total": .int(total),
         "transfers": .array(transfers.map(\.manifestJSON))]
    }

    public var json: JSONValue {
        ["v": .int(Payout.version), "payout": .string(id), "state": .string(state), "currency": .string(currency.code),
         "created": .string(Timestamp.format(created)), "until": .string(Timestamp.format(until)), "debtor": debtor.json,
         "file": .string(fileName), "fileHash": .string(fileHash),
         "manifest": (try? JSONValue.parse(manifest)) ?? .null, "transfers": .array(transfers.map(\.json))]
    }

    public func serialized() -> Data { json.serialized(pretty: true) }

    public init(data: Data, path: String) throws {
        do {
            let r = try JSONObjectReader(try JSONValue.parse(data, options: .init(maxBytes: 64 << 20), what: "payout record"), what: "payout record")
            try r.requireOnly(["v", "payout", "state", "currency", "created", "until", "debtor", "file", "fileHash", "manifest", "transfers"])
            guard try r.int("v") == Payout.version, let created = Timestamp.parse(try r.string("created")),
                  let until = Timestamp.parse(try r.string("until")) else { throw QRPayError(.payoutMalformed, "version or times") }
            let currency = try Currency(try r.string("currency"))
            let debtor = try PayoutAccount(data: try r.value("debtor").serialized(), path: path)
            var transfers: [PayoutTransfer] = []
            for t in try r.array("transfers", maxCount: 1_000_000) {
                let tr = try JSONObjectReader(t, what: "payout transfer")
                try tr.requireOnly(["endToEndId", "shop", "amount", "account", "payments", "status", "reason", "bookedAmount", "bookedOn", "history"])
                var payments: [PayoutPayment] = []
                for p in try tr.array("payments", maxCount: 10_000_000) {
                    let pr = try JSONObjectReader(p, what: "payout payment")
                    try pr.requireOnly(["payment", "total", "day"])
                    payments.append(PayoutPayment(payment: try pr.string("payment"), total: try pr.int("total", in: 0...maximumAmount), day: try pr.string("day")))
                }
                let status = try tr.string("status")
                guard Payout.statuses.contains(status) else { throw QRPayError(.payoutMalformed, "unknown status \(status)") }
                transfers.append(PayoutTransfer(
                    endToEndId: try tr.string("endToEndId"), shop: try tr.string("shop"), amount: try tr.int("amount", in: 0...maximumAmount),
                    account: try PayoutAccount(data: try tr.value("account").serialized(), path: path), payments: payments, status: status,
                    reason: try tr.optionalString("reason"), bookedAmount: tr.members["bookedAmount"] == nil ? nil : try tr.int("bookedAmount"),
                    bookedOn: try tr.optionalString("bookedOn"), history: try tr.array("history", maxCount: 1000)))
            }
            self.init(id: try r.string("payout"), currency: currency, created: created, until: until, debtor: debtor, transfers: transfers)
            let state = try r.string("state")
            guard state == "prepared" || state == "sent" else { throw QRPayError(.payoutMalformed, "unknown state \(state)") }
            self.state = state
            fileHash = try r.string("fileHash")
            manifest = try r.value("manifest").serialized()
            guard try r.string("file") == fileName else { throw QRPayError(.payoutMalformed, "the file name is not the payout's") }
        } catch let e as QRPayError where e.code != .payoutMalformed {
            throw QRPayError(.payoutMalformed, "the payout record \(path) does not parse: \(e.message)")
        }
    }
}

/// Reads payout records (paths: SpoolLayout).
public struct PayoutStore: Sendable {
    public let layout: SpoolLayout
    public init(layout: SpoolLayout) { self.layout = layout }

    public func load(_ id: String) throws -> Payout? {
        guard Identifier.isValid(id) else { return nil }
        let path = layout.payoutRecordPath(payout: id)
        return try FileIO.readIfExists(path, maxBytes: 64 << 20).map { try Payout(data: $0, path: path) }
    }

    /// What `commit` will leave (a staged record first), reserving the record for it.
    public func load(_ id: String, commit: GroupCommit) throws -> Payout? {
        guard Identifier.isValid(id) else { return nil }
        let path = layout.payoutRecordPath(payout: id)
        try commit.claim(key: path)
        if let staged = commit.pendingData(at: path) { return try Payout(data: staged, path: path) }
        return try load(id)
    }

    /// Every payout id, sorted.
    public func ids() throws -> [String] {
        guard FileIO.isDirectory(layout.payoutRecordsDirectory) else { return [] }
        return try FileIO.listDirectory(layout.payoutRecordsDirectory)
            .filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.map { String($0.dropLast(5)) }.sorted()
    }

    public func all() throws -> [Payout] { try ids().compactMap { try load($0) } }
}
