// Whether a record is the journal's: the journal is the ledger of record, and a record, its markers
// and due entries are indexes derived from it. Before an index is rebuilt from a record on a path
// that does not come from a transition of this run (a stale due entry, a replayed document, an
// approval or cancel seen again), the record's latest change must be in the journal; a record edited
// by hand is never indexed (`ledger.mismatch`: the stage defers, `qrpay-spool check` names it).

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments

/// What the journal records as the evidence of a payment's change, from the record's history.
package enum PaymentEvidence {
    /// The journal evidence hashes that stand for the record's last history entry: a signed
    /// document's `documentHash` (for journals written before that rule: SHA-256 of its JSON as
    /// stored), or SHA-256 of a rule's evidence JSON.
    package static func candidates(_ record: PaymentRecord) -> [String] {
        guard let last = record.history.last else { return [] }
        switch last.evidence["type"]?.stringValue {
        case "payment":
            return [record.documentHash, Base64URL.encode(Digest.sha256(record.document))]
        case "approval", "cancel":
            var out: [String] = []
            if let hash = last.evidence["documentHash"]?.stringValue { out.append(hash) }
            if let document = last.evidence["document"] { out.append(Base64URL.encode(Digest.sha256(document.serialized()))) }
            return out
        default:
            return [PaymentStore.evidenceHash(last.evidence)]
        }
    }

    /// Whether `journalEvidence` (the journal's hash for the payment's last change) is the evidence
    /// of the record's last history entry.
    package static func matches(_ record: PaymentRecord, journalEvidence: String) -> Bool {
        candidates(record).contains(journalEvidence)
    }
}

extension PaymentStore {
    /// Whether the journal holds the record's latest change (its state, with the evidence of its
    /// last history entry). Reads the journal's files back to the day of that change: only on the
    /// rare paths that rebuild indexes from a record, never per payment of a pass.
    package func journalHolds(_ record: PaymentRecord, now: Date) -> Bool {
        guard let last = record.history.last else { return false }
        let days = Int(max(0, now.timeIntervalSince(last.at)) / 86_400) + 2
        return journal.contains(shop: record.info.shop, payment: record.info.payment, to: record.state,
                                anyOf: Set(PaymentEvidence.candidates(record)), days: days)
    }

    /// `reindex`, for a record the journal holds; a record the journal does not hold is refused
    /// with the transient `ledger.mismatch` (the input waits; an operator restores the record).
    package func reindexFromJournal(_ record: PaymentRecord, now: Date, commit: GroupCommit) throws {
        guard journalHolds(record, now: now) else { throw LedgerMismatch.record(record) }
        try reindex(record, commit: commit)
    }
}

extension PaymentStore {
    /// How far back a refusal looks for the record's latest change (a refusal of a payment changed
    /// longer ago is judged on the record alone: `qrpay-spool check` audits every record).
    package static let refusalLookback: TimeInterval = 31 * 86_400

    /// Before an input is refused because of the record's state (a replay, a payment no longer
    /// open), the journal must hold that state: a record edited by hand (a `request` made `finish`)
    /// must not turn a valid approval or cancel into a refused one. Throws the transient
    /// `ledger.mismatch` (the input waits for the record to be restored) when it does not.
    package func requireJournalHolds(_ record: PaymentRecord, toRefuse now: Date) throws {
        guard let last = record.history.last, now.timeIntervalSince(last.at) < PaymentStore.refusalLookback else { return }
        guard journalHolds(record, now: now) else { throw LedgerMismatch.record(record) }
    }
}

package enum LedgerMismatch {
    package static func record(_ record: PaymentRecord) -> QRPayError {
        QRPayError(.ledgerMismatch, "the record of \(record.info.shop)/\(record.info.payment) says \(record.state.rawValue), but the journal does not hold that change: nothing is indexed from it (qrpay-spool check names the difference; restore the record)")
    }
}
