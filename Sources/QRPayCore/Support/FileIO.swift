// Durable, link-safe file operations on POSIX file descriptors.
//
// Foundation's `Data.write(options: .atomic)` does not fsync the directory and `moveItem` copies
// across file systems; a payment system needs neither surprise. These helpers are the only way QR-Pay
// writes files: create beside the target with O_EXCL, write, fsync, link or rename into place, fsync
// the directory. Reads never follow a symlink and refuse anything but a regular file.

import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

enum UniqueNames {
    static let seed = UInt64.random(in: 0...UInt64.max)
    static let pid = getpid()
    static let counter = Atomic<UInt64>(0)
}

public enum FileIO {
    /// Reads a regular file, never following a symlink, refusing files larger than `maxBytes`.
    public static func read(_ path: String, maxBytes: Int = 1 << 20) throws -> Data {
        guard let data = try read(path, maxBytes: maxBytes, missingIsNil: false) else {
            throw QRPayError.io("open", path: path, errno: ENOENT)
        }
        return data
    }

    /// `read`, but nil when the file does not exist (no error built on a hot path's usual miss).
    public static func readIfExists(_ path: String, maxBytes: Int = 1 << 20) throws -> Data? {
        try read(path, maxBytes: maxBytes, missingIsNil: true)
    }

    private static func read(_ path: String, maxBytes: Int, missingIsNil: Bool) throws -> Data? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 && errno == ENOENT && missingIsNil { return nil }
        guard fd >= 0 else {
            if errno == ELOOP {
                throw QRPayError("io.symlink", "\(path) is a symbolic link; QR-Pay never follows links", exit: .dataError)
            }
            throw QRPayError.io("open", path: path, errno: errno)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw QRPayError.io("stat", path: path, errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw QRPayError("io.not-regular", "\(path) is not a regular file", exit: .dataError)
        }
        guard Int(st.st_size) <= maxBytes else {
            throw QRPayError("io.too-large", "\(path) is \(st.st_size) bytes, over the limit of \(maxBytes)", exit: .dataError)
        }
        return try readAll(fd: fd, path: path, maxBytes: maxBytes)
    }

    static func readAll(fd: Int32, path: String, maxBytes: Int) throws -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw QRPayError.io("read", path: path, errno: errno)
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if data.count > maxBytes {
                throw QRPayError("io.too-large", "\(path) is over the limit of \(maxBytes) bytes", exit: .dataError)
            }
        }
        return data
    }

    /// Writes all of `data` to `fd`.
    public static func writeAll(fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw QRPayError.io("write", path: path, errno: errno)
                }
                offset += n
            }
        }
    }

    public static func fsyncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw QRPayError.io("open directory", path: path, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw QRPayError.io("fsync directory", path: path, errno: errno) }
    }

    /// A name nobody else will pick: time, pid, random.
    /// `SECONDS.NANOSECONDS.PID.RANDOM`: RANDOM is a per-process random start stepped by an atomic
    /// counter, so that no two names of one process repeat and names stay unguessable across processes
    /// (no getrandom/getpid system call per name on hot paths).
    public static func uniqueName(suffix: String = "") -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let n = UniqueNames.counter.add(1, ordering: .relaxed).oldValue
        let random = UniqueNames.seed &+ n &* 0x9E37_79B9_7F4A_7C15
        let nanos = String(ts.tv_nsec)
        return "\(ts.tv_sec).\(String(repeating: "0", count: max(0, 9 - nanos.utf8.count)))\(nanos).\(UniqueNames.pid).\(String(random, radix: 16))\(suffix)"
    }

    /// The directory part of a path, like NSString's `deletingLastPathComponent` for the paths QR-Pay
    /// builds ("a/b/c" -> "a/b", "/c" -> "/", "c" -> ""), without Foundation's path normalisation cost.
    public static func parentDirectory(_ path: String) -> String {
        var utf8 = Substring(path).utf8
        while utf8.count > 1, utf8.last == UInt8(ascii: "/") { utf8 = utf8.dropLast() }
        guard let slash = utf8.lastIndex(of: UInt8(ascii: "/")) else { return "" }
        if slash == utf8.startIndex { return "/" }
        return String(Substring(utf8[utf8.startIndex..<slash]))
    }

    /// The process's umask, read once from /proc/self/status (reading it with umask(2) would change it
    /// for a moment under other threads); nil where /proc does not say.
    static let processUmask: mode_t? = {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("Umask:") {
            return mode_t(line.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8)
        }
        return nil
    }()

    /// Whether a file created with `mode` already has exactly that mode (the umask takes nothing away),
    /// so that the fchmod(2) after creating it can be skipped.
    static func creationKeeps(_ mode: mode_t) -> Bool {
        guard let mask = processUmask else { return false }
        return mode & mask == 0
    }

    /// Writes `data` durably to `path`.
    ///
    /// The bytes go to a temporary file in `tmpDirectory` (default: beside the target), created with
    /// O_EXCL and fsync'd; then linked into place without replacing (`replace == false`, the target
    /// must not exist: `io.exists`) or renamed over it (`replace == true`); then the target's directory
    /// is fsync'd. When the call returns, the file survives a crash.
    public static func writeDurably(_ data: Data, to path: String, mode: mode_t = 0o644, replace: Bool = false,
                                    tmpDirectory: String? = nil, syncDirectory: Bool = true) throws {
        let parent = FileIO.parentDirectory(path)
        let dir = parent.isEmpty ? "." : parent
        let tmpDir = tmpDirectory ?? dir
        let tmp = tmpDir + "/.tmp." + uniqueName()
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw QRPayError.io("create", path: tmp, errno: errno) }
        var closed = false
        defer {
            if !closed { close(fd) }
            unlink(tmp)
        }
        try writeAll(fd: fd, data, path: tmp)
        if fchmod(fd, mode) != 0 { throw QRPayError.io("chmod", path: tmp, errno: errno) }
        guard fsync(fd) == 0 else { throw QRPayError.io("fsync", path: tmp, errno: errno) }
        closed = true
        guard close(fd) == 0 else { throw QRPayError.io("close", path: tmp, errno: errno) }
        if replace {
            guard rename(tmp, path) == 0 else { throw QRPayError.io("rename", path: path, errno: errno) }
        } else {
            guard link(tmp, path) == 0 else {
                if errno == EEXIST {
                    throw QRPayError("io.exists", "\(path) already exists; QR-Pay never overwrites it", exit: .cantCreate)
                }
                throw QRPayError.io("link", path: path, errno: errno)
            }
        }
        if syncDirectory { try fsyncDirectory(dir) }
    }

    /// Creates `path` and missing parents with `mode` (existing directories keep theirs).
    public static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws {
        // mkdir first: one system call when the parent exists (the common case on hot paths).
        if mkdir(path, mode) == 0 {
            if !creationKeeps(mode) { _ = chmod(path, mode) }  // the mode, whatever the umask
            return
        }
        var e = errno
        if e == ENOENT {
            let parent = FileIO.parentDirectory(path)
            if !parent.isEmpty && parent != path && parent != "/" {
                try makeDirectory(parent, mode: 0o755)
            }
            if mkdir(path, mode) == 0 {
                if !creationKeeps(mode) { _ = chmod(path, mode) }
                return
            }
            e = errno
        }
        guard e == EEXIST else { throw QRPayError.io("create directory", path: path, errno: e) }
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw QRPayError("io.not-directory", "\(path) exists and is not a directory", exit: .cantCreate)
        }
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The name in a dirent readdir(3) returned, read in place: the record is only d_reclen bytes
    /// long, so copying the whole `d_name` tuple (256 bytes) can read past the end of the library's
    /// buffer (and fault, at the end of a page).
    static func direntName(_ entry: UnsafeMutablePointer<dirent>) -> UnsafeRawBufferPointer {
        let start = UnsafeRawPointer(entry) + direntNameOffset
        return UnsafeRawBufferPointer(start: start, count: strlen(start.assumingMemoryBound(to: CChar.self)))
    }

    private static let direntNameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!

    /// Names in `directory` (not `.`/`..`), unsorted; empty when the directory does not exist.
    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw QRPayError.io("list", path: path, errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = String(decoding: direntName(entry), as: UTF8.self)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Calls `body` with the bytes of every name in `path` (not `.`/`..`) as readdir(3) returns them,
    /// without making a String of each: for counting a million entries quickly.
    public static func forEachName(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return }
            throw QRPayError.io("list", path: path, errno: errno)
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = direntName(entry)
            if name.count == 1 && name[0] == 0x2E { continue }
            if name.count == 2 && name[0] == 0x2E && name[1] == 0x2E { continue }
            try body(name)
        }
    }
}
