// A spool queue, after Maildir: PATH/tmp (being written), PATH/new (committed, waiting),
// PATH/cur (claimed by a stage), PATH/done/DAY (processed, kept until purged), PATH/deferred
// (transient failure, retried later), PATH/hold (parked by an operator), PATH/quarantine (bad
// input, beside NAME.reason.json).
//
// Writers commit by create-in-tmp (O_EXCL|O_NOFOLLOW), write, fsync, link into new/ (never
// replacing), fsync new/. Readers claim by rename new/NAME -> cur/NAME, so each file is handled by
// exactly one process; a crash leaves it in cur/ and `recover()` puts it back. `complete()` moves a
// file the stage made its outputs from to done/DAY/ (the UTC day it was processed): stages never
// delete what came in. `qrpay-spool purge` removes done/ days past their retention, in bulk, at a
// quiet hour (a deletion frees blocks, and a file system that discards them synchronously, or
// that skips recently freed inodes when it allocates, makes the hot path pay for it).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct Queue: Sendable, Hashable, CustomStringConvertible {
    public let path: String

    public init(path: String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.path = p
    }

    public var description: String { path }

    public var tmpDirectory: String { path + "/tmp" }
    public var newDirectory: String { path + "/new" }
    public var curDirectory: String { path + "/cur" }
    public var quarantineDirectory: String { path + "/quarantine" }
    public var deferredDirectory: String { path + "/deferred" }
    public var holdDirectory: String { path + "/hold" }
    /// done/DAY/NAME: processed files, by the UTC day they were processed.
    public var doneDirectory: String { path + "/done" }

    static let subdirectories = ["tmp", "new", "cur", "done", "quarantine", "deferred", "hold"]

    /// Mode of files the queue itself writes (committed files, reason records).
    public static let fileMode: mode_t = 0o640

    /// Makes the queue and its subdirectories (and missing parents) with `mode`, never world-writable.
    /// Existing directories keep their mode.
    public func create(mode: mode_t = 0o750) throws {
        try SpoolFS.makeDirectories(path, mode: mode)
        for sub in Queue.subdirectories { try SpoolFS.makeDirectories(path + "/" + sub, mode: mode) }
        try SpoolFS.fsyncDirectory(path)
    }

    // MARK: Writing

    /// Commits `data` into new/: create tmp/NAME with O_EXCL|O_NOFOLLOW, write, fsync, close, link into
    /// new/NAME (never replacing: `spool.exists`), fsync new/, unlink tmp/NAME. Returns NAME.
    /// When this returns, the file survives a crash.
    @discardableResult
    public func deliver(_ data: Data, name: String? = nil, suffix: String = ".json", mode: mode_t = Queue.fileMode) throws -> String {
        let unique = FileIO.uniqueName(suffix: suffix)
        let name = name ?? unique
        try SpoolName.validate(name)
        // The temporary name is always unique: a crash may leave tmp/ files behind, and a retry of a
        // delivery with a chosen name must not trip over them (cleanTemporary removes them later).
        let tmp = tmpDirectory + "/" + unique
        try SpoolFS.createFile(tmp, data: data, mode: mode)
        defer { unlink(tmp) }
        try linkIntoNew(tmp, name)
        try SpoolFS.fsyncDirectory(newDirectory)
        return name
    }

    private func linkIntoNew(_ tmp: String, _ name: String) throws {
        let target = newDirectory + "/" + name
        guard link(tmp, target) == 0 else {
            if errno == EEXIST {
                throw QRPayError("spool.exists", "\(target) already exists; the spool never replaces a file", exit: .cantCreate)
            }
            throw SpoolFS.error("link", target, errno)
        }
    }

    /// Group commit: writes every file into tmp/, then fsyncs them all, links them all into new/ and
    /// fsyncs new/ once. Nothing is reported delivered before it is durable. Returns the names, in
    /// order. On an error, files linked before the failing one are made durable and stay delivered
    /// (the error's message says how many); nothing else is left behind.
    public func deliverBatch(_ items: [(data: Data, name: String?)], suffix: String = ".json",
                             mode: mode_t = Queue.fileMode) throws -> [String] {
        if items.isEmpty { return [] }
        var names: [String] = []
        names.reserveCapacity(items.count)
        var seen = Set<String>()
        for item in items {
            let name = item.name ?? FileIO.uniqueName(suffix: suffix)
            try SpoolName.validate(name)
            guard seen.insert(name).inserted else {
                throw QRPayError("spool.exists", "the batch names \(name) twice", exit: .cantCreate)
            }
            names.append(name)
        }
        var fds: [Int32] = []
        var created: [String] = []
        fds.reserveCapacity(items.count)
        defer {
            for fd in fds where fd >= 0 { close(fd) }
            for tmp in created { unlink(tmp) }
        }
        // 1. Write everything (the kernel starts writeback while we go on).
        for (i, item) in items.enumerated() {
            let tmp = tmpDirectory + "/" + (items[i].name == nil ? names[i] : FileIO.uniqueName(suffix: suffix))
            let fd = try SpoolFS.createOpen(tmp, mode: mode)
            fds.append(fd)
            created.append(tmp)
            try SpoolFS.writeAll(fd, item.data, tmp)
        }
        // 2. fsync everything (after the first, most journal commits are already done), then close.
        try SpoolFS.syncAll(fds, paths: created)
        for i in fds.indices {
            let fd = fds[i]
            fds[i] = -1
            guard close(fd) == 0 else { throw SpoolFS.error("close", created[i], errno) }
        }
        // 3. Link everything, 4. one fsync of new/.
        var linked = 0
        do {
            for (i, tmp) in created.enumerated() {
                try linkIntoNew(tmp, names[i])
                linked += 1
            }
        } catch let error as QRPayError {
            if linked > 0 { try? SpoolFS.fsyncDirectory(newDirectory) }
            throw QRPayError(error.code, "\(error.message) (the first \(linked) of \(names.count) files of the batch were delivered)",
                             exit: error.exit)
        }
        try SpoolFS.fsyncDirectory(newDirectory)
        return names
    }

    // MARK: Reading

    /// Names waiting in new/, oldest first (by modification time, then name). Dotfiles and foreign
    /// names (see `SpoolName`) are skipped; non-regular entries are listed (the runner quarantines
    /// them). When `promotingDeferred`, deferred files whose retry time has come are first moved
    /// back to new/.
    public func pending(promotingDeferred: Bool = true, now: Date = Date()) throws -> [String] {
        if promotingDeferred { _ = try promoteDeferred(now: now) }
        return try sortedEntries(newDirectory)
    }

    private func sortedEntries(_ dir: String) throws -> [String] {
        let names = try listNames(dir)
        var entries: [(sec: Int, nsec: Int, name: String)] = []
        entries.reserveCapacity(names.count)
        for name in names {
            guard let (_, st) = SpoolFS.lstatKind(dir + "/" + name) else { continue }  // taken meanwhile
            entries.append((st.st_mtim.tv_sec, st.st_mtim.tv_nsec, name))
        }
        entries.sort { ($0.sec, $0.nsec, $0.name) < ($1.sec, $1.nsec, $1.name) }
        return entries.map(\.name)
    }

    /// Valid (non-foreign, non-dot, non-reason) names in one of the queue's directories, unsorted.
    func listNames(_ dir: String) throws -> [String] {
        do {
            return try FileIO.listDirectory(dir).filter(SpoolName.isValid)
        } catch let error as QRPayError {
            throw QRPayError("spool.io", error.message, exit: error.exit)
        }
    }

    /// Moves deferred files whose `retryAt` has come back to new/ (their reason file stays in
    /// deferred/ as the attempt count until the file completes or is quarantined). Returns how many.
    @discardableResult
    public func promoteDeferred(now: Date = Date()) throws -> Int {
        var moved = 0
        for name in try listNames(deferredDirectory) {
            if let due = deferredRecord(name)?["retryAt"]?.stringValue.flatMap(Timestamp.parse), due > now { continue }
            let e = SpoolFS.renameNoReplace(deferredDirectory + "/" + name, newDirectory + "/" + name)
            if e == 0 { moved += 1 } else if e != ENOENT && e != EEXIST {
                throw SpoolFS.error("move back from deferred/", deferredDirectory + "/" + name, e)
            }
        }
        if moved > 0 {
            try SpoolFS.fsyncDirectory(newDirectory)
            try SpoolFS.fsyncDirectory(deferredDirectory)
        }
        return moved
    }

    /// Claims new/NAME by renaming it to cur/NAME; nil if it is gone (another process took it) or a
    /// file of that name is already claimed.
    public func claim(_ name: String) throws -> ClaimedFile? {
        try SpoolName.validate(name)
        let e = SpoolFS.renameNoReplace(newDirectory + "/" + name, curDirectory + "/" + name)
        switch e {
        case 0: return ClaimedFile(queue: self, name: name)
        case ENOENT, EEXIST: return nil
        default: throw SpoolFS.error("claim", newDirectory + "/" + name, e)
        }
    }

    /// After a crash (call under the stage lock, before claiming): puts every file left in cur/ back
    /// into new/. A name that meanwhile reappeared in new/ comes back as NAME.dup-UNIQUE. Returns the
    /// number of files recovered.
    @discardableResult
    public func recover() throws -> Int {
        var count = 0
        for name in try FileIO.listDirectory(curDirectory) {
            var target = name
            if !SpoolName.isValid(target) { target = "recovered-" + FileIO.uniqueName() }
            var e = SpoolFS.renameNoReplace(curDirectory + "/" + name, newDirectory + "/" + target)
            if e == EEXIST {
                target = name + ".dup-" + FileIO.uniqueName()
                e = SpoolFS.renameNoReplace(curDirectory + "/" + name, newDirectory + "/" + target)
            }
            if e == 0 { count += 1 } else if e != ENOENT { throw SpoolFS.error("recover", curDirectory + "/" + name, e) }
        }
        if count > 0 {
            try SpoolFS.fsyncDirectory(newDirectory)
            try SpoolFS.fsyncDirectory(curDirectory)
        }
        return count
    }

    /// The file was processed and the stage's outputs are durable: move it from cur/ to
    /// done/DAY/NAME (DAY: the UTC day of `now`; a name already there becomes NAME.dup-UNIQUE) and
    /// remove its deferred/ attempt record, if any. The move is not fsync'd unless `durable`: if a
    /// power loss undoes it, the file is recovered and handled again, so stages are idempotent (the
    /// same input twice is a no-op), and one fsync per file is saved.
    public func complete(_ file: ClaimedFile, durable: Bool = false, now: Date = Date()) throws {
        let day = doneDirectory + "/" + Timestamp.day(now)
        try DirectoryCache.shared.ensure(day, mode: 0o750)
        var target = day + "/" + file.name
        var e = SpoolFS.renameNoReplace(file.path, target)
        if e == EEXIST {
            target = day + "/" + file.name + ".dup-" + FileIO.uniqueName()
            e = SpoolFS.renameNoReplace(file.path, target)
        } else if e == ENOENT, SpoolFS.lstatKind(file.path) != nil {
            // done/DAY went away under us (a purge of today?): make it again, once.
            DirectoryCache.shared.forget(day)
            try DirectoryCache.shared.ensure(day, mode: 0o750)
            e = SpoolFS.renameNoReplace(file.path, target)
        }
        guard e == 0 else { throw SpoolFS.error("move to done/", file.path, e) }
        if durable {
            try SpoolFS.fsyncDirectory(day)
            try SpoolFS.fsyncDirectory(curDirectory)
        }
        if file.mayHaveDeferredRecord { removeDeferredRecord(file.name) }
    }

    /// The days in done/ (YYYY-MM-DD), oldest first.
    public func doneDays() -> [String] {
        ((try? FileIO.listDirectory(doneDirectory)) ?? []).filter { Timestamp.parse($0 + "T00:00:00Z") != nil }.sorted()
    }

    /// Whether deferred/ holds anything at all (files or attempt records); true when it cannot be read.
    func hasDeferredEntries() -> Bool {
        guard let names = try? FileIO.listDirectory(deferredDirectory) else { return true }
        return !names.isEmpty
    }

    // MARK: Quarantine and deferral

    /// Moves a claimed file to quarantine/NAME beside quarantine/NAME.reason.json
    /// `{"stage","reason","code","at","file","queue"}` (plus `attempts` when it had been deferred).
    /// The reason is written first, then the file renamed; both directories fsync'd. If
    /// quarantine/NAME exists, the file is quarantined as NAME.dup-UNIQUE. Returns the quarantined name.
    @discardableResult
    public func quarantine(_ file: ClaimedFile, stage: String, error: QRPayError, now: Date = Date()) throws -> String {
        var record: [String: JSONValue] = [
            "stage": .string(stage), "reason": .string(error.message), "code": .string(error.code),
            "at": .string(Timestamp.format(now)), "file": .string(file.name), "queue": .string(path),
        ]
        if let attempts = recordedAttempts(file.name) { record["attempts"] = .int(attempts) }
        let target = try park(file, in: quarantineDirectory, verb: "quarantine", reason: .object(record))
        removeDeferredRecord(file.name)
        return target
    }

    /// Moves a claimed file to deferred/NAME for a retry at `retryAt`, with deferred/NAME.reason.json
    /// `{"stage","reason","code","at","file","queue","attempts","retryAt"}` (attempts counts up).
    /// If another file of the same name is already deferred, this one goes in as NAME.dup-UNIQUE.
    public func deferFile(_ file: ClaimedFile, stage: String, error: QRPayError, retryAt: Date, now: Date = Date()) throws {
        let attempts = (recordedAttempts(file.name) ?? 0) + 1
        let record: JSONValue = [
            "stage": .string(stage), "reason": .string(error.message), "code": .string(error.code),
            "at": .string(Timestamp.format(now)), "file": .string(file.name), "queue": .string(path),
            "attempts": .int(attempts), "retryAt": .string(Timestamp.format(retryAt)),
        ]
        try park(file, in: deferredDirectory, verb: "defer", reason: record)
    }

    /// Moves a claimed file into `directory` beside its NAME.reason.json (written first), never
    /// replacing: a name already taken there becomes NAME.dup-UNIQUE. Returns the name used.
    @discardableResult
    private func park(_ file: ClaimedFile, in directory: String, verb: String, reason: JSONValue) throws -> String {
        var target = file.name
        for _ in 0..<3 {
            if SpoolFS.lstatKind(directory + "/" + target) != nil {
                target = file.name + ".dup-" + FileIO.uniqueName()
                continue
            }
            try SpoolFS.writeRecord(reason, to: directory + "/" + target + SpoolName.reasonSuffix,
                                    tmpDirectory: tmpDirectory, mode: Queue.fileMode)
            let e = SpoolFS.renameNoReplace(file.path, directory + "/" + target)
            if e == EEXIST { target = file.name + ".dup-" + FileIO.uniqueName(); continue }
            guard e == 0 else { throw SpoolFS.error(verb, file.path, e) }
            try SpoolFS.fsyncDirectory(directory)
            try SpoolFS.fsyncDirectory(curDirectory)
            return target
        }
        throw QRPayError("spool.io", "cannot find a free name in \(directory) for \(file.name)", exit: .ioError)
    }

    /// How many times NAME was deferred so far (0 if never).
    public func attempts(_ name: String) -> Int {
        Int(recordedAttempts(name) ?? 0)
    }

    /// The most attempts a reason file is taken to record: an edited count beyond it (or below 0) is
    /// clamped, so that counting on from it cannot overflow (the stage then gives up on the file).
    static let maxRecordedAttempts: Int64 = 1_000_000

    /// The attempt count in deferred/NAME.reason.json, clamped to 0...maxRecordedAttempts; nil without one.
    func recordedAttempts(_ name: String) -> Int64? {
        deferredRecord(name)?["attempts"]?.intValue.map { min(max($0, 0), Queue.maxRecordedAttempts) }
    }

    func deferredRecord(_ name: String) -> JSONValue? {
        guard let data = try? FileIO.read(deferredDirectory + "/" + name + SpoolName.reasonSuffix, maxBytes: 64 * 1024)
        else { return nil }
        return try? JSONValue.parse(data)
    }

    private func removeDeferredRecord(_ name: String) {
        let record = deferredDirectory + "/" + name + SpoolName.reasonSuffix
        if unlink(record) == 0 { try? SpoolFS.fsyncDirectory(deferredDirectory) }
    }

    // MARK: Operators

    /// Parks new/NAME (or deferred/NAME) in hold/NAME; it is not processed until released.
    public func hold(_ name: String) throws {
        try SpoolName.validate(name)
        var e = SpoolFS.renameNoReplace(newDirectory + "/" + name, holdDirectory + "/" + name)
        if e == ENOENT { e = SpoolFS.renameNoReplace(deferredDirectory + "/" + name, holdDirectory + "/" + name) }
        guard e == 0 else { throw SpoolFS.error("hold", name + " in " + path, e) }
        try SpoolFS.fsyncDirectory(holdDirectory)
    }

    /// Moves hold/NAME back to new/NAME.
    public func release(_ name: String) throws {
        try SpoolName.validate(name)
        let e = SpoolFS.renameNoReplace(holdDirectory + "/" + name, newDirectory + "/" + name)
        guard e == 0 else { throw SpoolFS.error("release", holdDirectory + "/" + name, e) }
        try SpoolFS.fsyncDirectory(newDirectory)
    }

    /// Names parked in hold/.
    public func held() throws -> [String] { try sortedEntries(holdDirectory) }

    /// Names waiting in deferred/.
    public func deferred() throws -> [String] { try sortedEntries(deferredDirectory) }

    /// Sends quarantine/NAME through its stage again: moved to new/NAME (or new/BASE when NAME is a
    /// `BASE.dup-UNIQUE` and BASE is free), its reason file removed. Returns the name in new/.
    @discardableResult
    public func requeue(_ name: String) throws -> String {
        try SpoolName.validate(name)
        let source = quarantineDirectory + "/" + name
        var target = name
        if let r = name.range(of: ".dup-", options: .backwards), SpoolFS.lstatKind(newDirectory + "/" + name[..<r.lowerBound]) == nil {
            target = String(name[..<r.lowerBound])
        }
        var e = SpoolFS.renameNoReplace(source, newDirectory + "/" + target)
        if e == EEXIST && target != name {
            target = name
            e = SpoolFS.renameNoReplace(source, newDirectory + "/" + target)
        }
        guard e == 0 else { throw SpoolFS.error("requeue", source, e) }
        try SpoolFS.fsyncDirectory(newDirectory)
        unlink(source + SpoolName.reasonSuffix)
        try SpoolFS.fsyncDirectory(quarantineDirectory)
        return target
    }

    /// Quarantined files with their reasons, oldest first.
    public func quarantined() throws -> [QuarantineEntry] {
        var entries: [QuarantineEntry] = []
        for name in try sortedEntries(quarantineDirectory) {
            let reasonPath = quarantineDirectory + "/" + name + SpoolName.reasonSuffix
            let record = (try? FileIO.read(reasonPath, maxBytes: 64 * 1024)).flatMap { try? JSONValue.parse($0) }
            entries.append(QuarantineEntry(
                name: name,
                stage: record?["stage"]?.stringValue ?? "unknown",
                reason: record?["reason"]?.stringValue ?? "no readable reason file \(name)\(SpoolName.reasonSuffix)",
                code: record?["code"]?.stringValue ?? "unknown",
                at: record?["at"]?.stringValue.flatMap(Timestamp.parse),
                attempts: record?["attempts"]?.intValue.map(Int.init)))
        }
        return entries
    }

    /// Files of the queue in one state, with their modification times, oldest first (for
    /// `qrpay-spool status`: counts, ages). Reason files, dotfiles and foreign names are left out.
    public func entries(_ state: QueueState) throws -> [(name: String, modified: Date)] {
        let dir = path + "/" + state.rawValue
        var result: [(name: String, modified: Date)] = []
        for name in try sortedEntries(dir) {
            guard let (_, st) = SpoolFS.lstatKind(dir + "/" + name) else { continue }
            result.append((name, Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)))
        }
        return result
    }

    /// How many files are in each state.
    public func counts() throws -> [QueueState: Int] {
        var counts: [QueueState: Int] = [:]
        for state in QueueState.allCases { counts[state] = try listNames(path + "/" + state.rawValue).count }
        return counts
    }

    /// Removes files in tmp/ older than `age` (left by writers that crashed before committing; never
    /// acknowledged, so nothing is lost). Returns how many.
    @discardableResult
    public func cleanTemporary(olderThan age: TimeInterval = 36 * 3600, now: Date = Date()) -> Int {
        var removed = 0
        for name in (try? FileIO.listDirectory(tmpDirectory)) ?? [] {
            let p = tmpDirectory + "/" + name
            guard let (kind, st) = SpoolFS.lstatKind(p), kind != .directory else { continue }
            if Double(st.st_mtim.tv_sec) < now.timeIntervalSince1970 - age, unlink(p) == 0 { removed += 1 }
        }
        return removed
    }
}

/// The subdirectories of a queue, as states a file can be in.
public enum QueueState: String, Sendable, CaseIterable, Hashable {
    case new, cur, deferred, hold, quarantine
}

public struct QuarantineEntry: Sendable, Equatable {
    public let name: String
    public let stage: String
    public let reason: String
    public let code: String
    public let at: Date?
    public let attempts: Int?
}

/// A file a stage claimed: it sits in QUEUE/cur/NAME until completed, quarantined or deferred.
public struct ClaimedFile: Sendable {
    public let queue: Queue
    public let name: String

    /// What lstat said of the entry when the runner looked at it right after claiming (saves the
    /// lstat before reading and before completing; read() still checks the opened file with fstat).
    var looked: (kind: SpoolEntryKind, device: UInt64, inode: UInt64)?
    /// False when the runner saw deferred/ empty before claiming: completing then skips removing an
    /// attempt record that cannot exist.
    var mayHaveDeferredRecord = true

    public init(queue: Queue, name: String) {
        self.queue = queue
        self.name = name
    }

    /// QUEUE/cur/NAME.
    public var path: String { queue.curDirectory + "/" + name }

    /// What the claimed entry is (lstat, never following a link); nil if it vanished.
    public var kind: SpoolEntryKind? { SpoolFS.lstatKind(path)?.0 }

    /// lstat of the entry, remembered for read() and complete(); nil if it vanished.
    mutating func look() -> SpoolEntryKind? {
        guard let (kind, st) = SpoolFS.lstatKind(path) else { return nil }
        looked = (kind, UInt64(st.st_dev), UInt64(st.st_ino))
        return kind
    }

    /// Reads the file, never following a symlink and never opening anything but a regular file
    /// (checked with lstat first, then fstat after an O_NOFOLLOW|O_NONBLOCK open):
    /// `spool.not-regular` for a FIFO, directory, device, socket or symlink; `spool.too-large` over
    /// `maxBytes`; `spool.no-such-file` if it vanished; `spool.io` otherwise (transient).
    public func read(maxBytes: Int) throws -> Data {
        let first: (kind: SpoolEntryKind, device: UInt64, inode: UInt64)
        if let looked {
            first = looked
        } else {
            guard let (kind, st0) = SpoolFS.lstatKind(path) else { throw SpoolFS.error("read", path, errno) }
            first = (kind, UInt64(st0.st_dev), UInt64(st0.st_ino))
        }
        guard first.kind == .regular else { throw ClaimedFile.notRegular(name, first.kind) }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            if errno == ELOOP { throw ClaimedFile.notRegular(name, .symlink) }
            throw SpoolFS.error("open", path, errno)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SpoolFS.error("stat", path, errno) }
        guard SpoolEntryKind(mode: st.st_mode) == .regular, UInt64(st.st_ino) == first.inode, UInt64(st.st_dev) == first.device else {
            throw ClaimedFile.notRegular(name, SpoolEntryKind(mode: st.st_mode))
        }
        guard Int(st.st_size) <= maxBytes else { throw ClaimedFile.tooLarge(name, Int(st.st_size), maxBytes) }
        var data = Data()
        data.reserveCapacity(Int(st.st_size))
        var buffer = [UInt8](repeating: 0, count: min(max(Int(st.st_size) + 1, 4096), 1 << 16))
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SpoolFS.error("read", path, errno)
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if data.count > maxBytes { throw ClaimedFile.tooLarge(name, data.count, maxBytes) }
            // A short read of a regular file at or past its size is its end (saves the read that returns 0).
            if n < buffer.count && data.count >= Int(st.st_size) { break }
        }
        return data
    }

    static func notRegular(_ name: String, _ kind: SpoolEntryKind) -> QRPayError {
        QRPayError("spool.not-regular",
                   "\(name) is \(kind.described), not a regular file; it was not opened", exit: .dataError)
    }

    static func tooLarge(_ name: String, _ size: Int, _ limit: Int) -> QRPayError {
        QRPayError("spool.too-large", "\(name) is \(size) bytes, over the limit of \(limit)", exit: .dataError)
    }
}
