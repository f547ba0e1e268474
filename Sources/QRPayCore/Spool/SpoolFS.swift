// POSIX building blocks of the spool: renames that never replace (renameat2 RENAME_NOREPLACE, else
// link+unlink), lstat-based file kinds, private directory creation, and spool error codes.
//
// Nothing here follows a symbolic link or opens a file that is not known to be a regular file.

import Foundation
import Synchronization
internal import CQRPayShims
#if canImport(Glibc)
import Glibc
#endif

/// What an entry in a queue directory is, from lstat(2) (never following a link).
public enum SpoolEntryKind: String, Sendable {
    case regular, directory, symlink, fifo, socket, characterDevice = "character device",
         blockDevice = "block device", unknown

    init(mode: mode_t) {
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
    public var described: String {
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

/// Queue file names the spool accepts; anything else in `new/` is "foreign" and left alone.
public enum SpoolName {
    /// `[A-Za-z0-9][A-Za-z0-9._:,=+-]{0,200}`, and not ending in `.reason.json` (reason files).
    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 201 else { return false }
        func alnum(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        }
        guard alnum(bytes[0]) else { return false }
        for b in bytes.dropFirst() {
            guard alnum(b) || b == 0x2E || b == 0x5F || b == 0x3A || b == 0x2C || b == 0x3D || b == 0x2B || b == 0x2D
            else { return false }
        }
        return !name.hasSuffix(reasonSuffix)
    }

    public static let reasonSuffix = ".reason.json"

    static func validate(_ name: String) throws {
        guard isValid(name) else {
            throw QRPayError("spool.bad-name",
                             "\"\(name.prefix(80))\" is not a valid spool file name: use [A-Za-z0-9][A-Za-z0-9._:,=+-]{0,200}, not ending in .reason.json",
                             exit: .dataError)
        }
    }
}

enum SpoolFS {
    /// `spool.io` (transient unless the disk says otherwise) or `spool.no-such-file` for ENOENT.
    static func error(_ what: String, _ path: String, _ code: Int32) -> QRPayError {
        let text = String(cString: strerror(code))
        if code == ENOENT {
            return QRPayError("spool.no-such-file", "cannot \(what) \(path): \(text)", exit: .noInput)
        }
        let exit: SysExit
        switch code {
        case EACCES, EPERM: exit = .noPermission
        case ENOSPC, EDQUOT, EAGAIN, EINTR, EMFILE, ENFILE, EBUSY: exit = .tempFail
        default: exit = .ioError
        }
        return QRPayError("spool.io", "cannot \(what) \(path): \(text)", exit: exit)
    }

    static func lstatKind(_ path: String) -> (SpoolEntryKind, stat)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (SpoolEntryKind(mode: st.st_mode), st)
    }

    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    /// renameat2(2) through the C library when it has it (glibc >= 2.28); Swift's Glibc module does
    /// not import it.
    private static let renameat2Function: RenameAt2? = {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "renameat2") else { return nil }
        return unsafeBitCast(sym, to: RenameAt2.self)
    }()
    private static let RENAME_NOREPLACE: UInt32 = 1

    /// Renames `from` to `to`, never replacing `to`. Returns 0, or the errno (EEXIST when `to` exists,
    /// ENOENT when `from` is gone). Works on every file type, directories included.
    static func renameNoReplace(_ from: String, _ to: String) -> Int32 {
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

    private typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32
    /// sync_file_range(2) (Linux): starts writeback without waiting, so the fsyncs that follow find
    /// most data already on its way and share journal commits.
    private static let syncFileRange: SyncFileRange? = {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "sync_file_range") else { return nil }
        return unsafeBitCast(sym, to: SyncFileRange.self)
    }()
    private static let SYNC_FILE_RANGE_WRITE: UInt32 = 2

    /// fsyncs every descriptor (group commit): starts writeback of all, then fsyncs them on up to 8
    /// threads, so concurrent fsyncs join the same journal commit. Throws the first failure.
    static func syncAll(_ fds: [Int32], paths: [String]) throws {
        if fds.isEmpty { return }
        if fds.count > 1, let sfr = syncFileRange {
            for fd in fds { _ = sfr(fd, 0, 0, SYNC_FILE_RANGE_WRITE) }
        }
        try parallel(fds.count) { i in
            guard fsync(fds[i]) == 0 else { throw error("fsync", paths[i], errno) }
        }
    }

    private typealias SyncFS = @convention(c) (Int32) -> Int32
    private static let syncfsFunction: SyncFS? = {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "syncfs") else { return nil }
        return unsafeBitCast(sym, to: SyncFS.self)
    }()

    /// Whether syncfs(2) is available (Linux).
    static var hasSyncfs: Bool { syncfsFunction != nil }

    /// syncfs(2): writes back and commits everything dirty on the file system holding `fd` and waits
    /// for it (one journal commit and device flush for a whole batch). Since Linux 5.8 it reports
    /// writeback errors of the file system, as fsync does for one file.
    static func syncfs(_ fd: Int32, path: String) throws {
        guard let f = syncfsFunction else { throw error("syncfs", path, ENOSYS) }
        guard f(fd) == 0 else { throw error("syncfs", path, errno) }
    }

    /// fsyncs every directory (in parallel, as `syncAll`).
    static func syncDirectories(_ dirs: [String]) throws {
        try parallel(dirs.count) { i in try fsyncDirectory(dirs[i]) }
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

    /// A non-blocking, close-on-exec pipe (read end, write end); [-1, -1] on failure.
    static func makePipe() -> [Int32] {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return [-1, -1] }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        return fds
    }

    static func fsyncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw error("open directory", path, errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw error("fsync directory", path, errno) }
    }

    /// Creates `path` and missing parents with `mode` (never world-writable). Existing directories keep
    /// their mode; a non-directory (or a symlink) in the way is an error.
    static func makeDirectories(_ path: String, mode: mode_t) throws {
        let mode = mode & ~mode_t(0o002)
        if let (kind, _) = lstatKind(path) {
            guard kind == .directory else {
                throw QRPayError("spool.io", "\(path) exists and is \(kind.described), not a directory", exit: .cantCreate)
            }
            return
        }
        let parent = FileIO.parentDirectory(path)
        if !parent.isEmpty && parent != path && parent != "/" {
            try makeDirectories(parent, mode: mode)
        }
        if mkdir(path, mode) != 0 {
            if errno == EEXIST, let (kind, _) = lstatKind(path), kind == .directory { return }
            throw error("create directory", path, errno)
        }
        _ = chmod(path, mode)  // not subject to umask
        if !parent.isEmpty { try? fsyncDirectory(parent) }  // the new entry survives a crash
    }

    /// Writes and fsyncs a fresh file created with O_EXCL|O_NOFOLLOW; the descriptor is closed.
    static func createFile(_ path: String, data: Data, mode: mode_t) throws {
        let fd = try createOpen(path, mode: mode)
        var ok = false
        defer { if !ok { close(fd); unlink(path) } }
        try writeAll(fd, data, path)
        guard fsync(fd) == 0 else { throw error("fsync", path, errno) }
        ok = true
        guard close(fd) == 0 else { unlink(path); throw error("close", path, errno) }
    }

    static func createOpen(_ path: String, mode: mode_t) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            if errno == EEXIST {
                throw QRPayError("spool.exists", "\(path) already exists; the spool never replaces a file", exit: .cantCreate)
            }
            throw error("create", path, errno)
        }
        if !FileIO.creationKeeps(mode) { _ = fchmod(fd, mode) }  // the mode, whatever the umask
        return fd
    }

    /// O_TMPFILE, when the C library has it and /proc/self/fd can name such a file (linkat with
    /// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc path does not).
    static let anonymousFlag: Int32? = {
        let flag = qrpay_o_tmpfile()
        guard flag != 0, access("/proc/self/fd", X_OK) == 0 else { return nil }
        return flag
    }()

    /// An anonymous file in `directory` (O_TMPFILE): it has no name until `linkAnonymous`, so a crash
    /// before that leaves nothing behind, and naming it costs one directory entry instead of a
    /// temporary name, a rename and a removal. nil where the file system or kernel has no O_TMPFILE
    /// (the caller then uses a named temporary file).
    static func openAnonymous(in directory: String, mode: mode_t) throws -> Int32? {
        guard let flag = anonymousFlag else { return nil }
        let fd = open(directory, flag | O_WRONLY | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let e = errno
            if e == EOPNOTSUPP || e == EISDIR || e == EINVAL || e == ENOSYS { return nil }
            throw error("create", directory + "/(anonymous)", e)
        }
        if !FileIO.creationKeeps(mode) { _ = fchmod(fd, mode) }
        return fd
    }

    /// Names the anonymous file `fd` as `path`, never replacing: 0 or the errno (EEXIST).
    /// linkat(fd, "", AT_EMPTY_PATH) where the kernel allows it (Linux 6.10 for a file the caller
    /// opened, else CAP_DAC_READ_SEARCH), else through /proc/self/fd.
    static func linkAnonymous(_ fd: Int32, _ path: String) -> Int32 {
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

    static func writeAll(_ fd: Int32, _ data: Data, _ path: String) throws {
        try FileIO.writeAll(fd: fd, data, path: path)
    }

    /// Writes a small JSON record durably: tmp file in `tmpDirectory`, fsync, rename over `path`
    /// (reason files are replaced on purpose), fsync of `path`'s directory left to the caller.
    static func writeRecord(_ value: JSONValue, to path: String, tmpDirectory: String, mode: mode_t) throws {
        let tmp = tmpDirectory + "/.record." + FileIO.uniqueName()
        try createFile(tmp, data: value.serialized(pretty: true), mode: mode)
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw error("rename", path, e)
        }
    }
}

/// Directories known to exist, so that a batch does not lstat (or create) them again for every
/// file. Process-wide and thread-safe; an entry is only added after the directory exists, and is
/// trusted for 10 s (a directory an operator removes under a running --watch stage comes back).
final class DirectoryCache: Sendable {
    static let shared = DirectoryCache()
    private let known = Mutex<[String: Double]>([:])
    static let lifetime = 10.0

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private func isKnown(_ path: String) -> Bool {
        let now = DirectoryCache.now()
        return known.withLock { ($0[path] ?? -1) > now }
    }

    private func remember(_ path: String) {
        let until = DirectoryCache.now() + DirectoryCache.lifetime
        known.withLock { $0[path] = until }
    }

    func ensure(_ path: String, mode: mode_t) throws {
        if isKnown(path) { return }
        try FileIO.makeDirectory(path, mode: mode)
        remember(path)
    }

    /// Forgets `path` (it was found missing).
    func forget(_ path: String) {
        known.withLock { _ = $0.removeValue(forKey: path) }
    }

    /// Makes a queue's directories (checked again every 10 s).
    func ensure(_ queue: Queue) throws {
        if isKnown(queue.path) { return }
        if !(FileIO.isDirectory(queue.tmpDirectory) && FileIO.isDirectory(queue.newDirectory)) { try queue.create() }
        remember(queue.path)
    }
}
