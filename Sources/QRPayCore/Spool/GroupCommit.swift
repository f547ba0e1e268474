// Group commit: the one way QR-Pay makes files durable. Many files are written, then made durable
// together, then get their names, then their directory entries are made durable together. A
// stage writes its outputs through the `GroupCommit` the runner hands it; the runner flushes once
// per batch and only then completes (acknowledges) the inputs, so nothing is acknowledged before it
// is durable. A single file written outside a stage is a commit of one (`Durable.write`,
// `Queue.deliver`).
//
// Nothing staged is visible at its target before `flush()`: the bytes sit in a temporary file
// until they are durable, then get their name. For a store file (record, marker, list entry, QR PNG)
// that is an anonymous file in the target's directory (O_TMPFILE), named by one linkat; where the
// file system has no O_TMPFILE, a dotfile beside the target, renamed. A queue delivery keeps
// Maildir's protocol: a named file in the queue's tmp/, renamed into new/ without replacing. A
// crash before the names leaves nothing behind but, at worst, dotfiles and tmp/ files that
// `qrpay-spool check --repair` (and the stage runner, for tmp/) removes.
//
// A flush: (1) the temporaries' data is made durable: one syncfs(2) of their file system for a
// batch of more than `syncfsThreshold` files, else fsync of each; (2) staged journal transitions are
// appended (one locked, fsync'd append per journal: the entry is durable before the record it
// describes changes; an intent file in pg/journal/intents/ announces them until step 5, so a rerun
// after a crash or a failed commit journals nothing twice); (3) names: links and renames into place in staging order, then staged
// removals; (4) the directory entries are made durable: one more syncfs, or an fsync per directory
// (through syncfs of a written file's descriptor where the writer may not open the directory, as
// a shop may not read the PG's inbox); (5) the intents go.
//
// Keys: `claim(key:)` reserves a name (a payment record's path) in the stage run's context until the
// commit is flushed or discarded, so two concurrent batches never change one payment; the loser
// gets the transient `spool.in-flight` (its file is deferred and retried).

import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What to do when a staged file's target already exists at flush.
public enum IfExists: Sendable {
    /// An error (`spool.exists`): QR-Pay never overwrites such a file.
    case fail
    /// Keep the existing file and drop the staged one (a delivery that must happen at most once).
    case keep
    /// Replace it atomically (rename over it).
    case replace
}

/// The time a program works at: the system clock, or (for tests and replays) a clock set through
/// the environment: QRPAY_CLOCK=+SECONDS or -SECONDS (offset from the system clock) or
/// QRPAY_CLOCK=YYYY-MM-DDTHH:MM:SSZ (a fixed time). Documented as for tests; never set it in
/// production.
public struct TimeSource: Sendable {
    private let clock: @Sendable () -> Date

    public init(_ now: @escaping @Sendable () -> Date) { clock = now }

    public func now() -> Date { clock() }

    public static let system = TimeSource { Date() }

    /// The environment variable that sets the clock (tests only).
    public static let environmentVariable = "QRPAY_CLOCK"

    /// The clock QRPAY_CLOCK asks for, else the system clock. A malformed value is a usage error.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> TimeSource {
        guard let text = environment[environmentVariable], !text.isEmpty else { return .system }
        if let first = text.first, first == "+" || first == "-", let offset = Double(text.dropFirst()), offset.isFinite {
            let signed = first == "-" ? -offset : offset
            return TimeSource { Date().addingTimeInterval(signed) }
        }
        if let fixed = Timestamp.parse(text) { return TimeSource { fixed } }
        throw QRPayError(.usage, "\(environmentVariable)=\"\(text.prefix(40))\" is neither +SECONDS, -SECONDS nor a UTC time YYYY-MM-DDTHH:MM:SSZ")
    }
}

/// Directories known to exist, so that a batch does not lstat (or create) them again for every
/// file. Thread-safe; an entry is trusted for 10 s (a directory an operator removes under a running
/// --watch stage comes back).
final class DirectoryCache: Sendable {
    private let known = Mutex<[String: Double]>([:])
    static let lifetime = 10.0

    private static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    func isKnown(_ path: String) -> Bool {
        let now = DirectoryCache.monotonic()
        return known.withLock { ($0[path] ?? -1) > now }
    }

    func remember(_ path: String) {
        let until = DirectoryCache.monotonic() + DirectoryCache.lifetime
        known.withLock { $0[path] = until }
    }

    func forget(_ path: String) {
        known.withLock { _ = $0.removeValue(forKey: path) }
    }
}

/// Names reserved by commits in flight (payment records), so two batches never change one payment.
final class KeyReservations: Sendable {
    private let keys = Mutex<Set<String>>([])

    /// Reserves `key`; false when another commit holds it.
    func reserve(_ key: String) -> Bool { keys.withLock { $0.insert(key).inserted } }

    func release(_ released: some Sequence<String>) {
        keys.withLock { set in for k in released { set.remove(k) } }
    }
}

/// What one run of a stage (or one command) shares between its commits: the spool's layout, the
/// clock, the directories known to exist and the keys reserved by batches in flight.
public final class StageContext: Sendable {
    public let layout: SpoolLayout
    public let clock: TimeSource
    let directories = DirectoryCache()
    let reservations = KeyReservations()

    public init(layout: SpoolLayout, clock: TimeSource = .system) {
        self.layout = layout
        self.clock = clock
    }

    public convenience init(spoolRoot: String, clock: TimeSource = .system) {
        self.init(layout: SpoolLayout(root: spoolRoot), clock: clock)
    }

    public func now() -> Date { clock.now() }

    /// Makes sure the directory `path` of the spool exists (created with the layout's modes when
    /// missing); remembered for 10 s.
    public func ensureDirectory(_ path: String) throws {
        if directories.isKnown(path) { return }
        try layout.makeDirectories(path)
        directories.remember(path)
    }

    /// Makes sure a queue and its subdirectories exist.
    public func ensureQueue(_ queue: Queue) throws {
        if directories.isKnown(queue.path) { return }
        if !(FileIO.isDirectory(queue.tmpDirectory) && FileIO.isDirectory(queue.newDirectory)) { try layout.makeQueue(queue) }
        directories.remember(queue.path)
    }

    /// Forgets a directory found missing.
    func forgetDirectory(_ path: String) { directories.forget(path) }
}

public final class GroupCommit {
    private struct Item {
        /// The named temporary file, or "" for an anonymous one (O_TMPFILE, named at flush by linkat).
        let tmp: String
        let target: String
        var fd: Int32
        let ifExists: IfExists
        let data: Data
        /// Named after every other file of the commit (a payment's record: see `write`).
        let last: Bool
    }

    /// A savepoint: what was staged up to now.
    public struct Mark: Sendable, Equatable {
        let items: Int
        let removals: Int
        let transitions: Int
        let keys: Int
    }

    public let context: StageContext
    private var items: [Item] = []
    private var byTarget: [String: Int] = [:]
    private var removals: [String] = []
    private var transitions: [(journal: Journal, request: TransitionRequest)] = []
    private var keys: [String] = []
    /// Batches with more files than this are made durable with syncfs(2) instead of one fsync per
    /// file and directory.
    let syncfsThreshold: Int

    public init(context: StageContext, syncfsThreshold: Int = 2) {
        self.context = context
        self.syncfsThreshold = syncfsThreshold
    }

    deinit { discard() }

    /// Number of staged files.
    public var count: Int { items.count }
    public var isEmpty: Bool { items.isEmpty && removals.isEmpty && transitions.isEmpty }

    /// Stages `data` for `path`: at flush it appears there complete or not at all. The temporary
    /// file is an anonymous file (or a dotfile) beside the target. `last`: named only after every
    /// other file of the commit, so that a crash in between leaves the old file and all the new
    /// outputs, never the new file without its outputs (a payment's record is written last: a rerun
    /// then finds the payment where it was and makes the change, and its notices, again).
    public func write(_ data: Data, to path: String, mode: mode_t = Queue.fileMode, ifExists: IfExists = .fail, last: Bool = false) throws {
        let dir = FileIO.parentDirectory(path)
        try stage(data, to: path, tmp: dir + "/.tmp." + FileIO.uniqueName(), anonymousIn: dir, mode: mode, ifExists: ifExists, last: last)
    }

    /// Stages a delivery into `queue`'s new/ through its tmp/ (Maildir). Returns the name.
    /// `ifExists: .keep`: a file of that name already in new/ at flush is kept (at most once).
    @discardableResult
    public func deliver(_ data: Data, to queue: Queue, name: String? = nil, suffix: String = ".json",
                        mode: mode_t = Queue.fileMode, ifExists: IfExists = .fail) throws -> String {
        precondition(ifExists != .replace, "a queue never replaces a file")
        let name = name ?? FileIO.uniqueName(suffix: suffix)
        try SpoolName.validate(name)
        try stage(data, to: queue.newDirectory + "/" + name, tmp: queue.tmpDirectory + "/" + FileIO.uniqueName(suffix: ".tmp"),
                  anonymousIn: nil, mode: mode, ifExists: ifExists, last: false)
        return name
    }

    /// Removes `path` after everything staged is in place (a state marker the record left behind).
    public func remove(_ path: String) {
        removals.append(path)
    }

    /// Appends `request` to `journal` at flush, before anything staged becomes visible.
    public func journal(_ journal: Journal, _ request: TransitionRequest) {
        transitions.append((journal, request))
    }

    /// Reserves `key` for this commit until it is flushed or discarded. Claiming a key this commit
    /// already holds is a no-op. Throws the transient `spool.in-flight` when another commit holds it.
    public func claim(key: String) throws {
        if keys.contains(key) { return }
        guard context.reservations.reserve(key) else {
            throw QRPayError(.spoolInFlight, "\(context.layout.relative(key)) is being changed by another batch of this process; retried later")
        }
        keys.append(key)
    }

    private func releaseKeys(from index: Int) {
        guard index < keys.count else { return }
        context.reservations.release(keys[index...])
        keys.removeSubrange(index...)
    }

    /// What a staged, not yet flushed write will put at `path` (the latest one), or nil.
    public func pendingData(at path: String) -> Data? {
        byTarget[path].map { items[$0].data }
    }

    private func stage(_ data: Data, to target: String, tmp named: String, anonymousIn directory: String?,
                       mode: mode_t, ifExists: IfExists, last: Bool) throws {
        if ifExists != .replace, byTarget[target] != nil {
            if ifExists == .keep { return }
            throw QRPayError(.spoolExists, "\(target) is already being written in this batch")
        }
        var fd: Int32 = -1
        var tmp = named
        if let directory, let anonymous = try FileIO.openAnonymous(in: directory, mode: mode) {
            fd = anonymous
            tmp = ""
        } else {
            fd = try FileIO.createOpen(tmp, mode: mode)
        }
        do {
            try FileIO.writeAll(fd: fd, data, path: tmp.isEmpty ? target : tmp)
        } catch {
            close(fd)
            if !tmp.isEmpty { unlink(tmp) }
            throw error
        }
        byTarget[target] = items.count
        items.append(Item(tmp: tmp, target: target, fd: fd, ifExists: ifExists, data: data, last: last))
    }

    /// A savepoint: `rollback(to:)` discards what was staged after it (a file that failed halfway).
    public var mark: Mark {
        Mark(items: items.count, removals: removals.count, transitions: transitions.count, keys: keys.count)
    }

    public func rollback(to mark: Mark) {
        if mark.removals < removals.count { removals.removeSubrange(mark.removals...) }
        if mark.transitions < transitions.count { transitions.removeSubrange(mark.transitions...) }
        releaseKeys(from: mark.keys)
        discardItems(from: mark.items)
    }

    private func discardItems(from mark: Int) {
        guard mark < items.count else { return }
        for item in items[mark...] {
            if item.fd >= 0 { close(item.fd) }
            if !item.tmp.isEmpty { unlink(item.tmp) }
        }
        items.removeSubrange(mark...)
        byTarget = byTarget.filter { $0.value < mark }
        // An earlier write to the same target may have been shadowed by a discarded one.
        for (i, item) in items.enumerated() { byTarget[item.target] = i }
    }

    /// Makes everything staged durable and visible (see the top of this file). On an error, what
    /// was already linked stays (durable content), the rest is discarded, and the error is thrown.
    public func flush() throws {
        var named = Set<Int>()  // items in place
        var syncDescriptors: [Int32] = []  // one per file system, for the second syncfs (and the fallback)
        defer {
            for fd in syncDescriptors { close(fd) }
            // What was not named is dropped (its temporary removed); what was named stays.
            for i in items.indices where !named.contains(i) {
                if items[i].fd >= 0 { close(items[i].fd) }
                if !items[i].tmp.isEmpty { unlink(items[i].tmp) }
            }
            items.removeAll()
            byTarget.removeAll()
            removals.removeAll()
            transitions.removeAll()
            releaseKeys(from: 0)
        }
        if items.isEmpty && removals.isEmpty && transitions.isEmpty { return }
        let useSyncfs = items.count > syncfsThreshold && FileIO.hasSyncfs
        // 1. The data; a descriptor per file system is kept for step 4.
        var devices = Set<UInt64>()
        for item in items {
            var st = stat()
            guard fstat(item.fd, &st) == 0 else { throw QRPayError.io("stat", path: item.target, errno: errno) }
            if devices.insert(UInt64(st.st_dev)).inserted {
                if useSyncfs { try FileIO.syncfs(item.fd, path: item.target) }
                let kept = dup(item.fd)
                guard kept >= 0 else { throw QRPayError.io("duplicate a descriptor of", path: item.target, errno: errno) }
                syncDescriptors.append(kept)
            }
        }
        if !useSyncfs {
            try FileIO.syncAll(items.map(\.fd), paths: items.map { $0.tmp.isEmpty ? $0.target : $0.tmp })
        }
        for i in items.indices where !items[i].tmp.isEmpty {  // anonymous files stay open until named
            let fd = items[i].fd
            items[i].fd = -1
            guard close(fd) == 0 else { throw QRPayError.io("close", path: items[i].tmp, errno: errno) }
        }
        // 2. The journal, before any record changes.
        var journals: [(Journal, [TransitionRequest])] = []
        for t in transitions {
            if let i = journals.firstIndex(where: { $0.0 === t.journal }) { journals[i].1.append(t.request) }
            else { journals.append((t.journal, [t.request])) }
        }
        var intents: [(Journal, String)] = []
        for (journal, requests) in journals {
            if let intent = try journal.append(requests, announcing: true).intent { intents.append((journal, intent)) }
        }
        // 3. Names (the `last` ones after the others), then removals.
        var directories: [String] = []
        var seen = Set<String>()
        for i in items.indices.filter({ !items[$0].last }) + items.indices.filter({ items[$0].last }) {
            let item = items[i]
            if item.tmp.isEmpty {
                try name(anonymous: item)
                close(item.fd)
                items[i].fd = -1
            } else if item.ifExists == .replace {
                guard rename(item.tmp, item.target) == 0 else { throw QRPayError.io("rename onto", path: item.target, errno: errno) }
            } else {
                // One rename that never replaces (renameat2 RENAME_NOREPLACE), not link + unlink.
                let e = FileIO.renameNoReplace(item.tmp, item.target)
                if e != 0 {
                    guard e == EEXIST else { throw QRPayError.io("link", path: item.target, errno: e) }
                    guard item.ifExists == .keep else {
                        throw QRPayError(.spoolExists, "\(item.target) already exists; the spool never replaces a file")
                    }
                    unlink(item.tmp)
                }
            }
            named.insert(i)
            let dir = FileIO.parentDirectory(item.target)
            if seen.insert(dir).inserted { directories.append(dir) }
        }
        var removalDirectories: [String] = []
        for path in removals {
            if unlink(path) == 0 {
                let dir = FileIO.parentDirectory(path)
                if seen.insert(dir).inserted { directories.append(dir); removalDirectories.append(dir) }
            } else if errno != ENOENT {
                throw QRPayError.io("remove", path: path, errno: errno)
            }
        }
        // 4. The directory entries.
        if useSyncfs {
            for fd in syncDescriptors { try FileIO.syncfs(fd, path: "the spool's file system") }
            // A removal in a directory on a file system no staged file was on.
            for dir in removalDirectories {
                var st = stat()
                guard lstat(dir, &st) == 0 else { throw QRPayError.io("stat", path: dir, errno: errno) }
                if devices.insert(UInt64(st.st_dev)).inserted { try FileIO.fsyncDirectory(dir) }
            }
        } else {
            try FileIO.syncDirectories(directories, fallback: syncDescriptors.first ?? -1)
        }
        // 5. Every record the journal announced is in place.
        for (journal, intent) in intents { journal.finished(intent: intent) }
    }

    /// Names an anonymous file at its target: one linkat. A target that exists is replaced (linked
    /// under a temporary name beside it, then renamed over it), kept, or an error.
    private func name(anonymous item: Item) throws {
        let e = FileIO.linkAnonymous(item.fd, item.target)
        if e == 0 { return }
        guard e == EEXIST else { throw QRPayError.io("link", path: item.target, errno: e) }
        switch item.ifExists {
        case .keep: return
        case .fail: throw QRPayError(.spoolExists, "\(item.target) already exists; the spool never replaces a file")
        case .replace:
            let tmp = FileIO.parentDirectory(item.target) + "/.tmp." + FileIO.uniqueName()
            let linked = FileIO.linkAnonymous(item.fd, tmp)
            guard linked == 0 else { throw QRPayError.io("link", path: tmp, errno: linked) }
            guard rename(tmp, item.target) == 0 else {
                let renameError = errno
                unlink(tmp)
                throw QRPayError.io("rename onto", path: item.target, errno: renameError)
            }
        }
    }

    /// Drops everything staged (closes and removes the temporaries, releases the keys).
    public func discard() {
        for item in items {
            if item.fd >= 0 { close(item.fd) }
            if !item.tmp.isEmpty { unlink(item.tmp) }
        }
        items.removeAll()
        byTarget.removeAll()
        removals.removeAll()
        transitions.removeAll()
        releaseKeys(from: 0)
    }
}

/// A single durable write outside a stage: a group commit of one.
public enum Durable {
    /// Writes `data` to `path` durably (complete or not at all, surviving a crash once this returns).
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644, ifExists: IfExists = .fail) throws {
        let commit = GroupCommit(context: StageContext(spoolRoot: FileIO.parentDirectory(path)))
        try commit.write(data, to: path, mode: mode, ifExists: ifExists)
        try commit.flush()
    }
}

/// Batch size and concurrency of the batched stages (register, approve): 64 files per group commit
/// and one batch more than there are CPUs (at most 4), so that a batch waiting for its syncfs leaves
/// every CPU busy with the others. The stage programs take `--batch-size` and `--concurrency`, with
/// QRPAY_BATCH_SIZE and QRPAY_STAGE_CONCURRENCY as fallbacks (read by the programs, not here).
public struct StageTuning: Sendable, Equatable {
    public var batchSize: Int
    public var concurrency: Int

    public static let batchSizes = 1...4096
    public static let concurrencies = 1...64
    public static let defaultBatchSize = 64
    public static var defaultConcurrency: Int { min(4, max(1, ProcessInfo.processInfo.activeProcessorCount) + 1) }

    public init(batchSize: Int = StageTuning.defaultBatchSize, concurrency: Int = StageTuning.defaultConcurrency) {
        self.batchSize = batchSize
        self.concurrency = concurrency
    }

    /// One file at a time (stages whose work is not batched).
    public static let single = StageTuning(batchSize: 1, concurrency: 1)
}
