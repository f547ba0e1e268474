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
#if canImport(Glibc)
import Glibc
#endif

public struct SettleStage: SpoolStage {
    public let name = "settle"
    /// The PG stages change the same records: one pass at a time (see SpoolStage.sharedLock).
    public var sharedLock: String? { "pg-state" }
    public let queues: [Queue]
    public let layout: SpoolLayout
    let trust: TrustStore
    let store: PaymentStore
    let notifier: Notifier
    /// How long after acceptance a shop may still cancel.
    public let hold: TimeInterval
    /// Payments changed per group commit in a tick.
    static let tickBatch = 64

    public init(layout: SpoolLayout, pg: Credentials, hold: TimeInterval = 600) throws {
        self.layout = layout
        trust = try TrustStore(spoolRoot: layout.root)
        store = PaymentStore(layout: layout)
        notifier = Notifier(layout: layout, pg: pg)
        self.hold = hold
        queues = [layout.cancels]
    }

    static func arrival(of file: ClaimedFile) -> Date? {
        var st = stat()
        guard lstat(file.path, &st) == 0 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec) + TimeInterval(st.st_mtim.tv_nsec) / 1e9)
    }

    static func acceptedAt(_ record: PaymentRecord) -> Date? {
        record.history.last(where: { $0.state == .accept })?.at
    }

    public func process(_ file: ClaimedFile, commit: GroupCommit) throws -> StageOutcome {
        let data = try file.read(maxBytes: 64 * 1024)
        let now = commit.context.now()
        let jws = try JWS(parsing: data)
        let cancel = try Cancel(payload: jws.payload)
        _ = try trust.verify(jws, type: .cancel, role: .shop, id: cancel.shop, at: now)
        guard let record = try store.load(shop: cancel.shop, payment: cancel.payment, commit: commit) else {
            throw QRPayError(.cancelUnknownPayment, "payment \(cancel.shop)/\(cancel.payment) is not registered")
        }
        let hash = jws.documentHash
        switch record.state {
        case .cancel:
            if record.history.last?.evidence["documentHash"]?.stringValue == hash {
                if !store.isStaged(shop: cancel.shop, payment: cancel.payment, in: commit) {
                    try store.reindex(record, commit: commit)
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
            // The hold is judged at the cancel's arrival in the queue (its file time, the PG's clock),
            // so a cancel that was waiting while the hold ended still wins.
            // History times are whole seconds: a cancel arriving within the second the hold ends wins.
            let arrived = Date(timeIntervalSince1970: min(now, SettleStage.arrival(of: file) ?? now).timeIntervalSince1970.rounded(.down))
            if let accepted = SettleStage.acceptedAt(record), arrived > accepted + hold {
                throw QRPayError(.cancelTooLate,
                                 "payment \(cancel.shop)/\(cancel.payment) was accepted at \(Timestamp.format(accepted)); the hold of \(Int(hold)) s has ended")
            }
        case .request:
            break
        }
        let cancelled = try store.transition(
            record, to: .cancel, at: now,
            evidence: ["type": "cancel", "reason": .string(cancel.reason), "documentHash": .string(hash),
                       "document": (try? JSONValue.parse(data)) ?? .null],
            evidenceDocument: data, commit: commit)
        try outputs(cancelled, reason: cancel.reason, commit: commit)
        return .done("\(cancel.shop)/\(cancel.payment) cancel (was \(record.state.rawValue))")
    }

    func outputs(_ record: PaymentRecord, reason: String? = nil, commit: GroupCommit) throws {
        try store.publish(record, commit: commit)
        try notifier.notifyShop(record, reason: reason, commit: commit)
        if let user = record.user { try notifier.receipt(for: record, user: user, commit: commit) }
    }

    /// Finishes accepted payments whose hold has passed and expires stale requests: only the entries
    /// of the due index that are due are read (DueIndex), in group commits of `tickBatch`.
    public func tick(context: StageContext) throws -> [String] {
        let now = context.now()
        let seconds = DueIndex.seconds(now)
        var lines: [String] = []
        for kind in [DueKind.accepted, .expires] {
            let cutoff = kind == .accepted ? seconds - Int64(hold) : seconds
            let due = try DueIndex.due(kind, by: cutoff, layout: layout)
            for start in stride(from: 0, to: due.count, by: SettleStage.tickBatch) {
                let commit = GroupCommit(context: context)
                var changed: [String] = []
                for entry in due[start..<min(start + SettleStage.tickBatch, due.count)] {
                    if let line = try settle(entry, now: now, commit: commit) { changed.append(line) }
                }
                try commit.flush()
                lines += changed
            }
            DueIndex.removeEmptyMinutes(kind, before: cutoff, layout: layout)
        }
        return lines
    }

    /// Stages what is due for one entry; a log line when the payment changed. A stale entry (its
    /// record has moved on, or was never written) is removed.
    func settle(_ entry: DueEntry, now: Date, commit: GroupCommit) throws -> String? {
        let entryPath = DueIndex.path(entry, layout: layout)
        guard let record = try store.load(shop: entry.shop, payment: entry.payment, commit: commit) else {
            commit.remove(entryPath)
            return nil
        }
        guard record.state == entry.kind.state, DueIndex.entry(for: record) == entry else {
            try store.reindex(record, commit: commit)
            commit.remove(entryPath)
            return nil
        }
        switch entry.kind {
        case .accepted:
            guard let accepted = SettleStage.acceptedAt(record), now >= accepted + hold else { return nil }
            let evidence: JSONValue = ["type": "hold-elapsed", "acceptedAt": .string(Timestamp.format(accepted)),
                                       "holdSeconds": .int(Int64(hold))]
            let finished = try store.transition(record, to: .finish, at: now, evidence: evidence,
                                                evidenceDocument: evidence.serialized(), commit: commit)
            try outputs(finished, commit: commit)
            return "\(entry.shop)/\(entry.payment) finish \(record.info.currency.format(record.info.total))"
        case .expires:
            guard now >= record.info.expires else { return nil }
            let evidence: JSONValue = ["type": "expired", "expires": .string(Timestamp.format(record.info.expires))]
            let expired = try store.transition(record, to: .expire, at: now, evidence: evidence,
                                               evidenceDocument: evidence.serialized(), commit: commit)
            try outputs(expired, commit: commit)
            return "\(entry.shop)/\(entry.payment) expire"
        }
    }
}
