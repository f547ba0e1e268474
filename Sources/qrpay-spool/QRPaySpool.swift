// qrpay-spool: the operator's view of the spool, like Postfix's mailq, qshape and postcat.
//
// What it does: `status` counts files per queue (with an age histogram and the oldest file) and
// payments per state (with sums per currency); `show SHOP PAYMENT` prints a payment's whole record.
// Inputs:  the spool (read only).
// Outputs: a report on stdout; `--json` for scripts.
// Exit codes: 0 done; 64 usage; 65 malformed record; 66 no such payment.

import ArgumentParser
import Foundation
import QRPayCommand
import QRPayCore

@main
struct QRPaySpool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-spool",
        abstract: "Inspect a QR-Pay spool: queues, payment states, single payments.",
        discussion: """
        Everything in the spool is a file: records are JSON in SPOOL/pg/payments/SHOP/XX/PAYMENT.json \
        and states are marker files in SPOOL/pg/states/STATE/DAY/, so `ls` and `jq` work too. This \
        tool summarizes and cross-checks them.
        """,
        subcommands: [Status.self, Show.self])
}

extension QRPaySpool {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Files per queue (waiting, claimed, deferred, held, quarantined, ages) and payments per state.")
        @OptionGroup var spool: SpoolOptions
        @Flag(help: "Print JSON: {queues: {name: count}, payments: {state: count}, sums, queueDetails, ...}.")
        var json = false

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                let status = try SpoolStatus.collect(spoolRoot: spool.root)
                if json { printJSON(status.json) } else { print(status.text) }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one payment's record: state, items, total, history with evidence, QR path.")
        @OptionGroup var spool: SpoolOptions
        @Flag(help: "Print the record as JSON (shop, payment, state, currency, total, items, history, qr, ...).")
        var json = false
        @Argument(help: "The shop's id.") var shop: String
        @Argument(help: "The payment number.") var payment: String

        func validate() throws {
            guard Identifier.isValid(shop), Identifier.isValid(payment) else {
                throw ValidationError("shop and payment ids use 1-64 of A-Z a-z 0-9 . _ -")
            }
        }

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                let store = PaymentStore(spoolRoot: spool.root)
                guard let record = try store.load(shop: shop, payment: payment) else {
                    throw QRPayError("payment.unknown", "no payment \(payment) of shop \(shop) in \(spool.root)", exit: .noInput)
                }
                if json { printJSON(record.json) } else { print(PaymentView.text(record)) }
            }
        }
    }
}
