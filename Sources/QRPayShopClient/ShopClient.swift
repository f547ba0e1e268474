// The shop's side (paper, phase B and cancel in phase E): sign payment information or a cancel with
// the shop's key and drop it atomically into the PG's inbox (or into an outbox for an offline shop,
// carried over later), keeping the shop's own journal for reconciliation.
//
//   ROOT/shops/<shop>/journal.jsonl   one line per document the shop sent:
//                                     {"at","event":"created"|"cancel","payment","currency","total","documentHash"}

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
#if canImport(Glibc)
import Glibc
#endif

package struct ShopClient: Sendable {
    package let layout: SpoolLayout
    package let shop: String
    package let credentials: Credentials

    package init(spoolRoot: String, shop: String, password: Password) throws {
        try Identifier.validate(shop, what: "shop")
        layout = SpoolLayout(root: spoolRoot)
        self.shop = shop
        self.credentials = try Credentials.load(layout: layout, role: .shop, id: shop, password: password)
    }

    /// `init` with a text password (its UTF-8 bytes).
    package init(spoolRoot: String, shop: String, password: String) throws {
        try self.init(spoolRoot: spoolRoot, shop: shop, password: try Password(password))
    }

    /// A payment number unique for the shop: UTC time to the second plus 40 random bits.
    package static func newPaymentNumber(now: Date = Date()) -> String {
        let stamp = Timestamp.format(now).filter(\.isNumber)
        let random = (0..<5).map { _ in UInt8.random(in: 0...255) }
        return "P\(stamp)-\(Hex.encode(random))"
    }

    package var journalPath: String { layout.shopJournal(shop: shop) }

    /// Signs `info` and drops it into the PG inbox (or `outbox`). Returns the signed document.
    @discardableResult
    package func submit(_ info: PaymentInfo, outbox: String? = nil) throws -> Data {
        guard info.shop == shop else { throw QRPayError(.paymentShop, "payment is for shop \(info.shop), not \(shop)") }
        if let earlier = try journal.entries().first(where: { $0["event"]?.stringValue == "created" && $0["payment"]?.stringValue == info.payment }) {
            throw QRPayError(.shopPaymentUsed, "shop \(shop) already used payment number \(info.payment) (created \(earlier["at"]?.stringValue ?? "earlier")): choose another, or leave --payment out for a new one; nothing was sent")
        }
        let signed = try JWS.sign(payload: info.json.serialized(), type: .payment, credentials: credentials)
        let jws = try JWS(parsing: signed)
        try deliver(signed, outbox: outbox)
        try appendJournal(["at": .string(Timestamp.format(info.created)), "event": "created", "payment": .string(info.payment),
                           "currency": .string(info.currency.code), "total": .int(info.total),
                           "created": .string(Timestamp.format(info.created)),
                           "documentHash": .string(jws.documentHash)])
        return signed
    }

    /// Signs a cancel request for `payment` and drops it into the PG's cancels queue (or `outbox`).
    @discardableResult
    package func cancel(payment: String, reason: String, outbox: String? = nil, now: Date = Date()) throws -> Data {
        let cancel = try Cancel(shop: shop, payment: payment, reason: reason, at: now)
        guard try journal.entries().contains(where: { $0["event"]?.stringValue == "created" && $0["payment"]?.stringValue == payment }) else {
            throw QRPayError(.shopUnknownPayment, "shop \(shop) never created payment \(payment) (\(journalPath) has no such payment): check the number; nothing was sent")
        }
        let signed = try JWS.sign(payload: cancel.json.serialized(), type: .cancel, credentials: credentials)
        try ShopClient.deliver(signed, to: outbox.map { Queue(path: $0) } ?? layout.cancels, layout: layout, outbox: outbox != nil)
        try appendJournal(["at": .string(Timestamp.format(now)), "event": "cancel", "payment": .string(payment),
                           "reason": .string(reason)])
        return signed
    }

    func deliver(_ signed: Data, outbox: String?) throws {
        try ShopClient.deliver(signed, to: outbox.map { Queue(path: $0) } ?? layout.inbox, layout: layout, outbox: outbox != nil)
    }

    /// Commits one document into a queue: the PG's (made with the layout's modes when missing) or
    /// the shop's own outbox (0700, outside the layout).
    static func deliver(_ signed: Data, to queue: Queue, layout: SpoolLayout, outbox: Bool) throws {
        if outbox {
            if !FileIO.isDirectory(queue.newDirectory) { try queue.create(mode: 0o700) }
        } else if !FileIO.isDirectory(queue.newDirectory) {
            try layout.makeQueue(queue)
        }
        try queue.deliver(signed)
    }

    /// The shop's own journal (shops/ID/journal.jsonl).
    package var journal: PartyJournal { PartyJournal(path: journalPath, layout: layout) }

    func appendJournal(_ entry: JSONValue) throws { try journal.append([entry]) }

    /// Moves every document an offline shop left in `outbox` (a queue: tmp/, new/) into the PG's
    /// queues (payments into the inbox, cancels into cancels), each atomically. Returns how many.
    package static func carryOver(outbox: String, spoolRoot: String) throws -> Int {
        let source = Queue(path: outbox)
        let layout = SpoolLayout(root: spoolRoot)
        var moved = 0
        for name in try source.pending() {
            guard let claimed = try source.claim(name) else { continue }
            let data = try claimed.read(maxBytes: DocumentLimits.maxBytes)
            let jws = try JWS(parsing: data)
            let target = jws.type == DocumentType.cancel.rawValue ? layout.cancels : layout.inbox
            try deliver(data, to: target, layout: layout, outbox: false)
            try source.complete(claimed)
            moved += 1
        }
        return moved
    }
}
