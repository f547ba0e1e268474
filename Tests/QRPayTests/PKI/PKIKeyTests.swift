import Foundation
@testable import QRPaySupport
@testable import QRPayPKI
import Testing

@Suite struct PKIKeyTests {
    @Test func signAndVerifyRawAndDER() throws {
        let key = try PrivateKey.generate()
        let message = Data("pay 1200 KRW".utf8)
        let raw = try key.sign(message)
        #expect(raw.count == 64)
        #expect(key.publicKey.verify(signature: raw, message: message))
        #expect(!key.publicKey.verify(signature: raw, message: Data("pay 9200 KRW".utf8)))
        var flipped = raw
        flipped[10] ^= 1
        #expect(!key.publicKey.verify(signature: flipped, message: message))
        #expect(!key.publicKey.verify(signature: raw.dropLast(), message: message))
        #expect(!key.publicKey.verify(signature: raw + Data([0]), message: message))
        #expect(!key.publicKey.verify(signature: Data(), message: message))
        let der = try key.signDER(message)
        #expect(key.publicKey.verify(derSignature: der, message: message))
        #expect(!key.publicKey.verify(derSignature: raw, message: message))
        #expect(!(try PrivateKey.generate()).publicKey.verify(signature: raw, message: message))
    }

    @Test func encryptedPEMRoundTripAndWrongPassword() throws {
        let key = try PrivateKey.generate()
        let pem = try key.encryptedPEM(password: "correct horse")
        #expect(String(decoding: pem, as: UTF8.self).hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        let back = try PrivateKey(encryptedPEM: pem, password: "correct horse")
        let signature = try back.sign(Data("x".utf8))
        #expect(key.publicKey.verify(signature: signature, message: Data("x".utf8)))
        expectError("pki.password", exit: .noPermission) { _ = try PrivateKey(encryptedPEM: pem, password: "wrong horse") }
        expectError("password.empty", exit: .noPermission) { _ = try PrivateKey(encryptedPEM: pem, password: "") }
        expectError("password.empty", exit: .noPermission) { _ = try key.encryptedPEM(password: "") }
        // New keys: PBES2, scrypt with N = 2^17 (0x020000), r = 8, p = 1, AES-256-CBC (read by openssl asn1parse).
        let dir = TemporaryDirectory()
        let parsed = openssl(["asn1parse", "-in", dir.write("key.pem", data: pem)])
        #expect(parsed.status == 0, "\(parsed.stderr)")
        #expect(parsed.stdout.contains(":PBES2") && parsed.stdout.contains(":scrypt") && parsed.stdout.contains(":aes-256-cbc"))
        let integers = parsed.stdout.split(separator: "\n").filter { $0.contains("INTEGER") }.map { $0.split(separator: ":").last.map(String.init) ?? "" }
        #expect(integers.prefix(3) == ["020000", "08", "01"], "scrypt parameters: \(integers)")
    }

    /// Password files are bytes: Latin-1 is not re-encoded, one trailing newline goes, NUL and empty are refused.
    @Test func passwordFilesAreBytes() throws {
        let dir = TemporaryDirectory()
        let latin1: [UInt8] = [0x63, 0x61, 0x66, 0xE9]  // "café" in Latin-1: not UTF-8
        let file = dir.write("latin1", data: Data(latin1 + [0x0A]))
        let password = try Password.read(file: file)
        #expect(password.count == 4)
        #expect(password.matches(try Password(bytes: latin1)))
        #expect(!password.matches(try Password("café")))
        let pem = try PrivateKey.generate().encryptedPEM(password: password, protection: .legacy)
        _ = try PrivateKey(encryptedPEM: pem, password: try Password.read(file: file))
        // The same bytes decoded lossily (U+FFFD) or as UTF-8 text do not open it.
        expectError("pki.password") { _ = try PrivateKey(encryptedPEM: pem, password: try Password("caf\u{FFFD}")) }
        expectError("pki.password") { _ = try PrivateKey(encryptedPEM: pem, password: "café") }
        // openssl reads the same bytes from the same file.
        let keyFile = dir.write("key.pem", data: pem)
        let opened = openssl(["pkey", "-in", keyFile, "-passin", "file:" + file, "-noout"])
        #expect(opened.status == 0, "\(opened.stderr)")
        // Only one trailing newline is removed; a second is part of the password.
        #expect(try Password.read(file: dir.write("two", data: Data([0x70, 0x77, 0x0A, 0x0A]))).count == 3)
        #expect(try Password.read(file: dir.write("none", data: Data([0x70, 0x77]))).count == 2)
        #expect(try Password.read(file: dir.write("cr", data: Data([0x70, 0x77, 0x0D, 0x0A]))).count == 3)
        // NUL anywhere, including first (which C would read as the empty password), is refused.
        expectError("password.nul") { _ = try Password.read(file: dir.write("nul0", data: Data([0x00, 0x70, 0x77, 0x0A]))) }
        expectError("password.nul") { _ = try Password.read(file: dir.write("nul1", data: Data([0x70, 0x00, 0x77]))) }
        expectError("password.empty") { _ = try Password.read(file: dir.write("empty", data: Data())) }
        expectError("password.empty") { _ = try Password.read(file: dir.write("newline", data: Data([0x0A]))) }
        expectError("password.missing") { _ = try Password.read(file: dir.path + "/absent") }
    }

    /// Keys other tools made: PBES2 with scrypt or with PBKDF2 of at least 100,000 iterations open;
    /// PBES1 and PBKDF2 under 100,000 iterations are refused before any password is tried.
    @Test func weakKeySchemesAreRefused() throws {
        let dir = TemporaryDirectory()
        let passFile = dir.write("pass", "s3cret pass\n")
        let plain = dir.path + "/plain.pem"
        #expect(openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", plain]).status == 0)
        func convert(_ name: String, _ options: [String]) -> Data? {
            let out = dir.path + "/" + name
            let r = openssl(["pkcs8", "-topk8", "-in", plain, "-passout", "file:" + passFile, "-out", out] + options)
            #expect(r.status == 0, "\(name): \(r.stderr)")
            return try? FileIO.read(out)
        }
        for (name, options) in [("scrypt", ["-scrypt"]), ("pbkdf2", ["-v2", "aes-256-cbc", "-iter", "100000"])] {
            let pem = try #require(convert(name, options))
            let key = try PrivateKey(encryptedPEM: pem, password: "s3cret pass")
            #expect(key.publicKey.verify(signature: try key.sign(Data([1])), message: Data([1])), "\(name)")
        }
        for (name, options) in [("pbkdf2-2048", ["-v2", "aes-256-cbc", "-iter", "2048"]), ("pbes1", ["-v1", "PBE-SHA1-3DES"])] {
            let pem = try #require(convert(name, options))
            // Refused as weak, with the right password and with a wrong one alike.
            expectError("pki.key-scheme") { _ = try PrivateKey(encryptedPEM: pem, password: "s3cret pass") }
            expectError("pki.key-scheme") { _ = try PrivateKey(encryptedPEM: pem, password: "wrong") }
        }
    }

    @Test(arguments: [0.3, 0.6, 0.9])
    func truncatedPEMIsAPEMError(_ fraction: Double) throws {
        // The cut is found before any password is tried: the cheap fixture cost does as well as 2^17.
        let pem = try PrivateKey.generate().encryptedPEM(password: "pw", protection: .fixture)
        let cut = pem.prefix(Int(Double(pem.count) * fraction))
        expectError("pki.pem") { _ = try PrivateKey(encryptedPEM: cut, password: "pw") }
    }

    @Test func garbageAndUnencryptedKeysAreRefused() throws {
        expectError("pki.pem") { _ = try PrivateKey(encryptedPEM: Data("hello".utf8), password: "pw") }
        expectError("pki.pem") { _ = try PrivateKey(encryptedPEM: Data(), password: "pw") }
        // An unencrypted PKCS#8 key made by openssl: QR-Pay only reads encrypted keys.
        let dir = TemporaryDirectory()
        let result = openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", dir.path + "/plain.pem"])
        #expect(result.status == 0, "\(result.stderr)")
        expectError("pki.pem") { _ = try PrivateKey(encryptedPEM: try FileIO.read(dir.path + "/plain.pem"), password: "pw") }
    }

    /// Interoperability of key files. OpenSSL 3.0's `openssl` command caps scrypt at 32 MiB, so it
    /// opens keys of the legacy cost (N = 2^14) but not QR-Pay's standard ones (2^17, 128 MiB); Python's
    /// `cryptography` opens both (PKIInteropTests). Keys openssl makes open here.
    @Test func keysOpenWithOpenSSLAndOpenSSLKeysOpenHere() throws {
        let dir = TemporaryDirectory()
        let key = try PrivateKey.generate()
        let keyFile = dir.write("key.pem", data: try key.encryptedPEM(password: "s3cret pass", protection: .legacy))
        let passFile = dir.write("pass", "s3cret pass\n")
        let wrongFile = dir.write("wrong", "nope\n")
        let ok = openssl(["pkey", "-in", keyFile, "-passin", "file:" + passFile, "-pubout"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(try PublicKey(pem: Data(ok.stdout.utf8)).spkiDER == key.publicKey.spkiDER)
        let details = openssl(["asn1parse", "-in", keyFile])
        #expect(details.stdout.contains(":scrypt") && details.stdout.contains(":aes-256-cbc"))
        #expect(openssl(["pkey", "-in", keyFile, "-passin", "file:" + wrongFile, "-noout"]).status != 0)
        // And the reverse: a key openssl encrypted with scrypt opens with the project.
        let theirs = dir.path + "/theirs.pem", plain = dir.path + "/plain.pem"
        #expect(openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", plain]).status == 0)
        let made = openssl(["pkcs8", "-topk8", "-scrypt", "-in", plain, "-passout", "file:" + passFile, "-out", theirs])
        #expect(made.status == 0, "\(made.stderr)")
        let opened = try PrivateKey(encryptedPEM: try FileIO.read(theirs), password: "s3cret pass")
        #expect(opened.publicKey.verify(signature: try opened.sign(Data([1, 2, 3])), message: Data([1, 2, 3])))
    }

    @Test func signaturesVerifyWithOpenSSLDgst() throws {
        let dir = TemporaryDirectory()
        let key = try PrivateKey.generate()
        let message = Data("checkpoint 42".utf8)
        let msgFile = dir.write("msg", data: message)
        let sigFile = dir.write("sig.der", data: try key.signDER(message))
        let pubFile = dir.write("pub.der", data: key.publicKey.spkiDER)
        let result = openssl(["dgst", "-sha256", "-verify", pubFile, "-keyform", "DER", "-signature", sigFile, msgFile])
        #expect(result.status == 0 && result.stdout.contains("Verified OK"), "\(result.stdout) \(result.stderr)")
    }

    @Test func publicKeysMustBeP256Points() throws {
        let key = try PrivateKey.generate()
        let spki = key.publicKey.spkiDER
        #expect(try PublicKey(spkiDER: spki).spkiDER == spki)
        #expect(try PublicKey(uncompressedPoint: spki.suffix(65)).spkiDER == spki)
        var offCurve = Data(spki.suffix(65))
        offCurve[64] ^= 1
        expectError("pki.pem") { _ = try PublicKey(uncompressedPoint: offCurve) }
        expectError("pki.pem") { _ = try PublicKey(spkiDER: spki + Data([0])) }
    }
}

/// Every ECDSA P-256 SHA-256 vector of Project Wycheproof through PublicKey.verify.
@Suite struct PKIWycheproofTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let tcId: Int, comment: String, result: String, msg: Data, sig: Data, publicKeyDER: Data
        var testDescription: String { "tc\(tcId) \(comment) (\(result))" }
    }

    static func load(_ file: String) -> [Vector] {
        guard let data = try? Data(contentsOf: fixtureURL("wycheproof/" + file)),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let groups = root["testGroups"] as? [[String: Any]] else { return [] }
        var vectors: [Vector] = []
        for group in groups {
            guard let der = Hex.decode(group["publicKeyDer"] as? String ?? "") else { continue }
            for test in group["tests"] as? [[String: Any]] ?? [] {
                vectors.append(Vector(tcId: test["tcId"] as? Int ?? -1, comment: test["comment"] as? String ?? "",
                                      result: test["result"] as? String ?? "?",
                                      msg: Hex.decode(test["msg"] as? String ?? "") ?? Data(),
                                      sig: Hex.decode(test["sig"] as? String ?? "") ?? Data(), publicKeyDER: der))
            }
        }
        return vectors
    }

    static func check(_ vectors: [Vector], expectedCount: Int, verify: (PublicKey, Vector) -> Bool) throws {
        #expect(vectors.count == expectedCount)
        var keys: [Data: PublicKey] = [:]
        var counts: [String: Int] = [:]
        for v in vectors {
            let key: PublicKey
            if let k = keys[v.publicKeyDER] { key = k } else {
                key = try PublicKey(spkiDER: v.publicKeyDER)
                keys[v.publicKeyDER] = key
            }
            let accepted = verify(key, v)
            counts[v.result, default: 0] += 1
            switch v.result {
            case "valid": #expect(accepted, "\(v.testDescription) must verify")
            case "invalid": #expect(!accepted, "\(v.testDescription) must not verify")
            default: break  // "acceptable": either answer, but no crash
            }
        }
        #expect(counts["valid", default: 0] > 0 && counts["invalid", default: 0] > 0)
    }

    @Test func derVectors() throws {
        try Self.check(Self.load("ecdsa_secp256r1_sha256_test.json"), expectedCount: 484) { key, v in
            key.verify(derSignature: v.sig, message: v.msg)
        }
    }

    @Test func p1363Vectors() throws {
        try Self.check(Self.load("ecdsa_secp256r1_sha256_p1363_test.json"), expectedCount: 262) { key, v in
            key.verify(signature: v.sig, message: v.msg)
        }
    }
}
