// The payment-information list as its readers see it (paper, phase C): one entry a payment, published
// by the PG's register and state changes under pg/list/XX/TOKEN.json and signed by the PG
// (`qrpay-list+jws`). A user's client finds a scanned code's entry by the token of its signature and
// believes it only once the PG's certificate vouches for it. The PG writes entries through its
// ledger (PaymentStore.publish); reading needs no ledger.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI

package struct PaymentList: Sendable {
    package let layout: SpoolLayout

    package init(layout: SpoolLayout) { self.layout = layout }

    /// The list entry for a scanned QR code, or nil: verified as the PG's (`qrpay-list+jws`, the PG's
    /// certificate: chain, role pg, CRL) by `trust` before anything in it is read.
    package func entry(for qr: QRPayload, trust: TrustStore, at now: Date) throws -> (state: PaymentState, document: Data)? {
        guard let data = try FileIO.readIfExists(layout.listPath(token: qr.listToken), maxBytes: 256 * 1024) else { return nil }
        let jws: JWS
        do { jws = try JWS(parsing: data) } catch let e as QRPayError {
            throw QRPayError(.listMalformed, "payment-information list entry for \(qr.shop)/\(qr.payment) is not a signed document: \(e.message)")
        }
        let verified: VerifiedDocument
        do { verified = try trust.verify(jws, type: .list, role: .pg, id: nil, at: now) } catch let e as QRPayError where !e.isTransient {
            throw QRPayError(.listUnsigned, "payment-information list entry for \(qr.shop)/\(qr.payment) is not vouched for by the PG: \(e.message)")
        }
        let r = try JSONObjectReader(try JSONValue.parse(verified.payload, options: .init(maxBytes: 256 * 1024), what: "list entry"), what: "list entry")
        guard let state = PaymentState(rawValue: try r.string("state")) else {
            throw QRPayError(.listMalformed, "payment-information list entry has an unknown state")
        }
        guard try r.string("shop") == qr.shop, try r.string("payment") == qr.payment else {
            throw QRPayError(.listMismatch, "payment-information list entry is for another payment than the QR code")
        }
        return (state, try r.value("document").serialized())
    }
}
