// `qrpay-reconcile --payouts`: per shop and day, what finished, what was paid out and what the bank
// booked, and every difference between them.
//
// The day is the payments' creation day (UTC), as for the payment reconciliation: the finished
// payments are that day's finish markers; a payment is paid out when a payout record covers it and
// the journal (the ledger of record) records it paid by that payout; booked when its credit transfer
// is booked. Differences (`kind`):
//   unjournaled            a payout record covers the payment, the journal does not record it paid by
//                          that payout (its tail cut, the record written by hand): not counted paid out
//   not-paid-out           finished, but no payout covers it (yet: a shop without an account waits)
//   paid-twice             two payouts cover the same payment
//   rejected               the bank rejected the transfer that pays it (with the bank's reason)
//   booked-amount          the bank booked the transfer with another amount than the file said
//   not-booked             sent more than --booking-days days ago, never booked
//   booked-without-payout  a debit the bank booked on that day that matches no payout's transfer
// A transfer paying several payments of the day is listed once.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments
import QRPayLedger

package struct PayoutDifference: Equatable, Sendable {
    package let kind: String
    package let shop: String
    package let currency: String
    package let payment: String?
    package let payout: String?
    package let endToEndId: String?
    package let expected: Int64?
    package let actual: Int64?
    package let message: String

    package var json: JSONValue {
        var o: [String: JSONValue] = ["kind": .string(kind), "shop": .string(shop), "currency": .string(currency), "message": .string(message)]
        if let payment { o["payment"] = .string(payment) }
        if let payout { o["payout"] = .string(payout) }
        if let endToEndId { o["endToEndId"] = .string(endToEndId) }
        if let expected { o["expected"] = .int(expected) }
        if let actual { o["actual"] = .int(actual) }
        return .object(o)
    }
}

package struct PayoutRow: Equatable, Sendable {
    package var finished = Tally()
    package var paidOut = Tally()
    package var booked = Tally()
}

package struct PayoutReconcileReport: Sendable {
    package let day: String
    package let generated: Date
    /// "SHOP CUR" → row.
    package var rows: [String: (shop: String, currency: String, row: PayoutRow)] = [:]
    package var differences: [PayoutDifference] = []

    package var json: JSONValue {
        let shops: [JSONValue] = rows.keys.sorted().map { key in
            let r = rows[key]!
            func tally(_ t: Tally) -> JSONValue { ["count": .int(t.count), "total": .int(t.total)] }
            return ["shop": .string(r.shop), "currency": .string(r.currency), "finished": tally(r.row.finished),
                    "paidOut": tally(r.row.paidOut), "booked": tally(r.row.booked)]
        }
        return ["v": 1, "day": .string(day), "generated": .string(Timestamp.format(generated)), "shops": .array(shops),
                "differences": .array(differences.map(\.json))]
    }

    /// One header; a `total` row per shop and currency, a `difference` row each.
    package var csv: String {
        var lines = ["section,shop,currency,finished,finishedTotal,paidOut,paidOutTotal,booked,bookedTotal,kind,payment,payout,endToEndId,expected,actual,message"]
        func field(_ s: String) -> String {
            guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        for key in rows.keys.sorted() {
            let r = rows[key]!
            lines.append(["total", r.shop, r.currency, String(r.row.finished.count), String(r.row.finished.total), String(r.row.paidOut.count),
                          String(r.row.paidOut.total), String(r.row.booked.count), String(r.row.booked.total), "", "", "", "", "", "", ""]
                .map(field).joined(separator: ","))
        }
        for d in differences {
            lines.append(["difference", d.shop, d.currency, "", "", "", "", "", "", d.kind, d.payment ?? "", d.payout ?? "", d.endToEndId ?? "",
                          d.expected.map(String.init) ?? "", d.actual.map(String.init) ?? "", d.message].map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

package enum PayoutReconcile {
    package static let defaultBookingDays = 5

    /// The payouts the journal records for each payment ("shop/payment" → payout ids), from the
    /// journal's files of `day` on (a payment is paid out after it was created).
    static func journalPayouts(_ journal: Journal, since day: String) throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        for file in try journal.files() where (file as NSString).lastPathComponent >= day + ".jsonl" {
            let reader = try LineReader(path: file)
            while let line = try reader.next() {
                guard !line.isEmpty, let entry = try? JournalEntry(line: line), case .payout(let id) = entry.event else { continue }
                out[entry.shop + "/" + entry.payment, default: []].insert(id)
            }
        }
        return out
    }

    package static func run(layout: SpoolLayout, day: String, bookingDays: Int = defaultBookingDays, now: Date = Date()) throws -> PayoutReconcileReport {
        var report = PayoutReconcileReport(day: day, generated: now)
        let store = PaymentStore(layout: layout)
        let payouts = try PayoutStore(layout: layout).all()
        // Which transfers cover each payment of the day.
        var covering: [String: [(payout: Payout, transfer: PayoutTransfer)]] = [:]
        for p in payouts {
            for t in p.transfers {
                for pay in t.payments where pay.day == day { covering[t.shop + "/" + pay.payment, default: []].append((p, t)) }
            }
        }
        let journaled = covering.isEmpty ? [:] : try journalPayouts(store.journal, since: day)
        func row(_ shop: String, _ currency: String, _ body: (inout PayoutRow) throws -> Void) rethrows {
            let key = shop + " " + currency
            var r = report.rows[key] ?? (shop, currency, PayoutRow())
            try body(&r.row)
            report.rows[key] = r
        }
        var listed = Set<String>()  // end-to-end ids already listed
        try store.forEachMarker(in: .finish, day: day) { m in
            try row(m.shop, m.currency) { try $0.finished.add(m.total) }
            let key = m.shop + "/" + m.payment
            let recorded = covering[key] ?? []
            for id in Set(recorded.map(\.payout.id)).sorted() where !(journaled[key] ?? []).contains(id) {
                report.differences.append(PayoutDifference(kind: "unjournaled", shop: m.shop, currency: m.currency, payment: m.payment,
                                                           payout: id, endToEndId: nil, expected: m.total, actual: nil,
                                                           message: "payout \(id) covers payment \(key), but the journal does not record it paid by \(id): not counted as paid out (the journal is the ledger of record)"))
            }
            let found = recorded.filter { (journaled[key] ?? []).contains($0.payout.id) }
            let ids = Array(Set(found.map(\.payout.id))).sorted()
            if ids.isEmpty {
                report.differences.append(PayoutDifference(kind: "not-paid-out", shop: m.shop, currency: m.currency, payment: m.payment, payout: nil,
                                                           endToEndId: nil, expected: m.total, actual: nil,
                                                           message: "payment \(m.shop)/\(m.payment) finished but no payout covers it"))
                return
            }
            if ids.count > 1 {
                report.differences.append(PayoutDifference(kind: "paid-twice", shop: m.shop, currency: m.currency, payment: m.payment,
                                                           payout: ids.joined(separator: " "), endToEndId: nil, expected: m.total,
                                                           actual: m.total * Int64(ids.count),
                                                           message: "payment \(m.shop)/\(m.payment) is covered by \(ids.count) payouts: \(ids.joined(separator: ", "))"))
            }
            try row(m.shop, m.currency) { try $0.paidOut.add(m.total) }
            let (payout, transfer) = found[0]
            if transfer.status == .booked { try row(m.shop, m.currency) { try $0.booked.add(m.total) } }
            guard listed.insert(transfer.endToEndId).inserted else { return }
            let cur = payout.currency
            let overdue = now.timeIntervalSince(payout.created) > Double(bookingDays) * 86_400
            switch transfer.status {
            case .rejected:
                report.differences.append(PayoutDifference(kind: "rejected", shop: m.shop, currency: m.currency, payment: nil, payout: payout.id,
                                                           endToEndId: transfer.endToEndId, expected: transfer.amount, actual: nil,
                                                           message: "the bank rejected \(transfer.endToEndId) (\(cur.format(transfer.amount)))" + (transfer.reason.map { ": \($0)" } ?? "")))
            case .booked where transfer.bookedAmount != transfer.amount:
                report.differences.append(PayoutDifference(kind: "booked-amount", shop: m.shop, currency: m.currency, payment: nil, payout: payout.id,
                                                           endToEndId: transfer.endToEndId, expected: transfer.amount, actual: transfer.bookedAmount,
                                                           message: "the bank booked \(transfer.endToEndId) with \(cur.format(transfer.bookedAmount ?? 0)), not \(cur.format(transfer.amount))"))
            case .sent where overdue, .accepted where overdue:
                report.differences.append(PayoutDifference(kind: "not-booked", shop: m.shop, currency: m.currency, payment: nil, payout: payout.id,
                                                           endToEndId: transfer.endToEndId, expected: transfer.amount, actual: nil,
                                                           message: "\(transfer.endToEndId) was sent \(Timestamp.format(payout.created)) and is not booked after \(bookingDays) days"))
            default: break
            }
        }
        // Debits the bank booked that day that match no transfer.
        for record in try bankRecords(layout: layout) {
            for item in record["items"]?.arrayValue ?? [] {
                guard item["kind"]?.stringValue == "booking", item["status"]?.stringValue == "BOOK", item["creditDebit"]?.stringValue == "DBIT",
                      item["matched"] == .bool(false), item["day"]?.stringValue == day else { continue }
                let e2e = item["endToEndId"]?.stringValue
                let currency = item["currency"]?.stringValue ?? ""
                let amount = item["amount"]?.intValue
                let shown = (try? Currency(currency)).map { $0.format(amount ?? 0) } ?? "\(amount ?? 0) \(currency)"
                report.differences.append(PayoutDifference(kind: "booked-without-payout", shop: "", currency: currency, payment: nil, payout: nil,
                                                           endToEndId: e2e, expected: nil, actual: amount,
                                                           message: "the bank booked a debit of \(shown)\(e2e.map { " (end-to-end id \($0))" } ?? "") in \(record["file"]?.stringValue ?? "?") that matches no payout"))
            }
        }
        report.differences.sort { ($0.shop, $0.kind, $0.payment ?? "", $0.endToEndId ?? "") < ($1.shop, $1.kind, $1.payment ?? "", $1.endToEndId ?? "") }
        return report
    }

    static func bankRecords(layout: SpoolLayout) throws -> [JSONValue] {
        guard FileIO.isDirectory(layout.bankRecordsDirectory) else { return [] }
        return try FileIO.listDirectory(layout.bankRecordsDirectory).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().compactMap {
            try? JSONValue.parse(try FileIO.read(layout.bankRecordsDirectory + "/" + $0, maxBytes: 64 << 20), options: .init(maxBytes: 64 << 20))
        }
    }

    package static func fileName(day: String, format: Reconcile.Format) -> String { "payouts-\(day).\(format.rawValue)" }

    package static func bytes(_ report: PayoutReconcileReport, format: Reconcile.Format) -> Data {
        format == .json ? report.json.serialized(pretty: true) : Data(report.csv.utf8)
    }

    /// Writes the report durably into `directory` (replacing an earlier one of the same day).
    package static func write(_ report: PayoutReconcileReport, format: Reconcile.Format, directory: String) throws -> String {
        try FileIO.makePath(directory, mode: 0o750)
        let path = directory + "/" + fileName(day: report.day, format: format)
        let commit = GroupCommit(context: StageContext(spoolRoot: directory))
        try commit.write(bytes(report, format: format), to: path, mode: 0o640, ifExists: .replace)
        try commit.flush()
        return path
    }
}
