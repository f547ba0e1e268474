// The QR-Pay certificate authority (paper, phase A "Initialization": the CA issues certificates to
// users and shops), kept as files in the spool:
//
//   ROOT/ca/ca.pem                    the self-signed root certificate (the trust anchor)
//   ROOT/ca/private/ca-key.pem        its key, encrypted PKCS#8 (directory 0700, file 0600)
//   ROOT/ca/crl.pem                   the current CRL (v2, CRL number, nextUpdate), signed by the root
//   ROOT/ca/issued/<fingerprint>.pem  every certificate ever issued, by base64url SHA-256 of its DER
//   ROOT/ca/certs/<role>/<id>.pem     the current certificate of each role and id
//   ROOT/ca/index.json                {"crlNumber": n, "issued": [...]}: every issued certificate with
//                                     its revocation date (null when not revoked)
//   ROOT/ca/lock                      flock(2) held while the CA changes anything
//
// Owners' credentials live outside ROOT/ca, where the other programs find them (CredentialPaths):
// ROOT/shops/<id>/, ROOT/users/<id>/, ROOT/pg/ each holding key.pem (0600, directory 0700) and cert.pem.
//
// Leaf certificates: v3, random 128-bit serial, subject CN=<display name>, O=QR-Pay, OU=<role>,
// SAN URI qrpay:<role>:<id>, keyUsage critical digitalSignature, basicConstraints critical CA:FALSE,
// subject and authority key identifiers, ECDSA-SHA256 signature by the root.
// Root: basicConstraints critical CA:TRUE, keyUsage critical keyCertSign+cRLSign.

internal import COpenSSL
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum CredentialPaths {
    /// shop: ROOT/shops/ID, user: ROOT/users/ID, pg: ROOT/pg.
    public static func directory(spoolRoot: String, role: Role, id: String) -> String {
        switch role {
        case .shop: return spoolRoot + "/shops/" + id
        case .user: return spoolRoot + "/users/" + id
        case .pg: return spoolRoot + "/pg"
        }
    }
    public static func keyFile(spoolRoot: String, role: Role, id: String) -> String {
        directory(spoolRoot: spoolRoot, role: role, id: id) + "/key.pem"
    }
    public static func certificateFile(spoolRoot: String, role: Role, id: String) -> String {
        directory(spoolRoot: spoolRoot, role: role, id: id) + "/cert.pem"
    }
}

/// An owner's unlocked private key and its certificate.
public struct Credentials: @unchecked Sendable {
    public let key: PrivateKey
    public let certificate: Certificate

    public init(key: PrivateKey, certificate: Certificate) throws {
        guard key.matches(certificate) else {
            throw QRPayError("pki.key-mismatch", "The private key does not belong to the certificate \(certificate).", exit: .config)
        }
        self.key = key
        self.certificate = certificate
    }

    public static func load(spoolRoot: String, role: Role, id: String, password: String) throws -> Credentials {
        try Identifier.validate(id, what: "\(role.rawValue) id")
        let credentials = try loadFiles(spoolRoot: spoolRoot, role: role, id: id, password: password)
        guard credentials.certificate.role == role else {
            throw QRPayError("pki.wrong-role", "The certificate in \(CredentialPaths.directory(spoolRoot: spoolRoot, role: role, id: id)) is not a \(role.rawValue) certificate.")
        }
        guard credentials.certificate.id == id else {
            throw QRPayError("pki.wrong-id", "The certificate in \(CredentialPaths.directory(spoolRoot: spoolRoot, role: role, id: id)) belongs to \(credentials.certificate.id ?? "nobody"), not \(id).")
        }
        return credentials
    }

    /// The payment gateway's credentials in ROOT/pg (there is one PG per spool).
    public static func loadPG(spoolRoot: String, password: String) throws -> Credentials {
        let credentials = try loadFiles(spoolRoot: spoolRoot, role: .pg, id: "", password: password)
        guard credentials.certificate.role == .pg else {
            throw QRPayError("pki.wrong-role", "The certificate in \(spoolRoot)/pg is not a pg certificate.")
        }
        return credentials
    }

    private static func loadFiles(spoolRoot: String, role: Role, id: String, password: String) throws -> Credentials {
        let keyPath = CredentialPaths.keyFile(spoolRoot: spoolRoot, role: role, id: id)
        let certPath = CredentialPaths.certificateFile(spoolRoot: spoolRoot, role: role, id: id)
        let certificate = try Certificate(pem: try FileIO.read(certPath))
        let key = try PrivateKey(encryptedPEM: try FileIO.read(keyPath), password: password)
        return try Credentials(key: key, certificate: certificate)
    }
}

/// One line of the CA's issued list.
public struct IssuedCertificate: Sendable, Equatable {
    public let serial: String
    public let role: Role
    public let id: String
    public let name: String
    public let notBefore: Date
    public let notAfter: Date
    public let fingerprint: String
    public var revoked: Date?

    public var json: JSONValue {
        .object([
            "serial": .string(serial), "role": .string(role.rawValue), "id": .string(id), "name": .string(name),
            "notBefore": .string(Timestamp.format(notBefore)), "notAfter": .string(Timestamp.format(notAfter)),
            "fingerprint": .string(fingerprint), "revoked": revoked.map { .string(Timestamp.format($0)) } ?? .null,
        ])
    }

    init(_ certificate: Certificate, role: Role, id: String) {
        serial = certificate.serialHex; self.role = role; self.id = id; name = certificate.displayName
        notBefore = certificate.notBefore; notAfter = certificate.notAfter; fingerprint = certificate.fingerprint
        revoked = nil
    }

    init(json: JSONValue) throws {
        let r = try JSONObjectReader(json, what: "CA index entry")
        try r.requireOnly(["serial", "role", "id", "name", "notBefore", "notAfter", "fingerprint", "revoked"])
        func date(_ key: String) throws -> Date {
            guard let d = Timestamp.parse(try r.string(key)) else {
                throw QRPayError("ca.index", "The CA index has a bad \(key) date.", exit: .config)
            }
            return d
        }
        serial = try r.string("serial")
        guard let role = Role(rawValue: try r.string("role")) else { throw QRPayError("ca.index", "The CA index has an unknown role.", exit: .config) }
        self.role = role
        id = try r.string("id"); name = try r.string("name")
        notBefore = try date("notBefore"); notAfter = try date("notAfter")
        fingerprint = try r.string("fingerprint")
        revoked = r.members["revoked"] == .null ? nil : try date("revoked")
    }
}

public struct CertificateAuthority: Sendable {
    public let spoolRoot: String
    public let certificate: Certificate

    static func directory(_ root: String) -> String { root + "/ca" }
    var caDirectory: String { CertificateAuthority.directory(spoolRoot) }
    var keyPath: String { caDirectory + "/private/ca-key.pem" }
    static func certificatePath(_ root: String) -> String { directory(root) + "/ca.pem" }
    static func crlPath(_ root: String) -> String { directory(root) + "/crl.pem" }
    static func issuedPath(_ root: String, fingerprint: String) -> String { directory(root) + "/issued/\(fingerprint).pem" }
    static func currentPath(_ root: String, role: Role, id: String) -> String { directory(root) + "/certs/\(role.rawValue)/\(id).pem" }
    var indexPath: String { caDirectory + "/index.json" }

    /// Opens the CA repository in ROOT/ca (`ca.missing` when there is none).
    public init(spoolRoot: String) throws {
        self.spoolRoot = spoolRoot
        let path = CertificateAuthority.certificatePath(spoolRoot)
        guard FileIO.exists(path) else {
            throw QRPayError("ca.missing", "There is no CA in \(spoolRoot)/ca; create one with `qrpay-ca init`.", exit: .config)
        }
        certificate = try Certificate(pem: try FileIO.read(path))
    }

    /// Creates the CA: a P-256 root key (encrypted with `password`), the self-signed root, an empty CRL.
    public static func create(spoolRoot: String, name: String, password: String, validityDays: Int = 3650) throws -> CertificateAuthority {
        try checkName(name)
        guard validityDays > 0 && validityDays <= 36500 else { throw QRPayError.usage("The CA validity must be 1 to 36500 days.") }
        let dir = directory(spoolRoot)
        try FileIO.makeDirectory(spoolRoot, mode: 0o755)
        try FileIO.makeDirectory(dir, mode: 0o755)
        return try withLock(dir) {
            guard !FileIO.exists(certificatePath(spoolRoot)) else {
                throw QRPayError("ca.exists", "A CA already exists in \(dir); QR-Pay never replaces it.", exit: .cantCreate)
            }
            try FileIO.makeDirectory(dir + "/private", mode: 0o700)
            try FileIO.makeDirectory(dir + "/issued", mode: 0o755)
            for role in Role.allCases { try FileIO.makeDirectory(dir + "/certs/" + role.rawValue, mode: 0o755) }
            let key = try PrivateKey.generate()
            let now = Date()
            let root = try X509Builder.build(
                subjectKey: key.key, issuer: nil, issuerKey: key.key, name: name, role: nil, id: nil,
                notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(TimeInterval(validityDays) * 86400))
            try FileIO.writeDurably(try key.encryptedPEM(password: password), to: dir + "/private/ca-key.pem", mode: 0o600, replace: true)
            try FileIO.writeDurably(Index(crlNumber: 0, issued: []).serialized, to: dir + "/index.json", mode: 0o644, replace: true)
            let ca = CertificateAuthority(spoolRoot: spoolRoot, certificate: root)
            try ca.writeCRL(key: key, index: Index(crlNumber: 0, issued: []), validFor: 7 * 86400)
            // The root certificate goes last: its presence marks a complete CA.
            try FileIO.writeDurably(root.pem, to: certificatePath(spoolRoot), mode: 0o644)
            return ca
        }
    }

    private init(spoolRoot: String, certificate: Certificate) {
        self.spoolRoot = spoolRoot
        self.certificate = certificate
    }

    /// Issues a certificate for `role`/`id`. Exactly one of `csrPEM` (the owner keeps its key) and
    /// `ownerPassword` (the CA generates the key and stores it encrypted in the owner's directory).
    /// cert.pem goes to the owner's directory in both cases.
    public func issue(role: Role, id: String, name: String, caPassword: String, csrPEM: Data? = nil,
                      ownerPassword: String? = nil, validityDays: Int = 365, notBefore: Date? = nil) throws -> Certificate {
        try Identifier.validate(id, what: "\(role.rawValue) id")
        try CertificateAuthority.checkName(name)
        guard (csrPEM == nil) != (ownerPassword == nil) else {
            throw QRPayError.usage("Issue from either a CSR or an owner password, exactly one of them.")
        }
        guard validityDays > 0 && validityDays <= 36500 else { throw QRPayError.usage("The validity must be 1 to 36500 days.") }
        let caKey = try loadKey(caPassword)
        let ownerDir = CredentialPaths.directory(spoolRoot: spoolRoot, role: role, id: id)
        let subjectKey: EVPKey
        var generated: PrivateKey? = nil
        if let csrPEM {
            subjectKey = try CertificateAuthority.csrKey(csrPEM)
        } else {
            let key = try PrivateKey.generate()
            generated = key
            subjectKey = key.key
        }
        let start = notBefore ?? Date().addingTimeInterval(-300)
        return try CertificateAuthority.withLock(caDirectory) {
            var index = try readIndex()
            let cert = try X509Builder.build(
                subjectKey: subjectKey, issuer: certificate, issuerKey: caKey.key, name: name, role: role, id: id,
                // A leaf never outlives the root that vouches for it.
                notBefore: start, notAfter: min(start.addingTimeInterval(TimeInterval(validityDays) * 86400), certificate.notAfter))
            try FileIO.makeDirectory(ownerDir, mode: 0o700)
            _ = chmod(ownerDir, 0o700)
            if let generated, let ownerPassword {
                try FileIO.writeDurably(try generated.encryptedPEM(password: ownerPassword), to: ownerDir + "/key.pem", mode: 0o600, replace: true)
            }
            try FileIO.writeDurably(cert.pem, to: CertificateAuthority.issuedPath(spoolRoot, fingerprint: cert.fingerprint), mode: 0o644)
            index.issued.append(IssuedCertificate(cert, role: role, id: id))
            try writeIndex(index)
            try FileIO.writeDurably(cert.pem, to: CertificateAuthority.currentPath(spoolRoot, role: role, id: id), mode: 0o644, replace: true)
            try FileIO.writeDurably(cert.pem, to: ownerDir + "/cert.pem", mode: 0o644, replace: true)
            return cert
        }
    }

    /// Revokes every unrevoked certificate of `role`/`id` and re-issues the CRL.
    /// `pki.unknown-certificate` when the CA never issued one.
    public func revoke(role: Role, id: String, caPassword: String) throws {
        try Identifier.validate(id, what: "\(role.rawValue) id")
        let caKey = try loadKey(caPassword)
        try CertificateAuthority.withLock(caDirectory) {
            var index = try readIndex()
            let matching = index.issued.indices.filter { index.issued[$0].role == role && index.issued[$0].id == id }
            guard !matching.isEmpty else {
                throw QRPayError("pki.unknown-certificate", "The CA has never issued a certificate for \(role.rawValue) \(id).", exit: .noInput)
            }
            let now = Date()
            for i in matching where index.issued[i].revoked == nil { index.issued[i].revoked = now }
            index.crlNumber += 1
            try writeIndex(index)
            try writeCRL(key: caKey, index: index, validFor: 7 * 86400)
        }
    }

    /// Issues a fresh CRL valid for `validFor` seconds (run it before the current one's nextUpdate).
    public func issueCRL(caPassword: String, validFor: TimeInterval = 7 * 86400) throws {
        let caKey = try loadKey(caPassword)
        try CertificateAuthority.withLock(caDirectory) {
            var index = try readIndex()
            index.crlNumber += 1
            try writeIndex(index)
            try writeCRL(key: caKey, index: index, validFor: validFor)
        }
    }

    /// Every certificate the CA issued, oldest first.
    public func list() throws -> [IssuedCertificate] { try readIndex().issued }

    // MARK: internals

    static func checkName(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 64, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw QRPayError("ca.name", "A display name must be 1 to 64 bytes of printable text.", exit: .dataError)
        }
    }

    func loadKey(_ password: String) throws -> PrivateKey {
        let key = try PrivateKey(encryptedPEM: try FileIO.read(keyPath), password: password)
        guard key.matches(certificate) else {
            throw QRPayError("pki.key-mismatch", "The CA key in \(keyPath) does not belong to \(caDirectory)/ca.pem.", exit: .config)
        }
        return key
    }

    static func csrKey(_ pem: Data) throws -> EVPKey {
        let req = try OpenSSL.withReadBIO(pem) { PEM_read_bio_X509_REQ($0, nil, nil, nil) }
        guard let req else { throw OpenSSL.error("pki.pem", "The CSR is not a PEM certificate request (it may be truncated or damaged).") }
        defer { X509_REQ_free(req) }
        guard let pkey = X509_REQ_get0_pubkey(req) else { throw OpenSSL.error("pki.pem", "The CSR has no readable public key.") }
        let key = EVPKey(sharing: pkey)
        guard key.isP256 else { throw QRPayError("pki.pem", "The CSR's key is not an EC P-256 key; QR-Pay uses P-256 only.") }
        // Proof of possession: the request is signed by the key it carries.
        guard X509_REQ_verify(req, pkey) == 1 else {
            throw OpenSSL.error("pki.csr-signature", "The CSR's signature does not verify with its own key.")
        }
        OpenSSL.clearErrors()
        return key
    }

    struct Index {
        var crlNumber: Int64
        var issued: [IssuedCertificate]
        var serialized: Data {
            JSONValue.object(["crlNumber": .int(crlNumber), "issued": .array(issued.map(\.json))]).serialized(pretty: true)
        }
    }

    func readIndex() throws -> Index {
        let data = try FileIO.read(indexPath, maxBytes: 256 << 20)
        let r = try JSONObjectReader(try JSONValue.parse(data, options: .init(maxBytes: 256 << 20), what: "CA index"), what: "CA index")
        try r.requireOnly(["crlNumber", "issued"])
        return Index(crlNumber: try r.int("crlNumber", in: 0...Int64.max),
                     issued: try r.array("issued", maxCount: Int.max).map(IssuedCertificate.init(json:)))
    }

    func writeIndex(_ index: Index) throws {
        try FileIO.writeDurably(index.serialized, to: indexPath, mode: 0o644, replace: true)
    }

    func writeCRL(key: PrivateKey, index: Index, validFor: TimeInterval) throws {
        let revoked = index.issued.compactMap { entry in entry.revoked.map { (entry.serial, $0) } }
        let pem = try X509Builder.crl(issuer: certificate, issuerKey: key.key, revoked: revoked,
                                      number: index.crlNumber, thisUpdate: Date(), nextUpdate: Date().addingTimeInterval(validFor))
        try FileIO.writeDurably(pem, to: CertificateAuthority.crlPath(spoolRoot), mode: 0o644, replace: true)
    }

    static func withLock<T>(_ dir: String, _ body: () throws -> T) throws -> T {
        let path = dir + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw QRPayError.io("open", path: path, errno: errno) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw QRPayError.io("lock", path: path, errno: errno) }
        return try body()
    }
}

/// Builds certificates and CRLs with OpenSSL's X509/X509V3 APIs.
enum X509Builder {
    /// A root (issuer == nil: self-signed CA) or a leaf for role/id.
    static func build(subjectKey: EVPKey, issuer: Certificate?, issuerKey: EVPKey, name: String, role: Role?, id: String?,
                      notBefore: Date, notAfter: Date) throws -> Certificate {
        guard let x = X509_new() else { throw OpenSSL.internalError("allocate a certificate") }
        var owned: OpaquePointer? = x
        defer { if let owned { X509_free(owned) } }
        guard X509_set_version(x, 2) == 1 else { throw OpenSSL.internalError("set the version") }
        // Random positive 128-bit serial number.
        guard let bn = BN_new() else { throw OpenSSL.internalError("allocate a serial") }
        defer { BN_free(bn) }
        guard BN_rand(bn, 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1,
              BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nil else { throw OpenSSL.internalError("draw a serial number") }
        guard ASN1_TIME_set(X509_getm_notBefore(x), OpenSSL.timeT(notBefore)) != nil,
              ASN1_TIME_set(X509_getm_notAfter(x), OpenSSL.timeT(notAfter)) != nil else { throw OpenSSL.internalError("set the validity") }
        guard let subject = X509_NAME_new() else { throw OpenSSL.internalError("allocate a name") }
        defer { X509_NAME_free(subject) }
        func add(_ field: String, _ value: String) throws {
            guard X509_NAME_add_entry_by_txt(subject, field, MBSTRING_UTF8, value, -1, -1, 0) == 1 else {
                throw OpenSSL.error("ca.name", "The name \"\(value)\" cannot go in a certificate.")
            }
        }
        try add("O", "QR-Pay")
        if let role { try add("OU", role.rawValue) }
        try add("CN", name)
        guard X509_set_subject_name(x, subject) == 1,
              X509_set_issuer_name(x, issuer.map { X509_get_subject_name($0.handle.pointer) } ?? subject) == 1,
              X509_set_pubkey(x, subjectKey.pointer) == 1 else { throw OpenSSL.internalError("set names and key") }
        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, issuer?.handle.pointer ?? x, x, nil, nil, 0)
        func ext(_ nid: Int32, _ value: String) throws {
            guard let e = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else { throw OpenSSL.internalError("make extension \(value)") }
            defer { X509_EXTENSION_free(e) }
            guard X509_add_ext(x, e, -1) == 1 else { throw OpenSSL.internalError("add extension \(value)") }
        }
        if let role, let id {
            try ext(NID_basic_constraints, "critical,CA:FALSE")
            try ext(NID_key_usage, "critical,digitalSignature")
            try ext(NID_subject_alt_name, "URI:qrpay:\(role.rawValue):\(id)")
        } else {
            try ext(NID_basic_constraints, "critical,CA:TRUE")
            try ext(NID_key_usage, "critical,keyCertSign,cRLSign")
        }
        try ext(NID_subject_key_identifier, "hash")
        try ext(NID_authority_key_identifier, "keyid:always")
        guard X509_sign(x, issuerKey.pointer, EVP_sha256()) > 0 else { throw OpenSSL.internalError("sign the certificate") }
        owned = nil
        return try Certificate(owning: x)
    }

    static func crl(issuer: Certificate, issuerKey: EVPKey, revoked: [(serial: String, date: Date)], number: Int64,
                    thisUpdate: Date, nextUpdate: Date) throws -> Data {
        guard let crl = X509_CRL_new() else { throw OpenSSL.internalError("allocate a CRL") }
        defer { X509_CRL_free(crl) }
        guard X509_CRL_set_version(crl, 1) == 1,
              X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.handle.pointer)) == 1 else {
            throw OpenSSL.internalError("set up the CRL")
        }
        try withASN1Time(thisUpdate) { t in guard X509_CRL_set1_lastUpdate(crl, t) == 1 else { throw OpenSSL.internalError("set lastUpdate") } }
        try withASN1Time(nextUpdate) { t in guard X509_CRL_set1_nextUpdate(crl, t) == 1 else { throw OpenSSL.internalError("set nextUpdate") } }
        for (serial, date) in revoked {
            guard let entry = X509_REVOKED_new() else { throw OpenSSL.internalError("allocate a CRL entry") }
            var entryOwned = true
            defer { if entryOwned { X509_REVOKED_free(entry) } }
            var bn: OpaquePointer? = nil
            guard BN_hex2bn(&bn, serial) > 0, let bn else { throw QRPayError("ca.index", "The CA index has a bad serial \(serial).", exit: .config) }
            defer { BN_free(bn) }
            guard let integer = BN_to_ASN1_INTEGER(bn, nil) else { throw OpenSSL.internalError("convert a serial") }
            defer { ASN1_INTEGER_free(integer) }
            guard X509_REVOKED_set_serialNumber(entry, integer) == 1 else { throw OpenSSL.internalError("set a revoked serial") }
            try withASN1Time(date) { t in guard X509_REVOKED_set_revocationDate(entry, t) == 1 else { throw OpenSSL.internalError("set a revocation date") } }
            guard X509_CRL_add0_revoked(crl, entry) == 1 else { throw OpenSSL.internalError("add a CRL entry") }
            entryOwned = false
        }
        guard let crlNumber = ASN1_INTEGER_new() else { throw OpenSSL.internalError("allocate the CRL number") }
        defer { ASN1_INTEGER_free(crlNumber) }
        guard ASN1_INTEGER_set_int64(crlNumber, number) == 1,
              X509_CRL_add1_ext_i2d(crl, NID_crl_number, UnsafeMutableRawPointer(crlNumber), 0, 0) == 1 else {
            throw OpenSSL.internalError("set the CRL number")
        }
        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, issuer.handle.pointer, nil, nil, crl, 0)
        guard let aki = X509V3_EXT_conf_nid(nil, &ctx, NID_authority_key_identifier, "keyid:always") else {
            throw OpenSSL.internalError("make the CRL's authority key identifier")
        }
        defer { X509_EXTENSION_free(aki) }
        guard X509_CRL_add_ext(crl, aki, -1) == 1, X509_CRL_sort(crl) == 1,
              X509_CRL_sign(crl, issuerKey.pointer, EVP_sha256()) > 0 else { throw OpenSSL.internalError("sign the CRL") }
        return try OpenSSL.writingBIO({ PEM_write_bio_X509_CRL($0, crl) == 1 }, what: "write the CRL")
    }

    static func withASN1Time(_ date: Date, _ body: (UnsafeMutablePointer<ASN1_TIME>) throws -> Void) throws {
        guard let t = ASN1_TIME_set(nil, OpenSSL.timeT(date)) else { throw OpenSSL.internalError("make a time") }
        defer { ASN1_TIME_free(t) }
        try body(t)
    }
}
