// The PG's append-only, hash-chained journal of state transitions.
//
// Files: ROOT/pg/journal/YYYY-MM-DD.jsonl, one JSON object a line:
//   {"seq":N,"at":"…","shop":"…","payment":"…","from":"request"|null,"to":"accept",
//    "evidence":"<base64url SHA-256 of the evidence>","prev":"<hash of the previous line>","hash":"<hash of this line>"}
// `hash` is base64url SHA-256 over the line's JSON without the `hash` member (sorted keys, compact);
// `prev` of the very first entry is 43 "A"s. An edited, removed or reordered line breaks the chain.
//
// Other events share the chain, marked by a `kind` member (absent for a payment's state change):
//   "account"       shop SHOP (or "pg-debtor"), payment "account" (or the debtor's currency),
//                   from the previous file's hash (null when new), to "set"; evidence: the file's hash
//   "payout"        a payment paid out: shop, payment, from null, to the payout id; evidence: the
//                   payout manifest's hash (recorded once per payment)
//   "payout-state"  a credit transfer of a payout: shop, payment the end-to-end id, from the previous
//                   status (null when sent), to "sent", "accepted", "rejected" or "booked"; evidence:
//                   the hash of the payout file or of the bank file that said so
//
// Appends from several stages (register, approve, settle run as separate programs) are serialized by
// flock(2) on ROOT/pg/journal/.lock. An entry is fsync'd before the record it describes changes,
// announced by an intent file (pg/journal/intents/) that goes once the records are in place: a
// rerun after a crash (or a commit that failed after the journal) finds the intent and journals
// nothing twice. Only a power loss may lose an intent (it is not fsync'd); `check` treats the
// identical consecutive repeat such a rerun may leave as a benign retry.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments
#if canImport(Glibc)
import Glibc
#endif

/// The `kind` member of a journal line (absent for a payment's state change).
package enum JournalEventKind: String, Sendable, CaseIterable {
    case account
    case payout
    case payoutState = "payout-state"
}

/// What one journal entry records, typed; the line keeps the format at the top of this file
/// (`kind`, `from`, `to`), so that other tools read it as before.
package enum JournalEvent: Equatable, Sendable {
    /// A payment's state change (shop, payment): from nil when the payment is new.
    case transition(from: PaymentState?, to: PaymentState)
    /// A payout account set (shop SHOP or "pg-debtor"; subject "account" or the debtor's currency):
    /// `previous` is the replaced file's hash (nil when new); the line's `to` is "set".
    case account(previous: String?)
    /// A payment (the subject) paid out by payout `id`.
    case payout(id: String)
    /// A credit transfer's status (the subject is its end-to-end id): from nil when sent.
    case payoutState(from: PayoutStatus?, to: PayoutStatus)

    /// The line's `kind`: nil for a payment's state change.
    package var kind: JournalEventKind? {
        switch self {
        case .transition: return nil
        case .account: return .account
        case .payout: return .payout
        case .payoutState: return .payoutState
        }
    }

    /// The line's `from` and `to` members.
    package var fromName: String? {
        switch self {
        case .transition(let from, _): return from?.rawValue
        case .account(let previous): return previous
        case .payout: return nil
        case .payoutState(let from, _): return from?.rawValue
        }
    }

    package var toName: String {
        switch self {
        case .transition(_, let to): return to.rawValue
        case .account: return "set"
        case .payout(let id): return id
        case .payoutState(_, let to): return to.rawValue
        }
    }

    /// The event a line's `kind`, `from` and `to` spell; `journal.malformed` for anything else.
    package init(kind: String?, from: String?, to: String) throws {
        func malformed(_ why: String) -> QRPayError { QRPayError(.journalMalformed, "journal entry \(why)") }
        guard let kind else {
            guard let state = PaymentState(rawValue: to), from.map({ PaymentState(rawValue: $0) != nil }) ?? true else {
                throw malformed("has an unknown state")
            }
            self = .transition(from: from.flatMap { PaymentState(rawValue: $0) }, to: state)
            return
        }
        switch JournalEventKind(rawValue: kind) {
        case nil: throw malformed("has an unknown kind \"\(kind.prefix(32))\"")
        case .account:
            guard to == "set" else { throw malformed("of kind account is not \"set\"") }
            self = .account(previous: from)
        case .payout:
            guard from == nil else { throw malformed("of kind payout has a from") }
            self = .payout(id: to)
        case .payoutState:
            guard let status = PayoutStatus(rawValue: to), from.map({ PayoutStatus(rawValue: $0) != nil }) ?? true else {
                throw malformed("of kind payout-state has an unknown status")
            }
            self = .payoutState(from: from.flatMap { PayoutStatus(rawValue: $0) }, to: status)
        }
    }
}

package struct JournalEntry: Equatable, Sendable {
    package let seq: Int64
    package let at: Date
    package let event: JournalEvent
    package let shop: String
    /// The payment, or what an event of another kind is about (see `JournalEvent`).
    package let payment: String
    /// The line's `kind`: nil for a payment's state change.
    package var kind: JournalEventKind? { event.kind }
    /// A payment's state change: the state it left (nil when new) and the state it entered; nil for
    /// an event of another kind.
    package var transition: (from: PaymentState?, to: PaymentState)? {
        if case .transition(let from, let to) = event { return (from, to) }
        return nil
    }
    package let evidence: String
    package let prev: String
    package private(set) var hash: String

    /// The largest sequence number an entry may carry: far beyond any journal, far enough below
    /// Int64.max that the next numbers (appends, the audit's expected successor) never overflow.
    package static let maxSeq: Int64 = 1 << 62

    var unsignedJSON: JSONValue {
        var o: [String: JSONValue] = [
            "seq": .int(seq), "at": .string(Timestamp.format(at)), "shop": .string(shop), "payment": .string(payment),
            "from": event.fromName.map { .string($0) } ?? .null, "to": .string(event.toName),
            "evidence": .string(evidence), "prev": .string(prev)]
        if let kind = event.kind { o["kind"] = .string(kind.rawValue) }
        return .object(o)
    }

    static func computeHash(_ unsigned: JSONValue) -> String {
        Base64URL.encode(Digest.sha256(unsigned.serialized()))
    }

    package var line: Data {
        guard case .object(var o) = unsignedJSON else { fatalError() }
        o["hash"] = .string(hash)
        var data = JSONValue.object(o).serialized()
        data.append(0x0A)
        return data
    }

    package init(line: Data) throws {
        let r = try JSONObjectReader(try JSONValue.parse(line, what: "journal entry"), what: "journal entry")
        try r.requireOnly(["seq", "at", "kind", "shop", "payment", "from", "to", "evidence", "prev", "hash"])
        let kind = try r.optionalString("kind", maxLength: 32)
        guard let at = Timestamp.parse(try r.string("at")) else {
            throw QRPayError(.journalMalformed, "journal entry has a malformed time")
        }
        let to = try r.string("to", maxLength: 128)
        var from: String? = nil
        if case .string(let f) = try r.value("from") { from = f }
        event = try JournalEvent(kind: kind, from: from, to: to)
        seq = try r.int("seq", in: 1...JournalEntry.maxSeq); self.at = at; shop = try r.string("shop"); payment = try r.string("payment")
        evidence = try r.string("evidence"); prev = try r.string("prev"); hash = try r.string("hash")
    }

    /// A payment's state change.
    init(seq: Int64, at: Date, shop: String, payment: String, from: PaymentState?, to: PaymentState, evidence: String, prev: String) {
        self.init(seq: seq, at: at, event: .transition(from: from, to: to), shop: shop, payment: payment, evidence: evidence, prev: prev)
    }

    init(seq: Int64, at: Date, event: JournalEvent, shop: String, payment: String, evidence: String, prev: String) {
        self.seq = seq; self.at = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down)); self.event = event
        self.shop = shop; self.payment = payment; self.evidence = evidence; self.prev = prev; self.hash = ""
        self.hash = JournalEntry.computeHash(unsignedJSON)
    }

    /// Whether `hash` matches the entry's content.
    package var isIntact: Bool { JournalEntry.computeHash(unsignedJSON) == hash }
}

package struct TransitionRequest: Sendable {
    package let event: JournalEvent
    package let shop: String
    /// The payment, or what an event of another kind is about (see `JournalEvent`).
    package let payment: String
    /// base64url SHA-256 of the evidence: a signed document's `documentHash` (SHA-256 of its compact
    /// serialization, whatever its JSON whitespace), or of a rule's evidence JSON. The record's
    /// history keeps the same, so `qrpay-spool check` compares them.
    package let evidence: String
    package let at: Date
    package init(shop: String, payment: String, from: PaymentState?, to: PaymentState, evidence: Data, at: Date) {
        self.init(shop: shop, payment: payment, from: from, to: to, evidenceHash: Base64URL.encode(Digest.sha256(evidence)), at: at)
    }
    package init(shop: String, payment: String, from: PaymentState?, to: PaymentState, evidenceHash: String, at: Date) {
        self.init(.transition(from: from, to: to), shop: shop, subject: payment, evidenceHash: evidenceHash, at: at)
    }
    /// Any event; `subject` is the payment, or what an event of another kind is about.
    package init(_ event: JournalEvent, shop: String, subject: String, evidenceHash: String, at: Date) {
        self.event = event
        self.shop = shop; self.payment = subject; self.evidence = evidenceHash; self.at = at
    }
}

package final class Journal: Sendable {
    package static let genesis = String(repeating: "A", count: 43)
    package let layout: SpoolLayout
    package var directory: String { layout.journalDirectory }

    package init(layout: SpoolLayout) {
        self.layout = layout
    }

    /// Appends entries for `transitions` in one locked, fsync'd write.
    @discardableResult
    package func append(_ transitions: [TransitionRequest]) throws -> [JournalEntry] {
        let appended = try append(transitions, announcing: true)
        finished(appended.completion)
        return appended.entries
    }

    /// Appends entries for `transitions`, announced first by an intent file (pg/journal/intents/)
    /// that the caller removes with `finished(_:)` once the records they describe are in place.
    /// A transition that an earlier append announced and whose intent is still there (that append's
    /// process was killed, or its commit failed after the journal) is journaled only if the journal
    /// does not hold it already: a rerun journals nothing twice. The intent is written without an
    /// fsync: `kill -9` cannot lose it; after a power loss a rerun may repeat an entry, which
    /// `qrpay-spool check` recognizes as a benign identical repeat.
    package func append(_ transitions: [TransitionRequest], announcing: Bool) throws -> (entries: [JournalEntry], completion: Completion) {
        guard !transitions.isEmpty else { return ([], Completion(intent: nil, adopted: [])) }
        try layout.makeDirectories(directory)
        let lockFD = open(layout.journalLock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard lockFD >= 0 else { throw QRPayError.io("open the journal lock", path: layout.journalLock, errno: errno) }
        defer { close(lockFD) }
        while flock(lockFD, LOCK_EX) != 0 {
            if errno != EINTR { throw QRPayError.io("lock the journal", path: layout.journalLock, errno: errno) }
        }
        defer { flock(lockFD, LOCK_UN) }
        let pending = pendingIntents()
        // A change an earlier, unfinished append announced and wrote is adopted, not written again:
        // this commit finishes it, and its announcement goes with this commit's.
        var adopted = Set<IntentKey>()
        let transitions = transitions.filter { t in
            let key = IntentKey(t)
            guard pending.contains(key) && journaled(t) else { return true }
            adopted.insert(key)
            return false
        }
        var intent: String?
        if announcing && !transitions.isEmpty { intent = try announce(transitions) }
        let last = try lastEntry()
        let head = last?.entry
        var seq = head?.seq ?? 0
        var prev = head?.hash ?? Journal.genesis
        // Files never go back in time: an entry goes into the file of its own day or of the newest
        // entry's file, whichever is later (an entry dated in the future, a stage run with a clock
        // ahead, moved later entries on; the day of the newest entry's time may be earlier than its file's).
        var day = last?.day ?? ""
        var entries: [JournalEntry] = []
        var bytesByFile: [(String, Data)] = []
        for t in transitions {
            seq += 1
            let e = JournalEntry(seq: seq, at: t.at, event: t.event, shop: t.shop, payment: t.payment, evidence: t.evidence, prev: prev)
            prev = e.hash
            entries.append(e)
            day = max(day, Timestamp.day(t.at))
            let file = layout.journalFile(day: day)
            if let last = bytesByFile.last, last.0 == file {
                bytesByFile[bytesByFile.count - 1].1.append(e.line)
            } else {
                bytesByFile.append((file, e.line))
            }
        }
        for (file, data) in bytesByFile {
            let created = !FileIO.exists(file)
            let fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
            guard fd >= 0 else { throw QRPayError.io("open the journal", path: file, errno: errno) }
            defer { close(fd) }
            try FileIO.writeAll(fd: fd, data, path: file)
            guard fsync(fd) == 0 else { throw QRPayError.io("fsync the journal", path: file, errno: errno) }
            if created { try FileIO.fsyncDirectory(directory) }
        }
        return (entries, Completion(intent: intent, adopted: adopted))
    }

    /// What to undo once a commit's records are in place: its own intent, and the changes it
    /// adopted from earlier intents.
    package struct Completion: Sendable {
        let intent: String?
        let adopted: Set<IntentKey>
        package var isEmpty: Bool { intent == nil && adopted.isEmpty }
    }

    struct IntentKey: Hashable {
        let shop: String, payment: String, to: String, evidence: String
        init(_ t: TransitionRequest) {
            shop = (t.event.kind.map { $0.rawValue + ":" } ?? "") + t.shop; payment = t.payment; to = t.event.toName; evidence = t.evidence
        }
        init(shop: String, payment: String, to: String, evidence: String) {
            self.shop = shop; self.payment = payment; self.to = to; self.evidence = evidence
        }
        /// One transition of an intent file, as `announce` writes it.
        init?(_ t: JSONValue) {
            guard let shop = t["shop"]?.stringValue, let payment = t["payment"]?.stringValue,
                  let to = t["to"]?.stringValue, let evidence = t["evidence"]?.stringValue else { return nil }
            self.init(shop: shop, payment: payment, to: to, evidence: evidence)
        }
    }

    /// How long an intent is kept at most: `contains` looks two days back.
    static let intentLifetime: TimeInterval = 2 * 86400

    /// The transitions of intents still there (usually none: the directory is empty). Intents
    /// older than their lifetime are removed.
    func pendingIntents() -> Set<IntentKey> {
        let dir = layout.journalIntentsDirectory
        guard let names = try? FileIO.listDirectory(dir), !names.isEmpty else { return [] }
        var keys = Set<IntentKey>()
        for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let path = dir + "/" + name
            guard let data = try? FileIO.read(path, maxBytes: 16 << 20),
                  let value = try? JSONValue.parse(data, options: .init(maxBytes: 16 << 20), what: "journal intent") else { continue }
            if let at = value["at"]?.stringValue.flatMap(Timestamp.parse), Date().timeIntervalSince(at) > Journal.intentLifetime {
                unlink(path)
                continue
            }
            for t in value["transitions"]?.arrayValue ?? [] {
                if let key = IntentKey(t) { keys.insert(key) }
            }
        }
        return keys
    }

    func announce(_ transitions: [TransitionRequest]) throws -> String {
        let path = layout.journalIntent(name: FileIO.uniqueName())
        let value: JSONValue = ["v": 1, "at": .string(Timestamp.format(Date())), "transitions": .array(transitions.map {
            ["shop": .string(IntentKey($0).shop), "payment": .string($0.payment), "to": .string($0.event.toName), "evidence": .string($0.evidence)]
        })]
        func write() throws {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640)
            guard fd >= 0 else { throw QRPayError.io("create the journal intent", path: path, errno: errno) }
            defer { close(fd) }
            try FileIO.writeAll(fd: fd, value.serialized(), path: path)
        }
        do {
            try write()
        } catch let error as QRPayError where error.code == "io.not-found" {
            try layout.makeDirectories(layout.journalIntentsDirectory)
            try write()
        }
        return path
    }

    /// A payment change an intent still announces: a commit that appended it to the journal and was
    /// killed, or failed, before its last name (its record, markers, notices, receipts, list entry).
    package struct UnfinishedChange: Equatable, Sendable {
        package let to: String
        package let evidence: String
    }

    /// The changes of payment (shop, payment) that intents still announce (usually none: the
    /// directory is empty). Until the stage that began such a change reruns and finishes it, the
    /// payment takes no other change: a cancel never overtakes an approval the journal holds.
    /// Only changes the journal holds count: an intent whose append failed before the journal did
    /// (a full disk) announces nothing that happened.
    package func unfinishedChanges(shop: String, payment: String) -> [UnfinishedChange] {
        pendingIntents().filter { key in
            key.shop == shop && key.payment == payment
                && holds(kind: nil, shop: shop, payment: payment, to: key.to, evidence: [key.evidence], days: 2)
        }.map { UnfinishedChange(to: $0.to, evidence: $0.evidence) }
    }

    /// An intent file still there: its path, when it was written, and the changes it announces
    /// (`shop` carries a `kind:` prefix for events other than a payment's change).
    package struct PendingIntent: Sendable {
        package let path: String
        package let at: Date?
        package let changes: [(shop: String, payment: String, to: String, evidence: String, journaled: Bool)]
    }

    /// Every intent still there, for `qrpay-spool check` (the usual answer: none).
    package func intents() -> [PendingIntent] {
        let dir = layout.journalIntentsDirectory
        var out: [PendingIntent] = []
        for name in ((try? FileIO.listDirectory(dir)) ?? []).sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let path = dir + "/" + name
            guard let data = try? FileIO.read(path, maxBytes: 16 << 20),
                  let value = try? JSONValue.parse(data, options: .init(maxBytes: 16 << 20), what: "journal intent") else {
                out.append(PendingIntent(path: path, at: nil, changes: []))
                continue
            }
            let changes = (value["transitions"]?.arrayValue ?? []).compactMap(IntentKey.init).map { key in
                let parts = key.shop.split(separator: ":", maxSplits: 1).map(String.init)
                let kind = parts.count == 2 ? JournalEventKind(rawValue: parts[0]) : nil
                let shop = parts.count == 2 ? parts[1] : key.shop
                return (shop: key.shop, payment: key.payment, to: key.to, evidence: key.evidence,
                        journaled: holds(kind: kind, shop: shop, payment: key.payment, to: key.to, evidence: [key.evidence], days: 3))
            }
            out.append(PendingIntent(path: path, at: value["at"]?.stringValue.flatMap(Timestamp.parse), changes: changes))
        }
        return out
    }

    /// The records an intent announced are in place: the intent goes. The changes adopted from
    /// earlier intents leave them (an intent whose every change is finished goes; one with others
    /// left is rewritten without the finished ones, under the journal's lock).
    package func finished(_ completion: Completion) {
        if let intent = completion.intent { unlink(intent) }
        guard !completion.adopted.isEmpty else { return }
        let lockFD = open(layout.journalLock, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        guard lockFD >= 0 else { return }  // the intents stay: a later rerun finds them journaled
        defer { close(lockFD) }
        while flock(lockFD, LOCK_EX) != 0 { if errno != EINTR { return } }
        defer { flock(lockFD, LOCK_UN) }
        let dir = layout.journalIntentsDirectory
        for name in (try? FileIO.listDirectory(dir)) ?? [] where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let path = dir + "/" + name
            guard let data = try? FileIO.read(path, maxBytes: 16 << 20),
                  let value = try? JSONValue.parse(data, options: .init(maxBytes: 16 << 20), what: "journal intent"),
                  case .object(var object) = value, let all = value["transitions"]?.arrayValue else { continue }
            let left = all.filter { t in
                guard let key = IntentKey(t) else { return true }
                return !completion.adopted.contains(key)
            }
            if left.count == all.count { continue }
            if left.isEmpty { unlink(path); continue }
            object["transitions"] = .array(left)
            let tmp = dir + "/." + FileIO.uniqueName()
            let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640)
            guard fd >= 0 else { continue }
            let written = (try? FileIO.writeAll(fd: fd, JSONValue.object(object).serialized(), path: tmp)) != nil
            close(fd)
            if !written || rename(tmp, path) != 0 { unlink(tmp) }
        }
    }

    /// Whether the journal's last `days` files hold a transition of (shop, payment) to `to` with this
    /// evidence: what a run that crashed between its journal append and its records had done. Read
    /// only for files recovered after a crash, so that the rerun finishes that work instead of
    /// judging it anew (and contradicting the journal).
    package func contains(shop: String, payment: String, to: PaymentState, evidence: String, days: Int = 2) -> Bool {
        holds(kind: nil, shop: shop, payment: payment, to: to.rawValue, evidence: [evidence], days: days)
    }

    /// `contains` for a change whose evidence may be any of `evidences` (one scan).
    package func contains(shop: String, payment: String, to: PaymentState, anyOf evidences: Set<String>, days: Int) -> Bool {
        !evidences.isEmpty && holds(kind: nil, shop: shop, payment: payment, to: to.rawValue, evidence: evidences, days: days)
    }

    /// Whether the journal's last two files hold this very transition (any kind): what an announced
    /// append that did not finish had already written.
    func journaled(_ t: TransitionRequest, days: Int = 2) -> Bool {
        holds(kind: t.event.kind, shop: t.shop, payment: t.payment, to: t.event.toName, evidence: [t.evidence], days: days)
    }

    /// The entry of a change of (shop, payment) to `to` with this evidence in the last `days` files:
    /// what a rerun that finishes a change the journal holds takes its time from (so the record says
    /// what the journal says, and the due entry the crashed run named is the one it names).
    package func entry(shop: String, payment: String, to: PaymentState, evidence: String, days: Int = 2) -> JournalEntry? {
        find(kind: nil, shop: shop, payment: payment, to: to.rawValue, evidence: [evidence], days: days)
    }

    /// The one scan behind `contains` and `journaled`: the last `days` files, newest first.
    private func holds(kind: JournalEventKind?, shop: String, payment: String, to: String, evidence: Set<String>, days: Int) -> Bool {
        find(kind: kind, shop: shop, payment: payment, to: to, evidence: evidence, days: days) != nil
    }

    private func find(kind: JournalEventKind?, shop: String, payment: String, to: String, evidence: Set<String>, days: Int) -> JournalEntry? {
        guard let files = try? files().suffix(days) else { return nil }
        for file in files.reversed() {
            guard let reader = try? LineReader(path: file) else { continue }
            while let line = try? reader.next() {
                guard let entry = try? JournalEntry(line: line) else { continue }
                if entry.kind == kind && entry.payment == payment && entry.shop == shop && entry.event.toName == to
                    && evidence.contains(entry.evidence) { return entry }
            }
        }
        return nil
    }

    /// Journal files, oldest first.
    package func files() throws -> [String] {
        try FileIO.listDirectory(directory).filter { $0.hasSuffix(".jsonl") && !$0.hasPrefix(".") }.sorted()
            .map { directory + "/" + $0 }
    }

    /// The newest entry and the day of the file it is in; a torn last line left by a crash (no
    /// newline) is cut off first.
    func lastEntry() throws -> (entry: JournalEntry, day: String)? {
        for file in try files().reversed() {
            let fd = open(file, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { throw QRPayError.io("open the journal", path: file, errno: errno) }
            defer { close(fd) }
            var st = stat()
            fstat(fd, &st)
            let size = Int(st.st_size)
            if size == 0 { continue }
            let window = min(size, 64 * 1024)
            var buffer = [UInt8](repeating: 0, count: window)
            let n = pread(fd, &buffer, window, off_t(size - window))
            guard n == window else { throw QRPayError.io("read the journal", path: file, errno: errno) }
            var end = window
            if buffer[end - 1] != 0x0A {
                // A torn write: the entry was never acknowledged (its fsync did not return). Cut it.
                guard let nl = buffer.lastIndex(of: 0x0A) else {
                    if window == size { ftruncate(fd, 0); fsync(fd); continue }
                    throw QRPayError(.journalCorrupt, "\(file): last line longer than 64 KiB")
                }
                ftruncate(fd, off_t(size - window + nl + 1)); fsync(fd)
                end = nl + 1
            }
            let body = buffer[0..<(end - 1)]
            let start = (body.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
            return (try JournalEntry(line: Data(buffer[start..<(end - 1)])), String((file as NSString).lastPathComponent.dropLast(".jsonl".count)))
        }
        return nil
    }

    /// The evidence of each payment's changes to `to` in the files of `day` and after (an entry is
    /// in the file of its day or a later one), keyed "shop/payment": one read of the journal since
    /// `day` for a whole batch (the payout's check of what it pays against the ledger of record).
    package func changes(to: PaymentState, since day: String) throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        for file in try files() where (file as NSString).lastPathComponent >= day + ".jsonl" {
            let reader = try LineReader(path: file)
            let marker = Data("\"to\":\"\(to.rawValue)\"".utf8)  // lines are compact JSON: parse only those
            while let line = try reader.next() {
                guard line.range(of: marker) != nil, let entry = try? JournalEntry(line: line), entry.transition?.to == to else { continue }
                out[entry.shop + "/" + entry.payment, default: []].insert(entry.evidence)
            }
        }
        return out
    }

    /// Each payment's last state in the files of `day` and after, keyed "shop/payment" (a payment's
    /// changes are all in the files of its creation day, or the day before for a clock a little
    /// ahead, and later): what a day's reconciliation counts by, one read of the journal since then.
    package func lastStates(since day: String) throws -> [String: PaymentState] {
        var out: [String: PaymentState] = [:]
        for file in try files() where (file as NSString).lastPathComponent >= day + ".jsonl" {
            let reader = try LineReader(path: file)
            while let line = try reader.next() {
                guard let entry = try? JournalEntry(line: line), let t = entry.transition else { continue }
                out[entry.shop + "/" + entry.payment] = t.to
            }
        }
        return out
    }

    /// Every entry, oldest first, streaming file by file.
    package func forEachEntry(_ body: (JournalEntry, String, Int) throws -> Void) throws {
        for file in try files() {
            let data = try FileIO.read(file, maxBytes: 1 << 34)
            var lineNumber = 0
            for line in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
                lineNumber += 1
                if line.isEmpty { continue }
                try body(try JournalEntry(line: Data(line)), file, lineNumber)
            }
        }
    }
}
