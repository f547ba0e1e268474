// `qrpay-user approve`: paper phase D. The checks of `scan` on every code in the photo, the user's
// intent bound before anything is signed, then the user's key, unlocked with the password, signs an
// approval bound to this exact payment, dropped atomically into SPOOL/pg/approvals/.
//
// Order, so that nothing is signed that the user did not see and mean:
//  1. every payment code in the photo is verified (list entry signed by the PG, shop's signature,
//     open, unexpired); more than one verified code: refused unless --code N picks one (exit 65);
//  2. the verified details are printed (shop id and certified name, payment, items, total);
//  3. the intent: --expect-shop/--expect-total/--expect-payment/--expect-currency must match (65,
//     naming what differs); without a terminal --expect-shop and --expect-total are required (64);
//     on a terminal the user confirms (anything but y: exit 1);
//  4. the user's own record: a payment this user approved before is refused (65);
//  5. the password (file, standard input or the terminal), the user's own certificate (revoked or
//     expired: 77), then the signature, the delivery and the record of it.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPayPKI
import QRPayUserClient
import QRPayCommand

struct Approve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the payment in a QR photo and sign the user's approval for the PG.",
        discussion: """
        The approval binds shop, payment number, total, currency, the hash of the shop's signed \
        document, the PG as audience and the time. Nothing is signed before the user's intent is \
        bound: on a terminal the verified details are shown and the user confirms, then types the \
        password; in scripts (no terminal) --expect-shop and --expect-total are required and must \
        match. Totals are minor units: 12200 is KRW 12,200 or USD 122.00. A photo with more than \
        one payment code is refused unless --code N picks one of those `qrpay-user scan` lists.
        Exit codes: 0 approved; 1 the user declined; 64 usage (no terminal and no --expect-shop/--expect-total); \
        65 the payment differs from what was expected, several codes without --code, already approved, \
        or the payment does not verify; 75 try again (no usable CRL); 77 wrong password, or the user's \
        own certificate is revoked or expired.
        Examples:
          qrpay-user approve --user u42 photo.jpg                 (on a terminal: confirm, then the password)
          qrpay-user approve --user u42 --password-file ~/.qrpay.pass --expect-shop 1001 --expect-total 12200 photo.jpg
        """)

    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("The user's id, as certified by the CA.", valueName: "id"))
    var user: String
    @OptionGroup var password: PasswordOptions
    @Option(help: ArgumentHelp("Refuse unless the shop is this shop id (required without a terminal).", valueName: "id"))
    var expectShop: String?
    @Option(help: ArgumentHelp("Refuse unless the total is exactly this many minor units (required without a terminal).", valueName: "n"))
    var expectTotal: Int64?
    @Option(help: ArgumentHelp("Refuse unless the payment number is this one.", valueName: "payment"))
    var expectPayment: String?
    @Option(help: ArgumentHelp("Refuse unless the currency is this ISO 4217 code.", valueName: "code"))
    var expectCurrency: String?
    @Option(help: ArgumentHelp("Of a photo with several payment codes, approve the Nth as `qrpay-user scan` lists them.", valueName: "n"))
    var code: Int?
    @Flag(help: "Print the approved payment as JSON.")
    var json = false
    @Argument(help: "A photo (JPEG or PNG) of the shop's QR code.")
    var image: String

    func validate() throws {
        guard Identifier.isValid(user) else { throw ValidationError("--user: use 1-64 of A-Z a-z 0-9 . _ -") }
        if let expectTotal, expectTotal <= 0 { throw ValidationError("--expect-total must be more than zero") }
        if let expectShop, !Identifier.isValid(expectShop) { throw ValidationError("--expect-shop: use 1-64 of A-Z a-z 0-9 . _ -") }
        if let expectPayment, !Identifier.isValid(expectPayment) { throw ValidationError("--expect-payment: use 1-64 of A-Z a-z 0-9 . _ -") }
        if let code, code < 1 { throw ValidationError("--code counts from 1, as `qrpay-user scan` lists the codes") }
    }

    func run() throws {
        try runReportingErrors("qrpay-user") {
            let interactive = Terminal.isInteractive && !password.passwordStdin
            if !interactive {
                guard expectShop != nil, expectTotal != nil else {
                    throw QRPayError.usage("without a terminal to confirm on, say what the user agreed to pay: --expect-shop ID and --expect-total N (--expect-payment P too, when known)")
                }
                guard password.given else {
                    throw QRPayError.usage("without a terminal, give --password-file FILE or --password-stdin")
                }
            }
            let client = try UserClient(spoolRoot: spool.root)
            let now = try TimeSource.fromEnvironment().now()
            let photo = try client.reviewAll(image: image, now: now)
            let review = try photo.choose(code: code)
            // What the user is about to sign, before anything is signed.
            if !json { print(review.text(now: now)) }
            try Intent(shop: expectShop, payment: expectPayment, total: expectTotal, currency: expectCurrency).check(review)
            try client.checkNotApproved(review, user: user)
            if interactive {
                let question = "Pay \(review.info.currency.format(review.info.total)) to \(HumanText.escaped(review.shopName)) (shop \(review.info.shop)), payment \(review.info.payment)? [y/N] "
                guard try Terminal.confirm(question) else {
                    throw QRPayError(.userDeclined, "declined: nothing was signed")
                }
            }
            let secret = try password.read(prompt: "Password of user \(user)'s key: ", what: "user \(user)'s password")
            try client.approve(review, user: user, password: secret, now: now)
            if json { printJSON(review.json) } else { print("Approved: the approval is on its way to the PG.") }
        }
    }
}
