// qrpay-shop: the shop's client (paper, phase B; cancel in phase E).
//
// What it does: `create` signs payment information (shop number, a unique payment number, items,
// total in minor units, currency, creation and expiry) with the shop's key and drops it atomically
// into the PG's inbox, or into --outbox when the shop is offline; `send` carries an outbox over;
// `cancel` asks the PG to cancel a payment; `notices` reads what the PG sent (state changes and
// refusals), verified, into the shop's journal; `qr` shows a payment's QR code for the counter;
// `status` sums up the shop's day from its journal.
// Inputs:  ROOT/shops/ID/key.pem (unlocked with --password-file), ROOT/shops/ID/cert.pem,
//          ROOT/shops/ID/notices/new/ (PG-signed), ROOT/shops/ID/qr/PAYMENT.png, the CA's certificates and CRL.
// Outputs: ROOT/pg/inbox/new/ (or --outbox DIR/new/), ROOT/pg/cancels/new/, ROOT/shops/ID/journal.jsonl,
//          ROOT/shops/ID/notices/done/ (and quarantine/ for what does not verify);
//          `create` prints the payment number alone on stdout.
// Exit codes: 0 done; 64 usage; 65 bad data; 66 no such input (file, spool, payment); 70 internal
//             error; 73 cannot create; 74 I/O error; 75 try again later (a lock held, a full disk,
//             a missing or stale CRL); 77 permission denied or wrong password; 78 configuration
//             (no CA, no or mismatched credentials)

import ArgumentParser
import Foundation
import QRPayImaging
import QRPayDecoder
import QRPaySupport
import QRPaySpool
import QRPayPayments
import QRPayShopClient
import QRPayCommand
#if canImport(Glibc)
import Glibc
#endif

@main
struct QRPayShop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-shop",
        abstract: "The shop's side of QR-Pay: sign payments and cancels and hand them to the PG.",
        discussion: """
        A payment goes: qrpay-shop create → SPOOL/pg/inbox → qrpay-register → QR PNG in \
        SPOOL/shops/ID/qr/ for the shop's display (`qrpay-shop qr`) → the user scans and approves → \
        PG-signed notices in SPOOL/shops/ID/notices/, read with `qrpay-shop notices`.
        """,
        version: QRPayVersion.text,
        subcommands: [Create.self, Send.self, Cancel.self, Notices.self, QR.self, Status.self])
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
                let lifetime = try QRPaySupport.Duration.parse(expiresIn)
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

/// `--shop ID` without a key: for what only reads (notices, qr, status).
struct ShopIDOptions: ParsableArguments {
    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("The shop's id (its shop number), as certified by the CA.", valueName: "id"))
    var shop: String

    func validate() throws {
        guard Identifier.isValid(shop) else { throw ValidationError("--shop: use 1-64 of A-Z a-z 0-9 . _ -") }
    }
}

extension QRPayShop {
    struct Notices: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read what the PG sent the shop: payment states and refusals, verified.",
            discussion: """
            Each file in SPOOL/shops/ID/notices/new/ is verified (signed by the PG's certificate: chain, \
            role pg, validity, CRL; a notice or refusal; about this shop), printed as one line \
            ("P1 accept KRW 12,200 by user u42", "P2 refused payment (payment.total-mismatch): ..."), \
            recorded in the shop's journal and moved to notices/done/DAY/. One that does not verify is \
            set aside in notices/quarantine/ with the reason and reported, never believed. --keep only \
            reads (nothing recorded or moved). --watch keeps reading as notices arrive (inotify), for \
            the counter's display; stop it with Ctrl-C.
            --json: an array of objects (kind "state": shop, payment, state, total, totalText, \
            currency, user, reason, at, notice; kind "refusal": shop, payment, refusedKind, \
            refusedDocument, code, reason, at, notice); with --watch, one object per line as they come.
            Exit codes: 0 every notice verified; 65 some were set aside; 75 some wait for a usable CRL.
            Example: qrpay-shop notices --shop 1001
            """)
        @OptionGroup var options: ShopIDOptions
        @Flag(help: "Keep reading as notices arrive (inotify) until interrupted.")
        var watch = false
        @Flag(help: "Print JSON (with --watch: one object per line).")
        var json = false
        @Flag(help: "Only read: record nothing, move nothing.")
        var keep = false

        func run() throws {
            try runReportingErrors("qrpay-shop") {
                try options.spool.requireSpool()
                let reader = try PGMessageReader(layout: SpoolLayout(root: options.spool.root), party: .shop(options.shop))
                try readMessages(reader, watch: watch, json: json, keep: keep, program: "qrpay-shop")
            }
        }
    }

    struct QR: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a payment's QR code for the counter: on the terminal, or as a PNG.",
            discussion: """
            The code is the one the PG made when it registered the payment (SPOOL/shops/ID/qr/PAYMENT.png), \
            read back and verified to be a QR-Pay code of this shop and payment. --terminal draws it with \
            Unicode half blocks (a phone camera reads it from the screen; --invert for a light \
            background); --png FILE copies the PNG to FILE. Neither: the terminal when standard output \
            is one, else the PNG's path.
            Example: qrpay-shop qr --shop 1001 P20261128101500-1a2b3c4d5e --terminal
            """)
        @OptionGroup var options: ShopIDOptions
        @Flag(help: "Draw the code on the terminal.")
        var terminal = false
        @Option(help: ArgumentHelp("Copy the QR PNG to this file.", valueName: "file"))
        var png: String?
        @Flag(help: "Draw dark modules instead of light ones (for a terminal with a light background).")
        var invert = false
        @Argument(help: "The payment number.")
        var payment: String

        func validate() throws {
            guard Identifier.isValid(payment) else { throw ValidationError("payment: use 1-64 of A-Z a-z 0-9 . _ -") }
            if terminal && png != nil { throw ValidationError("give --terminal or --png FILE, not both") }
        }

        func run() throws {
            try runReportingErrors("qrpay-shop") {
                try options.spool.requireSpool()
                let layout = SpoolLayout(root: options.spool.root)
                let path = layout.qrPath(shop: options.shop, payment: payment)
                guard let data = try FileIO.readIfExists(path, maxBytes: 4 << 20) else {
                    throw QRPayError(.shopNoQR, "there is no QR code for payment \(payment) of shop \(options.shop) at \(path): the PG registers payments with qrpay-register (see `qrpay-shop notices` for a refusal)")
                }
                let decoded = try QRImageDecoder().decode(data: data)
                guard let text = decoded.symbols.first(where: { (try? QRPayload(text: $0)).map { $0.shop == options.shop && $0.payment == payment } ?? false }) else {
                    throw QRPayError(.qrMismatch, "\(path) does not hold the QR-Pay code of payment \(options.shop)/\(payment)")
                }
                if let png {
                    let commit = GroupCommit(context: StageContext(layout: layout))
                    try commit.write(data, to: URL(fileURLWithPath: png).standardizedFileURL.path, mode: 0o644, ifExists: .replace)
                    try commit.flush()
                    print(png)
                } else if terminal || isatty(1) == 1 {
                    FileHandle.standardOutput.write(Data(TerminalQR.render(try QRCodeImage.modules(text: text), invert: invert, color: isatty(1) == 1).utf8))
                } else {
                    print(path)
                }
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The shop's payments of a day by state, with totals: for closing time.",
            discussion: """
            From the shop's own journal: the payments it created that day (UTC) and the latest state \
            the PG told it (read notices first: `qrpay-shop notices`). "sent": the PG has said nothing \
            yet; "refused": the PG refused the payment.
            --json: {shop, day, payments, states: {STATE: {count, totals: {CUR: minor units}}}, list: [{payment, state, currency, total}]}.
            Example: qrpay-shop status --shop 1001 --day 2026-11-28
            """)
        @OptionGroup var options: ShopIDOptions
        @Option(help: ArgumentHelp("The day, YYYY-MM-DD (UTC; default today).", valueName: "day"))
        var day: String?
        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            if let day, !Timestamp.isDay(day) { throw ValidationError("--day: use YYYY-MM-DD") }
        }

        func run() throws {
            try runReportingErrors("qrpay-shop") {
                try options.spool.requireSpool()
                let layout = SpoolLayout(root: options.spool.root)
                let journal = PartyJournal(path: layout.shopJournal(shop: options.shop), layout: layout)
                guard FileIO.exists(journal.path) else {
                    throw QRPayError(.ioNotFound, "shop \(options.shop) has no journal at \(journal.path): it has sent nothing from this spool (check --shop and --spool)")
                }
                let today = Timestamp.day(try TimeSource.fromEnvironment().now())
                let summary = ShopDay(shop: options.shop, day: day ?? today, journal: try journal.entries())
                if json { printJSON(summary.json) } else { print(summary.text) }
            }
        }
    }
}
