// Signed documents: JWS (RFC 7515) in the flattened JSON serialization, ES256 only.
//
//   {"payload":"<b64url>","protected":"<b64url>","signature":"<b64url r||s>"}
//   protected header: {"alg":"ES256","typ":"qrpay-<kind>+jws","x5t#S256":"<b64url SHA-256 of the signer's DER>"}
//
// Parsing is strict: exactly these members (no unprotected "header"), canonical unpadded base64url,
// strict JSON (no duplicate keys) in the header, alg exactly "ES256" (never "none", HMAC or any
// other), no "crit", a 64-byte signature. The `typ` names the document kind, so a signature made
// for one kind never verifies as another (TrustStore.verify checks it).

import Foundation
import QRPaySupport

/// JWS "typ" values, one per document kind.
package enum DocumentType: String, Sendable, CaseIterable {
    case payment = "qrpay-payment+jws"
    case approval = "qrpay-approval+jws"
    case cancel = "qrpay-cancel+jws"
    case notice = "qrpay-notice+jws"
    case receipt = "qrpay-receipt+jws"
    case checkpoint = "qrpay-checkpoint+jws"
    case report = "qrpay-report+jws"
    /// An entry of the payment-information list (pg/list/), signed by the PG.
    case list = "qrpay-list+jws"
    /// The PG's refusal of a document a shop sent (into shops/ID/notices/).
    case refusal = "qrpay-refusal+jws"
    /// A payout's manifest: every payment a payout file covers (Payouts/Payout.swift).
    case payout = "qrpay-payout+jws"
}

package struct JWS: Sendable {
    package let payload: Data
    /// Raw r||s, 64 bytes.
    package let signature: Data
    /// The protected header's `typ`.
    package let type: String
    /// The protected header's `x5t#S256`: the signer certificate's fingerprint.
    package let fingerprint: String
    /// ASCII(BASE64URL(protected) "." BASE64URL(payload)): what the signature covers.
    package let signingInput: Data
    /// BASE64URL(signature), as the document carries it.
    package let encodedSignature: String
    /// The whole document as parsed (to embed it elsewhere without parsing it again).
    package let object: JSONValue

    /// The largest signed document QR-Pay reads.
    package static let maxBytes = 1 << 20

    /// Signs `payload` as a document of kind `type` with `key`, naming `certificate` in the header.
    package static func sign(payload: Data, type: DocumentType, key: PrivateKey, certificate: Certificate) throws -> Data {
        guard key.matches(certificate) else {
            throw QRPayError(.pkiKeyMismatch, "The signing key does not belong to the certificate \(certificate).")
        }
        return try sign(payload: payload, protected: protectedHeader(type: type, fingerprint: certificate.fingerprint), key: key)
    }

    /// Signs with unlocked credentials (their headers are made once, when they are loaded).
    package static func sign(payload: Data, type: DocumentType, credentials: Credentials) throws -> Data {
        try sign(payload: payload, protected: credentials.protectedHeader(type), key: credentials.key)
    }

    private static func sign(payload: Data, protected: String, key: PrivateKey) throws -> Data {
        let encodedPayload = Base64URL.encode(payload)
        let signature = try key.sign(Data((protected + "." + encodedPayload).utf8))
        let document: JSONValue = [
            "payload": .string(encodedPayload), "protected": .string(protected), "signature": .string(Base64URL.encode(signature)),
        ]
        return document.serialized()
    }

    /// BASE64URL of the protected header for (type, signer).
    static func protectedHeader(type: DocumentType, fingerprint: String) -> String {
        let header: JSONValue = ["alg": "ES256", "typ": .string(type.rawValue), "x5t#S256": .string(fingerprint)]
        return Base64URL.encode(header.serialized())
    }

    /// Parses a QR-Pay JWS strictly (see the top of this file). Errors: `jws.malformed`, `jws.alg`, `jws.type`.
    package init(parsing data: Data) throws {
        try self.init(parsing: data, profile: .qrpay)
    }

    enum Profile {
        /// Exactly alg, typ, x5t#S256.
        case qrpay
        /// alg required; typ and kid optional (for interoperability tests with foreign JWS such as Wycheproof's).
        case generic
    }

    init(parsing data: Data, profile: Profile) throws {
        func malformed(_ why: String) -> QRPayError {
            QRPayError(.jwsMalformed, "The signed document is malformed: \(why).")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(data, options: .init(maxBytes: JWS.maxBytes), what: "signed document")
        } catch let error as QRPayError {
            throw QRPayError(.jwsMalformed, "The signed document is not strict JSON: \(error.message)")
        }
        guard case .object(let members) = value else { throw malformed("it is not a JSON object") }
        let unknown = Set(members.keys).subtracting(["payload", "protected", "signature"])
        guard unknown.isEmpty else { throw malformed("unexpected member(s) \(unknown.sorted().joined(separator: ", "))") }
        func part(_ key: String) throws -> (text: String, bytes: Data) {
            guard let member = members[key] else { throw malformed("\"\(key)\" is missing") }
            guard case .string(let text) = member else { throw malformed("\"\(key)\" is not a string") }
            guard let bytes = Base64URL.decode(text) else { throw malformed("\"\(key)\" is not canonical unpadded base64url") }
            return (text, bytes)
        }
        let protected = try part("protected")
        let payload = try part("payload")
        let signature = try part("signature")

        let header: [String: JSONValue]
        do {
            guard case .object(let h) = try JSONValue.parse(protected.bytes, what: "JWS header") else {
                throw malformed("the protected header is not a JSON object")
            }
            header = h
        } catch let error as QRPayError where error.code != "jws.malformed" {
            throw malformed("the protected header is not strict JSON (\(error.message))")
        }
        guard let alg = header["alg"] else { throw QRPayError(.jwsAlg, "The signed document names no algorithm; only ES256 is accepted.") }
        guard alg == .string("ES256") else {
            let shown = alg.stringValue.map { "\"\($0.prefix(20))\"" } ?? "a non-string"
            throw QRPayError(.jwsAlg, "The signed document uses the algorithm \(shown); only ES256 is accepted.")
        }
        guard header["crit"] == nil else { throw malformed("the header has \"crit\" extensions, which QR-Pay does not support") }
        let allowed: Set<String> = profile == .qrpay ? ["alg", "typ", "x5t#S256"] : ["alg", "typ", "kid"]
        let extra = Set(header.keys).subtracting(allowed)
        guard extra.isEmpty else { throw malformed("the header has unexpected member(s) \(extra.sorted().joined(separator: ", "))") }

        switch header["typ"] {
        case .string(let typ): type = typ
        case nil where profile == .generic: type = ""
        default: throw QRPayError(.jwsType, "The signed document does not name its kind (typ).")
        }
        switch header["x5t#S256"] {
        case .string(let fp):
            guard fp.utf8.count == 43, Base64URL.decode(fp)?.count == 32 else {
                throw malformed("x5t#S256 is not a base64url SHA-256 fingerprint")
            }
            fingerprint = fp
        case nil where profile == .generic: fingerprint = ""
        default: throw malformed("the header does not name the signer's certificate (x5t#S256)")
        }
        guard signature.bytes.count == 64 else {
            throw malformed("an ES256 signature is 64 bytes, this one is \(signature.bytes.count)")
        }
        self.payload = payload.bytes
        self.signature = signature.bytes
        self.signingInput = Data((protected.text + "." + payload.text).utf8)
        self.encodedSignature = signature.text
        self.object = value
    }

    /// True when the signature verifies with `key` (no certificate checks: use TrustStore.verify).
    package func verifySignature(with key: PublicKey) -> Bool {
        key.verify(signature: signature, message: signingInput)
    }
}

/// A document whose signature, certificate and signer binding have been verified.
package struct VerifiedDocument: Sendable {
    package let payload: Data
    package let signer: Certificate
    package let role: Role
    package let id: String
}

extension JWS {
    /// base64url SHA-256 of the document's compact serialization (protected.payload.signature):
    /// what approvals bind to, independent of JSON whitespace.
    package var documentHash: String {
        var compact = signingInput
        compact.append(contentsOf: Array(".".utf8))
        compact.append(contentsOf: Array(encodedSignature.utf8))
        return Base64URL.encode(Digest.sha256(compact))
    }
}
