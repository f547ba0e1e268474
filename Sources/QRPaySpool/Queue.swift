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
import QRPaySupport
#if canImport(Glibc)
import Glibc
#endif

package struct Queue: Sendable, Hashable, CustomStringConvertible {
    package let path: String

    package init(path: String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.path = p
    }

    package var description: String { path }

    /// How reason files name the queue: relative to the spool (`pg/inbox`), or the directory's own
    /// name for a queue outside a spool (a shop's outbox). Never an absolute path.
    package var reasonName: String { SpoolLayout.queueName(ofPath: path) ?? String(path.split(separator: "/").last ?? "") }

    package var tmpDirectory: String { path + "/tmp" }
    package var newDirectory: String { path + "/new" }
    package var curDirectory: String { path + "/cur" }
    package var quarantineDirectory: String { path + "/quarantine" }
    package var deferredDirectory: String { path + "/deferred" }
    package var holdDirectory: String { path + "/hold" }
    /// done/DAY/NAME: processed files, by the UTC day they were processed.
    package var doneDirectory: String { path + "/done" }

    static let subdirectories = ["tmp", "new", "cur", "done", "quarantine", "deferred", "hold"]

    /// Mode of files the queue itself writes (committed files, reason records).
    package static let fileMode: mode_t = 0o640

    /// Makes the queue and its subdirectories (its parent must exist) with `mode`, never
    /// world-writable, for a queue outside a spool (a shop's outbox, tests); a spool's queues are
    /// made by `SpoolLayout.makeQueue` with the layout's modes. Existing directories keep their mode.
    package func create(mode: mode_t = 0o750) throws {
        try FileIO.makePath(path, mode: mode)
        for sub in Queue.subdirectories { try FileIO.makeDirectory(path + "/" + sub, mode: mode) }
        try FileIO.fsyncDirectory(path)
    }

    // MARK: Writing

    /// Commits `data` into new/ (a group commit of one: a file in tmp/, fsync, renamed into new/
    /// without replacing, new/ made durable). Returns NAME. When this returns, the file survives a
    /// crash. A name already in new/ is `spool.exists`.
    @discardableResult
    package func deliver(_ data: Data, name: String? = nil, suffix: String = ".json", mode: mode_t = Queue.fileMode) throws -> String {
        let commit = GroupCommit(context: StageContext(spoolRoot: path))
        let delivered = try commit.deliver(data, to: self, name: name, suffix: suffix, mode: mode)
        try commit.flush()
        return delivered
    }

    // MARK: Reading

    /// Whether any file waits in new/, cur/ or deferred/ (one readdir each, stopping at the first
    /// name): "might a document still be on its way through this queue?"
    package func holdsWork() -> Bool {
        for dir in [newDirectory, curDirectory, deferredDirectory] {
            guard let d = opendir(dir) else { continue }
            defer { closedir(d) }
            while let e = readdir(d) {
                let name = withUnsafePointer(to: e.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
                if name.hasPrefix(".") || name.hasSuffix(".reason.json") { continue }
                return true
            }
        }
        return false
    }

    /// Names waiting in new/, oldest first (by modification time, then name). Dotfiles and foreign
    /// names (see `SpoolName`) are skipped; non-regular entries are listed (the runner quarantines
    /// them). When `promotingDeferred`, deferred files whose retry time has come are first moved
    /// back to new/.
    package func pending(promotingDeferred: Bool = true, now: Date = Date()) throws -> [String] {
        try pendingEntries(promotingDeferred: promotingDeferred, now: now).map(\.name)
    }

    /// A file waiting in new/ and when it arrived there: its inode change time, which the kernel sets
    /// when the file is renamed into new/ and its sender cannot set back (unlike the modification
    /// time, which `touch -d` rewinds). The PG judges holds and expiries at this time.
    package struct PendingEntry: Sendable, Equatable {
        package let name: String
        package let arrived: Date
    }

    /// `pending`, with each file's arrival.
    package func pendingEntries(promotingDeferred: Bool = true, now: Date = Date()) throws -> [PendingEntry] {
        if promotingDeferred { _ = try promoteDeferred(now: now) }
        return try sortedEntries(newDirectory)
    }

    private func sortedEntries(_ dir: String) throws -> [PendingEntry] {
        let names = try listNames(dir)
        var entries: [(sec: Int, nsec: Int, name: String, changed: Date)] = []
        entries.reserveCapacity(names.count)
        for name in names {
            guard let (_, st) = FileIO.lstatKind(dir + "/" + name) else { continue }  // taken meanwhile
            entries.append((st.st_mtim.tv_sec, st.st_mtim.tv_nsec, name, Queue.changeTime(st)))
        }
        entries.sort { ($0.sec, $0.nsec, $0.name) < ($1.sec, $1.nsec, $1.name) }
        return entries.map { PendingEntry(name: $0.name, arrived: $0.changed) }
    }

    package static func changeTime(_ st: stat) -> Date {
        Date(timeIntervalSince1970: TimeInterval(st.st_ctim.tv_sec) + TimeInterval(st.st_ctim.tv_nsec) / 1e9)
    }

    /// Valid (non-foreign, non-dot, non-reason) names in one of the queue's directories, unsorted.
    func listNames(_ dir: String) throws -> [String] {
        try FileIO.listDirectory(dir).filter(SpoolName.isValid)
    }

    /// Moves deferred files whose `retryAt` has come back to new/ (their reason file stays in
    /// deferred/ as the attempt count until the file completes or is quarantined). Returns how many.
    @discardableResult
    package func promoteDeferred(now: Date = Date()) throws -> Int {
        var moved = 0
        for name in try listNames(deferredDirectory) {
            if let due = deferredRecord(name)?["retryAt"]?.stringValue.flatMap(Timestamp.parse), due > now { continue }
            let e = FileIO.renameNoReplace(deferredDirectory + "/" + name, newDirectory + "/" + name)
            if e == 0 { moved += 1 } else if e != ENOENT && e != EEXIST {
                throw QRPayError.io("move back from deferred/", path: deferredDirectory + "/" + name, errno: e)
            }
        }
        if moved > 0 {
            try FileIO.fsyncDirectory(newDirectory)
            try FileIO.fsyncDirectory(deferredDirectory)
        }
        return moved
    }

    /// Claims new/NAME by renaming it to cur/NAME; nil if it is gone (another process took it) or a
    /// file of that name is already claimed. `arrived`: when it arrived in new/ (from
    /// `pendingEntries`); an earlier arrival kept in its deferred/ attempt record wins.
    package func claim(_ name: String, arrived: Date? = nil, deferredRecordPossible: Bool = true) throws -> ClaimedFile? {
        try SpoolName.validate(name)
        let e = FileIO.renameNoReplace(newDirectory + "/" + name, curDirectory + "/" + name)
        switch e {
        case 0:
            var file = ClaimedFile(queue: self, name: name, arrival: arrived ?? Date())
            file.mayHaveDeferredRecord = deferredRecordPossible
            if deferredRecordPossible, let first = recordedArrival(name), first < file.arrival { file.arrival = first }
            return file
        case ENOENT, EEXIST: return nil
        default: throw QRPayError.io("claim", path: newDirectory + "/" + name, errno: e)
        }
    }

    /// Files a crashed run left claimed in cur/, claimed again where they are (call under the stage
    /// lock, before claiming anything new): their arrival is their change time there (the crashed
    /// run's claim, when the PG first held them) or the one kept in their attempt record.
    package func leftovers() throws -> [ClaimedFile] {
        var out: [ClaimedFile] = []
        for name in try FileIO.listDirectory(curDirectory).sorted() {
            let path = curDirectory + "/" + name
            guard SpoolName.isValid(name) else {
                // Not a name a claim makes: back to new/, where the runner moves foreign names aside.
                _ = FileIO.renameNoReplace(path, newDirectory + "/" + name)
                continue
            }
            guard let (_, st) = FileIO.lstatKind(path) else { continue }
            var file = ClaimedFile(queue: self, name: name, arrival: Queue.changeTime(st))
            if let first = recordedArrival(name), first < file.arrival { file.arrival = first }
            file.recovered = true
            out.append(file)
        }
        return out
    }

    /// The arrival a deferred/ attempt record keeps for NAME, if any.
    func recordedArrival(_ name: String) -> Date? {
        deferredRecord(name)?["arrived"]?.stringValue.flatMap(Timestamp.parse)
    }

    /// After a crash (call under the stage lock, before claiming): puts every file left in cur/ back
    /// into new/. A name that meanwhile reappeared in new/ comes back as NAME.dup-UNIQUE. Returns the
    /// number of files recovered.
    @discardableResult
    package func recover() throws -> Int {
        var count = 0
        for name in try FileIO.listDirectory(curDirectory) {
            var target = name
            if !SpoolName.isValid(target) { target = "recovered-" + FileIO.uniqueName() }
            var e = FileIO.renameNoReplace(curDirectory + "/" + name, newDirectory + "/" + target)
            if e == EEXIST {
                target = name + ".dup-" + FileIO.uniqueName()
                e = FileIO.renameNoReplace(curDirectory + "/" + name, newDirectory + "/" + target)
            }
            if e == 0 { count += 1 } else if e != ENOENT { throw QRPayError.io("recover", path: curDirectory + "/" + name, errno: e) }
        }
        if count > 0 {
            try FileIO.fsyncDirectory(newDirectory)
            try FileIO.fsyncDirectory(curDirectory)
        }
        return count
    }

    /// The file was processed and the stage's outputs are durable: move it from cur/ to
    /// done/DAY/NAME (DAY: the UTC day of `now`; a name already there becomes NAME.dup-UNIQUE) and
    /// remove its deferred/ attempt record, if any. The move is not fsync'd unless `durable`: if a
    /// power loss undoes it, the file is recovered and handled again, so stages are idempotent (the
    /// same input twice is a no-op), and one fsync per file is saved.
    package func complete(_ file: ClaimedFile, context: StageContext? = nil, durable: Bool = false, now: Date = Date()) throws {
        let day = doneDirectory + "/" + Timestamp.day(now)
        func ensureDay() throws {
            if let context { try context.ensureDirectory(day) } else if !FileIO.isDirectory(day) {
                try FileIO.makeDirectory(day, mode: 0o750)
            }
        }
        try ensureDay()
        var target = day + "/" + file.name
        var e = FileIO.renameNoReplace(file.path, target)
        if e == EEXIST {
            target = day + "/" + file.name + ".dup-" + FileIO.uniqueName()
            e = FileIO.renameNoReplace(file.path, target)
        } else if e == ENOENT, FileIO.lstatKind(file.path) != nil {
            // done/DAY went away under us (a purge of today?): make it again, once.
            context?.forgetDirectory(day)
            try ensureDay()
            e = FileIO.renameNoReplace(file.path, target)
        }
        guard e == 0 else { throw QRPayError.io("move to done/", path: file.path, errno: e) }
        if durable {
            try FileIO.fsyncDirectory(day)
            try FileIO.fsyncDirectory(curDirectory)
        }
        if file.mayHaveDeferredRecord { removeDeferredRecord(file.name) }
    }

    /// The days in done/ (YYYY-MM-DD), oldest first.
    package func doneDays() -> [String] {
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
    package func quarantine(_ file: ClaimedFile, stage: String, error: QRPayError, now: Date = Date()) throws -> String {
        var record: [String: JSONValue] = [
            "stage": .string(stage), "reason": .string(error.message), "code": .string(error.code.rawValue),
            "at": .string(Timestamp.format(now)), "file": .string(file.name), "queue": .string(reasonName),
        ]
        if let attempts = recordedAttempts(file.name) { record["attempts"] = .int(attempts) }
        let target = try park(file, in: quarantineDirectory, verb: "quarantine", reason: .object(record))
        removeDeferredRecord(file.name)
        return target
    }

    /// Moves a claimed file to deferred/NAME for a retry at `retryAt`, with deferred/NAME.reason.json
    /// `{"stage","reason","code","at","file","queue","attempts","retryAt"}` (attempts counts up).
    /// If another file of the same name is already deferred, this one goes in as NAME.dup-UNIQUE.
    package func deferFile(_ file: ClaimedFile, stage: String, error: QRPayError, retryAt: Date, now: Date = Date()) throws {
        let earlier = deferredRecord(file.name)
        let attempts = (recordedAttempts(file.name) ?? 0) + 1
        let arrived = min(file.arrival, earlier?["arrived"]?.stringValue.flatMap(Timestamp.parse) ?? file.arrival)
        let record: JSONValue = [
            "stage": .string(stage), "reason": .string(error.message), "code": .string(error.code.rawValue),
            "at": .string(Timestamp.format(now)), "file": .string(file.name), "queue": .string(reasonName),
            "attempts": .int(attempts), "retryAt": .string(Timestamp.format(retryAt)),
            // When the file first arrived (the PG's clock): a retry is judged as of then.
            "arrived": .string(Timestamp.format(arrived)),
        ]
        try park(file, in: deferredDirectory, verb: "defer", reason: record)
    }

    /// Moves a claimed file into `directory` beside its NAME.reason.json (written first), never
    /// replacing: a name already taken there becomes NAME.dup-UNIQUE. Returns the name used.
    @discardableResult
    private func park(_ file: ClaimedFile, in directory: String, verb: String, reason: JSONValue) throws -> String {
        var target = file.name
        for _ in 0..<3 {
            if FileIO.lstatKind(directory + "/" + target) != nil {
                target = file.name + ".dup-" + FileIO.uniqueName()
                continue
            }
            try Durable.write(reason.serialized(pretty: true), to: directory + "/" + target + SpoolName.reasonSuffix,
                              mode: Queue.fileMode, ifExists: .replace)
            let e = FileIO.renameNoReplace(file.path, directory + "/" + target)
            if e == EEXIST { target = file.name + ".dup-" + FileIO.uniqueName(); continue }
            guard e == 0 else { throw QRPayError.io(verb, path: file.path, errno: e) }
            try FileIO.fsyncDirectory(directory)
            try FileIO.fsyncDirectory(curDirectory)
            return target
        }
        throw QRPayError(.ioBusy, "cannot find a free name in \(directory) for \(file.name)")
    }

    /// How many times NAME was deferred so far (0 if never).
    package func attempts(_ name: String) -> Int {
        Int(recordedAttempts(name) ?? 0)
    }

    /// The most attempts a reason file is taken to record: an edited count beyond it (or below 0) is
    /// clamped, so that counting on from it cannot overflow (the stage then gives up on the file).
    static let maxRecordedAttempts: Int64 = 1_000_000

    /// The attempt count in deferred/NAME.reason.json, clamped to 0...maxRecordedAttempts; nil without one.
    func recordedAttempts(_ name: String) -> Int64? {
        deferredRecord(name)?["attempts"]?.intValue.map { min(max($0, 0), Queue.maxRecordedAttempts) }
    }

    package func deferredRecord(_ name: String) -> JSONValue? {
        guard let data = try? FileIO.read(deferredDirectory + "/" + name + SpoolName.reasonSuffix, maxBytes: 64 * 1024)
        else { return nil }
        return try? JSONValue.parse(data)
    }

    private func removeDeferredRecord(_ name: String) {
        let record = deferredDirectory + "/" + name + SpoolName.reasonSuffix
        if unlink(record) == 0 { try? FileIO.fsyncDirectory(deferredDirectory) }
    }

    // MARK: Operators

    /// Parks new/NAME (or deferred/NAME) in hold/NAME; it is not processed until released.
    package func hold(_ name: String) throws {
        try SpoolName.validate(name)
        var e = FileIO.renameNoReplace(newDirectory + "/" + name, holdDirectory + "/" + name)
        if e == ENOENT { e = FileIO.renameNoReplace(deferredDirectory + "/" + name, holdDirectory + "/" + name) }
        guard e == 0 else { throw Queue.operatorError("hold", name + " in " + path, e) }
        try FileIO.fsyncDirectory(holdDirectory)
    }

    /// Moves hold/NAME back to new/NAME.
    package func release(_ name: String) throws {
        try SpoolName.validate(name)
        let e = FileIO.renameNoReplace(holdDirectory + "/" + name, newDirectory + "/" + name)
        guard e == 0 else { throw Queue.operatorError("release", holdDirectory + "/" + name, e) }
        try FileIO.fsyncDirectory(newDirectory)
    }

    /// An operator's move that failed: a file that is not where the move needs it is
    /// `spool.no-such-file` (exit 66), anything else the system's error.
    static func operatorError(_ verb: String, _ path: String, _ e: Int32) -> QRPayError {
        if e == ENOENT { return QRPayError(.spoolNoSuchFile, "cannot \(verb) \(path): there is no such file there") }
        return QRPayError.io(verb, path: path, errno: e)
    }

    /// Names in new/ that are not valid queue names (dotfiles, spaces, non-ASCII...): foreign to
    /// the protocol (files are written in tmp/ and renamed in under a valid name).
    package func foreignNames() throws -> [String] {
        try FileIO.listDirectory(newDirectory).filter { !SpoolName.isValid($0) }
    }

    /// Moves a foreign name out of new/ into quarantine/ (as `foreign-UNIQUE`, beside its reason
    /// file naming the original, escaped), without opening it: new/ then holds only what a stage
    /// can handle, so a watcher of new/ (systemd's DirectoryNotEmpty=) never loops on it.
    /// Returns the quarantined name, or nil when the entry went away meanwhile.
    @discardableResult
    package func quarantineForeign(_ name: String, stage: String, now: Date = Date()) throws -> String? {
        let shown = String(name.unicodeScalars.prefix(80).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined())
        let target = "foreign-" + FileIO.uniqueName()
        let record: JSONValue = [
            "stage": .string(stage), "code": .string(ErrorCode.spoolBadName.rawValue),
            "reason": .string("\"\(shown)\" is not a queue file name ([A-Za-z0-9][A-Za-z0-9._:,=+-]{0,200}): write files in tmp/ and rename them into new/ under a valid name"),
            "at": .string(Timestamp.format(now)), "file": .string(shown), "queue": .string(reasonName),
        ]
        try Durable.write(record.serialized(pretty: true), to: quarantineDirectory + "/" + target + SpoolName.reasonSuffix,
                          mode: Queue.fileMode, ifExists: .replace)
        let e = FileIO.renameNoReplace(newDirectory + "/" + name, quarantineDirectory + "/" + target)
        if e == ENOENT {
            unlink(quarantineDirectory + "/" + target + SpoolName.reasonSuffix)
            return nil
        }
        guard e == 0 else { throw QRPayError.io("quarantine", path: newDirectory + "/" + name, errno: e) }
        try FileIO.fsyncDirectory(quarantineDirectory)
        try FileIO.fsyncDirectory(newDirectory)
        return target
    }

    /// Names parked in hold/.
    package func held() throws -> [String] { try sortedEntries(holdDirectory).map(\.name) }

    /// Names waiting in deferred/.
    package func deferred() throws -> [String] { try sortedEntries(deferredDirectory).map(\.name) }

    /// Sends quarantine/NAME through its stage again: moved to new/NAME (or new/BASE when NAME is a
    /// `BASE.dup-UNIQUE` and BASE is free), its reason file removed. Returns the name in new/.
    @discardableResult
    package func requeue(_ name: String) throws -> String {
        try SpoolName.validate(name)
        let source = quarantineDirectory + "/" + name
        var target = name
        if let r = name.range(of: ".dup-", options: .backwards), FileIO.lstatKind(newDirectory + "/" + name[..<r.lowerBound]) == nil {
            target = String(name[..<r.lowerBound])
        }
        var e = FileIO.renameNoReplace(source, newDirectory + "/" + target)
        if e == EEXIST && target != name {
            target = name
            e = FileIO.renameNoReplace(source, newDirectory + "/" + target)
        }
        guard e == 0 else { throw Queue.operatorError("requeue", source, e) }
        try FileIO.fsyncDirectory(newDirectory)
        unlink(source + SpoolName.reasonSuffix)
        try FileIO.fsyncDirectory(quarantineDirectory)
        return target
    }

    /// Quarantined files with their reasons, oldest first.
    package func quarantined() throws -> [QuarantineEntry] {
        var entries: [QuarantineEntry] = []
        for name in try sortedEntries(quarantineDirectory).map(\.name) {
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
    package func entries(_ state: QueueState) throws -> [(name: String, modified: Date)] {
        let dir = path + "/" + state.rawValue
        var result: [(name: String, modified: Date)] = []
        for name in try sortedEntries(dir).map(\.name) {
            guard let (_, st) = FileIO.lstatKind(dir + "/" + name) else { continue }
            result.append((name, Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)))
        }
        return result
    }

    /// How many files are in each state.
    package func counts() throws -> [QueueState: Int] {
        var counts: [QueueState: Int] = [:]
        for state in QueueState.allCases { counts[state] = try listNames(path + "/" + state.rawValue).count }
        return counts
    }

    /// Removes files in tmp/ older than `age` (left by writers that crashed before committing; never
    /// acknowledged, so nothing is lost). Returns how many.
    @discardableResult
    package func cleanTemporary(olderThan age: TimeInterval = 36 * 3600, now: Date = Date()) -> Int {
        var removed = 0
        for name in (try? FileIO.listDirectory(tmpDirectory)) ?? [] {
            let p = tmpDirectory + "/" + name
            guard let (kind, st) = FileIO.lstatKind(p), kind != .directory else { continue }
            if Double(st.st_mtim.tv_sec) < now.timeIntervalSince1970 - age, unlink(p) == 0 { removed += 1 }
        }
        return removed
    }
}

/// The subdirectories of a queue, as states a file can be in.
package enum QueueState: String, Sendable, CaseIterable, Hashable {
    case new, cur, deferred, hold, quarantine
}

package struct QuarantineEntry: Sendable, Equatable {
    package let name: String
    package let stage: String
    package let reason: String
    package let code: String
    package let at: Date?
    package let attempts: Int?
}

/// A file a stage claimed: it sits in QUEUE/cur/NAME until completed, quarantined or deferred.
package struct ClaimedFile: Sendable {
    package let queue: Queue
    package let name: String

    /// What lstat said of the entry when the runner looked at it right after claiming (saves the
    /// lstat before reading and before completing; read() still checks the opened file with fstat).
    var looked: (kind: SpoolEntryKind, device: UInt64, inode: UInt64)?
    /// False when the runner saw deferred/ empty before claiming: completing then skips removing an
    /// attempt record that cannot exist.
    var mayHaveDeferredRecord = true
    /// Files claimed with this one (a photo's sidecar), completed, quarantined or deferred with it.
    package internal(set) var companions: [ClaimedFile] = []

    /// When the file arrived in the queue's new/ (the PG's clock, see `Queue.PendingEntry`): holds
    /// and expiries are judged as of this time, however late the stage runs.
    package internal(set) var arrival: Date
    /// Left claimed by a run that crashed: the stage may already have journaled what it did with it.
    package internal(set) var recovered = false

    package init(queue: Queue, name: String, arrival: Date = Date()) {
        self.queue = queue
        self.name = name
        self.arrival = arrival
    }

    /// QUEUE/cur/NAME.
    package var path: String { queue.curDirectory + "/" + name }

    /// What the claimed entry is (lstat, never following a link); nil if it vanished.
    package var kind: SpoolEntryKind? { FileIO.lstatKind(path)?.0 }

    /// lstat of the entry, remembered for read() and complete(); nil if it vanished.
    mutating func look() -> SpoolEntryKind? {
        guard let (kind, st) = FileIO.lstatKind(path) else { return nil }
        looked = (kind, UInt64(st.st_dev), UInt64(st.st_ino))
        return kind
    }

    /// Reads the file, never following a symlink and never opening anything but a regular file
    /// (checked with lstat first, then fstat after an O_NOFOLLOW|O_NONBLOCK open):
    /// `spool.not-regular` for a FIFO, directory, device, socket or symlink; `spool.too-large` over
    /// `maxBytes`; an `io.*` error otherwise (a fault of the system: transient).
    package func read(maxBytes: Int) throws -> Data {
        let first: (kind: SpoolEntryKind, device: UInt64, inode: UInt64)
        if let looked {
            first = looked
        } else {
            guard let (kind, st0) = FileIO.lstatKind(path) else { throw QRPayError.io("read", path: path, errno: errno) }
            first = (kind, UInt64(st0.st_dev), UInt64(st0.st_ino))
        }
        guard first.kind == .regular else { throw ClaimedFile.notRegular(name, first.kind) }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            if errno == ELOOP { throw ClaimedFile.notRegular(name, .symlink) }
            throw QRPayError.io("open", path: path, errno: errno)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw QRPayError.io("stat", path: path, errno: errno) }
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
                throw QRPayError.io("read", path: path, errno: errno)
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if data.count > maxBytes { throw ClaimedFile.tooLarge(name, data.count, maxBytes) }
            // A short read of a regular file at or past its size is its end (saves the read that returns 0).
            if n < buffer.count && data.count >= Int(st.st_size) { break }
        }
        if st.st_uid != geteuid() || st.st_nlink > 1 { try takeCustody(of: data) }
        return data
    }

    /// The stage takes custody of what it judges: a file its sender still owns (and so may rewrite)
    /// or still reaches through another hard link is replaced in cur/ by a copy the stage owns, with
    /// exactly the bytes that were read. What reaches done/, quarantine/ or a record is then what
    /// was judged, whatever the sender does with its own link afterwards. The copy is written in the
    /// queue's tmp/ and renamed over cur/NAME (a crash leaves either the original or the copy there,
    /// and a stale tmp/ file that the runner removes).
    func takeCustody(of data: Data) throws {
        let tmp = queue.tmpDirectory + "/" + FileIO.uniqueName(suffix: ".custody")
        let fd = try FileIO.createOpen(tmp, mode: Queue.fileMode)
        do {
            try FileIO.writeAll(fd: fd, data, path: tmp)
            guard close(fd) == 0 else { throw QRPayError.io("close", path: tmp, errno: errno) }
        } catch {
            unlink(tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw QRPayError.io("take custody of", path: path, errno: e)
        }
    }

    static func notRegular(_ name: String, _ kind: SpoolEntryKind) -> QRPayError {
        QRPayError(.spoolNotRegular, "\(name) is \(kind.described), not a regular file; it was not opened")
    }

    static func tooLarge(_ name: String, _ size: Int, _ limit: Int) -> QRPayError {
        QRPayError(.spoolTooLarge, "\(name) is \(size) bytes, over the limit of \(limit)")
    }
}
