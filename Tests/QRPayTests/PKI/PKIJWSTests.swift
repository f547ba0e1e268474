import Foundation
@testable import QRPaySupport
@testable import QRPayPKI
import Testing

@Suite struct PKIJWSTests {
    /// Re-serializes a flattened JWS with some members replaced.
    static func rewrite(_ document: Data, _ change: (inout [String: JSONValue]) -> Void) throws -> Data {
        guard case .object(var members) = try JSONValue.parse(document) else { throw QRPayError(.jsonNotObject, "not an object") }
        change(&members)
        return JSONValue.object(members).serialized()
    }

    static func protectedHeader(_ header: JSONValue) -> JSONValue { .string(Base64URL.encode(header.serialized())) }

    @Test func signParseVerify() throws {
        let pki = try PKIFixture()
        let shop = try pki.issue(.shop, "1001")
        let payload = Data(#"{"amount":1200,"shop":"1001"}"#.utf8)
        let document = try JWS.sign(payload: payload, type: .payment, key: shop.key, certificate: shop.certificate)
        let jws = try JWS(parsing: document)
        #expect(jws.payload == payload)
        #expect(jws.type == "qrpay-payment+jws")
        #expect(jws.fingerprint == shop.certificate.fingerprint)
        #expect(jws.signature.count == 64)
        guard case .object(let members) = try JSONValue.parse(document) else { Issue.record("not an object"); return }
        #expect(Set(members.keys) == ["payload", "protected", "signature"])
        let header = try JSONValue.parse(Base64URL.decode(members["protected"]!.stringValue!)!)
        #expect(header == ["alg": "ES256", "typ": "qrpay-payment+jws", "x5t#S256": .string(shop.certificate.fingerprint)])
        let verified = try pki.trustStore().verify(jws, type: .payment, role: .shop, id: "1001", at: Date())
        #expect(verified.payload == payload && verified.id == "1001" && verified.role == .shop)
        #expect(verified.signer.fingerprint == shop.certificate.fingerprint)
        // nil id: any shop.
        #expect(try pki.trustStore().verify(jws, type: .payment, role: .shop, id: nil, at: Date()).id == "1001")
    }

    @Test func signingWithAnotherKeyIsRefused() throws {
        let pki = try PKIFixture()
        let shop = try pki.issue(.shop, "1001")
        expectError("pki.key-mismatch") {
            _ = try JWS.sign(payload: Data(), type: .payment, key: try PrivateKey.generate(), certificate: shop.certificate)
        }
    }

    /// A document of one kind never verifies as another.
    @Test(arguments: DocumentType.allCases)
    func typeConfusionIsRefused(_ kind: DocumentType) throws {
        let pki = try PKIFixture()
        let pg = try pki.issue(.pg, "pg")
        let trust = try pki.trustStore()
        let jws = try JWS(parsing: try JWS.sign(payload: Data("{}".utf8), type: kind, key: pg.key, certificate: pg.certificate))
        #expect(try trust.verify(jws, type: kind, role: .pg, id: "pg", at: Date()).payload == Data("{}".utf8))
        for other in DocumentType.allCases where other != kind {
            expectError("jws.type") { _ = try trust.verify(jws, type: other, role: .pg, id: "pg", at: Date()) }
        }
    }

    @Test func tamperedPayloadHeaderOrSignatureFails() throws {
        let pki = try PKIFixture()
        let shop = try pki.issue(.shop, "1001")
        let trust = try pki.trustStore()
        let document = try JWS.sign(payload: Data(#"{"amount":1200}"#.utf8), type: .payment, key: shop.key, certificate: shop.certificate)
        let payload = try Self.rewrite(document) { $0["payload"] = .string(Base64URL.encode(Data(#"{"amount":9200}"#.utf8))) }
        expectError("jws.bad-signature") { _ = try trust.verify(try JWS(parsing: payload), type: .payment, role: .shop, id: "1001", at: Date()) }
        // The header says approval now: it parses and names the right certificate, but the signature covers the old header.
        let header = try Self.rewrite(document) {
            $0["protected"] = Self.protectedHeader(["alg": "ES256", "typ": "qrpay-approval+jws", "x5t#S256": .string(shop.certificate.fingerprint)])
        }
        expectError("jws.bad-signature") { _ = try trust.verify(try JWS(parsing: header), type: .approval, role: .shop, id: "1001", at: Date()) }
        let jws = try JWS(parsing: document)
        for index in [0, 31, 32, 63] {
            var signature = jws.signature
            signature[index] ^= 0x01
            let tampered = try Self.rewrite(document) { $0["signature"] = .string(Base64URL.encode(signature)) }
            expectError("jws.bad-signature") { _ = try trust.verify(try JWS(parsing: tampered), type: .payment, role: .shop, id: "1001", at: Date()) }
        }
        // Another shop's valid signature over the same content, with this shop's certificate named.
        let other = try pki.issue(.shop, "1002")
        let forged = try Self.rewrite(try JWS.sign(payload: jws.payload, type: .payment, key: other.key, certificate: other.certificate)) {
            $0["protected"] = .string(String(decoding: jws.signingInput.prefix(while: { $0 != 0x2E }), as: UTF8.self))
        }
        expectError("jws.bad-signature") { _ = try trust.verify(try JWS(parsing: forged), type: .payment, role: .shop, id: "1001", at: Date()) }
    }

    static let fingerprint = Base64URL.encode(Data(repeating: 7, count: 32))

    /// Only ES256: never none, never HMAC, never anything else.
    @Test(arguments: ["none", "HS256", "HS512", "ES384", "ES512", "RS256", "PS256", "EdDSA", "es256", "ES256 ", ""])
    func otherAlgorithmsAreRefused(_ alg: String) throws {
        let header: JSONValue = ["alg": .string(alg), "typ": "qrpay-payment+jws", "x5t#S256": .string(Self.fingerprint)]
        let signature = alg == "none" ? "" : Base64URL.encode(Data(repeating: 1, count: alg.hasPrefix("HS") ? 32 : 64))
        let document: JSONValue = ["protected": Self.protectedHeader(header), "payload": "e30", "signature": .string(signature)]
        expectError("jws.alg") { _ = try JWS(parsing: document.serialized()) }
    }

    @Test func algMustBeAStringAndPresent() throws {
        for header: JSONValue in [["typ": "qrpay-payment+jws", "x5t#S256": .string(Self.fingerprint)],
                                  ["alg": ["ES256"], "typ": "qrpay-payment+jws", "x5t#S256": .string(Self.fingerprint)],
                                  ["alg": nil, "typ": "qrpay-payment+jws", "x5t#S256": .string(Self.fingerprint)]] {
            let document: JSONValue = ["protected": Self.protectedHeader(header), "payload": "e30",
                                       "signature": .string(Base64URL.encode(Data(count: 64)))]
            expectError("jws.alg") { _ = try JWS(parsing: document.serialized()) }
        }
    }

    /// HS256 with an HMAC that is correct for a key an attacker could guess (the public key bytes).
    @Test func hmacSignedWithThePublicKeyIsRefused() throws {
        let pki = try PKIFixture()
        let shop = try pki.issue(.shop, "1001")
        let header = Self.protectedHeader(["alg": "HS256", "typ": "qrpay-payment+jws", "x5t#S256": .string(shop.certificate.fingerprint)])
        let document: JSONValue = ["protected": header, "payload": "e30", "signature": .string(Base64URL.encode(Data(count: 32)))]
        expectError("jws.alg") { _ = try JWS(parsing: document.serialized()) }
    }

    static let sig64 = JSONValue.string(Base64URL.encode(Data(repeating: 3, count: 64)))
    static let goodHeader: JSONValue = ["alg": "ES256", "typ": "qrpay-payment+jws", "x5t#S256": .string(fingerprint)]

    @Test(arguments: [
        // not JSON / not an object / duplicate keys
        "", "[]", "{", #"{"payload":"e30","payload":"e30","protected":"PH","signature":"SIG"}"#,
        // missing or extra members, unprotected header, general serialization
        #"{"payload":"e30","signature":"SIG"}"#,
        #"{"payload":"e30","protected":"PH","signature":"SIG","header":{"kid":"x"}}"#,
        #"{"payload":"e30","signatures":[{"protected":"PH","signature":"SIG"}]}"#,
        // non-canonical base64url: padding, standard alphabet, whitespace
        #"{"payload":"e30=","protected":"PH","signature":"SIG"}"#,
        #"{"payload":"e3+","protected":"PH","signature":"SIG"}"#,
        #"{"payload":" e30","protected":"PH","signature":"SIG"}"#,
        #"{"payload":12,"protected":"PH","signature":"SIG"}"#,
    ])
    func malformedDocuments(_ template: String) throws {
        let text = template.replacingOccurrences(of: "PH", with: Self.protectedHeader(Self.goodHeader).stringValue!)
            .replacingOccurrences(of: "SIG", with: Self.sig64.stringValue!)
        expectError("jws.malformed") { _ = try JWS(parsing: Data(text.utf8)) }
    }

    @Test func malformedHeaders() throws {
        let fp = JSONValue.string(Self.fingerprint)
        let headers: [JSONValue] = [
            ["alg": "ES256", "typ": "qrpay-payment+jws", "x5t#S256": fp, "crit": ["exp"]],
            ["alg": "ES256", "typ": "qrpay-payment+jws", "x5t#S256": fp, "jwk": ["kty": "EC"]],
            ["alg": "ES256", "typ": "qrpay-payment+jws", "x5t#S256": fp, "kid": "k"],
            ["alg": "ES256", "typ": "qrpay-payment+jws"],
            ["alg": "ES256", "typ": "qrpay-payment+jws", "x5t#S256": "short"],
            ["alg": "ES256", "typ": "qrpay-payment+jws", "x5t#S256": .string(Base64URL.encode(Data(count: 20)))],
        ]
        for header in headers {
            let document: JSONValue = ["protected": Self.protectedHeader(header), "payload": "e30", "signature": Self.sig64]
            expectError("jws.malformed") { _ = try JWS(parsing: document.serialized()) }
        }
        // The header itself must be strict JSON: duplicate keys in it are refused.
        let duplicate = Base64URL.encode(Data(#"{"alg":"ES256","alg":"none","typ":"qrpay-payment+jws","x5t#S256":"\#(Self.fingerprint)"}"#.utf8))
        let document: JSONValue = ["protected": .string(duplicate), "payload": "e30", "signature": Self.sig64]
        expectError("jws.malformed") { _ = try JWS(parsing: document.serialized()) }
        // No typ at all.
        let untyped: JSONValue = ["protected": Self.protectedHeader(["alg": "ES256", "x5t#S256": fp]), "payload": "e30", "signature": Self.sig64]
        expectError("jws.type") { _ = try JWS(parsing: untyped.serialized()) }
        // Wrong signature length.
        let short: JSONValue = ["protected": Self.protectedHeader(Self.goodHeader), "payload": "e30",
                                "signature": .string(Base64URL.encode(Data(count: 63)))]
        expectError("jws.malformed") { _ = try JWS(parsing: short.serialized()) }
    }

    @Test func unknownFingerprintIsUnknownCertificate() throws {
        let pki = try PKIFixture()
        let document: JSONValue = ["protected": Self.protectedHeader(Self.goodHeader), "payload": "e30", "signature": Self.sig64]
        expectError("pki.unknown-certificate") {
            _ = try pki.trustStore().verify(try JWS(parsing: document.serialized()), type: .payment, role: .shop, id: nil, at: Date())
        }
    }
}
