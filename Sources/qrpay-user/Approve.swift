// `qrpay-user approve`: paper phase D. The checks of `scan`, then the user's key, unlocked with the
// password, signs an approval bound to this exact payment, dropped atomically into SPOOL/pg/approvals/.

import ArgumentParser
import Foundation
import QRPayCommand
import QRPayCore

struct Approve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the payment in a QR photo and sign the user's approval for the PG.",
        discussion: """
        The approval binds shop, payment number, total, currency, the hash of the shop's signed \
        document, the PG as audience and the time. A wrong password exits 77 and writes nothing. \
        --expect-total (minor units: 12200 is KRW 12,200 or USD 122.00) refuses any other total.
        Example: qrpay-user approve --user u42 --password-file ~/.qrpay.pass --expect-total 12200 photo.jpg
        """)

    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("The user's id, as certified by the CA.", valueName: "id"))
    var user: String
    @Option(help: ArgumentHelp("File holding the password of the user's private key.", valueName: "file"))
    var passwordFile: String
    @Option(help: ArgumentHelp("Refuse unless the total is exactly this many minor units.", valueName: "n"))
    var expectTotal: Int64?
    @Flag(help: "Print the approved payment as JSON.")
    var json = false
    @Argument(help: "A photo (JPEG or PNG) of the shop's QR code.")
    var image: String

    func validate() throws {
        guard Identifier.isValid(user) else { throw ValidationError("--user: use 1-64 of A-Z a-z 0-9 . _ -") }
        if let expectTotal, expectTotal <= 0 { throw ValidationError("--expect-total must be more than zero") }
    }

    func run() throws {
        try runReportingErrors("qrpay-user") {
            let password = try readPasswordFile(passwordFile)
            let client = try UserClient(spoolRoot: spool.root)
            let now = try TimeSource.fromEnvironment().now()
            let review = try client.review(image: image, now: now)
            if let expectTotal, expectTotal != review.info.total {
                throw QRPayError(.approvalTotalMismatch, "the payment's total is \(review.info.currency.format(review.info.total)) (\(review.info.total)), not \(expectTotal); nothing was signed")
            }
            try client.approve(review, user: user, password: password, now: now)
            if json { printJSON(review.json) } else {
                print(review.text(now: now))
                print("Approved: the approval is on its way to the PG.")
            }
        }
    }
}
