// The PG's payout stage (`qrpay-payout`): paying shops what their finished payments earned, and
// reading back what the bank did with it.
//
// Input queue: ROOT/pg/bank/new/*: pain.002.001.12, camt.053.001.08 and camt.054.001.08 files. Each
// is parsed strictly (BankMessage), its items matched to credit transfers by end-to-end id (a group
// status by the payout's message id), and each transfer moves sent → accepted | rejected, and to
// booked (with the booked amount and day) on a DBIT entry with status BOOK. What was read, matched
// or not, is kept in ROOT/pg/bank-records/HASH.json (reconcile lists bookings without a payout); the
// same file again changes nothing. A file that is not one of these messages is quarantined.
//
// Each pass (tick), after the bank queue is drained (work proportional to what is due, not to the
// days of history):
//  1. a payout a crash left "prepared" (pg/payout-records/prepared/, an index of them) is
//     completed, exactly as it was prepared (same bytes);
//  2. finished payments not yet paid out (the unpaid index pg/unpaid: pg/states/finish minus
//     pg/paid, built whole from them the first time; settle adds each finish, the payout removes
//     each paid one; each entry checked against its record), finished at or before --until, are
//     gathered per currency and shop; shops without an account in that
//     currency wait (a log line says so); a currency without the PG's debtor account waits (exit 75);
//  3. per currency: the payout record is written first (one commit: the signed manifest inside,
//     the transfers, state "prepared"); then PAYOUT.xml and PAYOUT.manifest.jws are delivered into
//     pg/payouts/new/, the payout id is recorded on every payment (journal kind "payout", the
//     pg/paid marker, the record named last) in commits of 500 payments (a commit holds a file
//     descriptor per staged file: one commit of a 100,000-payment payout would run out of them),
//     and a last commit journals each transfer "sent" and marks the payout "sent". A crash between
//     two commits leaves the payout "prepared"; step 1 of the next run marks the rest.
// A payment is paid out once: it is gathered only without a paid marker and without a payout in
// its record, and a prepared payout is finished before anything new is gathered.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
import QRPayLedger

package struct PayoutStage: SpoolStage {
    package let name = "payout"
    /// The PG stages change the same records: one pass at a time.
    package var sharedLock: String? { "pg-state" }
    package let queues: [Queue]
    package let layout: SpoolLayout
    let pg: Credentials
    let store: PaymentStore
    let accounts: AccountStore
    let payouts: PayoutStore
    /// Payments finished after this are left for a later payout (nil: the run's clock).
    package let until: Date?
    /// Payments marked per commit in phase 2: a commit holds a descriptor per staged file until it
    /// is flushed, so a payout of many payments is marked in commits of this many (two files each).
    let paymentsPerCommit: Int

    package init(layout: SpoolLayout, pg: Credentials, until: Date? = nil, paymentsPerCommit: Int = 500) {
        self.layout = layout
        self.pg = pg
        self.until = until
        self.paymentsPerCommit = max(1, paymentsPerCommit)
        store = PaymentStore(layout: layout)
        accounts = AccountStore(layout: layout)
        payouts = PayoutStore(layout: layout)
        queues = [layout.bank]
    }

    // MARK: bank files

    package func process(_ file: ClaimedFile, commit: GroupCommit) throws -> StageOutcome {
        let data = try file.read(maxBytes: XMLReader.maxBytes)
        let hex = String(Digest.sha256Hex(data).prefix(32))
        let evidence = Base64URL.encode(Digest.sha256(data))
        let recordPath = layout.bankRecordPath(hash: hex)
        try commit.claim(key: recordPath)
        if FileIO.exists(recordPath) || commit.pendingData(at: recordPath) != nil {
            return .done("already read (\(layout.relative(recordPath))); nothing changed")
        }
        let message = try BankMessage.parse(data, what: "bank file \(file.name)")
        let now = commit.context.now()
        var changed: [String: Payout] = [:]
        var items: [JSONValue] = []
        var matched = 0, changes = 0
        func payout(_ id: String) throws -> Payout? {
            if let p = changed[id] { return p }
            return try payouts.load(id, commit: commit)
        }
        for item in message.items {
            var targets: [(String, Int)] = []
            if let e2e = item.endToEndId, let id = Payout.id(ofEndToEnd: e2e), let p = try payout(id),
               let i = p.transfers.firstIndex(where: { $0.endToEndId == e2e }) {
                targets = [(id, i)]
            } else if item.endToEndId == nil, let original = item.originalMessage, let p = try payout(original) {
                targets = p.transfers.indices.map { (original, $0) }
            }
            var o = item.json.objectValue ?? [:]
            o["matched"] = .bool(!targets.isEmpty)
            if let first = targets.first { o["payout"] = .string(first.0) }
            items.append(.object(o))
            if targets.isEmpty { continue }
            matched += 1
            for (id, index) in targets {
                guard var p = try payout(id) else { continue }
                var t = p.transfers[index]
                let before = t.status
                switch item.kind {
                case .status:
                    if item.status == "RJCT", before == .sent || before == .accepted {
                        t.status = .rejected; t.reason = item.reason
                    } else if ["ACCP", "ACSP", "ACSC", "ACTC", "ACWC", "ACCC", "ACFC", "ACIS", "ACPD", "ACWP"].contains(item.status), before == .sent {
                        t.status = .accepted
                    }
                case .booking:
                    if item.status == "BOOK", item.debit, item.currency == p.currency.code, before != .booked {
                        t.status = .booked; t.bookedAmount = item.amount; t.bookedOn = item.day ?? Timestamp.day(now)
                    }
                }
                guard t.status != before else { continue }
                changes += 1
                t.history.append(["status": .string(t.status.rawValue), "at": .string(Timestamp.format(now)), "evidence": .string(evidence),
                                  "file": .string(file.name), "type": .string(message.type)])
                p.transfers[index] = t
                changed[id] = p
                commit.journal(store.journal, TransitionRequest(.payoutState(from: before, to: t.status), shop: t.shop,
                                                                subject: t.endToEndId, evidenceHash: evidence, at: now))
            }
        }
        let record: JSONValue = ["v": 1, "file": .string(file.name), "hash": .string(hex), "type": .string(message.type),
                                 "messageId": .string(message.messageId), "created": .string(message.created),
                                 "read": .string(Timestamp.format(now)), "items": .array(items)]
        try commit.context.ensureDirectory(layout.bankRecordsDirectory)
        try commit.write(record.serialized(pretty: true), to: recordPath, mode: 0o640, ifExists: .fail)
        for (id, p) in changed.sorted(by: { $0.key < $1.key }) {
            try commit.write(p.serialized(), to: layout.payoutRecordPath(payout: id), mode: 0o640, ifExists: .replace, last: true)
        }
        return .done("\(message.type) \(message.messageId): \(message.items.count) item(s), \(matched) matched, \(changes) transfer(s) changed")
    }

    // MARK: payouts

    package func tick(context: StageContext) throws -> TickReport {
        var report = TickReport()
        // 1. What a crash left half done: the prepared index (every record, the first time).
        for id in try preparedPayouts(context: context) {
            guard let p = try payouts.load(id) else { continue }
            guard p.state == .prepared else {
                try? FileIO.remove(layout.preparedPayoutPath(payout: id))  // a stale entry (a crash after the record)
                continue
            }
            try complete(p, context: context)
            report.lines.append("\(id): completed a payout a crash had interrupted (\(p.transfers.count) transfer(s), \(p.currency.format(p.total)))")
            report.changed += 1
        }
        // 2. What is due: the unpaid index (built whole the first time), each entry checked against
        // its record; a stale entry (paid, or no longer finished) goes.
        let now = context.now()
        let cutoff = until ?? now
        try buildUnpaidIndex(context: context)
        // Only what the payout needs of each payment is kept (not the records: a day may hold many).
        var byCurrency: [String: [String: [PayoutPayment]]] = [:]
        var candidates: [(record: PaymentRecord, finished: Date)] = []
        let stale = GroupCommit(context: context)
        let unpaidDays = try FileIO.listDirectory(layout.unpaidDirectory).filter({ Timestamp.isDay($0) }).sorted()
        // A day all paid out goes (the next pass lists only days with something unpaid); rmdir never
        // removes one a payment is in.
        defer { for day in unpaidDays { rmdir(layout.unpaidDirectory(day: day)) } }
        for day in unpaidDays {
            let dir = layout.unpaidDirectory(day: day)
            for name in try FileIO.listDirectory(dir) where !name.hasPrefix(".") {
                guard let m = StateMarker(name: name, state: .finish, day: day) else { continue }
                guard let record = try store.load(shop: m.shop, payment: m.payment), store.isUnpaid(record) else {
                    stale.remove(dir + "/" + name)
                    continue
                }
                guard let finished = record.history.last(where: { $0.state == .finish })?.at, finished <= cutoff else { continue }
                candidates.append((record, finished))
            }
        }
        try stale.flush()
        // Money follows the journal, not the records: each payment is paid only when the journal
        // holds its finish with the record's evidence (one read of the journal since the earliest
        // finish). A record edited to `finish` by hand is left unpaid (ledger.mismatch, exit 75).
        if let earliest = candidates.map(\.finished).min() {
            let finishes = try store.journal.changes(to: .finish, since: Timestamp.day(earliest))
            for (record, _) in candidates {
                let key = record.info.shop + "/" + record.info.payment
                guard let journaled = finishes[key], !journaled.isDisjoint(with: PaymentEvidence.candidates(record)) else {
                    report.lines.append("\(key) not paid out [\(ErrorCode.ledgerMismatch)]: \(LedgerMismatch.record(record).message)")
                    report.deferred += 1
                    continue
                }
                byCurrency[record.info.currency.code, default: [:]][record.info.shop, default: []].append(
                    PayoutPayment(payment: record.info.payment, total: record.info.total, day: Timestamp.day(record.info.created)))
            }
        }
        var missingDebtor: [String] = []
        for (currency, shops) in byCurrency.sorted(by: { $0.key < $1.key }) {
            guard let debtor = try accounts.debtor(currency: currency) else {
                let n = shops.values.reduce(0) { $0 + $1.count }
                report.lines.append("\(n) finished payment(s) in \(currency) wait: the PG has no debtor account in \(currency) (qrpay-spool accounts set --pg --currency \(currency) ...)")
                missingDebtor.append(currency)
                continue
            }
            var transfers: [(shop: String, account: PayoutAccount, payments: [PayoutPayment])] = []
            for (shop, payments) in shops.sorted(by: { $0.key < $1.key }) {
                guard let account = try accounts.account(shop: shop), account.currency.code == currency else {
                    report.lines.append("shop \(shop): \(payments.count) finished payment(s) in \(currency) wait: no payout account in \(currency) (qrpay-spool accounts set --shop \(shop) ...)")
                    continue
                }
                transfers.append((shop, account, payments.sorted { $0.payment < $1.payment }))
            }
            if transfers.isEmpty { continue }
            let keys = transfers.flatMap { t in t.payments.map { "\(t.shop)/\($0.payment)" } }
            let id = Payout.makeID(created: now, currency: currency, payments: keys)
            if FileIO.exists(layout.payoutRecordPath(payout: id)) {
                report.lines.append("\(id): a payout of this name exists already; these payments wait for the next run")
                continue
            }
            var payout = Payout(id: id, currency: try Currency(currency), created: now, until: cutoff, debtor: debtor, transfers: transfers.enumerated().map { i, t in
                PayoutTransfer(endToEndId: id + "-" + String(format: "%04d", i + 1), shop: t.shop,
                               amount: t.payments.reduce(0) { $0 + $1.total }, account: t.account, payments: t.payments,
                               status: .sent, history: [])
            })
            let xml = try ISO20022.pain001(payout)
            payout.fileHash = Base64URL.encode(Digest.sha256(xml))
            payout.manifest = try JWS.sign(payload: payout.manifestPayload.serialized(), type: .payout, credentials: pg)
            // Phase 1: the record, with everything the file and the payments will get, and its entry
            // in the prepared index.
            let commit = GroupCommit(context: context)
            try context.ensureDirectory(layout.preparedPayoutsDirectory)
            try commit.write(Data(), to: layout.preparedPayoutPath(payout: id), mode: 0o640, ifExists: .replace)
            try commit.write(payout.serialized(), to: layout.payoutRecordPath(payout: id), mode: 0o640, ifExists: .fail)
            try commit.flush()
            // Phase 2: the file, the manifest, the payments.
            try complete(payout, context: context)
            report.lines.append("\(id): \(payout.transfers.count) transfer(s), \(keys.count) payment(s), \(payout.currency.format(payout.total)) → \(layout.relative(layout.payouts.newDirectory))/\(payout.fileName)")
            report.changed += 1
        }
        if !missingDebtor.isEmpty {
            throw QRPayError(.payoutNoDebtor, "the PG has no debtor account in \(missingDebtor.joined(separator: ", ")): set one with qrpay-spool accounts set --pg --currency CUR --name NAME --iban IBAN; those payments wait")
        }
        return report
    }

    /// Whether the queue has `name` anywhere (new/, cur/, done/DAY/): the bank's channel may have taken it.
    func delivered(_ name: String, in queue: Queue) -> Bool {
        if FileIO.exists(queue.newDirectory + "/" + name) || FileIO.exists(queue.curDirectory + "/" + name) { return true }
        for day in queue.doneDays() where FileIO.exists(queue.doneDirectory + "/" + day + "/" + name) { return true }
        return false
    }

    /// Phase 2 of a payout (see the top of this file), repeatable: what is already there is kept.
    /// The file and manifest are delivered first; the payments are marked in commits of
    /// `paymentsPerCommit` (a crash between two leaves the payout "prepared": the next run marks
    /// the rest); the last commit journals the transfers as sent and marks the payout "sent".
    func complete(_ prepared: Payout, context: StageContext) throws {
        let queue = layout.payouts
        try context.ensureQueue(queue)
        let xml = try ISO20022.pain001(prepared)
        guard Base64URL.encode(Digest.sha256(xml)) == prepared.fileHash else {
            throw QRPayError(.payoutMismatch, "payout \(prepared.id): the file written from \(layout.relative(layout.payoutRecordPath(payout: prepared.id))) does not have the hash the record and its manifest name; nothing written")
        }
        var commit = GroupCommit(context: context)
        if !delivered(prepared.fileName, in: queue) {
            try commit.deliver(xml, to: queue, name: prepared.fileName, ifExists: .keep)
        }
        if !delivered(prepared.manifestName, in: queue) {
            try commit.deliver(prepared.manifest, to: queue, name: prepared.manifestName, ifExists: .keep)
        }
        let manifestHash = Base64URL.encode(Digest.sha256(prepared.manifest))
        var staged = 0
        for t in prepared.transfers {
            for p in t.payments {
                if staged == paymentsPerCommit {
                    try commit.flush()
                    commit = GroupCommit(context: context)
                    staged = 0
                }
                guard var record = try store.load(shop: t.shop, payment: p.payment, commit: commit) else {
                    throw QRPayError(.payoutMismatch, "payout \(prepared.id) covers \(t.shop)/\(p.payment), which has no record")
                }
                let paid = layout.paidPath(info: record.info)
                if record.payout == prepared.id {
                    if !FileIO.exists(paid) {
                        try context.ensureDirectory(FileIO.parentDirectory(paid))
                        try commit.write(Data(), to: paid, mode: 0o640, ifExists: .replace)
                        staged += 1
                    }
                    commit.remove(layout.unpaidPath(info: record.info))
                    continue
                }
                guard record.payout == nil, record.state == .finish else {
                    throw QRPayError(.payoutMismatch, "payout \(prepared.id) covers \(t.shop)/\(p.payment), which is \(record.state.rawValue) and paid by \(record.payout ?? "nothing")")
                }
                try context.ensureDirectory(FileIO.parentDirectory(paid))
                try commit.write(Data(), to: paid, mode: 0o640, ifExists: .replace)
                commit.remove(layout.unpaidPath(info: record.info))
                record.payout = prepared.id
                commit.journal(store.journal, TransitionRequest(.payout(id: prepared.id), shop: t.shop, subject: p.payment,
                                                                evidenceHash: manifestHash, at: prepared.created))
                try commit.write(record.serialized(), to: layout.recordPath(shop: t.shop, payment: p.payment), mode: 0o640,
                                 ifExists: .replace, last: true)
                staged += 1
            }
        }
        try commit.flush()
        let last = GroupCommit(context: context)
        for t in prepared.transfers {
            last.journal(store.journal, TransitionRequest(.payoutState(from: nil, to: .sent), shop: t.shop, subject: t.endToEndId,
                                                          evidenceHash: prepared.fileHash, at: prepared.created))
        }
        var sent = prepared
        sent.state = .sent
        try last.write(sent.serialized(), to: layout.payoutRecordPath(payout: prepared.id), mode: 0o640, ifExists: .replace, last: true)
        last.remove(layout.preparedPayoutPath(payout: prepared.id))
        try last.flush()
    }

    /// The ids in the prepared index. A spool whose payouts predate it has none: then every record
    /// is read once, the prepared ones indexed, and the index directory made (only after, so that
    /// a crash in between repeats the whole read).
    func preparedPayouts(context: StageContext) throws -> [String] {
        let dir = layout.preparedPayoutsDirectory
        if FileIO.isDirectory(dir) {
            return try FileIO.listDirectory(dir).filter { Identifier.isValid($0) }.sorted()
        }
        let ids = try payouts.ids().filter { (try? payouts.load($0))??.state == .prepared }
        let building = dir + ".new"
        try? FileIO.removeTree(building)
        try context.ensureDirectory(building)
        for id in ids { try Durable.write(Data(), to: building + "/" + id, mode: 0o640, ifExists: .replace) }
        try FileIO.renameDurably(building, to: dir)
        return ids
    }

    /// Builds the unpaid index (pg/unpaid) the first time: every finish marker without a paid
    /// marker whose record is unpaid, written into pg/unpaid.new, renamed into place whole. From
    /// then on settle adds each finished payment and the payout removes each paid one.
    func buildUnpaidIndex(context: StageContext) throws {
        guard !FileIO.isDirectory(layout.unpaidDirectory) else { return }
        let building = layout.unpaidDirectory + ".new"
        try? FileIO.removeTree(building)
        try context.ensureDirectory(building)
        var commit = GroupCommit(context: context)
        var staged = 0
        for day in try store.days(in: .finish) {
            let paid = Set((try? FileIO.listDirectory(layout.paidDirectory(day: day))) ?? [])
            try store.forEachMarker(in: .finish, day: day) { m in
                let name = StateMarker.name(shop: m.shop, payment: m.payment, currency: m.currency, total: m.total)
                if paid.contains(name) { return }
                guard let record = try store.load(shop: m.shop, payment: m.payment), store.isUnpaid(record) else { return }
                try context.ensureDirectory(building + "/" + day)
                try commit.write(Data(), to: building + "/" + day + "/" + name, mode: 0o640, ifExists: .replace)
                staged += 1
                if staged == paymentsPerCommit {
                    try commit.flush()
                    commit = GroupCommit(context: context)
                    staged = 0
                }
            }
        }
        try commit.flush()
        try FileIO.renameDurably(building, to: layout.unpaidDirectory)
    }
}
