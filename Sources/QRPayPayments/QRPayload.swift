// What a payment QR code holds (paper, phase B): only the shop number, the payment number and the
// shop's signature value, as a versioned compact string:
//
//     QRP1:<shop>:<payment>:<signature, base64url, 86 characters>
//
// Ids never contain `:` (their alphabet is A-Z a-z 0-9 . _ -), so the string splits unambiguously.
// The signature is the raw ES256 r||s of the shop's payment JWS; the user side finds the listed
// document by shop and payment and checks that its signature is this one.

import Foundation
import QRPaySupport

package struct QRPayload: Equatable, Sendable {
    package static let prefix = "QRP1"
    package let shop: String
    package let payment: String
    /// The shop's raw 64-byte ES256 signature.
    package let signature: Data

    package init(shop: String, payment: String, signature: Data) throws {
        try Identifier.validate(shop, what: "shop")
        try Identifier.validate(payment, what: "payment")
        guard signature.count == 64 else {
            throw QRPayError(.qrSignature, "the QR code's signature is not 64 bytes")
        }
        self.shop = shop
        self.payment = payment
        self.signature = signature
    }

    package var text: String { "\(QRPayload.prefix):\(shop):\(payment):\(Base64URL.encode(signature))" }

    package init(text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == QRPayload.prefix else {
            throw QRPayError(.qrNotQRPay, "the QR code is not a QR-Pay payment code (expected QRP1:shop:payment:signature)")
        }
        guard let signature = Base64URL.decode(String(parts[3])) else {
            throw QRPayError(.qrSignature, "the QR code's signature is not base64url")
        }
        try self.init(shop: String(parts[1]), payment: String(parts[2]), signature: signature)
    }

    /// The name of the payment's entry on the payment-information list: derived from the signature,
    /// so that only someone who saw the QR code can fetch the entry.
    package var listToken: String { QRPayload.listToken(signature: signature) }

    package static func listToken(signature: Data) -> String {
        Base64URL.encode(Digest.sha256(signature))
    }
}
