// The user's side (paper, phases C and D): from a photographed QR code to verified payment details,
// then to a password-unlocked, signed approval.
//
// Review (phase C): decode the photo; fetch the payment information from the PG's list by the QR
// code; check that the listed document carries exactly the QR code's signature, that the shop's
// signature verifies against the shop's certificate (chain, CRL, role shop, id), and that the payment
// is open (`request`) and unexpired.
// Approve (phase D): unlock the user's key and sign an approval bound to this exact payment: shop,
// payment, total, currency, the hash of the shop's signed document, the PG as audience, the time.

import Foundation

public struct PaymentReview: Sendable {
    public let info: PaymentInfo
    public let state: PaymentState
    public let shopName: String
    public let shopCertificate: String
    public let documentHash: String
    public let symbol: String

    /// What the user must see before paying.
    public func text(now: Date = Date()) -> String {
        let c = info.currency
        var lines = [
            "Shop:     \(shopName) (shop \(info.shop), certificate \(shopCertificate.prefix(16))…)",
            "Payment:  \(info.payment)",
            "Items:",
        ]
        let width = min(40, info.items.map(\.name.count).max() ?? 10)
        for item in info.items {
            let name = item.name.count > width ? String(item.name.prefix(width - 1)) + "…" : item.name.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append("  \(String(item.quantity).leftPad(4)) × \(name)  @ \(c.format(item.unitPrice).leftPad(16))  \(c.format(item.amount).leftPad(18))")
        }
        let minutes = Int((info.expires.timeIntervalSince(now) / 60).rounded(.down))
        lines.append("Total:    \(c.format(info.total))")
        lines.append("Expires:  \(Timestamp.format(info.expires)) (\(minutes >= 0 ? "in \(minutes) min" : "expired"))")
        return lines.joined(separator: "\n")
    }

    public var json: JSONValue {
        ["shop": .string(info.shop), "shopName": .string(shopName), "shopCertificate": .string(shopCertificate),
         "payment": .string(info.payment), "state": .string(state.rawValue), "currency": .string(info.currency.code),
         "total": .int(info.total), "totalText": .string(info.currency.format(info.total)),
         "items": info.json["items"]!, "created": .string(Timestamp.format(info.created)),
         "expires": .string(Timestamp.format(info.expires)), "documentHash": .string(documentHash)]
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

public struct UserClient: Sendable {
    public let layout: SpoolLayout
    let trust: TrustStore
    let store: PaymentStore
    let decoder: QRImageDecoder

    public init(spoolRoot: String, trust: TrustStore? = nil) throws {
        layout = SpoolLayout(root: spoolRoot)
        self.trust = try trust ?? TrustStore(spoolRoot: spoolRoot)
        self.store = PaymentStore(layout: layout)
        self.decoder = QRImageDecoder()
    }

    /// Decodes the photo and verifies the payment it shows (phase C).
    public func review(image path: String, now: Date = Date()) throws -> PaymentReview {
        try review(decoded: try decoder.decode(file: path), now: now)
    }

    public func review(imageData: Data, now: Date = Date()) throws -> PaymentReview {
        try review(decoded: try decoder.decode(data: imageData), now: now)
    }

    func review(decoded: DecodedImage, now: Date) throws -> PaymentReview {
        guard !decoded.symbols.isEmpty else {
            throw QRPayError(.qrNone, "no QR code found in the image")
        }
        var lastError: QRPayError?
        for symbol in decoded.symbols {
            do {
                return try review(symbol: symbol, now: now)
            } catch let e as QRPayError {
                lastError = e
            }
        }
        throw lastError!
    }

    public func review(symbol: String, now: Date = Date()) throws -> PaymentReview {
        let qr = try QRPayload(text: symbol)
        guard let entry = try store.listEntry(for: qr) else {
            throw QRPayError(.paymentNotListed, "payment \(qr.shop)/\(qr.payment) is not on the PG's payment-information list")
        }
        let jws = try JWS(parsing: entry.document)
        guard jws.signature == qr.signature else {
            throw QRPayError(.qrMismatch, "the QR code's signature is not the listed payment's signature")
        }
        let info = try PaymentInfo(payload: jws.payload)
        guard info.shop == qr.shop, info.payment == qr.payment else {
            throw QRPayError(.qrMismatch, "the listed payment is not the one the QR code names")
        }
        let verified = try trust.verify(jws, type: .payment, role: .shop, id: qr.shop, at: now)
        guard entry.state == .request else {
            throw QRPayError(.paymentNotOpen, "payment \(info.shop)/\(info.payment) is \(entry.state.rawValue), not open for approval")
        }
        guard info.expires > now else {
            throw QRPayError(.paymentExpired, "payment \(info.shop)/\(info.payment) expired at \(Timestamp.format(info.expires))")
        }
        return PaymentReview(info: info, state: entry.state, shopName: verified.signer.displayName,
                             shopCertificate: verified.signer.fingerprint, documentHash: jws.documentHash, symbol: symbol)
    }

    /// Signs an approval of `review` with the user's key and drops it into the PG's approvals queue
    /// (phase D). A wrong password throws `pki.password` (exit 77) and writes nothing.
    @discardableResult
    public func approve(_ review: PaymentReview, user: String, password: Password, now: Date = Date()) throws -> Data {
        let commit = GroupCommit(context: StageContext(layout: layout))
        let signed = try approve(review, user: user, password: password, now: now, commit: commit)
        try commit.flush()
        return signed
    }

    /// `approve`, staged in `commit`.
    @discardableResult
    public func approve(_ review: PaymentReview, user: String, password: Password, now: Date, commit: GroupCommit) throws -> Data {
        let credentials = try Credentials.load(layout: layout, role: .user, id: user, password: password)
        // The audience is the PG the CA certified, verified (chain, role, CRL), not whatever cert.pem says.
        let pg = try trust.currentPGCertificate(at: now)
        guard let pgID = pg.id else { throw QRPayError(.pkiPG, "the PG certificate has no id") }
        let approval = try Approval(shop: review.info.shop, payment: review.info.payment, user: user,
                                    total: review.info.total, currency: review.info.currency.code,
                                    document: review.documentHash, audience: pgID, at: now)
        let signed = try JWS.sign(payload: approval.json.serialized(), type: .approval, credentials: credentials)
        try commit.context.ensureQueue(layout.approvals)
        try commit.deliver(signed, to: layout.approvals)
        return signed
    }
}
