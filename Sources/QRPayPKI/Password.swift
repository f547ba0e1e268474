// A password: bytes, exactly as the owner wrote them.
//
// A password file's content is the password, byte for byte: one trailing newline ("\n") is removed,
// nothing else; it is never decoded as text, so Latin-1 or any other bytes open the same
// key every time (OpenSSL's `-passin file:` reads the same bytes). A NUL byte is refused (C APIs would
// cut the password there, so "\0secret" would be the empty password), and so is an empty password.
// The bytes live in one buffer of their own, cleared (OPENSSL_cleanse) when the value is released.

internal import COpenSSL
import Foundation
import QRPaySupport
#if canImport(Glibc)
import Glibc
#endif

package final class Password: @unchecked Sendable, ExpressibleByStringLiteral {
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    /// The number of bytes.
    package var count: Int { buffer.count }

    /// The password `bytes`. Throws `password.empty` for no bytes, `password.nul` for a NUL byte.
    package init<Bytes: Collection>(bytes: Bytes, what: String = "the password") throws where Bytes.Element == UInt8 {
        guard !bytes.isEmpty else { throw QRPayError(.pkiPasswordEmpty, "\(what) is empty: a key needs a password of at least one byte.") }
        guard !bytes.contains(0) else {
            throw QRPayError(.pkiPasswordNUL, "\(what) holds a NUL byte: C programs would read it only up to that byte. Use a password without NUL bytes.")
        }
        buffer = .allocate(capacity: bytes.count)
        _ = buffer.initialize(from: bytes)
    }

    /// The UTF-8 bytes of `text` (for passwords typed as text in code: tests, the bench).
    package convenience init(_ text: String) throws { try self.init(bytes: Array(text.utf8)) }

    /// A literal password in code (tests, the bench, fixtures); a literal with NUL or empty traps.
    package convenience init(stringLiteral text: String) {
        do { try self.init(bytes: Array(text.utf8)) } catch { preconditionFailure("a password literal must be non-empty and hold no NUL") }
    }

    deinit {
        OPENSSL_cleanse(buffer.baseAddress, buffer.count)
        buffer.deallocate()
    }

    /// Calls `body` with the bytes and their count, as OpenSSL's password parameters take them.
    func withBytes<T>(_ body: (UnsafePointer<CChar>, Int32) throws -> T) rethrows -> T {
        try buffer.withMemoryRebound(to: CChar.self) { try body(UnsafePointer($0.baseAddress!), Int32($0.count)) }
    }

    /// True when both hold the same bytes (compared in constant time).
    package func matches(_ other: Password) -> Bool {
        guard count == other.count else { return false }
        return CRYPTO_memcmp(buffer.baseAddress, other.buffer.baseAddress, count) == 0
    }

    /// The largest password file read (a password is a line, not a document).
    package static let maxFileBytes = 4096

    /// Reads the password file at `path`: its bytes, one trailing newline removed. `what` names the
    /// file in errors ("the PG's password file (--password-file)").
    package static func read(file path: String, what: String = "password file") throws -> Password {
        var data: Data
        do {
            data = try FileIO.read(path, maxBytes: maxFileBytes)
        } catch let error as QRPayError {
            throw QRPayError(error.code == .ioNotFound ? .pkiPasswordMissingFile : .pkiPasswordFile, "cannot read \(what) \(path): \(error.message)")
        }
        defer { data.resetBytes(in: 0..<data.count) }
        var end = data.count
        if end > 0, data[end - 1] == 0x0A { end -= 1 }
        return try Password(bytes: data[0..<end], what: "\(what) \(path)")
    }

    /// Reads a password from standard input (`--password-stdin`): up to the first newline.
    package static func readStandardInput(what: String = "the password on standard input") throws -> Password {
        var bytes: [UInt8] = []
        defer { for i in bytes.indices { bytes[i] = 0 } }
        var byte: UInt8 = 0
        while bytes.count <= maxFileBytes {
            let n = Glibc.read(0, &byte, 1)
            if n < 0 { if errno == EINTR { continue }; throw QRPayError.io("read", path: "standard input", errno: errno) }
            if n == 0 || byte == 0x0A { break }
            bytes.append(byte)
        }
        return try Password(bytes: bytes, what: what)
    }

    /// Reads a password from the terminal without echo (the prompt goes to the terminal too).
    /// Throws `password.terminal` when there is no terminal.
    package static func readTerminal(prompt: String) throws -> Password {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw QRPayError(.pkiPasswordTerminal, "there is no terminal to ask for the password: give --password-file FILE or --password-stdin") }
        defer { close(fd) }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { throw QRPayError(.pkiPasswordTerminal, "standard input is not a terminal: give --password-file FILE or --password-stdin") }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        quiet.c_lflag |= tcflag_t(ICANON)
        _ = prompt.withCString { Glibc.write(fd, $0, strlen($0)) }
        _ = tcsetattr(fd, TCSAFLUSH, &quiet)
        defer {
            _ = tcsetattr(fd, TCSAFLUSH, &saved)
            _ = "\n".withCString { Glibc.write(fd, $0, 1) }
        }
        var bytes: [UInt8] = []
        defer { for i in bytes.indices { bytes[i] = 0 } }
        var byte: UInt8 = 0
        while bytes.count <= maxFileBytes {
            let n = Glibc.read(fd, &byte, 1)
            if n < 0 { if errno == EINTR { continue }; throw QRPayError.io("read", path: "/dev/tty", errno: errno) }
            if n == 0 || byte == 0x0A { break }
            bytes.append(byte)
        }
        return try Password(bytes: bytes, what: "the password typed")
    }
}

/// How a new private key is protected: PBES2 with scrypt (cost N, block size r, parallelism p) and
/// AES-256-CBC.
package struct KeyProtection: Sendable, Equatable {
    package let n: UInt64, r: UInt64, p: UInt64

    package init(n: UInt64, r: UInt64, p: UInt64) { self.n = n; self.r = r; self.p = p }

    /// What QR-Pay makes: N = 2^17, r = 8, p = 1 (OWASP's guidance; 128 MiB and a fraction of a second
    /// to derive).
    package static let standard = KeyProtection(n: 1 << 17, r: 8, p: 1)
    /// What QR-Pay made before (N = 2^14, r = 8, p = 1; OpenSSL 3.0's own scrypt default): still read;
    /// for test fixtures that unlock keys hundreds of times.
    package static let legacy = KeyProtection(n: 1 << 14, r: 8, p: 1)
    /// PBKDF2 keys (made by other tools) are read only with at least this many iterations.
    package static let minimumPBKDF2Iterations: UInt64 = 100_000
}
