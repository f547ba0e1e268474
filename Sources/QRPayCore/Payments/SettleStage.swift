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

public final class SettleStage: SpoolStage, @unchecked Sendable {
    public let name = "settle"
    /// The PG stages change the same records: one pass at a time (see SpoolStage.sharedLock).
    public var sharedLock: String? { "pg-state" }
    public let queues: [Queue]
    let trust: TrustStore
    let store: PaymentStore
    let notifier: Notifier
    public let hold: TimeInterval
    let clock: @Sendable () -> Date

    public init(spoolRoot: String, pg: Credentials, hold: TimeInterval = 600, clock: @escaping @Sendable () -> Date = { Date() }) throws {
        trust = try TrustStore(spoolRoot: spoolRoot)
        store = PaymentStore(spoolRoot: spoolRoot)
        notifier = Notifier(spoolRoot: spoolRoot, pg: pg)
        self.hold = hold
        self.clock = clock
        queues = [SpoolLayout.cancels(spoolRoot)]
    }

    static func arrival(of file: ClaimedFile) -> Date? {
        var st = stat()
        guard lstat(file.path, &st) == 0 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec) + TimeInterval(st.st_mtim.tv_nsec) / 1e9)
    }

    static func acceptedAt(_ record: PaymentRecord) -> Date? {
        record.history.last(where: { $0.state == .accept })?.at
    }

    public func process(_ file: ClaimedFile) throws -> StageOutcome {
        let data = try file.read(maxBytes: 64 * 1024)
        let now = clock()
        let jws = try JWS(parsing: data)
        let cancel = try Cancel(payload: jws.payload)
        _ = try trust.verify(jws, type: .cancel, role: .shop, id: cancel.shop, at: now)
        guard let record = try store.load(shop: cancel.shop, payment: cancel.payment) else {
            throw QRPayError("cancel.unknown-payment", "payment \(cancel.shop)/\(cancel.payment) is not registered")
        }
        let hash = jws.documentHash
        switch record.state {
        case .cancel:
            if record.history.last?.evidence["documentHash"]?.stringValue == hash {
                try store.reindex(record)
                try outputs(record, reason: cancel.reason)
                return .done("\(cancel.shop)/\(cancel.payment) already cancelled by this request; nothing changed")
            }
            throw QRPayError("cancel.not-open", "payment \(cancel.shop)/\(cancel.payment) is already cancelled")
        case .finish:
            throw QRPayError("cancel.finished", "payment \(cancel.shop)/\(cancel.payment) is finished; it can no longer be cancelled")
        case .expire:
            throw QRPayError("cancel.not-open", "payment \(cancel.shop)/\(cancel.payment) has expired; there is nothing to cancel")
        case .accept:
            // The hold is judged at the cancel's arrival in the queue (its file time, the PG's clock),
            // so a cancel that was waiting while the hold ended still wins.
            // History times are whole seconds: a cancel arriving within the second the hold ends wins.
            let arrived = Date(timeIntervalSince1970: min(now, SettleStage.arrival(of: file) ?? now).timeIntervalSince1970.rounded(.down))
            if let accepted = SettleStage.acceptedAt(record), arrived > accepted + hold {
                throw QRPayError("cancel.too-late",
                                 "payment \(cancel.shop)/\(cancel.payment) was accepted at \(Timestamp.format(accepted)); the hold of \(Int(hold)) s has ended")
            }
        case .request:
            break
        }
        let cancelled = try store.transition(
            record, to: .cancel, at: now,
            evidence: ["type": "cancel", "reason": .string(cancel.reason), "documentHash": .string(hash),
                       "document": (try? JSONValue.parse(data)) ?? .null],
            evidenceDocument: data)
        try outputs(cancelled, reason: cancel.reason)
        return .done("\(cancel.shop)/\(cancel.payment) cancel (was \(record.state.rawValue))")
    }

    func outputs(_ record: PaymentRecord, reason: String? = nil) throws {
        try store.publish(record)
        try notifier.notifyShop(record, reason: reason)
        if let user = record.user { try notifier.receipt(for: record, user: user) }
    }

    /// Finishes accepted payments whose hold has passed and expires stale requests.
    public func tick(now: Date) throws {
        let now = clock()
        for (shop, payment) in try store.payments(in: .accept) {
            guard let record = try store.load(shop: shop, payment: payment) else { continue }
            guard record.state == .accept else { try store.reindex(record); continue }
            guard let accepted = SettleStage.acceptedAt(record), now >= accepted + hold else { continue }
            let evidence: JSONValue = ["type": "hold-elapsed", "acceptedAt": .string(Timestamp.format(accepted)),
                                       "holdSeconds": .int(Int64(hold))]
            let finished = try store.transition(record, to: .finish, at: now, evidence: evidence,
                                                evidenceDocument: evidence.serialized())
            try outputs(finished)
            log?("\(shop)/\(payment) finish \(record.info.currency.format(record.info.total))")
        }
        for (shop, payment) in try store.payments(in: .request) {
            guard let record = try store.load(shop: shop, payment: payment) else { continue }
            guard record.state == .request else { try store.reindex(record); continue }
            guard now >= record.info.expires else { continue }
            let evidence: JSONValue = ["type": "expired", "expires": .string(Timestamp.format(record.info.expires))]
            let expired = try store.transition(record, to: .expire, at: now, evidence: evidence,
                                               evidenceDocument: evidence.serialized())
            try outputs(expired)
            log?("\(shop)/\(payment) expire")
        }
    }

    /// Where tick() reports what it changed (the runner's log).
    public var log: (@Sendable (String) -> Void)?
}
