import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPKI
import Testing

@Suite struct PKITrustTests {
    static let day: TimeInterval = 86400

    @Test func issuedCertificatesCarryRoleIdAndName() throws {
        let pki = try PKIFixture()
        let shop = try pki.issue(.shop, "1001", name: "Café Ünïcode")
        let cert = shop.certificate
        #expect(cert.role == .shop && cert.id == "1001" && cert.displayName == "Café Ünïcode")
        #expect(cert.serialHex.count == 32)
        #expect(cert.fingerprint == Base64URL.encode(OpenSSL.sha256(cert.der)))
        #expect(try Certificate(der: cert.der).fingerprint == cert.fingerprint)
        #expect(try Certificate(pem: cert.pem).der == cert.der)
        #expect(abs(cert.notAfter.timeIntervalSince(cert.notBefore) - 365 * Self.day) < 1)
        #expect(pki.ca.certificate.role == nil && pki.ca.certificate.isCA)
        let trust = try pki.trustStore()
        #expect(try trust.currentCertificate(role: .shop, id: "1001").fingerprint == cert.fingerprint)
        #expect(try trust.certificate(fingerprint: cert.fingerprint).der == cert.der)
        try trust.verify(cert, role: .shop, id: "1001", at: Date())
        // Credentials load from the owner's directory, with the right modes.
        let loaded = try Credentials.load(spoolRoot: pki.root, role: .shop, id: "1001", password: pki.ownerPassword)
        #expect(loaded.certificate.fingerprint == cert.fingerprint)
        let dir = SpoolLayout(root: pki.root).ownerDirectory(role: .shop, id: "1001")
        #expect(dir == pki.root + "/shops/1001")
        // The owner's directory has the layout's mode (others may pass through, never list); the key is the owner's alone.
        #expect(try FileManager.default.attributesOfItem(atPath: dir)[.posixPermissions] as? Int == 0o711)
        #expect(try FileManager.default.attributesOfItem(atPath: dir + "/key.pem")[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.attributesOfItem(atPath: pki.root + "/ca/private")[.posixPermissions] as? Int == 0o700)
        #expect(try FileManager.default.attributesOfItem(atPath: pki.root + "/ca/private/ca-key.pem")[.posixPermissions] as? Int == 0o600)
        expectError("pki.password", exit: .noPermission) {
            _ = try Credentials.load(spoolRoot: pki.root, role: .shop, id: "1001", password: "wrong")
        }
        _ = try pki.issue(.pg, "pg")
        #expect(try Credentials.loadPG(spoolRoot: pki.root, password: pki.ownerPassword).certificate.role == .pg)
        #expect(SpoolLayout(root: pki.root).ownerDirectory(role: .pg, id: "pg") == pki.root + "/pg")
        #expect(SpoolLayout(root: pki.root).ownerDirectory(role: .user, id: "u1") == pki.root + "/users/u1")
    }

    @Test func issueFromCSRKeepsTheKeyWithItsOwner() throws {
        let pki = try PKIFixture()
        let dir = TemporaryDirectory()
        let made = openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                            "-keyout", dir.path + "/k.pem", "-subj", "/CN=ignored", "-out", dir.path + "/r.csr"])
        #expect(made.status == 0, "\(made.stderr)")
        let cert = try pki.ca.issue(role: .user, id: "u7", name: "Alice", caPassword: pki.caPassword,
                                    csrPEM: try FileIO.read(dir.path + "/r.csr"))
        #expect(cert.displayName == "Alice" && cert.role == .user && cert.id == "u7")
        #expect(!FileIO.exists(pki.root + "/users/u7/key.pem"))
        // Published where the owner's programs find it; the CA writes nothing into the owner's directory.
        #expect(try FileIO.read(pki.root + "/ca/certs/user/u7.pem") == cert.pem)
        #expect(!FileIO.exists(pki.root + "/users/u7"))
        // A tampered CSR (its signature no longer matches) and garbage are refused.
        var csr = String(decoding: try FileIO.read(dir.path + "/r.csr"), as: UTF8.self)
        let lines = csr.split(separator: "\n")
        csr = lines.prefix(2).joined(separator: "\n") + "\n" + lines.dropFirst(2).joined(separator: "\n").replacingOccurrences(of: "A", with: "B") + "\n"
        #expect(throws: QRPayError.self) {
            _ = try pki.ca.issue(role: .user, id: "u8", name: "x", caPassword: pki.caPassword, csrPEM: Data(csr.utf8))
        }
        expectError("pki.pem") { _ = try pki.ca.issue(role: .user, id: "u8", name: "x", caPassword: pki.caPassword, csrPEM: Data("junk".utf8)) }
        expectError("usage") { _ = try pki.ca.issue(role: .user, id: "u8", name: "x", caPassword: pki.caPassword) }
        expectError("pki.password", exit: .noPermission) {
            _ = try pki.ca.issue(role: .user, id: "u8", name: "x", caPassword: "nope", ownerPassword: "pw")
        }
        expectError("id.unsafe", exit: .dataError) {
            _ = try pki.ca.issue(role: .user, id: "../u8", name: "x", caPassword: pki.caPassword, ownerPassword: "pw")
        }
    }

    @Test func expiredAndNotYetValid() throws {
        let pki = try PKIFixture()
        let old = try pki.issue(.shop, "old", days: 1, notBefore: Date().addingTimeInterval(-3 * Self.day))
        let future = try pki.issue(.shop, "future", days: 30, notBefore: Date().addingTimeInterval(2 * Self.day))
        let trust = try pki.trustStore()
        expectError("pki.expired") { try trust.verify(old.certificate, role: .shop, id: "old", at: Date()) }
        expectError("pki.not-yet-valid") { try trust.verify(future.certificate, role: .shop, id: "future", at: Date()) }
        // The cache honours expiry: valid (and cached) inside the period, expired after it.
        try trust.verify(future.certificate, role: .shop, id: "future", at: Date().addingTimeInterval(3 * Self.day))
        expectError("pki.expired") {
            try trust.verify(future.certificate, role: .shop, id: "future", at: Date().addingTimeInterval(40 * Self.day))
        }
        // Before the root itself was valid, nothing is.
        expectError("pki.not-yet-valid") {
            try trust.verify(old.certificate, role: .shop, id: "old", at: Date().addingTimeInterval(-2.5 * Self.day))
        }
        // The same through a signed document.
        let jws = try JWS(parsing: try JWS.sign(payload: Data("{}".utf8), type: .payment, key: old.key, certificate: old.certificate))
        expectError("pki.expired") { _ = try trust.verify(jws, type: .payment, role: .shop, id: "old", at: Date()) }
    }

    @Test func roleAndIdBinding() throws {
        let pki = try PKIFixture()
        let user = try pki.issue(.user, "1001")
        let shop = try pki.issue(.shop, "1001")
        let trust = try pki.trustStore()
        // A user certificate never passes as a shop's, even with the same id.
        expectError("pki.wrong-role") { try trust.verify(user.certificate, role: .shop, id: "1001", at: Date()) }
        expectError("pki.wrong-role") { try trust.verify(user.certificate, role: .pg, id: nil, at: Date()) }
        expectError("pki.wrong-id") { try trust.verify(shop.certificate, role: .shop, id: "1002", at: Date()) }
        try trust.verify(shop.certificate, role: .shop, id: nil, at: Date())
        let jws = try JWS(parsing: try JWS.sign(payload: Data("{}".utf8), type: .approval, key: user.key, certificate: user.certificate))
        expectError("pki.wrong-role") { _ = try trust.verify(jws, type: .approval, role: .shop, id: "1001", at: Date()) }
        expectError("pki.wrong-id") { _ = try trust.verify(jws, type: .approval, role: .user, id: "2002", at: Date()) }
        // The root itself is not a signer.
        expectError("pki.key-usage") { try trust.verify(pki.ca.certificate, role: .pg, id: nil, at: Date()) }
    }

    @Test func revocationAndTheCacheHonoursIt() throws {
        let pki = try PKIFixture()
        let shop = try pki.issue(.shop, "1001")
        let other = try pki.issue(.shop, "1002")
        let trust = try pki.trustStore()
        let jws = try JWS(parsing: try JWS.sign(payload: Data("{}".utf8), type: .payment, key: shop.key, certificate: shop.certificate))
        _ = try trust.verify(jws, type: .payment, role: .shop, id: "1001", at: Date())
        try pki.ca.revoke(role: .shop, id: "1001", caPassword: pki.caPassword)
        expectError("pki.revoked") { _ = try trust.verify(jws, type: .payment, role: .shop, id: "1001", at: Date()) }
        expectError("pki.revoked") { try trust.verify(shop.certificate, role: .shop, id: "1001", at: Date()) }
        try trust.verify(other.certificate, role: .shop, id: "1002", at: Date())
        // A fresh store agrees; re-issuing gives a new, good certificate.
        expectError("pki.revoked") { try pki.trustStore().verify(shop.certificate, role: .shop, id: "1001", at: Date()) }
        let renewed = try pki.issue(.shop, "1001")
        try trust.verify(renewed.certificate, role: .shop, id: "1001", at: Date())
        #expect(try trust.currentCertificate(role: .shop, id: "1001").fingerprint == renewed.certificate.fingerprint)
        let listed = try pki.ca.list()
        #expect(listed.count == 3)
        #expect(listed.filter { $0.revoked != nil }.map(\.fingerprint) == [shop.certificate.fingerprint])
        expectError("ca.never-issued", exit: .noInput) { try pki.ca.revoke(role: .user, id: "nobody", caPassword: pki.caPassword) }
        expectError("pki.password", exit: .noPermission) { try pki.ca.revoke(role: .shop, id: "1002", caPassword: "wrong") }
    }

    @Test func missingStaleOrForgedCRLFailsClosed() throws {
        let pki = try PKIFixture()
        let shop = try pki.issue(.shop, "1001")
        let trust = try pki.trustStore()
        try trust.verify(shop.certificate, role: .shop, id: "1001", at: Date())
        let crlPath = pki.root + "/ca/crl.pem"
        let good = try FileIO.read(crlPath)
        try FileManager.default.removeItem(atPath: crlPath)
        expectError("pki.crl-missing", exit: .tempFail) { try trust.verify(shop.certificate, role: .shop, id: "1001", at: Date()) }
        #expect(QRPayError(.pkiCRLMissing, "").isTransient)
        try Durable.write(good, to: crlPath)
        try trust.verify(shop.certificate, role: .shop, id: "1001", at: Date())
        // Stale: nextUpdate has passed (for the checked time, or for now).
        expectError("pki.crl-stale", exit: .tempFail) {
            try trust.verify(shop.certificate, role: .shop, id: "1001", at: Date().addingTimeInterval(8 * Self.day))
        }
        try pki.ca.issueCRL(caPassword: pki.caPassword, validFor: -60)
        expectError("pki.crl-stale", exit: .tempFail) { try trust.verify(shop.certificate, role: .shop, id: "1001", at: Date()) }
        try pki.ca.issueCRL(caPassword: pki.caPassword, validFor: 3600)
        try trust.verify(shop.certificate, role: .shop, id: "1001", at: Date())
        // A CRL signed by another CA (one that would un-revoke everything) is refused.
        let foreign = try PKIFixture(name: "Test CA")
        try Durable.write(try FileIO.read(foreign.root + "/ca/crl.pem"), to: crlPath, ifExists: .replace)
        expectError("pki.crl-invalid", exit: .tempFail) { try trust.verify(shop.certificate, role: .shop, id: "1001", at: Date()) }
        try Durable.write(Data("garbage".utf8), to: crlPath, ifExists: .replace)
        expectError("pki.crl-invalid", exit: .tempFail) { try trust.verify(shop.certificate, role: .shop, id: "1001", at: Date()) }
    }

    @Test func foreignCAIsUntrusted() throws {
        let pki = try PKIFixture()
        // Same CA name, different key: names are not trust.
        let foreign = try PKIFixture(name: "Test CA")
        let mallory = try foreign.issue(.shop, "1001")
        let trust = try pki.trustStore()
        expectError("pki.untrusted") { try trust.verify(mallory.certificate, role: .shop, id: "1001", at: Date()) }
        let jws = try JWS(parsing: try JWS.sign(payload: Data("{}".utf8), type: .payment, key: mallory.key, certificate: mallory.certificate))
        expectError("pki.unknown-certificate") { _ = try trust.verify(jws, type: .payment, role: .shop, id: "1001", at: Date()) }
        // Even when planted into the CA repository, it does not chain.
        try Durable.write(mallory.certificate.pem, to: pki.root + "/ca/issued/\(mallory.certificate.fingerprint).pem")
        expectError("pki.untrusted") { _ = try trust.verify(jws, type: .payment, role: .shop, id: "1001", at: Date()) }
        // And a self-signed look-alike made by openssl is untrusted too.
        let dir = TemporaryDirectory()
        let made = openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir.path + "/k",
                            "-subj", "/CN=shop", "-addext", "subjectAltName=URI:qrpay:shop:1001", "-addext", "keyUsage=critical,digitalSignature",
                            "-days", "2", "-out", dir.path + "/c.pem"])
        #expect(made.status == 0, "\(made.stderr)")
        expectError("pki.untrusted") {
            try trust.verify(try Certificate(pem: try FileIO.read(dir.path + "/c.pem")), role: .shop, id: "1001", at: Date())
        }
    }

    @Test func keyUsageWithoutDigitalSignatureIsRefused() throws {
        let pki = try PKIFixture()
        let dir = TemporaryDirectory()
        // The CA key signs, through openssl, a certificate whose keyUsage lacks digitalSignature.
        let pass = dir.write("pass", pki.caPassword + "\n")
        let ext = dir.write("ext", "keyUsage=critical,keyAgreement\nsubjectAltName=URI:qrpay:shop:9\nbasicConstraints=critical,CA:FALSE\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
        var r = openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir.path + "/k",
                         "-subj", "/CN=nine", "-out", dir.path + "/r.csr"])
        #expect(r.status == 0, "\(r.stderr)")
        r = openssl(["x509", "-req", "-in", dir.path + "/r.csr", "-CA", pki.root + "/ca/ca.pem", "-CAkey", pki.root + "/ca/private/ca-key.pem",
                     "-passin", "file:" + pass, "-CAcreateserial", "-days", "3", "-extfile", ext, "-out", dir.path + "/c.pem"])
        #expect(r.status == 0, "\(r.stderr)")
        let cert = try Certificate(pem: try FileIO.read(dir.path + "/c.pem"))
        #expect(cert.role == .shop && cert.id == "9")
        expectError("pki.key-usage") { try pki.trustStore().verify(cert, role: .shop, id: "9", at: Date()) }
    }

    @Test func truncatedCertificatePEM() throws {
        let pki = try PKIFixture()
        let pem = pki.ca.certificate.pem
        expectError("pki.pem") { _ = try Certificate(pem: pem.prefix(pem.count / 2)) }
        expectError("pki.pem") { _ = try Certificate(der: pki.ca.certificate.der.dropLast()) }
        expectError("pki.pem") { _ = try Certificate(pem: Data()) }
    }

    @Test func missingCAAndDoubleInit() throws {
        let dir = TemporaryDirectory()
        expectError("ca.missing", exit: .config) { _ = try TrustStore(spoolRoot: dir.path) }
        expectError("ca.missing", exit: .config) { _ = try CertificateAuthority(spoolRoot: dir.path) }
        _ = try CertificateAuthority.create(spoolRoot: dir.path, name: "A", password: "pw")
        expectError("ca.exists", exit: .cantCreate) { _ = try CertificateAuthority.create(spoolRoot: dir.path, name: "B", password: "pw") }
        #expect(try CertificateAuthority(spoolRoot: dir.path).certificate.displayName == "A")
    }

    /// Hundreds of documents do not rebuild the chain: one X509_verify_cert per certificate.
    @Test func verifyingManyDocumentsUsesTheCache() async throws {
        let pki = try PKIFixture()
        let shop = try pki.issue(.shop, "1001")
        let user = try pki.issue(.user, "u1")
        let trust = try pki.trustStore()
        var documents: [JWS] = []
        for i in 0..<400 {
            let signer = i % 2 == 0 ? shop : user
            documents.append(try JWS(parsing: try JWS.sign(payload: Data(#"{"n":\#(i)}"#.utf8), type: .receipt,
                                                           key: signer.key, certificate: signer.certificate)))
        }
        let all = documents
        // Concurrently, as a stage with several workers would.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var n = 0
                    for (i, jws) in all.enumerated() where i % 4 == worker {
                        let role: Role = i % 2 == 0 ? .shop : .user
                        _ = try trust.verify(jws, type: .receipt, role: role, id: nil, at: Date())
                        n += 1
                    }
                    return n
                }
            }
            var total = 0
            for try await n in group { total += n }
            #expect(total == 400)
        }
        // The cache is what is asserted; speed is measured by `make bench`, never by a test.
        #expect(trust.chainBuilds == 2)
    }
}
