// Group commit: many files written, then their fsyncs, then their names, then one fsync per
// directory. A stage with `batchSize > 1` writes its outputs through the `GroupCommit` the runner
// hands it; the runner flushes once per batch and only then completes (acknowledges) the inputs,
// so nothing is acknowledged before it is durable, and the cost of fsync is shared.
//
// Nothing staged is visible at its target before `flush()`: the bytes sit in a temporary file
// (a dotfile beside the target, or a queue's tmp/) until they are fsync'd, then are linked (never
// replacing) or renamed (replacing, for records updated in place) into place. Read your own staged
// writes with `pendingData(at:)`.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class GroupCommit {
    private struct Item {
        let tmp: String
        let target: String
        var fd: Int32
        let replace: Bool
        let data: Data
    }

    private var items: [Item] = []
    private var byTarget: [String: Int] = [:]

    public init() {}

    deinit { discard() }

    /// Number of staged files.
    public var count: Int { items.count }
    public var isEmpty: Bool { items.isEmpty }

    /// Stages `data` for `path`. `replace == false`: at flush the target must not exist
    /// (`spool.exists`); `true`: it is atomically replaced. The temporary file goes into
    /// `tmpDirectory` (same file system as the target; default: beside it, as a dotfile).
    public func write(_ data: Data, to path: String, mode: mode_t = Queue.fileMode, replace: Bool = false,
                      tmpDirectory: String? = nil) throws {
        let dir = tmpDirectory ?? (path as NSString).deletingLastPathComponent
        try stage(data, to: path, tmp: dir + "/.tmp." + FileIO.uniqueName(), mode: mode, replace: replace)
    }

    /// Stages a delivery into `queue`'s new/ (through its tmp/, like `Queue.deliver`). Returns the name.
    @discardableResult
    public func deliver(_ data: Data, to queue: Queue, name: String? = nil, suffix: String = ".json",
                        mode: mode_t = Queue.fileMode) throws -> String {
        let name = name ?? FileIO.uniqueName(suffix: suffix)
        try SpoolName.validate(name)
        try stage(data, to: queue.newDirectory + "/" + name, tmp: queue.tmpDirectory + "/" + name, mode: mode, replace: false)
        return name
    }

    /// What a staged, not yet flushed write will put at `path` (the latest one), or nil.
    public func pendingData(at path: String) -> Data? {
        byTarget[path].map { items[$0].data }
    }

    private func stage(_ data: Data, to target: String, tmp: String, mode: mode_t, replace: Bool) throws {
        if !replace, byTarget[target] != nil {
            throw QRPayError("spool.exists", "\(target) is already being written in this batch", exit: .cantCreate)
        }
        let fd = try SpoolFS.createOpen(tmp, mode: mode)
        do {
            try SpoolFS.writeAll(fd, data, tmp)
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        byTarget[target] = items.count
        items.append(Item(tmp: tmp, target: target, fd: fd, replace: replace, data: data))
    }

    /// A savepoint: `rollback(to:)` discards what was staged after it (a file that failed halfway).
    public var mark: Int { items.count }

    public func rollback(to mark: Int) {
        guard mark < items.count else { return }
        for item in items[mark...] {
            if item.fd >= 0 { close(item.fd) }
            unlink(item.tmp)
        }
        items.removeSubrange(mark...)
        byTarget = byTarget.filter { $0.value < mark }
        // An earlier write to the same target may have been shadowed by a discarded one.
        for (i, item) in items.enumerated() { byTarget[item.target] = i }
    }

    /// Makes everything staged durable and visible: fsync every file, close, link/rename each into
    /// place, fsync each target directory once. On an error, what was already linked stays (durable
    /// content), the rest is discarded, and the error is thrown.
    public func flush() throws {
        var done = 0  // items[..<done] are in place
        defer {
            rollback(to: done)
            items.removeAll()
            byTarget.removeAll()
        }
        if items.isEmpty { return }
        try SpoolFS.syncAll(items.map(\.fd), paths: items.map(\.tmp))
        for i in items.indices {
            let fd = items[i].fd
            items[i].fd = -1
            guard close(fd) == 0 else { throw SpoolFS.error("close", items[i].tmp, errno) }
        }
        var directories: [String] = []
        var seen = Set<String>()
        for item in items {
            if item.replace {
                guard rename(item.tmp, item.target) == 0 else { throw SpoolFS.error("rename", item.target, errno) }
            } else {
                guard link(item.tmp, item.target) == 0 else {
                    if errno == EEXIST {
                        throw QRPayError("spool.exists", "\(item.target) already exists; the spool never replaces a file", exit: .cantCreate)
                    }
                    throw SpoolFS.error("link", item.target, errno)
                }
                unlink(item.tmp)
            }
            done += 1
            let dir = (item.target as NSString).deletingLastPathComponent
            if seen.insert(dir).inserted { directories.append(dir) }
        }
        try SpoolFS.syncDirectories(directories)
    }

    /// Drops everything staged (closes and removes the temporaries).
    public func discard() {
        for item in items {
            if item.fd >= 0 { close(item.fd) }
            unlink(item.tmp)
        }
        items.removeAll()
        byTarget.removeAll()
    }
}
