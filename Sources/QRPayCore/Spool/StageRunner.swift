// The one runner every spool stage uses (qrpay-register, qrpay-approve, ...), after qmail's and
// Postfix's queue managers.
//
// `run()` takes the stage's flock (ROOT/run/<stage>.lock; a second instance gets `spool.busy`, exit
// 75), puts back files a crash left claimed, then drains the stage's queues in order until a full
// pass finds nothing. `--once` then returns; `--watch` waits for an inotify wake-up (only a hint) or
// the periodic rescan and drains again. Each file is claimed by rename, handed to the stage, then
// completed, quarantined (bad input, with a reason file) or deferred (transient failure, retried
// with exponential backoff). SIGTERM/SIGINT finish the current file, then `run()` returns.
// One log line per file on stderr: "<stage>: <queue>/<name>: ok <note>" / "quarantined: ..." /
// "deferred: ...".

import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How a stage reports a handled file.
public enum StageOutcome: Sendable {
    /// Processed; the note goes into the log line.
    case done(String)
}

/// One stage of the pipeline: it reads files from its queues and makes its outputs durable before
/// returning from `process`.
public protocol SpoolStage: AnyObject {
    /// "register", "approve", ...: names the lock file and prefixes log lines ([A-Za-z0-9._-]).
    var name: String { get }
    /// Input queues, drained in this order on every pass.
    var queues: [Queue] { get }
    /// How many files the runner may hand to `process` at once, on as many threads (default 1).
    /// More than 1 only if `process` and `tick` are thread-safe.
    var concurrency: Int { get }
    /// Handles one claimed file. Throw a `QRPayError`: transient (`isTransient`) defers the file and
    /// retries it with backoff; any other quarantines it with the error's message as the reason; any
    /// other `Error` quarantines it as an internal error (`spool.internal`).
    func process(_ file: ClaimedFile) throws -> StageOutcome
    /// Periodic work (settle, expire), called whenever a pass over the queues found nothing more to
    /// do (so queued work, such as cancels, is applied before it). Default: nothing.
    func tick(now: Date) throws
    /// Whether the runner should claim `name` now (default: yes). A stage leaves a file waiting in
    /// new/ by answering no, e.g. a sidecar whose photo has not arrived yet.
    func shouldClaim(_ name: String, in queue: Queue) -> Bool
    /// Files per group commit (default 1). The runner hands up to this many files to
    /// `process(_:commit:)` with one `GroupCommit`, flushes it once, and only then completes them.
    var batchSize: Int { get }
    /// Stages that change the same records (the PG's register, approve and settle run as separate
    /// programs) name one shared lock; the runner holds it (flock, ROOT/run/NAME.lock, blocking) for
    /// each pass over the queues and the tick after it, so their read-check-write of a record never
    /// interleaves. Between passes (while waiting for work) it is released. Default: none.
    var sharedLock: String? { get }
    /// Group-commit variant of `process`: stage outputs in `commit` instead of writing them durably
    /// one by one. Default: calls `process(_:)` (which makes its outputs durable itself). What a
    /// failing file staged is rolled back by the runner.
    func process(_ file: ClaimedFile, commit: GroupCommit) throws -> StageOutcome
}

extension SpoolStage {
    public var concurrency: Int { 1 }
    public var batchSize: Int { 1 }
    public var sharedLock: String? { nil }
    public func tick(now: Date) throws {}
    public func shouldClaim(_ name: String, in queue: Queue) -> Bool { true }
    public func process(_ file: ClaimedFile, commit: GroupCommit) throws -> StageOutcome { try process(file) }
}

/// A stage whose outputs always go through a group commit: handling one file on its own is a group
/// commit of one, flushed before returning.
public protocol GroupCommitStage: SpoolStage {}

extension GroupCommitStage {
    public func process(_ file: ClaimedFile) throws -> StageOutcome {
        let commit = GroupCommit()
        let outcome = try process(file, commit: commit)
        try commit.flush()
        return outcome
    }
}

public struct StageSummary: Sendable, Equatable, CustomStringConvertible {
    public var processed = 0
    public var quarantined = 0
    public var deferred = 0
    /// Files put back from cur/ at start (left claimed by a crash).
    public var recovered = 0

    public init() {}

    public var description: String {
        "\(processed) processed, \(quarantined) quarantined, \(deferred) deferred"
    }
}

public struct StageRunner {
    public enum Mode: Sendable {
        /// Drain and exit (cron, systemd oneshot and .path units).
        case once
        /// Drain, then wait for inotify wake-ups with a rescan every so many seconds (a service).
        case watch(rescanEvery: TimeInterval)
    }

    /// Lets another thread (or the stage itself) stop a running runner: it finishes the current
    /// file, then `run()` returns. Sticky: once stopped, a later `run()` returns at once.
    public final class Control: Sendable {
        private let stopped = Atomic<Bool>(false)
        let wakeRead: Int32
        private let wakeWrite: Int32

        public init() {
            let fds = SpoolFS.makePipe()
            wakeRead = fds[0]
            wakeWrite = fds[1]
        }

        deinit {
            if wakeRead >= 0 { close(wakeRead) }
            if wakeWrite >= 0 { close(wakeWrite) }
        }

        public func stop() {
            stopped.store(true, ordering: .sequentiallyConsistent)
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }

        public var isStopped: Bool { stopped.load(ordering: .sequentiallyConsistent) }
    }

    public let spoolRoot: String
    public let stage: SpoolStage
    public let mode: Mode
    public let log: @Sendable (String) -> Void
    public let control = Control()
    /// Completes processed inputs off the workers' path (see InputCompleter).
    private let completer = InputCompleter()
    /// Installs SIGTERM/SIGINT handlers (process-wide, once) that stop every runner after its
    /// current file. Programs want this; tests may turn it off.
    public var handleSignals = true
    /// Seconds to wait before retry number `attempts` (1, 2, ...) of a deferred file.
    public var backoff: @Sendable (Int) -> TimeInterval = StageRunner.exponentialBackoff
    /// After this many transient failures a file is quarantined instead of deferred again.
    public var maxAttempts = 16
    /// Mode for queue directories the runner creates when they are missing.
    public var queueDirectoryMode: mode_t = 0o750
    /// The clock (tests move it forward).
    public var clock: @Sendable () -> Date = { Date() }

    public init(spoolRoot: String, stage: SpoolStage, mode: Mode,
                log: (@Sendable (String) -> Void)? = nil) {
        self.spoolRoot = spoolRoot
        self.stage = stage
        self.mode = mode
        self.log = log ?? StageRunner.standardErrorLine
        self.logsToStandardError = log == nil
    }

    /// The default log: one line on stderr.
    static let standardErrorLine: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// True with the default log: a batch's lines then go out in one write(2).
    private let logsToStandardError: Bool

    /// Logs `lines`, one `log` call per line (one write for all of them on stderr).
    private func log(lines: [String]) {
        if lines.isEmpty { return }
        if logsToStandardError {
            FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        } else {
            for line in lines { log(line) }
        }
    }

    /// 30 s, 1 min, 2 min, ... capped at 1 h.
    public static let exponentialBackoff: @Sendable (Int) -> TimeInterval = { attempts in
        min(3600, 30 * pow(2, Double(max(0, min(attempts - 1, 20)))))
    }

    /// True once SIGTERM or SIGINT arrived (with `handleSignals`).
    public static var terminationRequested: Bool { signalRequested.load(ordering: .sequentiallyConsistent) }

    private var shouldStop: Bool { control.isStopped || (handleSignals && StageRunner.terminationRequested) }

    // MARK: Running

    public func run() throws -> StageSummary {
        guard Identifier.isValid(stage.name) else {
            throw QRPayError("spool.bad-name", "stage name \"\(stage.name)\" is not a valid id", exit: .software)
        }
        let lock = try acquireLock()
        defer { close(lock) }
        if handleSignals { SignalState.shared.install() }
        StageRunner.raiseDescriptorLimit()

        let queues = stage.queues
        var summary = StageSummary()
        for queue in queues {
            try queue.create(mode: queueDirectoryMode)
            let n = try queue.recover()
            if n > 0 {
                summary.recovered += n
                log("\(stage.name): \(display(queue)): recovered \(n) file(s) left claimed by a crash")
            }
            queue.cleanTemporary(now: clock())
        }
        var watcher: DirectoryWatcher?
        if case .watch = mode { watcher = try DirectoryWatcher(queues.map(\.newDirectory)) }
        defer { finishCompletions() }  // also when a spool error ends the run: every input done leaves cur/

        var promote = true
        while !shouldStop {
            let now = clock()
            let shared = try stage.sharedLock.map(acquireSharedLock)
            defer { if let shared { flock(shared, LOCK_UN); close(shared) } }
            if promote {
                for queue in queues { try queue.promoteDeferred(now: now) }
            }
            let handled = try drainPass(queues, &summary)
            if handled > 0 { promote = false; continue }
            finishCompletions()
            do {
                try stage.tick(now: clock())
            } catch let error as QRPayError where error.isTransient {
                log("\(stage.name): tick: \(error.message)")
            }
            if let shared { flock(shared, LOCK_UN) }
            guard case .watch(let every) = mode, let watcher else { break }
            var extra = [control.wakeRead]
            if handleSignals { extra.append(SignalState.shared.wakeRead) }
            try watcher.wait(timeout: every, alsoWatching: extra)
            promote = true
        }
        return summary
    }

    private func display(_ queue: Queue) -> String { SpoolLayout.displayName(queue, root: spoolRoot) }

    /// Batches keep their files open until they are flushed (batch size x concurrency x up to five):
    /// lift the soft RLIMIT_NOFILE (often 1024) to the hard limit, once per process.
    static func raiseDescriptorLimit() {
        _ = descriptorLimitRaised
    }

    private static let descriptorLimitRaised: Bool = {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return false }
        let target = min(limit.rlim_max, rlim_t(1 << 20))  // not "unlimited": the kernel caps it at nr_open
        guard limit.rlim_cur < target else { return true }
        limit.rlim_cur = target
        return setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0
    }()

    /// Waits until every processed input is out of cur/ (in done/); logs the ones that could not be
    /// moved (they are recovered at the next start and handled again: a no-op, stages are idempotent).
    private func finishCompletions() {
        for failure in completer.wait() { log("\(stage.name): \(failure)") }
    }

    /// The lock shared by stages that change the same records: blocking, one pass at a time.
    private func acquireSharedLock(_ name: String) throws -> Int32 {
        let dir = SpoolLayout.runDirectory(spoolRoot)
        try SpoolFS.makeDirectories(dir, mode: 0o750)
        let path = dir + "/" + name + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else { throw SpoolFS.error("open lock file", path, errno) }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR && !shouldStop { continue }
            let e = errno
            close(fd)
            throw SpoolFS.error("lock", path, e)
        }
        return fd
    }

    private func acquireLock() throws -> Int32 {
        let dir = SpoolLayout.runDirectory(spoolRoot)
        try SpoolFS.makeDirectories(dir, mode: 0o750)
        let path = SpoolLayout.lockFile(spoolRoot, stage: stage.name)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else { throw SpoolFS.error("open lock file", path, errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK || e == EAGAIN {
                throw QRPayError("spool.busy", "another qrpay-\(stage.name) is already running on this spool (\(path) is locked)",
                                 exit: .tempFail)
            }
            throw SpoolFS.error("lock", path, e)
        }
        let pid = Data("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { try? SpoolFS.writeAll(fd, pid, path) }
        return fd
    }

    /// One pass over every queue; returns how many files were handled (claimed by us).
    private func drainPass(_ queues: [Queue], _ summary: inout StageSummary) throws -> Int {
        var handled = 0
        let batch = max(1, stage.batchSize)
        for queue in queues {
            if shouldStop { break }
            let names = try queue.pending(promotingDeferred: false).filter { stage.shouldClaim($0, in: queue) }
            if names.isEmpty { continue }
            // With nothing in deferred/, no file of this pass has an attempt record to remove when done
            // (files deferred during the pass are not claimed again in it).
            let deferredRecords = queue.hasDeferredEntries()
            let chunks = stride(from: 0, to: names.count, by: batch).map { names[$0..<min($0 + batch, names.count)] }
            let workers = max(1, min(stage.concurrency, chunks.count))
            if workers == 1 {
                for chunk in chunks {
                    if shouldStop { break }
                    handled += try handleChunk(queue, chunk, &summary, deferredRecords: deferredRecords)
                }
            } else {
                handled += try drainConcurrently(queue, chunks, workers: workers, deferredRecords: deferredRecords, &summary)
            }
        }
        return handled
    }

    private func drainConcurrently(_ queue: Queue, _ chunks: [ArraySlice<String>], workers: Int, deferredRecords: Bool,
                                   _ summary: inout StageSummary) throws -> Int {
        struct Shared: ~Copyable {
            var next = 0
            var handled = 0
            var summary = StageSummary()
            var error: Error?
        }
        let shared = Mutex(Shared())
        let runner = UncheckedBox(self)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let index: Int? = shared.withLock { s in
                    guard s.error == nil, s.next < chunks.count else { return nil }
                    defer { s.next += 1 }
                    return s.next
                }
                guard let index, !runner.value.shouldStop else { return }
                var local = StageSummary()
                do {
                    let took = try runner.value.handleChunk(queue, chunks[index], &local, deferredRecords: deferredRecords)
                    shared.withLock { s in
                        s.handled += took
                        s.summary.processed += local.processed
                        s.summary.quarantined += local.quarantined
                        s.summary.deferred += local.deferred
                    }
                } catch {
                    shared.withLock { s in if s.error == nil { s.error = error } }
                    return
                }
            }
        }
        return try shared.withLock { s in
            summary.processed += s.summary.processed
            summary.quarantined += s.summary.quarantined
            summary.deferred += s.summary.deferred
            if let error = s.error { throw error }
            return s.handled
        }
    }

    /// Claims and handles a batch of files with one group commit; returns how many were ours (not
    /// taken by someone else). Errors of the spool itself (disk full while quarantining...)
    /// propagate and stop the runner; unfinished files then stay in cur/ and are recovered on the
    /// next start.
    private func handleChunk(_ queue: Queue, _ names: ArraySlice<String>, _ summary: inout StageSummary,
                             deferredRecords: Bool = true) throws -> Int {
        let commit = GroupCommit()
        var succeeded: [(file: ClaimedFile, note: String)] = []
        var handled = 0
        for name in names {
            if shouldStop { break }
            guard var file = try queue.claim(name) else { continue }
            guard let kind = file.look() else { continue }  // removed from cur/ by hand meanwhile
            file.mayHaveDeferredRecord = deferredRecords
            handled += 1
            if kind != .regular {
                try fail(queue, file, ClaimedFile.notRegular(name, kind), &summary)
                continue
            }
            let mark = commit.mark
            do {
                let outcome = try stage.process(file, commit: commit)
                switch outcome { case .done(let note): succeeded.append((file, note)) }
            } catch {
                commit.rollback(to: mark)
                try fail(queue, file, error, &summary)
            }
        }
        if succeeded.isEmpty { return handled }
        do {
            try commit.flush()
        } catch {
            // Nothing of the batch is acknowledged: every file is retried later.
            let wrapped = (error as? QRPayError).map { QRPayError($0.code, "cannot commit the outputs: \($0.message)", exit: .tempFail) }
                ?? QRPayError("spool.io", "cannot commit the outputs: \(error)", exit: .tempFail)
            for item in succeeded { try fail(queue, item.file, wrapped, &summary) }
            return handled
        }
        var lines: [String] = []
        lines.reserveCapacity(succeeded.count)
        for item in succeeded {
            summary.processed += 1
            lines.append(prefix(queue, item.file.name) + (item.note.isEmpty ? "ok" : "ok " + item.note))
        }
        log(lines: lines)
        // The outputs are durable: the inputs move on to done/ on the completer's thread.
        completer.complete(succeeded.map(\.file))
        return handled
    }

    private func prefix(_ queue: Queue, _ name: String) -> String { "\(stage.name): \(display(queue))/\(name): " }

    /// Quarantines (permanent) or defers (transient) a claimed file, and logs it.
    private func fail(_ queue: Queue, _ file: ClaimedFile, _ error: Error, _ summary: inout StageSummary) throws {
        let prefix = prefix(queue, file.name)
        var reason: QRPayError
        switch error {
        case let e as QRPayError: reason = e
        default: reason = QRPayError("spool.internal", "internal error in stage \(stage.name): \(error)", exit: .software)
        }
        if reason.isTransient {
            let attempts = queue.attempts(file.name) + 1
            if attempts < maxAttempts {
                let now = clock()
                let retryAt = now.addingTimeInterval(max(0, backoff(attempts)))
                try queue.deferFile(file, stage: stage.name, error: reason, retryAt: retryAt, now: now)
                summary.deferred += 1
                log(prefix + "deferred: \(reason.message) (attempt \(attempts), retry at \(Timestamp.format(retryAt)))")
                return
            }
            reason = QRPayError(reason.code, "gave up after \(attempts) attempts: \(reason.message)", exit: reason.exit)
        }
        try queue.quarantine(file, stage: stage.name, error: reason, now: clock())
        summary.quarantined += 1
        log(prefix + "quarantined: " + reason.message)
    }
}

/// Hands a non-Sendable value to worker threads whose use of it the owner vouches for.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// SIGTERM/SIGINT → a flag and a byte in a self-pipe (both async-signal-safe), installed once per
/// process; every runner polls the pipe and checks the flag between files.
final class SignalState: Sendable {
    static let shared = SignalState()
    let wakeRead: Int32
    let wakeWrite: Int32
    private let installed = Atomic<Bool>(false)

    private init() {
        let fds = SpoolFS.makePipe()
        wakeRead = fds[0]
        wakeWrite = fds[1]
        signalWakeFD.store(fds[1], ordering: .sequentiallyConsistent)
    }

    /// For tests that raise SIGTERM in-process.
    func reset() {
        signalRequested.store(false, ordering: .sequentiallyConsistent)
        var byte: UInt8 = 0
        while read(wakeRead, &byte, 1) > 0 {}
    }

    func install() {
        guard installed.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged
        else { return }
        _ = signalRequested.load(ordering: .sequentiallyConsistent)
        for sig in [SIGTERM, SIGINT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in
                signalRequested.store(true, ordering: .sequentiallyConsistent)
                var byte: UInt8 = 1
                _ = write(signalWakeFD.load(ordering: .sequentiallyConsistent), &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(sig, &action, nil)
        }
        // A parent may have started us with these signals blocked (the mask is inherited): then
        // SIGTERM would never reach the handler and a --watch stage would never stop.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGTERM)
        sigaddset(&unblock, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        // Touch the globals the handler uses, so no lazy initialisation happens inside it.
        _ = signalRequested.load(ordering: .sequentiallyConsistent)
        _ = signalWakeFD.load(ordering: .sequentiallyConsistent)
    }
}

private let signalRequested = Atomic<Bool>(false)
private let signalWakeFD = Atomic<Int32>(-1)

/// inotify on the queues' new/ directories: IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE.
final class DirectoryWatcher {
    private let fd: Int32

    init(_ directories: [String]) throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw SpoolFS.error("start inotify for", directories.first ?? "", errno) }
        for dir in directories {
            if inotify_add_watch(fd, dir, UInt32(IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE | IN_ONLYDIR | IN_DONT_FOLLOW)) < 0 {
                let e = errno
                close(fd)
                throw SpoolFS.error("watch", dir, e)
            }
        }
    }

    deinit { close(fd) }

    /// Returns after an event, a readable `alsoWatching` descriptor, or `timeout` seconds.
    func wait(timeout: TimeInterval, alsoWatching extra: [Int32]) throws {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        for e in extra where e >= 0 { fds.append(pollfd(fd: e, events: Int16(POLLIN), revents: 0)) }
        let ms = Int32(max(0, min(timeout, 86_400)) * 1000)
        let n = poll(&fds, nfds_t(fds.count), ms)
        if n < 0 && errno != EINTR { throw SpoolFS.error("wait for", "the spool", errno) }
        // Drain the events: they are only hints, the pass rescans the directories anyway.
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}

/// Completes processed inputs (cur/NAME -> done/DAY/NAME, `Queue.complete`) on a thread of its own,
/// so that the workers go on with their next batch. The runner waits for it before it idles or
/// exits. A completion that fails (or never happens: a crash) leaves the file in cur/; it is
/// recovered at the next start and handled again, which changes nothing (stages are idempotent).
final class InputCompleter: @unchecked Sendable {
    private let queue = DispatchQueue(label: "qrpay.input-completer")
    private let group = DispatchGroup()
    private let failures = Mutex<[String]>([])

    func complete(_ files: [ClaimedFile]) {
        guard !files.isEmpty else { return }
        group.enter()
        queue.async { [self] in
            defer { group.leave() }
            for file in files {
                do {
                    try file.queue.complete(file)
                } catch {
                    let message = (error as? QRPayError)?.message ?? "\(error)"
                    failures.withLock { $0.append("\(file.name): processed, but not moved out of cur/: \(message)") }
                }
            }
        }
    }

    /// Waits for every removal handed over so far; returns (and forgets) the failures.
    func wait() -> [String] {
        group.wait()
        return failures.withLock { f in defer { f.removeAll() }; return f }
    }
}
