// qrpay-bench pipeline - the pipeline's throughput, scale and latency measured against the targets
// of the performance issue, with the photo decode rows, printed as one table (what `make bench`
// runs; see QRPayBench.swift). Every figure comes from the real programs run as subprocesses on
// spools the bench builds with the in-process API (CA, certificates, documents signed for real).

import ArgumentParser
import Foundation
import Synchronization
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayImaging
import QRPayTestPhotos
import QRPayPayments
import QRPayLedger
import QRPayOperations
import QRPayCommand
#if canImport(Glibc)
import Glibc
#endif

extension QRPayBench {
    struct PipelineBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pipeline",
            abstract: "Register/approve throughput against a reference loop, scale, --watch latency and photo decode, in one table.")

        @Option(help: "Payments (and approvals) per throughput run.") var count = 20_000
        @Option(help: "Shops the payments come from.") var shops = 50
        @Option(help: "Users who approve.") var users = 10
        @Option(help: "Payments in the reference loop (default: --count).") var referenceCount: Int?
        @Option(help: "Throughput rounds, each on a fresh spool: reference loop, then register, then approve; the table shows medians (the machine's speed drifts, a single pair would not say much).")
        var rounds = 3
        @Option(help: "Payments already registered in the scale spool; 0 skips the scale rows.") var scale = 1_000_000
        @Option(help: "Payments dropped one at a time for the --watch latency; 0 skips it.") var watchDrops = 1000
        @Option(help: ArgumentHelp("Open payments (not yet due) in the two spools of the idle qrpay-settle rows; 0 skips them.", valueName: "small,large"))
        var settleOpen = "500,100000"
        @Option(help: "Photo-like 12 MP images for the decode rows; 0 skips them.") var decodeCount = 20
        @Option(help: ArgumentHelp("The zbarimg to compare with ('' to skip).", valueName: "path")) var zbarimg = "/usr/bin/zbarimg"
        @Option(help: ArgumentHelp("Where the programs are (default: beside qrpay-bench).", valueName: "dir")) var bin: String?
        @Option(help: ArgumentHelp("The qrpay-reconcile to time (default: BIN/qrpay-reconcile; the row is skipped when absent).", valueName: "path"))
        var reconcile: String?
        @Option(help: ArgumentHelp("Build the spools in this folder and keep them (default: a temporary folder, removed).", valueName: "dir"))
        var work: String?
        @Flag(help: "Small figures everywhere (a functional check of the bench, not a measurement).") var quick = false
        @Flag(help: .hidden) var setupOnly = false

        func run() throws {
            try runReportingErrors("qrpay-bench") {
                var p = self
                if quick {
                    p.count = min(count, 100); p.shops = min(shops, 5); p.users = min(users, 3); p.scale = min(scale, 500)
                    p.watchDrops = min(watchDrops, 10); p.decodeCount = min(decodeCount, 1); p.rounds = 1
                    p.settleOpen = "50,1000"
                }
                guard p.count > 0, p.shops > 0, p.users > 0, p.rounds > 0, p.scale >= 0, p.watchDrops >= 0, p.decodeCount >= 0 else {
                    throw QRPayError.usage("--count, --shops, --users and --rounds must be > 0; --scale, --watch-drops, --decode-count >= 0")
                }
                var run = PipelineRun(p)
                try run.run()
            }
        }
    }
}

/// One signed payment, with what the bench needs of it.
struct SignedPayment: Sendable {
    let data: Data
    let shop: String
    let payment: String
    let total: Int64
    let documentHash: String
    let signature: Data
    let signingInput: Data
}

/// The bench's CA, PG, shops (S0001...) and users (U0001...), minted once per run in `root` and
/// copied into each spool: a key costs three scrypt derivations to make (128 MiB each at the standard
/// cost), so minting per spool spent most of a quick run there. The copies are byte for byte what
/// `qrpay-ca` would have left (`cp -a` of ca/ and each owner's directory).
final class BenchPKI: Sendable {
    static let caPassword = "bench-ca-password"
    static let ownerPassword = "bench-owner-password"
    let root: String
    let shops: [(id: String, credentials: Credentials)]
    let users: [(id: String, credentials: Credentials)]
    let pg: Credentials

    /// `protection`: the standard scrypt cost for measurements (the stages unlock the PG's key once
    /// per run, as deployed); `--quick` uses the legacy cost (a functional check, not a measurement).
    init(root: String, shops shopCount: Int, users userCount: Int, protection: KeyProtection) throws {
        self.root = root
        try FileIO.makePath(root, mode: 0o755)
        let ca = try CertificateAuthority.create(spoolRoot: root, name: "Bench CA", password: BenchPKI.caPassword, keyProtection: protection)
        _ = try ca.issue(role: .pg, id: "PG1", name: "Bench PG", caPassword: BenchPKI.caPassword, ownerPassword: BenchPKI.ownerPassword,
                         keyProtection: protection)
        pg = try Credentials.load(spoolRoot: root, role: .pg, id: "PG1", password: BenchPKI.ownerPassword)
        let owners: [(Role, String)] = (1...shopCount).map { (.shop, String(format: "S%04d", $0)) }
            + (0..<userCount).map { (.user, String(format: "U%04d", $0 + 1)) }
        let issued = Slots<Credentials>(owners.count)
        try parallelFor(owners.count) { i in
            let (role, id) = owners[i]
            _ = try ca.issue(role: role, id: id, name: "Bench \(id)", caPassword: BenchPKI.caPassword, ownerPassword: BenchPKI.ownerPassword,
                             keyProtection: protection)
            issued[i] = try Credentials.load(spoolRoot: root, role: role, id: id, password: BenchPKI.ownerPassword)
        }
        var s: [(String, Credentials)] = [], u: [(String, Credentials)] = []
        for (i, owner) in owners.enumerated() {
            if owner.0 == .shop { s.append((owner.1, issued[i]!)) } else { u.append((owner.1, issued[i]!)) }
        }
        shops = s
        users = u
    }

    /// Copies the CA, the PG and the first `shops` shops and `users` users into `target` (`cp -a`).
    func copy(to target: String, shops shopCount: Int, users userCount: Int) throws {
        guard shopCount <= shops.count, userCount <= users.count else {
            throw QRPayError(.benchFailed, "the bench minted \(shops.count) shops and \(users.count) users, \(shopCount) and \(userCount) asked")
        }
        let from = SpoolLayout(root: root), to = SpoolLayout(root: target)
        var pairs = [(from.caDirectory, to.caDirectory),
                     (from.ownerDirectory(role: .pg, id: "PG1"), to.ownerDirectory(role: .pg, id: "PG1"))]
        pairs += shops.prefix(shopCount).map { (from.ownerDirectory(role: .shop, id: $0.id), to.ownerDirectory(role: .shop, id: $0.id)) }
        pairs += users.prefix(userCount).map { (from.ownerDirectory(role: .user, id: $0.id), to.ownerDirectory(role: .user, id: $0.id)) }
        for (source, destination) in pairs {
            try FileIO.makePath(FileIO.parentDirectory(destination), mode: 0o755)
            let r = try Child.run("/bin/cp", ["-a", source, destination], stderr: target + ".cp.log")
            guard r.status == 0 else { throw QRPayError(.benchFailed, "cp -a \(source) \(destination) exited \(r.status); see \(target).cp.log") }
        }
        try? FileManager.default.removeItem(atPath: target + ".cp.log")
    }
}

/// A spool with a CA, the PG, shops and users, all certified (copied from the run's BenchPKI).
final class BenchSpool: Sendable {
    static let ownerPassword = BenchPKI.ownerPassword
    let root: String
    let passwordFile: String
    let shops: [(id: String, credentials: Credentials)]
    let users: [(id: String, credentials: Credentials)]

    init(root: String, pki: BenchPKI, shops shopCount: Int, users userCount: Int) throws {
        self.root = root
        try FileIO.makePath(root, mode: 0o755)
        try pki.copy(to: root, shops: shopCount, users: userCount)
        shops = Array(pki.shops.prefix(shopCount))
        users = Array(pki.users.prefix(userCount))
        // As a PG sets up after enrolling its shops (README, Deploying): queues, the list's token
        // directories and the shops' record buckets exist before the first payment.
        _ = try SpoolSetup.run(spoolRoot: root)
        passwordFile = root + ".pass"
        try Durable.write(Data((BenchSpool.ownerPassword + "\n").utf8), to: passwordFile, mode: 0o600, ifExists: .replace)
    }

    func info(_ index: Int, prefix: String, shop: Int? = nil, now: Date) throws -> PaymentInfo {
        let id = shops[shop ?? index % shops.count].id
        return try PaymentInfo(shop: id, payment: "\(prefix)-\(index)", currency: try Currency("KRW"),
                               items: [try PaymentItem(name: "Americano", quantity: 2, unitPrice: 4500),
                                       try PaymentItem(name: "Bagel", quantity: 1, unitPrice: 3200)],
                               created: now, expires: now + 6 * 3600)
    }

    /// Payment `index` signed by its shop, as qrpay-shop signs it.
    func sign(_ info: PaymentInfo) throws -> SignedPayment {
        let c = shops.first { $0.id == info.shop }!.credentials
        let data = try JWS.sign(payload: info.json.serialized(), type: .payment, key: c.key, certificate: c.certificate)
        let jws = try JWS(parsing: data)
        return SignedPayment(data: data, shop: info.shop, payment: info.payment, total: info.total,
                             documentHash: jws.documentHash, signature: jws.signature, signingInput: jws.signingInput)
    }

    func signPayments(_ count: Int, prefix: String, shop: Int? = nil) throws -> [SignedPayment] {
        let now = Date()
        let out = Slots<SignedPayment>(count)
        try parallelFor(count) { i in out[i] = try self.sign(try self.info(i, prefix: prefix, shop: shop, now: now)) }
        return out.values
    }

    func signApprovals(for payments: [SignedPayment]) throws -> [Data] {
        let now = Date()
        let out = Slots<Data>(payments.count)
        try parallelFor(payments.count) { i in
            let p = payments[i]
            let (user, c) = self.users[i % self.users.count]
            let a = try Approval(shop: p.shop, payment: p.payment, user: user, total: p.total, currency: "KRW",
                                 document: p.documentHash, audience: "PG1", at: now)
            out[i] = try JWS.sign(payload: a.json.serialized(), type: .approval, key: c.key, certificate: c.certificate)
        }
        return out.values
    }

    /// Drops documents into a queue with group commits of 1,000 (as a busy shop front end would).
    func deliver(_ documents: [Data], to queue: Queue) throws {
        let context = StageContext(spoolRoot: root)
        try context.ensureQueue(queue)
        for start in stride(from: 0, to: documents.count, by: 1000) {
            let commit = GroupCommit(context: context)
            for document in documents[start..<min(start + 1000, documents.count)] { try commit.deliver(document, to: queue) }
            try commit.flush()
        }
    }

    var layout: SpoolLayout { SpoolLayout(root: root) }
}

struct PipelineRun {
    let p: QRPayBench.PipelineBench
    let bin: String
    let work: String
    let keep: Bool
    var table = ResultTable()
    /// Minted once by run(), copied into every spool.
    var pki: BenchPKI!

    init(_ p: QRPayBench.PipelineBench) {
        self.p = p
        bin = p.bin ?? ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map {
            ($0 as NSString).deletingLastPathComponent } ?? ".")
        keep = p.work != nil
        work = p.work ?? NSTemporaryDirectory() + "qrpay-bench." + FileIO.uniqueName()
    }

    func info(_ text: String) { Diagnostics.info("qrpay-bench", text) }

    mutating func run() throws {
        try FileIO.makePath(work, mode: 0o700)
        defer { if !keep { try? FileManager.default.removeItem(atPath: work) } }
        let machine = Machine.describe(workPath: work)
        let started = BenchTable.now()

        info("minting the CA, the PG, \(p.shops) shops and \(p.users) users (copied into every spool)")
        pki = try BenchPKI(root: work + "/pki", shops: p.shops, users: p.users, protection: p.quick ? .legacy : .standard)

        // 1. Register and approve throughput on an empty spool, and the reference loop, in rounds.
        var main: BenchSpool!
        var rounds: [Round] = []
        for round in 0..<p.rounds {
            info("round \(round + 1) of \(p.rounds): building a spool (\(p.shops) shops, \(p.users) users)")
            let spool = try BenchSpool(root: work + (round == 0 ? "/main" : "/main-\(round + 1)"), pki: pki, shops: p.shops, users: p.users)
            if round == 0 { main = spool }
            guard let r = try throughputRound(spool, index: round) else { return }  // --setup-only
            rounds.append(r)
        }
        func median(_ values: [Double]) -> Double { BenchRow.percentile(values, 0.5) }
        func spread(_ values: [Double], _ format: String) -> String {
            values.count < 2 ? "" : String(format: "; rounds " + format + " to " + format, values.min()!, values.max()!)
        }
        let registerRates = rounds.map(\.registerRate), approveRates = rounds.map(\.approveRate)
        let referenceRates = rounds.map(\.referenceRate), ratios = rounds.map { $0.registerRate / $0.referenceRate }
        let registerRate = median(registerRates), approveRate = median(approveRates), referenceRate = median(referenceRates)
        let ratio = median(ratios)
        let n = Double(p.count)
        let problems = rounds.map(\.problems).joined()
        let medianOf = p.rounds > 1 ? "median of \(p.rounds) rounds, " : ""
        table.add("register --once, empty spool", String(format: "%.0f payments/s", registerRate), target: ">= 1500/s",
                  met: registerRate >= 1500,
                  note: String(format: "%@%d payments, %d shops, CPU %.0f us/payment, peak RSS %.0f MiB%@%@", medianOf, p.count, p.shops,
                               median(rounds.map(\.registerCPU)) / n * 1e6, rounds.map(\.registerRSS).max() ?? 0,
                               spread(registerRates, "%.0f"), problems))
        table.add("approve --once", String(format: "%.0f approvals/s", approveRate),
                  note: String(format: "%@%d approvals, %d users, CPU %.0f us/approval, peak RSS %.0f MiB%@", medianOf, p.count, p.users,
                               median(rounds.map(\.approveCPU)) / n * 1e6, rounds.map(\.approveRSS).max() ?? 0,
                               spread(approveRates, "%.0f")))
        table.add("reference loop, in process", String(format: "%.0f payments/s", referenceRate),
                  note: String(format: "%@CPU %.0f us/payment; per payment: 1 ECDSA verify, 1 QR encode + PNG, 6 files + 1 journal entry, group commits of 64 on %d threads%@",
                               medianOf, median(rounds.map { $0.referenceCPU / Double($0.referenceCount) }) * 1e6,
                               ProcessInfo.processInfo.activeProcessorCount, spread(referenceRates, "%.0f")))
        table.add("register / reference", String(format: "%.2f", ratio), target: ">= 0.7", met: ratio >= 0.7,
                  note: p.rounds > 1 ? "median of the rounds' ratios" + spread(ratios, "%.2f") : "")
        table.add("approve / reference", String(format: "%.2f", approveRate / referenceRate), note: "the reference is the register's minimum work")

        // 2. --watch latency.
        if p.watchDrops > 0 {
            info("--watch latency over \(p.watchDrops) drops")
            let (latencies, missed) = try watchLatency(main)
            let p50 = BenchRow.percentile(latencies, 0.5), p99 = BenchRow.percentile(latencies, 0.99)
            table.add("--watch drop -> QR PNG, p50", String(format: "%.1f ms", p50),
                      note: "\(latencies.count) drops one at a time; from the link into new/ to the PNG's inotify event")
            table.add("--watch drop -> QR PNG, p99", String(format: "%.1f ms", p99), target: "<= 50 ms", met: p99 <= 50 && missed == 0,
                      note: missed > 0 ? "\(missed) drops without a PNG in 10 s" : String(format: "max %.1f ms", latencies.max() ?? .nan))
        }

        // 3. Scale.
        if p.scale > 0 { try scaleRows(registerRate) }

        // 4. An idle settle pass, on a small and a large spool of open payments not yet due.
        let settleSizes = p.settleOpen.split(separator: ",").compactMap { Int($0) }
        if settleSizes.count == 2, settleSizes.allSatisfy({ $0 > 0 }) { try settleRows(small: settleSizes[0], large: settleSizes[1]) }

        // 4. Photo decode.
        if p.decodeCount > 0 {
            info("decode rows over \(p.decodeCount) photo-like images")
            let (rows, _, title) = try QRPayBench.DecodeBench.measure(count: p.decodeCount, dir: nil, zbarimg: p.zbarimg, keep: nil, seed: 1)
            for row in rows {
                let qrpay = row.name == "qrpay"
                table.add("decode \(row.name), 12 MP phone photo",
                          String(format: "median %.0f ms, p95 %.0f ms, read %d/%d", row.median, row.p95, row.succeeded, row.total),
                          target: qrpay ? "<= 80 ms median" : "", met: qrpay ? row.median <= 80 : nil,
                          note: row.note.isEmpty ? title : row.note)
            }
        }

        // 5. Decode by kind of photo (many codes, high versions, cylinders, ...): 3 of each kind,
        //    QR-Pay beside zxing-cpp and zbarimg, a table of its own (not with --quick).
        var categories = ""
        if p.decodeCount > 0 && !p.quick {
            info("decode by kind of photo, 3 of each")
            categories = try CategoryBench.measure(perCategory: 3, categories: PhotoCategory.allCases, seed: 1,
                                                   zbarimg: p.zbarimg, keep: nil)
        }

        let mode = p.quick ? " (--quick: a functional check, not a measurement)" : ""
        print(table.render(title: String(format: "QR-Pay pipeline bench%@, %.0f s in all", mode, BenchTable.now() - started),
                           machine: machine), terminator: "")
        if !categories.isEmpty { print("\n" + categories, terminator: "") }
    }

    /// One throughput round's figures.
    struct Round {
        var referenceRate = 0.0, referenceCPU = 0.0, referenceCount = 1
        var registerRate = 0.0, registerCPU = 0.0, registerRSS = 0.0
        var approveRate = 0.0, approveCPU = 0.0, approveRSS = 0.0
        var problems = ""
    }

    /// On a fresh spool: signs --count payments, runs the reference loop over them (first, while the
    /// file system is as fresh for it as for the stage), drops them into the inbox and runs
    /// qrpay-register --once, then the same for approvals and qrpay-approve. nil with --setup-only.
    func throughputRound(_ spool: BenchSpool, index: Int) throws -> Round? {
        var r = Round()
        var t0 = BenchTable.now()
        let payments = try spool.signPayments(p.count, prefix: "B")
        r.referenceCount = min(p.referenceCount ?? p.count, payments.count)
        if !p.setupOnly {
            info("reference loop over \(r.referenceCount) payments")
            (r.referenceRate, r.referenceCPU) = try reference(Array(payments.prefix(r.referenceCount)), spool, directory: "reference-\(index + 1)")
        }
        try spool.deliver(payments.map(\.data), to: spool.layout.inbox)
        info(String(format: "%d signed payments in the inbox in %.1f s; running qrpay-register --once", p.count, BenchTable.now() - t0))
        if p.setupOnly {  // for profiling: qrpay-register --spool ROOT --password-file ROOT.pass --once
            print(spool.root)
            return nil
        }
        let register = try stage("qrpay-register", spool, expected: p.count, log: work + "/register-\(index + 1).log")
        (r.registerRate, r.registerCPU, r.registerRSS) = (Double(p.count) / register.seconds, register.cpu, register.rss)
        t0 = BenchTable.now()
        let approvals = try spool.signApprovals(for: payments)
        try spool.deliver(approvals, to: spool.layout.approvals)
        info(String(format: "%d signed approvals in the queue in %.1f s; running qrpay-approve --once", approvals.count, BenchTable.now() - t0))
        let approve = try stage("qrpay-approve", spool, expected: p.count, log: work + "/approve-\(index + 1).log")
        (r.approveRate, r.approveCPU, r.approveRSS) = (Double(p.count) / approve.seconds, approve.cpu, approve.rss)
        r.problems = register.problem + approve.problem
        info(String(format: "round %d: reference %.0f/s, register %.0f/s (%.2f), approve %.0f/s", index + 1, r.referenceRate,
                    r.registerRate, r.registerRate / r.referenceRate, r.approveRate))
        return r
    }

    /// Runs a stage program with --once; checks how many files it processed.
    func stage(_ program: String, _ spool: BenchSpool, expected: Int, log: String) throws
        -> (seconds: Double, rss: Double, cpu: Double, problem: String) {
        let r = try Child.run(bin + "/" + program, ["--spool", spool.root, "--password-file", spool.passwordFile, "--once"], stderr: log)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let summary = text.split(separator: "\n").last.map(String.init) ?? ""
        var problem = ""
        if r.status != 0 { problem = "; exit \(r.status): \(summary)" }
        else if !summary.contains(" \(expected) processed, 0 quarantined, 0 deferred") { problem = "; NOT ALL PROCESSED: \(summary)" }
        return (r.seconds, r.maxRSSMiB, r.cpu, problem)
    }

    /// The irreducible work of registration with the same libraries, in process, on every core:
    /// per payment one ECDSA verify, one QR encode and PNG, the six files the design keeps (record,
    /// state marker, due entry, list entry, QR PNG, notice) and a journal entry, made durable by group
    /// commits of 64.
    func reference(_ payments: [SignedPayment], _ spool: BenchSpool, directory: String) throws -> (rate: Double, cpu: Double) {
        let dir = work + "/" + directory
        var keys: [String: PublicKey] = [:]
        for (id, c) in spool.shops {
            keys[id] = c.certificate.publicKey
            for sub in ["records/\(id)", "qr/\(id)"] { try FileIO.makePath(dir + "/" + sub, mode: 0o750) }
            try Queue(path: dir + "/notices/\(id)").create()
        }
        for sub in ["markers", "due", "list"] { try FileIO.makePath(dir + "/" + sub, mode: 0o750) }
        let context = StageContext(spoolRoot: dir)
        let journal = Journal(layout: context.layout)
        let batches = stride(from: 0, to: payments.count, by: 64).map { $0..<min($0 + 64, payments.count) }
        let publicKeys = keys
        let t0 = BenchTable.now(), cpu0 = CPUTime.ofSelf()
        try parallelFor(batches.count) { b in
            let commit = GroupCommit(context: context)
            for p in payments[batches[b]] {
                guard publicKeys[p.shop]!.verify(signature: p.signature, message: p.signingInput) else {
                    throw QRPayError(.benchFailed, "reference: \(p.payment) does not verify")
                }
                let qr = try QRPayload(shop: p.shop, payment: p.payment, signature: p.signature)
                try commit.write(try QRCodeImage.png(text: qr.text), to: "\(dir)/qr/\(p.shop)/\(p.payment).png", ifExists: .replace)
                try commit.write(p.data, to: "\(dir)/records/\(p.shop)/\(p.payment).json")
                try commit.write(Data(), to: "\(dir)/markers/\(p.shop)~\(p.payment)~KRW~\(p.total)", ifExists: .replace)  // empty, as the store's
                try commit.write(Data(), to: "\(dir)/due/0~\(p.shop)~\(p.payment)", ifExists: .replace)  // the due index entry
                try commit.write(p.data, to: "\(dir)/list/\(qr.listToken).json", ifExists: .replace)
                try commit.deliver(p.data, to: Queue(path: dir + "/notices/\(p.shop)"), name: "\(p.payment).request.json")
                commit.journal(journal, TransitionRequest(shop: p.shop, payment: p.payment, from: nil, to: .request,
                                                          evidence: p.data, at: Date()))
            }
            try commit.flush()
        }
        return (Double(payments.count) / (BenchTable.now() - t0), CPUTime.ofSelf() - cpu0)
    }

    /// Starts qrpay-register --watch, drops payments one at a time, and times each drop (the link
    /// into inbox/new/) to the inotify event of its QR PNG. Returns milliseconds, and how many were missed.
    func watchLatency(_ spool: BenchSpool) throws -> ([Double], Int) {
        let shop = spool.shops[0].id
        let qrDir = spool.layout.qrDirectory(shop: shop)
        try spool.layout.makeDirectories(qrDir)
        let drops = try spool.signPayments(p.watchDrops, prefix: "W", shop: 0)
        let inbox = spool.layout.inbox
        try spool.layout.makeQueue(inbox)

        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0, inotify_add_watch(fd, qrDir, UInt32(IN_CREATE | IN_MOVED_TO)) >= 0 else {
            throw QRPayError(.benchFailed, "cannot watch \(qrDir)")
        }
        defer { close(fd) }
        let child = try Child.spawn(bin + "/qrpay-register",
                                    ["--spool", spool.root, "--password-file", spool.passwordFile, "--watch", "--rescan-every", "1h"],
                                    stderr: work + "/watch.log")
        defer {
            child.terminate()
            _ = child.wait()
        }
        // Ready when it holds the stage lock (its pid in the lock file), then a moment to settle.
        let lock = spool.layout.lockFile(stage: "register")
        let deadline = BenchTable.now() + 60
        while BenchTable.now() < deadline {
            if let text = try? String(contentsOfFile: lock, encoding: .utf8), text.trimmingCharacters(in: .whitespacesAndNewlines) == "\(child.pid)" { break }
            usleep(10_000)
        }
        usleep(500_000)

        var latencies: [Double] = []
        var missed = 0
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        for doc in drops {
            let name = FileIO.uniqueName(suffix: ".json")
            let tmp = inbox.tmpDirectory + "/" + name
            try Durable.write(doc.data, to: tmp, mode: Queue.fileMode)
            let wanted = doc.payment + ".png"
            let t0 = BenchTable.now()
            guard link(tmp, inbox.newDirectory + "/" + name) == 0 else { throw QRPayError.io("link", path: tmp, errno: errno) }
            try FileIO.fsyncDirectory(inbox.newDirectory)
            unlink(tmp)
            var seen = false
            while !seen && BenchTable.now() < t0 + 10 {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 100) <= 0 { continue }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                let now = BenchTable.now()
                var offset = 0
                while n > 0 && offset + 16 <= n {
                    let len = Int(buffer[offset + 12]) | Int(buffer[offset + 13]) << 8 | Int(buffer[offset + 14]) << 16 | Int(buffer[offset + 15]) << 24
                    let nameBytes = buffer[(offset + 16)..<min(n, offset + 16 + len)].prefix { $0 != 0 }
                    if String(decoding: nameBytes, as: UTF8.self) == wanted {
                        latencies.append((now - t0) * 1000)
                        seen = true
                    }
                    offset += 16 + len
                }
            }
            if !seen { missed += 1 }
        }
        return (latencies, missed)
    }

    /// A spool with `scale` payments already registered (written directly in the store's layout,
    /// signed for real), then registration throughput, `qrpay-spool status` and `qrpay-reconcile`.
    mutating func scaleRows(_ emptyRate: Double) throws {
        info("building the scale spool: \(p.scale) registered payments")
        let spool = try BenchSpool(root: work + "/scale", pki: pki, shops: p.shops, users: 1)
        let t0 = BenchTable.now()
        let now = Date()
        try prebuild(spool, count: p.scale, now: now)
        let built = BenchTable.now() - t0
        info(String(format: "scale spool built in %.0f s", built))

        let payments = try spool.signPayments(p.count, prefix: "N")
        try spool.deliver(payments.map(\.data), to: spool.layout.inbox)
        let register = try stage("qrpay-register", spool, expected: p.count, log: work + "/register-scale.log")
        let rate = Double(p.count) / register.seconds
        table.add("register --once, \(p.scale) in spool", String(format: "%.0f payments/s", rate),
                  target: String(format: ">= %.0f/s (80%% of empty)", emptyRate * 0.8), met: rate >= emptyRate * 0.8,
                  note: String(format: "%.0f%% of empty; spool built in %.0f s (signed for real); peak RSS %.0f MiB%@",
                               rate / emptyRate * 100, built, register.rss, register.problem))

        let status = try Child.run(bin + "/qrpay-spool", ["status", "--spool", spool.root], stdout: work + "/status.out", stderr: work + "/status.err")
        table.add("qrpay-spool status, \(p.scale + p.count) payments", String(format: "%.2f s", status.seconds), target: "<= 1 s",
                  met: status.seconds <= 1 && status.status == 0,
                  note: String(format: "peak RSS %.0f MiB%@", status.maxRSSMiB, status.status == 0 ? "" : ", exit \(status.status)"))

        let reconcilePath = p.reconcile ?? bin + "/qrpay-reconcile"
        if FileManager.default.isExecutableFile(atPath: reconcilePath) {
            let r = try Child.run(reconcilePath, ["--spool", spool.root, "--date", Timestamp.day(now), "--out", work + "/reports"],
                                  stdout: work + "/reconcile.out", stderr: work + "/reconcile.err")
            table.add("qrpay-reconcile, a day of \(p.scale + p.count)", String(format: "%.2f s, %.0f MiB RSS", r.seconds, r.maxRSSMiB),
                      target: "<= 30 s, <= 200 MB", met: r.seconds <= 30 && r.maxRSSMiB * 1.048576 <= 200 && (r.status == 0 || r.status == 1),
                      note: r.status <= 1 ? "exit \(r.status)" : "failed: exit \(r.status), see reconcile.err")
        } else {
            table.add("qrpay-reconcile, a day of \(p.scale + p.count)", "skipped", target: "<= 30 s, <= 200 MB",
                      note: "no \(reconcilePath) (pass --reconcile PATH)")
        }
    }

    /// An idle `qrpay-settle --once` (nothing due: it only looks) on a spool holding `small` and one
    /// holding `large` open payments: the time must not grow with what is stored.
    mutating func settleRows(small: Int, large: Int) throws {
        var times: [(Int, Double, Double)] = []
        for count in [small, large] {
            info("building a spool of \(count) open payments for the idle settle row")
            let spool = try BenchSpool(root: work + "/settle-\(count)", pki: pki, shops: min(p.shops, 10), users: 1)
            try prebuild(spool, count: count, now: Date())
            var runs: [Double] = []
            var rss = 0.0
            for i in 0..<3 {
                let r = try Child.run(bin + "/qrpay-settle", ["--spool", spool.root, "--password-file", spool.passwordFile, "--hold", "10m", "--once"],
                                      stderr: work + "/settle-\(count)-\(i).log")
                guard r.status == 0 else { throw QRPayError(.benchFailed, "qrpay-settle exited \(r.status); see \(work)/settle-\(count)-\(i).log") }
                runs.append(r.seconds)
                rss = max(rss, r.maxRSSMiB)
            }
            times.append((count, BenchRow.percentile(runs, 0.5), rss))
        }
        let (smallCount, smallTime, _) = times[0], (largeCount, largeTime, largeRSS) = times[1]
        table.add("idle qrpay-settle --once, \(smallCount) open", String(format: "%.3f s", smallTime), target: "<= 0.2 s", met: smallTime <= 0.2,
                  note: "median of 3; nothing due")
        table.add("idle qrpay-settle --once, \(largeCount) open", String(format: "%.3f s", largeTime),
                  target: "<= 0.2 s, <= 2x the small", met: largeTime <= 0.2 && largeTime <= 2 * max(smallTime, 0.001),
                  note: String(format: "median of 3; %.2fx the small spool's; peak RSS %.0f MiB", largeTime / max(smallTime, 1e-6), largeRSS))
    }

    /// Writes `count` registered payments in the store's layout: record, state marker, due entry, list
    /// entry and journal entries (one append per 1,000). Plain writes, one sync() at the end: a
    /// set-up, not a measurement.
    func prebuild(_ spool: BenchSpool, count: Int, now: Date) throws {
        let store = PaymentStore(spoolRoot: spool.root)
        let chunk = 1000
        let chunks = (count + chunk - 1) / chunk
        let made = DirectorySet()
        let certificates = Dictionary(uniqueKeysWithValues: spool.shops.map { ($0.id, $0.credentials.certificate) })
        try parallelFor(chunks) { c in
            var transitions: [TransitionRequest] = []
            for i in (c * chunk)..<min(count, (c + 1) * chunk) {
                let info = try spool.info(i, prefix: "M", now: now)
                let p = try spool.sign(info)
                let signer = certificates[info.shop]!
                let record = PaymentRecord(
                    info: info, state: .request, document: p.data, documentHash: p.documentHash,
                    signature: Base64URL.encode(p.signature),
                    signer: PaymentRecord.signer(signer),
                    qrPath: spool.layout.qrPath(shop: info.shop, payment: info.payment),
                    history: [HistoryEntry(state: .request, at: now,
                                           evidence: ["type": "payment", "documentHash": .string(p.documentHash),
                                                      "verifiedAt": .string(Timestamp.format(now))])])
                try made.write(record.serialized(), to: store.recordPath(shop: info.shop, payment: info.payment), directoryMode: 0o750)
                try made.write(Data(), to: store.markerPath(state: .request, info: info), directoryMode: 0o750)
                try made.write(Data(), to: DueIndex.path(DueIndex.entry(for: record)!, layout: store.layout), directoryMode: 0o750)
                let entry: JSONValue = ["shop": .string(info.shop), "payment": .string(info.payment), "state": "request",
                                        "document": try JSONValue.parse(p.data), "updated": .string(Timestamp.format(now))]
                try made.write(entry.serialized(pretty: true), to: store.layout.listPath(token: QRPayload.listToken(signature: p.signature)),
                               directoryMode: 0o711, mode: 0o644)
                transitions.append(TransitionRequest(shop: info.shop, payment: info.payment, from: nil, to: .request,
                                                     evidence: p.data, at: now))
            }
            try store.journal.append(transitions)
        }
        sync()
    }
}

/// Plain (not yet durable) file writes for the scale spool's set-up, creating directories once.
final class DirectorySet: Sendable {
    private let known = Mutex<Set<String>>([])

    func write(_ data: Data, to path: String, directoryMode: mode_t, mode: mode_t = 0o640) throws {
        let dir = FileIO.parentDirectory(path)
        if !known.withLock({ $0.contains(dir) }) {
            try FileIO.makePath(dir, mode: directoryMode)
            known.withLock { _ = $0.insert(dir) }
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw QRPayError.io("create", path: path, errno: errno) }
        defer { close(fd) }
        try FileIO.writeAll(fd: fd, data, path: path)
    }
}
