// PG-signed notices for shops and receipts for users.
//
//   ROOT/shops/<shop>/notices/   a queue (tmp/, new/): one JWS `qrpay-notice+jws` per state change,
//                                named <payment>.<state>.json so that a rerun never sends one twice
//   ROOT/users/<user>/receipts/  a queue: one JWS `qrpay-receipt+jws` when the user's approval is accepted

import Foundation

public struct Notifier: Sendable {
    public let spoolRoot: String
    public let pg: Credentials

    public init(spoolRoot: String, pg: Credentials) {
        self.spoolRoot = spoolRoot
        self.pg = pg
    }

    public static func noticeQueue(spoolRoot: String, shop: String) -> Queue {
        Queue(path: SpoolLayout.shopDirectory(spoolRoot, shop: shop) + "/notices")
    }

    public static func receiptQueue(spoolRoot: String, user: String) -> Queue {
        Queue(path: SpoolLayout.userDirectory(spoolRoot, user: user) + "/receipts")
    }

    /// Tells the shop that `record` is now in its state. Idempotent.
    public func notifyShop(_ record: PaymentRecord, reason: String? = nil) throws {
        let notice = StateNotice(shop: record.info.shop, payment: record.info.payment, state: record.state,
                                 total: record.info.total, currency: record.info.currency.code, user: record.user,
                                 reason: reason, at: record.history.last?.at ?? Date())
        try deliverOnce(notice, type: .notice, to: Notifier.noticeQueue(spoolRoot: spoolRoot, shop: record.info.shop),
                        name: "\(record.info.payment).\(record.state.rawValue).json")
    }

    /// Gives the user a receipt for an accepted approval. Idempotent.
    public func receipt(for record: PaymentRecord, user: String) throws {
        let notice = StateNotice(shop: record.info.shop, payment: record.info.payment, state: record.state,
                                 total: record.info.total, currency: record.info.currency.code, user: user,
                                 at: record.history.last?.at ?? Date())
        try deliverOnce(notice, type: .receipt, to: Notifier.receiptQueue(spoolRoot: spoolRoot, user: user),
                        name: "\(record.info.shop).\(record.info.payment).\(record.state.rawValue).json")
    }

    /// `notifyShop` through a group commit. `firstRecord`: the record is being created in this commit,
    /// so no notice about it can exist yet (a commit links the record before its notice), and the
    /// look for an earlier copy is skipped.
    public func notifyShop(_ record: PaymentRecord, reason: String? = nil, commit: GroupCommit, firstRecord: Bool = false) throws {
        let notice = StateNotice(shop: record.info.shop, payment: record.info.payment, state: record.state,
                                 total: record.info.total, currency: record.info.currency.code, user: record.user,
                                 reason: reason, at: record.history.last?.at ?? Date())
        try deliverOnce(notice, type: .notice, to: Notifier.noticeQueue(spoolRoot: spoolRoot, shop: record.info.shop),
                        name: "\(record.info.payment).\(record.state.rawValue).json", commit: commit, lookFirst: !firstRecord)
    }

    /// `receipt` through a group commit.
    public func receipt(for record: PaymentRecord, user: String, commit: GroupCommit) throws {
        let notice = StateNotice(shop: record.info.shop, payment: record.info.payment, state: record.state,
                                 total: record.info.total, currency: record.info.currency.code, user: user,
                                 at: record.history.last?.at ?? Date())
        try deliverOnce(notice, type: .receipt, to: Notifier.receiptQueue(spoolRoot: spoolRoot, user: user),
                        name: "\(record.info.shop).\(record.info.payment).\(record.state.rawValue).json", commit: commit)
    }

    func deliverOnce(_ notice: StateNotice, type: DocumentType, to queue: Queue, name: String, commit: GroupCommit,
                     lookFirst: Bool = true) throws {
        let target = queue.newDirectory + "/" + name
        if commit.pendingData(at: target) != nil { return }
        if lookFirst && (FileIO.exists(target) || FileIO.exists(queue.curDirectory + "/" + name)) { return }
        try DirectoryCache.shared.ensure(queue)
        let signed = try JWS.sign(payload: notice.json.serialized(), type: type, key: pg.key, certificate: pg.certificate)
        try commit.deliver(signed, to: queue, name: name, skipIfExists: true)
    }

    func deliverOnce(_ notice: StateNotice, type: DocumentType, to queue: Queue, name: String) throws {
        if FileIO.exists(queue.path + "/new/" + name) || FileIO.exists(queue.path + "/cur/" + name) { return }
        try queue.create()
        let signed = try JWS.sign(payload: notice.json.serialized(), type: type, key: pg.key, certificate: pg.certificate)
        do {
            try queue.deliver(signed, name: name)
        } catch let e as QRPayError where e.code == "io.exists" {
            return
        }
    }
}

extension JWS {
    /// base64url SHA-256 of the document's compact serialization (protected.payload.signature):
    /// what approvals bind to, independent of JSON whitespace.
    public var documentHash: String {
        var compact = signingInput
        compact.append(contentsOf: Array(".".utf8))
        compact.append(contentsOf: Array(encodedSignature.utf8))
        return Base64URL.encode(Digest.sha256(compact))
    }
}
