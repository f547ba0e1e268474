// qrpay-spool rebuild: the ledger's indexes (state markers, due index, unpaid index) made anew from
// the journal and the records it holds (IndexRebuild).

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayOperations
import QRPayCommand

extension QRPaySpool {
    struct Rebuild: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the ledger's indexes (markers, due and unpaid entries) from the journal and the records it holds.",
            discussion: """
            The journal is the ledger of record; SPOOL/pg/states/ (state markers), SPOOL/pg/due/ (the due \
            index) and SPOOL/pg/unpaid/ (the payout's unpaid index) are derived from it. rebuild writes \
            them anew beside their places and swaps them in: a record whose state and latest evidence the \
            journal holds gets exactly the entries a clean run gives it; a record the journal does not \
            hold (edited by hand) gets nothing new and keeps whatever entries its payment had (nothing \
            the journal supports is lost, nothing it lacks is made); an entry of a payment without a \
            record stays only when the journal has the payment. Records and the journal are never \
            changed. On a spool a clean run left, nothing changes.

            It refuses (75) while qrpay-register, -approve, -settle or -payout runs, and (65) when the \
            journal does not verify. --dry-run prints what would change and changes nothing.

            Output: one line per entry added (`+ path`) or removed (`- path`), and per record not \
            rebuilt (`! shop/payment: why`); --json: {records, indexed, notRebuilt, added, removed}.
            Exit: 0 rebuilt (or nothing to change), 1 some records were not rebuilt (see `qrpay-spool check`).
            Example: qrpay-spool rebuild --dry-run
            """)
        @OptionGroup var spool: SpoolOptions
        @Flag(help: "Build and compare only: print what would change, change nothing.") var dryRun = false
        @Flag(help: "Print JSON: {records, indexed, notRebuilt, added, removed}.") var json = false

        func run() throws {
            var failed = false
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let report = try IndexRebuild.run(spoolRoot: spool.root, dryRun: dryRun)
                if json {
                    printJSON(report.json)
                } else {
                    for path in report.added { print("+ " + path) }
                    for path in report.removed { print("- " + path) }
                    for line in report.notRebuilt { print("! " + line) }
                }
                let what = dryRun ? "would add" : "added"
                Diagnostics.info("qrpay-spool", "rebuild: \(report.records) records, \(report.indexed) indexed from the journal; \(what) \(report.added.count) entries, \(dryRun ? "would remove" : "removed") \(report.removed.count); \(report.notRebuilt.count) not rebuilt")
                failed = !report.notRebuilt.isEmpty
            }
            if failed { throw ExitCode(SysExit.failure.rawValue) }
        }
    }
}
