// qrpay-settle: the PG's settle stage (paper, phase E).
//
// What it does: applies shops' signed cancels from ROOT/pg/cancels (`request` → `cancel`; `accept` →
// `cancel` while the hold lasts; refused after `finish`), then moves `accept` → `finish` once the hold
// has passed since acceptance and `request` → `expire` once its expiry has passed. Every change gets
// a PG-signed notice for the shop (and a receipt for the user who approved).
// When a cancel and an approval for one payment arrive together, the cancel wins unless the payment
// has already finished (see SettleStage.swift).
// Inputs:  ROOT/pg/cancels/new/*, ROOT/pg/states/{accept,request}, ROOT/ca/, ROOT/pg/key.pem.
// Outputs: records, markers, list entries, journal, notices and receipts; refused cancels in
//          ROOT/pg/cancels/quarantine/ with NAME.reason.json.
// Exit codes: 0 every input processed; 64 usage; 65 some inputs were quarantined (see qrpay-spool
//             quarantine), or bad data stopped the run; 66 no such input (file, spool, payment);
//             70 internal error; 73 cannot create; 74 I/O error; 75 some inputs were deferred or
//             left waiting (retried later), another instance holds the lock, or try again later;
//             77 permission denied or wrong password; 78 configuration (no CA, no or mismatched
//             credentials)

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayStages
import QRPayCommand

@main
struct QRPaySettle: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-settle",
        abstract: "Apply cancels, finish accepted payments after the hold, expire stale requests.",
        discussion: """
        The hold is the time a shop has to cancel an accepted payment before it becomes final \
        (`finish`). Run it from a systemd timer or cron with --once (every minute is typical), or as \
        a service with --watch.
        Example: qrpay-settle --spool /var/spool/qrpay --password-file /etc/qrpay/pg.pass --hold 10m --once
        """,
        version: QRPayVersion.text)

    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("File holding the password of the PG's private key.", valueName: "file"))
    var passwordFile: String
    @Option(parsing: .unconditional, help: ArgumentHelp("How long after acceptance a shop may still cancel (0 allowed), e.g. 10m.", valueName: "duration"))
    var hold: String = "10m"
    @OptionGroup var mode: StageModeOptions

    func validate() throws {
        _ = try parseDuration(hold, option: "--hold")
    }

    func run() throws {
        // An idle --once pass (nothing due, no cancel waiting) ends before the PG's key is unlocked:
        // the password file is still read (a missing or unreadable one is still an error), but a
        // wrong password shows only on the first pass with work.
        if mode.mode == .once {
            var idle = false
            try runReportingErrors("qrpay-settle") {
                try spool.requireSpool()
                _ = try readPasswordFile(passwordFile, what: "the PG's password file (--password-file)")
                idle = try !SettleStage.hasWork(layout: SpoolLayout(root: spool.root), hold: try parseDuration(hold, option: "--hold"),
                                                now: try TimeSource.fromEnvironment().now())
            }
            if idle {
                Diagnostics.info("qrpay-settle", "0 processed, 0 quarantined, 0 deferred; nothing due (the PG's key was not unlocked)")
                return
            }
        }
        try runPGStage(program: "qrpay-settle", spool: spool, passwordFile: passwordFile, options: mode) { layout, pg in
            try SettleStage(layout: layout, pg: pg, hold: try parseDuration(hold, option: "--hold"))
        }
    }
}
