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

package struct JournalEntry: Equatable, Sendable {
    /// The event kinds besides a payment's state change (see the top of this file).
    package static let kinds: Set<String> = ["account", "payout", "payout-state"]
    package let seq: Int64
    package let at: Date
    /// nil: a payment's state change; else one of `kinds`.
    package let kind: String?
    package let shop: String
    package let payment: String
    /// The states as written (a payment's state, or the event's own words).
    package let fromName: String?
    package let toName: String
    /// A payment's state change (kind nil): the state it left (nil when new).
    package var from: PaymentState? { kind == nil ? fromName.flatMap { PaymentState(rawValue: $0) } : nil }
    /// A payment's state change (kind nil): the state it entered.
    package var to: PaymentState { kind == nil ? PaymentState(rawValue: toName) ?? .request : .request }
    package let evidence: String
    package let prev: String
    package private(set) var hash: String

    /// The largest sequence number an entry may carry: far beyond any journal, far enough below
    /// Int64.max that the next numbers (appends, the audit's expected successor) never overflow.
    package static let maxSeq: Int64 = 1 << 62

    var unsignedJSON: JSONValue {
        var o: [String: JSONValue] = [
            "seq": .int(seq), "at": .string(Timestamp.format(at)), "shop": .string(shop), "payment": .string(payment),
            "from": fromName.map { .string($0) } ?? .null, "to": .string(toName),
            "evidence": .string(evidence), "prev": .string(prev)]
        if let kind { o["kind"] = .string(kind) }
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
        if let kind, !JournalEntry.kinds.contains(kind) {
            throw QRPayError(.journalMalformed, "journal entry has an unknown kind \"\(kind.prefix(32))\"")
        }
        guard let at = Timestamp.parse(try r.string("at")) else {
            throw QRPayError(.journalMalformed, "journal entry has a malformed time")
        }
        let to = try r.string("to", maxLength: 128)
        var from: String? = nil
        if case .string(let f) = try r.value("from") { from = f }
        if kind == nil {
            guard PaymentState(rawValue: to) != nil, from.map({ PaymentState(rawValue: $0) != nil }) ?? true else {
                throw QRPayError(.journalMalformed, "journal entry has an unknown state")
            }
        }
        seq = try r.int("seq", in: 1...JournalEntry.maxSeq); self.at = at; self.kind = kind; shop = try r.string("shop"); payment = try r.string("payment")
        fromName = from; toName = to; evidence = try r.string("evidence"); prev = try r.string("prev"); hash = try r.string("hash")
    }

    /// A payment's state change.
    init(seq: Int64, at: Date, shop: String, payment: String, from: PaymentState?, to: PaymentState, evidence: String, prev: String) {
        self.init(seq: seq, at: at, kind: nil, shop: shop, payment: payment, from: from?.rawValue, to: to.rawValue, evidence: evidence, prev: prev)
    }

    init(seq: Int64, at: Date, kind: String?, shop: String, payment: String, from: String?, to: String, evidence: String, prev: String) {
        self.init(seq: seq, at: Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down)), kind: kind, shop: shop,
                  payment: payment, from: from, to: to, evidence: evidence, prev: prev, hash: "")
        self.hash = JournalEntry.computeHash(unsignedJSON)
    }

    private init(seq: Int64, at: Date, kind: String?, shop: String, payment: String, from: String?, to: String,
                 evidence: String, prev: String, hash: String) {
        self.seq = seq; self.at = at; self.kind = kind; self.shop = shop; self.payment = payment; self.fromName = from; self.toName = to
        self.evidence = evidence; self.prev = prev; self.hash = hash
    }

    /// Whether `hash` matches the entry's content.
    package var isIntact: Bool { JournalEntry.computeHash(unsignedJSON) == hash }
}

package struct TransitionRequest: Sendable {
    /// nil for a payment's state change; else a JournalEntry kind.
    package let kind: String?
    package let shop: String
    package let payment: String
    package let from: String?
    package let to: String
    /// base64url SHA-256 of the evidence: a signed document's `documentHash` (SHA-256 of its compact
    /// serialization, whatever its JSON whitespace), or of a rule's evidence JSON. The record's
    /// history keeps the same, so `qrpay-spool check` compares them.
    package let evidence: String
    package let at: Date
    package init(shop: String, payment: String, from: PaymentState?, to: PaymentState, evidence: Data, at: Date) {
        self.init(shop: shop, payment: payment, from: from, to: to, evidenceHash: Base64URL.encode(Digest.sha256(evidence)), at: at)
    }
    package init(shop: String, payment: String, from: PaymentState?, to: PaymentState, evidenceHash: String, at: Date) {
        self.kind = nil
        self.shop = shop; self.payment = payment; self.from = from?.rawValue; self.to = to.rawValue; self.evidence = evidenceHash; self.at = at
    }
    /// An event of another kind (JournalEntry.kinds).
    package init(kind: String, shop: String, subject: String, from: String?, to: String, evidenceHash: String, at: Date) {
        precondition(JournalEntry.kinds.contains(kind))
        self.kind = kind
        self.shop = shop; self.payment = subject; self.from = from; self.to = to; self.evidence = evidenceHash; self.at = at
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
        let (entries, intent) = try append(transitions, announcing: true)
        if let intent { finished(intent: intent) }
        return entries
    }

    /// Appends entries for `transitions`, announced first by an intent file (pg/journal/intents/)
    /// that the caller removes with `finished(intent:)` once the records they describe are in place.
    /// A transition that an earlier append announced and whose intent is still there (that append's
    /// process was killed, or its commit failed after the journal) is journaled only if the journal
    /// does not hold it already: a rerun journals nothing twice. The intent is written without an
    /// fsync: `kill -9` cannot lose it; after a power loss a rerun may repeat an entry, which
    /// `qrpay-spool check` recognizes as a benign identical repeat.
    package func append(_ transitions: [TransitionRequest], announcing: Bool) throws -> (entries: [JournalEntry], intent: String?) {
        guard !transitions.isEmpty else { return ([], nil) }
        try layout.makeDirectories(directory)
        let lockFD = open(layout.journalLock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard lockFD >= 0 else { throw QRPayError.io("open the journal lock", path: layout.journalLock, errno: errno) }
        defer { close(lockFD) }
        while flock(lockFD, LOCK_EX) != 0 {
            if errno != EINTR { throw QRPayError.io("lock the journal", path: layout.journalLock, errno: errno) }
        }
        defer { flock(lockFD, LOCK_UN) }
        let pending = pendingIntents()
        let transitions = transitions.filter { t in
            !(pending.contains(IntentKey(t)) && journaled(t))
        }
        var intent: String?
        if announcing && !transitions.isEmpty { intent = try announce(transitions) }
        let head = try lastEntry()
        var seq = head?.seq ?? 0
        var prev = head?.hash ?? Journal.genesis
        var entries: [JournalEntry] = []
        var bytesByFile: [(String, Data)] = []
        for t in transitions {
            seq += 1
            let e = JournalEntry(seq: seq, at: t.at, kind: t.kind, shop: t.shop, payment: t.payment, from: t.from, to: t.to,
                                 evidence: t.evidence, prev: prev)
            prev = e.hash
            entries.append(e)
            let file = layout.journalFile(day: Timestamp.day(max(t.at, head?.at ?? t.at)))
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
        return (entries, intent)
    }

    struct IntentKey: Hashable {
        let shop: String, payment: String, to: String, evidence: String
        init(_ t: TransitionRequest) { shop = (t.kind.map { $0 + ":" } ?? "") + t.shop; payment = t.payment; to = t.to; evidence = t.evidence }
        init(shop: String, payment: String, to: String, evidence: String) {
            self.shop = shop; self.payment = payment; self.to = to; self.evidence = evidence
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
                guard let shop = t["shop"]?.stringValue, let payment = t["payment"]?.stringValue,
                      let to = t["to"]?.stringValue, let evidence = t["evidence"]?.stringValue else { continue }
                keys.insert(IntentKey(shop: shop, payment: payment, to: to, evidence: evidence))
            }
        }
        return keys
    }

    func announce(_ transitions: [TransitionRequest]) throws -> String {
        let path = layout.journalIntent(name: FileIO.uniqueName())
        let value: JSONValue = ["v": 1, "at": .string(Timestamp.format(Date())), "transitions": .array(transitions.map {
            ["shop": .string(IntentKey($0).shop), "payment": .string($0.payment), "to": .string($0.to), "evidence": .string($0.evidence)]
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

    /// The records an intent announced are in place: the intent goes.
    package func finished(intent: String) {
        unlink(intent)
    }

    /// Whether the journal's last `days` files hold a transition of (shop, payment) to `to` with this
    /// evidence: what a run that crashed between its journal append and its records had done. Read
    /// only for files recovered after a crash, so that the rerun finishes that work instead of
    /// judging it anew (and contradicting the journal).
    package func contains(shop: String, payment: String, to: PaymentState, evidence: String, days: Int = 2) -> Bool {
        holds(kind: nil, shop: shop, payment: payment, to: to.rawValue, evidence: evidence, days: days)
    }

    /// Whether the journal's last two files hold this very transition (any kind): what an announced
    /// append that did not finish had already written.
    func journaled(_ t: TransitionRequest, days: Int = 2) -> Bool {
        holds(kind: t.kind, shop: t.shop, payment: t.payment, to: t.to, evidence: t.evidence, days: days)
    }

    /// The one scan behind `contains` and `journaled`: the last `days` files, newest first.
    private func holds(kind: String?, shop: String, payment: String, to: String, evidence: String, days: Int) -> Bool {
        guard let files = try? files().suffix(days) else { return false }
        for file in files.reversed() {
            guard let reader = try? LineReader(path: file) else { continue }
            while let line = try? reader.next() {
                guard let entry = try? JournalEntry(line: line) else { continue }
                if entry.kind == kind && entry.payment == payment && entry.shop == shop && entry.toName == to
                    && entry.evidence == evidence { return true }
            }
        }
        return false
    }

    /// Journal files, oldest first.
    package func files() throws -> [String] {
        try FileIO.listDirectory(directory).filter { $0.hasSuffix(".jsonl") && !$0.hasPrefix(".") }.sorted()
            .map { directory + "/" + $0 }
    }

    /// The newest entry; a torn last line left by a crash (no newline) is cut off first.
    func lastEntry() throws -> JournalEntry? {
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
            return try JournalEntry(line: Data(buffer[start..<(end - 1)]))
        }
        return nil
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
