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
// batch of more than `syncfsThreshold` files, else fsync of each; (2) what the commit carries besides
// files is written through its logs (`CommitLog`: the ledger's journal is one; each log appends its
// entries durably before any record they describe changes, and may announce them until step 5, so a
// rerun after a crash or a failed commit writes nothing twice); (3) names: links and renames into place in staging order, then staged
// removals; (4) the directory entries are made durable: one more syncfs, or an fsync per directory
// (through syncfs of a written file's descriptor where the writer may not open the directory, as
// a shop may not read the PG's inbox); (5) each log hears that the commit is complete (the ledger's intents go).
//
// Keys: `claim(key:)` reserves a name (a payment record's path) in the stage run's context until the
// commit is flushed or discarded, so two concurrent batches never change one payment; the loser
// gets the transient `spool.in-flight` (its file is deferred and retried).

import Foundation
import QRPaySupport
#if canImport(Glibc)
import Glibc
#endif

/// What a group commit carries besides files: entries of a log (the ledger's journal) that must be
/// durable after the staged data and before any staged file gets its name. The spool layer knows
/// nothing of what an entry means; the log that owns them does.
package protocol CommitLog: AnyObject {
    associatedtype Entry
    /// Step 2 of a flush: appends `entries` (in staging order, never empty) durably. Returns what to
    /// do once every staged file and directory entry is durable (step 5), or nil.
    func append(committing entries: [Entry]) throws -> (() -> Void)?
}

/// The entries one commit stages for one log.
private protocol StagedLog: AnyObject {
    var log: AnyObject { get }
    var count: Int { get }
    func truncate(to count: Int)
    func append() throws -> (() -> Void)?
}

private final class StagedEntries<Log: CommitLog>: StagedLog {
    let target: Log
    var entries: [Log.Entry] = []
    init(_ target: Log) { self.target = target }
    var log: AnyObject { target }
    var count: Int { entries.count }
    func truncate(to count: Int) { entries.removeSubrange(count...) }
    func append() throws -> (() -> Void)? { try target.append(committing: entries) }
}

/// What to do when a staged file's target already exists at flush.
package enum IfExists: Sendable {
    /// An error (`spool.exists`): QR-Pay never overwrites such a file.
    case fail
    /// Keep the existing file and drop the staged one (a delivery that must happen at most once).
    case keep
    /// Replace it atomically (rename over it).
    case replace
}

package final class GroupCommit {
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
    package struct Mark: Sendable, Equatable {
        let items: Int
        let removals: Int
        let entries: Int
        let keys: Int
    }

    package let context: StageContext
    private var items: [Item] = []
    private var byTarget: [String: Int] = [:]
    private var removals: [String] = []
    /// One per log the commit writes to, in the order of their first entry; `entryLogs` names the log
    /// of each staged entry in staging order (for rollback).
    private var logs: [any StagedLog] = []
    private var entryLogs: [Int] = []
    private var keys: [String] = []
    /// Batches with more files than this are made durable with syncfs(2) instead of one fsync per
    /// file and directory.
    let syncfsThreshold: Int

    package init(context: StageContext, syncfsThreshold: Int = 2) {
        self.context = context
        self.syncfsThreshold = syncfsThreshold
    }

    deinit { discard() }

    /// Number of staged files.
    package var count: Int { items.count }
    package var isEmpty: Bool { items.isEmpty && removals.isEmpty && entryLogs.isEmpty }

    /// Stages `data` for `path`: at flush it appears there complete or not at all. The temporary
    /// file is an anonymous file (or a dotfile) beside the target. `last`: named only after every
    /// other file of the commit, so that a crash in between leaves the old file and all the new
    /// outputs, never the new file without its outputs (a payment's record is written last: a rerun
    /// then finds the payment where it was and makes the change, and its notices, again).
    package func write(_ data: Data, to path: String, mode: mode_t = Queue.fileMode, ifExists: IfExists = .fail, last: Bool = false) throws {
        let dir = FileIO.parentDirectory(path)
        try stage(data, to: path, tmp: dir + "/.tmp." + FileIO.uniqueName(), anonymousIn: dir, mode: mode, ifExists: ifExists, last: last)
    }

    /// Stages a delivery into `queue`'s new/ through its tmp/ (Maildir). Returns the name.
    /// `ifExists: .keep`: a file of that name already in new/ at flush is kept (at most once).
    @discardableResult
    package func deliver(_ data: Data, to queue: Queue, name: String? = nil, suffix: String = ".json",
                        mode: mode_t = Queue.fileMode, ifExists: IfExists = .fail) throws -> String {
        precondition(ifExists != .replace, "a queue never replaces a file")
        let name = name ?? FileIO.uniqueName(suffix: suffix)
        try SpoolName.validate(name)
        try stage(data, to: queue.newDirectory + "/" + name, tmp: queue.tmpDirectory + "/" + FileIO.uniqueName(suffix: ".tmp"),
                  anonymousIn: nil, mode: mode, ifExists: ifExists, last: false)
        return name
    }

    /// Removes `path` after everything staged is in place (a state marker the record left behind).
    package func remove(_ path: String) {
        removals.append(path)
    }

    /// Appends `entry` to `log` at flush, after the staged data is durable and before anything staged
    /// becomes visible (one `append(committing:)` per log and flush).
    package func append<Log: CommitLog>(_ entry: Log.Entry, to log: Log) {
        let index: Int
        if let i = logs.firstIndex(where: { $0.log === log }) { index = i }
        else { index = logs.count; logs.append(StagedEntries(log)) }
        (logs[index] as! StagedEntries<Log>).entries.append(entry)
        entryLogs.append(index)
    }

    private func truncateEntries(to count: Int) {
        guard count < entryLogs.count else { return }
        var kept = Array(repeating: 0, count: logs.count)
        for i in entryLogs[..<count] { kept[i] += 1 }
        for (i, log) in logs.enumerated() { log.truncate(to: kept[i]) }
        while let last = logs.last, last.count == 0 { logs.removeLast() }
        entryLogs.removeSubrange(count...)
    }

    /// Reserves `key` for this commit until it is flushed or discarded. Claiming a key this commit
    /// already holds is a no-op. Throws the transient `spool.in-flight` when another commit holds it.
    package func claim(key: String) throws {
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
    package func pendingData(at path: String) -> Data? {
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
    package var mark: Mark {
        Mark(items: items.count, removals: removals.count, entries: entryLogs.count, keys: keys.count)
    }

    package func rollback(to mark: Mark) {
        if mark.removals < removals.count { removals.removeSubrange(mark.removals...) }
        truncateEntries(to: mark.entries)
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
    package func flush() throws {
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
            logs.removeAll()
            entryLogs.removeAll()
            releaseKeys(from: 0)
        }
        if items.isEmpty && removals.isEmpty && entryLogs.isEmpty { return }
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
        // 2. The logs (the ledger's journal), before any record changes.
        var completions: [() -> Void] = []
        for log in logs where log.count > 0 {
            if let completion = try log.append() { completions.append(completion) }
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
        // 5. Every record the logs announced is in place.
        for completion in completions { completion() }
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
    package func discard() {
        for item in items {
            if item.fd >= 0 { close(item.fd) }
            if !item.tmp.isEmpty { unlink(item.tmp) }
        }
        items.removeAll()
        byTarget.removeAll()
        removals.removeAll()
        logs.removeAll()
        entryLogs.removeAll()
        releaseKeys(from: 0)
    }
}

/// A single durable write outside a stage: a group commit of one.
package enum Durable {
    /// Writes `data` to `path` durably (complete or not at all, surviving a crash once this returns).
    package static func write(_ data: Data, to path: String, mode: mode_t = 0o644, ifExists: IfExists = .fail) throws {
        let commit = GroupCommit(context: StageContext(spoolRoot: FileIO.parentDirectory(path)))
        try commit.write(data, to: path, mode: mode, ifExists: ifExists)
        try commit.flush()
    }
}
