// qrpay-spool: the operator's view of the spool and hands on it, like Postfix's mailq, qshape,
// postcat, postsuper and `postfix check`.
//
// What it does:
//   status               files per queue (age histogram, oldest file), payments per state with sums
//   show SHOP PAYMENT    a payment's whole record, every signature re-verified now
//   check [--repair]     audit: records vs markers vs journal, checkpoints, stale tmp files, key
//                        modes, world-writable directories; --repair fixes only what is safe
//   checkpoint           the PG signs the journal's head (ROOT/pg/journal/checkpoints/DAY-SEQ.jws)
//   list [QUEUE]         queue files (like mailq): state, size, age; deferred: reason, attempts, retry
//   cat FILE|ID          any spool file decoded (like postcat); signed documents verified now
//   quarantine           quarantined files of every queue with stage, code, reason, time
//   flush [QUEUE]        deferred files made due now (like postqueue -f)
//   requeue|hold|release ID...|ALL   move queue files (ID: QUEUE/NAME as listed, or a bare NAME)
//   delete ID...|ALL|--all-quarantined   remove quarantined or held files, logged in pg/audit.log
//   report [--date DAY]  the daily report: per hour, payments, amounts, latencies, queues (--text, --html)
//   purge [--keep-days N]     remove processed files (QUEUE/done/DAY/) older than the retention
//   init [--shop ID]          create the spool's directories ahead of use (queues, list, shops' buckets)
//   accounts set|list         shops' payout accounts and the PG's debtor accounts (journaled)
//   errors [CODE|AREA]       the error catalogue: code, exit status, fault, meaning
//   rebuild [--dry-run]      the ledger's indexes (markers, due, unpaid) made anew from the journal and the records it holds
// Inputs:  the spool; checkpoint: the PG's key (--password-file).
// Outputs: reports on stdout (`--json` for scripts); accounts set: pg/accounts/SHOP.json or
//          pg/debtor/CUR.json and a journal entry; check --repair: markers, removed tmp files,
//          chmod; checkpoint: one .jws file; requeue/hold/release/flush: renames; delete: removed files
//          and a line each in pg/audit.log; purge: removed done/ days; init: directories; report
//          --html: one HTML file. Progress on stderr only when stderr is a terminal.
// Exit codes: 0 done; 1 check found something it did not repair, or show found a signature that
//             does not verify; 64 usage; 65 bad data; 66 no such input (file, spool, payment); 70
//             internal error; 73 cannot create; 74 I/O error; 75 try again later (a lock held, a
//             full disk, a missing or stale CRL); 77 permission denied or wrong password; 78
//             configuration (no CA, no or mismatched credentials)

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayLedger
import QRPayOperations
import QRPayCommand

@main
struct QRPaySpool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-spool",
        abstract: "Inspect, audit and repair a QR-Pay spool: queues, payment states, single payments, the journal.",
        discussion: """
        Everything in the spool is a file: records are JSON in SPOOL/pg/payments/SHOP/XX/PAYMENT.json \
        and states are marker files in SPOOL/pg/states/STATE/DAY/, so `ls` and `jq` work too. This \
        tool summarizes and cross-checks them, and moves queue files for the operator.
        A day's routine: `status` (anything old or quarantined?), `quarantine` then `requeue` once the \
        cause is fixed, `checkpoint` and `check` daily (Samples/systemd/qrpay-checkpoint.timer), \
        `purge` of processed files past their retention (Samples/systemd/qrpay-purge.timer).
        """,
        version: QRPayVersion.text,
        subcommands: [Status.self, List.self, Show.self, Cat.self, Check.self, CheckpointCommand.self, Quarantine.self, Layout.self,
                      Flush.self, Requeue.self, Hold.self, Release.self, Delete.self, Purge.self, Report.self, Init.self, Setup.self,
                      Errors.self, Accounts.self, Rebuild.self])
}

extension QRPaySpool {
    struct Layout: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the spool's layout table: every directory and file, its owner, group, mode, writer and reader.",
            discussion: """
            The table is the one QR-Pay's programs use to create directories (and `setup` to apply owners \
            and modes). --markdown prints it as README.md and Sources/QRPaySpool/LAYOUT.md carry it; \
            --json for scripts: {v, entries: [{path, kind, owner, group, mode, writer, reader, subdirectories?}]}; \
            --man the qrpay-spool(5) page (`make install` installs it).
            """)
        @Flag(help: "Print the Markdown tables (as the README carries them).") var markdown = false
        @Flag(help: "Print the qrpay-spool(5) manual page (man(7)): the layout and the file formats.") var man = false
        @Flag(help: "Print JSON: {v, entries: [...]}.") var json = false

        func validate() throws {
            if [markdown, json, man].filter({ $0 }).count > 1 { throw ValidationError("choose one of --markdown, --man and --json") }
        }

        func run() throws {
            if man {
                print(SpoolLayout.manPage(version: QRPayVersion.number), terminator: "")
            } else if json {
                printJSON(["v": 1, "entries": .array(SpoolLayout.table.map { e in
                    var o: [String: JSONValue] = [
                        "path": .string(e.pattern), "kind": .string(e.kind.rawValue), "owner": .string(e.owner.defaultName),
                        "group": .string(e.group.defaultName), "mode": .string(e.modeText),
                        "writer": .string(e.writer), "reader": .string(e.reader),
                    ]
                    if let access = e.queue {
                        o["subdirectories"] = .array(access.subdirectories(queueOwner: e.owner).map { sub in
                            ["name": .string(sub.name), "owner": .string(sub.owner.defaultName), "group": .string(sub.group.defaultName),
                             "mode": .string(String(format: "%04o", Int(sub.mode)))]
                        })
                    }
                    return .object(o)
                })])
            } else {
                print(SpoolLayout.markdown())
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Files per queue (waiting, claimed, deferred, held, quarantined, ages) and payments per state.")
        @OptionGroup var spool: SpoolOptions
        @Flag(help: "Print JSON: {queues: {name: count}, payments: {state: count}, sums, queueDetails, ...}.")
        var json = false

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let status = try SpoolStatus.collect(spoolRoot: spool.root)
                if json { printJSON(status.json) } else { print(status.text) }
                for name in status.skipped { Diagnostics.info("qrpay-spool", "status: " + SpoolLayout.skippedNote(name)) }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one payment's record: state, items, total, history with evidence, QR path, signatures re-verified.",
            discussion: """
            Every signature is re-verified now against the spool's CA and today's CRL: the shop's \
            payment document, and each approval or cancel in the history (and that each is bound to \
            this payment). Exit 1 when one does not verify.
            """)
        @OptionGroup var spool: SpoolOptions
        @Flag(help: "Print the record as JSON (shop, payment, state, currency, total, items, history, qr, verification, ...).")
        var json = false
        @Argument(help: "The shop's id.") var shop: String
        @Argument(help: "The payment number.") var payment: String

        func validate() throws {
            guard Identifier.isValid(shop), Identifier.isValid(payment) else {
                throw ValidationError("shop and payment ids use 1-64 of A-Z a-z 0-9 . _ -")
            }
        }

        func run() throws {
            var verified = true
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let store = PaymentStore(spoolRoot: spool.root)
                guard let record = try store.load(shop: shop, payment: payment) else {
                    throw QRPayError(.paymentUnknown, "no payment \(payment) of shop \(shop) in \(spool.root)")
                }
                let now = Date()
                let checks = PaymentVerification.verify(record, spoolRoot: spool.root, now: now)
                if json {
                    guard case .object(var o) = record.json else { return }
                    o["verification"] = PaymentVerification.json(checks, at: now)
                    printJSON(.object(o))
                } else {
                    print(PaymentView.text(record))
                    print(PaymentVerification.text(checks, at: now))
                }
                verified = checks.allSatisfy(\.ok)
            }
            if !verified {
                Diagnostics.error("qrpay-spool", "a signature of \(shop)/\(payment) does not verify")
                throw ExitCode(SysExit.failure.rawValue)
            }
        }
    }
}
