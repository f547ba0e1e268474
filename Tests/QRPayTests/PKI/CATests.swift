// End to end through the built qrpay-ca, checked with the openssl command-line tool.

import Foundation
@testable import QRPaySupport
@testable import QRPayPKI
import Testing

@Suite struct CATests {
    /// A spool directory and password files.
    final class Setup {
        let dir = TemporaryDirectory("ca-e2e")
        var spool: String { dir.path + "/Spool" }
        let caPass: String, ownerPass: String, wrongPass: String
        init() {
            caPass = dir.write("ca.pw", "ca password\n")
            ownerPass = dir.write("owner.pw", "owner password\n")
            wrongPass = dir.write("wrong.pw", "not it\n")
        }
        func ca(_ args: [String]) -> (status: Int32, stdout: String, stderr: String) {
            runProgram("qrpay-ca", Array(args.prefix(1)) + ["--spool", spool] + args.dropFirst())
        }
        /// `qrpay-ca init --name "E2E CA"` with this setup's CA password. `fresh: false` copies the
        /// spool one such run made for the whole test run (scrypt at the standard cost makes each
        /// init cost most of a second); the copy is byte for byte what the program left.
        func initCA(fresh: Bool = false) {
            if !fresh, let template = try? CATests.initialized.get() {
                try? FileIO.makePath(spool, mode: 0o755)
                #expect(runExecutable("/bin/cp", ["-a", template + "/.", spool]).status == 0)
                return
            }
            let r = ca(["init", "--name", "E2E CA", "--password-file", caPass])
            #expect(r.status == 0, "\(r.stderr)")
        }
    }

    /// A spool made by `qrpay-ca init --name "E2E CA"` once per test run, with Setup's CA password.
    static let initialized: Result<String, Error> = Result {
        let s = Setup()
        s.initCA(fresh: true)
        let root = PKITemplates.base + "/ca-e2e/Spool"
        try PKITemplates.copy(s.spool, to: root)
        return root
    }

    @Test func initIssueVerifyRevokeWithOpenSSL() throws {
        let s = Setup()
        s.initCA(fresh: true)
        var r = s.ca(["issue", "--role", "shop", "--id", "1001", "--name", "Coffee Shop", "--ca-password-file", s.caPass,
                      "--password-file", s.ownerPass])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("issued shop 1001 serial "))
        r = s.ca(["issue", "--role", "user", "--id", "alice", "--name", "Alice", "--ca-password-file", s.caPass,
                  "--password-file", s.ownerPass, "--days", "30"])
        #expect(r.status == 0, "\(r.stderr)")
        r = s.ca(["issue", "--role", "pg", "--id", "pg", "--name", "Gateway", "--ca-password-file", s.caPass, "--password-file", s.ownerPass])
        #expect(r.status == 0, "\(r.stderr)")
        let shopCert = s.spool + "/shops/1001/cert.pem", userCert = s.spool + "/users/alice/cert.pem"
        let caFile = s.spool + "/ca/ca.pem", crlFile = s.spool + "/ca/crl.pem"
        // openssl accepts every issued certificate against the root, with and without the CRL.
        r = openssl(["verify", "-CAfile", caFile, shopCert, userCert, s.spool + "/pg/cert.pem"])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        r = openssl(["verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, shopCert, userCert])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        // The generated keys are scrypt N = 2^17 (128 MiB): OpenSSL 3.0's `openssl` command caps scrypt
        // at 32 MiB, so another standard reader opens them: Python's cryptography, with the owner's
        // password file's bytes (one trailing newline removed), and not with another.
        let openKey = """
            import sys
            from cryptography.hazmat.primitives.serialization import load_pem_private_key
            password = open(sys.argv[2], 'rb').read()
            password = password[:-1] if password.endswith(b'\\n') else password
            try:
                k = load_pem_private_key(open(sys.argv[1], 'rb').read(), password); print(k.curve.name)
            except ValueError:
                sys.exit(3)
            """
        r = python(openKey, [s.spool + "/shops/1001/key.pem", s.ownerPass])
        #expect(r.status == 0 && r.stdout == "secp256r1\n", "\(r.stderr)")
        #expect(python(openKey, [s.spool + "/shops/1001/key.pem", s.wrongPass]).status == 3)
        r = python(openKey, [s.spool + "/ca/private/ca-key.pem", s.caPass])
        #expect(r.status == 0, "\(r.stderr)")
        r = openssl(["asn1parse", "-in", s.spool + "/shops/1001/key.pem"])
        #expect(r.stdout.contains(":scrypt") && r.stdout.contains("INTEGER           :020000"), "\(r.stdout)")
        // The certificate says what QR-Pay needs, as openssl reads it.
        r = openssl(["x509", "-in", shopCert, "-noout", "-text"])
        #expect(r.stdout.contains("URI:qrpay:shop:1001") && r.stdout.contains("Digital Signature") && r.stdout.contains("CA:FALSE"))
        #expect(r.stdout.contains("CN = Coffee Shop") && r.stdout.contains("prime256v1"))
        r = openssl(["x509", "-in", caFile, "-noout", "-text"])
        #expect(r.stdout.contains("CA:TRUE") && r.stdout.contains("Certificate Sign, CRL Sign"))

        // Revoke: openssl with -crl_check now rejects the user, still accepts the shop.
        r = s.ca(["revoke", "--role", "user", "--id", "alice", "--ca-password-file", s.caPass])
        #expect(r.status == 0, "\(r.stderr)")
        r = openssl(["verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, userCert])
        #expect(r.status != 0 && (r.stdout + r.stderr).contains("certificate revoked"), "\(r.stdout) \(r.stderr)")
        r = openssl(["verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, shopCert])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        r = openssl(["crl", "-in", crlFile, "-noout", "-text"])
        #expect(r.stdout.contains("Version 2") && r.stdout.contains("Next Update") && r.stdout.contains("CRL Number"))

        // list --json
        r = s.ca(["list", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try JSONValue.parse(r.stdout)["v"] == 1)
        let listed = try JSONValue.parse(r.stdout)["certificates"]?.arrayValue ?? []
        #expect(listed.count == 3)
        let alice = listed.first { $0["id"] == "alice" }
        #expect(alice?["role"] == "user" && alice?["name"] == "Alice" && alice?["revoked"]?.stringValue != nil)
        #expect(listed.first { $0["id"] == "1001" }?["revoked"] == .null)
        for entry in listed {
            #expect(Set(entry.objectValue?.keys.map { $0 } ?? []) == ["role", "id", "name", "serial", "fingerprint", "notBefore", "notAfter", "revoked"])
        }
        r = s.ca(["list"])
        #expect(r.status == 0 && r.stdout.split(separator: "\n").count == 4)
        // The project's TrustStore agrees.
        let trust = try TrustStore(spoolRoot: s.spool)
        try trust.verify(try trust.currentCertificate(role: .shop, id: "1001"), role: .shop, id: "1001", at: Date())
        expectError("pki.revoked") { try trust.verify(try trust.currentCertificate(role: .user, id: "alice"), role: .user, id: "alice", at: Date()) }
    }

    @Test func issueFromCSRAndCRLReissue() throws {
        let s = Setup()
        s.initCA()
        var r = openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", s.dir.path + "/k.pem",
                         "-subj", "/CN=whatever", "-out", s.dir.path + "/req.csr"])
        #expect(r.status == 0, "\(r.stderr)")
        r = s.ca(["issue", "--role", "user", "--id", "u-9", "--name", "Bob", "--ca-password-file", s.caPass, "--csr", s.dir.path + "/req.csr"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!FileIO.exists(s.spool + "/users/u-9/key.pem"))
        // The certificate matches the key that never left its owner.
        let certKey = openssl(["x509", "-in", s.spool + "/ca/certs/user/u-9.pem", "-noout", "-pubkey"])
        let ownKey = openssl(["pkey", "-in", s.dir.path + "/k.pem", "-pubout"])
        #expect(certKey.status == 0 && certKey.stdout == ownKey.stdout)
        let before = try FileIO.read(s.spool + "/ca/crl.pem")
        r = s.ca(["crl", "--ca-password-file", s.caPass, "--valid-for", "2h"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try FileIO.read(s.spool + "/ca/crl.pem") != before)
        r = openssl(["crl", "-in", s.spool + "/ca/crl.pem", "-noout", "-lastupdate", "-nextupdate", "-crlnumber"])
        #expect(r.stdout.contains("crlNumber=0x01") || r.stdout.contains("crlNumber=01"), "\(r.stdout)")
        r = s.ca(["crl", "--ca-password-file", s.caPass, "--valid-for", "soon"])
        #expect(r.status == 64, "\(r.stderr)")
    }

    @Test func wrongPasswordExits77() throws {
        let s = Setup()
        s.initCA()
        var r = s.ca(["issue", "--role", "shop", "--id", "1001", "--name", "X", "--ca-password-file", s.wrongPass, "--password-file", s.ownerPass])
        #expect(r.status == 77, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("qrpay-ca: error: The password does not unlock the CA's private key"), "\(r.stderr)")
        #expect(r.stderr.contains("--ca-password-file"), "\(r.stderr)")
        #expect(!FileIO.exists(s.spool + "/shops/1001"))
        r = s.ca(["crl", "--ca-password-file", s.wrongPass])
        #expect(r.status == 77, "\(r.stderr)")
        r = s.ca(["revoke", "--role", "shop", "--id", "1001", "--ca-password-file", s.wrongPass])
        #expect(r.status == 77, "\(r.stderr)")
    }

    @Test(arguments: ["../etc", ".", "..", "a/b", "a b", "", String(repeating: "x", count: 65), "é", "a:b", "x\ty"])
    func unsafeIdsExit65(_ id: String) throws {
        let s = Setup()
        s.initCA()
        let r = s.ca(["issue", "--role", "shop", "--id", id, "--name", "X", "--ca-password-file", s.caPass, "--password-file", s.ownerPass])
        #expect(r.status == 65, "\(r.status) \(r.stderr)")
        #expect(r.stderr.contains("is not a valid id"), "\(r.stderr)")
        let revoke = s.ca(["revoke", "--role", "user", "--id", id, "--ca-password-file", s.caPass])
        #expect(revoke.status == 65, "\(revoke.stderr)")
        #expect(!FileIO.exists(s.spool + "/etc") && !FileIO.exists(s.dir.path + "/etc"))
        #expect(try CertificateAuthority(spoolRoot: s.spool).list().isEmpty)
    }

    @Test func usageErrorsAndRefusals() throws {
        let s = Setup()
        // No spool at all (a typo in --spool): no input, naming the option, never suggesting a CA.
        var r = s.ca(["issue", "--role", "shop", "--id", "1", "--name", "X", "--ca-password-file", s.caPass, "--password-file", s.ownerPass])
        #expect(r.status == 66 && r.stderr.contains("--spool") && !r.stderr.contains("qrpay-ca init"), "\(r.stderr)")
        // A spool without a CA yet: configuration error.
        try FileIO.makePath(s.spool, mode: 0o755)
        r = s.ca(["issue", "--role", "shop", "--id", "1", "--name", "X", "--ca-password-file", s.caPass, "--password-file", s.ownerPass])
        #expect(r.status == 78, "\(r.stderr)")
        r = s.ca(["list"])
        #expect(r.status == 78, "\(r.stderr)")
        s.initCA()
        r = s.ca(["init", "--name", "Again", "--password-file", s.caPass])
        #expect(r.status == 73, "\(r.stderr)")
        // Exactly one of --password-file and --csr.
        r = s.ca(["issue", "--role", "shop", "--id", "1", "--name", "X", "--ca-password-file", s.caPass])
        #expect(r.status == 64, "\(r.stderr)")
        r = s.ca(["issue", "--role", "shop", "--id", "1", "--name", "X", "--ca-password-file", s.caPass, "--password-file", s.ownerPass,
                  "--csr", s.ownerPass])
        #expect(r.status == 64, "\(r.stderr)")
        r = s.ca(["issue", "--role", "admin", "--id", "1", "--name", "X", "--ca-password-file", s.caPass, "--password-file", s.ownerPass])
        #expect(r.status == 64, "\(r.stderr)")
        // A CSR that is not one, a missing password file.
        r = s.ca(["issue", "--role", "shop", "--id", "1", "--name", "X", "--ca-password-file", s.caPass, "--csr", s.caPass])
        #expect(r.status == 65, "\(r.stderr)")
        r = s.ca(["issue", "--role", "shop", "--id", "1", "--name", "X", "--ca-password-file", s.dir.path + "/absent", "--password-file", s.ownerPass])
        #expect(r.status == 66, "\(r.stderr)")
        r = s.ca(["revoke", "--role", "shop", "--id", "never", "--ca-password-file", s.caPass])
        #expect(r.status == 66, "\(r.stderr)")
        // An id that has a valid certificate: refused (nothing written, the owner's key kept) unless
        // --renew, which issues the new one and revokes the old one, saying so.
        let issue2 = ["issue", "--role", "shop", "--id", "2", "--name", "X", "--ca-password-file", s.caPass, "--password-file", s.ownerPass]
        r = s.ca(issue2)
        #expect(r.status == 0, "\(r.stderr)")
        let key = try FileIO.read(s.spool + "/shops/2/key.pem")
        r = s.ca(issue2)
        #expect(r.status == 73 && r.stderr.contains("already has a valid certificate") && r.stderr.contains("--renew"), "\(r.stderr)")
        #expect(try FileIO.read(s.spool + "/shops/2/key.pem") == key)
        #expect(try CertificateAuthority(spoolRoot: s.spool).list().filter { $0.id == "2" }.count == 1)
        r = s.ca(issue2 + ["--renew"])
        #expect(r.status == 0 && r.stdout.contains("revoked shop 2 serial") && r.stdout.contains("CRL re-issued"), "\(r.stdout)")
        let twos = try CertificateAuthority(spoolRoot: s.spool).list().filter { $0.id == "2" }
        #expect(twos.count == 2 && twos[0].revoked != nil && twos[1].revoked == nil)
        #expect(try TrustStore(spoolRoot: s.spool).revocation(of: try Certificate(pem: try FileIO.read(s.spool + "/ca/issued/\(twos[0].fingerprint).pem"))) != nil)
        // Help explains the program's place in the pipeline.
        r = runProgram("qrpay-ca", ["--help"])
        #expect(r.status == 0 && r.stdout.contains("pipeline") && r.stdout.contains("issue"))
    }

    @Test func spoolDefaultsToEnvironment() throws {
        let s = Setup()
        let r = runProgram("qrpay-ca", ["init", "--name", "Env CA", "--password-file", s.caPass], env: ["QRPAY_SPOOL": s.spool])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileIO.exists(s.spool + "/ca/ca.pem"))
    }
}
