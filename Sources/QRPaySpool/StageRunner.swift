// The one runner every spool stage uses (qrpay-register, qrpay-approve, qrpay-settle, qrpay-scan),
// after qmail's and Postfix's queue managers.
//
// `run()` takes the stage's flock (a second instance gets `spool.busy`, exit 75), puts back files a
// crash left claimed, then drains the stage's queues in order until a full pass finds nothing.
// `.once` then returns; `.watch` waits for an inotify wake-up (only a hint) or the periodic rescan
// and drains again. Each file is claimed by rename (with its companions, such as a photo's .approve
// sidecar), handed to the stage with a group commit, then completed (moved to done/), quarantined
// (a fault of the input, with a reason file) or deferred (a fault of the system, retried with
// exponential backoff for as long as it lasts). SIGTERM/SIGINT finish the current batch, then
// `run()` returns. One log line per file on stderr: "<stage>: <queue>/<name>: ok <note>" /
// "quarantined: ..." / "deferred: ...". A log that cannot be written (closed stderr, a full disk,
// a reader gone) never stops a stage.

import Foundation
import QRPaySupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How a stage reports a handled file.
package enum StageOutcome: Sendable {
    /// Processed; the note goes into the log line.
    case done(String)
}

/// `--once` or `--watch`.
package enum RunMode: Sendable, Equatable {
    /// Drain and exit (cron, systemd oneshot and .path units).
    case once
    /// Drain, then wait for inotify wake-ups with a rescan every so many seconds (a service).
    case watch(rescanEvery: TimeInterval)
}

/// One stage of the pipeline: it reads files from its queues and stages its outputs in the group
/// commit it is handed. Stages are immutable values shared by the runner's threads: what changes
/// during a run (the clock, caches, reserved keys) lives in the run's `StageContext`.
package protocol SpoolStage: Sendable {
    /// "register", "approve", ...: names the lock file and prefixes log lines ([A-Za-z0-9._-]).
    var name: String { get }
    /// Input queues, drained in this order on every pass.
    var queues: [Queue] { get }
    /// Files per group commit and batches at once (default: one file at a time).
    var tuning: StageTuning { get }
    /// Stages that change the same records (the PG's register, approve and settle run as separate
    /// programs) name one shared lock; the runner holds it (flock, blocking) for each pass over the
    /// queues and the tick after it, so their read-check-write of a record never interleaves.
    var sharedLock: String? { get }
    /// Where the stage's own lock lives (default: the spool's run/ directory; a user's stage uses
    /// the user's run/ directory, where that user may write).
    func lockDirectory(_ layout: SpoolLayout) -> String
    /// Whether the runner should claim `name` now (default: yes). A stage leaves a file waiting in
    /// new/ by answering no, e.g. a sidecar whose photo has not arrived yet.
    func shouldClaim(_ name: String, in queue: Queue, context: StageContext) -> Bool
    /// Files that travel with `name` (default: none): claimed with it, then completed, quarantined
    /// or deferred with it.
    func companions(of name: String, in queue: Queue) -> [String]
    /// Handles one claimed file, staging its outputs in `commit`. Throw a `QRPayError`: a fault of
    /// the input quarantines the file with the error's message as the reason; a fault of the system
    /// defers it; any other `Error` defers it as an internal error.
    func process(_ file: ClaimedFile, commit: GroupCommit) throws -> StageOutcome
    /// Work by the clock (settle, expire), whenever a pass over the queues found nothing more to do
    /// (so queued work, such as cancels, is applied first).
    func tick(context: StageContext) throws -> TickReport
    /// Called before `file` is quarantined for `error` (a fault of the input): tell its sender
    /// (default: nothing). Returns a note for the log. A failure here never keeps the file from
    /// quarantine; it is logged.
    func refused(_ file: ClaimedFile, because error: QRPayError, context: StageContext) throws -> String?
}

extension SpoolStage {
    package var tuning: StageTuning { .single }
    package var sharedLock: String? { nil }
    package func lockDirectory(_ layout: SpoolLayout) -> String { layout.runDirectory }
    package func shouldClaim(_ name: String, in queue: Queue, context: StageContext) -> Bool { true }
    package func companions(of name: String, in queue: Queue) -> [String] { [] }
    package func tick(context: StageContext) throws -> TickReport { TickReport() }
    package func refused(_ file: ClaimedFile, because error: QRPayError, context: StageContext) throws -> String? { nil }
}

/// What a tick did: log lines, and how many payments it changed.
package struct TickReport: Sendable {
    package var lines: [String] = []
    package var changed = 0
    /// What the tick left for later for a fault of this system (counted as deferred: exit 75).
    package var deferred = 0
    package init(lines: [String] = [], changed: Int = 0) { self.lines = lines; self.changed = changed }
}

package struct StageSummary: Sendable, Equatable, CustomStringConvertible {
    package var processed = 0
    package var quarantined = 0
    package var deferred = 0
    /// Files found claimed at start (left in cur/ by a crash) and handled first.
    package var recovered = 0
    /// Files left waiting or claimed when the run ended (stopped before the queues were empty).
    package var left = 0
    /// Passes whose work by the clock failed for a fault of the system (retried at the next pass).
    package var tickFailures = 0
    /// Changes the stage made by the clock (settle: finished and expired payments).
    package var ticked = 0

    package init() {}

    mutating func add(_ other: StageSummary) {
        processed += other.processed
        quarantined += other.quarantined
        deferred += other.deferred
        ticked += other.ticked
        tickFailures += other.tickFailures
    }

    package var description: String {
        "\(processed) processed, \(quarantined) quarantined, \(deferred) deferred"
            + (ticked > 0 ? ", \(ticked) changed by the clock" : "")
            + (recovered > 0 ? ", \(recovered) recovered after a crash" : "")
            + (left > 0 ? ", \(left) left waiting" : "")
            + (tickFailures > 0 ? ", work by the clock deferred" : "")
    }

    /// What a `--once` run's exit status says (sysexits): 0 when every input was processed; 75 (try
    /// again later) when some were deferred or left waiting; 65 (bad data) when some were quarantined
    /// and none deferred or left (a person must look at the quarantine).
    package var exitStatus: SysExit {
        if deferred > 0 || left > 0 || tickFailures > 0 { return .tempFail }
        if quarantined > 0 { return .dataError }
        return .ok
    }
}

/// Lets another thread (or the stage itself) stop a running runner: it finishes the current batch,
/// then `run()` returns. Sticky: once stopped, a later `run()` returns at once.
package final class StageControl: Sendable {
    private let stopped = Atomic<Bool>(false)
    let wakeRead: Int32
    private let wakeWrite: Int32

    package init() {
        let fds = FileIO.makePipe()
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        if wakeRead >= 0 { close(wakeRead) }
        if wakeWrite >= 0 { close(wakeWrite) }
    }

    package func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    package var isStopped: Bool { stopped.load(ordering: .sequentiallyConsistent) }
}

/// Where a stage's log lines go.
package struct StageLog: Sendable {
    let write: @Sendable ([String]) -> Void

    /// Each batch of lines in one write(2) on stderr; failures (EPIPE, ENOSPC, EBADF) are ignored.
    package static let standardError = StageLog { lines in
        if lines.isEmpty { return }
        StandardError.write(lines.joined(separator: "\n") + "\n")
    }

    /// One call per line (tests, custom sinks).
    package static func lines(_ body: @escaping @Sendable (String) -> Void) -> StageLog {
        StageLog { lines in for line in lines { body(line) } }
    }
}

/// Writes to stderr that never fail a program: a closed descriptor, a full disk or a reader that
/// went away (SIGPIPE is ignored once a stage runs) only lose the text.
package enum StandardError {
    package static func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
        bytes.removeAll()
    }

    /// Ignores SIGPIPE (process-wide, idempotent): a write to a closed pipe then fails with EPIPE
    /// instead of killing the process.
    package static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }
}

/// SIGTERM/SIGINT: installed once per process, they bump a generation counter and write a byte
/// into a self-pipe (both async-signal-safe). A runner stops when the counter moved since it
/// started, so every run sees only the signals sent during it.
package final class StopSignals: Sendable {
    package static let shared = StopSignals()
    let wakeRead: Int32
    private let installed = Atomic<Bool>(false)

    private init() {
        let fds = FileIO.makePipe()
        wakeRead = fds[0]
        signalWakeFD.store(fds[1], ordering: .sequentiallyConsistent)
    }

    /// The signals received so far.
    package var generation: Int { signalGeneration.load(ordering: .sequentiallyConsistent) }

    /// Installs the handlers (once per process) and unblocks the signals. Returns the generation
    /// from then on (what a run started later passes as `signalsSince`).
    @discardableResult
    package func install() -> Int {
        guard installed.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged
        else { return generation }
        _ = signalGeneration.load(ordering: .sequentiallyConsistent)
        _ = signalWakeFD.load(ordering: .sequentiallyConsistent)
        for sig in [SIGTERM, SIGINT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { _ in
                signalGeneration.add(1, ordering: .sequentiallyConsistent)
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
        return generation
    }

    /// A descriptor that becomes readable when a signal arrives (for `DirectoryWatcher.wait`).
    package var wakeDescriptor: Int32 { wakeRead }

    /// Empties the self-pipe (its bytes are only wake-ups).
    package func drain() {
        var byte: UInt8 = 0
        while read(wakeRead, &byte, 1) > 0 {}
    }
}

private let signalGeneration = Atomic<Int>(0)
private let signalWakeFD = Atomic<Int32>(-1)

package struct StageRunner: Sendable {
    package let stage: any SpoolStage
    package let context: StageContext
    package let mode: RunMode
    package let log: StageLog
    package let control: StageControl
    /// Stop on SIGTERM/SIGINT (programs do; tests may not).
    package let stopsOnSignals: Bool
    /// The signal generation the run counts from: a program passes the one at which it installed
    /// the handlers (its start), so that a SIGTERM during its key unlock stops it too; nil: the
    /// run's own start (tests that run several runners in one process).
    package var signalsSince: Int? = nil
    /// Seconds to wait before retry number `attempts` (1, 2, ...) of a deferred file.
    package let backoff: @Sendable (Int) -> TimeInterval

    package var layout: SpoolLayout { context.layout }

    package init(stage: any SpoolStage, context: StageContext, mode: RunMode, log: StageLog = .standardError,
                control: StageControl = StageControl(), stopsOnSignals: Bool = true,
                backoff: @escaping @Sendable (Int) -> TimeInterval = StageRunner.exponentialBackoff) {
        self.stage = stage
        self.context = context
        self.mode = mode
        self.log = log
        self.control = control
        self.stopsOnSignals = stopsOnSignals
        self.backoff = backoff
    }

    /// 30 s, 1 min, 2 min, ... capped at 1 h.
    package static let exponentialBackoff: @Sendable (Int) -> TimeInterval = { attempts in
        min(3600, 30 * pow(2, Double(max(0, min(attempts - 1, 20)))))
    }

    private func log(_ line: String) { log.write([line]) }

    // MARK: Running

    package func run() throws -> StageSummary {
        guard Identifier.isValid(stage.name) else {
            throw QRPayError(.internalError, "stage name \"\(stage.name)\" is not a valid id")
        }
        StandardError.ignoreBrokenPipes()
        let signalsAtStart = signalsSince ?? StopSignals.shared.generation
        if stopsOnSignals { StopSignals.shared.install() }
        let shouldStop: @Sendable () -> Bool = { [control, stopsOnSignals] in
            control.isStopped || (stopsOnSignals && StopSignals.shared.generation != signalsAtStart)
        }
        let lock = try acquireLock()
        defer { close(lock) }
        StageRunner.raiseDescriptorLimit()

        let queues = stage.queues
        var summary = StageSummary()
        var leftovers: [Queue: [ClaimedFile]] = [:]
        for queue in queues {
            try context.ensureQueue(queue)
            // Files a crash left claimed are handled first, where they are: their arrival is kept.
            let left = try queue.leftovers()
            if !left.isEmpty {
                leftovers[queue] = left
                summary.recovered += left.count
                log("\(stage.name): \(layout.relative(queue.path)): recovered \(left.count) file(s) left claimed by a crash")
            }
            queue.cleanTemporary(now: context.now())
        }
        var watcher: DirectoryWatcher?
        if case .watch = mode { watcher = try DirectoryWatcher(queues.map(\.newDirectory)) }
        let completer = InputCompleter(context: context)
        defer { finishCompletions(completer) }  // also when a spool error ends the run: every input done leaves cur/

        var promote = true
        while !shouldStop() {
            let now = context.now()
            let shared = try stage.sharedLock.map { try acquireSharedLock($0, shouldStop: shouldStop) }
            defer { if let shared { flock(shared, LOCK_UN); close(shared) } }
            if promote {
                for queue in queues { try queue.promoteDeferred(now: now) }
            }
            for queue in queues {
                guard let left = leftovers.removeValue(forKey: queue) else { continue }
                let batch = max(1, stage.tuning.batchSize)
                for start in stride(from: 0, to: left.count, by: batch) where !shouldStop() {
                    _ = try handleFiles(queue, Array(left[start..<min(start + batch, left.count)]), &summary, completer: completer,
                                        shouldStop: shouldStop)
                }
            }
            let handled = try drainPass(queues, &summary, completer: completer, shouldStop: shouldStop)
            if handled > 0 { promote = false; continue }
            finishCompletions(completer)
            do {
                let report = try stage.tick(context: context)
                summary.ticked += report.changed
                summary.deferred += report.deferred
                log.write(report.lines.map { "\(stage.name): \($0)" })
            } catch let error as QRPayError where error.isTransient {
                // Nothing of the failed commit was named: what was due stays due, for the next pass.
                summary.tickFailures += 1
                log("\(stage.name): tick: deferred: \(error.message)")
            }
            if let shared { flock(shared, LOCK_UN) }
            guard case .watch(let every) = mode, let watcher else { break }
            if shouldStop() { break }
            var extra = [control.wakeRead]
            if stopsOnSignals { extra.append(StopSignals.shared.wakeRead) }
            try watcher.wait(timeout: every, alsoWatching: extra)
            if stopsOnSignals { StopSignals.shared.drain() }
            promote = true
        }
        finishCompletions(completer)
        // What this run leaves behind: files still waiting (a stop before the queues were empty) or
        // still claimed (a completion that failed).
        for queue in queues {
            let waiting = (try? queue.pendingEntries(promotingDeferred: false)) ?? []
            summary.left += waiting.filter { stage.shouldClaim($0.name, in: queue, context: context) }.count
            summary.left += (try? queue.leftovers().count) ?? 0
        }
        return summary
    }

    /// Batches keep their files open until they are flushed (batch size x concurrency x up to six):
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
    private func finishCompletions(_ completer: InputCompleter) {
        let failures = completer.wait()
        log.write(failures.map { "\(stage.name): \($0)" })
    }

    private func openLock(_ path: String) throws -> Int32 {
        try context.ensureDirectory(FileIO.parentDirectory(path))
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else { throw QRPayError.io("open the lock file", path: path, errno: errno) }
        return fd
    }

    /// The lock shared by stages that change the same records: blocking, one pass at a time.
    private func acquireSharedLock(_ name: String, shouldStop: () -> Bool) throws -> Int32 {
        let path = layout.lockFile(stage: name)
        let fd = try openLock(path)
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR && !shouldStop() { continue }
            let e = errno
            close(fd)
            throw QRPayError.io("lock", path: path, errno: e)
        }
        return fd
    }

    private func acquireLock() throws -> Int32 {
        let path = stage.lockDirectory(layout) + "/" + stage.name + ".lock"
        let fd = try openLock(path)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK || e == EAGAIN {
                throw QRPayError(.spoolBusy, "another qrpay-\(stage.name) is already running on this spool (\(path) is locked)")
            }
            throw QRPayError.io("lock", path: path, errno: e)
        }
        let pid = Data("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { try? FileIO.writeAll(fd: fd, pid, path: path) }
        return fd
    }

    /// One pass over every queue; returns how many files were handled (claimed by us).
    private func drainPass(_ queues: [Queue], _ summary: inout StageSummary, completer: InputCompleter,
                           shouldStop: @escaping @Sendable () -> Bool) throws -> Int {
        var handled = 0
        let batch = max(1, stage.tuning.batchSize)
        for queue in queues {
            if shouldStop() { break }
            for name in try queue.foreignNames() {
                if let target = try queue.quarantineForeign(name, stage: stage.name, now: context.now()) {
                    summary.quarantined += 1
                    log(prefix(queue, target) + "quarantined: a foreign name in new/, moved aside unopened")
                }
            }
            let names = try queue.pendingEntries(promotingDeferred: false).filter { stage.shouldClaim($0.name, in: queue, context: context) }
            if names.isEmpty { continue }
            // With nothing in deferred/, no file of this pass has an attempt record to remove when done
            // (files deferred during the pass are not claimed again in it).
            let deferredRecords = queue.hasDeferredEntries()
            let chunks = stride(from: 0, to: names.count, by: batch).map { Array(names[$0..<min($0 + batch, names.count)]) }
            let workers = max(1, min(stage.tuning.concurrency, chunks.count))
            if workers == 1 {
                for chunk in chunks {
                    if shouldStop() { break }
                    handled += try handleChunk(queue, chunk, &summary, completer: completer, deferredRecords: deferredRecords,
                                               shouldStop: shouldStop)
                }
            } else {
                handled += try drainConcurrently(queue, chunks, workers: workers, deferredRecords: deferredRecords,
                                                 &summary, completer: completer, shouldStop: shouldStop)
            }
        }
        return handled
    }

    private func drainConcurrently(_ queue: Queue, _ chunks: [[Queue.PendingEntry]], workers: Int, deferredRecords: Bool,
                                   _ summary: inout StageSummary, completer: InputCompleter,
                                   shouldStop: @escaping @Sendable () -> Bool) throws -> Int {
        struct Shared: ~Copyable {
            var next = 0
            var handled = 0
            var summary = StageSummary()
            var error: Error?
        }
        let shared = Mutex(Shared())
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let index: Int? = shared.withLock { s in
                    guard s.error == nil, s.next < chunks.count else { return nil }
                    defer { s.next += 1 }
                    return s.next
                }
                guard let index, !shouldStop() else { return }
                var local = StageSummary()
                do {
                    let took = try handleChunk(queue, chunks[index], &local, completer: completer,
                                               deferredRecords: deferredRecords, shouldStop: shouldStop)
                    shared.withLock { s in
                        s.handled += took
                        s.summary.add(local)
                    }
                } catch {
                    shared.withLock { s in if s.error == nil { s.error = error } }
                    return
                }
            }
        }
        return try shared.withLock { s in
            summary.add(s.summary)
            if let error = s.error { throw error }
            return s.handled
        }
    }

    /// Claims and handles a batch of files with one group commit; returns how many were ours (not
    /// taken by someone else).
    private func handleChunk(_ queue: Queue, _ entries: [Queue.PendingEntry], _ summary: inout StageSummary, completer: InputCompleter,
                             deferredRecords: Bool, shouldStop: () -> Bool) throws -> Int {
        var files: [ClaimedFile] = []
        // Arrival is the kernel's change time: when the file really came (QRPAY_CLOCK moves a test's
        // `now`, never the past).
        for entry in entries {
            if shouldStop() { break }
            guard let file = try queue.claim(entry.name, arrived: entry.arrived, deferredRecordPossible: deferredRecords) else { continue }
            files.append(file)
        }
        return try handleFiles(queue, files, summary: &summary, completer: completer, deferredRecords: deferredRecords, shouldStop: shouldStop)
    }

    private func handleFiles(_ queue: Queue, _ files: [ClaimedFile], _ summary: inout StageSummary, completer: InputCompleter,
                             shouldStop: () -> Bool) throws -> Int {
        try handleFiles(queue, files, summary: &summary, completer: completer, deferredRecords: true, shouldStop: shouldStop)
    }

    /// Handles claimed files with one group commit. Errors of the spool itself (disk full while
    /// quarantining...) propagate and stop the runner; unfinished files then stay in cur/ and are
    /// handled first at the next start.
    private func handleFiles(_ queue: Queue, _ claimed: [ClaimedFile], summary: inout StageSummary, completer: InputCompleter,
                             deferredRecords: Bool, shouldStop: () -> Bool) throws -> Int {
        let commit = GroupCommit(context: context)
        var succeeded: [(file: ClaimedFile, note: String)] = []
        var handled = 0
        for var file in claimed {
            guard let kind = file.look() else { continue }  // removed from cur/ by hand meanwhile
            handled += 1
            if kind != .regular {
                try fail(queue, file, ClaimedFile.notRegular(file.name, kind), &summary)
                continue
            }
            for companion in stage.companions(of: file.name, in: queue) {
                if var other = try queue.claim(companion, arrived: file.arrival, deferredRecordPossible: deferredRecords) {
                    _ = other.look()
                    file.companions.append(other)
                }
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
            let reason = (error as? QRPayError) ?? QRPayError(.internalError, "\(error)")
            let wrapped = reason.isTransient ? reason.prefixed("cannot commit the outputs: ")
                : QRPayError(.ioFailed, "cannot commit the outputs: \(reason.message)")
            for item in succeeded { try fail(queue, item.file, wrapped, &summary) }
            return handled
        }
        var lines: [String] = []
        lines.reserveCapacity(succeeded.count)
        for item in succeeded {
            summary.processed += 1
            lines.append(prefix(queue, item.file.name) + (item.note.isEmpty ? "ok" : "ok " + item.note))
        }
        log.write(lines)
        // The outputs are durable: the inputs move on to done/ on the completer's thread.
        completer.complete(succeeded.flatMap { [$0.file] + $0.file.companions })
        return handled
    }

    private func prefix(_ queue: Queue, _ name: String) -> String { "\(stage.name): \(layout.relative(queue.path))/\(name): " }

    /// Quarantines (a fault of the input) or defers (a fault of the system) a claimed file and its
    /// companions, and logs it.
    private func fail(_ queue: Queue, _ file: ClaimedFile, _ error: Error, _ summary: inout StageSummary) throws {
        let prefix = prefix(queue, file.name)
        let reason: QRPayError
        switch error {
        case let e as QRPayError: reason = e
        default: reason = QRPayError(.internalError, "internal error in stage \(stage.name): \(error)")
        }
        let now = context.now()
        if reason.isTransient {
            let attempts = queue.attempts(file.name) + 1
            let retryAt = now.addingTimeInterval(max(0, backoff(attempts)))
            try queue.deferFile(file, stage: stage.name, error: reason, retryAt: retryAt, now: now)
            for companion in file.companions {
                try queue.deferFile(companion, stage: stage.name, error: reason.prefixed("with \(file.name): "), retryAt: retryAt, now: now)
            }
            summary.deferred += 1
            log(prefix + "deferred: \(reason.message) (attempt \(attempts), retry at \(Timestamp.format(retryAt)))")
            return
        }
        var told = ""
        do {
            if let note = try stage.refused(file, because: reason, context: context) { told = " (" + note + ")" }
        } catch {
            log(prefix + "could not send the refusal: \(error)")
        }
        try queue.quarantine(file, stage: stage.name, error: reason, now: now)
        for companion in file.companions {
            try queue.quarantine(companion, stage: stage.name, error: reason.prefixed("with \(file.name): "), now: now)
        }
        summary.quarantined += 1
        log(prefix + "quarantined: " + reason.message + told)
    }
}

/// inotify on the queues' new/ directories: IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE.
package final class DirectoryWatcher {
    private let fd: Int32

    package init(_ directories: [String]) throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw QRPayError.io("start inotify for", path: directories.first ?? "", errno: errno) }
        for dir in directories {
            if inotify_add_watch(fd, dir, UInt32(IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE | IN_ONLYDIR | IN_DONT_FOLLOW)) < 0 {
                let e = errno
                close(fd)
                throw QRPayError.io("watch", path: dir, errno: e)
            }
        }
    }

    deinit { close(fd) }

    /// Returns after an event, a readable `alsoWatching` descriptor, or `timeout` seconds.
    package func wait(timeout: TimeInterval, alsoWatching extra: [Int32]) throws {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        for e in extra where e >= 0 { fds.append(pollfd(fd: e, events: Int16(POLLIN), revents: 0)) }
        let ms = Int32(max(0, min(timeout, 86_400)) * 1000)
        let n = poll(&fds, nfds_t(fds.count), ms)
        if n < 0 && errno != EINTR { throw QRPayError.io("wait for", path: "the spool", errno: errno) }
        // Drain the events: they are only hints, the pass rescans the directories anyway.
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}

/// Completes processed inputs (cur/NAME -> done/DAY/NAME, `Queue.complete`) on a thread of its own,
/// so that the workers go on with their next batch. The runner waits for it before it idles or
/// exits. A completion that fails (or never happens: a crash) leaves the file in cur/; it is
/// recovered at the next start and handled again, which changes nothing (stages are idempotent).
final class InputCompleter: Sendable {
    private let queue = DispatchQueue(label: "qrpay.input-completer")
    private let group = DispatchGroup()
    private let failures = Mutex<[String]>([])
    private let context: StageContext

    init(context: StageContext) { self.context = context }

    func complete(_ files: [ClaimedFile]) {
        guard !files.isEmpty else { return }
        group.enter()
        queue.async { [self] in
            defer { group.leave() }
            for file in files {
                do {
                    try file.queue.complete(file, context: context, now: context.now())
                } catch {
                    let message = (error as? QRPayError)?.message ?? "\(error)"
                    failures.withLock { $0.append("\(file.name): processed, but not moved out of cur/: \(message)") }
                }
            }
        }
    }

    /// Waits for every completion handed over so far; returns (and forgets) the failures.
    func wait() -> [String] {
        group.wait()
        return failures.withLock { f in defer { f.removeAll() }; return f }
    }
}
