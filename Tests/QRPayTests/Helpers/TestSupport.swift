// Helpers of the PKI tests: running built programs and python3, temporary spools, a ready CA.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPKI
import Testing

/// Runs the built program `name` (from $QRPAY_BIN, else the debug build directory) with `args`.
/// stdout and stderr are read before waiting, so a chatty program never blocks on a full pipe.
func runProgram(_ name: String, _ args: [String], stdin: Data? = nil, env: [String: String] = [:])
    -> (status: Int32, stdout: String, stderr: String) {
    let path = name.hasPrefix("/") ? name : programDirectory() + "/" + name
    return runExecutable(path, args, stdin: stdin, env: env)
}

/// Runs any executable by absolute path (python3, openssl...).
func runExecutable(_ path: String, _ args: [String], stdin: Data? = nil, env: [String: String] = [:])
    -> (status: Int32, stdout: String, stderr: String) {
    let started = Date()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = args
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    process.environment = environment
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    do { try process.run() } catch {
        return (127, "", "cannot run \(path): \(error)")
    }
    // Feed stdin and drain stderr on other threads while this one drains stdout.
    let errBox = DataBox()
    let group = DispatchGroup()
    let errHandle = err.fileHandleForReading, inHandle = input.fileHandleForWriting
    group.enter()
    DispatchQueue.global().async {
        errBox.data = errHandle.readDataToEndOfFile()
        group.leave()
    }
    DispatchQueue.global().async {
        if let stdin { try? inHandle.write(contentsOf: stdin) }
        try? inHandle.close()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let errData = errBox.data
    process.waitUntilExit()
    traceRun(path, args, since: started)
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// QRPAY_TEST_TRACE=FILE appends one line per program run ("seconds<TAB>program args"): where the
/// suite's time goes, for making it faster.
func traceRun(_ path: String, _ args: [String], since started: Date) {
    guard let file = ProcessInfo.processInfo.environment["QRPAY_TEST_TRACE"], !file.isEmpty else { return }
    let line = String(format: "%.3f\t", Date().timeIntervalSince(started)) + ([path] + args).joined(separator: " ") + "\n"
    let fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    guard fd >= 0 else { return }
    _ = line.withCString { write(fd, $0, strlen($0)) }
    close(fd)
}

final class DataBox: @unchecked Sendable { var data = Data() }

func programDirectory() -> String {
    if let bin = ProcessInfo.processInfo.environment["QRPAY_BIN"], !bin.isEmpty { return bin }
    // `swift test` without QRPAY_BIN: the test bundle sits in the build directory beside the programs.
    return Bundle.main.bundleURL.deletingLastPathComponent().path
}

/// Absolute path of a tool on PATH (python3, openssl).
func tool(_ name: String) -> String {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return "/usr/bin/\(name)"
}

/// python3 -c `script` with arguments.
func python(_ script: String, _ args: [String] = [], stdin: Data? = nil) -> (status: Int32, stdout: String, stderr: String) {
    runExecutable(pythonExecutable, ["-c", script] + args, stdin: stdin)
}

/// The interpreter python3 on PATH runs (sys.executable), asked once: a version manager's shim
/// (pyenv) costs a shell and a version lookup on every run.
let pythonExecutable: String = {
    let r = runExecutable(tool("python3"), ["-c", "import sys; print(sys.executable)"])
    let path = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    return r.status == 0 && FileManager.default.isExecutableFile(atPath: path) ? path : tool("python3")
}()

func openssl(_ args: [String]) -> (status: Int32, stdout: String, stderr: String) {
    runExecutable(tool("openssl"), args)
}

/// A temporary directory removed when the value is released.
final class TemporaryDirectory {
    let path: String
    /// In TMPDIR (`make test` points it at a tmpfs: the suite makes thousands of directories, each
    /// a journal transaction on a disk), or under `base`.
    init(_ label: String = "pki", base: String? = nil) {
        let parent = base.map { URL(fileURLWithPath: $0) } ?? FileManager.default.temporaryDirectory
        path = parent.appendingPathComponent("qrpay-\(label)-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `text` to `name` in the directory and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) -> String {
        let file = path + "/" + name
        try! Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }
    func write(_ name: String, data: Data) -> String {
        let file = path + "/" + name
        try! data.write(to: URL(fileURLWithPath: file))
        return file
    }
}

/// Where tests that must run on the disk's file system (not TMPDIR, which `make test` puts on a
/// tmpfs) make their directories: QRPAY_DISK_TMPDIR, else .build/disk-tmp in the package.
/// Created when missing.
func diskTemporaryBase() -> String {
    var dir = repositoryRoot + "/.build/disk-tmp"
    if let chosen = ProcessInfo.processInfo.environment["QRPAY_DISK_TMPDIR"], !chosen.isEmpty { dir = chosen }
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Whether `path` is on a tmpfs: the type of the mount with the longest mount point above it
/// (/proc/self/mounts).
func isTmpfs(_ path: String) -> Bool {
    guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return false }
    let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    var best = (length: -1, type: "")
    for line in mounts.split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard fields.count >= 3 else { continue }
        let point = fields[1].replacingOccurrences(of: "\\040", with: " ")
        let inside = point == "/" || resolved == point || resolved.hasPrefix(point + "/")
        if inside && point.count > best.length { best = (point.count, String(fields[2])) }
    }
    return best.type == "tmpfs"
}

/// A spool with a CA and a few certificates: shop 1001, user u1, pg.
final class PKIFixture {
    let dir: TemporaryDirectory
    var root: String { dir.path + "/Spool" }
    let caPassword = PKITemplates.caPassword
    let ownerPassword = PKITemplates.ownerPassword
    let ca: CertificateAuthority

    /// A fresh spool with a CA. The default CA is minted once per test run and copied (its key is
    /// the same in every copy; every copy's repository, index and CRL are its own).
    /// `name`: a CA of its own, minted now (a foreign CA, even one with the same name, has its own key).
    init(name: String? = nil) throws {
        dir = TemporaryDirectory("spool")
        if let name {
            ca = try CertificateAuthority.create(spoolRoot: dir.path + "/Spool", name: name, password: caPassword, keyProtection: .fixture)
        } else {
            try PKITemplates.copy(try PKITemplates.ca.get(), to: dir.path + "/Spool")
            ca = try CertificateAuthority(spoolRoot: dir.path + "/Spool")
        }
    }

    /// Copies the once-minted pipeline spool (CA, PG1, shops 1001 and 2002, users u1 and u2).
    init(pipelineTemplate: String, base: String? = nil) throws {
        dir = TemporaryDirectory("spool", base: base)
        try PKITemplates.copy(pipelineTemplate, to: dir.path + "/Spool")
        ca = try CertificateAuthority(spoolRoot: dir.path + "/Spool")
    }

    @discardableResult
    func issue(_ role: Role, _ id: String, name: String? = nil, days: Int = 365, notBefore: Date? = nil) throws -> Credentials {
        let cert = try ca.issue(role: role, id: id, name: name ?? "\(role.rawValue) \(id)", caPassword: caPassword,
                                ownerPassword: ownerPassword, validityDays: days, notBefore: notBefore, keyProtection: .fixture)
        let key = try PrivateKey(encryptedPEM: try FileIO.read(SpoolLayout(root: root).keyFile(role: role, id: id)),
                                 password: ownerPassword)
        return try Credentials(key: key, certificate: cert)
    }

    func trustStore() throws -> TrustStore { try TrustStore(spoolRoot: root) }
}

extension KeyProtection {
    /// The fixtures' keys: scrypt N = 2^10, r = 8 (1 MiB; about 5 ms to unlock on the 2-core test
    /// machine, against 76 ms for 2^14 and 0.7 s for the standard 2^17). The programs unlock a key
    /// on every run and the suite runs them about a thousand times: at 2^14 a quarter of the suite's
    /// CPU went to scrypt. Never made by QR-Pay itself; the standard cost is tested where keys are
    /// made (PKIKeyTests, every key `qrpay-ca` makes in CATests and DeploymentTests).
    static let fixture = KeyProtection(n: 1 << 10, r: 8, p: 1)
}

/// Spools minted once per test run: scrypt makes every key cost tens of milliseconds, so the suite's
/// fixtures copy these instead of minting their own CA and keys. Their keys use the fixture scrypt
/// cost (KeyProtection.fixture); the standard cost (2^17) is tested where keys are made
/// (PKIKeyTests, and every key `qrpay-ca` makes in CATests). Removed when the test process exits.
enum PKITemplates {
    static let caPassword = "ca secret"
    static let ownerPassword = "owner secret"
    static let base: String = {
        let path = NSTemporaryDirectory() + "/qrpay-templates-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        templatesToRemove = path
        atexit { if let path = templatesToRemove { try? FileManager.default.removeItem(atPath: path) } }
        return path
    }()

    /// A spool holding only a CA.
    static let ca: Result<String, Error> = Result {
        let root = base + "/ca/Spool"
        _ = try CertificateAuthority.create(spoolRoot: root, name: "Test CA", password: caPassword, keyProtection: .fixture)
        return root
    }

    /// A spool with the CA, the PG (PG1), shops 1001 and 2002 and users u1 and u2, and their credentials.
    static let pipeline: Result<(root: String, pg: Credentials, shops: [String: Credentials], users: [String: Credentials]), Error> = Result {
        let root = base + "/pipeline/Spool"
        try copy(try ca.get(), to: root)
        let authority = try CertificateAuthority(spoolRoot: root)
        func issue(_ role: Role, _ id: String, _ name: String) throws -> Credentials {
            let cert = try authority.issue(role: role, id: id, name: name, caPassword: caPassword, ownerPassword: ownerPassword, keyProtection: .fixture)
            let key = try PrivateKey(encryptedPEM: try FileIO.read(SpoolLayout(root: root).keyFile(role: role, id: id)), password: ownerPassword)
            return try Credentials(key: key, certificate: cert)
        }
        let pg = try issue(.pg, "PG1", "Test Gateway")
        var shops: [String: Credentials] = [:], users: [String: Credentials] = [:]
        for id in ["1001", "2002"] { shops[id] = try issue(.shop, id, "Shop \(id)") }
        for id in ["u1", "u2"] { users[id] = try issue(.user, id, "User \(id)") }
        return (root, pg, shops, users)
    }

    /// `cp -a`: modes, and the tree exactly.
    static func copy(_ source: String, to target: String) throws {
        try FileManager.default.createDirectory(atPath: FileIO.parentDirectory(target), withIntermediateDirectories: true)
        let r = runExecutable("/bin/cp", ["-a", source, target])
        guard r.status == 0 else { throw QRPayError(.ioFailed, "cp -a \(source) \(target): \(r.stderr)") }
    }
}

nonisolated(unsafe) private var templatesToRemove: String?

/// The fixtures folder copied into the test bundle (Package.swift: resources .copy("Fixtures")).
func fixtureURL(_ relative: String) -> URL {
    if let base = Bundle.module.resourceURL {
        let url = base.appendingPathComponent("Fixtures/" + relative)
        if FileManager.default.fileExists(atPath: url.path) { return url }
    }
    return URL(fileURLWithPath: repositoryRoot + "/Tests/QRPayTests/Fixtures/" + relative)
}

/// Expects `body` to throw a QRPayError with `code` (and `exit`, when given); returns it.
@discardableResult
func expectError(_ code: String, exit: SysExit? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                 _ body: () throws -> Void) -> QRPayError? {
    do {
        try body()
        Issue.record("expected error \(code), but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as QRPayError {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        if let exit { #expect(error.exit == exit, sourceLocation: sourceLocation) }
        return error
    } catch {
        Issue.record("expected QRPayError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
