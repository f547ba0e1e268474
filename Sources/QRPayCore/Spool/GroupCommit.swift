// Group commit: many files written, then made durable together, then their names, then their
// directory entries made durable together. A stage with `batchSize > 1` writes its outputs through
// the `GroupCommit` the runner hands it; the runner flushes once per batch and only then completes
// (acknowledges) the inputs, so nothing is acknowledged before it is durable, and the cost of the
// flushes is shared.
//
// Nothing staged is visible at its target before `flush()`: the bytes sit in a temporary file
// until they are durable, then get their name. For a store file (record, marker, list entry, QR PNG)
// that is an anonymous file in the target's directory (O_TMPFILE), named by one linkat (never
// replacing; a target that exists and may be replaced gets a temporary name beside it, then a
// rename over it); where the file system has no O_TMPFILE, a dotfile beside the target, renamed.
// A queue delivery keeps Maildir's protocol: a named file in the queue's tmp/, renamed into new/
// without replacing. A crash before the names leaves nothing behind but, at worst, dotfiles that
// `qrpay-spool check --repair` removes. Read your own staged writes with `pendingData(at:)`.
//
// A flush: (1) the temporaries' data is made durable: one syncfs(2) of their file system for a
// batch of more than `syncfsThreshold` files (one journal commit and device flush for all of them,
// errors reported since Linux 5.8), else fsync of each; (2) staged journal transitions are appended
// (one locked, fsync'd append per journal: the journal entry is durable before the record it
// describes changes); (3) names: linkat/renames into place, then staged removals (old state
// markers); (4) the directory entries are made durable: one more syncfs (through a descriptor kept
// from step 1), or an fsync per directory.
//
// Keys: `claim(key:)` reserves a name (a payment record's path) process-wide until the commit is
// flushed or discarded, so two concurrent batches never change one payment; the loser gets a
// transient `spool.in-flight` (its file is deferred and retried).

import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public final class GroupCommit {
    private struct Item {
        /// The named temporary file, or "" for an anonymous one (O_TMPFILE, named at flush by linkat).
        let tmp: String
        let target: String
        var fd: Int32
        let replace: Bool
        /// A target that already exists at flush is left alone (deliveries with deterministic names).
        let skipIfExists: Bool
        let data: Data
    }

    /// A savepoint: what was staged up to now.
    public struct Mark: Sendable, Equatable {
        let items: Int
        let removals: Int
        let transitions: Int
        let keys: Int
    }

    private var items: [Item] = []
    private var byTarget: [String: Int] = [:]
    private var removals: [String] = []
    private var transitions: [(journal: Journal, request: TransitionRequest)] = []
    private var keys: [String] = []

    /// Batches with more files than this are made durable with syncfs(2) instead of one fsync per file
    /// and directory. Default from QRPAY_SYNCFS_THRESHOLD, else 2 (`Int.max`: never syncfs).
    public var syncfsThreshold = GroupCommit.defaultSyncfsThreshold

    static let defaultSyncfsThreshold: Int = {
        if let text = ProcessInfo.processInfo.environment["QRPAY_SYNCFS_THRESHOLD"], let n = Int(text), n >= 0 { return n }
        return 2
    }()

    public init() {}

    deinit { discard() }

    /// Number of staged files.
    public var count: Int { items.count }
    public var isEmpty: Bool { items.isEmpty && removals.isEmpty && transitions.isEmpty }

    /// Stages `data` for `path`. `replace == false`: at flush the target must not exist
    /// (`spool.exists`) unless `skipIfExists`, in which case an existing target is kept and the staged
    /// data dropped; `true`: it is atomically replaced. The temporary file goes into `tmpDirectory`
    /// (same file system as the target; default: beside it, as a dotfile).
    public func write(_ data: Data, to path: String, mode: mode_t = Queue.fileMode, replace: Bool = false,
                      skipIfExists: Bool = false, tmpDirectory: String? = nil) throws {
        let dir = tmpDirectory ?? FileIO.parentDirectory(path)
        // Beside the target: an anonymous file where the file system has them, else a dotfile.
        try stage(data, to: path, tmp: dir + "/.tmp." + FileIO.uniqueName(), anonymousIn: tmpDirectory == nil ? dir : nil,
                  mode: mode, replace: replace, skipIfExists: skipIfExists)
    }

    /// Stages a delivery into `queue`'s new/ (through its tmp/, like `Queue.deliver`). Returns the name.
    /// `skipIfExists`: a file of that name already in new/ at flush is kept (deliver at most once).
    @discardableResult
    public func deliver(_ data: Data, to queue: Queue, name: String? = nil, suffix: String = ".json",
                        mode: mode_t = Queue.fileMode, skipIfExists: Bool = false) throws -> String {
        let name = name ?? FileIO.uniqueName(suffix: suffix)
        try SpoolName.validate(name)
        try stage(data, to: queue.newDirectory + "/" + name, tmp: queue.tmpDirectory + "/" + FileIO.uniqueName(suffix: ".tmp"),
                  mode: mode, replace: false, skipIfExists: skipIfExists)
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

    /// Reserves `key` for this commit until it is flushed or discarded (process-wide). Claiming a
    /// key this commit already holds is a no-op. Throws the transient `spool.in-flight` when another
    /// commit holds it.
    public func claim(key: String) throws {
        if keys.contains(key) { return }
        let taken = GroupCommit.inFlight.withLock { set in !set.insert(key).inserted }
        if taken {
            throw QRPayError("spool.in-flight", "\(key) is being changed by another batch of this process; retried later",
                             exit: .tempFail)
        }
        keys.append(key)
    }

    private static let inFlight = Mutex<Set<String>>([])

    private func releaseKeys(from index: Int) {
        guard index < keys.count else { return }
        let released = keys[index...]
        GroupCommit.inFlight.withLock { set in for k in released { set.remove(k) } }
        keys.removeSubrange(index...)
    }

    /// What a staged, not yet flushed write will put at `path` (the latest one), or nil.
    public func pendingData(at path: String) -> Data? {
        byTarget[path].map { items[$0].data }
    }

    private func stage(_ data: Data, to target: String, tmp named: String, anonymousIn directory: String? = nil,
                       mode: mode_t, replace: Bool, skipIfExists: Bool) throws {
        if !replace, byTarget[target] != nil {
            if skipIfExists { return }
            throw QRPayError("spool.exists", "\(target) is already being written in this batch", exit: .cantCreate)
        }
        var fd: Int32 = -1
        var tmp = named
        do {
            if let directory, let anonymous = try SpoolFS.openAnonymous(in: directory, mode: mode) {
                fd = anonymous
                tmp = ""
            } else {
                fd = try SpoolFS.createOpen(tmp, mode: mode)
            }
        } catch let e as QRPayError where e.code == "spool.no-such-file" {
            // A directory removed under a running stage: not the input's fault, retry later.
            throw QRPayError("spool.io", e.message, exit: .tempFail)
        }
        do {
            try SpoolFS.writeAll(fd, data, tmp.isEmpty ? target : tmp)
        } catch {
            close(fd)
            if !tmp.isEmpty { unlink(tmp) }
            throw error
        }
        byTarget[target] = items.count
        items.append(Item(tmp: tmp, target: target, fd: fd, replace: replace, skipIfExists: skipIfExists, data: data))
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
        var done = 0  // items[..<done] are in place
        var syncDescriptors: [Int32] = []  // one per file system, for the second syncfs
        defer {
            for fd in syncDescriptors { close(fd) }
            discardItems(from: done)
            items.removeAll()
            byTarget.removeAll()
            removals.removeAll()
            transitions.removeAll()
            releaseKeys(from: 0)
        }
        if items.isEmpty && removals.isEmpty && transitions.isEmpty { return }
        let useSyncfs = items.count > syncfsThreshold && SpoolFS.hasSyncfs
        // 1. The data.
        var devices = Set<UInt64>()
        if useSyncfs {
            // One syncfs per file system the batch touches (usually one: the spool's); a descriptor
            // of each is kept for step 4.
            for item in items {
                var st = stat()
                guard fstat(item.fd, &st) == 0 else { throw SpoolFS.error("stat", item.target, errno) }
                if devices.insert(UInt64(st.st_dev)).inserted {
                    try SpoolFS.syncfs(item.fd, path: item.target)
                    let kept = dup(item.fd)
                    guard kept >= 0 else { throw SpoolFS.error("dup", item.target, errno) }
                    syncDescriptors.append(kept)
                }
            }
        } else {
            try SpoolFS.syncAll(items.map(\.fd), paths: items.map { $0.tmp.isEmpty ? $0.target : $0.tmp })
        }
        for i in items.indices where !items[i].tmp.isEmpty {  // anonymous files stay open until named
            let fd = items[i].fd
            items[i].fd = -1
            guard close(fd) == 0 else { throw SpoolFS.error("close", items[i].tmp, errno) }
        }
        // 2. The journal, before any record changes.
        var journals: [(Journal, [TransitionRequest])] = []
        for t in transitions {
            if let i = journals.firstIndex(where: { $0.0 === t.journal }) { journals[i].1.append(t.request) }
            else { journals.append((t.journal, [t.request])) }
        }
        for (journal, requests) in journals { try journal.append(requests) }
        // 3. Names, then removals.
        var directories: [String] = []
        var seen = Set<String>()
        for i in items.indices {
            let item = items[i]
            if item.tmp.isEmpty {
                try name(anonymous: item)
                close(item.fd)
                items[i].fd = -1
            } else if item.replace {
                guard rename(item.tmp, item.target) == 0 else { throw SpoolFS.error("rename", item.target, errno) }
            } else {
                // One rename that never replaces (renameat2 RENAME_NOREPLACE), not link + unlink.
                let e = SpoolFS.renameNoReplace(item.tmp, item.target)
                if e != 0 {
                    guard e == EEXIST else { throw SpoolFS.error("link", item.target, e) }
                    guard item.skipIfExists else {
                        throw QRPayError("spool.exists", "\(item.target) already exists; the spool never replaces a file", exit: .cantCreate)
                    }
                    unlink(item.tmp)
                }
            }
            done += 1
            let dir = FileIO.parentDirectory(item.target)
            if seen.insert(dir).inserted { directories.append(dir) }
        }
        var removalDirectories: [String] = []
        for path in removals {
            if unlink(path) == 0 {
                let dir = FileIO.parentDirectory(path)
                if seen.insert(dir).inserted { directories.append(dir); removalDirectories.append(dir) }
            } else if errno != ENOENT {
                throw SpoolFS.error("remove", path, errno)
            }
        }
        // 4. The directory entries.
        if useSyncfs {
            for fd in syncDescriptors { try SpoolFS.syncfs(fd, path: "the spool's file system") }
            // A removal in a directory on a file system no staged file was on (not seen in practice).
            for dir in removalDirectories {
                var st = stat()
                guard lstat(dir, &st) == 0 else { throw SpoolFS.error("stat", dir, errno) }
                if devices.insert(UInt64(st.st_dev)).inserted { try SpoolFS.fsyncDirectory(dir) }
            }
        } else {
            try SpoolFS.syncDirectories(directories)
        }
    }

    /// Names an anonymous file at its target: one linkat. A target that exists is replaced (`replace`:
    /// linked under a temporary name beside it, then renamed over it), kept (`skipIfExists`), or an error.
    private func name(anonymous item: Item) throws {
        let e = SpoolFS.linkAnonymous(item.fd, item.target)
        if e == 0 { return }
        guard e == EEXIST else { throw SpoolFS.error("link", item.target, e) }
        if item.skipIfExists && !item.replace { return }
        guard item.replace else {
            throw QRPayError("spool.exists", "\(item.target) already exists; the spool never replaces a file", exit: .cantCreate)
        }
        let tmp = FileIO.parentDirectory(item.target) + "/.tmp." + FileIO.uniqueName()
        let linked = SpoolFS.linkAnonymous(item.fd, tmp)
        guard linked == 0 else { throw SpoolFS.error("link", tmp, linked) }
        guard rename(tmp, item.target) == 0 else {
            let renameError = errno
            unlink(tmp)
            throw SpoolFS.error("rename", item.target, renameError)
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

/// Batch size and concurrency of the batched stages (register, approve): 64 files per group commit
/// and one batch more than there are CPUs (at most 4), so that a batch waiting for its syncfs leaves
/// every CPU busy with the others, unless QRPAY_BATCH_SIZE / QRPAY_STAGE_CONCURRENCY say otherwise.
/// (A batch keeps up to five descriptors per file open until its flush: the runner raises its
/// RLIMIT_NOFILE soft limit to the hard one.)
public enum StageTuning {
    public static let batchSize: Int = setting("QRPAY_BATCH_SIZE", 64, 1...4096)
    public static let concurrency: Int = setting("QRPAY_STAGE_CONCURRENCY",
                                                 min(4, max(1, ProcessInfo.processInfo.activeProcessorCount) + 1), 1...64)

    static func setting(_ name: String, _ fallback: Int, _ range: ClosedRange<Int>) -> Int {
        guard let text = ProcessInfo.processInfo.environment[name], let n = Int(text), range.contains(n) else { return fallback }
        return n
    }
}
