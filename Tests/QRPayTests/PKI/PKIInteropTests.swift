// Interoperability with implementations the project did not write: Python joserfc (JOSE) and
// cryptography, and Project Wycheproof's JWS vectors.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPKI
import Testing

@Suite struct PKIInteropTests {
    /// joserfc verifies the project's flattened JWS with the public key of the signer's certificate,
    /// and cryptography confirms x5t#S256 is the certificate's SHA-256.
    @Test func joserfcVerifiesProjectJWS() throws {
        let pki = try PKIFixture()
        let shop = try pki.issue(.shop, "1001")
        let dir = TemporaryDirectory()
        let payload = #"{"amount":1200,"currency":"KRW","shop":"1001"}"#
        let document = try JWS.sign(payload: Data(payload.utf8), type: .payment, key: shop.key, certificate: shop.certificate)
        let docFile = dir.write("doc.json", data: document)
        let certFile = dir.write("cert.pem", data: shop.certificate.pem)
        let script = """
            import sys, json, base64, hashlib
            from joserfc import jws
            from joserfc.jwk import ECKey
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization
            cert = x509.load_pem_x509_certificate(open(sys.argv[2], 'rb').read())
            key = ECKey.import_key(cert.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
            doc = json.load(open(sys.argv[1]))
            obj = jws.deserialize_json(doc, key, algorithms=["ES256"])
            fp = base64.urlsafe_b64encode(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()).rstrip(b'=').decode()
            h = obj.headers()
            assert h["x5t#S256"] == fp, "fingerprint"
            print(h["alg"], h["typ"], obj.payload.decode())
            # A tampered payload must fail in joserfc as well.
            doc["payload"] = base64.urlsafe_b64encode(b'{"amount":9200}').rstrip(b'=').decode()
            try:
                jws.deserialize_json(doc, key, algorithms=["ES256"]); print("TAMPERED-ACCEPTED")
            except Exception:
                print("tampered-rejected")
            """
        let result = python(script, [docFile, certFile])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "ES256 qrpay-payment+jws \(payload)\ntampered-rejected\n", "\(result.stdout) \(result.stderr)")
    }

    /// Python makes a key and a CSR (cryptography); the CA certifies it; joserfc signs a flattened JWS;
    /// the project verifies it through the TrustStore.
    @Test func projectVerifiesJoserfcJWS() throws {
        let pki = try PKIFixture()
        let dir = TemporaryDirectory()
        let keyFile = dir.path + "/py-key.pem"
        let makeCSR = """
            import sys
            from cryptography import x509
            from cryptography.x509.oid import NameOID
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            key = ec.generate_private_key(ec.SECP256R1())
            open(sys.argv[1], 'wb').write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "py")])).sign(key, hashes.SHA256())
            sys.stdout.write(csr.public_bytes(serialization.Encoding.PEM).decode())
            """
        let csr = python(makeCSR, [keyFile])
        #expect(csr.status == 0, "\(csr.stderr)")
        let cert = try pki.ca.issue(role: .user, id: "py1", name: "Python User", caPassword: pki.caPassword, csrPEM: Data(csr.stdout.utf8))
        let sign = """
            import sys, json
            from joserfc import jws
            from joserfc.jwk import ECKey
            key = ECKey.import_key(open(sys.argv[1]).read())
            header = {"alg": "ES256", "typ": "qrpay-approval+jws", "x5t#S256": sys.argv[2]}
            out = jws.serialize_json({"protected": header}, sys.argv[3].encode(), key)
            print(json.dumps(out))
            """
        let payload = #"{"approved":true,"payment":"p-1"}"#
        let signed = python(sign, [keyFile, cert.fingerprint, payload])
        #expect(signed.status == 0, "\(signed.stderr)")
        let jws = try JWS(parsing: Data(signed.stdout.utf8))
        let verified = try pki.trustStore().verify(jws, type: .approval, role: .user, id: "py1", at: Date())
        #expect(String(decoding: verified.payload, as: UTF8.self) == payload)
        expectError("jws.type") { _ = try pki.trustStore().verify(jws, type: .payment, role: .user, id: "py1", at: Date()) }
        // Python can also open the project's encrypted key files (PBES2/scrypt N = 2^17/AES-256-CBC).
        _ = try pki.ca.issue(role: .shop, id: "1001", name: "Shop 1001", caPassword: pki.caPassword, ownerPassword: pki.ownerPassword)
        let open = python("""
            import sys
            from cryptography.hazmat.primitives.serialization import load_pem_private_key
            k = load_pem_private_key(open(sys.argv[1], 'rb').read(), sys.argv[2].encode()); print(k.curve.name)
            """, [SpoolLayout(root: pki.root).keyFile(role: .shop, id: "1001"), pki.ownerPassword])
        #expect(open.status == 0 && open.stdout == "secp256r1\n", "\(open.stderr)")
    }

    // MARK: Wycheproof json_web_signature_test.json

    struct JWSVector: Sendable, CustomTestStringConvertible {
        let group: String, tcId: Int, comment: String, result: String, jws: String, jwk: [String: String]
        var testDescription: String { "\(group) tc\(tcId) \(comment) (\(result))" }
    }

    /// The ES256 groups (P-256 signing keys) and the HS256 group, which QR-Pay must reject entirely.
    /// Left out: groups whose point is JWK metadata ("use":"enc", "key_ops":["encrypt"]) that QR-Pay
    /// never reads (keys come from X.509 certificates), and the RSA/P-521 groups.
    static func jwsVectors() -> [JWSVector] {
        guard let data = try? Data(contentsOf: fixtureURL("wycheproof/json_web_signature_test.json")),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let groups = root["testGroups"] as? [[String: Any]] else { return [] }
        var vectors: [JWSVector] = []
        for group in groups {
            let jwk = (group["public"] as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
            let comment = group["comment"] as? String ?? ""
            let es256 = jwk["alg"] == "ES256" && jwk["crv"] == "P-256" && jwk["use"] == "sig"
            guard es256 || comment == "hs256" else { continue }
            for test in group["tests"] as? [[String: Any]] ?? [] {
                vectors.append(JWSVector(group: comment, tcId: test["tcId"] as? Int ?? -1, comment: test["comment"] as? String ?? "",
                                         result: test["result"] as? String ?? "", jws: test["jws"] as? String ?? "", jwk: jwk))
            }
        }
        return vectors
    }

    /// Compact `a.b.c` → flattened {"protected":a,"payload":b,"signature":c}; a JSON serialization is
    /// passed as it is; anything else cannot be converted (nil).
    static func flattened(_ jws: String) -> Data? {
        if jws.hasPrefix("{") { return Data(jws.utf8) }
        let parts = jws.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else { return nil }
        return JSONValue.object(["protected": .string(parts[0]), "payload": .string(parts[1]), "signature": .string(parts[2])]).serialized()
    }

    @Test func wycheproofJWSVectors() throws {
        let vectors = Self.jwsVectors()
        #expect(vectors.count == 17 + 15 + 24)
        var accepted = 0
        for v in vectors {
            var ok = false
            var code = "unconvertible"
            if let document = Self.flattened(v.jws) {
                do {
                    let jws = try JWS(parsing: document, profile: .generic)
                    guard let x = Base64URL.decode(v.jwk["x"] ?? ""), let y = Base64URL.decode(v.jwk["y"] ?? "") else {
                        throw QRPayError(.pkiPEM, "group has no EC key")
                    }
                    let key = try PublicKey(uncompressedPoint: Data([4]) + x + y)
                    ok = jws.verifySignature(with: key)
                    code = ok ? "verified" : "jws.bad-signature"
                } catch let error as QRPayError {
                    code = error.code.rawValue
                }
            }
            if v.group == "hs256" {
                // HMAC never verifies, not even a correct HMAC.
                #expect(!ok, "\(v.testDescription)")
                #expect(["jws.alg", "jws.malformed", "unconvertible"].contains(code), "\(v.testDescription): \(code)")
            } else if v.result == "valid" {
                #expect(ok, "\(v.testDescription): \(code)")
            } else if v.result == "invalid" {
                #expect(!ok, "\(v.testDescription)")
            }
            if ok { accepted += 1 }
        }
        #expect(accepted == 2)  // acceptsValid of the es256 group and "valid" of SpecialCaseEs256
    }
}
