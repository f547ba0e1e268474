// `qrpay-spool check [--repair]`: an audit of the spool, like Postfix's `postsuper -s` and
// `postfix check`. Findings (stable codes, a path relative to the spool root, a sentence):
//
//   record.malformed       a payment record does not parse (or disagrees with its signed document)
//   record.misplaced       a record sits at a path that is not its shop's, bucket's or payment's
//   record.journal         the record's state is not the journal's last transition of the payment
//   record.unjournaled     a record the journal never mentions
//   record.missing         the journal knows a payment that has no record
//   marker.missing         no state marker for the record's state                (repairable)
//   marker.extra           a marker that is not the record's (a payment in two states) (repairable)
//   marker.orphan          a marker with no record                                (repairable)
//   marker.foreign         a name in a state directory that is not a marker
//   due.missing            an open payment missing from the due index (settle would never act) (repairable)
//   notice.missing         a state change (in the last 7 days) whose notice to the shop is nowhere
//   receipt.missing        the same for the receipt to the user who approved the payment
//   record.signature       the shop's signed payment document in a record does not verify
//   record.evidence        the evidence of a record's last change is not what the journal recorded
//   crl.unusable           the CRL cannot be used (missing, stale, rolled back, not a complete CRL)
//   tmp.stale              a file left in a tmp/ (or a .tmp.* beside a record) over 36 h (repairable)
//   mode.key               a private key that is not mode 0600                    (repairable)
//   mode.key-directory     a directory holding a key that others may read or write (0700, or 0711)
//   owner.key              a key owned by another user than its directory
//   mode.world-writable    a world-writable directory in the spool                (repairable: o-w)
//   payout.unfinished     a payout a crash left prepared (the next qrpay-payout run completes it)
//   payout.rejected       the bank rejected a payout's credit transfer: the shop is not paid
//   payout.unbooked       a credit transfer sent more than --booking-days days ago, never booked
//   payout.paid-twice     the journal records two payouts of one payment
//   payout.record         a payment a payout covers does not name that payout, or has no paid marker
//   payout.unjournaled    a sent payout covers a payment the journal does not record paid by it (the
//                         journal's tail cut, or a record written by hand)
//   journal.*, checkpoint.* see JournalAudit.swift; and:
//   checkpoint.missing     no checkpoint signs the journal, whose first entry is older than --checkpoint-age (25h)
//   checkpoint.behind      entries after the newest checkpoint began longer ago than --checkpoint-age
//   crl.expired            the CRL's nextUpdate has passed: every stage defers everything
//   cert.expired           a certificate (the CA's, the PG's, a shop's or user's in ca/certs/) has expired
//   queue.foreign          a foreign name waiting in a queue's new/ (no stage will take it)
//   queue.deferred         a file deferred for longer than --max-deferred (default 1h): a fault that lasts
//   due.extra              a due entry that is not its payment's (--repair removes it)
//   unpaid.missing         a finished, unpaid payment missing from the unpaid index (pg/unpaid): payout would
//                          never pay it (--repair adds it)
//   unpaid.extra           an unpaid entry whose payment is not finished and unpaid (--repair removes it)
//   journal.unfinished     a journal intent older than --max-age: a change the journal holds whose stage
//                          was killed before its records and outputs were in place (rerun the stage); or an
//                          intent announcing nothing the journal holds (--repair removes it)
//   queue.old              a file waiting or claimed in a PG queue (pg/inbox, pg/approvals, pg/cancels)
//                          for longer than --max-age (default 1h): is the stage running?
//
// Warnings (reported, never the exit status: a warning says "act soon", a finding "something is wrong"):
//   crl.expiring           the CRL's nextUpdate comes within --crl-warn (default 24h): run `qrpay-ca crl`
//   cert.expiring          a certificate expires within --cert-warn (default 7d): renew it
//
// `--repair` fixes only what is safe: markers are made to agree with records (PaymentStore.reindex,
// or an orphan marker removed), stale temporary files removed, keys chmod 0600, o-w taken from
// directories. It never edits a record or the journal. It holds the locks of the register, approve
// and settle stages while it works (so no transition is in flight) and refuses (exit 75) while one
// of them runs. Without --repair, while a stage runs, records and markers changed in the last
// minute are not judged (they may be mid-transition).

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
import QRPayLedger
import QRPayStages
#if canImport(Glibc)
import Glibc
#endif

/// How long before an expiry `check` warns, and how old queue files may grow before they are findings.
package struct CheckThresholds: Sendable, Equatable {
    package var certificateWarning: TimeInterval = 7 * 86400
    package var crlWarning: TimeInterval = 86400
    package var maxDeferred: TimeInterval = 3600
    package var maxAge: TimeInterval = 3600
    /// Journal entries no checkpoint signs, begun longer ago than this, are a finding (the
    /// checkpoint runs daily: a day and an hour).
    package var checkpointAge: TimeInterval = 25 * 3600
    package init() {}
}

package struct CheckFinding: Equatable, Sendable {
    package let code: String
    /// Relative to the spool root.
    package let path: String
    package let message: String
    package let repairable: Bool
    package var repaired = false
    /// A warning (something expires soon) is reported but never makes the exit status 1.
    package var warning = false

    package var json: JSONValue {
        ["code": .string(code), "path": .string(path), "message": .string(message),
         "repairable": .bool(repairable), "repaired": .bool(repaired),
         "severity": .string(warning ? "warning" : "finding")]
    }

    /// `CODE path: message` (with ` (repaired)` when --repair fixed it); a warning starts with `warning: `.
    package var line: String { (warning ? "warning: " : "") + "\(code) \(path): \(message)" + (repaired ? " (repaired)" : "") }
}

package final class SpoolCheck {
    package let root: String
    package let repair: Bool
    package let now: Date
    package let thresholds: CheckThresholds
    /// Called with how many records and markers were read so far (a progress line on a terminal).
    var progress: ((Int) -> Void)?
    /// A credit transfer not booked this many days after it was sent is a finding.
    package var bookingDays = PayoutReconcile.defaultBookingDays
    package static let staleTemporary: TimeInterval = 36 * 3600
    /// While stages run, what changed more recently than this is not judged.
    static let inFlight: TimeInterval = 60
    package private(set) var findings: [CheckFinding] = []
    /// What this user may not read (the CA's private directory, a party's own), skipped: not findings.
    package private(set) var skipped: [String] = []
    package private(set) var counted: [String: Int] = ["records": 0, "markers": 0, "journalEntries": 0, "checkpoints": 0]
    let store: PaymentStore
    let layout: SpoolLayout
    var lenient = false
    /// Payments whose record disagrees with the journal: their markers are not repaired from the record.
    var suspect: Set<String> = []
    /// Payments the journal knows that have no record.
    /// Every payment the journal holds, with its last transition: a marker the journal supports is
    /// never removed, whatever has become of its record.
    var journalFinals: [String: JournalFinal] = [:]

    init(root: String, repair: Bool, now: Date, thresholds: CheckThresholds) {
        self.root = root; self.repair = repair; self.now = now; self.thresholds = thresholds
        layout = SpoolLayout(root: root)
        store = PaymentStore(layout: layout)
    }

    /// Runs every check (and the safe repairs when `repair`).
    package static func run(spoolRoot: String, repair: Bool = false, now: Date = Date(), thresholds: CheckThresholds = CheckThresholds(),
                           progress: ((Int) -> Void)? = nil,
                           bookingDays: Int = PayoutReconcile.defaultBookingDays) throws -> SpoolCheck {
        guard FileIO.isDirectory(spoolRoot) else {
            throw QRPayError(.spoolMissing, "there is no spool at \(spoolRoot)")
        }
        let check = SpoolCheck(root: spoolRoot, repair: repair, now: now, thresholds: thresholds)
        check.progress = progress
        check.bookingDays = bookingDays
        let locks = StageLocks(spoolRoot: spoolRoot)
        if !locks.allHeld {
            if repair {
                throw QRPayError(.spoolBusy, "qrpay-\(locks.busy.joined(separator: ", qrpay-")) is running on this spool; stop it before --repair (check without --repair works while stages run)")
            }
            check.lenient = true
        }
        try withExtendedLifetime(locks) {
            var audit = JournalAudit(spoolRoot: spoolRoot) { code, path, message in
                check.add(code, path, message)
            }
            audit.checkpointAge = thresholds.checkpointAge
            audit.now = now
            try audit.run()
            check.counted["journalEntries"] = audit.entries
            check.counted["checkpoints"] = audit.checkpoints
            var journalStates = audit.finalStates
            check.journalFinals = audit.finalStates
            check.checkExpiries()
            try check.checkRecords(&journalStates)
            for (key, final) in journalStates.sorted(by: { $0.key < $1.key }) where !check.isRecent(final.at) {
                let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
                let path = parts.count == 2 ? check.layout.relative(check.layout.recordPath(shop: parts[0], payment: parts[1])) : key
                check.add("record.missing", path, "the journal has payment \(key) (\(final.state.rawValue)) but there is no record")
            }
            try check.checkMarkers()
            try check.checkUnpaidIndex()
            try check.checkDueIndex()
            try check.checkPayouts(journalPayouts: audit.payouts)
            try check.checkTemporaryFiles()
            try check.checkQueues()
            check.checkIntents()
            try check.checkModes()
        }
        return check
    }

    func add(_ code: String, _ path: String, _ message: String, repairable: Bool = false, repairedBy fix: (() throws -> Void)? = nil) {
        var finding = CheckFinding(code: code, path: path, message: message, repairable: repairable)
        if repair, repairable, let fix {
            do { try fix(); finding.repaired = true } catch let e as QRPayError {
                finding = CheckFinding(code: code, path: path, message: message + " (repair failed: \(e.message))", repairable: true)
            } catch {}
        }
        findings.append(finding)
    }

    func isRecent(_ path: String) -> Bool {
        guard lenient else { return false }
        var st = stat()
        guard lstat(path, &st) == 0 else { return true }
        return Double(st.st_mtim.tv_sec) > now.timeIntervalSince1970 - SpoolCheck.inFlight
    }

    /// A journal transition in the last minute while stages run: its record may not be written yet.
    func isRecent(_ at: Date) -> Bool {
        lenient && at.timeIntervalSince1970 > now.timeIntervalSince1970 - SpoolCheck.inFlight
    }

    func isStaleTemporary(_ path: String) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFDIR else { return false }
        return Double(st.st_mtim.tv_sec) < now.timeIntervalSince1970 - SpoolCheck.staleTemporary
    }

    func staleTemporary(_ path: String) {
        add("tmp.stale", path.relative(to: root), "a temporary file older than 36 h (a write that crashed before it committed)",
            repairable: true) {
            if unlink(path) != 0 && errno != ENOENT { throw QRPayError.io("remove", path: path, errno: errno) }
        }
    }

    // MARK: records

    func checkRecords(_ journalStates: inout [String: JournalFinal]) throws {
        let base = layout.paymentsDirectory
        for shop in try FileIO.listDirectory(base).sorted() where !shop.hasPrefix(".") {
            let shopDir = base + "/" + shop
            guard FileIO.isDirectory(shopDir) else { continue }
            for bucket in try FileIO.listDirectory(shopDir).sorted() {
                let bucketDir = shopDir + "/" + bucket
                if bucket.hasPrefix(".tmp.") { if isStaleTemporary(bucketDir) { staleTemporary(bucketDir) }; continue }
                guard !bucket.hasPrefix("."), FileIO.isDirectory(bucketDir) else { continue }
                try FileIO.forEachEntry(bucketDir) { name, _ in
                    let path = bucketDir + "/" + name
                    if name.hasPrefix(".tmp.") { if isStaleTemporary(path) { staleTemporary(path) }; return }
                    guard !name.hasPrefix(".") else { return }
                    checkRecord(path, shop: shop, bucket: bucket, name: name, &journalStates)
                }
            }
        }
    }

    func checkRecord(_ path: String, shop: String, bucket: String, name: String, _ journalStates: inout [String: JournalFinal]) {
        let rel = path.relative(to: root)
        counted["records", default: 0] += 1
        if let progress, counted["records"]! % 1000 == 0 { progress(counted["records"]!) }
        let record: PaymentRecord
        do {
            record = try PaymentRecord(data: try FileIO.read(path, maxBytes: 4 << 20))
        } catch let e as QRPayError {
            if name.hasSuffix(".json") { journalStates.removeValue(forKey: shop + "/" + String(name.dropLast(5))) }
            add("record.malformed", rel, e.message)
            return
        } catch { return }
        let key = record.info.shop + "/" + record.info.payment
        let journalFinal = journalStates.removeValue(forKey: key)
        guard record.info.shop == shop, name == record.info.payment + ".json", SpoolLayout.bucket(record.info.payment) == bucket else {
            add("record.misplaced", rel, "the record of \(key) belongs at \(store.recordPath(shop: record.info.shop, payment: record.info.payment).relative(to: root))")
            return
        }
        if isRecent(path) || journalFinal.map({ isRecent($0.at) }) == true { return }
        switch journalFinal?.state {
        case nil:
            suspect.insert(key)
            add("record.unjournaled", rel, "the journal has no entry for payment \(key) (state \(record.state.rawValue))")
        case let s? where s != record.state:
            suspect.insert(key)
            add("record.journal", rel, "the record says \(record.state.rawValue) but the journal's last transition of \(key) is to \(s.rawValue)")
        case let s?:
            if let final = journalFinal, !PaymentEvidence.matches(record, journalEvidence: final.evidence) {
                suspect.insert(key)
                add("record.evidence", rel, "the evidence of \(key)'s last change (\(s.rawValue)) is not what the journal recorded: the record was edited")
            }
        }
        checkDeliveries(record, key: key)
        if let problem = verifySignature(record) {
            suspect.insert(key)
            add("record.signature", rel, "the shop's signed payment document of \(key) does not verify: \(problem)")
        }
        let marker = store.markerPath(state: record.state, info: record.info)
        if !FileIO.exists(marker) {
            addMarkerFinding("marker.missing", marker.relative(to: root), "payment \(key) is \(record.state.rawValue) but has no marker there",
                             key: key) { try self.reindex(record) }
        }
        if let due = DueIndex.entry(for: record) {
            let path = DueIndex.path(due, layout: layout)
            if !FileIO.exists(path) {
                addMarkerFinding("due.missing", path.relative(to: root),
                                 "payment \(key) is \(record.state.rawValue) but is not in the due index: qrpay-settle would never \(due.kind == .accepted ? "finish" : "expire") it",
                                 key: key) { try self.reindex(record) }
            }
        }
        if store.keepsUnpaidIndex && store.isUnpaid(record) {
            let path = layout.unpaidPath(info: record.info)
            if !FileIO.exists(path) {
                addMarkerFinding("unpaid.missing", path.relative(to: root),
                                 "payment \(key) is finished and not paid out but is not in the unpaid index: qrpay-payout would never pay it",
                                 key: key) { try self.reindex(record) }
            }
        }
    }

    /// Due entries that are not their payment's (an entry made by hand, or one a crash left): settle
    /// removes such an entry when it meets it (after the journal holds the record); `--repair` too.
    func checkDueIndex() throws {
        for kind in [DueKind.expires, .accepted] where FileIO.isDirectory(layout.dueDirectory(kind)) {
            for entry in try DueIndex.due(kind, by: Int64.max / 2, layout: layout) {
                let path = DueIndex.path(entry, layout: layout)
                let record = try? store.load(shop: entry.shop, payment: entry.payment)
                if let record, DueIndex.entry(for: record) == entry { continue }
                if let record, isRecent(record.history.last?.at ?? .distantPast) { continue }
                let key = entry.shop + "/" + entry.payment
                // A record that disagrees with the journal is reported as such; an entry the journal's
                // state supports is then its index, not an extra.
                if suspect.contains(key), journalFinals[key]?.state == entry.kind.state { continue }
                addMarkerFinding("due.extra", path.relative(to: root),
                                 "payment \(key) is \(record?.state.rawValue ?? "unknown (no record)"), not due at this entry's time: settle removes it (--repair too)",
                                 key: key) { try FileIO.remove(path) }
            }
        }
    }

    /// Entries of the unpaid index whose payment is not finished-and-unpaid (a hand-made entry, or
    /// one a crash left): the payout checks each against its record and removes it; `--repair` too.
    func checkUnpaidIndex() throws {
        guard store.keepsUnpaidIndex else { return }
        for day in try FileIO.listDirectory(layout.unpaidDirectory).sorted() where Timestamp.isDay(day) {
            let dir = layout.unpaidDirectory(day: day)
            for name in try FileIO.listDirectory(dir).sorted() where !name.hasPrefix(".") {
                let path = dir + "/" + name
                guard let m = StateMarker(name: name, state: .finish, day: day) else {
                    add("unpaid.extra", path.relative(to: root), "not a payment's name", repairable: true) { try FileIO.remove(path) }
                    continue
                }
                let record = try? store.load(shop: m.shop, payment: m.payment)
                if let record, store.isUnpaid(record), layout.unpaidPath(info: record.info) == path { continue }
                if let record, isRecent(record.history.last?.at ?? .distantPast) { continue }
                let key = m.shop + "/" + m.payment
                if suspect.contains(key), journalFinals[key]?.state == .finish { continue }
                addMarkerFinding("unpaid.extra", path.relative(to: root),
                                 "payment \(key) is \(record.map { $0.state == .finish ? "paid out" : $0.state.rawValue } ?? "unknown"), not finished and unpaid: the payout skips it",
                                 key: key) { try FileIO.remove(path) }
            }
        }
    }

    /// How far back `check` looks for each state change's notice and receipt (purge removes older
    /// ones from done/, so their absence says nothing).
    package static let deliveryWindow: TimeInterval = 7 * 86400
    var doneDays: [String: [String]] = [:]

    /// Whether NAME is in the queue: waiting, claimed, or consumed (done/DAY for DAY >= `since`).
    func delivered(_ name: String, in queue: Queue, since day: String) -> Bool {
        if FileIO.exists(queue.newDirectory + "/" + name) || FileIO.exists(queue.curDirectory + "/" + name) { return true }
        if doneDays[queue.path] == nil { doneDays[queue.path] = queue.doneDays() }
        return doneDays[queue.path]!.contains { $0 >= day && FileIO.exists(queue.doneDirectory + "/" + $0 + "/" + name) }
    }

    /// Every recent state change of `record` has its notice for the shop, and, once a user approved
    /// it, its receipt for the user (at least once: see GroupCommit's `last`).
    func checkDeliveries(_ record: PaymentRecord, key: String) {
        let notices = layout.notices(shop: record.info.shop)
        guard SpoolLayout.mayRead(notices.newDirectory) else { return }
        let firstAccept = record.history.firstIndex { $0.state == .accept }
        for (index, entry) in record.history.enumerated() where now.timeIntervalSince(entry.at) <= SpoolCheck.deliveryWindow && !isRecent(entry.at) {
            var shown = record
            shown.state = entry.state
            let day = Timestamp.day(entry.at)
            let notice = Notifier.noticeName(shown)
            if !delivered(notice, in: notices, since: day) {
                add("notice.missing", layout.relative(notices.newDirectory + "/" + notice),
                    "payment \(key) became \(entry.state.rawValue) at \(Timestamp.format(entry.at)) but its notice to the shop is nowhere in the queue")
            }
            if let user = record.user, let firstAccept, index >= firstAccept {
                let receipts = layout.receipts(user: user)
                let receipt = Notifier.receiptName(shown)
                if SpoolLayout.mayRead(receipts.newDirectory), !delivered(receipt, in: receipts, since: day) {
                    add("receipt.missing", layout.relative(receipts.newDirectory + "/" + receipt),
                        "payment \(key) became \(entry.state.rawValue) at \(Timestamp.format(entry.at)) but its receipt to user \(user) is nowhere in the queue")
                }
            }
        }
    }

    /// The trust store, for verifying records' signatures (nil when the spool's CA is unusable).
    lazy var trust: TrustStore? = try? TrustStore(spoolRoot: root, remembersCRL: true)
    var crlReported = false

    /// Why the record's payment document does not verify, or nil: the JWS, that it is the record's
    /// (hash, signature), and the shop's signature by its certificate as of the PG's registration.
    func verifySignature(_ record: PaymentRecord) -> String? {
        let jws: JWS
        do { jws = try JWS(parsing: record.document) } catch let e as QRPayError { return e.message } catch { return "\(error)" }
        guard jws.documentHash == record.documentHash else { return "the record's documentHash is not its document's" }
        guard Base64URL.encode(jws.signature) == record.signature else { return "the record's signature is not its document's" }
        guard let trust else { return "the spool's CA cannot be read, so nothing can be verified" }
        let at = record.history.first?.at ?? record.info.created
        do {
            _ = try trust.verify(jws, type: .payment, role: .shop, id: record.info.shop, at: at)
            return nil
        } catch let e as QRPayError where e.isTransient {
            // No usable CRL now: the signature itself still decides; the CRL is reported once.
            if !crlReported {
                crlReported = true
                add("crl.unusable", "ca/crl.pem", e.message)
            }
            guard let signer = try? trust.certificate(fingerprint: jws.fingerprint), jws.verifySignature(with: signer.publicKey) else {
                return "the signature does not verify with the signer's certificate"
            }
            return nil
        } catch let e as QRPayError {
            return e.message
        } catch {
            return "\(error)"
        }
    }

    /// Makes markers and due entries agree with `record` (a commit of one).
    func reindex(_ record: PaymentRecord) throws {
        let commit = GroupCommit(context: StageContext(layout: layout))
        try store.reindex(record, commit: commit)
        try commit.flush()
    }

    /// A marker finding, repairable unless the record itself is suspect (then a person decides).
    func addMarkerFinding(_ code: String, _ path: String, _ message: String, key: String, fix: @escaping () throws -> Void) {
        if suspect.contains(key) {
            add(code, path, message + " (not repaired: the record disagrees with the journal)")
        } else {
            add(code, path, message, repairable: true, repairedBy: fix)
        }
    }

    // MARK: markers

    func checkMarkers() throws {
        for state in PaymentState.allCases {
            let stateDir = layout.stateDirectory(state)
            for day in try FileIO.listDirectory(stateDir).sorted() where !day.hasPrefix(".") {
                let dayDir = stateDir + "/" + day
                try FileIO.forEachEntry(dayDir) { name, isDirectory in
                    let path = dayDir + "/" + name
                    if name.hasPrefix(".tmp.") { if isStaleTemporary(path) { staleTemporary(path) }; return }
                    if name.hasPrefix(".") { return }
                    counted["markers", default: 0] += 1
                    guard !isDirectory, let m = StateMarker(name: name, state: state, day: day),
                          Identifier.isValid(m.shop), Identifier.isValid(m.payment) else {
                        add("marker.foreign", path.relative(to: root), "not a state marker (names are SHOP~PAYMENT~CURRENCY~TOTAL)")
                        return
                    }
                    checkMarker(path, m)
                }
            }
        }
    }

    func checkMarker(_ path: String, _ m: StateMarker) {
        let rel = path.relative(to: root)
        let key = m.shop + "/" + m.payment
        let recordPath = store.recordPath(shop: m.shop, payment: m.payment)
        if isRecent(path) || isRecent(recordPath) { return }
        let removeMarker = {
            if unlink(path) != 0 && errno != ENOENT { throw QRPayError.io("remove", path: path, errno: errno) }
            try FileIO.fsyncDirectory(FileIO.parentDirectory(path))
        }
        let record: PaymentRecord?
        do { record = try store.load(shop: m.shop, payment: m.payment) } catch { return }  // reported with the records
        guard let record else {
            if let final = journalFinals[key] {
                // The journal knows this payment: its record is missing or misplaced, not the marker
                // extra. Never remove an index entry the journal supports; a person restores the record.
                let supported = final.state == m.state ? "which the journal supports (its last transition is to \(final.state.rawValue))"
                    : "whose journal entries are there (its last transition is to \(final.state.rawValue))"
                add("marker.orphan", rel, "a \(m.state.rawValue) marker for payment \(key), \(supported), but no record at \(recordPath.relative(to: root)): restore the record (not repaired)")
            } else {
                add("marker.orphan", rel, "a \(m.state.rawValue) marker for payment \(key), which has no record", repairable: true, repairedBy: removeMarker)
            }
            return
        }
        let expected = store.markerPath(state: record.state, info: record.info)
        guard expected != path else { return }
        if record.state != m.state {
            addMarkerFinding("marker.extra", rel, "payment \(key) is marked \(m.state.rawValue) but its record is \(record.state.rawValue) (a payment in two states)",
                             key: key) {
                try removeMarker()
                if !FileIO.exists(expected) { try self.reindex(record) }
            }
        } else {
            addMarkerFinding("marker.extra", rel, "the \(m.state.rawValue) marker of payment \(key) does not match its record (day, currency or total); it should be \(expected.relative(to: root))",
                             key: key) {
                try removeMarker()
                try self.reindex(record)
            }
        }
    }

    // MARK: expiries: the CRL and every certificate

    func warn(_ code: String, _ path: String, _ message: String) {
        var finding = CheckFinding(code: code, path: path, message: message, repairable: false)
        finding.warning = true
        findings.append(finding)
    }

    static func span(_ t: TimeInterval) -> String {
        let s = abs(t)
        if s >= 2 * 86400 { return "\(Int(s / 86400)) days" }
        if s >= 2 * 3600 { return "\(Int(s / 3600)) hours" }
        return "\(Int(s / 60)) minutes"
    }

    /// The CRL's nextUpdate and every certificate's notAfter (the CA's, the PG's, each shop's and
    /// user's current one in ca/certs/): passed is a finding, within the window a warning.
    func checkExpiries() {
        guard let trust else { return }  // no CA: reported by what needs it
        do {
            let crl = try trust.crlTimes()
            let left = crl.nextUpdate.timeIntervalSince(now)
            if left < 0 {
                crlReported = true
                add("crl.expired", layout.relative(layout.crl), "the CRL's nextUpdate \(Timestamp.format(crl.nextUpdate)) passed \(SpoolCheck.span(left)) ago: every stage defers until `qrpay-ca crl` issues a fresh one")
            } else if left < thresholds.crlWarning {
                warn("crl.expiring", layout.relative(layout.crl), "the CRL's nextUpdate \(Timestamp.format(crl.nextUpdate)) comes in \(SpoolCheck.span(left)): run `qrpay-ca crl` before it, or every stage stops")
            }
        } catch let e as QRPayError {
            crlReported = true
            add("crl.unusable", layout.relative(layout.crl), e.message)
        } catch {}
        var certificates: [(path: String, what: String, cert: Certificate)] = [(layout.caCertificate, "the CA", trust.root)]
        for role in Role.allCases {
            let dir = layout.certificatesDirectory(role: role)
            for name in ((try? FileIO.listDirectory(dir)) ?? []).sorted() where name.hasSuffix(".pem") && !name.hasPrefix(".") {
                guard let data = try? FileIO.read(dir + "/" + name, maxBytes: 64 * 1024), let cert = try? Certificate(pem: data) else { continue }
                let id = String(name.dropLast(4))
                certificates.append((dir + "/" + name, role == .pg ? "the PG (\(id))" : "\(role.rawValue) \(id)", cert))
            }
        }
        for (path, what, cert) in certificates {
            if cert !== trust.root, let revoked = try? trust.revocation(of: cert), revoked <= now { continue }  // revoked: expiry is moot
            let left = cert.notAfter.timeIntervalSince(now)
            if left < 0 {
                add("cert.expired", layout.relative(path), "the certificate of \(what) expired at \(Timestamp.format(cert.notAfter)), \(SpoolCheck.span(left)) ago: \(what == "the CA" ? "make a new CA" : "issue a new one (qrpay-ca issue --renew)")")
            } else if left < thresholds.certificateWarning {
                warn("cert.expiring", layout.relative(path), "the certificate of \(what) expires at \(Timestamp.format(cert.notAfter)), in \(SpoolCheck.span(left)): renew it (qrpay-ca issue --renew)")
            }
        }
    }

    // MARK: queues: foreign names, long deferrals, old files

    func checkQueues() throws {
        let pgQueues = Set([layout.inbox.path, layout.approvals.path, layout.cancels.path])
        for named in try layout.allQueues() {
            let queue = named.queue
            if SpoolLayout.mayRead(queue.newDirectory) {
                for name in (try? queue.foreignNames()) ?? [] where !name.hasPrefix(".") {
                    add("queue.foreign", layout.relative(queue.newDirectory) + "/" + SpoolCheck.shown(name),
                        "a name no stage takes (names are [A-Za-z0-9][A-Za-z0-9._:,=+-]{0,200}): the next run of its stage moves it into quarantine/; write files in tmp/ and rename them in")
                }
            }
            if SpoolLayout.mayRead(queue.deferredDirectory) {
                for name in (try? queue.deferred()) ?? [] {
                    let record = queue.deferredRecord(name)
                    var since = record?["arrived"]?.stringValue.flatMap(Timestamp.parse)
                    if since == nil, let (_, st) = FileIO.lstatKind(queue.deferredDirectory + "/" + name) { since = Queue.changeTime(st) }
                    guard let since, now.timeIntervalSince(since) > thresholds.maxDeferred else { continue }
                    let attempts = record?["attempts"]?.intValue ?? 0
                    let reason = record?["reason"]?.stringValue ?? "no reason file"
                    add("queue.deferred", layout.relative(queue.deferredDirectory) + "/" + name,
                        "deferred for \(SpoolCheck.span(now.timeIntervalSince(since))) (\(attempts) attempts): \(reason)")
                }
            }
            // Notices and receipts wait for their party (an offline shop), photos for their user: only
            // the PG's own input queues must drain.
            guard pgQueues.contains(queue.path) else { continue }
            for (dir, what) in [(queue.newDirectory, "waiting"), (queue.curDirectory, "claimed")] where SpoolLayout.mayRead(dir) {
                for name in ((try? FileIO.listDirectory(dir)) ?? []).sorted() where SpoolName.isValid(name) {
                    guard let (_, st) = FileIO.lstatKind(dir + "/" + name) else { continue }
                    let age = now.timeIntervalSince(Queue.changeTime(st))
                    if age > thresholds.maxAge {
                        add("queue.old", layout.relative(dir) + "/" + name,
                            "\(what) for \(SpoolCheck.span(age)): is qrpay-\(SpoolCheck.stage(of: named.name)) running (systemd timer, cron)?")
                    }
                }
            }
        }
    }

    /// Journal intents left longer than `--max-age`: a change the journal holds whose stage was
    /// killed (or failed) before its records, notices and receipts were in place. The payment takes
    /// no other change until that stage reruns. An intent announcing nothing the journal holds (its
    /// append failed) is stale: `--repair` removes it.
    func checkIntents() {
        let dir = layout.journalIntentsDirectory
        guard SpoolLayout.mayRead(dir) else { return }
        for intent in store.journal.intents() {
            let age = intent.at.map { now.timeIntervalSince($0) }
            guard (age ?? .infinity) > thresholds.maxAge else { continue }
            let journaled = intent.changes.filter(\.journaled)
            let path = layout.relative(intent.path)
            if journaled.isEmpty {
                add("journal.unfinished", path, "a journal intent \(age.map { "of " + SpoolCheck.span($0) + " ago " } ?? "")announces nothing the journal holds (its append failed): nothing waits on it",
                    repairable: true) { try FileIO.remove(intent.path) }
                continue
            }
            let changes = journaled.map { "\($0.shop)/\($0.payment) → \($0.to)" }
            let stages = Set(journaled.map { PaymentStore.stage(making: $0.to) }).sorted()
            add("journal.unfinished", path, "the journal holds \(changes.count) change(s) (\(changes.prefix(5).joined(separator: ", "))\(changes.count > 5 ? ", …" : "")) whose records, notices and receipts are not all in place, for \(age.map(SpoolCheck.span) ?? "an unknown time"): the payments take no other change until \(stages.joined(separator: ", ")) reruns (is it running? its claimed input finishes them)")
        }
    }

    static func stage(of queue: String) -> String {
        switch queue {
        case "pg/inbox": return "register"
        case "pg/approvals": return "approve"
        default: return "settle"
        }
    }

    /// A foreign name as printable ASCII (escapes for the rest).
    static func shown(_ name: String) -> String {
        String(name.unicodeScalars.prefix(80).map { $0.isASCII && $0.value > 0x20 && $0.value < 0x7F ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined())
    }

    // MARK: queues' tmp/

    func checkTemporaryFiles() throws {
        for named in try layout.allQueues() {
            let tmp = named.queue.tmpDirectory
            guard SpoolLayout.mayRead(tmp) else { skip(tmp); continue }
            for name in try FileIO.listDirectory(tmp).sorted() where isStaleTemporary(tmp + "/" + name) {
                staleTemporary(tmp + "/" + name)
            }
        }
    }

    // MARK: modes and owners

    func keyFiles() throws -> [String] {
        var keys = [layout.keyFile(role: .pg, id: ""), layout.caKey]
        for shop in try layout.shops() { keys.append(layout.keyFile(role: .shop, id: shop)) }
        for user in try layout.users() { keys.append(layout.keyFile(role: .user, id: user)) }
        return keys.filter(FileIO.exists)
    }

    func skip(_ path: String) {
        let rel = layout.relative(path)
        if !skipped.contains(rel) { skipped.append(rel) }
    }

    /// Payouts: unfinished, rejected or unbooked transfers, payments paid twice or not marked.
    func checkPayouts(journalPayouts: [String: [String]]) throws {
        for (key, ids) in journalPayouts.sorted(by: { $0.key < $1.key }) where Set(ids).count > 1 {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            add("payout.paid-twice", parts.count == 2 ? layout.relative(layout.recordPath(shop: parts[0], payment: parts[1])) : key,
                "the journal records payment \(key) in \(Set(ids).count) payouts: \(Array(Set(ids)).sorted().joined(separator: ", "))")
        }
        let payouts = PayoutStore(layout: layout)
        for id in try payouts.ids() {
            let path = layout.relative(layout.payoutRecordPath(payout: id))
            let payout: Payout
            do { guard let p = try payouts.load(id) else { continue }; payout = p } catch let e as QRPayError {
                add("payout.malformed", path, e.message)
                continue
            }
            if payout.state == .prepared {
                if !isRecent(payout.created) {
                    add("payout.unfinished", path, "payout \(id) was prepared at \(Timestamp.format(payout.created)) but never sent: the next qrpay-payout run completes it")
                }
                continue
            }
            for t in payout.transfers {
                let amount = payout.currency.format(t.amount)
                if t.status == .rejected {
                    add("payout.rejected", path, "the bank rejected \(t.endToEndId) to shop \(t.shop) (\(amount))\(t.reason.map { ": \($0)" } ?? ""): the shop is not paid; correct its account and pay it again")
                } else if t.status != .booked, now.timeIntervalSince(payout.created) > Double(bookingDays) * 86_400 {
                    add("payout.unbooked", path, "\(t.endToEndId) to shop \(t.shop) (\(amount)) was sent \(Timestamp.format(payout.created)) and is \(t.status.rawValue), not booked after \(bookingDays) days")
                }
                for p in t.payments {
                    if !(journalPayouts[t.shop + "/" + p.payment] ?? []).contains(id) {
                        add("payout.unjournaled", path, "payout \(id) covers \(t.shop)/\(p.payment), but the journal does not record it paid by \(id): the journal was cut or the record written by hand; believe the journal")
                    }
                    guard let record = try? store.load(shop: t.shop, payment: p.payment) else {
                        add("payout.record", path, "payout \(id) covers \(t.shop)/\(p.payment), whose record is missing or does not parse")
                        continue
                    }
                    if record.payout != id {
                        add("payout.record", layout.relative(layout.recordPath(shop: t.shop, payment: p.payment)),
                            "payout \(id) covers this payment but its record names \(record.payout ?? "no payout")")
                    } else if !FileIO.exists(layout.paidPath(info: record.info)) {
                        add("payout.record", layout.relative(layout.paidPath(info: record.info)), "payment \(t.shop)/\(p.payment) is paid by \(id) but has no paid marker")
                    }
                }
            }
        }
    }

    func checkModes() throws {
        for dir in [layout.caPrivateDirectory] where !SpoolLayout.mayRead(dir) { skip(dir) }
        for key in try keyFiles() {
            var st = stat(), dst = stat()
            let dir = FileIO.parentDirectory(key)
            guard lstat(key, &st) == 0, lstat(dir, &dst) == 0 else { continue }
            let mode = st.st_mode & 0o7777
            if mode != 0o600 {
                add("mode.key", key.relative(to: root), "a private key with mode \(String(mode, radix: 8)), not 600", repairable: true) {
                    guard chmod(key, 0o600) == 0 else { throw QRPayError.io("chmod", path: key, errno: errno) }
                }
            }
            if dst.st_mode & 0o066 != 0 {
                add("mode.key-directory", dir.relative(to: root) + "/",
                    "holds a private key but has mode \(String(dst.st_mode & 0o7777, radix: 8)); use 700 (or 711 where others must pass through)")
            }
            if st.st_uid != dst.st_uid {
                add("owner.key", key.relative(to: root), "the key is owned by uid \(st.st_uid) but its directory by uid \(dst.st_uid)")
            }
        }
        try walkDirectories(root)
    }

    /// Every directory of the spool (not following links), for world-writable ones.
    func walkDirectories(_ dir: String) throws {
        var st = stat()
        guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return }
        if st.st_mode & 0o002 != 0 {
            let mode = st.st_mode & 0o7777
            add("mode.world-writable", dir.relative(to: root) + "/", "a world-writable directory (mode \(String(mode, radix: 8)))", repairable: true) {
                guard chmod(dir, mode & ~0o002) == 0 else { throw QRPayError.io("chmod", path: dir, errno: errno) }
            }
        }
        guard SpoolLayout.mayRead(dir) else {
            // Another party's own directory (0711): not listed, but what the layout names in it is
            // reached by name (a shop's qr/ and notices/, a user's receipts/).
            skip(dir)
            for name in SpoolLayout.knownChildren(of: layout.relative(dir)) { try walkDirectories(dir + "/" + name) }
            return
        }
        var subdirectories: [String] = []
        try FileIO.forEachEntry(dir) { name, isDirectory in
            if isDirectory { subdirectories.append(name) }
        }
        for name in subdirectories.sorted() { try walkDirectories(dir + "/" + name) }
    }

    // MARK: output

    /// `{v, findings: [...], counted, remaining, warnings}` (findings holds the warnings too, by severity).
    package var json: JSONValue {
        ["v": 1, "findings": .array(findings.map(\.json)), "remaining": .int(Int64(remaining)), "warnings": .int(Int64(warnings)),
         "counted": .object(counted.mapValues { .int(Int64($0)) }), "stagesRunning": .bool(lenient)]
    }

    package var text: String { findings.map(\.line).joined(separator: "\n") }

    /// Findings that are still there (not repaired).
    package var remaining: Int { findings.filter { !$0.repaired && !$0.warning }.count }

    /// Warnings (things that expire soon): reported, not counted in the exit status.
    package var warnings: Int { findings.filter(\.warning).count }

    package var summary: String {
        let c = counted
        let repaired = findings.count - remaining
        return "checked \(c["records"] ?? 0) records, \(c["markers"] ?? 0) markers, \(c["journalEntries"] ?? 0) journal entries, "
            + "\(c["checkpoints"] ?? 0) checkpoints: \(findings.count - warnings) findings" + (repair ? ", \(repaired) repaired" : "")
            + (warnings > 0 ? ", \(warnings) warning\(warnings == 1 ? "" : "s")" : "")
            + (lenient ? " (stages were running: what changed in the last minute was not judged)" : "")
    }
}
