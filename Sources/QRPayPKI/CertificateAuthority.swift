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
// Owners' keys live outside ROOT/ca, in their own directories (SpoolLayout.ownerDirectory):
// ROOT/shops/<id>/, ROOT/users/<id>/, ROOT/pg/ each holding key.pem (0600, directory 0700) and cert.pem.
//
// Leaf certificates: v3, random 128-bit serial, subject CN=<display name>, O=QR-Pay, OU=<role>,
// SAN URI qrpay:<role>:<id>, keyUsage critical digitalSignature, basicConstraints critical CA:FALSE,
// subject and authority key identifiers, ECDSA-SHA256 signature by the root.
// Root: basicConstraints critical CA:TRUE, keyUsage critical keyCertSign+cRLSign.

internal import COpenSSL
import Foundation
import QRPaySupport
import QRPaySpool
#if canImport(Glibc)
import Glibc
#endif

/// An owner's unlocked private key and its certificate.
package struct Credentials: Sendable {
    package let key: PrivateKey
    package let certificate: Certificate
    /// The JWS protected header of each document kind for this signer (made once).
    private let headers: [DocumentType: String]

    package init(key: PrivateKey, certificate: Certificate) throws {
        guard key.matches(certificate) else {
            throw QRPayError(.pkiKeyMismatch, "The private key does not belong to the certificate \(certificate).")
        }
        self.key = key
        self.certificate = certificate
        var headers: [DocumentType: String] = [:]
        for type in DocumentType.allCases { headers[type] = JWS.protectedHeader(type: type, fingerprint: certificate.fingerprint) }
        self.headers = headers
    }

    func protectedHeader(_ type: DocumentType) -> String { headers[type]! }

    /// Unlocks the key of `role`/`id` in its owner's directory with `password`. The certificate is the
    /// owner's cert.pem, else the one the CA published (ca/certs/ROLE/ID.pem); whichever belongs to
    /// the key. `id` is ignored for the PG (one PG per spool).
    package static func load(layout: SpoolLayout, role: Role, id: String, password: Password) throws -> Credentials {
        if role != .pg { try Identifier.validate(id, what: "\(role.rawValue) id") }
        let owner = role == .pg ? "the PG" : "\(role.rawValue) \(id)"
        let keyPath = layout.keyFile(role: role, id: id)
        guard let keyPEM = try FileIO.readIfExists(keyPath) else {
            throw QRPayError(.pkiNoCredentials, "There is no private key for \(owner) at \(keyPath): create it with `qrpay-ca request` (or `qrpay-ca issue --password-file`).")
        }
        let key: PrivateKey
        do { key = try PrivateKey(encryptedPEM: keyPEM, password: password) } catch let e as QRPayError where e.code == .pkiPassword {
            throw QRPayError(.pkiPassword, "The password does not unlock the private key of \(owner) (\(keyPath)).")
        }
        var candidates: [Certificate] = []
        for path in [layout.certificateFile(role: role, id: id), role == .pg ? nil : layout.currentCertificate(role: role, id: id)].compactMap({ $0 }) {
            if let pem = try FileIO.readIfExists(path) { candidates.append(try Certificate(pem: pem)) }
        }
        if role == .pg {
            for path in (try? FileIO.listDirectory(layout.certificatesDirectory(role: .pg)))?.sorted() ?? [] where path.hasSuffix(".pem") {
                if let pem = try FileIO.readIfExists(layout.certificatesDirectory(role: .pg) + "/" + path) {
                    candidates.append(try Certificate(pem: pem))
                }
            }
        }
        guard !candidates.isEmpty else {
            throw QRPayError(.pkiNoCredentials, "There is no certificate for \(owner): neither \(layout.certificateFile(role: role, id: id)) nor one published by the CA.")
        }
        guard let certificate = candidates.first(where: { key.matches($0) }) else {
            throw QRPayError(.pkiKeyMismatch, "The private key \(keyPath) does not belong to the certificate of \(owner).")
        }
        guard certificate.role == role else {
            throw QRPayError(.pkiWrongRole, "The certificate of \(owner) is not a \(role.rawValue) certificate.")
        }
        if role != .pg, certificate.id != id {
            throw QRPayError(.pkiWrongID, "The certificate of \(owner) belongs to \(certificate.id ?? "nobody"), not \(id).")
        }
        return try Credentials(key: key, certificate: certificate)
    }

    package static func load(spoolRoot: String, role: Role, id: String, password: Password) throws -> Credentials {
        try load(layout: SpoolLayout(root: spoolRoot), role: role, id: id, password: password)
    }

    /// The payment gateway's credentials in pg/ (there is one PG per spool).
    package static func loadPG(spoolRoot: String, password: Password) throws -> Credentials {
        try load(layout: SpoolLayout(root: spoolRoot), role: .pg, id: "", password: password)
    }
}

/// One line of the CA's issued list.
package struct IssuedCertificate: Sendable, Equatable {
    package let serial: String
    package let role: Role
    package let id: String
    package let name: String
    package let notBefore: Date
    package let notAfter: Date
    package let fingerprint: String
    package var revoked: Date?

    package var json: JSONValue {
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
                throw QRPayError(.caIndex, "The CA index has a bad \(key) date.")
            }
            return d
        }
        serial = try r.string("serial")
        guard let role = Role(rawValue: try r.string("role")) else { throw QRPayError(.caIndex, "The CA index has an unknown role.") }
        self.role = role
        id = try r.string("id"); name = try r.string("name")
        notBefore = try date("notBefore"); notAfter = try date("notAfter")
        fingerprint = try r.string("fingerprint")
        revoked = r.members["revoked"] == .null ? nil : try date("revoked")
    }
}

package struct CertificateAuthority: Sendable {
    package let layout: SpoolLayout
    package let certificate: Certificate
    package var spoolRoot: String { layout.root }

    /// Opens the CA repository in ROOT/ca (`ca.missing` when there is none).
    package init(spoolRoot: String) throws {
        layout = SpoolLayout(root: spoolRoot)
        let path = layout.caCertificate
        guard FileIO.exists(path) else {
            throw QRPayError(.caMissing, "There is no CA in \(layout.caDirectory); create one with `qrpay-ca init`.")
        }
        certificate = try Certificate(pem: try FileIO.read(path))
    }

    /// Creates the CA: a P-256 root key (encrypted with `password`), the self-signed root, an empty CRL.
    package static func create(spoolRoot: String, name: String, password: Password, validityDays: Int = 3650,
                              keyProtection: KeyProtection = .standard) throws -> CertificateAuthority {
        try checkName(name)
        guard validityDays > 0 && validityDays <= 36500 else { throw QRPayError.usage("The CA validity must be 1 to 36500 days.") }
        let layout = SpoolLayout(root: spoolRoot)
        try layout.makeDirectories(layout.caDirectory)
        return try withLock(layout) {
            guard !FileIO.exists(layout.caCertificate) else {
                throw QRPayError(.caExists, "A CA already exists in \(layout.caDirectory); QR-Pay never replaces it.")
            }
            try layout.makeDirectories(layout.caPrivateDirectory)
            try layout.makeDirectories(layout.issuedDirectory)
            for role in Role.allCases { try layout.makeDirectories(layout.certificatesDirectory(role: role)) }
            let key = try PrivateKey.generate()
            let now = Date()
            let root = try X509Builder.build(
                subjectKey: key.key, issuer: nil, issuerKey: key.key, name: name, role: nil, id: nil,
                notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(TimeInterval(validityDays) * 86400))
            try Durable.write(try key.encryptedPEM(password: password, protection: keyProtection), to: layout.caKey, mode: 0o600, ifExists: .replace)
            try Durable.write(Index(crlNumber: 0, issued: []).serialized, to: layout.caIndex, mode: 0o644, ifExists: .replace)
            let ca = CertificateAuthority(layout: layout, certificate: root)
            try ca.writeCRL(key: key, index: Index(crlNumber: 0, issued: []), validFor: 7 * 86400)
            // The root certificate goes last: its presence marks a complete CA.
            try Durable.write(root.pem, to: layout.caCertificate, mode: 0o644)
            return ca
        }
    }

    private init(layout: SpoolLayout, certificate: Certificate) {
        self.layout = layout
        self.certificate = certificate
    }

    /// What `issue` does when `role`/`id` already has a valid (unrevoked, unexpired) certificate.
    package enum ExistingCertificate: Sendable {
        /// Issue another beside it (the library's default, for tests and tools).
        case allow
        /// Refuse with `ca.already-issued` (`qrpay-ca issue` without --renew).
        case refuse
        /// Revoke it (and re-issue the CRL) with the new one (`qrpay-ca issue --renew`).
        case revoke
    }

    /// The valid (unrevoked, unexpired at `now`) certificates of `role`/`id` in the index.
    package func validCertificates(role: Role, id: String, now: Date = Date()) throws -> [IssuedCertificate] {
        try readIndex().issued.filter { $0.role == role && $0.id == id && $0.revoked == nil && $0.notAfter > now }
    }

    /// Issues a certificate for `role`/`id`. Exactly one of `csrPEM` (the owner keeps its key, made
    /// with `qrpay-ca request`) and `ownerPassword` (the CA generates the key and stores it
    /// encrypted in the owner's directory: for single-host set-ups). The certificate is published
    /// in ca/issued/ and ca/certs/ROLE/ID.pem, where the owner's programs find it; with a generated
    /// key it also goes beside the key, as cert.pem.
    package func issue(role: Role, id: String, name: String, caPassword: Password, csrPEM: Data? = nil,
                      ownerPassword: Password? = nil, validityDays: Int = 365, notBefore: Date? = nil,
                      keyProtection: KeyProtection = .standard, existing: ExistingCertificate = .allow) throws -> Certificate {
        try Identifier.validate(id, what: "\(role.rawValue) id")
        try CertificateAuthority.checkName(name)
        guard (csrPEM == nil) != (ownerPassword == nil) else {
            throw QRPayError.usage("Issue from either a CSR or an owner password, exactly one of them.")
        }
        guard validityDays > 0 && validityDays <= 36500 else { throw QRPayError.usage("The validity must be 1 to 36500 days.") }
        let caKey = try loadKey(caPassword)
        let ownerDir = layout.ownerDirectory(role: role, id: id)
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
        return try CertificateAuthority.withLock(layout) {
            var index = try readIndex()
            let now = Date()
            let valid = index.issued.indices.filter {
                index.issued[$0].role == role && index.issued[$0].id == id && index.issued[$0].revoked == nil && index.issued[$0].notAfter > now
            }
            if !valid.isEmpty && existing == .refuse {
                let c = index.issued[valid.last!]
                throw QRPayError(.caAlreadyIssued, "\(role.rawValue) \(id) already has a valid certificate (serial \(c.serial), until \(Timestamp.format(c.notAfter))): give --renew to issue a new one and revoke it")
            }
            if role == .shop { try CertificateAuthority.checkNameFree(name, for: id, in: index, at: start) }
            let cert = try X509Builder.build(
                subjectKey: subjectKey, issuer: certificate, issuerKey: caKey.key, name: name, role: role, id: id,
                // A leaf never outlives the root that vouches for it.
                notBefore: start, notAfter: min(start.addingTimeInterval(TimeInterval(validityDays) * 86400), certificate.notAfter))
            if let generated, let ownerPassword {
                // The owner's directory with the layout's mode; an existing one keeps its own.
                try layout.makeDirectories(ownerDir)
                try Durable.write(try generated.encryptedPEM(password: ownerPassword, protection: keyProtection), to: layout.keyFile(role: role, id: id),
                                  mode: 0o600, ifExists: .replace)
            }
            try Durable.write(cert.pem, to: layout.issuedCertificate(fingerprint: cert.fingerprint), mode: 0o644)
            index.issued.append(IssuedCertificate(cert, role: role, id: id))
            try writeIndex(index)
            try layout.makeDirectories(layout.certificatesDirectory(role: role))
            try Durable.write(cert.pem, to: layout.currentCertificate(role: role, id: id), mode: 0o644, ifExists: .replace)
            if generated != nil {
                try Durable.write(cert.pem, to: layout.certificateFile(role: role, id: id), mode: 0o644, ifExists: .replace)
            }
            if existing == .revoke && !valid.isEmpty {
                // The old certificate stops vouching now; what it signed before stays valid (revocation by date).
                for i in valid { index.issued[i].revoked = now }
                index.crlNumber += 1
                try writeIndex(index)
                try writeCRL(key: caKey, index: index, validFor: 7 * 86400)
            }
            return cert
        }
    }

    /// The owner's side of enrolment (`qrpay-ca request`, run by the owner as its own Unix user):
    /// generates a P-256 key, stores it encrypted with `password` in the owner's directory (0600;
    /// an existing key is never replaced) and writes a certificate request beside it (request.csr,
    /// public). The CA then certifies the request with `issue(csrPEM:)` without ever seeing the key or
    /// its password. Returns the request's path.
    package static func request(layout: SpoolLayout, role: Role, id: String, password: Password,
                               keyProtection: KeyProtection = .standard) throws -> String {
        if role != .pg { try Identifier.validate(id, what: "\(role.rawValue) id") }
        let keyPath = layout.keyFile(role: role, id: id)
        guard !FileIO.exists(keyPath) else {
            throw QRPayError(.ioExists, "\(keyPath) already exists; move it away first to make a new key (QR-Pay never replaces a key)")
        }
        try layout.makeDirectories(layout.ownerDirectory(role: role, id: id))
        let key = try PrivateKey.generate()
        let csr = try X509Builder.request(key: key.key, role: role, id: id)
        let commit = GroupCommit(context: StageContext(layout: layout))
        try commit.write(try key.encryptedPEM(password: password, protection: keyProtection), to: keyPath, mode: 0o600, ifExists: .fail)
        try commit.write(csr, to: layout.requestFile(role: role, id: id), mode: 0o644, ifExists: .replace)
        try commit.flush()
        return layout.requestFile(role: role, id: id)
    }

    /// Revokes every unrevoked certificate of `role`/`id` and re-issues the CRL.
    /// `pki.unknown-certificate` when the CA never issued one.
    package func revoke(role: Role, id: String, caPassword: Password) throws {
        try Identifier.validate(id, what: "\(role.rawValue) id")
        let caKey = try loadKey(caPassword)
        try CertificateAuthority.withLock(layout) {
            var index = try readIndex()
            let matching = index.issued.indices.filter { index.issued[$0].role == role && index.issued[$0].id == id }
            guard !matching.isEmpty else {
                throw QRPayError(.caNeverIssued, "The CA has never issued a certificate for \(role.rawValue) \(id).")
            }
            let now = Date()
            for i in matching where index.issued[i].revoked == nil { index.issued[i].revoked = now }
            index.crlNumber += 1
            try writeIndex(index)
            try writeCRL(key: caKey, index: index, validFor: 7 * 86400)
        }
    }

    /// Issues a fresh CRL valid for `validFor` seconds (run it before the current one's nextUpdate).
    package func issueCRL(caPassword: Password, validFor: TimeInterval = 7 * 86400) throws {
        let caKey = try loadKey(caPassword)
        try CertificateAuthority.withLock(layout) {
            var index = try readIndex()
            index.crlNumber += 1
            try writeIndex(index)
            try writeCRL(key: caKey, index: index, validFor: validFor)
        }
    }

    /// Every certificate the CA issued, oldest first.
    package func list() throws -> [IssuedCertificate] { try readIndex().issued }

    // MARK: internals

    /// A payer knows a shop by its display name: no two shops may have names that look alike
    /// (compared after compatibility folding and case folding) while both are certified.
    static func checkNameFree(_ name: String, for id: String, in index: Index, at now: Date) throws {
        func folded(_ s: String) -> String { s.precomposedStringWithCompatibilityMapping.lowercased().filter { !$0.isWhitespace } }
        let wanted = folded(name)
        if let other = index.issued.first(where: { $0.role == .shop && $0.id != id && $0.revoked == nil && $0.notAfter > now
                                                   && folded($0.name) == wanted }) {
            throw QRPayError(.caNameTaken, "Shop \(other.id) is already certified as \"\(other.name)\": a payer could not tell shop \(id) from it. Choose another name (or revoke shop \(other.id) first).")
        }
    }

    static func checkName(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 64 else {
            throw QRPayError(.caName, "A display name must be 1 to 64 bytes of printable text.")
        }
        if let problem = HumanText.problem(name) {
            throw QRPayError(.caName, "The display name holds \(problem); payers read it on their screens.")
        }
    }

    func loadKey(_ password: Password) throws -> PrivateKey {
        let key: PrivateKey
        do { key = try PrivateKey(encryptedPEM: try FileIO.read(layout.caKey), password: password) } catch let e as QRPayError where e.code == .pkiPassword {
            throw QRPayError(.pkiPassword, "The password does not unlock the CA's private key (\(layout.caKey)).")
        }
        guard key.matches(certificate) else {
            throw QRPayError(.pkiKeyMismatch, "The CA key in \(layout.caKey) does not belong to \(layout.caCertificate).")
        }
        return key
    }

    static func csrKey(_ pem: Data) throws -> EVPKey {
        let req = try OpenSSL.withReadBIO(pem) { PEM_read_bio_X509_REQ($0, nil, nil, nil) }
        guard let req else { throw OpenSSL.error(.pkiPEM, "The CSR is not a PEM certificate request (it may be truncated or damaged).") }
        defer { X509_REQ_free(req) }
        guard let pkey = X509_REQ_get0_pubkey(req) else { throw OpenSSL.error(.pkiPEM, "The CSR has no readable public key.") }
        let key = EVPKey(sharing: pkey)
        guard key.isP256 else { throw QRPayError(.pkiPEM, "The CSR's key is not an EC P-256 key; QR-Pay uses P-256 only.") }
        // Proof of possession: the request is signed by the key it carries.
        guard X509_REQ_verify(req, pkey) == 1 else {
            throw OpenSSL.error(.pkiCSRSignature, "The CSR's signature does not verify with its own key.")
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
        let data = try FileIO.read(layout.caIndex, maxBytes: 256 << 20)
        let r = try JSONObjectReader(try JSONValue.parse(data, options: .init(maxBytes: 256 << 20), what: "CA index"), what: "CA index")
        try r.requireOnly(["crlNumber", "issued"])
        return Index(crlNumber: try r.int("crlNumber", in: 0...Int64.max),
                     issued: try r.array("issued", maxCount: Int.max).map(IssuedCertificate.init(json:)))
    }

    func writeIndex(_ index: Index) throws {
        try Durable.write(index.serialized, to: layout.caIndex, mode: 0o644, ifExists: .replace)
    }

    func writeCRL(key: PrivateKey, index: Index, validFor: TimeInterval) throws {
        let revoked = index.issued.compactMap { entry in entry.revoked.map { (entry.serial, $0) } }
        let pem = try X509Builder.crl(issuer: certificate, issuerKey: key.key, revoked: revoked,
                                      number: index.crlNumber, thisUpdate: Date(), nextUpdate: Date().addingTimeInterval(validFor))
        try Durable.write(pem, to: layout.crl, mode: 0o644, ifExists: .replace)
    }

    static func withLock<T>(_ layout: SpoolLayout, _ body: () throws -> T) throws -> T {
        let path = layout.caLock
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
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
                throw OpenSSL.error(.caName, "The name \"\(value)\" cannot go in a certificate.")
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
            try ext(NID_ext_key_usage, role.purposeOID)
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

    /// A PKCS#10 request (PEM) for `key`, subject O=QR-Pay, OU=role, CN=role:id, signed by the key
    /// (proof of possession). The CA takes only the key from it; the name and binding are its own.
    static func request(key: EVPKey, role: Role, id: String) throws -> Data {
        guard let req = X509_REQ_new() else { throw OpenSSL.internalError("allocate a request") }
        defer { X509_REQ_free(req) }
        guard let subject = X509_NAME_new() else { throw OpenSSL.internalError("allocate a name") }
        defer { X509_NAME_free(subject) }
        for (field, value) in [("O", "QR-Pay"), ("OU", role.rawValue), ("CN", "\(role.rawValue):\(id)")] {
            guard X509_NAME_add_entry_by_txt(subject, field, MBSTRING_UTF8, value, -1, -1, 0) == 1 else {
                throw OpenSSL.internalError("name the request")
            }
        }
        guard X509_REQ_set_version(req, 0) == 1, X509_REQ_set_subject_name(req, subject) == 1,
              X509_REQ_set_pubkey(req, key.pointer) == 1, X509_REQ_sign(req, key.pointer, EVP_sha256()) > 0 else {
            throw OpenSSL.internalError("sign the request")
        }
        return try OpenSSL.writingBIO({ PEM_write_bio_X509_REQ($0, req) == 1 }, what: "write the request")
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
            guard BN_hex2bn(&bn, serial) > 0, let bn else { throw QRPayError(.caIndex, "The CA index has a bad serial \(serial).") }
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

// Text passwords (their UTF-8 bytes): for tests, the bench and tools that hold a password as a
// string. Programs read password files as bytes (`Password.read(file:)`).
extension Credentials {
    package static func load(layout: SpoolLayout, role: Role, id: String, password: String) throws -> Credentials {
        try load(layout: layout, role: role, id: id, password: try Password(password))
    }
    package static func load(spoolRoot: String, role: Role, id: String, password: String) throws -> Credentials {
        try load(spoolRoot: spoolRoot, role: role, id: id, password: try Password(password))
    }
    package static func loadPG(spoolRoot: String, password: String) throws -> Credentials {
        try loadPG(spoolRoot: spoolRoot, password: try Password(password))
    }
}

extension CertificateAuthority {
    package static func create(spoolRoot: String, name: String, password: String, validityDays: Int = 3650,
                              keyProtection: KeyProtection = .standard) throws -> CertificateAuthority {
        try create(spoolRoot: spoolRoot, name: name, password: try Password(password), validityDays: validityDays, keyProtection: keyProtection)
    }
    package func issue(role: Role, id: String, name: String, caPassword: String, csrPEM: Data? = nil,
                      ownerPassword: String? = nil, validityDays: Int = 365, notBefore: Date? = nil,
                      keyProtection: KeyProtection = .standard) throws -> Certificate {
        try issue(role: role, id: id, name: name, caPassword: try Password(caPassword), csrPEM: csrPEM,
                  ownerPassword: try ownerPassword.map { try Password($0) }, validityDays: validityDays, notBefore: notBefore,
                  keyProtection: keyProtection)
    }
    package static func request(layout: SpoolLayout, role: Role, id: String, password: String,
                               keyProtection: KeyProtection = .standard) throws -> String {
        try request(layout: layout, role: role, id: id, password: try Password(password), keyProtection: keyProtection)
    }
    package func revoke(role: Role, id: String, caPassword: String) throws { try revoke(role: role, id: id, caPassword: try Password(caPassword)) }
    package func issueCRL(caPassword: String, validFor: TimeInterval = 7 * 86400) throws {
        try issueCRL(caPassword: try Password(caPassword), validFor: validFor)
    }
}
