// qrpay-reconcile: batch reconciliation of one day, per shop (run daily from a timer or cron).
//
// What it does: counts and totals payments by shop, state and currency for one creation day (UTC),
// read from the state markers of that day only (ROOT/pg/states/STATE/DAY/SHOP~PAYMENT~CURRENCY~TOTAL):
// no record is opened, no other day scanned, directories are streamed, so memory stays bounded
// whatever the spool's size. With --shop-journal (the shop's journal.jsonl that qrpay-shop writes),
// lists discrepancies: missing at the PG, missing at the shop, amount mismatch, state mismatch
// (see Reconcile.swift for the rules). With --payouts: per shop and day, finished, paid out and
// booked by the bank, and every difference (not paid out, paid twice, rejected, booked with another
// amount, not booked after --booking-days, booked without a payout; see PayoutReconcile.swift).
// Inputs:  ROOT/pg/states/*/DAY/; optionally a shop journal; with --sign the PG's key; with
//          --payouts ROOT/pg/states/finish/DAY/, ROOT/pg/payout-records/, ROOT/pg/bank-records/.
// Outputs: the report on stdout and, written atomically, ROOT/reports/reconcile-DAY[-SHOP].csv|json
//          (or --out DIR); with --sign a PG-signed NAME.jws (`qrpay-report+jws`) beside it, over
//          the report's SHA-256; with --payouts ROOT/reports/payouts-DAY.csv|json. Progress on stderr
//          only when stderr is a terminal. A --shop the spool does not know (no certificate,
//          directory or payments) is an error (66), never "0 payments".
// Exit codes: 0 done; 1 discrepancies were found; 64 usage; 65 bad data; 66 no such input (file,
//             spool, payment); 70 internal error; 73 cannot create; 74 I/O error; 75 try again
//             later (a lock held, a full disk, a missing or stale CRL); 77 permission denied or
//             wrong password; 78 configuration (no CA, no or mismatched credentials)

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
import QRPayOperations
import QRPayCommand
#if canImport(Glibc)
import Glibc
#endif

@main
struct QRPayReconcile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-reconcile",
        abstract: "Per shop and day: payments by state and currency; discrepancies against a shop's journal.",
        discussion: """
        The day is the payments' creation day in UTC: YYYY-MM-DD, `today` or `yesterday` (UTC). It \
        defaults to today, so a daily run shortly after midnight names the day that just ended: \
        --date yesterday. Payments still open (request, accept) are counted in their present state; \
        run it again later for the final picture.

        The report goes to stdout and, atomically, to SPOOL/reports/reconcile-DAY[-SHOP].csv|json. \
        Discrepancy kinds: missing-at-pg, missing-at-shop, amount-mismatch, state-mismatch (the shop \
        cancelled but the PG has it request, accept or finish; or the PG cancelled and the shop never \
        did), two-states, unjournaled (a state marker whose state is not the journal's last for its \
        payment: not counted; the journal, the ledger of record, is read from the day before on). A discrepancy makes the exit status 1, so a timer or cron job that runs it shows up as failed \
        until someone looks.
        Examples:
          qrpay-reconcile --date 2026-11-24
          qrpay-reconcile --date 2026-11-24 --shop 1001 --shop-journal /var/spool/qrpay/shops/1001/journal.jsonl --format json
          qrpay-reconcile --date yesterday --sign --password-file /etc/qrpay/pg.pass
          qrpay-reconcile --payouts --date yesterday --format json
        """,
        version: QRPayVersion.text)

    @OptionGroup var spool: SpoolOptions
    @Option(help: ArgumentHelp("The creation day to reconcile: YYYY-MM-DD, today or yesterday (UTC; default: today).", valueName: "day"))
    var date: String?
    @Option(help: ArgumentHelp("Only this shop.", valueName: "id"))
    var shop: String?
    @Option(help: ArgumentHelp("Report format: csv or json (csv: total in minor units, with exponent and amount, a decimal string, beside it).", valueName: "format"))
    var format: String?
    @Flag(help: "The same as --format json: {v, day, shop, generated, markers, shops: {SHOP: {STATE: {CUR: {count, total, exponent, decimal}}}}, states, discrepancies}.")
    var json = false
    @Option(help: ArgumentHelp("The shop's own journal (journal.jsonl by qrpay-shop) to compare with; needs --shop.", valueName: "file"))
    var shopJournal: String?
    @Flag(help: "Also write a PG-signed NAME.jws beside the report (needs --password-file).")
    var sign = false
    @Option(help: ArgumentHelp("File holding the password of the PG's private key (with --sign).", valueName: "file"))
    var passwordFile: String?
    @Option(help: ArgumentHelp("Directory for the report (default: SPOOL/reports).", valueName: "dir"))
    var out: String?
    @Flag(help: "Reconcile payouts instead: per shop and day, finished, paid out, booked by the bank, and every difference.")
    var payouts = false
    @Option(help: ArgumentHelp("With --payouts: a transfer not booked this many days after it was sent is a difference (default 5).", valueName: "n"))
    var bookingDays: Int = PayoutReconcile.defaultBookingDays

    func validate() throws {
        if let date, Reconcile.day(date) == nil { throw ValidationError("--date \(date) is not a day: use YYYY-MM-DD, today or yesterday") }
        if let format, Reconcile.Format(rawValue: format) == nil { throw ValidationError("--format is csv or json") }
        if json && format == "csv" { throw ValidationError("--json and --format csv disagree: give one of them") }
        if let shop, !Identifier.isValid(shop) { throw ValidationError("--shop: ids use 1-64 of A-Z a-z 0-9 . _ -") }
        if shopJournal != nil && shop == nil { throw ValidationError("--shop-journal needs --shop: a shop's journal holds only its own payments") }
        if sign != (passwordFile != nil) { throw ValidationError("--sign and --password-file go together") }
        if payouts && (shop != nil || sign) { throw ValidationError("--payouts reports every shop, unsigned: leave out --shop, --shop-journal and --sign") }
        guard (0...3650).contains(bookingDays) else { throw ValidationError("--booking-days must be 0 to 3650") }
    }

    func runPayouts() throws {
        var differences = 0
        try runReportingErrors("qrpay-reconcile") {
            try spool.requireSpool()
            let layout = SpoolLayout(root: spool.root)
            let now = try TimeSource.fromEnvironment().now()
            let day = Reconcile.day(date ?? "today", now: now)!
            let report = try PayoutReconcile.run(layout: layout, day: day, bookingDays: bookingDays, now: now)
            let fmt: Reconcile.Format = json ? .json : Reconcile.Format(rawValue: format ?? "csv")!
            let written = try PayoutReconcile.write(report, format: fmt, directory: out ?? layout.reportsDirectory)
            FileHandle.standardOutput.write(PayoutReconcile.bytes(report, format: fmt))
            Diagnostics.info("qrpay-reconcile", "payouts \(day): \(report.rows.count) shop/currency rows, \(report.differences.count) differences; wrote \(written)")
            differences = report.differences.count
        }
        if differences > 0 { throw ExitCode(SysExit.failure.rawValue) }
    }

    func run() throws {
        if payouts { return try runPayouts() }
        var discrepancies = 0
        try runReportingErrors("qrpay-reconcile") {
            let root = spool.root
            try spool.requireSpool()
            let pg = try passwordFile.map { file in
                try usingPassword(from: "--password-file", file: file) {
                    try Credentials.loadPG(spoolRoot: root, password: try readPasswordFile(file, what: "the PG's password file (--password-file)"))
                }
            }
            let now = try TimeSource.fromEnvironment().now()
            let day = Reconcile.day(date ?? "today", now: now)!
            let progress = ProgressLine("qrpay-reconcile", day, unit: "payments")
            var seen: [PaymentState: Int64] = [:]
            let report = try Reconcile.run(
                spoolRoot: root, day: day, shop: shop, shopJournal: shopJournal, now: now,
                progress: progress.enabled ? { state, n in
                    seen[state] = n
                    progress.update(Int(seen.values.reduce(0, +)))
                } : nil)
            progress.finish()
            let fmt: Reconcile.Format = json ? .json : Reconcile.Format(rawValue: format ?? "csv")!
            let written = try Reconcile.write(report, format: fmt, directory: out ?? SpoolLayout(root: root).reportsDirectory, pg: pg)
            FileHandle.standardOutput.write(Reconcile.bytes(report, format: fmt))
            Diagnostics.info("qrpay-reconcile", "\(day): \(report.markers) payments, \(report.discrepancies.count) discrepancies; wrote \(written.report)"
                             + (written.signature.map { " and \($0)" } ?? ""))
            discrepancies = report.discrepancies.count
        }
        if discrepancies > 0 { throw ExitCode(SysExit.failure.rawValue) }
    }
}
