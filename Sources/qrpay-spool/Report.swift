// qrpay-spool report: the daily report (DailyReport.swift, ReportHTML.swift), after pflogsumm and
// mailgraph: --text for the cron mail, --html FILE for a browser or a timer that publishes it.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayOperations
import QRPayCommand

extension QRPaySpool {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The daily report: per hour payments registered, accepted, finished, cancelled, expired and refused, amounts, latencies, queues.",
            discussion: """
            From the journal and the state markers (streaming; memory grows with the days' payments, never \
            with the spool), per hour (UTC) of --date (default today; `yesterday` for a run after midnight) \
            and the --days - 1 before it: transitions by kind, refusals (quarantine reason files) by code, \
            accepted amounts per currency, request → accept p50 and p95; and, as of now, files per queue \
            with the oldest (as `status`), deferred files by code, payments per state (as `status`) and the \
            payments created on the days by state and currency (as qrpay-reconcile).

            --text (the default) prints a pflogsumm-style summary for cron's mail. --html FILE writes one \
            self-contained page (inline SVG charts, no JavaScript, nothing fetched), atomically; a relative \
            FILE is relative to the working directory. --json: {v, days, generated, totals, accepted, hours: \
            [{day, hour, counts, accepted}], refusedByCode, deferredByCode, requestToAccept, created, status, skipped}.
            Samples/systemd/qrpay-report.timer writes SPOOL/reports/daily-DAY.html every morning.
            Example: qrpay-spool report --date yesterday --html /var/spool/qrpay/reports/daily.html
            """)
        @OptionGroup var spool: SpoolOptions
        @Option(help: ArgumentHelp("The (last) day: YYYY-MM-DD, today or yesterday (UTC; default today).", valueName: "day"))
        var date: String?
        @Option(parsing: .unconditional, help: ArgumentHelp("How many days, ending with --date (1-31).", valueName: "n"))
        var days = 1
        @Option(help: ArgumentHelp("Write the HTML page to this file.", valueName: "file"))
        var html: String?
        @Flag(help: "Print the text summary (the default when neither --html nor --json is given).")
        var text = false
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if let date, Reconcile.day(date) == nil { throw ValidationError("--date \(date) is not a day: use YYYY-MM-DD, today or yesterday") }
            guard (1...31).contains(days) else { throw ValidationError("--days \(days): give 1 to 31 days") }
            if text && json { throw ValidationError("choose one of --text and --json") }
            if let html, html.isEmpty { throw ValidationError("--html needs a file name") }
        }

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let now = try TimeSource.fromEnvironment().now()
                let last = Reconcile.day(date ?? "today", now: now)!
                let progress = ProgressLine("qrpay-spool", "report", unit: "journal entries and markers")
                let report = try DailyReport.collect(spoolRoot: spool.root, days: DailyReport.days(ending: last, count: days), now: now,
                                                     progress: progress.enabled ? { progress.update($0) } : nil)
                progress.finish()
                if let html {
                    let path = URL(fileURLWithPath: html).standardizedFileURL.path
                    try Durable.write(Data(report.html.utf8), to: path, mode: 0o640, ifExists: .replace)
                    Diagnostics.info("qrpay-spool", "report: wrote \(path)")
                }
                if json { printJSON(report.json) } else if text || html == nil { print(report.text, terminator: "") }
                for name in report.skipped { Diagnostics.info("qrpay-spool", "report: " + SpoolLayout.skippedNote(name)) }
            }
        }
    }
}
