// qrpay-register: the PG's register stage (paper, phase B).
//
// What it does: drains ROOT/pg/inbox, where shops drop signed payment information; verifies each
// document against the shop's certificate (chain to the CA, validity, role shop, id = shop number, CRL),
// registers the payment as `request`, publishes it on the payment-information list, writes the QR PNG
// for the shop's display (ROOT/shops/ID/qr/PAYMENT.png) and a PG-signed notice for the shop.
// Inputs:   ROOT/pg/inbox/new/*, ROOT/ca/ (certificates, CRL), ROOT/pg/key.pem (unlocked with --password-file).
// Outputs:  ROOT/pg/payments, ROOT/pg/states, ROOT/pg/list, ROOT/pg/journal, ROOT/shops/ID/{qr,notices}.
//           Refused documents go to ROOT/pg/inbox/quarantine/ beside NAME.reason.json.
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
struct QRPayRegister: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-register",
        abstract: "Verify shops' signed payment information and register it as `request`, with its QR code.",
        discussion: """
        Shops (qrpay-shop create) drop signed payment JSON into SPOOL/pg/inbox/new/. This stage checks \
        each document's signature against the shop's certificate, registers the payment as `request`, \
        publishes it on the payment-information list the user side reads, and writes the QR PNG the \
        shop displays: it holds only the shop number, payment number and signature. Bad documents are \
        quarantined in SPOOL/pg/inbox/quarantine/ with a NAME.reason.json saying why.

        Run it from cron or a systemd oneshot with --once, or as a service with --watch.
        Example: qrpay-register --spool /var/spool/qrpay --password-file /etc/qrpay/pg.pass --once
        """,
        version: QRPayVersion.text)

    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("File holding the password of the PG's private key.", valueName: "file"))
    var passwordFile: String
    @OptionGroup var mode: StageModeOptions
    @OptionGroup var tuning: StageTuningOptions

    func run() throws {
        try runPGStage(program: "qrpay-register", spool: spool, passwordFile: passwordFile, options: mode) { layout, pg in
            try RegisterStage(layout: layout, pg: pg, tuning: tuning.tuning)
        }
    }
}
