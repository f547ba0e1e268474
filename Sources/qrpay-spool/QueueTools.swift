// qrpay-spool list, flush, delete, cat: Postfix's mailq/`postqueue -p`, `postqueue -f`,
// `postsuper -d` and postcat for QR-Pay's queues (QueueTools.swift, SpoolFileView.swift).

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayOperations
import QRPayCommand

extension ListedState: ExpressibleByArgument {}

extension QRPaySpool {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List queue files, like mailq: queue, state, size, age and name; deferred ones with reason, attempts and next retry.",
            discussion: """
            QUEUE is a queue as `status` names it (pg/inbox, pg/approvals, pg/cancels, shops/ID/notices, \
            users/ID/inbox, users/ID/receipts); default: every queue. States: waiting (new/), claimed \
            (cur/), deferred, held (hold/), quarantined. Oldest first within a queue and state; the age \
            counts from the file's arrival where it is. Queues this user may not read are skipped with a note.
            --json: {v, files: [{id, queue, name, state, size, since, ageSeconds, code?, reason?, stage?, attempts?, retryAt?}], skipped}.
            Example: qrpay-spool list pg/inbox --state deferred
            """)
        @OptionGroup var spool: SpoolOptions
        @Argument(help: ArgumentHelp("Only this queue (default: every queue).", valueName: "queue")) var queue: String?
        @Option(help: ArgumentHelp("Only files in this state (repeatable): waiting, claimed, deferred, held, quarantined.", valueName: "state"))
        var state: [ListedState] = []
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let now = try TimeSource.fromEnvironment().now()
                let (files, skipped) = try QueueTools.list(spoolRoot: spool.root, queue: queue,
                                                           states: state.isEmpty ? ListedState.allCases : state)
                if json {
                    printJSON(["v": 1, "files": .array(files.map { $0.json(now: now) }), "skipped": .array(skipped.map { .string($0) })])
                } else if files.isEmpty {
                    print("no files")
                } else {
                    print("QUEUE                    STATE           SIZE    AGE  NAME")
                    for file in files { print(file.line(now: now)) }
                }
                for name in skipped { Diagnostics.info("qrpay-spool", "list: " + SpoolLayout.skippedNote(name)) }
                Diagnostics.info("qrpay-spool", "list: \(files.count) file(s)")
            }
        }
    }

    struct Flush: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make deferred files due now (like `postqueue -f`): back into new/ for their stage's next run.",
            discussion: """
            After fixing what deferred them (a fresh CRL, disk space), nobody has to wait for the backoff: \
            every deferred file of QUEUE (default: every queue) moves back into new/ at once, its attempt \
            record kept. The stages pick them up at their next run (a timer's, or a watcher's rescan); run \
            the stage with --once to go on at once.
            Example: qrpay-ca crl --ca-password-file ca.pass && qrpay-spool flush && qrpay-register --password-file pg.pass --once
            """)
        @OptionGroup var spool: SpoolOptions
        @Argument(help: ArgumentHelp("Only this queue (default: every queue).", valueName: "queue")) var queue: String?
        @Flag(help: "Print JSON: {v, flushed: [{queue, name}]}.") var json = false

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let moved = try QueueTools.flush(spoolRoot: spool.root, queue: queue)
                if json {
                    printJSON(["v": 1, "flushed": .array(moved.map { ["queue": .string($0.queue), "name": .string($0.name)] })])
                } else {
                    for m in moved { print("\(m.queue)/\(m.name): due now, back in \(m.queue)/new/") }
                }
                Diagnostics.info("qrpay-spool", "flush: \(moved.count) deferred file(s) made due now")
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete quarantined or held files (like `postsuper -d`), each recorded in pg/audit.log first.",
            discussion: """
            Only files in quarantine/ or hold/ may be deleted: what waits, is claimed or deferred is the \
            stages' (hold it first). Deleting evidence is an act to record: before each file goes, one \
            JSON line is appended (and fsync'd) to SPOOL/pg/audit.log: {v, at, action, queue, name, state, \
            by, bytes, sha256, code?, reason?}. The reason file goes with the file.
            IDs as `list` shows them (QUEUE/NAME or NAME); ALL: every quarantined and held file; \
            --all-quarantined [--queue QUEUE]: every quarantined file (of one queue).
            Example: qrpay-spool delete --all-quarantined --queue pg/inbox
            """)
        @OptionGroup var spool: SpoolOptions
        @Argument(help: ArgumentHelp("QUEUE/NAME or NAME (several), or ALL.", valueName: "id")) var ids: [String] = []
        @Flag(help: "Delete every quarantined file (of --queue only, when given).") var allQuarantined = false
        @Option(help: ArgumentHelp("With ALL or --all-quarantined: only this queue.", valueName: "queue")) var queue: String?

        func validate() throws {
            if allQuarantined != ids.isEmpty {
                throw ValidationError("give IDs (or ALL), or --all-quarantined, one of them")
            }
            if ids.contains("ALL") && ids.count > 1 { throw ValidationError("ALL stands alone: give either ALL or IDs") }
            if queue != nil && !allQuarantined && ids != ["ALL"] { throw ValidationError("--queue goes with ALL or --all-quarantined") }
        }

        func run() throws {
            if allQuarantined {
                // Only quarantine/: the held files stay.
                var failure: SysExit?
                try runReportingErrors("qrpay-spool") {
                    try spool.requireSpool()
                    let ids = try QueueTools.list(spoolRoot: spool.root, queue: queue, states: [.quarantined]).files.map(\.id)
                    for id in ids {
                        do { print(try QueueOps.perform(.delete, id: id, spoolRoot: spool.root)) } catch let e as QRPayError {
                            Diagnostics.error("qrpay-spool", "\(id): \(e.message)")
                            if failure == nil { failure = e.exit }
                        }
                    }
                    Diagnostics.info("qrpay-spool", "delete: \(ids.count) quarantined file(s)")
                }
                if let failure { throw ExitCode(failure.rawValue) }
                return
            }
            var file = QueueFileID()
            file.ids = ids
            file.queue = queue
            try runQueueAction(.delete, spool, file)
        }
    }

    struct Cat: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode any spool file for a person (like postcat): signed documents verified now, records, reason files, list entries.",
            discussion: """
            FILE is a path (absolute, or relative to the working directory or the spool), or a queue \
            file's ID (QUEUE/NAME or NAME, in any state). Recognized by content: a signed document (JWS: \
            header, payload pretty-printed, signer from its certificate, signature verified now for the \
            kind its typ names: a payment by a shop, an approval by a user, a notice, refusal, receipt, list entry, checkpoint \
            or report by the PG), a payment record (signatures re-verified, as `show`), a reason file \
            (with what its code means), a list entry, an image. Anything else: exit 65.
            --json: {v, path, bytes, kind: jws|record|reason|list-entry|image, ...}; a jws has typ, \
            header, payload, signer {role, id, name, serial, fingerprint, notAfter} and verification \
            {at, as, ok, code?, error?}. Exit 1 when a signature does not verify.
            Example: qrpay-spool cat pg/inbox/1795000000.000000001.42.ab.json
            """)
        @OptionGroup var spool: SpoolOptions
        @Argument(help: ArgumentHelp("A path or a queue file's ID.", valueName: "file")) var file: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            var verified = true
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let path = try SpoolFileView.locate(file, spoolRoot: spool.root)
                let view = try SpoolFileView.describe(path: path, spoolRoot: spool.root, now: try TimeSource.fromEnvironment().now())
                if json { printJSON(view.json) } else { print(view.text) }
                if view.json["verification"]?["ok"] == false { verified = false }
            }
            if !verified { throw ExitCode(SysExit.failure.rawValue) }
        }
    }
}
