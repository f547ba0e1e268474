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
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayDecoder
import QRPayPayments

package struct PaymentReview: Sendable {
    package let info: PaymentInfo
    package let state: PaymentState
    package let shopName: String
    package let shopCertificate: String
    package let documentHash: String
    package let symbol: String

    /// What the user must see before paying.
    package func text(now: Date = Date()) -> String {
        let c = info.currency
        var lines = [
            "Shop:     \(HumanText.escaped(shopName)) (shop \(info.shop), certificate \(shopCertificate.prefix(16))…)",
            "Payment:  \(info.payment)",
            "Items:",
        ]
        let width = min(40, info.items.map(\.name.count).max() ?? 10)
        for item in info.items {
            let shown = HumanText.escaped(item.name)
            let name = shown.count > width ? String(shown.prefix(width - 1)) + "…" : shown.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append("  \(String(item.quantity).leftPad(4)) × \(name)  @ \(c.format(item.unitPrice).leftPad(16))  \(c.format(item.amount).leftPad(18))")
        }
        let minutes = Int((info.expires.timeIntervalSince(now) / 60).rounded(.down))
        lines.append("Total:    \(c.format(info.total))")
        lines.append("Expires:  \(Timestamp.format(info.expires)) (\(minutes >= 0 ? "in \(minutes) min" : "expired"))")
        return lines.joined(separator: "\n")
    }

    package var json: JSONValue {
        ["shop": .string(info.shop), "shopName": .string(shopName), "shopCertificate": .string(shopCertificate),
         "payment": .string(info.payment), "state": .string(state.rawValue), "currency": .string(info.currency.code),
         "total": .int(info.total), "totalText": .string(info.currency.format(info.total)),
         "items": info.json["items"]!, "created": .string(Timestamp.format(info.created)),
         "expires": .string(Timestamp.format(info.expires)), "documentHash": .string(documentHash)]
    }
}

/// What the user agreed to pay, as the user states it before anything is signed: the command line's
/// `--expect-*` options, a `qrpay-scan` sidecar. A field left nil is not checked.
package struct Intent: Sendable, Equatable {
    package var shop: String?
    package var payment: String?
    package var total: Int64?
    package var currency: String?

    package init(shop: String? = nil, payment: String? = nil, total: Int64? = nil, currency: String? = nil) {
        self.shop = shop; self.payment = payment; self.total = total; self.currency = currency
    }

    /// Each way `review` differs from this intent, as a sentence part ("the shop is 2002, not 1001").
    package func differences(from review: PaymentReview) -> [String] {
        var out: [String] = []
        if let shop, shop != review.info.shop {
            out.append("the shop is \(review.info.shop) (\(HumanText.escaped(review.shopName))), not \(shop)")
        }
        if let payment, payment != review.info.payment { out.append("the payment is \(review.info.payment), not \(payment)") }
        if let currency, currency != review.info.currency.code { out.append("the currency is \(review.info.currency.code), not \(currency)") }
        if let total, total != review.info.total {
            out.append("the total is \(review.info.currency.format(review.info.total)) (\(review.info.total)), not \(total)")
        }
        return out
    }

    /// Throws `approval.intent` naming every difference.
    package func check(_ review: PaymentReview) throws {
        let differences = differences(from: review)
        guard differences.isEmpty else {
            throw QRPayError(.approvalIntent, "\(differences.joined(separator: "; ")); nothing was signed")
        }
    }
}

/// Every payment code in one photo, each verified on its own.
package struct PhotoReview: Sendable {
    /// The codes that verified, one per payment, in the order the decoder found them.
    package let reviews: [PaymentReview]
    /// The codes that did not verify (another QR code, a payment not listed, a forged list entry...).
    package let refused: [(symbol: String, error: QRPayError)]

    /// The one payment the user means: the only one, or the `code`th (1-based) of those listed.
    /// More than one without `code`: `approval.ambiguous`, listing them; none: why the first failed.
    package func choose(code: Int? = nil) throws -> PaymentReview {
        if let code {
            guard code >= 1, code <= reviews.count else {
                throw QRPayError(.approvalAmbiguous, "--code \(code): the photo holds \(reviews.count) verified payment code(s); choose 1 to \(reviews.count) as `qrpay-user scan` lists them")
            }
            return reviews[code - 1]
        }
        if reviews.count == 1 { return reviews[0] }
        if reviews.isEmpty {
            if let first = refused.first { throw first.error }
            throw QRPayError(.qrNone, "no QR code found in the image")
        }
        throw QRPayError(.approvalAmbiguous, "the photo holds \(reviews.count) payment codes: \(listing); choose one with --code N (nothing was signed)")
    }

    /// "1: shop 1001 (Coffee House) KRW 12,200, payment P…; 2: …"
    package var listing: String {
        reviews.enumerated().map { i, r in
            "\(i + 1): shop \(r.info.shop) (\(HumanText.escaped(r.shopName))) \(r.info.currency.format(r.info.total)), payment \(r.info.payment)"
        }.joined(separator: "; ")
    }
}

package struct UserClient: Sendable {
    package let layout: SpoolLayout
    let trust: TrustStore
    let list: PaymentList
    let decoder: QRImageDecoder

    package init(spoolRoot: String, trust: TrustStore? = nil) throws {
        layout = SpoolLayout(root: spoolRoot)
        self.trust = try trust ?? TrustStore(spoolRoot: spoolRoot)
        self.list = PaymentList(layout: layout)
        self.decoder = QRImageDecoder()
    }

    /// Decodes the photo and verifies every payment code in it (phase C).
    package func reviewAll(image path: String, now: Date = Date()) throws -> PhotoReview {
        try reviewAll(decoded: try decoder.decode(file: path), now: now)
    }

    package func reviewAll(imageData: Data, now: Date = Date()) throws -> PhotoReview {
        try reviewAll(decoded: try decoder.decode(data: imageData), now: now)
    }

    func reviewAll(decoded: DecodedImage, now: Date) throws -> PhotoReview {
        guard !decoded.symbols.isEmpty else {
            throw QRPayError(.qrNone, "no QR code found in the image")
        }
        var reviews: [PaymentReview] = [], refused: [(String, QRPayError)] = []
        for symbol in decoded.symbols {
            do {
                let review = try review(symbol: symbol, now: now)
                if !reviews.contains(where: { $0.info.shop == review.info.shop && $0.info.payment == review.info.payment }) {
                    reviews.append(review)
                }
            } catch let e as QRPayError {
                // A fault of this system (no CRL, an unreadable spool) is not a verdict on the code.
                if e.isTransient { throw e }
                refused.append((symbol, e))
            }
        }
        return PhotoReview(reviews: reviews, refused: refused)
    }

    /// The one payment in the photo (more than one: `approval.ambiguous`).
    package func review(image path: String, now: Date = Date()) throws -> PaymentReview {
        try reviewAll(image: path, now: now).choose()
    }

    package func review(imageData: Data, now: Date = Date()) throws -> PaymentReview {
        try reviewAll(imageData: imageData, now: now).choose()
    }

    package func review(symbol: String, now: Date = Date()) throws -> PaymentReview {
        let qr = try QRPayload(text: symbol)
        guard let entry = try list.entry(for: qr, trust: trust, at: now) else {
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

    /// The user's credentials, checked before they sign anything: the key opens with `password`
    /// (`pki.password`, 77) and the user's own certificate is valid now and not revoked
    /// (`approval.own-certificate`, 77; no usable CRL: 75).
    package func credentials(user: String, password: Password, now: Date) throws -> Credentials {
        let credentials = try Credentials.load(layout: layout, role: .user, id: user, password: password)
        do {
            try trust.verify(credentials.certificate, role: .user, id: user, at: now)
        } catch let e as QRPayError where !e.isTransient {
            throw QRPayError(.approvalOwnCertificate, "the certificate of user \(user) cannot sign: \(e.message) Nothing was signed; ask the CA for a new certificate.")
        }
        return credentials
    }

    /// Throws `approval.repeated` when this user's own record says it approved `review`'s payment.
    package func checkNotApproved(_ review: PaymentReview, user: String) throws {
        let record = layout.approvedRecord(user: user, shop: review.info.shop, payment: review.info.payment)
        if FileIO.exists(record) {
            throw QRPayError(.approvalRepeated, "user \(user) already approved payment \(review.info.shop)/\(review.info.payment) (\(record)); nothing was signed")
        }
    }

    /// Signs an approval of `review` with the user's key and drops it into the PG's approvals queue
    /// (phase D). A wrong password throws `pki.password` (exit 77) and writes nothing.
    @discardableResult
    package func approve(_ review: PaymentReview, user: String, password: Password, now: Date = Date()) throws -> Data {
        let commit = GroupCommit(context: StageContext(layout: layout))
        let signed = try approve(review, user: user, password: password, now: now, commit: commit)
        try commit.flush()
        return signed
    }

    /// `approve`, staged in `commit`: the user's own certificate is checked, the user's record of
    /// approvals consulted (a second approval of one payment: `approval.repeated`), then the approval
    /// is signed and delivered, and the record of it written last (users/ID/approved/).
    @discardableResult
    package func approve(_ review: PaymentReview, user: String, password: Password, now: Date, commit: GroupCommit) throws -> Data {
        try checkNotApproved(review, user: user)
        let credentials = try credentials(user: user, password: password, now: now)
        // The audience is the PG the CA certified, verified (chain, role, CRL), not whatever cert.pem says.
        let pg = try trust.currentPGCertificate(at: now)
        guard let pgID = pg.id else { throw QRPayError(.pkiPG, "the PG certificate has no id") }
        let approval = try Approval(shop: review.info.shop, payment: review.info.payment, user: user,
                                    total: review.info.total, currency: review.info.currency.code,
                                    document: review.documentHash, audience: pgID, at: now)
        let signed = try JWS.sign(payload: approval.json.serialized(), type: .approval, credentials: credentials)
        try commit.context.ensureQueue(layout.approvals)
        try commit.deliver(signed, to: layout.approvals)
        let record: JSONValue = [
            "shop": .string(review.info.shop), "payment": .string(review.info.payment), "shopName": .string(review.shopName),
            "currency": .string(review.info.currency.code), "total": .int(review.info.total),
            "document": .string(review.documentHash), "approval": .string(try JWS(parsing: signed).documentHash),
            "at": .string(Timestamp.format(now)),
        ]
        try commit.context.ensureDirectory(layout.approvedDirectory(user: user))
        try commit.write(record.serialized(), to: layout.approvedRecord(user: user, shop: review.info.shop, payment: review.info.payment),
                         mode: 0o600, ifExists: .fail, last: true)
        return signed
    }
}
