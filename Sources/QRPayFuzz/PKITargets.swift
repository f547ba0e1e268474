// Targets over PKI files: X.509 certificates (PEM or DER) and the CA's CRL.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI

enum CertificateTarget {
    static func run(_ data: Data) throws -> FuzzOutcome {
        let env = FuzzEnvironment.shared
        let isPEM = data.range(of: Data("-----BEGIN".utf8)) != nil
        let cert: Certificate
        switch try attempt({ isPEM ? try Certificate(pem: data) : try Certificate(der: data) }) {
        case .failure(let error): return .refused(error.code.rawValue)
        case .success(let parsed): cert = parsed
        }
        try require(cert.fingerprint == Base64URL.encode(Digest.sha256(cert.der)), "the fingerprint is not the DER's SHA-256")
        let fromDER = try must("reading the certificate's own DER") { try Certificate(der: cert.der) }
        try require(fromDER.der == cert.der && fromDER.fingerprint == cert.fingerprint, "the DER does not round-trip")
        let fromPEM = try must("reading the certificate's own PEM") { try Certificate(pem: cert.pem) }
        try require(fromPEM.der == cert.der, "the PEM does not round-trip")
        try require((cert.role == nil) == (cert.id == nil), "a role without an id, or an id without a role")
        if let id = cert.id { try require(Identifier.isValid(id), "the certificate binds the unsafe id \"\(id.prefix(80))\"") }
        try require(fromDER.role == cert.role && fromDER.id == cert.id && fromDER.serialHex == cert.serialHex
                    && fromDER.notBefore == cert.notBefore && fromDER.notAfter == cert.notAfter, "the same DER reads as other facts")
        _ = cert.description
        // Only what the fixture CA issued, and did not revoke, verifies against it.
        switch try attempt({ try env.trust.verify(cert, role: cert.role ?? .shop, id: cert.id, at: fixtureNow) }) {
        case .success:
            try require(env.issuedFingerprints.contains(cert.fingerprint) && cert.fingerprint != env.revoked.fingerprint,
                        "a certificate the fixture CA did not issue (or revoked) verified: \(cert)")
            return .accepted
        case .failure(let error):
            return .refused(error.code.rawValue)
        }
    }
}

/// The input is the spool's ca/crl.pem; a fresh trust store (no cached CRL) checks the fixture
/// shop's certificate and the revoked one against it.
enum CRLTarget {
    static let spool: String = {
        let env = FuzzEnvironment.shared
        let dir = env.scratch + "/crl-spool"
        do {
            try FuzzEnvironment.writeCA(spool: dir, crl: Data(), issued: [env.shop, env.revoked])
        } catch { fatalError("crl target: \(error)") }
        return dir
    }()

    static func run(_ data: Data) throws -> FuzzOutcome {
        let env = FuzzEnvironment.shared
        return try env.fileLock.withLock {
            try writeScratch(data, SpoolLayout(root: spool).crl)
            let trust = try must("a trust store over the fixture CA") { try TrustStore(spoolRoot: spool) }
            // Shop 1002 is revoked in the fixture CRL (an older CRL of the CA may predate that).
            switch try attempt({ try trust.verify(env.revoked, role: .shop, id: nil, at: fixtureNow) }) {
            case .success:
                try require(data != Data(FixturePKI.crl.utf8), "the certificate the CRL revokes verified")
            case .failure(let error):
                try require(error.code == .pkiRevoked || (error.code.rawValue.hasPrefix("pki.crl-") && error.isTransient),
                            "checking a certificate against a CRL failed with \(error.code.rawValue)")
            }
            switch try attempt({ try trust.verify(env.shop, role: .shop, id: "1001", at: fixtureNow) }) {
            case .success:
                return .accepted
            case .failure(let error):
                // Fail closed, and transiently: a bad CRL defers the work, it never refuses the document.
                try require(error.code.rawValue.hasPrefix("pki.crl-") && error.isTransient,
                            "a bad CRL made the shop's valid certificate fail with \(error.code) (exit \(error.exit.rawValue))")
                return .refused(error.code.rawValue)
            }
        }
    }
}
