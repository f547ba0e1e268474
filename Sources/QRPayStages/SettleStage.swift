// The PG's settle stage (paper, phase E): cancels, settlement and expiry.
//
// Input: ROOT/pg/cancels/new/*  flattened JWS `qrpay-cancel+jws` from shops.
//  - request → cancel at once; accept → cancel while the hold lasts (measured from the acceptance);
//    a cancel after the hold, or of a finished, expired or cancelled payment, is refused.
// Each pass (tick), after the cancels queue is drained:
//  - accept → finish once the hold has passed since the acceptance;
//  - request → expire once its expiry has passed.
// Every change gets a PG-signed notice for the shop (and a receipt for the user who approved).
//
// A cancel and an approval for one payment arriving together: the shop's cancel wins as long as the
// payment has not finished. If the approval is applied first, the payment is `accept` and the cancel,
// applied within the hold, moves it to `cancel`; if the cancel is applied first, the approval is
// refused because the payment is no longer `request`. Cancels are drained before the hold is
// checked in every pass, and a cancel's time is its arrival in the queue, so a cancel that arrived
// before the hold ended still wins, however late the stage runs.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
import QRPayLedger
#if canImport(Glibc)
import Glibc
#endif

package struct SettleStage: SpoolStage {
    package let name = "settle"
    /// The PG stages change the same records: one pass at a time (see SpoolStage.sharedLock).
    package var sharedLock: String? { "pg-state" }
    package let queues: [Queue]
    package let layout: SpoolLayout
    let trust: TrustStore
    let store: PaymentStore
    let notifier: Notifier
    /// How long after acceptance a shop may still cancel.
    package let hold: TimeInterval
    /// Payments changed per group commit in a tick.
    static let tickBatch = 64

    package init(layout: SpoolLayout, pg: Credentials, hold: TimeInterval = 600) throws {
        self.layout = layout
        trust = try TrustStore(spoolRoot: layout.root, remembersCRL: true)
        store = PaymentStore(layout: layout)
        notifier = Notifier(layout: layout, pg: pg)
        self.hold = hold
        queues = [layout.cancels]
    }

    static func acceptedAt(_ record: PaymentRecord) -> Date? {
        record.history.last(where: { $0.state == .accept })?.at
    }

    /// A refused document is told to the shop that signed it (a refusal notice in its notices/).
    package func refused(_ file: ClaimedFile, because error: QRPayError, context: StageContext) throws -> String? {
        guard let data = try? file.read(maxBytes: RegisterStage.maxDocumentBytes) else { return nil }
        return try notifier.refuse(data, because: error, trust: trust, context: context).map { "shop \($0) told" }
    }

    package func process(_ file: ClaimedFile, commit: GroupCommit) throws -> StageOutcome {
        let data = try file.read(maxBytes: 64 * 1024)
        // Judged as of its arrival in the queue (the PG's clock, which the shop cannot set back):
        // a cancel that arrived while the hold lasted wins, however late the stage runs.
        let now = file.arrival
        let jws = try JWS(parsing: data)
        let cancel = try Cancel(payload: jws.payload)
        _ = try trust.verify(jws, type: .cancel, role: .shop, id: cancel.shop, at: now)
        guard abs(cancel.at.timeIntervalSince(now)) <= ApproveStage.allowedClockSkew else {
            throw QRPayError(.cancelTime, "the cancel is dated \(Timestamp.format(cancel.at)) but arrived at \(Timestamp.format(now)): more than \(Int(ApproveStage.allowedClockSkew / 60)) minutes apart")
        }
        guard let record = try store.load(shop: cancel.shop, payment: cancel.payment, commit: commit) else {
            if ApproveStage.paymentMayStillArrive(layout: store.layout, arrival: file.arrival) {
                throw QRPayError(.cancelPaymentPending, "payment \(cancel.shop)/\(cancel.payment) is not registered yet and the PG's inbox still holds documents: the cancel waits for it")
            }
            throw QRPayError(.cancelUnknownPayment, "payment \(cancel.shop)/\(cancel.payment) is not registered")
        }
        let hash = jws.documentHash
        // A file recovered after a crash whose cancel the journal already holds is finished as begun,
        // at the time the journal says.
        let begun = file.recovered ? store.journal.entry(shop: cancel.shop, payment: cancel.payment, to: .cancel, evidence: hash) : nil
        // A cancel refused for the record's state needs the journal to hold that state (a record
        // edited by hand does not refuse it: ledger.mismatch, it waits).
        if record.state != .request {
            let alreadyThis = record.state == .cancel && record.history.last?.evidence["documentHash"]?.stringValue == hash
            let accepted = SettleStage.acceptedAt(record)
            let inHold = record.state == .accept && accepted.map { Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down)) <= $0 + hold } ?? true
            if !alreadyThis && !inHold && !store.isStaged(shop: cancel.shop, payment: cancel.payment, in: commit) {
                try store.requireJournalHolds(record, toRefuse: commit.context.now())
            }
        }
        switch record.state {
        case .cancel:
            if record.history.last?.evidence["documentHash"]?.stringValue == hash {
                if !store.isStaged(shop: cancel.shop, payment: cancel.payment, in: commit) {
                    try store.reindexFromJournal(record, now: commit.context.now(), commit: commit)
                    try outputs(record, reason: cancel.reason, commit: commit)
                }
                return .done("\(cancel.shop)/\(cancel.payment) already cancelled by this request; nothing changed")
            }
            throw QRPayError(.cancelNotOpen, "payment \(cancel.shop)/\(cancel.payment) is already cancelled")
        case .finish:
            throw QRPayError(.cancelFinished, "payment \(cancel.shop)/\(cancel.payment) is finished; it can no longer be cancelled")
        case .expire:
            throw QRPayError(.cancelNotOpen, "payment \(cancel.shop)/\(cancel.payment) has expired; there is nothing to cancel")
        case .accept:
            // History times are whole seconds: a cancel arriving within the second the hold ends wins.
            let arrived = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
            if let accepted = SettleStage.acceptedAt(record), arrived > accepted + hold, begun == nil {
                throw QRPayError(.cancelTooLate,
                                 "payment \(cancel.shop)/\(cancel.payment) was accepted at \(Timestamp.format(accepted)); the hold of \(Int(hold)) s has ended")
            }
        case .request:
            break
        }
        let cancelled = try store.transition(
            record, to: .cancel, at: begun?.at ?? commit.context.now(),
            evidence: ["type": "cancel", "reason": .string(cancel.reason), "documentHash": .string(hash),
                       "document": (try? JSONValue.parse(data)) ?? .null],
            evidenceHash: hash, commit: commit)
        try outputs(cancelled, reason: cancel.reason, commit: commit)
        return .done("\(cancel.shop)/\(cancel.payment) cancel (was \(record.state.rawValue))")
    }

    /// The shop or the approving user whose certificate was revoked at or before `acceptedAt`, if any.
    func revokedParty(_ record: PaymentRecord, acceptedAt: Date) throws -> (party: String, at: Date)? {
        if let fingerprint = record.signer["fingerprint"]?.stringValue,
           let revoked = try trust.revocation(of: try trust.certificate(fingerprint: fingerprint)), revoked <= acceptedAt {
            return ("shop \(record.info.shop)", revoked)
        }
        if let entry = record.history.last(where: { $0.state == .accept }), let document = entry.evidence["document"],
           let jws = try? JWS(parsing: document.serialized()), let signer = try? trust.certificate(fingerprint: jws.fingerprint),
           let revoked = try trust.revocation(of: signer), revoked <= acceptedAt {
            return ("user \(record.user ?? signer.id ?? "?")", revoked)
        }
        return nil
    }

    func outputs(_ record: PaymentRecord, reason: String? = nil, commit: GroupCommit) throws {
        try store.publish(record, signedBy: notifier.pg, commit: commit)
        try notifier.notifyShop(record, reason: reason, commit: commit)
        if let user = record.user { try notifier.receipt(for: record, user: user, commit: commit) }
    }

    /// Whether a pass at `now` would find anything to do: a file in the cancels queue (new, claimed
    /// or deferred) or an entry of the due index that is due. Looks only at what a pass would read
    /// first; an idle `--once` run uses it to exit without unlocking the PG's key (scrypt: the
    /// better part of a second and 128 MiB, every minute).
    package static func hasWork(layout: SpoolLayout, hold: TimeInterval, now: Date) throws -> Bool {
        if layout.cancels.holdsWork() { return true }
        let seconds = DueIndex.seconds(now)
        for kind in [DueKind.accepted, .expires] {
            let cutoff = kind == .accepted ? seconds - Int64(hold) : seconds
            guard FileIO.exists(layout.dueDirectory(kind)) else { continue }
            if try !DueIndex.due(kind, by: cutoff, layout: layout).isEmpty { return true }
        }
        return false
    }

    /// Finishes accepted payments whose hold has passed and expires stale requests: only the entries
    /// of the due index that are due are read (DueIndex), in group commits of `tickBatch`. A payment
    /// for which a cancel is waiting anywhere in the cancels queue (new, claimed, deferred for a fault
    /// of the system, held by an operator) is not finished, nor one with an approval waiting expired:
    /// that document decides, as of its arrival, when it can be read.
    package func tick(context: StageContext) throws -> TickReport {
        let now = context.now()
        let seconds = DueIndex.seconds(now)
        var report = TickReport()
        var waiting: Set<String>?
        for kind in [DueKind.accepted, .expires] {
            let cutoff = kind == .accepted ? seconds - Int64(hold) : seconds
            let due = try DueIndex.due(kind, by: cutoff, layout: layout)
            if !due.isEmpty { waiting = kind == .accepted ? self.waiting(in: layout.cancels, type: .cancel) : self.waiting(in: layout.approvals, type: .approval) }
            for start in stride(from: 0, to: due.count, by: SettleStage.tickBatch) {
                let commit = GroupCommit(context: context)
                var lines: [String] = [], changed = 0
                for entry in due[start..<min(start + SettleStage.tickBatch, due.count)] {
                    if waiting?.contains(entry.shop + "/" + entry.payment) == true {
                        lines.append("\(entry.shop)/\(entry.payment) not \(kind == .accepted ? "finished: a cancel" : "expired: an approval") for it is waiting in \(kind == .accepted ? "pg/cancels" : "pg/approvals")")
                        continue
                    }
                    let settled: Settled
                    do { settled = try settle(entry, now: now, commit: commit) } catch let e as QRPayError where e.code == .ledgerUnfinished {
                        // Nothing was staged for it (the check comes first): the others go on.
                        settled = .deferred("\(entry.shop)/\(entry.payment) deferred [\(e.code)]: \(e.message)")
                    }
                    switch settled {
                    case .unchanged: break
                    case .changed(let line): lines.append(line); changed += 1
                    case .deferred(let line): lines.append(line); report.deferred += 1
                    }
                }
                try commit.flush()
                report.lines += lines
                report.changed += changed
            }
            DueIndex.removeEmptyMinutes(kind, before: cutoff, layout: layout)
        }
        return report
    }

    /// "shop/payment" of every cancel (or approval) waiting in its queue (new, claimed, deferred for a
    /// fault of the system, held), from the documents' payloads, not verified: a document that cannot
    /// be verified yet, for a missing CRL, holds the payment back until it can. A cancel waiting keeps
    /// a payment from finishing, an approval from expiring: each is judged as of its arrival, which
    /// came first. Work proportional to what waits there, which is nothing in the usual pass.
    func waiting(in queue: Queue, type: DocumentType) -> Set<String> {
        var out = Set<String>()
        for dir in [queue.newDirectory, queue.curDirectory, queue.deferredDirectory, queue.holdDirectory] {
            for name in (try? FileIO.listDirectory(dir)) ?? [] where SpoolName.isValid(name) {
                guard let data = try? FileIO.read(dir + "/" + name, maxBytes: 64 * 1024), let jws = try? JWS(parsing: data),
                      jws.type == type.rawValue else { continue }
                if type == .cancel, let cancel = try? Cancel(payload: jws.payload) { out.insert(cancel.shop + "/" + cancel.payment) }
                if type == .approval, let approval = try? Approval(payload: jws.payload) { out.insert(approval.shop + "/" + approval.payment) }
            }
        }
        return out
    }

    /// Stages what is due for one entry; a log line when the payment changed. A stale entry (its
    /// record has moved on, or was never written) is removed, and the record's indexes rebuilt,
    /// when the journal holds the record's state; a record the journal does not hold (edited by
    /// hand) is left alone with its entry: `ledger.mismatch`, deferred.
    func settle(_ entry: DueEntry, now: Date, commit: GroupCommit) throws -> Settled {
        let entryPath = DueIndex.path(entry, layout: layout)
        guard let record = try store.load(shop: entry.shop, payment: entry.payment, commit: commit) else {
            commit.remove(entryPath)
            return .unchanged
        }
        guard record.state == entry.kind.state, DueIndex.entry(for: record) == entry else {
            do { try store.reindexFromJournal(record, now: now, commit: commit) } catch let e as QRPayError where e.code == .ledgerMismatch {
                return .deferred("\(entry.shop)/\(entry.payment) deferred [\(e.code)]: \(e.message)")
            }
            commit.remove(entryPath)
            return .unchanged
        }
        switch entry.kind {
        case .accepted:
            guard let accepted = SettleStage.acceptedAt(record), now >= accepted + hold else { return .unchanged }
            // A certificate revoked at or before the acceptance (the PG had an older CRL then) voids
            // the payment: cancelled with the reason instead of finished. One revoked later does not.
            if let revoked = try revokedParty(record, acceptedAt: accepted) {
                let evidence: JSONValue = ["type": "revoked", "party": .string(revoked.party), "revokedAt": .string(Timestamp.format(revoked.at)),
                                           "acceptedAt": .string(Timestamp.format(accepted))]
                let cancelled = try store.transition(record, to: .cancel, at: now, evidence: evidence, commit: commit)
                let reason = "the certificate of \(revoked.party) was revoked at \(Timestamp.format(revoked.at)), before the payment was accepted"
                try outputs(cancelled, reason: reason, commit: commit)
                return .changed("\(entry.shop)/\(entry.payment) cancel: \(reason)")
            }
            let evidence: JSONValue = ["type": "hold-elapsed", "acceptedAt": .string(Timestamp.format(accepted)),
                                       "holdSeconds": .int(Int64(hold))]
            let finished = try store.transition(record, to: .finish, at: now, evidence: evidence, commit: commit)
            try outputs(finished, commit: commit)
            return .changed("\(entry.shop)/\(entry.payment) finish \(record.info.currency.format(record.info.total))")
        case .expires:
            guard now >= record.info.expires else { return .unchanged }
            let evidence: JSONValue = ["type": "expired", "expires": .string(Timestamp.format(record.info.expires))]
            let expired = try store.transition(record, to: .expire, at: now, evidence: evidence, commit: commit)
            try outputs(expired, commit: commit)
            return .changed("\(entry.shop)/\(entry.payment) expire")
        }
    }

    /// What `settle(_:now:commit:)` did with one due entry.
    enum Settled {
        /// Nothing to log (not due yet, or a stale entry cleared).
        case unchanged
        /// The payment changed: the log line.
        case changed(String)
        /// Left for later for a fault of this system (`ledger.mismatch`, `ledger.unfinished`): the log line.
        case deferred(String)
    }
}
