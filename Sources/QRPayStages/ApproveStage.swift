// The PG's approve stage (paper, phases D and E): a user's signed approval moves a payment from
// `request` to `accept`, with a notice for the shop and a receipt for the user.
//
// Input:  ROOT/pg/approvals/new/*  flattened JWS `qrpay-approval+jws` from users.
// Checks: the user's certificate (role user, id = the approval's user, chain, CRL); the PG is the
//         audience; the payment exists, is `request` and unexpired; total, currency and the hash of
//         the shop's signed document match; one approval per payment (another, or a copy after the
//         payment moved on, is refused as a replay; the very same approval again is a no-op).

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
import QRPayLedger

package struct ApproveStage: SpoolStage {
    package let name = "approve"
    /// The PG stages change the same records: one pass at a time (see SpoolStage.sharedLock).
    package var sharedLock: String? { "pg-state" }
    package let queues: [Queue]
    /// Approvals per group commit and batches at once (thread-safe as RegisterStage).
    package let tuning: StageTuning
    let trust: TrustStore
    let store: PaymentStore
    let notifier: Notifier
    let pgID: String
    /// How far an approval's own time may be from its arrival (a phone's clock, a slow network).
    package static let allowedClockSkew: TimeInterval = 900
    /// How long an approval or cancel of a payment not (yet) registered waits for it while the
    /// inbox still holds documents.
    package static let unknownPaymentGrace: TimeInterval = 86400

    static func paymentMayStillArrive(layout: SpoolLayout, arrival: Date) -> Bool {
        Date().timeIntervalSince(arrival) < unknownPaymentGrace && layout.inbox.holdsWork()
    }

    package init(layout: SpoolLayout, pg: Credentials, tuning: StageTuning = StageTuning()) throws {
        trust = try TrustStore(spoolRoot: layout.root, remembersCRL: true)
        store = PaymentStore(layout: layout)
        notifier = Notifier(layout: layout, pg: pg)
        guard let id = pg.certificate.id else { throw QRPayError(.pkiPG, "the PG certificate has no id") }
        pgID = id
        self.tuning = tuning
        queues = [layout.approvals]
    }

    package func process(_ file: ClaimedFile, commit: GroupCommit) throws -> StageOutcome {
        let data = try file.read(maxBytes: 64 * 1024)
        // Judged as of its arrival (the PG's clock): an approval that arrived before the payment
        // expired counts, however late the stage runs; the same rule as for cancels.
        let now = file.arrival
        let jws = try JWS(parsing: data)
        let approval = try Approval(payload: jws.payload)
        _ = try trust.verify(jws, type: .approval, role: .user, id: approval.user, at: now)
        guard abs(approval.at.timeIntervalSince(now)) <= ApproveStage.allowedClockSkew else {
            throw QRPayError(.approvalTime, "the approval is dated \(Timestamp.format(approval.at)) but arrived at \(Timestamp.format(now)): more than \(Int(ApproveStage.allowedClockSkew / 60)) minutes apart")
        }
        guard approval.audience == pgID else {
            throw QRPayError(.approvalAudience, "the approval is addressed to PG \(approval.audience), not to this PG (\(pgID))")
        }
        guard let record = try store.load(shop: approval.shop, payment: approval.payment, commit: commit) else {
            // Queues do not keep order between them: the payment may wait in the inbox (deferred
            // by a fault of this system) while its approval is here. Wait for it, a day at most.
            if ApproveStage.paymentMayStillArrive(layout: store.layout, arrival: file.arrival) {
                throw QRPayError(.approvalPaymentPending, "payment \(approval.shop)/\(approval.payment) is not registered yet and the PG's inbox still holds documents: the approval waits for it")
            }
            throw QRPayError(.approvalUnknownPayment, "payment \(approval.shop)/\(approval.payment) is not registered")
        }
        let approvalHash = jws.documentHash
        if record.state != .request {
            if let entry = record.history.first(where: { $0.state == .accept }),
               entry.evidence["documentHash"]?.stringValue == approvalHash {
                if !store.isStaged(shop: approval.shop, payment: approval.payment, in: commit) {
                    try store.reindexFromJournal(record, now: commit.context.now(), commit: commit)
                    try finishOutputs(record, user: approval.user, commit: commit)
                }
                return .done("\(approval.shop)/\(approval.payment) already accepted with this approval; nothing changed")
            }
            if !store.isStaged(shop: approval.shop, payment: approval.payment, in: commit) {
                try store.requireJournalHolds(record, toRefuse: commit.context.now())
            }
            throw QRPayError(.approvalReplay, "payment \(approval.shop)/\(approval.payment) is already \(record.state.rawValue); one approval per payment (replay refused)")
        }
        // A file recovered after a crash whose acceptance the journal already holds is finished as it
        // was begun: the journal decided, and nothing judged anew (the expiry, a revocation since)
        // contradicts it. Until then no other change of the payment is made (`ledger.unfinished`).
        let begun = file.recovered ? store.journal.entry(shop: record.info.shop, payment: record.info.payment,
                                                         to: .accept, evidence: approvalHash) : nil
        guard record.info.expires > now || begun != nil else {
            throw QRPayError(.approvalExpired, "payment \(approval.shop)/\(approval.payment) expired at \(Timestamp.format(record.info.expires))")
        }
        guard approval.currency == record.info.currency.code, approval.total == record.info.total else {
            throw QRPayError(.approvalTotalMismatch, "the approval is for \(Currency.format(code: approval.currency, minor: approval.total)) but the payment is \(record.info.currency.format(record.info.total))")
        }
        guard approval.document == record.documentHash else {
            throw QRPayError(.approvalDocumentMismatch, "the approval was made for another version of the shop's payment document")
        }
        // The shop must still stand behind its payment: a shop certificate revoked by then stops it.
        if begun == nil, let fingerprint = record.signer["fingerprint"]?.stringValue {
            let shopCertificate = try trust.certificate(fingerprint: fingerprint)
            do { try trust.verify(shopCertificate, role: .shop, id: record.info.shop, at: now) } catch let e as QRPayError where e.code == .pkiRevoked {
                throw QRPayError(.pkiRevoked, "shop \(record.info.shop)'s certificate was revoked: its payment \(record.info.payment) can no longer be approved (\(e.message))")
            }
        }
        let accepted = try store.transition(
            // Accepted now: the shop's hold to cancel runs from when the PG accepted the payment (a
            // rerun: when the journal says it did).
            record, to: .accept, at: begun?.at ?? commit.context.now(),
            evidence: ["type": "approval", "user": .string(approval.user), "documentHash": .string(approvalHash),
                       "document": (try? JSONValue.parse(data)) ?? .null],
            evidenceHash: approvalHash, user: approval.user, commit: commit)
        try finishOutputs(accepted, user: approval.user, commit: commit)
        return .done("\(approval.shop)/\(approval.payment) accept by user \(approval.user) \(record.info.currency.format(record.info.total))")
    }

    func finishOutputs(_ record: PaymentRecord, user: String, commit: GroupCommit) throws {
        try store.publish(record, signedBy: notifier.pg, commit: commit)
        try notifier.notifyShop(record, commit: commit)
        try notifier.receipt(for: record, user: user, commit: commit)
    }
}
