// `qrpay-user receipts`: paper phase E on the user's side. Reads the PG-signed receipts in
// SPOOL/users/ID/receipts/new/ (one per state change of a payment the user approved), verified,
// into the user's journal, as `qrpay-shop notices` reads a shop's notices.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments
import QRPayCommand

struct Receipts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read the PG's receipts for the user's payments, verified.",
        discussion: """
        Each receipt is verified (signed by the PG's certificate: chain, role pg, validity, CRL; a \
        receipt; for this user), printed as one line ("P1 finish KRW 12,200 by user u42"), recorded \
        in SPOOL/users/ID/journal.jsonl and moved to receipts/done/DAY/. One that does not verify is \
        set aside in receipts/quarantine/ with the reason, never believed. --keep only reads. \
        --watch keeps reading as receipts arrive.
        --json: an array of objects (shop, payment, state, total, totalText, currency, user, at, \
        notice); with --watch, one object per line.
        Exit codes: 0 every receipt verified; 65 some were set aside; 75 some wait for a usable CRL.
        Example: qrpay-user receipts --user u42
        """)

    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("The user's id.", valueName: "id"))
    var user: String
    @Flag(help: "Keep reading as receipts arrive (inotify) until interrupted.")
    var watch = false
    @Flag(help: "Print JSON (with --watch: one object per line).")
    var json = false
    @Flag(help: "Only read: record nothing, move nothing.")
    var keep = false

    func validate() throws {
        guard Identifier.isValid(user) else { throw ValidationError("--user: use 1-64 of A-Z a-z 0-9 . _ -") }
    }

    func run() throws {
        try runReportingErrors("qrpay-user") {
            try spool.requireSpool()
            let reader = try PGMessageReader(layout: SpoolLayout(root: spool.root), party: .user(user))
            try readMessages(reader, watch: watch, json: json, keep: keep, program: "qrpay-user")
        }
    }
}
