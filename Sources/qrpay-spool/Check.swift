// qrpay-spool check and checkpoint: the audit (SpoolCheck.swift) and the journal's signed checkpoints
// (JournalAudit.swift).

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayOperations
import QRPayCommand

extension QRPaySpool {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Audit the spool (like `postsuper -s` and `postfix check`); --repair fixes what is safe.",
            discussion: """
            Checks that every payment record parses and sits where its shop and number say; that it has \
            exactly one state marker, in its state (no payment in two states, no marker without a record); \
            that the journal's hash chain is intact (hash, prev, seq) and its last transition of each payment \
            is the record's state; that every signed checkpoint verifies and still matches the journal (an \
            entry edited, removed or reordered before a checkpoint is caught even when the hashes after it \
            were recomputed); that no payout is left half done, rejected by the bank, or unbooked after \
            --booking-days days, and that every payment a payout covers names it; no tmp/ file older than 36 h; private keys 0600 in private directories; no \
            world-writable directory; the CRL and every certificate (the CA's, the PG's, each shop's and \
            user's in ca/certs/) unexpired; no foreign name waiting in a queue's new/; nothing deferred \
            longer than --max-deferred; nothing waiting or claimed in the PG's queues (pg/inbox, \
            pg/approvals, pg/cancels) longer than --max-age (notices and receipts wait for their party); \
            no journal intent older than --max-age (journal.unfinished: a change the journal holds whose \
            stage was killed before its records, notices and receipts were in place; rerun that stage).

            Findings and warnings: a finding is something wrong now (an expired CRL or certificate, a \
            file stuck in a queue, a record that disagrees with the journal) and makes the exit status 1. \
            A warning is something that will go wrong unless someone acts (the CRL's nextUpdate within \
            --crl-warn, a certificate's expiry within --cert-warn): it is printed, as `warning: CODE \
            path: message`, but a spool with only warnings exits 0, so a daily timer stays green while \
            its log says what to renew.

            One line per finding: `CODE path: message` (paths relative to the spool). --repair re-creates or \
            removes markers to match records, removes stale tmp files, chmods keys to 0600 and takes o-w from \
            directories; it never edits a record or the journal, and refuses (exit 75) while qrpay-register, \
            qrpay-approve or qrpay-settle runs.

            Exit: 0 clean (or every finding repaired; warnings allowed), 1 findings remain.
            Example: qrpay-spool check --repair
            Example: qrpay-spool check --cert-warn 30d --crl-warn 2d
            """)
        @OptionGroup var spool: SpoolOptions
        @Flag(help: "Fix what is safe: markers from records, stale tmp files, key modes, world-writable directories.")
        var repair = false
        @Flag(help: "Print JSON: {v, findings: [{code, path, message, repairable, repaired, severity}], remaining, warnings, counted}.")
        var json = false
        @Option(name: .customLong("cert-warn"), parsing: .unconditional,
                help: ArgumentHelp("Warn when a certificate expires within this (e.g. 7d, 72h).", valueName: "duration"))
        var certWarn = "7d"
        @Option(name: .customLong("crl-warn"), parsing: .unconditional,
                help: ArgumentHelp("Warn when the CRL's nextUpdate comes within this.", valueName: "duration"))
        var crlWarn = "24h"
        @Option(name: .customLong("max-deferred"), parsing: .unconditional,
                help: ArgumentHelp("A file deferred for longer than this (since it first arrived) is a finding.", valueName: "duration"))
        var maxDeferred = "1h"
        @Option(name: .customLong("max-age"), parsing: .unconditional,
                help: ArgumentHelp("A file waiting or claimed in pg/inbox, pg/approvals or pg/cancels for longer than this is a finding.", valueName: "duration"))
        var maxAge = "1h"
        @Option(name: .customLong("checkpoint-age"), parsing: .unconditional,
                help: ArgumentHelp("Journal entries no checkpoint signs, the first of them older than this, are a finding (the checkpoint runs daily).", valueName: "duration"))
        var checkpointAge = "25h"

        func thresholds() throws -> CheckThresholds {
            var t = CheckThresholds()
            t.certificateWarning = try parseDuration(certWarn, option: "--cert-warn")
            t.crlWarning = try parseDuration(crlWarn, option: "--crl-warn")
            t.maxDeferred = try parseDuration(maxDeferred, option: "--max-deferred")
            t.maxAge = try parseDuration(maxAge, option: "--max-age")
            t.checkpointAge = try parseDuration(checkpointAge, option: "--checkpoint-age")
            return t
        }

        func validate() throws { _ = try thresholds() }
        @Option(help: ArgumentHelp("A payout's credit transfer not booked this many days after it was sent is a finding (default 5).", valueName: "n"))
        var bookingDays: Int = PayoutReconcile.defaultBookingDays

        func run() throws {
            var remaining = 0
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let progress = ProgressLine("qrpay-spool", "check", unit: "records")
                let report: ((Int) -> Void)? = progress.enabled ? { progress.update($0) } : nil
                let check = try SpoolCheck.run(spoolRoot: spool.root, repair: repair, now: try TimeSource.fromEnvironment().now(),
                                               thresholds: try thresholds(), progress: report, bookingDays: bookingDays)
                progress.finish()
                if json { printJSON(check.json) } else if !check.findings.isEmpty { print(check.text) }
                for path in check.skipped { Diagnostics.info("qrpay-spool", "check: " + SpoolLayout.skippedNote(path)) }
                Diagnostics.info("qrpay-spool", "check: " + check.summary)
                remaining = check.remaining
            }
            if remaining > 0 { throw ExitCode(SysExit.failure.rawValue) }
        }
    }

    struct CheckpointCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint",
            abstract: "Sign the journal's head with the PG's key (run daily from a timer or cron).",
            discussion: """
            Verifies the journal's chain and the earlier checkpoints, then writes \
            SPOOL/pg/journal/checkpoints/DAY-SEQ.jws: a `qrpay-checkpoint+jws` signed by the PG over \
            {seq, hash, day, at} of the last entry. `qrpay-spool check` then catches any change to the \
            journal up to that entry, even if someone recomputed every hash after the change. Prints the \
            checkpoint's path. The same head signed before: nothing new is written. An empty journal: \
            nothing to sign (exit 0). A broken journal: nothing signed (exit 65).
            Example: qrpay-spool checkpoint --password-file /etc/qrpay/pg.pass
            """)
        @OptionGroup var spool: SpoolOptions
        @Option(help: ArgumentHelp("File holding the password of the PG's private key.", valueName: "file"))
        var passwordFile: String
        @Flag(help: "Print the checkpoint as JSON: {path, new, seq, hash, day, at}.")
        var json = false

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let pg = try usingPassword(from: "--password-file", file: passwordFile) {
                    try Credentials.loadPG(spoolRoot: spool.root, password: try readPasswordFile(passwordFile, what: "the PG's password file (--password-file)"))
                }
                guard let (path, cp, new) = try JournalCheckpointer.sign(spoolRoot: spool.root, pg: pg) else {
                    Diagnostics.info("qrpay-spool", "checkpoint: the journal is empty; nothing to sign")
                    return
                }
                if json {
                    guard case .object(var o) = cp.json else { return }
                    o["path"] = .string(SpoolLayout(root: spool.root).relative(path)); o["new"] = .bool(new)
                    printJSON(.object(o))
                } else {
                    print(path)
                }
                Diagnostics.info("qrpay-spool", new ? "checkpoint: signed seq \(cp.seq) of \(cp.day)" : "checkpoint: seq \(cp.seq) was already signed; nothing new")
            }
        }
    }
}
