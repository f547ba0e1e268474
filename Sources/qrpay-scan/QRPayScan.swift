// qrpay-scan: the user's batch stage (paper, phases C and D).
//
// What it does: drains ROOT/users/ID/inbox, where the user drops photos of QR codes (*.jpg, *.jpeg,
// *.png), each optionally with a sidecar NAME.approve holding {"total": N, "currency": "KRW"}: what the
// user agreed to pay. Photo plus matching sidecar → a signed approval into ROOT/pg/approvals/. Photo
// alone → a verified review in ROOT/users/ID/reviews/NAME.json, nothing signed. Mismatch or failure →
// quarantine with the reason. A sidecar that arrives before its photo waits for it.
// Inputs:  ROOT/users/ID/inbox/new/*, ROOT/pg/list, ROOT/ca/, ROOT/users/ID/key.pem (--password-file).
// Outputs: ROOT/pg/approvals/new/*, ROOT/users/ID/reviews/*, ROOT/users/ID/inbox/quarantine/*.
// Exit codes: 0 every input processed; 64 usage; 65 some inputs were quarantined (see qrpay-spool
//             quarantine), or bad data stopped the run; 66 no such input (file, spool, payment);
//             70 internal error; 73 cannot create; 74 I/O error; 75 some inputs were deferred or
//             left waiting (retried later), another instance holds the lock, or try again later;
//             77 permission denied or wrong password; 78 configuration (no CA, no or mismatched
//             credentials)

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayUserClient
import QRPayCommand

@main
struct QRPayScan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-scan",
        abstract: "Turn a user's dropped QR photos into verified reviews, and with a sidecar, into signed approvals.",
        discussion: """
        Drop shot1.jpg into SPOOL/users/ID/inbox/new/ (write it elsewhere first, then rename it in). \
        To pay, drop shot1.approve beside it first: {"total": 12200, "currency": "KRW"}. The approval \
        is signed only when the photo shows a genuine, open payment of exactly that amount.
        Example: qrpay-scan --spool ~/qrpay --user u42 --password-file ~/.qrpay.pass --once
        """,
        version: QRPayVersion.text)

    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("The user's id, as certified by the CA.", valueName: "id"))
    var user: String
    @Option(help: ArgumentHelp("File holding the password of the user's private key.", valueName: "file"))
    var passwordFile: String
    @OptionGroup var mode: StageModeOptions

    func validate() throws {
        guard Identifier.isValid(user) else { throw ValidationError("--user: use 1-64 of A-Z a-z 0-9 . _ -") }
    }

    func run() throws {
        var stage: ScanStage?
        var context: StageContext?
        try runReportingErrors("qrpay-scan") {
            try spool.requireSpool()
            context = try stageContext(spool.root)
            let password = try readPasswordFile(passwordFile, what: "user \(user)'s password file (--password-file)")
            stage = try usingPassword(from: "--password-file", file: passwordFile) {
                try ScanStage(layout: context!.layout, user: user, password: password)
            }
        }
        try runStage(program: "qrpay-scan", context: context!, stage: stage!, options: mode)
    }
}
