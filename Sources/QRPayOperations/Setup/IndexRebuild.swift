// `qrpay-spool rebuild`: the ledger's indexes regenerated from the journal and the records it holds.
//
// The journal is the ledger of record; the state markers (pg/states/), the due index (pg/due/) and
// the unpaid index (pg/unpaid/, once the payout has built it) are derived files. `rebuild` makes
// them anew, in trees beside their place (`pg/states.rebuild`, ...), then swaps each into place:
//  - a record whose state and latest evidence the journal holds gets exactly the entries a clean run
//    gives it (its marker; a due entry while open; an unpaid entry while finished and not paid);
//  - a record the journal does not hold (edited by hand) gets nothing new, and whatever entries of
//    its payment there were are carried over as they were: nothing the journal supports is lost,
//    nothing it lacks is made (the record is named; `check` says more);
//  - an entry of a payment without a record is carried over only when the journal has the payment.
// A journal that does not verify is not rebuilt from (journal.broken, 65). The stages must be
// stopped (spool.busy, 75). --dry-run builds and compares, then throws the new trees away.
// The result for a spool a clean run left is byte for byte what was there (a test compares them).

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments
import QRPayLedger

package struct IndexRebuild {
    package struct Report: Sendable {
        package var records = 0
        /// Records the journal holds, indexed anew.
        package var indexed = 0
        /// "shop/payment: why" of records the journal does not hold (their entries carried over).
        package var notRebuilt: [String] = []
        /// Entries (relative paths) the rebuild added and removed.
        package var added: [String] = []
        package var removed: [String] = []
        package var json: JSONValue {
            ["records": .int(Int64(records)), "indexed": .int(Int64(indexed)), "notRebuilt": .array(notRebuilt.map { .string($0) }),
             "added": .array(added.map { .string($0) }), "removed": .array(removed.map { .string($0) })]
        }
    }

    let layout: SpoolLayout
    let store: PaymentStore

    /// The index trees, as (place, kind of its files).
    var trees: [String] {
        [layout.statesDirectory, layout.dueDirectory] + (store.keepsUnpaidIndex ? [layout.unpaidDirectory] : [])
    }

    package static func run(spoolRoot: String, dryRun: Bool = false) throws -> Report {
        guard FileIO.isDirectory(spoolRoot) else { throw QRPayError(.spoolMissing, "there is no spool at \(spoolRoot)") }
        let locks = StageLocks(spoolRoot: spoolRoot)
        guard locks.allHeld else {
            throw QRPayError(.spoolBusy, "qrpay-\(locks.busy.joined(separator: ", qrpay-")) is running on this spool; stop it before rebuild")
        }
        return try withExtendedLifetime(locks) {
            let layout = SpoolLayout(root: spoolRoot)
            return try IndexRebuild(layout: layout, store: PaymentStore(layout: layout)).rebuild(dryRun: dryRun)
        }
    }

    func rebuild(dryRun: Bool) throws -> Report {
        var problems: [String] = []
        var audit = JournalAudit(spoolRoot: layout.root) { code, path, message in
            if code.hasPrefix("journal.") { problems.append("\(code) \(path): \(message)") }
        }
        try audit.run()
        guard problems.isEmpty else {
            throw QRPayError(.journalBroken, "the journal does not verify, so nothing is rebuilt from it: \(problems.prefix(3).joined(separator: "; "))")
        }
        let finals = audit.finalStates
        var report = Report()
        // What there is now, by payment: the entries a suspect record's payment keeps.
        let existing = try currentEntries()
        var wanted = Set<String>()
        var recorded = Set<String>()
        for record in try records(&report) {
            let key = record.info.shop + "/" + record.info.payment
            recorded.insert(key)
            report.records += 1
            guard let final = finals[key], final.state == record.state,
                  PaymentEvidence.matches(record, journalEvidence: final.evidence) else {
                report.notRebuilt.append("\(key): the record says \(record.state.rawValue), the journal \(finals[key].map { "\($0.state.rawValue) (or other evidence)" } ?? "nothing"); its entries are left as they were")
                wanted.formUnion(existing[key] ?? [])
                continue
            }
            report.indexed += 1
            wanted.insert(layout.markerPath(state: record.state, info: record.info))
            if let due = DueIndex.entry(for: record) { wanted.insert(DueIndex.path(due, layout: layout)) }
            if store.keepsUnpaidIndex && store.isUnpaid(record) { wanted.insert(layout.unpaidPath(info: record.info)) }
        }
        for (key, paths) in existing where !recorded.contains(key) && finals[key] != nil { wanted.formUnion(paths) }

        let before = Set(existing.values.joined())
        report.added = wanted.subtracting(before).map { $0.relative(to: layout.root) }.sorted()
        report.removed = before.subtracting(wanted).map { $0.relative(to: layout.root) }.sorted()
        if dryRun || (report.added.isEmpty && report.removed.isEmpty) { return report }

        // The new trees beside their places, made durable, then swapped in.
        let suffix = ".rebuild"
        var made = Set<String>()
        for tree in trees {
            try FileIO.removeTree(tree + suffix)
            _ = try FileIO.makeDirectory(tree + suffix, mode: 0o750)
        }
        // The fixed subdirectories (each state's, each due kind's) that were there, whatever they hold.
        for dir in PaymentState.allCases.map({ layout.stateDirectory($0) }) + [DueKind.expires, .accepted].map({ layout.dueDirectory($0) })
        where FileIO.isDirectory(dir) {
            guard let tree = trees.first(where: { dir.hasPrefix($0 + "/") }) else { continue }
            let target = tree + suffix + dir.dropFirst(tree.count)
            _ = try FileIO.makeDirectory(target, mode: 0o750)
            made.insert(target)
        }
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        for path in wanted.sorted() {
            guard let tree = trees.first(where: { path.hasPrefix($0 + "/") }) else { continue }
            let target = tree + suffix + path.dropFirst(tree.count)
            var dir = FileIO.parentDirectory(target)
            var missing: [String] = []
            while !made.contains(dir) && dir != tree + suffix { missing.append(dir); dir = FileIO.parentDirectory(dir) }
            for d in missing.reversed() { _ = try FileIO.makeDirectory(d, mode: 0o750); made.insert(d) }
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640)
            guard fd >= 0 else { throw QRPayError.io("create", path: target, errno: errno) }
            if fds.isEmpty { fds.append(fd) } else { close(fd) }
        }
        if let fd = fds.first { try FileIO.syncfs(fd, path: layout.root) } else { sync() }
        for tree in trees {
            let old = tree + ".replaced"
            try FileIO.removeTree(old)
            if FileIO.isDirectory(tree) { guard rename(tree, old) == 0 else { throw QRPayError.io("rename", path: tree, errno: errno) } }
            try FileIO.renameDurably(tree + suffix, to: tree)
            try FileIO.removeTree(old)
        }
        return report
    }

    /// Every record under pg/payments (one that does not parse is skipped: check names it).
    func records(_ report: inout Report) throws -> [PaymentRecord] {
        var out: [PaymentRecord] = []
        let base = layout.paymentsDirectory
        for shop in ((try? FileIO.listDirectory(base)) ?? []).sorted() where !shop.hasPrefix(".") {
            for bucket in ((try? FileIO.listDirectory(base + "/" + shop)) ?? []).sorted() where !bucket.hasPrefix(".") {
                let dir = base + "/" + shop + "/" + bucket
                guard FileIO.isDirectory(dir) else { continue }
                for name in try FileIO.listDirectory(dir).sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") {
                    guard let data = try? FileIO.read(dir + "/" + name, maxBytes: 4 << 20), let record = try? PaymentRecord(data: data) else {
                        report.notRebuilt.append("\((dir + "/" + name).relative(to: layout.root)): does not parse; not indexed")
                        continue
                    }
                    out.append(record)
                }
            }
        }
        return out
    }

    /// The index entries there are now (absolute paths), by "shop/payment".
    func currentEntries() throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        func files(_ dir: String, _ body: (String, String) -> Void) throws {
            for sub in ((try? FileIO.listDirectory(dir)) ?? []).sorted() where !sub.hasPrefix(".") {
                let subdir = dir + "/" + sub
                guard FileIO.isDirectory(subdir) else { continue }
                for name in try FileIO.listDirectory(subdir) where !name.hasPrefix(".") { body(sub, subdir + "/" + name) }
            }
        }
        for state in PaymentState.allCases {
            try files(layout.stateDirectory(state)) { day, path in
                if let m = StateMarker(name: (path as NSString).lastPathComponent, state: state, day: day) { out[m.shop + "/" + m.payment, default: []].insert(path) }
            }
        }
        for kind in [DueKind.expires, .accepted] {
            try files(layout.dueDirectory(kind)) { _, path in
                if let e = DueEntry(kind: kind, name: (path as NSString).lastPathComponent) { out[e.shop + "/" + e.payment, default: []].insert(path) }
            }
        }
        if store.keepsUnpaidIndex {
            try files(layout.unpaidDirectory) { day, path in
                if let m = StateMarker(name: (path as NSString).lastPathComponent, state: .finish, day: day) { out[m.shop + "/" + m.payment, default: []].insert(path) }
            }
        }
        return out
    }
}
