// Where the PG keeps payments, and the one way a payment changes state.
//
//   ROOT/pg/payments/<shop>/<h2>/<payment>.json   the record (h2: first two hex digits of SHA-256(payment))
//   ROOT/pg/states/<state>/<day>/<shop>~<payment>~<currency>~<total>
//                                                 one marker per payment in its state, day = creation day
//                                                 (UTC); the name alone feeds status and reconciliation
//   ROOT/pg/list/<t2>/<token>.json                the payment-information list (token: see QRPayload);
//                                                 ROOT/pg/list is mode 0711: fetch by name, no listing
//   ROOT/pg/journal/                              the hash-chained journal (Journal.swift)
//
// No operation scans every payment to handle one: a record is found from (shop, payment), a marker
// from the record, and reports read the markers of one day.
//
// A transition is: journal entry (fsync) → marker of the new state → record (rename over) → old
// marker removed. The record is the truth; `reindex` repairs markers a crash left behind.

import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public final class PaymentStore: @unchecked Sendable {
    public let root: String
    public let pgDirectory: String
    public let journal: Journal

    public init(spoolRoot: String) {
        root = spoolRoot
        pgDirectory = spoolRoot + "/pg"
        journal = Journal(pgDirectory: pgDirectory)
    }

    public var paymentsDirectory: String { pgDirectory + "/payments" }
    public var statesDirectory: String { pgDirectory + "/states" }
    public var listDirectory: String { pgDirectory + "/list" }

    static func bucket(_ text: String) -> String { String(Digest.sha256Hex(Data(text.utf8)).prefix(2)) }

    public func recordPath(shop: String, payment: String) -> String {
        "\(paymentsDirectory)/\(shop)/\(PaymentStore.bucket(payment))/\(payment).json"
    }

    public func markerPath(state: PaymentState, info: PaymentInfo) -> String {
        "\(statesDirectory)/\(state.rawValue)/\(Timestamp.day(info.created))/\(info.shop)~\(info.payment)~\(info.currency.code)~\(info.total)"
    }

    public func listPath(token: String) -> String {
        "\(listDirectory)/\(token.prefix(2))/\(token).json"
    }

    /// The record of (shop, payment), or nil when there is none.
    public func load(shop: String, payment: String) throws -> PaymentRecord? {
        try Identifier.validate(shop, what: "shop")
        try Identifier.validate(payment, what: "payment")
        let path = recordPath(shop: shop, payment: payment)
        let data: Data
        do {
            guard let found = try FileIO.readIfExists(path, maxBytes: 4 << 20) else { return nil }
            data = found
        } catch let e as QRPayError where e.exit == .noInput {
            return nil  // a directory of the path is missing
        }
        return try PaymentRecord(data: data)
    }

    /// Stores a new record (its first history entry describes how it began). Throws `io.exists` when
    /// the payment already has a record.
    public func create(_ record: PaymentRecord) throws {
        let path = recordPath(shop: record.info.shop, payment: record.info.payment)
        try FileIO.makeDirectory(FileIO.parentDirectory(path), mode: 0o750)
        try journal.append([TransitionRequest(shop: record.info.shop, payment: record.info.payment, from: nil,
                                              to: record.state, evidence: record.document,
                                              at: record.history.last?.at ?? Date())])
        try writeMarker(record)
        try FileIO.writeDurably(record.serialized(), to: path, mode: 0o640, replace: false)
    }

    /// Moves `record` to `next`, appending a history entry with its evidence; returns the new record.
    @discardableResult
    public func transition(_ record: PaymentRecord, to next: PaymentState, at: Date, evidence: JSONValue,
                           evidenceDocument: Data, user: String? = nil) throws -> PaymentRecord {
        guard record.state.canMove(to: next) else {
            throw QRPayError("payment.state", "payment \(record.info.shop)/\(record.info.payment) is \(record.state.rawValue); it cannot become \(next.rawValue)")
        }
        var updated = record
        updated.state = next
        if let user { updated.user = user }
        updated.history.append(HistoryEntry(state: next, at: at, evidence: evidence))
        try journal.append([TransitionRequest(shop: record.info.shop, payment: record.info.payment, from: record.state,
                                              to: next, evidence: evidenceDocument, at: at)])
        try writeMarker(updated)
        try FileIO.writeDurably(updated.serialized(), to: recordPath(shop: record.info.shop, payment: record.info.payment),
                                mode: 0o640, replace: true)
        try removeMarker(state: record.state, info: record.info)
        return updated
    }

    // MARK: group commit (RegisterStage, ApproveStage)
    //
    // The same operations staged in a `GroupCommit`: nothing is visible before the runner flushes
    // it; the journal entry is appended at flush before any record is linked or replaced. Each
    // operation first claims the record's path as the commit's key, so that two concurrent batches
    // never change the same payment.

    /// The record of (shop, payment) as it will be after `commit` is flushed (a staged record first),
    /// or nil. Claims the record for `commit`.
    public func load(shop: String, payment: String, commit: GroupCommit) throws -> PaymentRecord? {
        try Identifier.validate(shop, what: "shop")
        try Identifier.validate(payment, what: "payment")
        let path = recordPath(shop: shop, payment: payment)
        try commit.claim(key: path)
        if let staged = commit.pendingData(at: path) { return try PaymentRecord(data: staged) }
        return try load(shop: shop, payment: payment)
    }

    /// Whether `commit` already stages a record for (shop, payment).
    public func isStaged(shop: String, payment: String, in commit: GroupCommit) -> Bool {
        commit.pendingData(at: recordPath(shop: shop, payment: payment)) != nil
    }

    /// `create` through `commit`: journal entry, marker, record (never replacing one).
    public func create(_ record: PaymentRecord, commit: GroupCommit) throws {
        let path = recordPath(shop: record.info.shop, payment: record.info.payment)
        try commit.claim(key: path)
        try DirectoryCache.shared.ensure(FileIO.parentDirectory(path), mode: 0o750)
        commit.journal(journal, TransitionRequest(shop: record.info.shop, payment: record.info.payment, from: nil,
                                                  to: record.state, evidence: record.document,
                                                  at: record.history.last?.at ?? Date()))
        try writeMarker(record, commit: commit)
        try commit.write(record.serialized(), to: path, mode: 0o640, replace: false)
    }

    /// `transition` through `commit`: journal entry, new marker, record replaced, old marker removed.
    @discardableResult
    public func transition(_ record: PaymentRecord, to next: PaymentState, at: Date, evidence: JSONValue,
                           evidenceDocument: Data, user: String? = nil, commit: GroupCommit) throws -> PaymentRecord {
        guard record.state.canMove(to: next) else {
            throw QRPayError("payment.state", "payment \(record.info.shop)/\(record.info.payment) is \(record.state.rawValue); it cannot become \(next.rawValue)")
        }
        let path = recordPath(shop: record.info.shop, payment: record.info.payment)
        try commit.claim(key: path)
        var updated = record
        updated.state = next
        if let user { updated.user = user }
        updated.history.append(HistoryEntry(state: next, at: at, evidence: evidence))
        commit.journal(journal, TransitionRequest(shop: record.info.shop, payment: record.info.payment, from: record.state,
                                                  to: next, evidence: evidenceDocument, at: at))
        try writeMarker(updated, commit: commit)
        try commit.write(updated.serialized(), to: path, mode: 0o640, replace: true)
        commit.remove(markerPath(state: record.state, info: record.info))
        return updated
    }

    func writeMarker(_ record: PaymentRecord, commit: GroupCommit) throws {
        let path = markerPath(state: record.state, info: record.info)
        try DirectoryCache.shared.ensure(FileIO.parentDirectory(path), mode: 0o750)
        // Empty: the name says everything (an inode and a directory entry, no data block).
        try commit.write(Data(), to: path, mode: 0o640, replace: true)
    }

    /// `reindex` through `commit`.
    public func reindex(_ record: PaymentRecord, commit: GroupCommit) throws {
        if !FileIO.exists(markerPath(state: record.state, info: record.info)) { try writeMarker(record, commit: commit) }
        for state in PaymentState.allCases where state != record.state {
            let path = markerPath(state: state, info: record.info)
            if FileIO.exists(path) { commit.remove(path) }
        }
    }

    /// `publish` through `commit`. `document`: the record's document already parsed, if at hand.
    public func publish(_ record: PaymentRecord, document: JSONValue? = nil, commit: GroupCommit) throws {
        let (path, entry) = try listEntry(record, document: document)
        try DirectoryCache.shared.ensure(listDirectory, mode: 0o711)
        try DirectoryCache.shared.ensure(FileIO.parentDirectory(path), mode: 0o711)
        try commit.write(entry, to: path, mode: 0o644, replace: true)
    }

    func listEntry(_ record: PaymentRecord, document: JSONValue? = nil) throws -> (path: String, data: Data) {
        guard let signature = Base64URL.decode(record.signature) else {
            throw QRPayError("record.signature", "record has a malformed signature")
        }
        let entry: JSONValue = [
            "shop": .string(record.info.shop), "payment": .string(record.info.payment),
            "state": .string(record.state.rawValue),
            "document": document ?? (try? JSONValue.parse(record.document)) ?? .null,
            "updated": .string(Timestamp.format(record.history.last?.at ?? Date())),
        ]
        return (listPath(token: QRPayload.listToken(signature: signature)), entry.serialized(pretty: true))
    }

    func writeMarker(_ record: PaymentRecord) throws {
        let path = markerPath(state: record.state, info: record.info)
        try FileIO.makeDirectory(FileIO.parentDirectory(path), mode: 0o750)
        try FileIO.writeDurably(Data(), to: path, mode: 0o640, replace: true)  // the name is the data
    }

    func removeMarker(state: PaymentState, info: PaymentInfo) throws {
        let path = markerPath(state: state, info: info)
        if unlink(path) != 0 && errno != ENOENT { throw QRPayError.io("remove", path: path, errno: errno) }
        try? FileIO.fsyncDirectory(FileIO.parentDirectory(path))
    }

    /// Makes the markers agree with the record: exactly one, in the record's state.
    public func reindex(_ record: PaymentRecord) throws {
        if !FileIO.exists(markerPath(state: record.state, info: record.info)) { try writeMarker(record) }
        for state in PaymentState.allCases where state != record.state {
            if FileIO.exists(markerPath(state: state, info: record.info)) { try removeMarker(state: state, info: record.info) }
        }
    }

    /// (shop, payment) of every payment now in `state`, by scanning that state's markers.
    public func payments(in state: PaymentState, day: String? = nil) throws -> [(shop: String, payment: String)] {
        var out: [(String, String)] = []
        try forEachMarker(in: state, day: day) { m in out.append((m.shop, m.payment)) }
        return out
    }

    /// The days (YYYY-MM-DD) that have markers in `state`.
    public func days(in state: PaymentState) throws -> [String] {
        try FileIO.listDirectory("\(statesDirectory)/\(state.rawValue)").filter { !$0.hasPrefix(".") }.sorted()
    }

    /// How many payments are in `state` and their sums per currency, from the marker names alone
    /// (no String per marker: `qrpay-spool status` on a million payments).
    public func tally(_ state: PaymentState) throws -> (count: Int, sums: [String: Int64]) {
        var count = 0
        var sums: [String: Int64] = [:]
        var byCode: [UInt32: Int64] = [:]
        let base = "\(statesDirectory)/\(state.rawValue)"
        for d in try days(in: state) {
            try FileIO.forEachName(base + "/" + d) { name in
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
                let code = UInt32(name[last - 3]) << 16 | UInt32(name[last - 2]) << 8 | UInt32(name[last - 1])
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
    public func forEachMarker(in state: PaymentState, day: String? = nil, _ body: (StateMarker) throws -> Void) throws {
        let base = "\(statesDirectory)/\(state.rawValue)"
        for d in try day.map({ [$0] }) ?? days(in: state) {
            for name in try FileIO.listDirectory(base + "/" + d) where !name.hasPrefix(".") {
                if let marker = StateMarker(name: name, state: state, day: d) { try body(marker) }
            }
        }
    }

    // MARK: the payment-information list

    /// Publishes (or updates) the list entry a user's client fetches by the QR code's signature.
    public func publish(_ record: PaymentRecord) throws {
        guard let signature = Base64URL.decode(record.signature) else {
            throw QRPayError("record.signature", "record has a malformed signature")
        }
        let token = QRPayload.listToken(signature: signature)
        let path = listPath(token: token)
        if !FileIO.isDirectory(listDirectory) { try FileIO.makeDirectory(listDirectory, mode: 0o711) }
        try FileIO.makeDirectory(FileIO.parentDirectory(path), mode: 0o711)
        let entry: JSONValue = [
            "shop": .string(record.info.shop), "payment": .string(record.info.payment),
            "state": .string(record.state.rawValue),
            "document": (try? JSONValue.parse(record.document)) ?? .null,
            "updated": .string(Timestamp.format(record.history.last?.at ?? Date())),
        ]
        try FileIO.writeDurably(entry.serialized(pretty: true), to: path, mode: 0o644, replace: true)
    }

    /// The list entry for a scanned QR code, or nil.
    public func listEntry(for qr: QRPayload) throws -> (state: PaymentState, document: Data)? {
        let path = listPath(token: qr.listToken)
        let data: Data
        do { data = try FileIO.read(path, maxBytes: 256 * 1024) } catch let e as QRPayError where e.exit == .noInput { return nil }
        let r = try JSONObjectReader(try JSONValue.parse(data, options: .init(maxBytes: 256 * 1024), what: "list entry"), what: "list entry")
        guard let state = PaymentState(rawValue: try r.string("state")) else {
            throw QRPayError("list.malformed", "payment-information list entry has an unknown state")
        }
        guard try r.string("shop") == qr.shop, try r.string("payment") == qr.payment else {
            throw QRPayError("list.mismatch", "payment-information list entry is for another payment than the QR code")
        }
        return (state, try r.value("document").serialized())
    }
}

/// A state marker, parsed from its name `<shop>~<payment>~<currency>~<total>`.
public struct StateMarker: Sendable, Equatable {
    public let shop: String
    public let payment: String
    public let currency: String
    public let total: Int64
    public let state: PaymentState
    public let day: String

    public init?(name: String, state: PaymentState, day: String) {
        let parts = name.split(separator: "~", omittingEmptySubsequences: false)
        guard parts.count == 4, let total = Int64(parts[3]) else { return nil }
        shop = String(parts[0]); payment = String(parts[1]); currency = String(parts[2])
        self.total = total; self.state = state; self.day = day
    }
}
