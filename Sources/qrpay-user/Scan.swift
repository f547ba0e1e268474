// `qrpay-user scan`: paper phase C. Decode the photo, fetch the payment from the PG's list, verify
// the shop's signature and certificate, check the payment is open; print what the user must see.

import ArgumentParser
import Foundation
import QRPayCommand
import QRPayCore

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the verified details of the payment in a QR photo (nothing is signed).",
        discussion: """
        Checks: the QR code is a QR-Pay code; the PG lists that payment with exactly the code's \
        signature; the shop's signature verifies against a valid, unrevoked shop certificate for that \
        shop number; the payment is `request` and unexpired. Any failure exits non-zero with the reason.
        Example: qrpay-user scan --user u42 photo.jpg
        """)

    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("The user's id (for the record; scanning needs no key).", valueName: "id"))
    var user: String
    @Flag(help: "Print the verified details as JSON.")
    var json = false
    @Argument(help: "A photo (JPEG or PNG) of the shop's QR code.")
    var image: String

    func validate() throws {
        guard Identifier.isValid(user) else { throw ValidationError("--user: use 1-64 of A-Z a-z 0-9 . _ -") }
    }

    func run() throws {
        try runReportingErrors("qrpay-user") {
            let now = try TimeSource.fromEnvironment().now()
            let review = try UserClient(spoolRoot: spool.root).review(image: image, now: now)
            if json { printJSON(review.json) } else { print(review.text(now: now)) }
        }
    }
}
