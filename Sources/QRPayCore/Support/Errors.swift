// Errors shared by every part of QR-Pay.
//
// Every failure a program can report is a `QRPayError`: a stable, dotted `code` that scripts and
// reason files can match on (for example `pki.password` or `payment.total-mismatch`), a sentence a
// person understands, and the sysexits(3) status the program exits with.

/// sysexits(3) exit statuses used by every QR-Pay program.
public enum SysExit: Int32, Sendable, CaseIterable {
    case ok = 0
    /// Generic "not everything succeeded" (for example: some images had no QR symbol).
    case failure = 1
    case usage = 64
    case dataError = 65
    case noInput = 66
    case software = 70
    case osError = 71
    case cantCreate = 73
    case ioError = 74
    case tempFail = 75
    case noPermission = 77
    case config = 78
}

public struct QRPayError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Stable, machine-readable code, `area.what` (never renamed once released).
    public let code: String
    /// One sentence a person understands.
    public let message: String
    /// The exit status a program reports for this error.
    public let exit: SysExit
    /// For transient errors (disk full, CRL unreadable...): the work is deferred, not quarantined.
    public var isTransient: Bool { exit == .tempFail || exit == .ioError || exit == .osError }

    public init(_ code: String, _ message: String, exit: SysExit = .dataError) {
        self.code = code
        self.message = message
        self.exit = exit
    }

    public var description: String { "\(message) [\(code)]" }
}

extension QRPayError {
    public static func usage(_ message: String) -> QRPayError {
        QRPayError("usage", message, exit: .usage)
    }
    public static func io(_ what: String, path: String, errno code: Int32) -> QRPayError {
        let transient = code == ENOSPC || code == EDQUOT || code == EAGAIN || code == EINTR || code == EMFILE || code == ENFILE
        let exit: SysExit
        switch code {
        case ENOENT: exit = .noInput
        case EACCES, EPERM: exit = .noPermission
        default: exit = transient ? .tempFail : .ioError
        }
        return QRPayError("io.\(what)", "cannot \(what) \(path): \(String(cString: strerror(code)))", exit: exit)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
