// qrpay-shop: the shop's client (paper, phase B; cancel in phase E).
//
// What it does: `create` signs payment information (shop number, a unique payment number, items,
// total in minor units, currency, creation and expiry) with the shop's key and drops it atomically
// into the PG's inbox, or into --outbox when the shop is offline; `send` carries an outbox over;
// `cancel` asks the PG to cancel a payment.
// Inputs:  ROOT/shops/ID/key.pem (unlocked with --password-file), ROOT/shops/ID/cert.pem.
// Outputs: ROOT/pg/inbox/new/ (or --outbox DIR/new/), ROOT/pg/cancels/new/, ROOT/shops/ID/journal.jsonl;
//          `create` prints the payment number alone on stdout.
// Exit codes: 0 done; 64 usage; 65 bad data; 66 no such input (file, spool, payment); 70 internal
//             error; 73 cannot create; 74 I/O error; 75 try again later (a lock held, a full disk,
//             a missing or stale CRL); 77 permission denied or wrong password; 78 configuration
//             (no CA, no or mismatched credentials)

import ArgumentParser
import Foundation
import QRPayCommand
import QRPayCore

@main
struct QRPayShop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-shop",
        abstract: "The shop's side of QR-Pay: sign payments and cancels and hand them to the PG.",
        discussion: """
        A payment goes: qrpay-shop create → SPOOL/pg/inbox → qrpay-register → QR PNG in \
        SPOOL/shops/ID/qr/ for the shop's display → the user scans and approves → notices in \
        SPOOL/shops/ID/notices/new/.
        """,
        version: QRPayVersion.text,
        subcommands: [Create.self, Send.self, Cancel.self])
}

struct ShopOptions: ParsableArguments {
    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("The shop's id (its shop number), as certified by the CA.", valueName: "id"))
    var shop: String
    @Option(help: ArgumentHelp("File holding the password of the shop's private key.", valueName: "file"))
    var passwordFile: String

    func validate() throws {
        guard Identifier.isValid(shop) else { throw ValidationError("--shop: use 1-64 of A-Z a-z 0-9 . _ -") }
    }

    func client() throws -> ShopClient {
        try ShopClient(spoolRoot: spool.root, shop: shop, password: try readPasswordFile(passwordFile))
    }
}

extension QRPayShop {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign payment information and drop it into the PG's inbox; print the payment number.",
            discussion: """
            Amounts are integers in the currency's minor unit (KRW has none: 4500 is ₩4,500; USD has \
            cents: 450 is $4.50). The total is the sum of the items.
            Example: qrpay-shop create --shop 1001 --password-file shop.pass --currency KRW \
              --item "Americano:2:4500" --item "Bagel:1:3200"
            """)

        @OptionGroup var options: ShopOptions
        @Option(help: ArgumentHelp("ISO 4217 currency code, e.g. KRW, USD, EUR.", valueName: "code"))
        var currency: String
        @Option(name: .customLong("item"), help: ArgumentHelp(
            "An item as NAME:QTY:UNIT (unit price in minor units). Repeat for each item.", valueName: "name:qty:unit"))
        var items: [String] = []
        @Option(help: ArgumentHelp("The payment number (default: generated, unique for the shop).", valueName: "id"))
        var payment: String?
        @Option(name: .customLong("expires-in"), help: ArgumentHelp(
            "How long the payment stays open, e.g. 90s, 15m, 2h.", valueName: "duration"))
        var expiresIn: String = "15m"
        @Option(help: ArgumentHelp(
            "Offline shop: drop the signed payment into this queue directory instead; carry it over later with `qrpay-shop send`.",
            valueName: "dir"))
        var outbox: String?

        func validate() throws {
            guard !items.isEmpty else { throw ValidationError("Give at least one --item NAME:QTY:UNIT.") }
            if let payment, !Identifier.isValid(payment) {
                throw ValidationError("--payment: use 1-64 of A-Z a-z 0-9 . _ -")
            }
        }

        func run() throws {
            try runReportingErrors("qrpay-shop") {
                let client = try options.client()
                let now = try TimeSource.fromEnvironment().now()
                let lifetime = try QRPayCore.Duration.parse(expiresIn)
                let info = try PaymentInfo(
                    shop: options.shop, payment: payment ?? ShopClient.newPaymentNumber(now: now),
                    currency: try Currency(currency), items: try items.map(PaymentItem.parse(commandLine:)),
                    created: now, expires: now + lifetime)
                try client.submit(info, outbox: outbox)
                print(info.payment)
            }
        }
    }

    struct Send: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Carry the documents an offline shop left in --outbox over into the PG's queues.",
            discussion: """
            Each document is delivered atomically into the PG's inbox (payments) or cancels queue, then \
            kept in OUTBOX/done/DAY/ as sent (remove old days when you no longer need them).
            """)
        @OptionGroup var spool: SpoolOptions
        @Option(help: ArgumentHelp("The outbox queue directory used with `create --outbox`.", valueName: "dir"))
        var outbox: String

        func run() throws {
            try runReportingErrors("qrpay-shop") {
                try spool.requireSpool()
                // A typo in --outbox must never read as "carried 0 documents".
                guard FileIO.isDirectory(Queue(path: outbox).newDirectory) else {
                    throw QRPayError(.spoolNoOutbox, "there is no outbox queue at \(outbox) (--outbox): no \(Queue(path: outbox).newDirectory)/; give the directory `qrpay-shop create --outbox` wrote into")
                }
                let n = try ShopClient.carryOver(outbox: outbox, spoolRoot: spool.root)
                Diagnostics.info("qrpay-shop", "carried \(n) document(s) over to the PG")
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the PG to cancel a payment (before it is finished).",
            discussion: """
            A `request` is cancelled at once; an `accept` only while the settlement hold lasts; a \
            `finish` never. qrpay-settle applies the cancel and notifies the shop.
            """)
        @OptionGroup var options: ShopOptions
        @Option(help: ArgumentHelp("Why the shop cancels (kept in the payment's history).", valueName: "text"))
        var reason: String = ""
        @Option(help: ArgumentHelp("Offline shop: drop the cancel into this queue directory instead.", valueName: "dir"))
        var outbox: String?
        @Argument(help: "The payment number to cancel.")
        var payment: String

        func validate() throws {
            guard Identifier.isValid(payment) else { throw ValidationError("payment: use 1-64 of A-Z a-z 0-9 . _ -") }
        }

        func run() throws {
            try runReportingErrors("qrpay-shop") {
                try options.client().cancel(payment: payment, reason: reason, outbox: outbox, now: try TimeSource.fromEnvironment().now())
                print(payment)
            }
        }
    }
}
