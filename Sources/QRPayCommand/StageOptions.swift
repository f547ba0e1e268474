// `--once | --watch`, shared by every stage program, and the one way a stage is run.

import ArgumentParser
import Foundation
import QRPayCore

public struct StageModeOptions: ParsableArguments {
    @Flag(help: "Drain the queue until a pass finds nothing, then exit (cron; systemd oneshot or .path units).")
    public var once = false

    @Flag(help: "Keep running: wake on inotify events, rescan periodically (a systemd service).")
    public var watch = false

    @Option(name: .customLong("rescan-every"), help: ArgumentHelp(
        "With --watch, rescan this often even without a wake-up (e.g. 30s, 5m).", valueName: "duration"))
    public var rescanEvery: String = "30s"

    public init() {}

    public mutating func validate() throws {
        guard once != watch else {
            throw ValidationError("Choose exactly one of --once (drain and exit) or --watch (keep running).")
        }
        _ = try interval()
    }

    func interval() throws -> TimeInterval {
        do {
            let t = try QRPayCore.Duration.parse(rescanEvery)
            guard t > 0 else { throw ValidationError("--rescan-every must be more than zero") }
            return t
        } catch let e as QRPayError { throw ValidationError(e.message) }
    }

    public var mode: StageRunner.Mode {
        once ? .once : .watch(rescanEvery: (try? interval()) ?? 30)
    }
}

/// Runs `stage` over the spool; prints a one-line summary on stderr. Exit 0 when the run finished
/// (quarantined files are reported, not failures of the run); 75 when another instance holds the lock.
public func runStage(program: String, spoolRoot: String, stage: SpoolStage, options: StageModeOptions) throws {
    try runReportingErrors(program) {
        let runner = StageRunner(spoolRoot: spoolRoot, stage: stage, mode: options.mode)
        let summary = try runner.run()
        Diagnostics.info(program, "\(summary)")
    }
}

/// Runs one of the PG's stages: unlocks the PG's key with the password in `passwordFile`, builds the
/// stage with it, and runs it (`runStage`). Errors before the run (wrong password: 77) exit too.
public func runPGStage(program: String, spool: SpoolOptions, passwordFile: String, options: StageModeOptions,
                       make: (String, Credentials) throws -> SpoolStage) throws {
    let root = spool.root
    var stage: SpoolStage!
    try runReportingErrors(program) {
        let pg = try Credentials.loadPG(spoolRoot: root, password: try readPasswordFile(passwordFile))
        stage = try make(root, pg)
    }
    try runStage(program: program, spoolRoot: root, stage: stage, options: options)
}
