// What the targets share: a scratch directory (on tmpfs when there is one: the file-based targets
// write and fsync per input) holding a spool with the fixture CA (FixturePKI.swift), its trust
// store and certificates. Made once per process, removed at exit.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private var scratchToRemove: String?

final class FuzzEnvironment: @unchecked Sendable {
    static let shared: FuzzEnvironment = {
        do { return try FuzzEnvironment() } catch { fatalError("fuzz environment: \(error)") }
    }()

    /// The scratch directory of this process.
    let scratch: String
    /// A spool with ca/ca.pem, ca/crl.pem and ca/issued/ of the fixture CA.
    let spool: String
    let trust: TrustStore
    let ca: Certificate
    let shop: Certificate
    let user: Certificate
    let pg: Certificate
    /// A shop certificate the fixture CRL revokes.
    let revoked: Certificate
    /// Serialises the targets that work in files of their own under `scratch` (tests replay
    /// targets in parallel; libFuzzer runs one input at a time anyway).
    let fileLock = NSLock()

    private init() throws {
        let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        FuzzEnvironment.removeAbandonedScratch(in: base)
        var template = Array((base + "/qrpay-fuzz-\(getpid())-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw QRPayError(.ioFailed, "cannot make a scratch directory in \(base)") }
        scratch = String(cString: made)
        scratchToRemove = scratch
        atexit {
            if let dir = scratchToRemove { try? FileManager.default.removeItem(atPath: dir) }
        }
        spool = scratch + "/pki"
        ca = try Certificate(pem: Data(FixturePKI.ca.utf8))
        shop = try Certificate(pem: Data(FixturePKI.shop.utf8))
        user = try Certificate(pem: Data(FixturePKI.user.utf8))
        pg = try Certificate(pem: Data(FixturePKI.pg.utf8))
        revoked = try Certificate(pem: Data(FixturePKI.revoked.utf8))
        try FuzzEnvironment.writeCA(spool: spool, crl: Data(FixturePKI.crl.utf8),
                                    issued: [shop, user, pg, revoked])
        trust = try TrustStore(spoolRoot: spool)
    }

    /// Removes the scratch directories of fuzz processes that are gone (a crash ends a fuzzer
    /// without its exit handler; libFuzzer crashes are the point).
    static func removeAbandonedScratch(in base: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix("qrpay-fuzz-") {
            let parts = name.split(separator: "-")
            guard parts.count == 4, let pid = pid_t(parts[2]), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: base + "/" + name) }
        }
    }

    /// Writes ROOT/ca/ca.pem, ROOT/ca/crl.pem and ROOT/ca/issued/FINGERPRINT.pem of the fixture CA.
    static func writeCA(spool: String, crl: Data, issued: [Certificate]) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: SpoolLayout(root: spool).issuedDirectory, withIntermediateDirectories: true)
        try Data(FixturePKI.ca.utf8).write(to: URL(fileURLWithPath: SpoolLayout(root: spool).caCertificate))
        try crl.write(to: URL(fileURLWithPath: SpoolLayout(root: spool).crl))
        for cert in issued {
            try cert.pem.write(to: URL(fileURLWithPath: SpoolLayout(root: spool).issuedCertificate(fingerprint: cert.fingerprint)))
        }
    }

    /// A fresh, empty directory `scratch/NAME` (removed first when it exists).
    func freshDirectory(_ name: String) throws -> String {
        let path = scratch + "/" + name
        let fm = FileManager.default
        if fm.fileExists(atPath: path) { try fm.removeItem(atPath: path) }
        try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Every certificate the fixture CA issued, by fingerprint.
    var issuedFingerprints: Set<String> { [shop.fingerprint, user.fingerprint, pg.fingerprint, revoked.fingerprint] }
}

/// Writes `data` to `path`, replacing it (scratch files only).
func writeScratch(_ data: Data, _ path: String) throws {
    do { try data.write(to: URL(fileURLWithPath: path)) } catch {
        throw FuzzViolation(target: "", message: "cannot write the scratch file \(path): \(error)")
    }
}
