// Tests of the spool engine: the queue's commit/claim/quarantine/defer protocol and the stage runner
// (lock, recovery, non-regular files, backoff, concurrency, watch mode, SIGTERM). Every test works
// on its own temporary spool.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

// MARK: Helpers

/// A temporary spool root, removed by `cleanup()`.
final class TempSpool {
    let root: String

    init() {
        var template = Array((NSTemporaryDirectory() + "/qrpay-spool-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        root = String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: root) }

    var inbox: Queue { SpoolLayout(root: root).inbox }
}

func withSpool(_ body: (TempSpool) throws -> Void) throws {
    let spool = TempSpool()
    defer { spool.cleanup() }
    try body(spool)
}

/// Collects log lines from any thread.
final class LogSink: Sendable {
    private let lines = Mutex<[String]>([])
    var log: @Sendable (String) -> Void { { line in self.lines.withLock { $0.append(line) } } }
    var all: [String] { lines.withLock { $0 } }
}

/// A stage whose behaviour is a closure; records what it saw.
final class TestStage: SpoolStage {
    let name: String
    let queues: [Queue]
    let tuning: StageTuning
    private let seen = Mutex<[String]>([])
    private let handler: @Sendable (ClaimedFile, Int) throws -> StageOutcome

    init(name: String = "register", queues: [Queue], concurrency: Int = 1,
         handler: @escaping @Sendable (ClaimedFile, Int) throws -> StageOutcome = { _, _ in .done("") }) {
        self.name = name
        self.queues = queues
        self.tuning = StageTuning(batchSize: 1, concurrency: concurrency)
        self.handler = handler
    }

    func process(_ file: ClaimedFile, commit: GroupCommit) throws -> StageOutcome {
        let count = seen.withLock { $0.append(file.name); return $0.count }
        _ = try file.read(maxBytes: 1 << 20)
        return try handler(file, count)
    }

    var names: [String] { seen.withLock { $0 } }
}

func runner(_ spool: TempSpool, _ stage: any SpoolStage, mode: RunMode = .once, sink: LogSink = LogSink(),
            clock: TimeSource = .system, backoff: @escaping @Sendable (Int) -> TimeInterval = StageRunner.exponentialBackoff,
            control: StageControl = StageControl(), signals: Bool = false) -> StageRunner {
    StageRunner(stage: stage, context: StageContext(spoolRoot: spool.root, clock: clock), mode: mode, log: .lines(sink.log),
                control: control, stopsOnSignals: signals, backoff: backoff)
}

/// A group commit outside a stage (tests).
func testCommit(_ root: String = NSTemporaryDirectory()) -> GroupCommit { GroupCommit(context: StageContext(spoolRoot: root)) }

/// Delivers many documents into a queue in one group commit; returns their names.
@discardableResult
func deliverAll(_ items: [(data: Data, name: String?)], to queue: Queue) throws -> [String] {
    let commit = testCommit(queue.path)
    let names = try items.map { try commit.deliver($0.data, to: queue, name: $0.name) }
    try commit.flush()
    return names
}

func contents(_ dir: String) -> [String] { ((try? FileIO.listDirectory(dir)) ?? []).sorted() }

func fileData(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

func reason(_ queue: Queue, _ name: String, in dir: String? = nil) throws -> JSONObjectReader {
    let path = (dir ?? queue.quarantineDirectory) + "/" + name + ".reason.json"
    return try JSONObjectReader(try JSONValue.parse(try FileIO.read(path)), what: "reason")
}

func expectCode(_ code: String, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(code), nothing thrown")
    } catch let error as QRPayError {
        #expect(error.code == code)
    } catch {
        Issue.record("expected \(code), got \(error)")
    }
}

// MARK: Queue

@Suite struct SpoolQueueTests {
    @Test func deliverClaimCompleteRoundTrip() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let payload = Data(#"{"payment":"p1"}"#.utf8)
            let name = try q.deliver(payload)
            #expect(SpoolName.isValid(name))
            #expect(name.hasSuffix(".json"))
            #expect(contents(q.tmpDirectory).isEmpty)
            #expect(try q.pending() == [name])
            let file = try #require(try q.claim(name))
            #expect(try q.claim(name) == nil)  // already taken
            #expect(try file.read(maxBytes: 1024) == payload)
            #expect(try q.pending().isEmpty)
            try q.complete(file)
            #expect(contents(q.curDirectory).isEmpty)
            #expect(contents(q.newDirectory).isEmpty)
        }
    }

    @Test func directoriesArePrivateAndNeverWorldWritable() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create(mode: 0o777)
            for sub in ["", "/tmp", "/new", "/cur", "/quarantine", "/deferred", "/hold"] {
                var st = stat()
                #expect(lstat(q.path + sub, &st) == 0)
                #expect(st.st_mode & 0o002 == 0, "\(sub) is world-writable")
            }
            let p = SpoolLayout(root: spool.root).scanInbox(user: "u1")
            try p.create()
            var st = stat()
            #expect(lstat(p.newDirectory, &st) == 0)
            #expect(st.st_mode & 0o777 == 0o750)
        }
    }

    @Test func deliverNeverReplaces() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            try q.deliver(Data("first".utf8), name: "pay-1.json")
            expectCode("spool.exists") { try q.deliver(Data("second".utf8), name: "pay-1.json") }
            #expect(fileData(q.newDirectory + "/pay-1.json") == Data("first".utf8))
            #expect(contents(q.tmpDirectory).isEmpty)
            expectCode("spool.bad-name") { try q.deliver(Data(), name: "../escape") }
            expectCode("spool.bad-name") { try q.deliver(Data(), name: ".hidden") }
        }
    }

    @Test(arguments: [1, 7, 200])
    func deliverBatchCommitsEverything(count: Int) throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let items = (0..<count).map { (data: Data("item \($0)".utf8), name: $0 == 0 ? "named-0.json" : nil as String?) }
            let names = try deliverAll(items, to: q)
            #expect(names.count == count)
            #expect(Set(names).count == count)
            #expect(names[0] == "named-0.json")
            #expect(Set(contents(q.newDirectory)) == Set(names))
            #expect(contents(q.tmpDirectory).isEmpty)
            #expect(fileData(q.newDirectory + "/" + names[count - 1]) == Data("item \(count - 1)".utf8))
        }
    }

    @Test func deliverBatchStopsAtAnExistingName() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            try q.deliver(Data("old".utf8), name: "b.json")
            expectCode("spool.exists") {
                try deliverAll([(Data("a".utf8), "a.json"), (Data("new".utf8), "b.json"), (Data("c".utf8), "c.json")], to: q)
            }
            #expect(fileData(q.newDirectory + "/b.json") == Data("old".utf8))
            #expect(fileData(q.newDirectory + "/a.json") == Data("a".utf8))  // delivered before the failure
            #expect(!FileIO.exists(q.newDirectory + "/c.json"))
            #expect(contents(q.tmpDirectory).isEmpty)
        }
    }

    @Test(arguments: ["a", "1764000000.123456789.42.abc.json", "shop-1:pay_2,x=y+z.json", String(repeating: "x", count: 201)])
    func validNames(_ name: String) { #expect(SpoolName.isValid(name)) }

    @Test(arguments: ["", ".hidden", "..", "-x", "_x", "a b", "a/b", "ü.json", "x.reason.json", "a\nb",
                      String(repeating: "x", count: 202)])
    func foreignNames(_ name: String) { #expect(!SpoolName.isValid(name)) }

    @Test func pendingIsOldestFirst() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            for (i, name) in ["c.json", "a.json", "b.json"].enumerated() {
                try q.deliver(Data(), name: name)
                var times = [timespec(tv_sec: 1_700_000_000 + i, tv_nsec: 0), timespec(tv_sec: 1_700_000_000 + i, tv_nsec: 0)]
                _ = utimensat(AT_FDCWD, q.newDirectory + "/" + name, &times, AT_SYMLINK_NOFOLLOW)
            }
            #expect(try q.pending() == ["c.json", "a.json", "b.json"])
        }
    }

    @Test func readRefusesTooLargeFiles() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let name = try q.deliver(Data(repeating: 0x41, count: 100))
            let file = try #require(try q.claim(name))
            expectCode("spool.too-large") { _ = try file.read(maxBytes: 99) }
            #expect(try file.read(maxBytes: 100).count == 100)
        }
    }

    @Test func holdAndRelease() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let name = try q.deliver(Data("x".utf8))
            try q.hold(name)
            #expect(try q.pending().isEmpty)
            #expect(try q.held() == [name])
            expectCode("spool.no-such-file") { try q.hold(name) }
            try q.release(name)
            #expect(try q.pending() == [name])
            #expect(try q.held().isEmpty)
        }
    }

    /// Claim by rename: many threads draining one queue get every file exactly once.
    @Test func concurrentClaimsGetEachFileOnce() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let all = try deliverAll((0..<300).map { (Data("\($0)".utf8), nil as String?) }, to: q)
            let claimed = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                while let names = try? q.pending(), !names.isEmpty {
                    for name in names {
                        if let file = try? q.claim(name) {
                            claimed.withLock { $0.append(file.name) }
                            try? q.complete(file)
                        }
                    }
                }
            }
            let got = claimed.withLock { $0 }
            #expect(got.count == all.count)
            #expect(Set(got) == Set(all))
        }
    }
}

// MARK: Runner

@Suite struct SpoolRunnerTests {
    @Test func drainsOnceAndLogsOneLinePerFile() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let names = try (0..<5).map { _ in try q.deliver(Data("{}".utf8)) }
            let stage = TestStage(queues: [q]) { file, _ in .done("registered \(file.name.prefix(3))") }
            let sink = LogSink()
            let summary = try runner(spool, stage, sink: sink).run()
            #expect(summary.processed == 5)
            #expect(summary.quarantined == 0 && summary.deferred == 0)
            #expect(Set(stage.names) == Set(names))
            #expect(contents(q.newDirectory).isEmpty && contents(q.curDirectory).isEmpty)
            #expect(sink.all.count == 5)
            #expect(sink.all.allSatisfy { $0.hasPrefix("register: pg/inbox/") && $0.contains(": ok registered ") })
        }
    }

    @Test func handDroppedFileIsPickedUp() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            // As an operator would: write into tmp/, then mv into new/.
            let body = Data(#"{"by":"hand"}"#.utf8)
            #expect(FileManager.default.createFile(atPath: q.tmpDirectory + "/manual-1.json", contents: body))
            #expect(rename(q.tmpDirectory + "/manual-1.json", q.newDirectory + "/manual-1.json") == 0)
            let got = Mutex<Data?>(nil)
            let stage = TestStage(queues: [q]) { file, _ in
                let data = try file.read(maxBytes: 1024)
                got.withLock { $0 = data }
                return .done("")
            }
            #expect(try runner(spool, stage).run().processed == 1)
            #expect(got.withLock { $0 } == body)
        }
    }

    @Test(arguments: [".hidden", ".tmp.123", "-dash", "has space", "x.reason.json", "caf\u{e9}"])
    func dotfilesAndForeignNamesAreMovedAsideUnopened(_ name: String) throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let path = q.newDirectory + "/" + name
            #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
            let stage = TestStage(queues: [q])
            let sink = LogSink()
            let summary = try runner(spool, stage, sink: sink).run()
            #expect(summary.quarantined == 1 && summary.processed == 0)
            #expect(stage.names.isEmpty)  // never handed to the stage
            #expect(contents(q.newDirectory).isEmpty)  // new/ is empty again: a .path unit does not loop
            let moved = try #require(try q.quarantined().first)
            #expect(moved.name.hasPrefix("foreign-") && moved.code == "spool.bad-name")
            #expect(moved.reason.contains("not a queue file name"))
            #expect(fileData(q.quarantineDirectory + "/" + moved.name) == Data("x".utf8))
            #expect(sink.all.count == 1 && sink.all[0].contains("quarantined: a foreign name"))
        }
    }

    enum Odd: String, CaseIterable, Sendable { case symlink, fifo, directory, socket }

    @Test(arguments: Odd.allCases)
    func nonRegularEntriesAreQuarantinedUnopened(_ odd: Odd) throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let secret = spool.root + "/secret"
            #expect(FileManager.default.createFile(atPath: secret, contents: Data("secret".utf8)))
            let name = "odd-\(odd.rawValue)"
            let path = q.newDirectory + "/" + name
            switch odd {
            case .symlink: #expect(symlink(secret, path) == 0)
            case .fifo: #expect(mkfifo(path, 0o600) == 0)
            case .directory: #expect(mkdir(path, 0o700) == 0)
            case .socket:
                let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(fd) }
                var addr = sockaddr_un()
                addr.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                    let bytes = Array(path.utf8)
                    guard bytes.count < raw.count else { return }
                    raw.copyBytes(from: bytes)
                }
                let rc = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
                try #require(rc == 0, "path too long for a socket")
            }
            let stage = TestStage(queues: [q])
            let sink = LogSink()
            let summary = try runner(spool, stage, sink: sink).run()
            #expect(summary.quarantined == 1)
            #expect(stage.names.isEmpty)  // never handed to the stage
            let moved = FileIO.lstatKind(q.quarantineDirectory + "/" + name)?.0
            #expect(moved != nil && moved != .regular)
            let r = try reason(q, name)
            #expect(try r.string("stage") == "register")
            #expect(try r.string("code") == "spool.not-regular")
            #expect(try r.string("reason").contains("not a regular file"))
            #expect(Timestamp.parse(try r.string("at")) != nil)
            #expect(try r.string("file") == name)
            #expect(fileData(secret) == Data("secret".utf8))
            #expect(sink.all == ["register: pg/inbox/\(name): quarantined: " + (try r.string("reason"))])
            let listed = try q.quarantined()
            #expect(listed.map(\.name) == [name])
            #expect(listed.first?.code == "spool.not-regular")
        }
    }

    @Test func permanentErrorQuarantinesOriginalBytesThenRequeue() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let body = Data(#"{"total":"12.50"}"#.utf8)
            let name = try q.deliver(body)
            let fail = TestStage(queues: [q]) { _, _ in
                throw QRPayError(.paymentAmount, "total must be an integer number of minor units")
            }
            let summary = try runner(spool, fail).run()
            #expect(summary.quarantined == 1 && summary.processed == 0)
            #expect(fileData(q.quarantineDirectory + "/" + name) == body)
            let r = try reason(q, name)
            #expect(try r.string("reason") == "total must be an integer number of minor units")
            #expect(try r.string("code") == "payment.amount")
            let entry = try #require(try q.quarantined().first)
            #expect(entry.stage == "register" && entry.at != nil)

            // Operator fixed the stage: requeue and drain again.
            #expect(try q.requeue(name) == name)
            #expect(!FileIO.exists(q.quarantineDirectory + "/" + name + ".reason.json"))
            let ok = TestStage(queues: [q])
            #expect(try runner(spool, ok).run().processed == 1)
            #expect(try q.quarantined().isEmpty)
        }
    }

    @Test func sameNameQuarantinedTwiceKeepsBoth() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let fail = TestStage(queues: [q]) { _, _ in throw QRPayError(.paymentReplay, "bad") }
            try q.deliver(Data("1".utf8), name: "dup.json")
            _ = try runner(spool, fail).run()
            try q.deliver(Data("2".utf8), name: "dup.json")
            _ = try runner(spool, fail).run()
            let names = try q.quarantined().map(\.name)
            #expect(names.count == 2)
            #expect(names.contains("dup.json"))
            #expect(fileData(q.quarantineDirectory + "/dup.json") == Data("1".utf8))
        }
    }

    struct NotAQRPayError: Error {}

    /// An error that is not QR-Pay's own is a bug of the stage, not a fault of the input: the file
    /// is kept (deferred, visibly) rather than refused.
    @Test func otherErrorsAreDeferredAsInternal() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let name = try q.deliver(Data("x".utf8))
            let stage = TestStage(queues: [q]) { _, _ in throw NotAQRPayError() }
            let summary = try runner(spool, stage).run()
            #expect(summary.deferred == 1 && summary.quarantined == 0)
            #expect(try reason(q, name, in: q.deferredDirectory).string("code") == "internal")
        }
    }

    @Test func transientErrorIsDeferredThenRetriedWhenDue() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let name = try q.deliver(Data("x".utf8))
            let stage = TestStage(queues: [q]) { _, count in
                if count == 1 { throw QRPayError(.pkiCRLMissing, "the CRL cannot be read") }
                return .done("")
            }
            let start = Date()
            let first = runner(spool, stage, clock: TimeSource { start }, backoff: { _ in 600 })
            let s1 = try first.run()
            #expect(s1.deferred == 1 && s1.processed == 0 && s1.quarantined == 0)
            #expect(FileIO.exists(q.deferredDirectory + "/" + name))
            let r = try reason(q, name, in: q.deferredDirectory)
            #expect(try r.int("attempts") == 1)
            #expect(try r.string("code") == "pki.crl-missing")
            #expect(Timestamp.parse(try r.string("retryAt")) == Date(timeIntervalSince1970: (start.timeIntervalSince1970 + 600).rounded(.down)))

            // Not due yet: nothing happens.
            let early = runner(spool, stage, clock: TimeSource { start.addingTimeInterval(60) })
            #expect(try early.run() == StageSummary())
            #expect(try q.deferred() == [name])

            // Due: retried, processed, the attempt record removed.
            let later = runner(spool, stage, clock: TimeSource { start.addingTimeInterval(601) })
            #expect(try later.run().processed == 1)
            #expect(contents(q.deferredDirectory).isEmpty)
            #expect(stage.names == [name, name])
        }
    }

    /// A fault of the system is never turned into a quarantine, however often it repeats: the file
    /// stays deferred, its attempts counting up.
    @Test func transientErrorsAreNeverQuarantined() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let name = try q.deliver(Data("x".utf8))
            let stage = TestStage(queues: [q]) { _, _ in throw QRPayError(.ioNoSpace, "disk full") }
            var total = StageSummary()
            for _ in 0..<20 {
                let s = try runner(spool, stage, backoff: { _ in 0 }).run()
                total.deferred += s.deferred
                total.quarantined += s.quarantined
            }
            #expect(total.deferred == 20 && total.quarantined == 0)
            let r = try reason(q, name, in: q.deferredDirectory)
            #expect(try r.int("attempts") == 20)
            #expect(contents(q.quarantineDirectory).isEmpty)
            #expect(FileIO.exists(q.deferredDirectory + "/" + name))
        }
    }

    @Test func recoversFilesLeftClaimedByACrash() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let names = try (0..<4).map { _ in try q.deliver(Data("x".utf8)) }
            _ = try q.claim(names[0])
            _ = try q.claim(names[1])  // "crash": left in cur/
            #expect(contents(q.curDirectory).count == 2)
            let stage = TestStage(queues: [q])
            let sink = LogSink()
            let summary = try runner(spool, stage, sink: sink).run()
            #expect(summary.recovered == 2 && summary.processed == 4)
            #expect(Set(stage.names) == Set(names))
            #expect(contents(q.curDirectory).isEmpty)
            #expect(sink.all.contains { $0.contains("recovered 2") })
        }
    }

    @Test func secondRunnerOnTheSameSpoolIsBusy() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            try q.deliver(Data("x".utf8))
            let inside = DispatchSemaphore(value: 0)
            let proceed = DispatchSemaphore(value: 0)
            let stage = TestStage(queues: [q]) { _, _ in
                inside.signal()
                _ = proceed.wait(timeout: .now() + 60)
                return .done("")
            }
            let first = runner(spool, stage)
            let done = DispatchSemaphore(value: 0)
            let result = Mutex<StageSummary?>(nil)
            Thread.detachNewThread {
                let s = try? first.run()
                result.withLock { $0 = s }
                done.signal()
            }
            #expect(inside.wait(timeout: .now() + 60) == .success)
            do {
                _ = try runner(spool, TestStage(queues: [q])).run()
                Issue.record("the second runner ran")
            } catch let error as QRPayError {
                #expect(error.code == "spool.busy")
                #expect(error.exit == .tempFail && error.exit.rawValue == 75)
                #expect(error.message.contains("another qrpay-register is already running on this spool"))
            }
            // Another stage on the same spool is not blocked.
            #expect(try runner(spool, TestStage(name: "approve", queues: [SpoolLayout(root: spool.root).approvals])).run() == StageSummary())
            proceed.signal()
            #expect(done.wait(timeout: .now() + 60) == .success)
            #expect(result.withLock { $0 }?.processed == 1)
        }
    }

    @Test func concurrentStageHandlesEachFileOnce() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let names = try deliverAll((0..<120).map { (Data("\($0)".utf8), nil as String?) }, to: q)
            let threads = Mutex<Set<String>>([])
            let stage = TestStage(queues: [q], concurrency: 2) { _, _ in
                threads.withLock { _ = $0.insert(String(describing: Thread.current)) }
                return .done("")
            }
            let summary = try runner(spool, stage).run()
            #expect(summary.processed == 120)
            #expect(stage.names.count == 120)
            #expect(Set(stage.names) == Set(names))
        }
    }

    @Test func drainsQueuesInOrder() throws {
        try withSpool { spool in
            let a = SpoolLayout(root: spool.root).approvals, c = SpoolLayout(root: spool.root).cancels
            try a.create(); try c.create()
            try c.deliver(Data("c".utf8), name: "c1")
            try a.deliver(Data("a".utf8), name: "a1")
            let stage = TestStage(name: "approve", queues: [a, c])
            #expect(try runner(spool, stage).run().processed == 2)
            #expect(stage.names == ["a1", "c1"])
        }
    }

    @Test func stopFinishesTheCurrentFileThenReturns() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            try (0..<5).forEach { try q.deliver(Data("x".utf8), name: "f\($0)") }
            let control = StageControl()
            let stage = TestStage(queues: [q]) { _, _ in
                control.stop()
                return .done("")
            }
            let r = runner(spool, stage, control: control)
            #expect(try r.run().processed == 1)
            #expect(contents(q.newDirectory).count == 4)
            #expect(contents(q.curDirectory).isEmpty)
        }
    }

    @Test func sigtermFinishesTheCurrentFileThenReturns() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            try (0..<3).forEach { try q.deliver(Data("x".utf8), name: "f\($0)") }
            let stage = TestStage(name: "sigterm", queues: [q]) { _, _ in
                // Process-directed (test threads block signals, so not raise()); handled: sets a flag.
                let before = StopSignals.shared.generation
                kill(getpid(), SIGTERM)
                for _ in 0..<1000 where StopSignals.shared.generation == before { usleep(10_000) }
                return .done("")
            }
            let r = runner(spool, stage, signals: true)
            #expect(try r.run().processed == 1)
            #expect(contents(q.newDirectory).count == 2)
            // A signal ends only the run it arrived in: the next run drains the rest.
            #expect(try runner(spool, TestStage(name: "sigterm", queues: [q]), signals: true).run().processed == 2)
        }
    }

    @Test func watchModeWakesOnADrop() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let control = StageControl()
            let stage = TestStage(queues: [q]) { _, count in
                if count == 3 { control.stop() }
                return .done("")
            }
            // A rescan every hour: only inotify can wake the runner in time.
            let r = runner(spool, stage, mode: .watch(rescanEvery: 3600), control: control)
            let done = DispatchSemaphore(value: 0)
            let result = Mutex<Result<StageSummary, Error>?>(nil)
            Thread.detachNewThread {
                let s = Result { try r.run() }
                result.withLock { $0 = s }
                done.signal()
            }
            // Wait until the runner holds its lock (it then watches or is about to scan).
            let lock = SpoolLayout(root: spool.root).lockFile(stage: "register")
            for _ in 0..<600 where !FileIO.exists(lock) { usleep(10_000) }
            for i in 0..<3 {
                usleep(50_000)
                try q.deliver(Data("\(i)".utf8), name: "drop\(i)")
            }
            if done.wait(timeout: .now() + 60) != .success {
                r.control.stop()
                _ = done.wait(timeout: .now() + 10)
                Issue.record("watch mode did not wake up")
            }
            let summary = try #require(try result.withLock { $0 }?.get())
            #expect(summary.processed == 3)
            #expect(stage.names.sorted() == ["drop0", "drop1", "drop2"])
        }
    }
}

// MARK: Group commit

/// A stage that writes one output per input through the group commit, failing on inputs saying "bad".
struct BatchStage: SpoolStage {
    let name = "batch"
    let queues: [Queue]
    let outbox: Queue
    let records: String
    let tuning: StageTuning

    init(input: Queue, outbox: Queue, records: String, concurrency: Int, batchSize: Int) {
        queues = [input]
        self.outbox = outbox
        self.records = records
        tuning = StageTuning(batchSize: batchSize, concurrency: concurrency)
    }

    func process(_ file: ClaimedFile, commit: GroupCommit) throws -> StageOutcome {
        let data = try file.read(maxBytes: 1024)
        try commit.write(data, to: records + "/" + file.name)
        if data == Data("bad".utf8) { throw QRPayError(.paymentTotalMismatch, "this input is bad") }
        try commit.deliver(data, to: outbox, name: file.name)
        return .done("staged")
    }
}

@Suite struct SpoolGroupCommitTests {
    @Test func nothingIsVisibleBeforeFlush() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let dir = spool.root + "/records"
            try FileIO.makePath(dir, mode: 0o700)
            let commit = testCommit(spool.root)
            try commit.write(Data("r1".utf8), to: dir + "/r1.json")
            let name = try commit.deliver(Data("d1".utf8), to: q)
            #expect(commit.pendingData(at: dir + "/r1.json") == Data("r1".utf8))
            #expect(!FileIO.exists(dir + "/r1.json"))
            #expect(try q.pending().isEmpty)
            expectCode("spool.exists") { try commit.write(Data("again".utf8), to: dir + "/r1.json") }
            let mark = commit.mark
            try commit.write(Data("r2".utf8), to: dir + "/r2.json")
            commit.rollback(to: mark)
            #expect(commit.count == 2)
            try commit.flush()
            #expect(commit.isEmpty)
            #expect(fileData(dir + "/r1.json") == Data("r1".utf8))
            #expect(!FileIO.exists(dir + "/r2.json"))
            #expect(try q.pending() == [name])
            #expect(contents(dir) == ["r1.json"])  // no temporaries left
            #expect(contents(q.tmpDirectory).isEmpty)

            // .replace updates a record in place; .fail never replaces.
            let update = testCommit(spool.root)
            try update.write(Data("r1 v2".utf8), to: dir + "/r1.json", ifExists: .replace)
            try update.flush()
            #expect(fileData(dir + "/r1.json") == Data("r1 v2".utf8))
            let clash = testCommit(spool.root)
            try clash.write(Data("x".utf8), to: dir + "/r1.json")
            expectCode("spool.exists") { try clash.flush() }
            #expect(fileData(dir + "/r1.json") == Data("r1 v2".utf8))
            #expect(contents(dir) == ["r1.json"])
        }
    }

    @Test(arguments: [(1, 1), (8, 1), (8, 2), (64, 2)])
    func batchedStageCommitsAndRollsBack(batchSize: Int, concurrency: Int) throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let outbox = Queue(path: spool.root + "/out")
            try outbox.create()
            let records = spool.root + "/records"
            try FileIO.makePath(records, mode: 0o700)
            var items = (0..<50).map { (data: Data("good \($0)".utf8), name: "in-\($0)" as String?) }
            items[17] = (Data("bad".utf8), "in-17")
            try deliverAll(items, to: q)
            let stage = BatchStage(input: q, outbox: outbox, records: records, concurrency: concurrency, batchSize: batchSize)
            let sink = LogSink()
            let summary = try runner(spool, stage, sink: sink).run()
            #expect(summary.processed == 49 && summary.quarantined == 1)
            #expect(Set(try outbox.pending()) == Set(items.map { $0.name! }).subtracting(["in-17"]))
            #expect(contents(records).count == 49)  // the bad file's staged record was rolled back
            #expect(!FileIO.exists(records + "/in-17"))
            #expect(fileData(q.quarantineDirectory + "/in-17") == Data("bad".utf8))
            #expect(contents(q.newDirectory).isEmpty && contents(q.curDirectory).isEmpty)
            #expect(contents(outbox.tmpDirectory).isEmpty)
            #expect(sink.all.filter { $0.hasSuffix(": ok staged") }.count == 49)
        }
    }
}

// MARK: Operator and crash corners

@Suite struct SpoolCornerTests {
    @Test func recoverKeepsBothWhenTheNameReappeared() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            try q.deliver(Data("first".utf8), name: "same.json")
            _ = try q.claim("same.json")  // crash while claimed
            try q.deliver(Data("second".utf8), name: "same.json")  // dropped again meanwhile
            #expect(try q.recover() == 1)
            let names = try q.pending()
            #expect(names.count == 2)
            #expect(names.contains("same.json"))
            #expect(names.contains { $0.hasPrefix("same.json.dup-") })
            #expect(contents(q.curDirectory).isEmpty)
        }
    }

    @Test func requeueOfADuplicateTakesBackItsName() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let fail = TestStage(queues: [q]) { _, _ in throw QRPayError(.paymentReplay, "bad") }
            for body in ["1", "2"] {
                try q.deliver(Data(body.utf8), name: "d.json")
                _ = try runner(spool, fail).run()
            }
            let dup = try #require(try q.quarantined().map(\.name).first { $0 != "d.json" })
            #expect(try q.requeue("d.json") == "d.json")
            _ = try runner(spool, TestStage(queues: [q])).run()
            #expect(try q.requeue(dup) == "d.json")
            #expect(fileData(q.newDirectory + "/d.json") == Data("2".utf8))
            #expect(contents(q.quarantineDirectory).isEmpty)
            expectCode("spool.no-such-file") { try q.requeue("nothing.json") }
        }
    }

    @Test func holdParksADeferredFile() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let name = try q.deliver(Data("x".utf8))
            let stage = TestStage(queues: [q]) { _, _ in throw QRPayError(.ioBusy, "later") }
            #expect(try runner(spool, stage).run().deferred == 1)
            try q.hold(name)
            #expect(try q.deferred().isEmpty && q.held() == [name])
            let later = runner(spool, stage, clock: TimeSource { Date().addingTimeInterval(86_400) })
            #expect(try later.run() == StageSummary())  // held files are not touched
            try q.release(name)
            #expect(try q.pending(promotingDeferred: false) == [name])
        }
    }

    @Test func staleTemporariesAreCleanedFreshOnesKept() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            #expect(FileManager.default.createFile(atPath: q.tmpDirectory + "/old", contents: Data()))
            #expect(FileManager.default.createFile(atPath: q.tmpDirectory + "/fresh", contents: Data()))
            var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
            _ = utimensat(AT_FDCWD, q.tmpDirectory + "/old", &times, 0)
            #expect(q.cleanTemporary() == 1)
            #expect(contents(q.tmpDirectory) == ["fresh"])
        }
    }

    @Test func committedFilesAreNotWorldReadable() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let name = try q.deliver(Data("x".utf8))
            var st = stat()
            #expect(lstat(q.newDirectory + "/" + name, &st) == 0)
            #expect(st.st_mode & 0o777 == 0o640)
        }
    }

    @Test func layoutFixedPoints() {
        let root = "/srv/Spool"
        #expect(SpoolLayout(root: root).caDirectory == "/srv/Spool/ca")
        #expect(SpoolLayout(root: root).inbox.path == "/srv/Spool/pg/inbox")
        #expect(SpoolLayout(root: root).approvals.newDirectory == "/srv/Spool/pg/approvals/new")
        #expect(SpoolLayout(root: root).cancels.path == "/srv/Spool/pg/cancels")
        #expect(SpoolLayout(root: root).shopDirectory("s1") == "/srv/Spool/shops/s1")
        #expect(SpoolLayout(root: root).scanInbox(user: "u1").path == "/srv/Spool/users/u1/inbox")
        #expect(SpoolLayout(root: root).lockFile(stage: "register") == "/srv/Spool/run/register.lock")
        #expect(SpoolLayout(root: root).relative(SpoolLayout(root: root).inbox.path) == "pg/inbox")
        #expect(SpoolLayout(root: root + "/").relative("/srv/Spool/shops/s1/notices") == "shops/s1/notices")
    }
}

extension SpoolCornerTests {
    @Test func countsPerState() throws {
        try withSpool { spool in
            let q = spool.inbox
            try q.create()
            let names = try (0..<4).map { _ in try q.deliver(Data("x".utf8)) }
            try q.hold(names[0])
            _ = try q.claim(names[1])
            #expect(FileManager.default.createFile(atPath: q.newDirectory + "/.ignored", contents: Data()))
            let counts = try q.counts()
            #expect(counts[.new] == 2 && counts[.hold] == 1 && counts[.cur] == 1)
            #expect(counts[.quarantine] == 0 && counts[.deferred] == 0)
            #expect(try q.entries(.new).map(\.name) == q.pending())
        }
    }
}
