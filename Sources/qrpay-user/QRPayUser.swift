// qrpay-user - the user's side of QR-Pay: reads payment QR codes from photos.
//
// SYNOPSIS
//      qrpay-user decode [--json] IMAGE...
//      qrpay-user scan --user ID [--json] IMAGE
//      qrpay-user approve --user ID [--password-file F | --password-stdin] [--expect-shop ID]
//                         [--expect-total N] [--expect-payment P] [--code N] IMAGE
//      qrpay-user receipts --user ID [--watch] [--json] [--keep]
//
// DESCRIPTION
//      One subcommand per file in this folder (Decode.swift: `decode`; Scan.swift: `scan`, paper
//      phase C; Approve.swift: `approve`, phase D; Receipts.swift: `receipts`, phase E); add a subcommand by adding its file and its type
//      to `subcommands` below.
//
// INPUTS
//      Image files (PNG or JPEG) named on the command line; the spool (--spool, $QRPAY_SPOOL) for
//      the subcommands that use it.
//
// OUTPUTS
//      stdout: the subcommand's results; stderr: `qrpay-user: error: ...` diagnostics.
//
// Exit codes: 0 done; 1 some image held no QR code (decode); 64 usage; 65 bad data; 66 no such
//             input (file, spool, payment); 70 internal error; 73 cannot create; 74 I/O error; 75
//             try again later (a lock held, a full disk, a missing or stale CRL); 77 permission
//             denied or wrong password; 78 configuration (no CA, no or mismatched credentials)

import ArgumentParser
import QRPayCommand

@main
struct QRPayUser: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-user",
        abstract: "The user's side of QR-Pay: read payment QR codes from photos, check them, approve them.",
        discussion: """
        A user photographs the shop's QR code. `scan` shows what the code stands for, after checking \
        the shop's signature against its certificate and that the payment is open; `approve` does the \
        same checks, then signs an approval with the user's password-protected key and hands it to \
        the PG (SPOOL/pg/approvals/) once the user confirmed (or, in scripts, --expect-shop and \
        --expect-total matched); `receipts` reads what the PG then tells the user. For unattended \
        batches, see qrpay-scan.
        """,
        version: QRPayVersion.text,
        subcommands: [Decode.self, Scan.self, Approve.self, Receipts.self])
}
