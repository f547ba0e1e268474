// The one POSIX layer of QR-Pay: every system call on a path goes through here, and every failure
// becomes a `QRPayError` through one errno map (`QRPayError.io`, `ErrorCode.io(errno:)`).
//
// Nothing here follows a symbolic link (O_NOFOLLOW, lstat) or reads anything but a regular file.
// Durable writes are not here: `GroupCommit` is the one way to make files durable (a single file is
// a commit of one, `Durable.write`); this layer gives it its building blocks (create with O_EXCL,
// anonymous files, renames that never replace, fsync and syncfs).

import Foundation
import Synchronization
internal import CQRPayShims
#if canImport(Glibc)
import Glibc
#endif

enum UniqueNames {
    static let seed = UInt64.random(in: 0...UInt64.max)
    static let pid = getpid()
    static let counter = Atomic<UInt64>(0)
}

/// What an entry in a directory is, from lstat(2) (never following a link).
package enum SpoolEntryKind: String, Sendable {
    case regular, directory, symlink, fifo, socket, characterDevice = "character device",
         blockDevice = "block device", unknown

    package init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symlink
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        default: self = .unknown
        }
    }

    /// "a FIFO", "a directory", ... for reason sentences.
    package var described: String {
        switch self {
        case .regular: return "a regular file"
        case .directory: return "a directory"
        case .symlink: return "a symbolic link"
        case .fifo: return "a FIFO (named pipe)"
        case .socket: return "a socket"
        case .characterDevice: return "a character device"
        case .blockDevice: return "a block device"
        case .unknown: return "a file of unknown type"
        }
    }
}

package enum FileIO {
    // MARK: reading

    /// Reads a regular file, never following a symlink, refusing files larger than `maxBytes`.
    package static func read(_ path: String, maxBytes: Int = 1 << 20) throws -> Data {
        guard let data = try read(path, maxBytes: maxBytes, missingIsNil: false) else {
            throw QRPayError.io("open", path: path, errno: ENOENT)
        }
        return data
    }

    /// `read`, but nil when the file (or a directory of its path) does not exist.
    package static func readIfExists(_ path: String, maxBytes: Int = 1 << 20) throws -> Data? {
        try read(path, maxBytes: maxBytes, missingIsNil: true)
    }

    private static func read(_ path: String, maxBytes: Int, missingIsNil: Bool) throws -> Data? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let e = errno
            if (e == ENOENT || e == ENOTDIR) && missingIsNil { return nil }
            if e == ELOOP { throw symlink(path) }
            throw QRPayError.io("open", path: path, errno: e)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw QRPayError.io("stat", path: path, errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw QRPayError(.ioNotRegular, "\(path) is \(SpoolEntryKind(mode: st.st_mode).described), not a regular file")
        }
        guard Int(st.st_size) <= maxBytes else {
            throw QRPayError(.ioTooLarge, "\(path) is \(st.st_size) bytes, over the limit of \(maxBytes)")
        }
        return try readAll(fd: fd, path: path, maxBytes: maxBytes, sizeHint: Int(st.st_size)) {
            QRPayError(.ioTooLarge, "\(path) is over the limit of \(maxBytes) bytes")
        }
    }

    /// Reads `fd` to its end. `sizeHint`: fstat's size (a short read at or past it is the end).
    static func readAll(fd: Int32, path: String, maxBytes: Int, sizeHint: Int = 0,
                        tooLarge: () -> QRPayError) throws -> Data {
        var data = Data()
        data.reserveCapacity(min(sizeHint, maxBytes))
        var buffer = [UInt8](repeating: 0, count: min(max(sizeHint + 1, 4096), 1 << 16))
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw QRPayError.io("read", path: path, errno: errno)
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if data.count > maxBytes { throw tooLarge() }
            if sizeHint > 0 && n < buffer.count && data.count >= sizeHint { break }
        }
        return data
    }

    static func symlink(_ path: String) -> QRPayError {
        QRPayError(.ioSymlink, "\(path) is a symbolic link; QR-Pay never follows links")
    }

    // MARK: writing building blocks

    /// Writes all of `data` to `fd`.
    package static func writeAll(fd: Int32, _ data: Data, path: String) throws {
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

    /// Creates `path` with O_EXCL|O_NOFOLLOW and `mode` (whatever the umask); returns the descriptor.
    package static func createOpen(_ path: String, mode: mode_t) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw QRPayError.io("create", path: path, errno: errno) }
        if !creationKeeps(mode) { _ = fchmod(fd, mode) }
        return fd
    }

    /// O_TMPFILE, when the C library has it and /proc/self/fd can name such a file (linkat with
    /// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH before Linux 6.10; the /proc path does not).
    static let anonymousFlag: Int32? = {
        let flag = qrpay_o_tmpfile()
        guard flag != 0, access("/proc/self/fd", X_OK) == 0 else { return nil }
        return flag
    }()

    /// An anonymous file in `directory` (O_TMPFILE): nameless until `linkAnonymous`, so a crash before
    /// that leaves nothing behind. nil where the file system or kernel has none.
    package static func openAnonymous(in directory: String, mode: mode_t) throws -> Int32? {
        guard let flag = anonymousFlag else { return nil }
        let fd = open(directory, flag | O_WRONLY | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let e = errno
            if e == EOPNOTSUPP || e == EISDIR || e == EINVAL || e == ENOSYS { return nil }
            throw QRPayError.io("create a file in", path: directory, errno: e)
        }
        if !creationKeeps(mode) { _ = fchmod(fd, mode) }
        return fd
    }

    /// Names the anonymous file `fd` as `path`, never replacing: 0 or the errno (EEXIST).
    package static func linkAnonymous(_ fd: Int32, _ path: String) -> Int32 {
        let empty = qrpay_at_empty_path()
        if empty != 0 && emptyPathLinks.load(ordering: .relaxed) {
            if linkat(fd, "", AT_FDCWD, path, empty) == 0 { return 0 }
            let e = errno
            guard e == ENOENT || e == EPERM || e == EINVAL else { return e }
            // ENOENT also means a missing directory of `path`: the /proc link below says which.
            let viaProc = linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 ? 0 : errno
            if viaProc == 0 { emptyPathLinks.store(false, ordering: .relaxed) }
            return viaProc
        }
        return linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 ? 0 : errno
    }

    /// Whether linkat with AT_EMPTY_PATH worked so far (false after the first refusal).
    private static let emptyPathLinks = Atomic<Bool>(true)

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    /// renameat2(2) through the C library when it has it (glibc >= 2.28).
    private static let renameat2Function: RenameAt2? = {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "renameat2") else { return nil }
        return unsafeBitCast(sym, to: RenameAt2.self)
    }()
    private static let RENAME_NOREPLACE: UInt32 = 1

    /// Renames `from` to `to`, never replacing `to`. Returns 0, or the errno (EEXIST when `to` exists,
    /// ENOENT when `from` is gone). Works on every file type, directories included.
    package static func renameNoReplace(_ from: String, _ to: String) -> Int32 {
        if let renameat2 = renameat2Function {
            if renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0 { return 0 }
            let e = errno
            if e != EINVAL && e != ENOSYS && e != ENOTSUP { return e }
        }
        // Fallback: link+unlink (never replaces); directories cannot be linked: check, then rename.
        if link(from, to) == 0 {
            if unlink(from) != 0 && errno != ENOENT { return errno }
            return 0
        }
        let e = errno
        if e == EPERM || e == EXDEV || e == EMLINK, let (kind, _) = lstatKind(from), kind == .directory {
            if lstatKind(to) != nil { return EEXIST }
            return rename(from, to) == 0 ? 0 : errno
        }
        return e
    }

    /// Removes `path`; a missing file is fine.
    package static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw QRPayError.io("remove", path: path, errno: errno) }
    }

    /// Removes the directory `path` and everything under it, following no link (a link is removed,
    /// never what it points to); a missing path is fine.
    package static func removeTree(_ path: String) throws {
        guard let (kind, _) = lstatKind(path) else { return }
        if kind == .directory {
            for name in try listDirectory(path) { try removeTree(path + "/" + name) }
            if rmdir(path) != 0 && errno != ENOENT { throw QRPayError.io("remove the directory", path: path, errno: errno) }
        } else {
            try remove(path)
        }
    }

    /// Renames `from` to `to` (a directory built whole beside its place) and makes the rename
    /// durable (fsync of the parent directory).
    package static func renameDurably(_ from: String, to: String) throws {
        guard rename(from, to) == 0 else { throw QRPayError.io("rename into place", path: to, errno: errno) }
        try fsyncDirectory(parentDirectory(to))
    }

    // MARK: durability

    private typealias SyncFS = @convention(c) (Int32) -> Int32
    private static let syncfsFunction: SyncFS? = {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "syncfs") else { return nil }
        return unsafeBitCast(sym, to: SyncFS.self)
    }()

    /// Whether syncfs(2) is available (Linux).
    package static var hasSyncfs: Bool { syncfsFunction != nil }

    /// syncfs(2): commits everything dirty on the file system holding `fd` (data and directory
    /// entries, one journal commit and device flush) and waits; since Linux 5.8 it reports writeback
    /// errors as fsync does.
    package static func syncfs(_ fd: Int32, path: String) throws {
        guard let f = syncfsFunction else { throw QRPayError.io("syncfs", path: path, errno: ENOSYS) }
        guard f(fd) == 0 else { throw QRPayError.io("syncfs", path: path, errno: errno) }
    }

    private typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
    private static let syncFileRange: SyncFileRange? = {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "sync_file_range") else { return nil }
        return unsafeBitCast(sym, to: SyncFileRange.self)
    }()

    /// fsyncs every descriptor: starts writeback of all (sync_file_range), then fsyncs them on up to
    /// 8 threads so that concurrent fsyncs share journal commits. Throws the first failure.
    package static func syncAll(_ fds: [Int32], paths: [String]) throws {
        if fds.isEmpty { return }
        if fds.count > 1, let sfr = syncFileRange {
            for fd in fds { _ = sfr(fd, 0, 0, 2 /* SYNC_FILE_RANGE_WRITE */) }
        }
        try parallel(fds.count) { i in
            guard fsync(fds[i]) == 0 else { throw QRPayError.io("fsync", path: paths[i], errno: errno) }
        }
    }

    /// Appends `data` to the file at `path` (created with `mode` if missing, never through a link)
    /// and fsyncs it (and its directory when the file is new): an append-only log line that
    /// survives a crash before the act it records (the audit log).
    package static func appendDurably(_ data: Data, to path: String, mode: mode_t) throws {
        let created = !exists(path)
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw QRPayError.io("open", path: path, errno: errno) }
        defer { close(fd) }
        try writeAll(fd: fd, data, path: path)
        guard fsync(fd) == 0 else { throw QRPayError.io("fsync", path: path, errno: errno) }
        if created { try fsyncDirectory(parentDirectory(path)) }
    }

    /// fsyncs the directory `path` (its entries: what was linked, renamed or removed in it).
    /// `fallback`: a descriptor of a file on the same file system, synced with syncfs(2) when the
    /// directory cannot be opened (a writer that may link into a directory it may not read, such as
    /// a shop dropping into the PG's inbox). Throws when neither works.
    package static func fsyncDirectory(_ path: String, fallback: Int32 = -1) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            let e = errno
            if (e == EACCES || e == EPERM) && fallback >= 0 && hasSyncfs {
                try syncfs(fallback, path: path)
                return
            }
            throw QRPayError.io("open directory", path: path, errno: e)
        }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw QRPayError.io("fsync directory", path: path, errno: errno) }
    }

    /// fsyncs every directory (in parallel).
    package static func syncDirectories(_ dirs: [String], fallback: Int32 = -1) throws {
        try parallel(dirs.count) { i in try fsyncDirectory(dirs[i], fallback: fallback) }
    }

    /// Runs `body(0..<count)` on up to 8 threads (inline for small counts); rethrows the first error.
    static func parallel(_ count: Int, _ body: @Sendable (Int) throws -> Void) throws {
        if count <= 2 {
            for i in 0..<count { try body(i) }
            return
        }
        let workers = min(8, count)
        let firstError = Mutex<Error?>(nil)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = w
            while i < count {
                do { try body(i) } catch {
                    firstError.withLock { if $0 == nil { $0 = error } }
                    return
                }
                i += workers
            }
        }
        if let error = firstError.withLock({ $0 }) { throw error }
    }

    // MARK: names and directories

    /// A name nobody else will pick: `SECONDS.NANOSECONDS.PID.RANDOM`. RANDOM is a per-process random
    /// start stepped by an atomic counter: no two names of one process repeat, and names stay
    /// unguessable across processes (no getrandom/getpid system call per name on hot paths).
    package static func uniqueName(suffix: String = "") -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let n = UniqueNames.counter.add(1, ordering: .relaxed).oldValue
        let random = UniqueNames.seed &+ n &* 0x9E37_79B9_7F4A_7C15
        let nanos = String(ts.tv_nsec)
        return "\(ts.tv_sec).\(String(repeating: "0", count: max(0, 9 - nanos.utf8.count)))\(nanos).\(UniqueNames.pid).\(String(random, radix: 16))\(suffix)"
    }

    /// The directory part of a path ("a/b/c" -> "a/b", "/c" -> "/", "c" -> ""), without Foundation's
    /// path normalisation cost.
    package static func parentDirectory(_ path: String) -> String {
        var utf8 = Substring(path).utf8
        while utf8.count > 1, utf8.last == UInt8(ascii: "/") { utf8 = utf8.dropLast() }
        guard let slash = utf8.lastIndex(of: UInt8(ascii: "/")) else { return "" }
        if slash == utf8.startIndex { return "/" }
        return String(Substring(utf8[utf8.startIndex..<slash]))
    }

    /// The last component of a path.
    package static func lastComponent(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.last == "/" { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return String(p) }
        return String(p[p.index(after: slash)...])
    }

    /// The process's umask, read once from /proc/self/status (umask(2) would change it for a moment
    /// under other threads); nil where /proc does not say.
    static let processUmask: mode_t? = {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("Umask:") {
            return mode_t(line.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8)
        }
        return nil
    }()

    /// Whether a file created with `mode` gets exactly that mode (the umask takes nothing away), so
    /// that the fchmod(2) after creating it can be skipped. Special bits always need the chmod.
    static func creationKeeps(_ mode: mode_t) -> Bool {
        guard let mask = processUmask, mode & 0o7000 == 0 else { return false }
        return mode & mask == 0
    }

    /// Creates the directory `path` with exactly `mode`; its parent must exist. Returns false when it
    /// already existed as a directory (its mode is left alone: QR-Pay never changes the mode of an
    /// existing directory). A non-directory in the way is `io.not-directory`.
    @discardableResult
    package static func makeDirectory(_ path: String, mode: mode_t) throws -> Bool {
        let mode = mode & ~mode_t(0o002)  // never world-writable
        if mkdir(path, mode & 0o777) == 0 {
            if !creationKeeps(mode) { _ = chmod(path, mode) }  // the mode, whatever the umask; special bits
            return true
        }
        let e = errno
        guard e == EEXIST else { throw QRPayError.io("create directory", path: path, errno: e) }
        guard let (kind, _) = lstatKind(path), kind == .directory else {
            throw QRPayError(.ioNotDirectory, "\(path) exists and is not a directory")
        }
        return false
    }

    /// Creates `path` and its missing parents (for paths outside a spool, such as `--out DIR`):
    /// parents 0755, the directory itself `mode`. Inside a spool, use `SpoolLayout.makeDirectories`.
    package static func makePath(_ path: String, mode: mode_t) throws {
        if isDirectory(path) { return }
        let parent = parentDirectory(path)
        if !parent.isEmpty && parent != "/" && parent != path && !isDirectory(parent) { try makePath(parent, mode: 0o755) }
        try makeDirectory(path, mode: mode)
    }

    package static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    package static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// lstat(2): what the entry is, and its stat; nil when it does not exist (or cannot be looked at).
    package static func lstatKind(_ path: String) -> (SpoolEntryKind, stat)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (SpoolEntryKind(mode: st.st_mode), st)
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
    package static func listDirectory(_ path: String) throws -> [String] {
        var names: [String] = []
        try forEachEntry(path) { name, _ in names.append(name) }
        return names
    }

    /// Calls `body` with every name in `path` (not `.`/`..`) and whether it is a directory (d_type,
    /// lstat when unknown), one at a time, in directory order. Nothing when the directory is missing.
    package static func forEachEntry(_ path: String, _ body: (String, Bool) throws -> Void) throws {
        guard let dir = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return }
            throw QRPayError.io("list", path: path, errno: errno)
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let raw = direntName(entry)
            if raw.count == 1 && raw[0] == 0x2E { continue }
            if raw.count == 2 && raw[0] == 0x2E && raw[1] == 0x2E { continue }
            let name = String(decoding: raw, as: UTF8.self)
            var isDirectory = Int32(entry.pointee.d_type) == Int32(DT_DIR)
            if Int32(entry.pointee.d_type) == Int32(DT_UNKNOWN) {
                isDirectory = FileIO.isDirectory(path + "/" + name)
            }
            try body(name, isDirectory)
        }
    }

    /// Calls `body` with the bytes of every name in `path` (not `.`/`..`) as readdir(3) returns them,
    /// without making a String of each: for counting a million entries quickly. `skipDirectories`:
    /// leave out subdirectories (d_type; lstat when the file system does not say).
    package static func forEachName(_ path: String, skipDirectories: Bool = false, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let dir = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return }
            throw QRPayError.io("list", path: path, errno: errno)
        }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = direntName(entry)
            if name.count == 1 && name[0] == 0x2E { continue }
            if name.count == 2 && name[0] == 0x2E && name[1] == 0x2E { continue }
            if skipDirectories {
                let type = Int32(entry.pointee.d_type)
                if type == Int32(DT_DIR) { continue }
                if type == Int32(DT_UNKNOWN), isDirectory(path + "/" + String(decoding: name, as: UTF8.self)) { continue }
            }
            try body(name)
        }
    }

    /// A non-blocking, close-on-exec pipe (read end, write end); [-1, -1] on failure.
    package static func makePipe() -> [Int32] {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return [-1, -1] }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        return fds
    }
}

/// Reads a text file line by line through a fixed buffer (bounded memory, whatever its size).
package final class LineReader {
    let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false
    /// Whether the line `next()` returned last had no newline (the file's end: a torn or unfinished write).
    package private(set) var lastLineUnterminated = false
    static let maxLine = 1 << 20

    package init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP { throw FileIO.symlink(path) }
            throw QRPayError.io("open", path: path, errno: errno)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw QRPayError(.ioNotRegular, "\(path) is not a regular file")
        }
    }

    deinit { close(fd) }

    /// The next line without its newline; nil at the end. A last line without a newline counts.
    package func next() throws -> Data? {
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
                throw QRPayError(.ioLineTooLong, "\(path) has a line longer than \(LineReader.maxLine) bytes")
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
