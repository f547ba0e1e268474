// X.509 certificates of QR-Pay: the CA root and leaf certificates binding a role and an id
// (SAN URI `qrpay:<role>:<id>`) and a display name (subject CN) to a P-256 key.

internal import COpenSSL
internal import CQRPayShims
import Foundation
import QRPaySupport

/// Owns one X509.
final class X509Handle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(owning pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(pointer) }
}

package final class Certificate: @unchecked Sendable, CustomStringConvertible {
    let handle: X509Handle
    package let der: Data
    /// base64url(SHA-256(DER)): the JWS `x5t#S256` header value.
    package let fingerprint: String
    package let role: Role?
    package let id: String?
    package let displayName: String
    package let serialHex: String
    package let notBefore: Date
    package let notAfter: Date
    package let publicKey: PublicKey
    /// The QR-Pay roles its extendedKeyUsage allows (see `Role.purposeOID`).
    package let purposes: Set<Role>
    /// basicConstraints is present and says CA:FALSE (an end entity that can never sign certificates).
    package let isEndEntity: Bool

    /// Takes ownership of `x509`.
    init(owning x509: OpaquePointer) throws {
        handle = X509Handle(owning: x509)
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_X509(x509, &out)
        guard length > 0, let out else { throw OpenSSL.error(.pkiPEM, "The certificate cannot be encoded.") }
        der = Data(bytes: out, count: Int(length))
        qrpay_openssl_free(out)
        fingerprint = Base64URL.encode(OpenSSL.sha256(der))
        guard let pkey = X509_get0_pubkey(x509) else {
            throw OpenSSL.error(.pkiPEM, "The certificate's public key cannot be read.")
        }
        let key = EVPKey(sharing: pkey)
        guard key.isP256 else { throw QRPayError(.pkiPEM, "The certificate's key is not an EC P-256 key.") }
        publicKey = PublicKey(key: key)
        serialHex = OpenSSL.hex(ofASN1Integer: X509_get0_serialNumber(x509))
        notBefore = OpenSSL.date(X509_get0_notBefore(x509))
        notAfter = OpenSSL.date(X509_get0_notAfter(x509))
        displayName = Certificate.commonName(X509_get_subject_name(x509)) ?? ""
        let binding = Certificate.binding(x509)
        role = binding?.role
        id = binding?.id
        purposes = Certificate.purposes(x509)
        isEndEntity = X509_get_extension_flags(x509) & UInt32(EXFLAG_BCONS) != 0 && X509_check_ca(x509) == 0
        OpenSSL.clearErrors()
    }

    package convenience init(pem: Data) throws {
        let x509 = try OpenSSL.withReadBIO(pem) { PEM_read_bio_X509($0, nil, nil, nil) }
        guard let x509 else { throw OpenSSL.error(.pkiPEM, "The data is not a PEM certificate (it may be truncated or damaged).") }
        try self.init(owning: x509)
    }

    package convenience init(der: Data) throws {
        let x509: OpaquePointer? = der.withUnsafeBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
            var cursor: UnsafePointer<UInt8>? = base
            let x = d2i_X509(nil, &cursor, raw.count)
            if x != nil, cursor != base + raw.count { X509_free(x); return nil }
            return x
        }
        guard let x509 else { throw OpenSSL.error(.pkiPEM, "The data is not a DER certificate.") }
        try self.init(owning: x509)
    }

    package var pem: Data {
        (try? OpenSSL.writingBIO({ PEM_write_bio_X509($0, handle.pointer) == 1 }, what: "write a certificate")) ?? Data()
    }

    package var description: String {
        "\(role.map { "\($0.rawValue):\(id ?? "?")" } ?? "certificate") \"\(displayName)\" serial \(serialHex)"
    }

    /// True for a CA certificate (basicConstraints CA:TRUE).
    var isCA: Bool { X509_check_ca(handle.pointer) != 0 }

    /// keyUsage includes digitalSignature (an absent keyUsage does not count).
    var allowsDigitalSignature: Bool {
        let usage = X509_get_key_usage(handle.pointer)
        return X509_get_extension_flags(handle.pointer) & UInt32(EXFLAG_KUSAGE) != 0
            && usage & UInt32(KU_DIGITAL_SIGNATURE) != 0
    }

    static func commonName(_ name: OpaquePointer?) -> String? {
        guard let name else { return nil }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index),
              let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>? = nil
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { qrpay_openssl_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    /// The single `qrpay:<role>:<id>` SAN URI; nil when absent, malformed or ambiguous.
    static func binding(_ x509: OpaquePointer) -> (role: Role, id: String)? {
        guard let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) else { return nil }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        var found: [(Role, String)] = []
        for i in 0..<OPENSSL_sk_num(names) {
            guard let item = OPENSSL_sk_value(names, i) else { continue }
            let name = item.assumingMemoryBound(to: GENERAL_NAME.self)
            guard name.pointee.type == GEN_URI else { continue }
            let text = String(decoding: OpenSSL.bytes(ofASN1String: name.pointee.d.uniformResourceIdentifier), as: UTF8.self)
            // URI schemes are case-insensitive (RFC 3986 §3.1): "QRPAY:shop:1002" is a binding too,
            // and one beside another makes the certificate ambiguous.
            guard let colon = text.firstIndex(of: ":"), text[..<colon].lowercased() == "qrpay" else { continue }
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, let role = Role(rawValue: String(parts[1])), Identifier.isValid(String(parts[2])) else { return nil }
            found.append((role, String(parts[2])))
        }
        return found.count == 1 ? found[0] : nil
    }

    /// The roles named by the QR-Pay purposes in extendedKeyUsage.
    static func purposes(_ x509: OpaquePointer) -> Set<Role> {
        guard let raw = X509_get_ext_d2i(x509, NID_ext_key_usage, nil, nil) else { return [] }
        let list = OpaquePointer(raw)
        defer { EXTENDED_KEY_USAGE_free(list) }
        var out = Set<Role>()
        for i in 0..<OPENSSL_sk_num(list) {
            guard let item = OPENSSL_sk_value(list, i) else { continue }
            var buffer = [CChar](repeating: 0, count: 128)
            let n = OBJ_obj2txt(&buffer, Int32(buffer.count), OpaquePointer(item), 1)
            guard n > 0, n < buffer.count else { continue }
            let oid = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if let role = Role.allCases.first(where: { $0.purposeOID == oid }) { out.insert(role) }
        }
        return out
    }
}
