// Verifying certificates and signed documents against the spool's CA.
//
// A TrustStore trusts exactly one root, ROOT/ca/ca.pem. Verifying a leaf for a claimed role and id
// checks: the chain to the root (OpenSSL X509_verify_cert), validity at the given time (leaf and
// root), keyUsage digitalSignature and not a CA, the SAN binding qrpay:<role>:<id>, and revocation
// against ROOT/ca/crl.pem, which must be present, signed by the root and not past its nextUpdate
// (fail closed: a missing or stale CRL is a temporary failure, exit 75, so stages defer the work).
// "Stale" means nextUpdate is before the later of `at` and now: an old document is checked against
// today's revocations, never against an outdated list.
//
// The chain is built once per certificate: positive results are cached by fingerprint. Time and
// binding are re-checked on every call (they are cheap comparisons), and revocation is looked up in
// the current CRL, which is re-read whenever its inode, size or mtime changes; so the cache honours
// expiry and revocation. The store is thread-safe.

internal import COpenSSL
import Foundation
import QRPaySupport
import QRPaySpool
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Owns one X509_STORE holding the root.
final class X509StoreHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(root: Certificate) throws {
        guard let store = X509_STORE_new() else { throw OpenSSL.internalError("allocate a trust store") }
        pointer = store
        guard X509_STORE_add_cert(store, root.handle.pointer) == 1 else { throw OpenSSL.internalError("add the root") }
    }
    deinit { X509_STORE_free(pointer) }
}

package final class TrustStore: Sendable {
    package let layout: SpoolLayout
    package let root: Certificate
    private let store: X509StoreHandle

    private struct CRLState: Sendable {
        var inode: UInt64, size: Int64, mtimeSeconds: Int, mtimeNanoseconds: Int
        var number: Int64
        var thisUpdate: Date
        var nextUpdate: Date
        /// Revoked serial → its revocation date.
        var revoked: [String: Date]
    }
    /// Where the newest CRL seen is remembered (the PG's `pg/crl-state.json`), so that an older CRL
    /// copied back (un-revoking someone) is refused; nil for programs that may not write there.
    package let crlStatePath: String?
    private struct Caches: Sendable {
        var crl: CRLState?
        /// Fingerprints whose chain and key usage verified.
        var chainVerified: Set<String> = []
        /// Certificates read from the CA repository, by fingerprint.
        var certificates: [String: Certificate] = [:]
        /// How many chains were built (X509_verify_cert calls): the cache keeps this at one per certificate.
        var chainBuilds = 0
    }
    private let caches = Mutex(Caches())
    var chainBuilds: Int { caches.withLock { $0.chainBuilds } }
    package var spoolRoot: String { layout.root }

    /// Loads ROOT/ca/ca.pem (`ca.missing` when there is none). The CRL is read lazily.
    /// `remembersCRL`: keep the newest CRL's number and thisUpdate in pg/crl-state.json and refuse
    /// older ones (the PG's stages and operator commands).
    package init(spoolRoot: String, remembersCRL: Bool = false) throws {
        layout = SpoolLayout(root: spoolRoot)
        crlStatePath = remembersCRL ? layout.crlState : nil
        let path = layout.caCertificate
        guard FileIO.exists(path) else {
            throw QRPayError(.caMissing, "There is no CA certificate at \(path); create the CA with `qrpay-ca init`.")
        }
        root = try Certificate(pem: try FileIO.read(path))
        guard root.isCA else { throw QRPayError(.caNotCA, "\(path) is not a CA certificate.") }
        store = try X509StoreHandle(root: root)
    }

    /// A certificate the CA issued, by its fingerprint (`pki.unknown-certificate` when there is none).
    package func certificate(fingerprint: String) throws -> Certificate {
        guard fingerprint.utf8.count == 43, Base64URL.decode(fingerprint)?.count == 32 else {
            throw QRPayError(.pkiUnknownCertificate, "\"\(fingerprint.prefix(64))\" is not a certificate fingerprint.")
        }
        if let cached = caches.withLock({ $0.certificates[fingerprint] }) { return cached }
        let path = layout.issuedCertificate(fingerprint: fingerprint)
        guard FileIO.exists(path) else {
            throw QRPayError(.pkiUnknownCertificate, "The CA has not issued a certificate with fingerprint \(fingerprint).")
        }
        let cert = try Certificate(pem: try FileIO.read(path))
        guard cert.fingerprint == fingerprint else {
            throw QRPayError(.caRepository, "The CA repository file for \(fingerprint) holds another certificate.")
        }
        caches.withLock { $0.certificates[fingerprint] = cert }
        return cert
    }

    /// The current certificate of `role`/`id` in the CA repository.
    package func currentCertificate(role: Role, id: String) throws -> Certificate {
        try Identifier.validate(id, what: "\(role.rawValue) id")
        let path = layout.currentCertificate(role: role, id: id)
        guard FileIO.exists(path) else {
            throw QRPayError(.pkiUnknownCertificate, "The CA has no current certificate for \(role.rawValue) \(id).")
        }
        return try Certificate(pem: try FileIO.read(path))
    }

    /// The payment gateway's current certificate, verified now (chain, role pg, validity, CRL): the
    /// newest valid one the CA published in ca/certs/pg/ (or pg/cert.pem on a single-host spool).
    package func currentPGCertificate(at now: Date = Date()) throws -> Certificate {
        var candidates: [Certificate] = []
        let dir = layout.certificatesDirectory(role: .pg)
        for name in try FileIO.listDirectory(dir).sorted() where name.hasSuffix(".pem") {
            candidates.append(try Certificate(pem: try FileIO.read(dir + "/" + name)))
        }
        if let pem = try FileIO.readIfExists(layout.certificateFile(role: .pg, id: "")) { candidates.append(try Certificate(pem: pem)) }
        var lastError: QRPayError?
        for cert in candidates.sorted(by: { $0.notBefore > $1.notBefore }) {
            do {
                try verify(cert, role: .pg, id: nil, at: now)
                return cert
            } catch let e as QRPayError {
                if e.isTransient { throw e }  // no usable CRL: try again later
                lastError = e
            }
        }
        throw lastError ?? QRPayError(.pkiPG, "The CA has published no certificate of the PG in \(dir).")
    }

    /// Verifies `certificate` for `role` and `id` (nil: any id of that role) at time `at`: the chain,
    /// its validity at `at`, the role's purpose (extendedKeyUsage) and binding, and revocation by the
    /// current CRL as of `at` (a certificate revoked after `at` still vouches for what it signed before).
    package func verify(_ certificate: Certificate, role: Role, id: String?, at: Date) throws {
        // 1. Chain to our root and key usage: once per certificate.
        let known = caches.withLock { $0.chainVerified.contains(certificate.fingerprint) }
        if !known {
            try verifyChain(certificate)
            caches.withLock { _ = $0.chainVerified.insert(certificate.fingerprint) }
        }
        // 2. Validity at `at`, of the leaf and of the root.
        for cert in [certificate, root] {
            if at < cert.notBefore {
                throw QRPayError(.pkiNotYetValid, "The certificate \(cert) is not valid before \(Timestamp.format(cert.notBefore)) (checked at \(Timestamp.format(at))).")
            }
            if at > cert.notAfter {
                throw QRPayError(.pkiExpired, "The certificate \(cert) expired at \(Timestamp.format(cert.notAfter)) (checked at \(Timestamp.format(at))).")
            }
        }
        // 3. Role and id binding.
        guard let certRole = certificate.role, let certId = certificate.id else {
            throw QRPayError(.pkiWrongRole, "The certificate \(certificate) binds no QR-Pay role and id.")
        }
        guard certRole == role else {
            throw QRPayError(.pkiWrongRole, "The certificate belongs to \(certRole.rawValue) \(certId), not to a \(role.rawValue).")
        }
        guard certificate.purposes.contains(role) else {
            throw QRPayError(.pkiKeyUsage, "The certificate of \(certRole.rawValue) \(certId) has no QR-Pay \(role.rawValue) purpose in its extendedKeyUsage (\(role.purposeOID)).")
        }
        if let id, certId != id {
            throw QRPayError(.pkiWrongID, "The certificate belongs to \(role.rawValue) \(certId), not to \(role.rawValue) \(id).")
        }
        // 4. Revocation, against a present and fresh CRL.
        let state = try currentCRL()
        let now = Date()
        if state.nextUpdate < max(at, now) {
            throw QRPayError(.pkiCRLStale, "The CRL's nextUpdate \(Timestamp.format(state.nextUpdate)) has passed; run `qrpay-ca crl` to issue a fresh one.")
        }
        if let revokedAt = state.revoked[certificate.serialHex], revokedAt <= at {
            throw QRPayError(.pkiRevoked, "The certificate of \(certRole.rawValue) \(certId) (serial \(certificate.serialHex)) was revoked at \(Timestamp.format(revokedAt)).")
        }
    }

    /// The current CRL's number, thisUpdate and nextUpdate (`pki.crl-missing`/`-invalid` when it cannot
    /// be used; a stale CRL is returned as it is: the caller judges its nextUpdate).
    package func crlTimes() throws -> (number: Int64, thisUpdate: Date, nextUpdate: Date) {
        let state = try currentCRL()
        return (state.number, state.thisUpdate, state.nextUpdate)
    }

    /// When `certificate` was revoked, by the current CRL; nil when it is not.
    package func revocation(of certificate: Certificate) throws -> Date? {
        try currentCRL().revoked[certificate.serialHex]
    }

    /// Verifies a signed document: its kind, its signer's certificate for `role`/`id` at `at`, its signature.
    package func verify(_ jws: JWS, type: DocumentType, role: Role, id: String?, at: Date) throws -> VerifiedDocument {
        guard jws.type == type.rawValue else {
            throw QRPayError(.jwsType, "The signed document is a \"\(jws.type.prefix(40))\", not a \"\(type.rawValue)\".")
        }
        let signer = try certificate(fingerprint: jws.fingerprint)
        try verify(signer, role: role, id: id, at: at)
        guard jws.verifySignature(with: signer.publicKey) else {
            throw QRPayError(.jwsBadSignature, "The signature of the \(type.rawValue) document does not verify with the certificate of \(signer.role?.rawValue ?? "?") \(signer.id ?? "?").")
        }
        return VerifiedDocument(payload: jws.payload, signer: signer, role: role, id: signer.id ?? "")
    }

    /// The certificate of `role` `id` whose key made `jws`'s signature, when the CA issued it (it
    /// chains to this CA's root, carries the role's purpose and id), whatever its validity or
    /// revocation now; nil otherwise. For telling a party that something it signed was refused
    /// (its certificate may be the reason), never for believing a document.
    package func issuedSigner(of jws: JWS, role: Role, id: String) -> Certificate? {
        guard let signer = try? certificate(fingerprint: jws.fingerprint) else { return nil }
        let known = caches.withLock { $0.chainVerified.contains(signer.fingerprint) }
        if !known {
            guard (try? verifyChain(signer)) != nil else { return nil }
            caches.withLock { _ = $0.chainVerified.insert(signer.fingerprint) }
        }
        guard signer.role == role, signer.id == id, signer.purposes.contains(role),
              jws.verifySignature(with: signer.publicKey) else { return nil }
        return signer
    }

    // MARK: internals

    private func verifyChain(_ certificate: Certificate) throws {
        guard let ctx = X509_STORE_CTX_new() else { throw OpenSSL.internalError("allocate a verification context") }
        defer {
            X509_STORE_CTX_free(ctx)
            OpenSSL.clearErrors()
        }
        guard X509_STORE_CTX_init(ctx, store.pointer, certificate.handle.pointer, nil) == 1 else {
            throw OpenSSL.internalError("start verification")
        }
        caches.withLock { $0.chainBuilds += 1 }
        // Times are checked per call (step 2) against the caller's `at`, so the cached result is time-free.
        X509_STORE_CTX_set_flags(ctx, UInt(X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_X509_STRICT))
        if X509_verify_cert(ctx) != 1 {
            let code = X509_STORE_CTX_get_error(ctx)
            let reason = String(cString: X509_verify_cert_error_string(Int(code)))
            throw QRPayError(.pkiUntrusted, "The certificate \(certificate) does not chain to this spool's CA: \(reason).")
        }
        guard certificate.isEndEntity else {
            throw QRPayError(.pkiKeyUsage, "The certificate \(certificate) is not an end entity (basicConstraints CA:FALSE is required); it never signs documents.")
        }
        guard certificate.allowsDigitalSignature else {
            throw QRPayError(.pkiKeyUsage, "The certificate \(certificate) is not allowed to make digital signatures (keyUsage).")
        }
    }

    private func currentCRL() throws -> CRLState {
        let path = layout.crl
        var st = stat()
        guard lstat(path, &st) == 0 else {
            caches.withLock { $0.crl = nil }
            throw QRPayError(.pkiCRLMissing, "There is no CRL at \(path); certificates cannot be checked for revocation (run `qrpay-ca crl`).")
        }
        if let cached = caches.withLock({ $0.crl }), cached.inode == UInt64(st.st_ino), cached.size == Int64(st.st_size),
           cached.mtimeSeconds == st.st_mtim.tv_sec, cached.mtimeNanoseconds == st.st_mtim.tv_nsec {
            return cached
        }
        let state = try loadCRL(path, stat: st)
        caches.withLock { $0.crl = state }
        return state
    }

    private func loadCRL(_ path: String, stat st: stat) throws -> CRLState {
        let data: Data
        do { data = try FileIO.read(path, maxBytes: 64 << 20) } catch let error as QRPayError {
            throw QRPayError(.pkiCRLMissing, "The CRL \(path) cannot be read: \(error.message)")
        }
        let parsed = try OpenSSL.withReadBIO(data) { PEM_read_bio_X509_CRL($0, nil, nil, nil) }
        guard let handle = parsed else {
            throw OpenSSL.error(.pkiCRLInvalid, "The CRL \(path) is not a PEM CRL.")
        }
        defer { X509_CRL_free(handle) }
        guard X509_NAME_cmp(X509_CRL_get_issuer(handle), X509_get_subject_name(root.handle.pointer)) == 0,
              let rootKey = X509_get0_pubkey(root.handle.pointer), X509_CRL_verify(handle, rootKey) == 1 else {
            throw OpenSSL.error(.pkiCRLInvalid, "The CRL \(path) is not signed by this spool's CA.")
        }
        // Only complete CRLs of the whole CA: a delta CRL or a critical IssuingDistributionPoint (a
        // partial CRL) would leave revocations out.
        if X509_CRL_get_ext_by_NID(handle, NID_delta_crl, -1) >= 0 {
            throw QRPayError(.pkiCRLInvalid, "The CRL \(path) is a delta CRL; QR-Pay reads complete CRLs only.")
        }
        let idp = X509_CRL_get_ext_by_NID(handle, NID_issuing_distribution_point, -1)
        if idp >= 0, let ext = X509_CRL_get_ext(handle, idp), X509_EXTENSION_get_critical(ext) != 0 {
            throw QRPayError(.pkiCRLInvalid, "The CRL \(path) has a critical IssuingDistributionPoint (a partial CRL); QR-Pay reads complete CRLs only.")
        }
        guard let next = X509_CRL_get0_nextUpdate(handle), let last = X509_CRL_get0_lastUpdate(handle) else {
            throw QRPayError(.pkiCRLInvalid, "The CRL \(path) has no thisUpdate or nextUpdate.")
        }
        let thisUpdate = OpenSSL.date(last)
        if thisUpdate > Date().addingTimeInterval(300) {
            throw QRPayError(.pkiCRLInvalid, "The CRL \(path) was issued in the future (thisUpdate \(Timestamp.format(thisUpdate))): check the clocks.")
        }
        var number: Int64 = -1
        if let raw = X509_CRL_get_ext_d2i(handle, NID_crl_number, nil, nil) {
            let integer = raw.assumingMemoryBound(to: ASN1_INTEGER.self)
            var value: Int64 = 0
            if ASN1_INTEGER_get_int64(&value, integer) == 1 { number = value }
            ASN1_INTEGER_free(integer)
        }
        var revoked: [String: Date] = [:]
        if let entries = X509_CRL_get_REVOKED(handle) {
            for i in 0..<OPENSSL_sk_num(entries) {
                guard let entry = OPENSSL_sk_value(entries, i) else { continue }
                let item = OpaquePointer(entry)
                let date = X509_REVOKED_get0_revocationDate(item).map(OpenSSL.date) ?? .distantPast
                revoked[OpenSSL.hex(ofASN1Integer: X509_REVOKED_get0_serialNumber(item))] = date
            }
        }
        OpenSSL.clearErrors()
        try checkNotRolledBack(number: number, thisUpdate: thisUpdate, path: path)
        return CRLState(inode: UInt64(st.st_ino), size: Int64(st.st_size), mtimeSeconds: st.st_mtim.tv_sec,
                        mtimeNanoseconds: st.st_mtim.tv_nsec, number: number, thisUpdate: thisUpdate,
                        nextUpdate: OpenSSL.date(next), revoked: revoked)
    }

    /// Refuses a CRL older (by number or thisUpdate) than the newest remembered, and remembers a newer one.
    private func checkNotRolledBack(number: Int64, thisUpdate: Date, path: String) throws {
        guard let statePath = crlStatePath else { return }
        var newest: (number: Int64, thisUpdate: Date)?
        if let data = try? FileIO.readIfExists(statePath, maxBytes: 4096), let value = try? JSONValue.parse(data),
           let n = value["crlNumber"]?.intValue, let t = value["thisUpdate"]?.stringValue.flatMap(Timestamp.parse) {
            newest = (n, t)
        }
        if let newest {
            let whole = Date(timeIntervalSince1970: thisUpdate.timeIntervalSince1970.rounded(.down))
            if number < newest.number || whole < newest.thisUpdate {
                throw QRPayError(.pkiCRLInvalid, "The CRL \(path) (number \(number), thisUpdate \(Timestamp.format(thisUpdate))) is older than one already seen (number \(newest.number), thisUpdate \(Timestamp.format(newest.thisUpdate))): an old CRL copied back would un-revoke certificates. Issue a fresh one with `qrpay-ca crl`.")
            }
            if number == newest.number && whole == newest.thisUpdate { return }
        }
        let state: JSONValue = ["v": 1, "crlNumber": .int(number), "thisUpdate": .string(Timestamp.format(thisUpdate))]
        do { try Durable.write(state.serialized(pretty: true), to: statePath, mode: 0o640, ifExists: .replace) } catch {
            // Remembering is the PG's: a program that may not write there still refuses what it knows is old.
        }
    }
}
