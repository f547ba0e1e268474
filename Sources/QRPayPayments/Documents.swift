// The other signed documents of a payment's life, each the payload of a JWS of its own type:
//
// - Approval (user → PG, paper phase D): binds the user's consent to one exact payment: shop, payment
//   number, total, currency, a hash of the shop's signed document, the PG as audience, the time.
// - Cancel (shop → PG, phase E): the shop withdraws a payment before it is finished.
// - Notice (PG → shop) and Receipt (PG → user): what changed and when.
//
// Every parser is strict (known fields only, integer money, safe ids).

import Foundation
import QRPaySupport

package struct Approval: Equatable, Sendable {
    package let shop: String
    package let payment: String
    package let user: String
    package let total: Int64
    package let currency: String
    /// base64url SHA-256 of the shop's payment JWS in compact form (see `documentHash`).
    package let document: String
    /// The id of the PG the approval is meant for.
    package let audience: String
    package let at: Date

    package init(shop: String, payment: String, user: String, total: Int64, currency: String,
                document: String, audience: String, at: Date) throws {
        try Identifier.validate(shop, what: "shop")
        try Identifier.validate(payment, what: "payment")
        try Identifier.validate(user, what: "user")
        try Identifier.validate(audience, what: "audience")
        _ = try Currency(currency)
        guard (1...maximumAmount).contains(total) else { throw QRPayError(.approvalAmount, "approval total \(total) is out of range") }
        guard document.utf8.count == 43, Base64URL.decode(document) != nil else {
            throw QRPayError(.approvalDocument, "approval's document hash is not a base64url SHA-256")
        }
        self.shop = shop; self.payment = payment; self.user = user; self.total = total
        self.currency = currency; self.document = document; self.audience = audience
        self.at = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down))
    }

    package var json: JSONValue {
        ["v": 1, "shop": .string(shop), "payment": .string(payment), "user": .string(user), "total": .int(total),
         "currency": .string(currency), "doc": .string(document), "aud": .string(audience),
         "at": .string(Timestamp.format(at))]
    }

    package init(payload: Data) throws {
        let r = try JSONObjectReader(try JSONValue.parse(payload, what: "approval"), what: "approval")
        try r.requireOnly(["v", "shop", "payment", "user", "total", "currency", "doc", "aud", "at"])
        guard try r.int("v") == 1 else { throw QRPayError(.approvalVersion, "approval version is not 1") }
        guard let at = Timestamp.parse(try r.string("at", maxLength: 40)) else {
            throw QRPayError(.approvalTime, "approval: \"at\" is not a UTC time")
        }
        try self.init(shop: try r.string("shop", maxLength: 200), payment: try r.string("payment", maxLength: 200),
                      user: try r.string("user", maxLength: 200), total: try r.int("total"),
                      currency: try r.string("currency", maxLength: 16), document: try r.string("doc", maxLength: 64),
                      audience: try r.string("aud", maxLength: 200), at: at)
    }
}

package struct Cancel: Equatable, Sendable {
    package let shop: String
    package let payment: String
    package let reason: String
    package let at: Date

    package init(shop: String, payment: String, reason: String, at: Date) throws {
        try Identifier.validate(shop, what: "shop")
        try Identifier.validate(payment, what: "payment")
        guard reason.count <= 500 else {
            throw QRPayError(.cancelReason, "a cancel reason must be at most 500 printable characters")
        }
        if let problem = HumanText.problem(reason) {
            throw QRPayError(.cancelReason, "the cancel reason holds \(problem); reasons are shown to people as they are")
        }
        self.shop = shop; self.payment = payment; self.reason = reason
        self.at = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down))
    }

    package var json: JSONValue {
        ["v": 1, "shop": .string(shop), "payment": .string(payment), "reason": .string(reason),
         "at": .string(Timestamp.format(at))]
    }

    package init(payload: Data) throws {
        let r = try JSONObjectReader(try JSONValue.parse(payload, what: "cancel"), what: "cancel")
        try r.requireOnly(["v", "shop", "payment", "reason", "at"])
        guard try r.int("v") == 1 else { throw QRPayError(.cancelVersion, "cancel version is not 1") }
        guard let at = Timestamp.parse(try r.string("at", maxLength: 40)) else {
            throw QRPayError(.cancelTime, "cancel: \"at\" is not a UTC time")
        }
        try self.init(shop: try r.string("shop", maxLength: 200), payment: try r.string("payment", maxLength: 200),
                      reason: try r.string("reason", maxLength: 2000), at: at)
    }
}

/// PG → shop (notice) or PG → user (receipt): the payment moved to `state` at `at`.
package struct StateNotice: Equatable, Sendable {
    package let shop: String
    package let payment: String
    package let state: PaymentState
    package let total: Int64
    package let currency: String
    package let user: String?
    package let reason: String?
    package let at: Date

    package init(shop: String, payment: String, state: PaymentState, total: Int64, currency: String,
                user: String? = nil, reason: String? = nil, at: Date) {
        self.shop = shop; self.payment = payment; self.state = state; self.total = total
        self.currency = currency; self.user = user; self.reason = reason
        self.at = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down))
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "v": 1, "shop": .string(shop), "payment": .string(payment), "state": .string(state.rawValue),
            "total": .int(total), "currency": .string(currency), "at": .string(Timestamp.format(at)),
        ]
        if let user { o["user"] = .string(user) }
        if let reason { o["reason"] = .string(reason) }
        return .object(o)
    }

    package init(payload: Data) throws {
        let r = try JSONObjectReader(try JSONValue.parse(payload, what: "notice"), what: "notice")
        try r.requireOnly(["v", "shop", "payment", "state", "total", "currency", "user", "reason", "at"])
        guard let state = PaymentState(rawValue: try r.string("state", maxLength: 16)) else {
            throw QRPayError(.noticeState, "notice has an unknown state")
        }
        guard let at = Timestamp.parse(try r.string("at", maxLength: 40)) else {
            throw QRPayError(.noticeTime, "notice: \"at\" is not a UTC time")
        }
        self.init(shop: try r.string("shop", maxLength: 200), payment: try r.string("payment", maxLength: 200),
                  state: state, total: try r.int("total"), currency: try r.string("currency", maxLength: 16),
                  user: try r.optionalString("user", maxLength: 200), reason: try r.optionalString("reason", maxLength: 2000),
                  at: at)
    }
}

/// The PG's refusal of a document a shop sent (`qrpay-refusal+jws`, into shops/ID/notices/): which
/// document (its kind, payment and hash), the reason's code from the error catalogue and its sentence.
/// Sent only for documents the shop's own key signed, so nobody can fill a shop's notices by sending
/// the PG garbage in its name.
package struct Refusal: Equatable, Sendable {
    package let shop: String
    package let payment: String?
    /// "payment" or "cancel".
    package let kind: String
    package let document: String
    package let code: String
    package let reason: String
    package let at: Date

    package init(shop: String, payment: String?, kind: String, document: String, code: String, reason: String, at: Date) {
        self.shop = shop; self.payment = payment; self.kind = kind; self.document = document
        self.code = code; self.reason = reason
        self.at = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down))
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "v": 1, "shop": .string(shop), "kind": .string(kind), "document": .string(document),
            "code": .string(code), "reason": .string(reason), "at": .string(Timestamp.format(at)),
        ]
        if let payment { o["payment"] = .string(payment) }
        return .object(o)
    }

    package init(payload: Data) throws {
        let r = try JSONObjectReader(try JSONValue.parse(payload, what: "refusal"), what: "refusal")
        try r.requireOnly(["v", "shop", "payment", "kind", "document", "code", "reason", "at"])
        guard let at = Timestamp.parse(try r.string("at", maxLength: 40)) else {
            throw QRPayError(.noticeTime, "refusal: \"at\" is not a UTC time")
        }
        self.init(shop: try r.string("shop", maxLength: 200), payment: try r.optionalString("payment", maxLength: 200),
                  kind: try r.string("kind", maxLength: 16), document: try r.string("document", maxLength: 64),
                  code: try r.string("code", maxLength: 64), reason: try r.string("reason", maxLength: 4000), at: at)
    }
}

/// Limits every party applies to a signed document before it parses it.
package enum DocumentLimits {
    /// The largest payment or cancel document accepted (the PG's stages, a shop's outbox carried over).
    package static let maxBytes = 64 * 1024
}
