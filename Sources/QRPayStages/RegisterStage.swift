// The PG's register stage (paper, phase B): signed payment information in, a verified `request`,
// its entry on the payment-information list, the QR PNG for the shop's display and a notice out.
//
// Input:  ROOT/pg/inbox/new/*  flattened JWS `qrpay-payment+jws` from shops.
// Output: ROOT/pg/payments/…/<payment>.json (state request), ROOT/pg/list/…, ROOT/shops/<shop>/qr/<payment>.png,
//         ROOT/shops/<shop>/notices/new/<payment>.request.json; journal entry.
// Refused (quarantined with the reason): malformed or oversized JSON, a bad or role-confused
// signature, an uncertified/revoked/expired shop, a total that is not the sum of its items, unknown
// currency, unsafe ids, a past expiry, and a payment number the shop already used for other content.
// Deferred: a missing or stale CRL, a full disk.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayImaging
import QRPayPayments
import QRPayLedger

package struct RegisterStage: SpoolStage {
    package let name = "register"
    /// The PG stages change the same records: one pass at a time (see SpoolStage.sharedLock).
    package var sharedLock: String? { "pg-state" }
    package let queues: [Queue]
    package let layout: SpoolLayout
    /// Files per group commit: records, markers, list entries, QR PNGs and notices of up to this many
    /// payments are made durable together, with one journal append (see GroupCommit); batches at once
    /// (the stage is thread-safe: TrustStore locks, GroupCommit keys keep two batches off one
    /// payment, the journal serializes appends with flock).
    package let tuning: StageTuning
    let trust: TrustStore
    let store: PaymentStore
    let notifier: Notifier
    /// The largest payment document accepted.
    package static let maxDocumentBytes = DocumentLimits.maxBytes
    /// How far a shop's clock may run ahead of the PG's.
    package static let allowedClockSkew: TimeInterval = 300

    package init(layout: SpoolLayout, pg: Credentials, tuning: StageTuning = StageTuning()) throws {
        self.layout = layout
        self.trust = try TrustStore(spoolRoot: layout.root, remembersCRL: true)
        self.store = PaymentStore(layout: layout)
        self.notifier = Notifier(layout: layout, pg: pg)
        self.tuning = tuning
        self.queues = [layout.inbox]
    }

    /// A refused document is told to the shop that signed it (a refusal notice in its notices/).
    package func refused(_ file: ClaimedFile, because error: QRPayError, context: StageContext) throws -> String? {
        guard let data = try? file.read(maxBytes: RegisterStage.maxDocumentBytes) else { return nil }
        return try notifier.refuse(data, because: error, trust: trust, context: context).map { "shop \($0) told" }
    }

    package func process(_ file: ClaimedFile, commit: GroupCommit) throws -> StageOutcome {
        let data = try file.read(maxBytes: RegisterStage.maxDocumentBytes)
        // Judged as of its arrival (the PG's clock), however late the stage runs: a rerun after a
        // crash judges it exactly as the run that crashed.
        let now = file.arrival
        let jws = try JWS(parsing: data)
        let info = try PaymentInfo(payload: jws.payload)
        _ = try trust.verify(jws, type: .payment, role: .shop, id: info.shop, at: now)
        guard info.created <= now + RegisterStage.allowedClockSkew else {
            throw QRPayError(.paymentFuture, "payment \(info.shop)/\(info.payment) is created \(Timestamp.format(info.created)), in the future")
        }

        if let existing = try store.load(shop: info.shop, payment: info.payment, commit: commit) {
            guard existing.info == info else {
                throw QRPayError(.paymentReplay, "payment number \(info.payment) of shop \(info.shop) is already registered with other content (replay)")
            }
            if store.isStaged(shop: info.shop, payment: info.payment, in: commit) {
                return .done("\(info.shop)/\(info.payment) already registered in this batch; nothing changed")
            }
            // The same payment again: finish whatever a crash may have left undone, change nothing.
            try completeOutputs(existing, commit: commit)
            return .done("\(info.shop)/\(info.payment) already registered (\(existing.state.rawValue)); nothing changed")
        }
        guard info.expires > now || (file.recovered && store.journal.contains(shop: info.shop, payment: info.payment, to: .request,
                                                                               evidence: jws.documentHash)) else {
            throw QRPayError(.paymentExpired, "payment \(info.shop)/\(info.payment) expired at \(Timestamp.format(info.expires))")
        }

        let qr = try QRPayload(shop: info.shop, payment: info.payment, signature: jws.signature)
        let qrPath = try writeQR(qr, commit: commit)
        let signer = try trust.certificate(fingerprint: jws.fingerprint)
        var record = PaymentRecord(
            info: info, state: .request, document: data, documentHash: jws.documentHash,
            signature: Base64URL.encode(jws.signature),
            signer: PaymentRecord.signer(signer),
            qrPath: layout.relative(qrPath),
            history: [HistoryEntry(state: .request, at: commit.context.now(),
                                   evidence: ["type": "payment", "documentHash": .string(jws.documentHash),
                                              "verifiedAt": .string(Timestamp.format(now))])])
        record.parsedDocument = jws.object
        try store.create(record, commit: commit)
        try store.publish(record, document: jws.object, signedBy: notifier.pg, commit: commit)
        try notifier.notifyShop(record, commit: commit, firstRecord: true)
        return .done("\(info.shop)/\(info.payment) request \(info.currency.format(info.total))")
    }

    func writeQR(_ qr: QRPayload, commit: GroupCommit) throws -> String {
        let path = layout.qrPath(shop: qr.shop, payment: qr.payment)
        try commit.context.ensureDirectory(layout.qrDirectory(shop: qr.shop))
        try commit.write(try QRCodeImage.png(text: qr.text), to: path, mode: 0o640, ifExists: .replace)
        return path
    }

    func completeOutputs(_ record: PaymentRecord, commit: GroupCommit) throws {
        if !FileIO.exists(layout.absolute(record.qrPath)), let sig = Base64URL.decode(record.signature) {
            _ = try writeQR(try QRPayload(shop: record.info.shop, payment: record.info.payment, signature: sig), commit: commit)
        }
        try store.reindexFromJournal(record, now: commit.context.now(), commit: commit)
        try store.publish(record, signedBy: notifier.pg, commit: commit)
        try notifier.notifyShop(record, commit: commit)
    }
}
