// qrpay-payout: the PG's payout stage (paper, phase E: the PG transfers the money).
//
// What it does: reads the bank's files from ROOT/pg/bank (pain.002.001.12 status reports,
// camt.053.001.08 statements, camt.054.001.08 notifications), matches them to credit transfers by
// end-to-end id and moves each transfer sent → accepted | rejected → booked; then gathers the
// finished payments not yet paid out (finished at or before --until), per currency and shop, and
// writes one pain.001.001.09 file per currency with one credit transfer per shop, beside a
// PG-signed manifest of every payment it covers, recording the payout on each payment. A payment is
// paid out once, across kill -9 at any point: a rerun completes the same file, byte for byte.
// Inputs:  ROOT/pg/bank/new/*, ROOT/pg/states/finish, ROOT/pg/paid, ROOT/pg/accounts/SHOP.json,
//          ROOT/pg/debtor/CUR.json, ROOT/ca/, ROOT/pg/key.pem.
// Outputs: ROOT/pg/payouts/new/PAYOUT.xml and PAYOUT.manifest.jws, ROOT/pg/payout-records/PAYOUT.json,
//          the payout id in payment records, ROOT/pg/paid/DAY/MARKER, ROOT/pg/bank-records/HASH.json,
//          journal entries; refused bank files in ROOT/pg/bank/quarantine/ with NAME.reason.json.
// Exit codes: 0 every input processed; 64 usage; 65 some inputs were quarantined (see qrpay-spool
//             quarantine), or bad data stopped the run; 66 no such input (file, spool, payment);
//             70 internal error; 73 cannot create; 74 I/O error; 75 some inputs were deferred or
//             left waiting (retried later), another instance holds the lock, or try again later;
//             77 permission denied or wrong password; 78 configuration (no CA, no or mismatched
//             credentials)

import ArgumentParser
import Foundation
import QRPaySupport
import QRPayStages
import QRPayCommand

@main
struct QRPayPayout: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-payout",
        abstract: "Pay shops out: pain.001 payout files from finished payments; bank status reports and statements read back.",
        discussion: """
        Run it daily after qrpay-settle (Samples/systemd/qrpay-payout.timer, Samples/crontab): hand the \
        files in SPOOL/pg/payouts/new/ to the bank's channel, drop what the bank sends back into \
        SPOOL/pg/bank/ (tmp/, then mv into new/), and reconcile with qrpay-reconcile --payouts. Shops' \
        accounts and the PG's debtor accounts are set with qrpay-spool accounts set.
        Example: qrpay-payout --spool /var/spool/qrpay --password-file /etc/qrpay/pg.pass --until today --once
        """,
        version: QRPayVersion.text)

    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("File holding the password of the PG's private key.", valueName: "file"))
    var passwordFile: String
    @Option(help: ArgumentHelp(
        "Pay out payments finished at or before this time: a UTC time YYYY-MM-DDTHH:MM:SSZ, `today` (00:00 UTC today) or `now` (the default).",
        valueName: "time"))
    var until: String = "now"
    @OptionGroup var mode: StageModeOptions

    static func cutoff(_ text: String, now: Date) throws -> Date? {
        switch text {
        case "now": return nil
        case "today": return Timestamp.parse(Timestamp.day(now) + "T00:00:00Z")
        default:
            guard let t = Timestamp.parse(text) else {
                throw ValidationError("--until: \"\(text.prefix(40))\" is neither now, today nor a UTC time YYYY-MM-DDTHH:MM:SSZ")
            }
            return t
        }
    }

    func validate() throws {
        _ = try QRPayPayout.cutoff(until, now: Date())
    }

    func run() throws {
        try runPGStage(program: "qrpay-payout", spool: spool, passwordFile: passwordFile, options: mode) { layout, pg in
            let clock = try TimeSource.fromEnvironment()
            return PayoutStage(layout: layout, pg: pg, until: try QRPayPayout.cutoff(until, now: clock.now()))
        }
    }
}
