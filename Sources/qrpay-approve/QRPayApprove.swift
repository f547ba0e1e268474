// qrpay-approve: the PG's approve stage (paper, phases D and E).
//
// What it does: drains ROOT/pg/approvals, where users' clients drop signed approvals; verifies each
// against the user's certificate (role user, chain, CRL) and against the payment (registered,
// `request`, unexpired, same total, currency and shop document; one approval per payment); moves the
// payment to `accept`; writes a PG-signed notice for the shop and a receipt for the user.
// Inputs:  ROOT/pg/approvals/new/*, ROOT/pg/payments, ROOT/ca/, ROOT/pg/key.pem (--password-file).
// Outputs: the payment record and state marker, the list entry, the journal,
//          ROOT/shops/SHOP/notices/new/PAYMENT.accept.json, ROOT/users/USER/receipts/new/…;
//          refused approvals in ROOT/pg/approvals/quarantine/ with NAME.reason.json.
// Exit codes: 0 every input processed; 64 usage; 65 some inputs were quarantined (see qrpay-spool
//             quarantine), or bad data stopped the run; 66 no such input (file, spool, payment);
//             70 internal error; 73 cannot create; 74 I/O error; 75 some inputs were deferred or
//             left waiting (retried later), another instance holds the lock, or try again later;
//             77 permission denied or wrong password; 78 configuration (no CA, no or mismatched
//             credentials)

import ArgumentParser
import Foundation
import QRPayStages
import QRPayCommand

@main
struct QRPayApprove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-approve",
        abstract: "Verify users' signed approvals and move their payments from `request` to `accept`.",
        discussion: """
        Users (qrpay-user approve, or the batch stage qrpay-scan) drop signed approvals into \
        SPOOL/pg/approvals/new/. Each must come from a certified user, name this PG as audience, and \
        match the registered payment exactly (total, currency, hash of the shop's signed document) \
        while it is `request` and unexpired. Refused approvals are quarantined with their reason.
        Example: qrpay-approve --spool /var/spool/qrpay --password-file /etc/qrpay/pg.pass --watch
        """,
        version: QRPayVersion.text)

    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("File holding the password of the PG's private key.", valueName: "file"))
    var passwordFile: String
    @OptionGroup var mode: StageModeOptions
    @OptionGroup var tuning: StageTuningOptions

    func run() throws {
        try runPGStage(program: "qrpay-approve", spool: spool, passwordFile: passwordFile, options: mode) { layout, pg in
            try ApproveStage(layout: layout, pg: pg, tuning: tuning.tuning)
        }
    }
}
