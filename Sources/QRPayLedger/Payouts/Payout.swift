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
import QRPaySupport
import QRPaySpool
import QRPayPayments

/// What the bank said of a credit transfer, as the payout record and the journal keep it.
package enum PayoutStatus: String, Sendable, CaseIterable {
    /// In a payout file QR-Pay wrote; the bank has said nothing yet.
    case sent
    /// A pain.002 accepted it (ACCP, ACSP, ...).
    case accepted
    /// A pain.002 rejected it (RJCT): the shop is not paid.
    case rejected
    /// A camt.053 or camt.054 booked the debit.
    case booked
}

package struct PayoutPayment: Sendable, Equatable {
    package let payment: String
    package let total: Int64
    /// The payment's creation day (UTC): its markers' day.
    package let day: String

    package init(payment: String, total: Int64, day: String) {
        self.payment = payment; self.total = total; self.day = day
    }

    var json: JSONValue { ["payment": .string(payment), "total": .int(total), "day": .string(day)] }
}

package struct PayoutTransfer: Sendable, Equatable {
    package let endToEndId: String
    package let shop: String
    package let amount: Int64
    package let account: PayoutAccount
    package let payments: [PayoutPayment]
    package var status: PayoutStatus
    package var reason: String?
    package var bookedAmount: Int64?
    package var bookedOn: String?
    package var history: [JSONValue]

    package init(endToEndId: String, shop: String, amount: Int64, account: PayoutAccount, payments: [PayoutPayment],
                 status: PayoutStatus, reason: String? = nil, bookedAmount: Int64? = nil, bookedOn: String? = nil, history: [JSONValue]) {
        self.endToEndId = endToEndId; self.shop = shop; self.amount = amount; self.account = account
        self.payments = payments; self.status = status; self.reason = reason; self.bookedAmount = bookedAmount
        self.bookedOn = bookedOn; self.history = history
    }

    /// The remittance information (Max140Text): it names the payout.
    package func remittance(payout: String) -> String {
        let text = "QR-Pay payout \(payout) shop \(shop): \(payments.count) payment\(payments.count == 1 ? "" : "s")"
        return String(text.prefix(140))
    }

    var json: JSONValue {
        var o: [String: JSONValue] = [
            "endToEndId": .string(endToEndId), "shop": .string(shop), "amount": .int(amount), "account": account.json,
            "payments": .array(payments.map(\.json)), "status": .string(status.rawValue), "history": .array(history),
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

package struct Payout: Sendable, Equatable {
    package static let version: Int64 = 1
    /// How far a payout got: its record is written first, then its file and the payments' marks.
    package enum State: String, Sendable {
        /// The record is written; the file and the payments' marks are not yet (a crash in between:
        /// the next run completes it).
        case prepared
        /// Everything is written.
        case sent
    }

    package let id: String
    package var state: State
    package let currency: Currency
    package let created: Date
    package let until: Date
    package let debtor: PayoutAccount
    package var transfers: [PayoutTransfer]
    package var fileHash: String
    package var manifest: Data

    package var fileName: String { id + ".xml" }
    package var manifestName: String { id + ".manifest.jws" }
    package var total: Int64 { transfers.reduce(0) { $0 + $1.amount } }

    /// PO + YYYYMMDD + CUR + 10 hex digits of SHA-256 over "shop/payment" lines, sorted.
    package static func makeID(created: Date, currency: String, payments: [String]) -> String {
        let day = Timestamp.day(created).replacingOccurrences(of: "-", with: "")
        let digest = Digest.sha256Hex(Data(payments.sorted().joined(separator: "\n").utf8))
        return "PO" + day + currency + String(digest.prefix(10))
    }

    /// The payout an end-to-end id `PAYOUT-NNNN` belongs to.
    package static func id(ofEndToEnd e2e: String) -> String? {
        guard let dash = e2e.lastIndex(of: "-"), e2e.hasPrefix("PO") else { return nil }
        let id = String(e2e[..<dash])
        return Identifier.isValid(id) ? id : nil
    }

    package init(id: String, currency: Currency, created: Date, until: Date, debtor: PayoutAccount, transfers: [PayoutTransfer]) {
        self.id = id; state = .prepared; self.currency = currency
        self.created = Date(timeIntervalSince1970: created.timeIntervalSince1970.rounded(.down))
        self.until = Date(timeIntervalSince1970: until.timeIntervalSince1970.rounded(.down))
        self.debtor = debtor; self.transfers = transfers; fileHash = ""; manifest = Data()
    }

    /// The manifest's payload: every payment the file covers.
    package var manifestPayload: JSONValue {
        ["v": 1, "payout": .string(id), "currency": .string(currency.code), "created": .string(Timestamp.format(created)),
         "until": .string(Timestamp.format(until)), "file": .string(fileName), "fileHash": .string(fileHash),
         "count": .int(Int64(transfers.reduce(0) { $0 + $1.payments.count })), "total": .int(total),
         "transfers": .array(transfers.map(\.manifestJSON))]
    }

    package var json: JSONValue {
        ["v": .int(Payout.version), "payout": .string(id), "state": .string(state.rawValue), "currency": .string(currency.code),
         "created": .string(Timestamp.format(created)), "until": .string(Timestamp.format(until)), "debtor": debtor.json,
         "file": .string(fileName), "fileHash": .string(fileHash),
         "manifest": (try? JSONValue.parse(manifest)) ?? .null, "transfers": .array(transfers.map(\.json))]
    }

    package func serialized() -> Data { json.serialized(pretty: true) }

    package init(data: Data, path: String) throws {
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
                let statusName = try tr.string("status")
                guard let status = PayoutStatus(rawValue: statusName) else { throw QRPayError(.payoutMalformed, "unknown status \(statusName.prefix(32))") }
                transfers.append(PayoutTransfer(
                    endToEndId: try tr.string("endToEndId"), shop: try tr.string("shop"), amount: try tr.int("amount", in: 0...maximumAmount),
                    account: try PayoutAccount(data: try tr.value("account").serialized(), path: path), payments: payments, status: status,
                    reason: try tr.optionalString("reason"), bookedAmount: tr.members["bookedAmount"] == nil ? nil : try tr.int("bookedAmount"),
                    bookedOn: try tr.optionalString("bookedOn"), history: try tr.array("history", maxCount: 1000)))
            }
            self.init(id: try r.string("payout"), currency: currency, created: created, until: until, debtor: debtor, transfers: transfers)
            let stateName = try r.string("state")
            guard let state = State(rawValue: stateName) else { throw QRPayError(.payoutMalformed, "unknown state \(stateName.prefix(32))") }
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
package struct PayoutStore: Sendable {
    package let layout: SpoolLayout
    package init(layout: SpoolLayout) { self.layout = layout }

    package func load(_ id: String) throws -> Payout? {
        guard Identifier.isValid(id) else { return nil }
        let path = layout.payoutRecordPath(payout: id)
        return try FileIO.readIfExists(path, maxBytes: 64 << 20).map { try Payout(data: $0, path: path) }
    }

    /// What `commit` will leave (a staged record first), reserving the record for it.
    package func load(_ id: String, commit: GroupCommit) throws -> Payout? {
        guard Identifier.isValid(id) else { return nil }
        let path = layout.payoutRecordPath(payout: id)
        try commit.claim(key: path)
        if let staged = commit.pendingData(at: path) { return try Payout(data: staged, path: path) }
        return try load(id)
    }

    /// Every payout id, sorted.
    package func ids() throws -> [String] {
        guard FileIO.isDirectory(layout.payoutRecordsDirectory) else { return [] }
        return try FileIO.listDirectory(layout.payoutRecordsDirectory)
            .filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.map { String($0.dropLast(5)) }.sorted()
    }

    package func all() throws -> [Payout] { try ids().compactMap { try load($0) } }
}
