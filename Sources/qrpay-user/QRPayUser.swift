// qrpay-user - the user's side of QR-Pay: reads payment QR codes from photos.
//
// SYNOPSIS
//      qrpay-user decode [--json] IMAGE...
//
// DESCRIPTION
//      One subcommand per file in this folder (Decode.swift: `decode`); add a subcommand by adding
//      its file and its type to `subcommands` below.
//
// INPUTS
//      Image files (PNG or JPEG) named on the command line; the spool (--spool, $QRPAY_SPOOL) for
//      the subcommands that use it.
//
// OUTPUTS
//      stdout: the subcommand's results; stderr: `qrpay-user: error: ...` diagnostics.
//
// EXIT STATUS
//      0 success; 1 some image held no QR code; 64 usage; 65 unreadable or bad input data.

import ArgumentParser
import QRPayCommand
import QRPayCore

@main
struct QRPayUser: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-user",
        abstract: "The user's side of QR-Pay: read payment QR codes from photos.",
        subcommands: [Decode.self])
}
