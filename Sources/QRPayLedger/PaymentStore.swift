// Where the PG keeps payments, and the one way a payment changes state (paths: SpoolLayout).
//
//   pg/payments/SHOP/XX/PAYMENT.json    the record (XX: first two hex digits of SHA-256(PAYMENT))
//   pg/states/STATE/DAY/SHOP~PAYMENT~CUR~TOTAL
//                                       one empty marker per payment in its state, DAY = creation day
//                                       (UTC); the name alone feeds status and reconciliation
//   pg/due/KIND/MINUTE/EPOCH~SHOP~PAYMENT
//                                       open payments by when something becomes due (DueIndex): a
//                                       `request` by its expiry, an `accept` by its acceptance (the
//                                       hold is settle's option), so a settle pass reads only what is due
//   pg/list/TT/TOKEN.json               the payment-information list (token: see QRPayload)
//   pg/journal/                         the hash-chained journal (Journal.swift)
//
// No operation scans every payment to handle one: a record is found from (shop, payment), a marker
// and a due entry from the record, and reports read the markers of one day.
//
// Every change goes through a `GroupCommit`: journal entry (durable first) → marker and due entry
// of the new state, list entry, notices and receipts → record (renamed over, named last) → old
// marker and due entry removed. The record is the truth; a crash before it is named leaves the
// payment where it was, with the change's outputs already there, and the rerun makes the change
// (and finds its notices delivered); `reindex` makes markers and due entries agree after a crash.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
#if canImport(Glibc)
import Glibc
#endif

package struct PaymentStore: Sendable {
    package let layout: SpoolLayout
    package let journal: Journal

    package init(layout: SpoolLayout) {
        self.layout = layout
        journal = Journal(layout: layout)
    }

    package init(spoolRoot: String) { self.init(layout: SpoolLayout(root: spoolRoot)) }

    package func recordPath(shop: String, payment: String) -> String { layout.recordPath(shop: shop, payment: payment) }
    package func markerPath(state: PaymentState, info: PaymentInfo) -> String { layout.markerPath(state: state, info: info) }

    // MARK: reading

    /// The record of (shop, payment), or nil when there is none.
    package func load(shop: String, payment: String) throws -> PaymentRecord? {
        try Identifier.validate(shop, what: "shop")
        try Identifier.validate(payment, what: "payment")
        guard let data = try FileIO.readIfExists(recordPath(shop: shop, payment: payment), maxBytes: 4 << 20) else { return nil }
        return try PaymentRecord(data: data)
    }

    /// The record of (shop, payment) as it will be after `commit` is flushed (a staged record first),
    /// or nil. Reserves the record for `commit`.
    package func load(shop: String, payment: String, commit: GroupCommit) throws -> PaymentRecord? {
        try Identifier.validate(shop, what: "shop")
        try Identifier.validate(payment, what: "payment")
        let path = recordPath(shop: shop, payment: payment)
        try commit.claim(key: path)
        if let staged = commit.pendingData(at: path) { return try PaymentRecord(data: staged) }
        return try load(shop: shop, payment: payment)
    }

    /// Whether `commit` already stages a record for (shop, payment).
    package func isStaged(shop: String, payment: String, in commit: GroupCommit) -> Bool {
        commit.pendingData(at: recordPath(shop: shop, payment: payment)) != nil
    }

    // MARK: changing

    /// Stages a new record: journal entry, marker, due entry, record (never replacing one).
    package func create(_ record: PaymentRecord, commit: GroupCommit) throws {
        try requireFinished(shop: record.info.shop, payment: record.info.payment, to: record.state, evidence: record.documentHash)
        let path = recordPath(shop: record.info.shop, payment: record.info.payment)
        try commit.claim(key: path)
        try commit.context.ensureDirectory(FileIO.parentDirectory(path))
        commit.journal(journal, TransitionRequest(shop: record.info.shop, payment: record.info.payment, from: nil,
                                                  to: record.state, evidenceHash: record.documentHash,
                                                  at: record.history.last?.at ?? commit.context.now()))
        try writeMarker(record, commit: commit)
        try writeDueEntry(record, commit: commit)
        try commit.write(record.serialized(), to: path, mode: 0o640, ifExists: .fail, last: true)
    }

    /// Stages the move of `record` to `next`, with a history entry holding its evidence: journal
    /// entry, new marker and due entry, record replaced, old marker and due entry removed. Returns
    /// the new record.
    @discardableResult
    /// `evidenceHash`: the journal's evidence (see TransitionRequest): a signed document's
    /// `documentHash`, else SHA-256 of the evidence JSON.
    package func transition(_ record: PaymentRecord, to next: PaymentState, at: Date, evidence: JSONValue,
                           evidenceHash: String? = nil, user: String? = nil, commit: GroupCommit) throws -> PaymentRecord {
        guard record.state.canMove(to: next) else {
            throw QRPayError(.paymentState, "payment \(record.info.shop)/\(record.info.payment) is \(record.state.rawValue); it cannot become \(next.rawValue)")
        }
        let hash = evidenceHash ?? PaymentStore.evidenceHash(evidence)
        try requireFinished(shop: record.info.shop, payment: record.info.payment, to: next, evidence: hash)
        let path = recordPath(shop: record.info.shop, payment: record.info.payment)
        try commit.claim(key: path)
        var updated = record
        updated.state = next
        if let user { updated.user = user }
        updated.history.append(HistoryEntry(state: next, at: at, evidence: evidence))
        commit.journal(journal, TransitionRequest(shop: record.info.shop, payment: record.info.payment, from: record.state,
                                                  to: next, evidenceHash: hash, at: at))
        try writeMarker(updated, commit: commit)
        try writeDueEntry(updated, commit: commit)
        if next == .finish { try writeUnpaidEntry(updated, commit: commit) }
        try commit.write(updated.serialized(), to: path, mode: 0o640, ifExists: .replace, last: true)
        commit.remove(markerPath(state: record.state, info: record.info))
        if let old = DueIndex.entry(for: record), old != DueIndex.entry(for: updated) {
            commit.remove(DueIndex.path(old, layout: layout))
        }
        return updated
    }

    /// Refuses (`ledger.unfinished`, transient) a change of a payment while the journal announces
    /// another change of it that its stage has not finished (killed or failed after the journal
    /// append): the rerun of that stage finishes it first, with its outputs, and only then does
    /// anything else happen to the payment. The very change announced (the rerun) goes through.
    package func requireFinished(shop: String, payment: String, to: PaymentState, evidence: String) throws {
        let unfinished = journal.unfinishedChanges(shop: shop, payment: payment)
        guard !unfinished.isEmpty, !unfinished.contains(Journal.UnfinishedChange(to: to.rawValue, evidence: evidence)) else { return }
        let stage = unfinished.map { PaymentStore.stage(making: $0.to) }.joined(separator: ", ")
        throw QRPayError(.ledgerUnfinished, "payment \(shop)/\(payment) has a change to \(unfinished.map(\.to).joined(separator: ", ")) that the journal holds and its stage has not finished (\(layout.relative(layout.journalIntentsDirectory))): the change to \(to.rawValue) waits until \(stage) reruns and finishes it")
    }

    /// The program that makes a change to `state`.
    package static func stage(making state: String) -> String {
        switch PaymentState(rawValue: state) {
        case .request: return "qrpay-register"
        case .accept: return "qrpay-approve"
        default: return "qrpay-settle"
        }
    }

    /// base64url SHA-256 of a rule's evidence JSON (canonical: sorted keys, compact).
    package static func evidenceHash(_ evidence: JSONValue) -> String { Base64URL.encode(Digest.sha256(evidence.serialized())) }

    func writeMarker(_ record: PaymentRecord, commit: GroupCommit) throws {
        let path = markerPath(state: record.state, info: record.info)
        try commit.context.ensureDirectory(FileIO.parentDirectory(path))
        // Empty: the name says everything (an inode and a directory entry, no data block).
        try commit.write(Data(), to: path, mode: 0o640, ifExists: .replace)
    }

    func writeDueEntry(_ record: PaymentRecord, commit: GroupCommit) throws {
        guard let entry = DueIndex.entry(for: record) else { return }
        let path = DueIndex.path(entry, layout: layout)
        try commit.context.ensureDirectory(FileIO.parentDirectory(path))
        try commit.write(Data(), to: path, mode: 0o640, ifExists: .replace)
    }

    /// Whether the payout's unpaid index (pg/unpaid) is in use: `qrpay-payout` builds it whole the
    /// first time; until then nothing writes into it (a half index would hide payments).
    package var keepsUnpaidIndex: Bool { FileIO.isDirectory(layout.unpaidDirectory) }

    /// Whether `record` belongs in the unpaid index: finished, no payout named, no paid marker.
    package func isUnpaid(_ record: PaymentRecord) -> Bool {
        record.state == .finish && record.payout == nil && !FileIO.exists(layout.paidPath(info: record.info))
    }

    func writeUnpaidEntry(_ record: PaymentRecord, commit: GroupCommit) throws {
        guard keepsUnpaidIndex else { return }
        let path = layout.unpaidPath(info: record.info)
        // Not the run's directory cache: the payout removes a day's directory once it is all paid,
        // while a settle --watch process lives on.
        let day = FileIO.parentDirectory(path)
        if !FileIO.isDirectory(day) { try layout.makeDirectories(day) }
        try commit.write(Data(), to: path, mode: 0o640, ifExists: .replace)
    }

    /// Stages what makes the markers and due entries agree with the record: exactly one marker, in
    /// the record's state; a due entry only while it is open; an unpaid entry only while it is
    /// finished and not paid out.
    package func reindex(_ record: PaymentRecord, commit: GroupCommit) throws {
        if keepsUnpaidIndex {
            let unpaid = layout.unpaidPath(info: record.info)
            if isUnpaid(record) { if !FileIO.exists(unpaid) { try writeUnpaidEntry(record, commit: commit) } }
            else if FileIO.exists(unpaid) { commit.remove(unpaid) }
        }
        if !FileIO.exists(markerPath(state: record.state, info: record.info)) { try writeMarker(record, commit: commit) }
        for state in PaymentState.allCases where state != record.state {
            let path = markerPath(state: state, info: record.info)
            if FileIO.exists(path) { commit.remove(path) }
        }
        let expected = DueIndex.entry(for: record)
        if let expected, !FileIO.exists(DueIndex.path(expected, layout: layout)) { try writeDueEntry(record, commit: commit) }
        for candidate in DueIndex.candidates(for: record) where candidate != expected {
            let path = DueIndex.path(candidate, layout: layout)
            if FileIO.exists(path) { commit.remove(path) }
        }
    }

    /// Whether the markers and due entries agree with the record (what `reindex` would change nothing of).
    package func isIndexed(_ record: PaymentRecord) -> Bool {
        guard FileIO.exists(markerPath(state: record.state, info: record.info)) else { return false }
        if keepsUnpaidIndex && isUnpaid(record) != FileIO.exists(layout.unpaidPath(info: record.info)) { return false }
        for state in PaymentState.allCases where state != record.state {
            if FileIO.exists(markerPath(state: state, info: record.info)) { return false }
        }
        let expected = DueIndex.entry(for: record)
        if let expected, !FileIO.exists(DueIndex.path(expected, layout: layout)) { return false }
        for candidate in DueIndex.candidates(for: record) where candidate != expected {
            if FileIO.exists(DueIndex.path(candidate, layout: layout)) { return false }
        }
        return true
    }

    // MARK: the payment-information list

    /// Stages the list entry a user's client fetches by the QR code's signature (created or updated),
    /// signed by the PG (`qrpay-list+jws`): a client believes only what the PG's certificate vouches
    /// for. `document`: the record's document already parsed, if at hand.
    package func publish(_ record: PaymentRecord, document: JSONValue? = nil, signedBy pg: Credentials, commit: GroupCommit) throws {
        let (path, entry) = try listEntry(record, document: document, signedBy: pg)
        try commit.context.ensureDirectory(FileIO.parentDirectory(path))
        try commit.write(entry, to: path, mode: 0o644, ifExists: .replace)
    }

    func listEntry(_ record: PaymentRecord, document: JSONValue? = nil, signedBy pg: Credentials) throws -> (path: String, data: Data) {
        guard let signature = Base64URL.decode(record.signature) else {
            throw QRPayError(.recordSignature, "record has a malformed signature")
        }
        let entry: JSONValue = [
            "shop": .string(record.info.shop), "payment": .string(record.info.payment),
            "state": .string(record.state.rawValue),
            "document": document ?? (try? JSONValue.parse(record.document)) ?? .null,
            "updated": .string(Timestamp.format(record.history.last?.at ?? Date())),
        ]
        let signed = try JWS.sign(payload: entry.serialized(), type: .list, credentials: pg)
        return (layout.listPath(token: QRPayload.listToken(signature: signature)), signed)
    }

    /// The list entry for a scanned QR code (`PaymentList.entry(for:trust:at:)`).
    package func listEntry(for qr: QRPayload, trust: TrustStore, at now: Date) throws -> (state: PaymentState, document: Data)? {
        try PaymentList(layout: layout).entry(for: qr, trust: trust, at: now)
    }

    // MARK: markers

    /// (shop, payment) of every payment now in `state`, by scanning that state's markers.
    package func payments(in state: PaymentState, day: String? = nil) throws -> [(shop: String, payment: String)] {
        var out: [(String, String)] = []
        try forEachMarker(in: state, day: day) { m in out.append((m.shop, m.payment)) }
        return out
    }

    /// The days (YYYY-MM-DD) that have markers in `state`.
    package func days(in state: PaymentState) throws -> [String] {
        try FileIO.listDirectory(layout.stateDirectory(state)).filter { Timestamp.isDay($0) }.sorted()
    }

    /// How many payments are in `state` and their sums per currency, from the marker names alone
    /// (no String per marker: `qrpay-spool status` on a million payments). Names that are not
    /// markers (dotfiles, directories or other names a person left there) are not counted.
    package func tally(_ state: PaymentState) throws -> (count: Int, sums: [String: Int64]) {
        var count = 0
        var sums: [String: Int64] = [:]
        var byCode: [UInt32: Int64] = [:]
        for d in try days(in: state) {
            try FileIO.forEachName(layout.stateDirectory(state, day: d), skipDirectories: true) { name in
                // SHOP~PAYMENT~CUR~TOTAL: the total after the last "~", the currency before it.
                guard name.first != 0x2E, let last = name.lastIndex(of: 0x7E), last >= 4, name[last - 4] == 0x7E else { return }
                var total: Int64 = 0
                var i = last + 1
                guard i < name.count else { return }
                while i < name.count {
                    let b = name[i]
                    guard b >= 0x30 && b <= 0x39, total < maximumAmount else { return }
                    total = total * 10 + Int64(b - 0x30)
                    i += 1
                }
                let c0 = name[last - 3], c1 = name[last - 2], c2 = name[last - 1]
                guard [c0, c1, c2].allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else { return }
                let code = UInt32(c0) << 16 | UInt32(c1) << 8 | UInt32(c2)
                byCode[code, default: 0] += total
                count += 1
            }
        }
        for (code, total) in byCode {
            let text = String(decoding: [UInt8(code >> 16 & 0xFF), UInt8(code >> 8 & 0xFF), UInt8(code & 0xFF)], as: UTF8.self)
            sums[text, default: 0] += total
        }
        return (count, sums)
    }

    /// Streams the markers of `state` (one day, or all), reading names only.
    package func forEachMarker(in state: PaymentState, day: String? = nil, _ body: (StateMarker) throws -> Void) throws {
        for d in try day.map({ [$0] }) ?? days(in: state) {
            for name in try FileIO.listDirectory(layout.stateDirectory(state, day: d)) where !name.hasPrefix(".") {
                if let marker = StateMarker(name: name, state: state, day: d) { try body(marker) }
            }
        }
    }
}

/// A state marker, parsed from its name `<shop>~<payment>~<currency>~<total>`.
package struct StateMarker: Sendable, Equatable {
    package let shop: String
    package let payment: String
    package let currency: String
    package let total: Int64
    package let state: PaymentState
    package let day: String

    package init?(name: String, state: PaymentState, day: String) {
        let parts = name.split(separator: "~", omittingEmptySubsequences: false)
        guard parts.count == 4, let total = Int64(parts[3]) else { return nil }
        shop = String(parts[0]); payment = String(parts[1]); currency = String(parts[2])
        self.total = total; self.state = state; self.day = day
    }

    /// SHOP~PAYMENT~CUR~TOTAL
    package static func name(shop: String, payment: String, currency: String, total: Int64) -> String {
        "\(shop)~\(payment)~\(currency)~\(total)"
    }
}
