// Small helpers of the operator tools (qrpay-spool check/quarantine, qrpay-reconcile): streaming a
// directory or a text file without holding it in memory, and taking the PG stages' locks.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum DirectoryStream {
    /// Calls `body` with every name in `path` (not `.`/`..`) and whether it is a directory (d_type,
    /// lstat when unknown), one at a time, in directory order. Nothing when the directory is missing.
    static func forEach(_ path: String, _ body: (String, Bool) throws -> Void) throws {
        guard let dir = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return }
            throw QRPayError.io("list", path: path, errno: errno)
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = String(decoding: FileIO.direntName(entry), as: UTF8.self)
            if name == "." || name == ".." { continue }
            var isDirectory = Int32(entry.pointee.d_type) == Int32(DT_DIR)
            if Int32(entry.pointee.d_type) == Int32(DT_UNKNOWN) {
                var st = stat()
                isDirectory = lstat(path + "/" + name, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
            }
            try body(name, isDirectory)
        }
    }
}

/// Reads a text file line by line through a fixed buffer (bounded memory, whatever its size).
final class LineReader {
    let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false
    /// Whether the line `next()` returned last had no newline (the file's end: a torn or unfinished write).
    private(set) var lastLineUnterminated = false
    static let maxLine = 1 << 20

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP { throw QRPayError("io.symlink", "\(path) is a symbolic link; QR-Pay never follows links", exit: .dataError) }
            throw QRPayError.io("open", path: path, errno: errno)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw QRPayError("io.not-regular", "\(path) is not a regular file", exit: .dataError)
        }
    }

    deinit { close(fd) }

    /// The next line without its newline; nil at the end. A last line without a newline counts.
    func next() throws -> Data? {
        while true {
            if let nl = buffer[start...].firstIndex(of: 0x0A) {
                let line = Data(buffer[start..<nl])
                start = nl + 1
                return line
            }
            if eof {
                guard start < buffer.count else { return nil }
                let line = Data(buffer[start...])
                start = buffer.count
                lastLineUnterminated = true
                return line
            }
            if start > 0 { buffer.removeFirst(start); start = 0 }
            guard buffer.count <= LineReader.maxLine else {
                throw QRPayError("io.line-too-long", "\(path) has a line longer than \(LineReader.maxLine) bytes", exit: .dataError)
            }
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw QRPayError.io("read", path: path, errno: errno)
            }
            if n == 0 { eof = true } else { buffer.append(contentsOf: chunk[0..<n]) }
        }
    }
}

/// The stages that change payments (register, approve, settle). Holding their locks means no
/// transition is in flight, so markers and records can be compared (and repaired) safely.
public final class StageLocks {
    public static let paymentStages = ["register", "approve", "settle"]
    private var fds: [Int32] = []
    /// Stages that were running (their lock was held by another process).
    public private(set) var busy: [String] = []

    /// Tries each stage's lock without waiting. A missing lock file means the stage never ran here.
    public init(spoolRoot: String, stages: [String] = StageLocks.paymentStages) {
        for stage in stages {
            let fd = open(SpoolLayout.lockFile(spoolRoot, stage: stage), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            if fd < 0 { continue }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                busy.append(stage)
                close(fd)
            } else {
                fds.append(fd)
            }
        }
    }

    public var allHeld: Bool { busy.isEmpty }

    deinit { for fd in fds { close(fd) } }
}

extension String {
    /// `path` relative to `root` (for findings and listings).
    func relative(to root: String) -> String {
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
    }
}
