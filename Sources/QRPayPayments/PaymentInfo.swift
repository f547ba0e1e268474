// The payment information a shop signs (paper, phase B): shop number, the shop's unique payment
// number, the items and the total, plus currency, creation and expiry times.
//
// This file owns the document's one JSON form. Parsing is strict: exactly the known fields, integers
// for money, the total equal to the sum of the items, a known currency, safe ids, sane times.
// Signed form: the payload of a JWS of type `qrpay-payment+jws`.

import Foundation
import QRPaySupport

package struct PaymentItem: Equatable, Sendable {
    package let name: String
    package let quantity: Int64
    /// Price of one unit, minor units.
    package let unitPrice: Int64
    package var amount: Int64 { quantity * unitPrice }

    /// Byte for byte (RFC 7515 §5.3 code-point comparison): an item named in NFC and the same name in
    /// NFD are different content, as their signatures are.
    package static func == (a: PaymentItem, b: PaymentItem) -> Bool {
        a.name.utf8.elementsEqual(b.name.utf8) && a.quantity == b.quantity && a.unitPrice == b.unitPrice
    }

    package init(name: String, quantity: Int64, unitPrice: Int64) throws {
        try PaymentItem.validateName(name)
        guard (1...1_000_000).contains(quantity) else {
            throw QRPayError(.paymentQuantity, "item \"\(name)\": quantity \(quantity) is not between 1 and 1,000,000")
        }
        guard (0...maximumAmount).contains(unitPrice) else {
            throw QRPayError(.paymentAmount, "item \"\(name)\": unit price \(unitPrice) is negative or too large")
        }
        let (product, overflow) = quantity.multipliedReportingOverflow(by: unitPrice)
        guard !overflow, product <= maximumAmount else {
            throw QRPayError(.paymentAmount, "item \"\(name)\": amount overflows")
        }
        self.name = name
        self.quantity = quantity
        self.unitPrice = unitPrice
    }

    static func validateName(_ name: String) throws {
        guard !name.isEmpty, name.count <= 120 else {
            throw QRPayError(.paymentItemName, "an item name must be 1-120 printable characters")
        }
        if let problem = HumanText.problem(name) {
            throw QRPayError(.paymentItemName, "the item name \"\(HumanText.escaped(String(name.prefix(40))))\" holds \(problem); item names are shown to the payer as they are")
        }
    }

    /// Parses `NAME:QTY:UNIT` as `qrpay-shop --item` takes it (the name may itself contain colons).
    package static func parse(commandLine text: String) throws -> PaymentItem {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 3, let qty = Int64(parts[parts.count - 2]), let unit = Int64(parts[parts.count - 1]) else {
            throw QRPayError(.usage, "--item \"\(text)\": use NAME:QTY:UNIT with integer quantity and unit price in minor units")
        }
        return try PaymentItem(name: parts[0..<(parts.count - 2)].joined(separator: ":"), quantity: qty, unitPrice: unit)
    }

    var json: JSONValue {
        ["name": .string(name), "qty": .int(quantity), "unit": .int(unitPrice), "amount": .int(amount)]
    }
}

package struct PaymentInfo: Equatable, Sendable {
    /// Byte for byte (see PaymentItem ==): "the same content" in a replay check means the same bytes.
    package static func == (a: PaymentInfo, b: PaymentInfo) -> Bool {
        a.shop.utf8.elementsEqual(b.shop.utf8) && a.payment.utf8.elementsEqual(b.payment.utf8)
            && a.currency.code.utf8.elementsEqual(b.currency.code.utf8) && a.items == b.items && a.total == b.total
            && a.created == b.created && a.expires == b.expires
    }

    package static let version: Int64 = 1
    package let shop: String
    package let payment: String
    package let currency: Currency
    package let items: [PaymentItem]
    package let total: Int64
    package let created: Date
    package let expires: Date

    /// Builds payment information, computing the total from the items.
    package init(shop: String, payment: String, currency: Currency, items: [PaymentItem], created: Date, expires: Date) throws {
        try Identifier.validate(shop, what: "shop")
        try Identifier.validate(payment, what: "payment")
        guard !items.isEmpty, items.count <= 200 else {
            throw QRPayError(.paymentItems, "a payment needs 1 to 200 items")
        }
        var total: Int64 = 0
        for item in items {
            let (sum, overflow) = total.addingReportingOverflow(item.amount)
            guard !overflow, sum <= maximumAmount else { throw QRPayError(.paymentAmount, "the total overflows") }
            total = sum
        }
        guard total > 0 else { throw QRPayError(.paymentAmount, "the total must be more than zero") }
        guard expires > created else { throw QRPayError(.paymentExpiry, "the payment expires before it is created") }
        guard expires.timeIntervalSince(created) <= 7 * 86400 else {
            throw QRPayError(.paymentExpiry, "a payment may stay open at most 7 days")
        }
        self.shop = shop
        self.payment = payment
        self.currency = currency
        self.items = items
        self.total = total
        self.created = Date(timeIntervalSince1970: created.timeIntervalSince1970.rounded(.down))
        self.expires = Date(timeIntervalSince1970: expires.timeIntervalSince1970.rounded(.down))
    }

    package var json: JSONValue {
        [
            "v": .int(PaymentInfo.version),
            "shop": .string(shop),
            "payment": .string(payment),
            "currency": .string(currency.code),
            "items": .array(items.map(\.json)),
            "total": .int(total),
            "created": .string(Timestamp.format(created)),
            "expires": .string(Timestamp.format(expires)),
        ]
    }

    /// Parses the payload of a payment JWS strictly.
    package init(payload: Data) throws {
        let reader = try JSONObjectReader(try JSONValue.parse(payload, what: "payment information"), what: "payment information")
        try reader.requireOnly(["v", "shop", "payment", "currency", "items", "total", "created", "expires"])
        guard try reader.int("v") == PaymentInfo.version else {
            throw QRPayError(.paymentVersion, "payment information version is not \(PaymentInfo.version)")
        }
        let shop = try reader.string("shop", maxLength: 200)
        let payment = try reader.string("payment", maxLength: 200)
        let currency = try Currency(try reader.string("currency", maxLength: 16))
        var items: [PaymentItem] = []
        for (index, value) in try reader.array("items", maxCount: 200).enumerated() {
            let item = try JSONObjectReader(value, what: "item \(index + 1)")
            try item.requireOnly(["name", "qty", "unit", "amount"])
            let parsed = try PaymentItem(name: try item.string("name", maxLength: 512),
                                         quantity: try item.int("qty"), unitPrice: try item.int("unit"))
            guard try item.int("amount") == parsed.amount else {
                throw QRPayError(.paymentItemAmount, "item \(index + 1) (\(parsed.name)): amount is not quantity × unit price")
            }
            items.append(parsed)
        }
        func time(_ key: String) throws -> Date {
            let text = try reader.string(key, maxLength: 40)
            guard let date = Timestamp.parse(text) else {
                throw QRPayError(.paymentTime, "payment information: \"\(key)\" is not a UTC time like 2026-11-25T16:50:00Z")
            }
            return date
        }
        let claimedTotal = try reader.int("total")
        try self.init(shop: shop, payment: payment, currency: currency, items: items,
                      created: try time("created"), expires: try time("expires"))
        guard claimedTotal == total else {
            throw QRPayError(.paymentTotalMismatch, "the total \(currency.format(claimedTotal)) is not the sum of the items (\(currency.format(total)))")
        }
    }
}
