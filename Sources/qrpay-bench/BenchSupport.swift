// Helpers of the pipeline bench: running the real programs as timed subprocesses (wall time and
// peak RSS through wait4), parallel loops on every core, the machine's description, and the one
// results table that `make bench` prints.

import Foundation
import QRPaySupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn, stdout/stderr to files.
struct Child {
    let pid: pid_t
    let started: Double

    static func spawn(_ path: String, _ args: [String], stdout: String = "/dev/null", stderr: String = "/dev/null") throws -> Child {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        // The child starts with no blocked signals and default SIGTERM/SIGINT/SIGPIPE, whatever this
        // process inherited (a parent may have blocked them all).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGPIPE] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let started = BenchTable.now()
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw QRPayError(.benchFailed, "cannot run \(path): \(String(cString: strerror(rc)))")
        }
        return Child(pid: pid, started: started)
    }

    /// Waits for the child: exit status, wall seconds since spawn, peak RSS in MiB, CPU seconds (user + system).
    ///
    /// The peak RSS is the child's own VmHWM from /proc, read every 2 ms while it runs: rusage's
    /// ru_maxrss is no good here, as posix_spawn's vfork makes the child's figure start at this
    /// process's peak (exec records the borrowed address space's high-water mark).
    @discardableResult
    func wait() -> (status: Int32, seconds: Double, maxRSSMiB: Double, cpu: Double) {
        var status: Int32 = 0
        var usage = rusage()
        var peakKiB = 0
        while true {
            let r = wait4(pid, &status, WNOHANG, &usage)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            peakKiB = max(peakKiB, Child.highWaterKiB(pid))
            usleep(2000)
        }
        let seconds = BenchTable.now() - started
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, seconds, Double(peakKiB) / 1024, CPUTime.seconds(usage))
    }

    /// VmHWM of a running process in KiB (0 if unreadable).
    static func highWaterKiB(_ pid: pid_t) -> Int {
        let fd = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return 0 }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
        return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") ?? 0
    }

    func terminate() { kill(pid, SIGTERM) }

    /// Runs a program to its end.
    static func run(_ path: String, _ args: [String], stdout: String = "/dev/null", stderr: String = "/dev/null") throws
        -> (status: Int32, seconds: Double, maxRSSMiB: Double, cpu: Double) {
        try spawn(path, args, stdout: stdout, stderr: stderr).wait()
    }
}

/// CPU time (user + system) from rusage.
enum CPUTime {
    static func seconds(_ u: rusage) -> Double {
        Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }

    /// This process's CPU seconds so far (every thread).
    static func ofSelf() -> Double {
        var u = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
        return seconds(u)
    }
}

/// Runs `body(i)` for i in 0..<count on every core; rethrows the first error.
func parallelFor(_ count: Int, workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                 _ body: @Sendable (Int) throws -> Void) throws {
    let next = Atomic<Int>(0)
    let firstError = Mutex<Error?>(nil)
    DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
        while true {
            let i = next.add(1, ordering: .relaxed).oldValue
            if i >= count || firstError.withLock({ $0 != nil }) { return }
            do { try body(i) } catch {
                firstError.withLock { if $0 == nil { $0 = error } }
                return
            }
        }
    }
    if let error = firstError.withLock({ $0 }) { throw error }
}

/// Fixed slots written from several threads, one index each.
final class Slots<T>: @unchecked Sendable {
    private let buffer: UnsafeMutableBufferPointer<T?>
    init(_ count: Int) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: nil)
    }
    deinit {
        buffer.deinitialize()
        buffer.deallocate()
    }
    subscript(i: Int) -> T? {
        get { buffer[i] }
        set { buffer[i] = newValue }
    }
    var values: [T] { buffer.compactMap { $0 } }
}

enum Machine {
    static func describe(workPath: String) -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "?"
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let load = ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
        let mem = ((try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? "").split(separator: "\n")
            .first { $0.hasPrefix("MemTotal:") }.flatMap { $0.split(separator: " ").compactMap { Double($0) }.first }
            .map { String(format: "%.1f GiB RAM", $0 / 1024 / 1024) } ?? "?"
        return "machine: \(ProcessInfo.processInfo.activeProcessorCount) CPUs (nproc), \(cpu), \(mem), Linux \(kernel), load \(load)\n"
            + "disk: \(disk(workPath))"
    }

    /// The file system holding `path`: device, type, rotational or not.
    static func disk(_ path: String) -> String {
        guard let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return "?" }
        var best: (point: String, device: String, type: String) = ("", "?", "?")
        for line in mounts.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count >= 3 else { continue }
            let point = f[1]
            let matches = path == point || path.hasPrefix(point.hasSuffix("/") ? point : point + "/")
            if matches && point.count >= best.point.count { best = (point, f[0], f[2]) }
        }
        let dev = (best.device as NSString).lastPathComponent
        let rotational = (try? String(contentsOfFile: "/sys/block/\(dev)/queue/rotational", encoding: .utf8))
            .map { $0.hasPrefix("1") ? "rotational" : "non-rotational" } ?? ""
        return "\(best.device) (\(best.type), \(rotational)) mounted on \(best.point), spool under \(path)"
    }
}

/// The pipeline bench's one table: what was measured, the figure, the target, and whether it was met.
struct ResultTable {
    struct Row {
        var measure: String
        var figure: String
        var target: String
        var met: Bool?
        var note: String
    }
    var rows: [Row] = []

    mutating func add(_ measure: String, _ figure: String, target: String = "", met: Bool? = nil, note: String = "") {
        rows.append(Row(measure: measure, figure: figure, target: target, met: met, note: note))
    }

    func render(title: String, machine: String) -> String {
        let headers = ["measure", "figure", "target", "met", "note"]
        let cells = rows.map { [$0.measure, $0.figure, $0.target, $0.met.map { $0 ? "yes" : "NO" } ?? "", $0.note] }
        var widths = headers.map(\.count)
        for r in cells { for (i, c) in r.enumerated() where i < 4 { widths[i] = max(widths[i], c.count) } }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, c in i < 4 ? c + String(repeating: " ", count: widths[i] - c.count) : c }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        var out = [title, machine, line(headers), widths.prefix(4).map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "  ----"]
        out += cells.map(line)
        return out.joined(separator: "\n") + "\n"
    }
}
