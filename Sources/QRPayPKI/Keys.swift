// EC P-256 key pairs: generation, encrypted PKCS#8 PEM, ECDSA-SHA256 signatures (raw r||s and DER).
//
// Private keys on disk are always encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY"): PBES2 with scrypt
// (N = 2^17, r = 8, p = 1: OWASP's guidance; 16-byte salt) and AES-256-CBC, all through OpenSSL.
// OpenSSL 3.0 caps scrypt at 32 MiB when it derives a PBES2 key itself, which N = 2^17 exceeds
// (128 MiB); the C shim qrpay_pkcs8_strong_scrypt registers the same derivation with a higher cap
// through OpenSSL's PBE table, so OpenSSL's PKCS8 code reads and writes these keys. The `openssl`
// command of OpenSSL 3.0 keeps its cap and cannot open them; keys made before (N = 2^14) it can.
// Reading refuses weak schemes before trying a password: PBES1 (MD5/SHA-1 with DES or RC2) and PBKDF2
// under 100,000 iterations. Unencrypted keys are never read.

internal import COpenSSL
internal import CQRPayShims
import Foundation
import QRPaySupport
import Synchronization

/// Owns one EVP_PKEY.
final class EVPKey: @unchecked Sendable {
    let pointer: OpaquePointer
    /// Takes ownership of `pointer`.
    init(owning pointer: OpaquePointer) { self.pointer = pointer }
    /// Shares `pointer` (up-ref).
    init(sharing pointer: OpaquePointer) {
        EVP_PKEY_up_ref(pointer)
        self.pointer = pointer
    }
    deinit { EVP_PKEY_free(pointer) }

    /// True for an EC key on P-256.
    var isP256: Bool {
        guard EVP_PKEY_get_base_id(pointer) == EVP_PKEY_EC else { return false }
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_utf8_string_param(pointer, OSSL_PKEY_PARAM_GROUP_NAME, &name, name.count, &length) == 1 else {
            OpenSSL.clearErrors()
            return false
        }
        let group = name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return group == "prime256v1" || group == "P-256" || group == "secp256r1"
    }
}

package final class PrivateKey: @unchecked Sendable {
    let key: EVPKey
    /// The fingerprint of the last certificate `matches` confirmed (a stage signs every notice with
    /// one key and one certificate: compare the key once, not per signature).
    private let matchedFingerprint = Mutex<String?>(nil)

    init(key: EVPKey) { self.key = key }

    /// A fresh P-256 key pair.
    package static func generate() throws -> PrivateKey {
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { throw OpenSSL.internalError("create a key context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var pkey: OpaquePointer? = nil
        guard EVP_PKEY_keygen_init(ctx) == 1, EVP_PKEY_CTX_set_group_name(ctx, "P-256") == 1,
              EVP_PKEY_generate(ctx, &pkey) == 1, let pkey else {
            throw OpenSSL.internalError("generate a P-256 key")
        }
        return PrivateKey(key: EVPKey(owning: pkey))
    }

    /// Opens an encrypted PKCS#8 PEM ("ENCRYPTED PRIVATE KEY").
    /// Throws `pki.pem` for anything that is not one, `pki.key-scheme` for a weak protection (PBES1,
    /// PBKDF2 under 100,000 iterations), `pki.password` (exit 77) when `password` does not open it.
    package convenience init(encryptedPEM: Data, password: Password) throws {
        guard qrpay_pkcs8_strong_scrypt() == 1 else { throw OpenSSL.internalError("register scrypt with a memory limit for N = 2^17") }
        let sig: OpaquePointer = try OpenSSL.withReadBIO(encryptedPEM) { bio in
            guard let sig = PEM_read_bio_PKCS8(bio, nil, nil, nil) else {
                throw OpenSSL.error(.pkiPEM, "The private key file is not an encrypted PKCS#8 PEM key (it may be truncated or damaged).")
            }
            return sig
        }
        defer { X509_SIG_free(sig) }
        try PrivateKey.checkProtection(UnsafeRawPointer(sig))
        let p8 = password.withBytes { pass, length in PKCS8_decrypt(sig, pass, length) }
        guard let p8 else {
            throw OpenSSL.error(.pkiPassword, "The password does not open this private key.")
        }
        defer { PKCS8_PRIV_KEY_INFO_free(p8) }
        guard let pkey = EVP_PKCS82PKEY(p8) else {
            // Decryption with a wrong password can, rarely, end in valid padding and yield garbage.
            throw OpenSSL.error(.pkiPassword, "The password does not open this private key.")
        }
        let key = EVPKey(owning: pkey)
        guard key.isP256 else {
            throw QRPayError(.pkiPEM, "The private key is not an EC P-256 key; QR-Pay uses P-256 only.")
        }
        OpenSSL.clearErrors()
        self.init(key: key)
    }

    /// `init(encryptedPEM:password:)` with a text password (its UTF-8 bytes).
    package convenience init(encryptedPEM: Data, password: String) throws {
        try self.init(encryptedPEM: encryptedPEM, password: try Password(password))
    }

    /// How an EncryptedPrivateKeyInfo (X509_SIG) is protected; throws `pki.key-scheme` when weak.
    static func checkProtection(_ sig: UnsafeRawPointer) throws {
        var cost: UInt64 = 0, blockSize: UInt64 = 0, parallel: UInt64 = 0
        switch Int(qrpay_pkcs8_scheme(sig, &cost, &blockSize, &parallel)) {
        case Int(QRPAY_PKCS8_SCRYPT):
            return
        case Int(QRPAY_PKCS8_PBKDF2):
            guard cost >= KeyProtection.minimumPBKDF2Iterations else {
                throw QRPayError(.pkiKeyScheme, "The private key is protected by PBKDF2 with \(cost) iterations, fewer than \(KeyProtection.minimumPBKDF2Iterations): re-encrypt it (`openssl pkcs8 -topk8 -scrypt`) or make a new key with `qrpay-ca request`.")
            }
        case Int(QRPAY_PKCS8_PBES1):
            throw QRPayError(.pkiKeyScheme, "The private key is protected by PBES1 (PKCS#5 v1.5 or PKCS#12: MD5 or SHA-1 with DES, 3DES or RC2), which QR-Pay refuses as weak: re-encrypt it with PBES2 (`openssl pkcs8 -topk8 -scrypt`) or make a new key with `qrpay-ca request`.")
        default:
            throw QRPayError(.pkiKeyScheme, "The private key's encryption scheme is not one QR-Pay reads (PBES2 with scrypt, or PBKDF2 of at least \(KeyProtection.minimumPBKDF2Iterations) iterations).")
        }
    }

    /// Encrypted PKCS#8 PEM: PBES2, scrypt (`protection`, N = 2^17 by default), AES-256-CBC, a random
    /// 16-byte salt and IV.
    package func encryptedPEM(password: Password, protection: KeyProtection = .standard) throws -> Data {
        guard qrpay_pkcs8_strong_scrypt() == 1 else { throw OpenSSL.internalError("register scrypt with a memory limit for N = 2^17") }
        guard let p8 = EVP_PKEY2PKCS8(key.pointer) else { throw OpenSSL.internalError("export the private key") }
        defer { PKCS8_PRIV_KEY_INFO_free(p8) }
        var salt = [UInt8](repeating: 0, count: 16), iv = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&salt, Int32(salt.count)) == 1, RAND_bytes(&iv, Int32(iv.count)) == 1 else {
            throw OpenSSL.internalError("draw a random salt and IV")
        }
        guard let raw = qrpay_pkcs8_scrypt_algorithm(salt, Int32(salt.count), iv, protection.n, protection.r, protection.p) else {
            throw OpenSSL.internalError("set up scrypt key encryption")
        }
        let algorithm = raw.assumingMemoryBound(to: X509_ALGOR.self)
        let sig = password.withBytes { pass, length in PKCS8_set0_pbe_ex(pass, length, p8, algorithm, nil, nil) }
        guard let sig else {
            X509_ALGOR_free(algorithm)  // only owned by the X509_SIG on success
            throw OpenSSL.internalError("encrypt the private key")
        }
        defer { X509_SIG_free(sig) }
        return try OpenSSL.writingBIO({ PEM_write_bio_PKCS8($0, sig) == 1 }, what: "write the encrypted key")
    }

    /// `encryptedPEM(password:protection:)` with a text password (its UTF-8 bytes).
    package func encryptedPEM(password: String, protection: KeyProtection = .standard) throws -> Data {
        try encryptedPEM(password: try Password(password), protection: protection)
    }

    /// ECDSA P-256 with SHA-256; the raw 64-byte r||s form JWS ES256 uses.
    package func sign(_ message: Data) throws -> Data {
        let der = try signDER(message)
        guard let raw = ECDSASignature.raw(fromDER: der) else { throw OpenSSL.internalError("convert the signature") }
        return raw
    }

    /// ECDSA P-256 with SHA-256, DER-encoded (as X.509 and `openssl dgst` use).
    package func signDER(_ message: Data) throws -> Data {
        guard let ctx = EVP_MD_CTX_new() else { throw OpenSSL.internalError("allocate a digest context") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, key.pointer) == 1 else {
            throw OpenSSL.internalError("start signing")
        }
        return try message.withUnsafeBytes { raw -> Data in
            let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self)
            var length = 0
            guard EVP_DigestSign(ctx, nil, &length, base, raw.count) == 1 else { throw OpenSSL.internalError("size the signature") }
            var out = [UInt8](repeating: 0, count: length)
            guard EVP_DigestSign(ctx, &out, &length, base, raw.count) == 1 else { throw OpenSSL.internalError("sign") }
            return Data(out[0..<length])
        }
    }

    package var publicKey: PublicKey { PublicKey(key: key) }

    /// True when `certificate` certifies this key.
    package func matches(_ certificate: Certificate) -> Bool {
        let fingerprint = certificate.fingerprint
        if matchedFingerprint.withLock({ $0 == fingerprint }) { return true }
        guard EVP_PKEY_eq(key.pointer, certificate.publicKey.key.pointer) == 1 else { return false }
        matchedFingerprint.withLock { $0 = fingerprint }
        return true
    }
}

package final class PublicKey: @unchecked Sendable {
    let key: EVPKey

    init(key: EVPKey) { self.key = key }

    /// A P-256 public key from SubjectPublicKeyInfo DER.
    package convenience init(spkiDER: Data) throws {
        let pkey: OpaquePointer? = spkiDER.withUnsafeBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
            var cursor: UnsafePointer<UInt8>? = base
            let key = d2i_PUBKEY(nil, &cursor, raw.count)
            // The whole input must be the key: no trailing bytes.
            if key != nil, cursor != base + raw.count { EVP_PKEY_free(key); return nil }
            return key
        }
        guard let pkey else { throw OpenSSL.error(.pkiPEM, "The data is not a DER public key.") }
        try self.init(checking: EVPKey(owning: pkey))
    }

    /// A P-256 public key from a "PUBLIC KEY" PEM.
    package convenience init(pem: Data) throws {
        let pkey = try OpenSSL.withReadBIO(pem) { PEM_read_bio_PUBKEY($0, nil, nil, nil) }
        guard let pkey else { throw OpenSSL.error(.pkiPEM, "The data is not a PEM public key.") }
        try self.init(checking: EVPKey(owning: pkey))
    }

    /// A P-256 public key from its uncompressed point 04||x||y (65 bytes), as JWK x/y give it.
    package convenience init(uncompressedPoint point: Data) throws {
        guard point.count == 65, point.first == 0x04 else {
            throw QRPayError(.pkiPEM, "A P-256 public point is 65 bytes starting with 04.")
        }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { throw OpenSSL.internalError("create a key context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var pkey: OpaquePointer? = nil
        // OSSL_PARAM keeps pointers to its key and value strings: all must outlive EVP_PKEY_fromdata.
        let ok: Bool = point.withUnsafeBytes { raw in
            OSSL_PKEY_PARAM_GROUP_NAME.withCString { groupKey in
                OSSL_PKEY_PARAM_PUB_KEY.withCString { pubKey in
                    "prime256v1".withCString { group in
                        var params = [
                            OSSL_PARAM_construct_utf8_string(groupKey, UnsafeMutablePointer(mutating: group), 0),
                            OSSL_PARAM_construct_octet_string(pubKey, UnsafeMutableRawPointer(mutating: raw.baseAddress!), raw.count),
                            OSSL_PARAM_construct_end(),
                        ]
                        return EVP_PKEY_fromdata_init(ctx) == 1
                            && EVP_PKEY_fromdata(ctx, &pkey, qrpay_evp_pkey_public_key_selection(), &params) == 1
                    }
                }
            }
        }
        guard ok, let pkey else { throw OpenSSL.error(.pkiPEM, "The point is not on the P-256 curve.") }
        try self.init(checking: EVPKey(owning: pkey))
    }

    private convenience init(checking key: EVPKey) throws {
        guard key.isP256 else { throw QRPayError(.pkiPEM, "The public key is not an EC P-256 key.") }
        OpenSSL.clearErrors()
        self.init(key: key)
    }

    /// SubjectPublicKeyInfo DER.
    package var spkiDER: Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_PUBKEY(key.pointer, &out)
        guard length > 0, let out else { return Data() }
        defer { qrpay_openssl_free(out) }
        return Data(bytes: out, count: Int(length))
    }

    /// Verifies a raw r||s (IEEE P1363) ECDSA-SHA256 signature. Any length but 64 is false.
    package func verify(signature raw: Data, message: Data) -> Bool {
        guard raw.count == 64, let der = ECDSASignature.der(fromRaw: raw) else { return false }
        return verify(derSignature: der, message: message)
    }

    /// Verifies a DER ECDSA-SHA256 signature (OpenSSL refuses non-DER BER encodings).
    package func verify(derSignature: Data, message: Data) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer {
            EVP_MD_CTX_free(ctx)
            OpenSSL.clearErrors()
        }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, key.pointer) == 1 else { return false }
        return derSignature.withUnsafeBytes { sig in
            message.withUnsafeBytes { msg in
                var empty: UInt8 = 0
                return withUnsafePointer(to: &empty) { emptyPointer in
                    let s = sig.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyPointer
                    let m = msg.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyPointer
                    return EVP_DigestVerify(ctx, s, sig.count, m, msg.count) == 1
                }
            }
        }
    }
}

/// Conversions between DER ECDSA-Sig-Value and raw r||s, through OpenSSL's ECDSA_SIG.
enum ECDSASignature {
    static func raw(fromDER der: Data) -> Data? {
        der.withUnsafeBytes { raw -> Data? in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
            var cursor: UnsafePointer<UInt8>? = base
            guard let sig = d2i_ECDSA_SIG(nil, &cursor, raw.count) else { return nil }
            defer { ECDSA_SIG_free(sig) }
            var r: OpaquePointer? = nil
            var s: OpaquePointer? = nil
            ECDSA_SIG_get0(sig, &r, &s)
            var out = [UInt8](repeating: 0, count: 64)
            guard BN_bn2binpad(r, &out, 32) == 32 else { return nil }
            guard out.withUnsafeMutableBufferPointer({ BN_bn2binpad(s, $0.baseAddress! + 32, 32) }) == 32 else { return nil }
            return Data(out)
        }
    }

    static func der(fromRaw raw: Data) -> Data? {
        guard raw.count == 64 else { return nil }
        let bytes = [UInt8](raw)
        guard let sig = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(sig) }
        guard let r = BN_bin2bn(bytes, 32, nil) else { return nil }
        guard let s = bytes.withUnsafeBufferPointer({ BN_bin2bn($0.baseAddress! + 32, 32, nil) }) else { BN_free(r); return nil }
        guard ECDSA_SIG_set0(sig, r, s) == 1 else { BN_free(r); BN_free(s); return nil }
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_ECDSA_SIG(sig, &out)
        guard length > 0, let out else { return nil }
        defer { qrpay_openssl_free(out) }
        return Data(bytes: out, count: Int(length))
    }
}
