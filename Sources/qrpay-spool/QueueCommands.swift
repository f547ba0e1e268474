// qrpay-spool quarantine, requeue, hold, release: the operator's hands on queue files (QueueOps.swift),
// like Postfix's `postsuper -r`, `-h` and `-H`.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayOperations
import QRPayCommand

/// The IDs shared by requeue, hold, release and delete: several, or ALL (like postsuper).
struct QueueFileID: ParsableArguments {
    @Argument(help: ArgumentHelp(
        "QUEUE/NAME as `qrpay-spool list` shows it (e.g. pg/inbox/1795000000.000000001.42.ab.json), a bare NAME looked up in every queue, or ALL: every file the command can take (of --queue only, when given).",
        valueName: "id"))
    var ids: [String] = []
    @Option(help: ArgumentHelp("With ALL: only this queue (e.g. pg/inbox).", valueName: "queue"))
    var queue: String?

    func validate() throws {
        guard !ids.isEmpty else { throw ValidationError("give at least one ID (QUEUE/NAME or NAME), or ALL") }
        if ids.contains("ALL") && ids.count > 1 { throw ValidationError("ALL stands alone: give either ALL or IDs") }
        if queue != nil && ids != ["ALL"] { throw ValidationError("--queue goes with ALL (name single files as QUEUE/NAME)") }
    }
}

/// Performs `action` on every ID (or ALL of them): one line per file on stdout; a file that fails
/// is reported on stderr and the others are still done; the exit status is the first failure's.
func runQueueAction(_ action: QueueOps.Action, _ spool: SpoolOptions, _ file: QueueFileID) throws {
    var failure: SysExit?
    try runReportingErrors("qrpay-spool") {
        try spool.requireSpool()
        let ids = file.ids == ["ALL"] ? try QueueTools.all(action, spoolRoot: spool.root, queue: file.queue) : file.ids
        if file.ids == ["ALL"] && ids.isEmpty {
            Diagnostics.info("qrpay-spool", "\(action.rawValue): no file to \(action.rawValue) (in \(action.sources.map { $0.rawValue + "/" }.joined(separator: " or ")))")
        }
        var done = 0
        for id in ids {
            do {
                print(try QueueOps.perform(action, id: id, spoolRoot: spool.root))
                done += 1
            } catch let e as QRPayError {
                Diagnostics.error("qrpay-spool", "\(id): \(e.message)")
                if failure == nil { failure = e.exit }
            }
        }
        if ids.count > 1 { Diagnostics.info("qrpay-spool", "\(action.rawValue): \(done) of \(ids.count) file(s)") }
    }
    if let failure { throw ExitCode(failure.rawValue) }
}

extension QRPaySpool {
    struct Quarantine: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List quarantined files of every queue with their stage, code, reason and time.",
            discussion: """
            Bad input is never deleted: it waits in QUEUE/quarantine/ beside NAME.reason.json. Fix the cause \
            (for example issue a fresh CRL), then `qrpay-spool requeue QUEUE/NAME` sends it through its stage again.
            """)
        @OptionGroup var spool: SpoolOptions
        @Flag(help: "Print JSON: {v, files: [{id, queue, name, stage, code, reason, at, attempts?}]}.")
        var json = false

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let files = try QueueOps.quarantined(spoolRoot: spool.root)
                if json { printJSON(["v": 1, "files": .array(files.map(\.json))]) } else { print(QueueOps.text(files)) }
            }
        }
    }

    struct Requeue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send quarantined files through their stage again (QUEUE/quarantine/NAME → QUEUE/new/); several IDs or ALL.")
        @OptionGroup var spool: SpoolOptions
        @OptionGroup var file: QueueFileID
        func run() throws { try runQueueAction(.requeue, spool, file) }
    }

    struct Hold: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Park waiting or deferred files (→ QUEUE/hold/); their stage leaves them alone until `release`. Several IDs or ALL.")
        @OptionGroup var spool: SpoolOptions
        @OptionGroup var file: QueueFileID
        func run() throws { try runQueueAction(.hold, spool, file) }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume held files (QUEUE/hold/NAME → QUEUE/new/); several IDs or ALL.")
        @OptionGroup var spool: SpoolOptions
        @OptionGroup var file: QueueFileID
        func run() throws { try runQueueAction(.release, spool, file) }
    }
}

extension QRPaySpool {
    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove processed files older than the retention (QUEUE/done/DAY/ of every queue).",
            discussion: """
            Stages never delete what came in: a processed file moves to QUEUE/done/DAY/ (DAY: the UTC \
            day it was processed), the raw evidence as received. This removes the days before today \
            minus --keep-days, today never. Run it daily at a quiet hour \
            (Samples/systemd/qrpay-purge.timer or Samples/crontab): deleting many files is costly for \
            whoever writes next on some file systems, so the stages leave it to this job.
            Example: qrpay-spool purge --spool /var/spool/qrpay --keep-days 30 --dry-run
            """)
        @OptionGroup var spool: SpoolOptions
        @Option(parsing: .unconditional, help: "Days of done/ to keep before today (0: everything before today goes).")
        var keepDays = 7
        @Flag(help: "Only report what would be removed.")
        var dryRun = false
        @Flag(help: "Print JSON: {cutoff, dryRun, files, days, keptDays, removed: [{queue, day, files}]}.")
        var json = false

        func validate() throws {
            guard keepDays >= 0 else { throw ValidationError("--keep-days \(keepDays): give 0 or more days (0 keeps only today)") }
        }

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let progress = ProgressLine("qrpay-spool", "purge", unit: "files")
                let report = try SpoolPurge.run(spoolRoot: spool.root, keepDays: keepDays, dryRun: dryRun) { count in
                    progress.update(count)
                }
                progress.finish()
                if json { printJSON(report.json) } else { print(report.text) }
                for name in report.skipped { Diagnostics.info("qrpay-spool", "purge: " + SpoolLayout.skippedNote(name)) }
            }
        }
    }
}

extension QRPaySpool {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the spool's directories ahead of use: PG queues, the list's token directories, each shop's record buckets.",
            discussion: """
            Run it once the CA has certified the PG and the shops, and again after enrolling shops \
            (like qmail's installer making its split queue directories). Without it the stages create \
            what is missing on first use, which costs a directory creation on the registration path for \
            each of a new shop's first payments. Idempotent: existing directories keep their modes.
            Example: qrpay-spool init --spool /var/spool/qrpay
            """)
        @OptionGroup var spool: SpoolOptions
        @Option(name: .customLong("shop"), help: ArgumentHelp("Provision only this shop (repeatable; default: every shop the CA certified).", valueName: "id"))
        var shops: [String] = []
        @Flag(help: "Print JSON: {v, created, shops}.")
        var json = false

        func validate() throws {
            for shop in shops where !Identifier.isValid(shop) { throw ValidationError("\"\(shop)\" is not a valid shop id") }
        }

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                guard FileIO.isDirectory(SpoolLayout(root: spool.root).caDirectory) else {
                    throw QRPayError(.spoolNoCA, "\(spool.root) has no CA repository (ca/): run qrpay-ca init first")
                }
                let count = shops.isEmpty ? ((try? SpoolSetup.certifiedShops(layout: SpoolLayout(root: spool.root)).count) ?? 0) : shops.count
                let progress = ProgressLine("qrpay-spool", "init", unit: "directories", total: SpoolSetup.directories(shops: count))
                let report = try SpoolSetup.run(spoolRoot: spool.root, shops: shops.isEmpty ? nil : shops,
                                                progress: progress.enabled ? { progress.update($0) } : nil)
                progress.finish()
                if json { printJSON(report.json) } else { print(report.text) }
            }
        }
    }
}

extension QRPaySpool {
    struct Setup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a spool for separate Unix users: accounts, groups, and every directory's owner, group and mode (as root).",
            discussion: """
            Applies the layout table (`qrpay-spool layout`) for the CA's, the PG's, each shop's and each user's \
            Unix user, like Postfix's `postfix set-permissions`: creates what is missing, gives every \
            directory (and the certificates, keys and journals already there) its owner, group and mode, \
            and lists what it changed. Idempotent: run it again to add a shop or a user.

            Accounts: NAME, UID or UID:GID. With --create-users, missing users are made as system users \
            with a group of their own and no login shell, the two groups are made, shops join --shops-group, \
            users --users-group, and the PG's user joins each shop's and user's own group (what a party \
            drops is readable by its own group only; the PG must read it). Without --create-users, a \
            missing membership of a named user is reported (exit 1) with the usermod line that fixes it.

            Run it as root; --dry-run lists the actions without doing them (any user may).
            Example: qrpay-spool setup --spool /var/spool/qrpay --ca-user qrpay-ca --pg-user qrpay-pg \
              --shop 1001:shop-1001 --user u42:user-u42 --create-users
            """)
        @OptionGroup var spool: SpoolOptions
        @Option(help: ArgumentHelp("The PG's Unix user (NAME, UID or UID:GID).", valueName: "user")) var pgUser: String
        @Option(help: ArgumentHelp("The CA's Unix user.", valueName: "user")) var caUser: String
        @Option(name: .customLong("shop"), help: ArgumentHelp("A shop and its Unix user (repeatable), e.g. 1001:shop-1001 or 1001:61010:61010.", valueName: "id:user"))
        var shops: [String] = []
        @Option(name: .customLong("user"), help: ArgumentHelp("A user and its Unix user (repeatable), e.g. u42:user-u42.", valueName: "id:user"))
        var users: [String] = []
        @Option(help: ArgumentHelp("The group of every shop (may drop into pg/inbox and pg/cancels).", valueName: "group"))
        var shopsGroup = "qrpay-shops"
        @Option(help: ArgumentHelp("The group of every user (may drop into pg/approvals).", valueName: "group"))
        var usersGroup = "qrpay-users"
        @Flag(help: "Create missing users and groups (system accounts, no login shell) and the memberships the deployment needs.")
        var createUsers = false
        @Flag(help: "List what would be done; change nothing.") var dryRun = false
        @Flag(help: "Print JSON: {v, dryRun, actions: [{action, target, detail}], warnings}.") var json = false

        static func pairs(_ values: [String], _ option: String) throws -> [(id: String, account: String)] {
            try values.map { value in
                guard let colon = value.firstIndex(of: ":"), Identifier.isValid(String(value[..<colon])),
                      value.index(after: colon) < value.endIndex else {
                    throw ValidationError("\(option) \"\(value)\": use ID:UNIXUSER (e.g. 1001:shop-1001, or 1001:61010)")
                }
                return (String(value[..<colon]), String(value[value.index(after: colon)...]))
            }
        }

        func validate() throws {
            _ = try Self.pairs(shops, "--shop")
            _ = try Self.pairs(users, "--user")
        }

        func run() throws {
            var warnings = 0
            try runReportingErrors("qrpay-spool") {
                let request = DeploymentRequest(ca: caUser, pg: pgUser, shopsGroup: shopsGroup, usersGroup: usersGroup,
                                                shops: try Self.pairs(shops, "--shop"), users: try Self.pairs(users, "--user"),
                                                createUsers: createUsers)
                var deployment = Deployment(layout: SpoolLayout(root: spool.root), request: request, dryRun: dryRun)
                try deployment.run()
                warnings = deployment.actions.filter { $0.kind == .warning }.count
                if json {
                    printJSON(["v": 1, "dryRun": .bool(dryRun), "actions": .array(deployment.actions.map(\.json)),
                               "warnings": .int(Int64(warnings))])
                } else {
                    for action in deployment.actions { print((dryRun && action.kind != .warning ? "would " : "") + action.line) }
                }
                let changes = deployment.actions.count - warnings
                Diagnostics.info("qrpay-spool", "setup: \(changes) change(s)\(dryRun ? " listed, none made" : "")"
                                 + (warnings > 0 ? "; \(warnings) warning(s): see the lines above" : ""))
            }
            if warnings > 0 { throw ExitCode(SysExit.failure.rawValue) }
        }
    }
}
