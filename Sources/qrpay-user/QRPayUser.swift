// qrpay-user - the user's side of QR-Pay: reads payment QR codes from photos.
//
// SYNOPSIS
//      qrpay-user decode [--json] IMAGE...
//      qrpay-user scan --user ID [--json] IMAGE
//      qrpay-user approve --user ID --password-file F [--expect-total N] IMAGE
//
// DESCRIPTION
//      One subcommand per file in this folder (Decode.swift: `decode`; Scan.swift: `scan`, paper
//      phase C; Approve.swift: `approve`, phase D); add a subcommand by adding its file and its type
//      to `subcommands` below.
//
// INPUTS
//      Image files (PNG or JPEG) named on the command line; the spool (--spool, $QRPAY_SPOOL) for
//      the subcommands that use it.
//
// OUTPUTS
//      stdout: the subcommand's results; stderr: `qrpay-user: error: ...` diagnostics.
//
// EXIT STATUS
//      0 success; 1 some image held no QR code (decode); 64 usage; 65 unreadable image, not a
//      genuine or not an open payment, total differs from --expect-total; 66 no such payment or user;
//      75 CRL missing or stale (try again later); 77 wrong password.

import ArgumentParser
import QRPayCommand
import QRPayCore

@main
struct QRPayUser: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-user",
        abstract: "The user's side of QR-Pay: read payment QR codes from photos, check them, approve them.",
        discussion: """
        A user photographs the shop's QR code. `scan` shows what the code stands for, after checking \
        the shop's signature against its certificate and that the payment is open; `approve` does the \
        same checks, then signs an approval with the user's password-protected key and hands it to \
        the PG (SPOOL/pg/approvals/). For unattended batches, see qrpay-scan.
        """,
        subcommands: [Decode.self, Scan.self, Approve.self])
}
