// qrpay-spool quarantine, requeue, hold, release: the operator's hands on queue files (QueueOps.swift),
// like Postfix's `postsuper -r`, `-h` and `-H`.

import ArgumentParser
import Foundation
import QRPayCommand
import QRPayCore

/// The ID argument shared by requeue, hold and release.
struct QueueFileID: ParsableArguments {
    @Argument(help: ArgumentHelp(
        "QUEUE/NAME as `qrpay-spool quarantine` or `status` shows it (e.g. pg/inbox/1795000000.000000001.42.ab.json), or a bare NAME looked up in every queue.",
        valueName: "id"))
    var id: String
}

func runQueueAction(_ action: QueueOps.Action, _ spool: SpoolOptions, _ id: String) throws {
    try runReportingErrors("qrpay-spool") {
        print(try QueueOps.perform(action, id: id, spoolRoot: spool.root))
    }
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
        @Flag(help: "Print a JSON list: [{id, queue, name, stage, code, reason, at, attempts?}].")
        var json = false

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                let files = try QueueOps.quarantined(spoolRoot: spool.root)
                if json { printJSON(.array(files.map(\.json))) } else { print(QueueOps.text(files)) }
            }
        }
    }

    struct Requeue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a quarantined file through its stage again (QUEUE/quarantine/NAME → QUEUE/new/).")
        @OptionGroup var spool: SpoolOptions
        @OptionGroup var file: QueueFileID
        func run() throws { try runQueueAction(.requeue, spool, file.id) }
    }

    struct Hold: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Park a waiting or deferred file (→ QUEUE/hold/); its stage leaves it alone until `release`.")
        @OptionGroup var spool: SpoolOptions
        @OptionGroup var file: QueueFileID
        func run() throws { try runQueueAction(.hold, spool, file.id) }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a held file (QUEUE/hold/NAME → QUEUE/new/).")
        @OptionGroup var spool: SpoolOptions
        @OptionGroup var file: QueueFileID
        func run() throws { try runQueueAction(.release, spool, file.id) }
    }
}
