// PG-signed notices for shops and receipts for users, staged in the same group commit as the state
// change they tell of.
//
//   shops/SHOP/notices/   a queue: one JWS `qrpay-notice+jws` per state change, named
//                         PAYMENT.STATE.json so that a rerun never sends one twice
//   users/USER/receipts/  a queue: one JWS `qrpay-receipt+jws` per state change of a payment the
//                         user approved, named SHOP.PAYMENT.STATE.json
//   shops/SHOP/notices/   also one JWS `qrpay-refusal+jws` per document of the shop the PG refused,
//                         named PAYMENT.refused.HASH.json (HASH: the document's first 16 hash characters)

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
import QRPayLedger

package struct Notifier: Sendable {
    package let layout: SpoolLayout
    package let pg: Credentials

    package init(layout: SpoolLayout, pg: Credentials) {
        self.layout = layout
        self.pg = pg
    }

    /// The notice's name in the shop's queue.
    package static func noticeName(_ record: PaymentRecord) -> String { "\(record.info.payment).\(record.state.rawValue).json" }

    /// The receipt's name in the user's queue.
    package static func receiptName(_ record: PaymentRecord) -> String {
        "\(record.info.shop).\(record.info.payment).\(record.state.rawValue).json"
    }

    /// Stages the notice telling the shop that `record` is now in its state; nothing when it was
    /// sent before (at most once). `firstRecord`: the record is being created in this commit, so no
    /// notice about it can exist yet, and the look for an earlier copy is skipped.
    package func notifyShop(_ record: PaymentRecord, reason: String? = nil, commit: GroupCommit, firstRecord: Bool = false) throws {
        let notice = StateNotice(shop: record.info.shop, payment: record.info.payment, state: record.state,
                                 total: record.info.total, currency: record.info.currency.code, user: record.user,
                                 reason: reason, at: record.history.last?.at ?? commit.context.now())
        try deliverOnce(notice, type: .notice, to: layout.notices(shop: record.info.shop), name: Notifier.noticeName(record),
                        commit: commit, lookFirst: !firstRecord)
    }

    /// Stages the user's receipt for the state `record` is now in (at most once).
    package func receipt(for record: PaymentRecord, user: String, commit: GroupCommit) throws {
        let notice = StateNotice(shop: record.info.shop, payment: record.info.payment, state: record.state,
                                 total: record.info.total, currency: record.info.currency.code, user: user,
                                 at: record.history.last?.at ?? commit.context.now())
        try deliverOnce(notice, type: .receipt, to: layout.receipts(user: user), name: Notifier.receiptName(record), commit: commit)
    }

    /// Tells the shop that signed `data` (a payment document or a cancel) that the PG refused it and
    /// why. Nothing when the document is not one the shop's own key signed (a certificate the CA
    /// issued to that shop, valid or not: a revoked shop still learns why it was refused). Returns the
    /// shop told, or nil.
    @discardableResult
    package func refuse(_ data: Data, because error: QRPayError, trust: TrustStore, context: StageContext) throws -> String? {
        guard let jws = try? JWS(parsing: data) else { return nil }
        let shop: String, payment: String, kind: String
        switch jws.type {
        case DocumentType.payment.rawValue:
            guard let r = try? JSONObjectReader(try JSONValue.parse(jws.payload, what: "payment"), what: "payment"),
                  let s = try? r.string("shop", maxLength: 64), let p = try? r.string("payment", maxLength: 64) else { return nil }
            (shop, payment, kind) = (s, p, "payment")
        case DocumentType.cancel.rawValue:
            guard let c = try? Cancel(payload: jws.payload) else { return nil }
            (shop, payment, kind) = (c.shop, c.payment, "cancel")
        default:
            return nil
        }
        guard Identifier.isValid(shop), Identifier.isValid(payment),
              trust.issuedSigner(of: jws, role: .shop, id: shop) != nil else { return nil }
        let hash = jws.documentHash
        let refusal = Refusal(shop: shop, payment: payment, kind: kind, document: hash, code: error.code.rawValue,
                              reason: error.message, at: context.now())
        let commit = GroupCommit(context: context)
        let queue = layout.notices(shop: shop)
        try commit.context.ensureQueue(queue)
        let signed = try JWS.sign(payload: refusal.json.serialized(), type: .refusal, credentials: pg)
        let name = "\(payment).refused.\(hash.prefix(16)).json"
        try commit.deliver(signed, to: queue, name: name, ifExists: .keep)
        try commit.flush()
        return shop
    }

    func deliverOnce(_ notice: StateNotice, type: DocumentType, to queue: Queue, name: String, commit: GroupCommit,
                     lookFirst: Bool = true) throws {
        let target = queue.newDirectory + "/" + name
        if commit.pendingData(at: target) != nil { return }
        if lookFirst && (FileIO.exists(target) || FileIO.exists(queue.curDirectory + "/" + name)) { return }
        try commit.context.ensureQueue(queue)
        let signed = try JWS.sign(payload: notice.json.serialized(), type: type, credentials: pg)
        try commit.deliver(signed, to: queue, name: name, ifExists: .keep)
    }
}
