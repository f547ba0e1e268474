// Small helpers around OpenSSL 3 shared by the PKI files: the error queue, memory BIOs, times.
//
// Every OpenSSL handle has exactly one owner: a final class freeing it in deinit, or a `with…`
// closure freeing it with `defer`. No OpenSSL type leaves QRPayPKI.

internal import COpenSSL
internal import CQRPayShims
import Foundation
import QRPaySupport
#if canImport(Glibc)
import Glibc
#endif

enum OpenSSL {
    /// Drains OpenSSL's (thread-local) error queue into one line; empty when there was nothing.
    static func drainErrors() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error_all(nil, nil, nil, nil, nil)
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if messages.count < 4 { messages.append(text) }
        }
        return messages.joined(separator: "; ")
    }

    /// Clears errors that a successful path may leave behind (for example failed decoder attempts).
    static func clearErrors() { ERR_clear_error() }

    /// A QRPayError whose message ends with the drained OpenSSL error queue, if any.
    static func error(_ code: ErrorCode, _ message: String) -> QRPayError {
        let detail = drainErrors()
        return QRPayError(code, detail.isEmpty ? message : "\(message) (OpenSSL: \(detail))")
    }

    /// A failure of an operation that should not fail (allocation, signing with a good key...).
    static func internalError(_ what: String) -> QRPayError {
        error(.pkiCrypto, "OpenSSL failed to \(what)")
    }

    /// Runs `body` with a read-only memory BIO over `data`.
    static func withReadBIO<T>(_ data: Data, _ body: (OpaquePointer) throws -> T) throws -> T {
        try data.withUnsafeBytes { raw -> T in
            // An empty Data may have no base address; give OpenSSL a valid pointer with length 0.
            var empty: UInt8 = 0
            let base = raw.baseAddress ?? withUnsafePointer(to: &empty) { UnsafeRawPointer($0) }
            guard let bio = BIO_new_mem_buf(base, Int32(raw.count)) else { throw internalError("allocate a memory BIO") }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    /// Runs `body` with a writable memory BIO and returns what it wrote.
    static func writingBIO(_ body: (OpaquePointer) throws -> Bool, what: String) throws -> Data {
        guard let bio = BIO_new(BIO_s_mem()) else { throw internalError("allocate a memory BIO") }
        defer { BIO_free(bio) }
        guard try body(bio) else { throw internalError(what) }
        var pointer: UnsafeMutablePointer<CChar>? = nil
        let length = qrpay_bio_get_mem_data(UnsafeMutableRawPointer(bio), &pointer)
        guard length >= 0, let pointer else { return Data() }
        return Data(bytes: pointer, count: length)
    }

    /// ASN1_TIME → Date (through OpenSSL's own parser).
    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        guard let time else { return Date(timeIntervalSince1970: 0) }
        var tmv = tm()
        guard ASN1_TIME_to_tm(time, &tmv) == 1 else { return Date(timeIntervalSince1970: 0) }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&tmv)))
    }

    static func timeT(_ date: Date) -> time_t { time_t(date.timeIntervalSince1970.rounded(.down)) }

    /// SHA-256 through EVP.
    static func sha256(_ data: Data) -> Data {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &out, &length, EVP_sha256(), nil)
        }
        precondition(ok == 1 && length == 32, "SHA-256 failed")
        return Data(out)
    }

    /// An ASN1_STRING's bytes.
    static func bytes(ofASN1String string: UnsafePointer<ASN1_STRING>?) -> Data {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return Data() }
        return Data(bytes: data, count: Int(ASN1_STRING_length(string)))
    }

    /// Lower-case hex of an ASN1_INTEGER (serial numbers), through BIGNUM.
    static func hex(ofASN1Integer integer: UnsafePointer<ASN1_INTEGER>?) -> String {
        guard let integer, let bn = ASN1_INTEGER_to_BN(integer, nil) else { return "" }
        defer { BN_free(bn) }
        guard let text = BN_bn2hex(bn) else { return "" }
        defer { qrpay_openssl_free(text) }
        return String(cString: text).lowercased()
    }
}
