// `--once | --watch`, the stage tuning options, and the one way a stage program runs a stage.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI

/// `--once` or `--watch`: exactly one.
package enum StageMode: String, EnumerableFlag, Sendable {
    case once, watch

    package static func help(for value: StageMode) -> ArgumentHelp? {
        switch value {
        case .once: return "Drain the queue until a pass finds nothing, then exit (cron; systemd oneshot or .path units)."
        case .watch: return "Keep running: wake on inotify events, rescan periodically (a systemd service)."
        }
    }
}

package struct StageModeOptions: ParsableArguments {
    @Flag(exclusivity: .exclusive, help: nil)
    package var mode: StageMode

    @Option(name: .customLong("rescan-every"), parsing: .unconditional, help: ArgumentHelp(
        "With --watch, rescan this often even without a wake-up (e.g. 30s, 5m); deferred files are retried then.", valueName: "duration"))
    package var rescanEvery: String = "30s"

    package init() {}

    package mutating func validate() throws {
        _ = try interval()
    }

    func interval() throws -> TimeInterval {
        let t = try parseDuration(rescanEvery, option: "--rescan-every")
        guard t > 0 else { throw ValidationError("--rescan-every must be more than zero (e.g. 30s)") }
        return t
    }

    package var runMode: RunMode {
        mode == .once ? .once : .watch(rescanEvery: (try? interval()) ?? 30)
    }
}

/// Parses a duration option (`90s`, `15m`, `2h`, `1d`) into seconds, or a usage error that says how.
package func parseDuration(_ text: String, option: String) throws -> TimeInterval {
    do { return try QRPaySupport.Duration.parse(text) } catch let e as QRPayError {
        throw ValidationError("\(option): \(e.message)")
    }
}

/// `--batch-size` and `--concurrency` of the batched stages (register, approve). Defaults: the
/// environment (QRPAY_BATCH_SIZE, QRPAY_STAGE_CONCURRENCY), else 64 and one batch more than CPUs (at most 4).
package struct StageTuningOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Files per group commit (1-4096; default $QRPAY_BATCH_SIZE, else 64).", valueName: "n"))
    package var batchSize: Int?

    @Option(help: ArgumentHelp("Batches handled at once (1-64; default $QRPAY_STAGE_CONCURRENCY, else CPUs + 1, at most 4).", valueName: "n"))
    package var concurrency: Int?

    package init() {}

    package mutating func validate() throws {
        if let batchSize, !StageTuning.batchSizes.contains(batchSize) { throw ValidationError("--batch-size must be 1 to 4096") }
        if let concurrency, !StageTuning.concurrencies.contains(concurrency) { throw ValidationError("--concurrency must be 1 to 64") }
    }

    package var tuning: StageTuning {
        let env = ProcessInfo.processInfo.environment
        func fromEnvironment(_ name: String, _ range: ClosedRange<Int>) -> Int? {
            guard let text = env[name], let n = Int(text), range.contains(n) else { return nil }
            return n
        }
        return StageTuning(
            batchSize: batchSize ?? fromEnvironment("QRPAY_BATCH_SIZE", StageTuning.batchSizes) ?? StageTuning.defaultBatchSize,
            concurrency: concurrency ?? fromEnvironment("QRPAY_STAGE_CONCURRENCY", StageTuning.concurrencies) ?? StageTuning.defaultConcurrency)
    }
}

/// The run's context: the spool's layout and the clock (QRPAY_CLOCK, for tests only).
package func stageContext(_ root: String) throws -> StageContext {
    StageContext(layout: SpoolLayout(root: root), clock: try TimeSource.fromEnvironment())
}

/// Runs `stage` over the spool; prints a one-line summary on stderr. A `--once` run's exit status
/// tells cron and systemd the truth (StageSummary.exitStatus): 0 every input processed, 65 some
/// quarantined, 75 some deferred or left waiting (or another instance holds the lock). A `--watch`
/// run stopped by SIGTERM exits 0 (it ran until asked to stop).
package func runStage(program: String, context: StageContext, stage: any SpoolStage, options: StageModeOptions,
                      signalsSince: Int? = nil) throws {
    var status = SysExit.ok
    try runReportingErrors(program) {
        var runner = StageRunner(stage: stage, context: context, mode: options.runMode)
        runner.signalsSince = signalsSince
        let summary = try runner.run()
        Diagnostics.info(program, "\(summary)")
        if options.mode == .once { status = summary.exitStatus }
    }
    if status != .ok { throw ExitCode(status.rawValue) }
}

/// Runs one of the PG's stages: unlocks the PG's key with the password in `passwordFile`, builds the
/// stage with it, and runs it (`runStage`). Errors before the run (wrong password: 77) exit too.
package func runPGStage(program: String, spool: SpoolOptions, passwordFile: String, options: StageModeOptions,
                       make: (SpoolLayout, Credentials) throws -> any SpoolStage) throws {
    let root = spool.root
    var stage: (any SpoolStage)?
    var context: StageContext?
    // Before the key unlock (scrypt: up to a second): a SIGTERM from then on stops the run cleanly
    // (exit 0 for --watch) instead of killing the process with the default action.
    let signalsSince = StopSignals.shared.install()
    try runReportingErrors(program) {
        try spool.requireSpool()
        context = try stageContext(root)
        let pg = try usingPassword(from: "--password-file", file: passwordFile) {
            try Credentials.loadPG(spoolRoot: root, password: try readPasswordFile(passwordFile, what: "the PG's password file (--password-file)"))
        }
        stage = try make(context!.layout, pg)
    }
    try runStage(program: program, context: context!, stage: stage!, options: options, signalsSince: signalsSince)
}
