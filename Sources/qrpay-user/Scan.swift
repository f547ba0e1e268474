// `qrpay-user scan`: paper phase C. Decode the photo, and for every payment code in it fetch the
// payment from the PG's list (an entry signed by the PG), verify the shop's signature and
// certificate, check the payment is open; print what the user must see. Nothing is signed.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPayUserClient
import QRPayCommand

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the verified details of the payment in a QR photo (nothing is signed).",
        discussion: """
        Checks, for every code in the photo: the QR code is a QR-Pay code; the PG lists that payment, \
        in a list entry signed by the PG the CA certified, with exactly the code's signature; the \
        shop's signature verifies against a valid, unrevoked shop certificate for that shop number; \
        the payment is `request` and unexpired. A photo with several payment codes lists each one \
        that verified, numbered: `qrpay-user approve --code N` picks one. Codes that do not verify are \
        reported on stderr. Exit: 0 at least one payment verified; 65 none did (the reason).
        --json: one payment prints its object (shop, shopName, payment, state, currency, total, \
        totalText, items, created, expires, documentHash); several print {"codes": [...]} with one \
        such object per code, in the numbering `--code` uses.
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
            let photo = try UserClient(spoolRoot: spool.root).reviewAll(image: image, now: now)
            for (symbol, error) in photo.refused where !photo.reviews.isEmpty {
                Diagnostics.info("qrpay-user", "a code that did not verify (\(symbol.prefix(24))…): \(error.message)")
            }
            if photo.reviews.count <= 1 {
                let review = try photo.choose()
                if json { printJSON(review.json) } else { print(review.text(now: now)) }
                return
            }
            if json {
                printJSON(["codes": .array(photo.reviews.map(\.json))])
                return
            }
            print("This photo holds \(photo.reviews.count) payment codes. Approve one with `qrpay-user approve --code N`:")
            for (i, review) in photo.reviews.enumerated() {
                print("\n[\(i + 1)]")
                print(review.text(now: now))
            }
        }
    }
}
