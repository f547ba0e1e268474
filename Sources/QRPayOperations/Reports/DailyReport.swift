// `qrpay-spool report`: the daily report, after pflogsumm (a text summary mailed by cron) and
// mailgraph (graphs of the traffic). For one or more UTC days, per hour:
//
//   registered, accepted, finished, cancelled, expired   the journal's transitions that hour
//   refused                                              quarantine reason files written that hour, by code
//   accepted amounts per currency                        from the state markers' names (SHOP~PAYMENT~CUR~TOTAL)
//   request → accept p50 / p95                           from the journal (the request's and the accept's times)
//
// and, as of now: queue depth and oldest file per queue (as `status`), deferred files by reason
// code, payments per state with their sums (as `status`), and the payments created on the days by
// state and currency (as `qrpay-reconcile` counts them).
//
// Streaming, bounded memory: journal files are read line by line (the days', and the day before
// for the requests of payments accepted after midnight); the markers of those creation days give
// each payment's amount. What is kept grows with the days' payments, never with the spool.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments
import QRPayLedger

package struct DailyReport: Sendable {
    /// The transitions counted per hour, in the order the report shows them.
    package static let transitions: [(state: PaymentState, name: String)] = [
        (.request, "registered"), (.accept, "accepted"), (.finish, "finished"), (.cancel, "cancelled"), (.expire, "expired"),
    ]
    package static let columns = transitions.map(\.name) + ["refused"]

    package struct Hour: Sendable {
        package let day: String
        package let hour: Int
        /// registered, accepted, finished, cancelled, expired, refused.
        package var counts: [String: Int] = [:]
        /// Accepted amounts per currency, in minor units.
        package var accepted: [String: Int64] = [:]
        package var label: String { "\(day) \(hour < 10 ? "0" : "")\(hour):00" }
    }

    package let days: [String]
    package let generated: Date
    package var hours: [Hour]
    package var refusedByCode: [String: Int] = [:]
    /// Request → accept, in seconds, of the payments accepted on the days.
    package var latencies: [Double] = []
    /// Payments created on the days, by state and currency (as qrpay-reconcile).
    package var created: [PaymentState: [String: Tally]] = [:]
    /// Queues and payments now (as qrpay-spool status).
    package var status: SpoolStatus
    package var deferredByCode: [String: Int] = [:]
    /// Queues this user may not read.
    package var skipped: [String] = []

    package var totals: [String: Int] {
        var t: [String: Int] = [:]
        for h in hours { for (k, v) in h.counts { t[k, default: 0] += v } }
        return t
    }

    package var acceptedTotals: [String: Int64] {
        var t: [String: Int64] = [:]
        for h in hours { for (k, v) in h.accepted { t[k, default: 0] &+= v } }
        return t
    }

    /// The p-th percentile (nearest rank) of the latencies, nil when there are none.
    package func percentile(_ p: Double) -> Double? {
        guard !latencies.isEmpty else { return nil }
        let sorted = latencies.sorted()
        let rank = max(1, Int((p / 100 * Double(sorted.count)).rounded(.up)))
        return sorted[min(rank, sorted.count) - 1]
    }

    /// The days `day` and the `count - 1` before it, oldest first.
    package static func days(ending day: String, count: Int) -> [String] {
        guard let end = Timestamp.parse(day + "T00:00:00Z") else { return [day] }
        return (0..<count).reversed().map { Timestamp.day(end - Double($0) * 86400) }
    }

    package static func collect(spoolRoot root: String, days: [String], now: Date = Date(), progress: ((Int) -> Void)? = nil) throws -> DailyReport {
        let layout = SpoolLayout(root: root)
        guard FileIO.isDirectory(layout.pgDirectory) else {
            throw QRPayError(.spoolMissing, "there is no PG spool at \(root) (no pg/ directory): give the spool with --spool DIR or set $QRPAY_SPOOL")
        }
        var report = DailyReport(days: days, generated: now,
                                 hours: days.flatMap { d in (0..<24).map { Hour(day: d, hour: $0) } },
                                 status: try SpoolStatus.collect(spoolRoot: root, now: now))
        report.skipped = report.status.skipped
        let wanted = Set(days)
        let index = Dictionary(uniqueKeysWithValues: days.enumerated().map { ($1, $0) })
        func slot(_ date: Date) -> Int? {
            let stamp = Timestamp.format(date)
            guard let d = index[String(stamp.prefix(10))], let h = Int(stamp.dropFirst(11).prefix(2)) else { return nil }
            return d * 24 + h
        }
        // Amounts of the payments created on the days (and the day before: accepted after midnight).
        let creationDays = Set([days.first.map { Timestamp.day((Timestamp.parse($0 + "T00:00:00Z") ?? now) - 86400) } ?? ""] + days)
        var amounts: [String: (String, Int64)] = [:]
        var seen = 0
        for state in PaymentState.allCases {
            for day in creationDays.sorted() where !day.isEmpty {
                try FileIO.forEachEntry(layout.stateDirectory(state, day: day)) { name, isDirectory in
                    guard !isDirectory, !name.hasPrefix("."), let m = StateMarker(name: name, state: state, day: day) else { return }
                    amounts[m.shop + "/" + m.payment] = (m.currency, m.total)
                    if wanted.contains(day) { try report.created[state, default: [:]][m.currency, default: Tally()].add(m.total) }
                    seen += 1
                    if seen % 10_000 == 0 { progress?(seen) }
                }
            }
        }
        // The journal: the days' files and the day before's (requests), plus the day after's (an
        // entry goes into the file of the later of its time and the previous entry's).
        var requested: [String: Date] = [:]
        var files = Set(creationDays)
        if let last = days.last, let t = Timestamp.parse(last + "T00:00:00Z") { files.insert(Timestamp.day(t + 86400)) }
        for day in files.sorted() where !day.isEmpty {
            let path = layout.journalFile(day: day)
            guard FileIO.exists(path) else { continue }
            let reader = try LineReader(path: path)
            while let line = try reader.next() {
                guard !line.isEmpty, let entry = try? JournalEntry(line: line) else { continue }
                guard let (_, to) = entry.transition else { continue }  // payouts and accounts share the chain
                seen += 1
                if seen % 10_000 == 0 { progress?(seen) }
                let key = entry.shop + "/" + entry.payment
                if to == .request { requested[key] = entry.at }
                guard let s = slot(entry.at), let name = transitions.first(where: { $0.state == to })?.name else { continue }
                report.hours[s].counts[name, default: 0] += 1
                if to == .accept {
                    if let (cur, total) = amounts[key] { report.hours[s].accepted[cur, default: 0] &+= total }
                    if let asked = requested[key] { report.latencies.append(max(0, entry.at.timeIntervalSince(asked))) }
                }
            }
        }
        // Refusals (quarantine reason files written on the days) and deferrals now, by code.
        let (files2, skipped) = try QueueTools.list(spoolRoot: root, states: [.quarantined, .deferred])
        for name in skipped where !report.skipped.contains(name) { report.skipped.append(name) }
        for file in files2 {
            if file.state == .deferred {
                report.deferredByCode[file.code ?? "unknown", default: 0] += 1
            } else if let at = file.at, let s = slot(at) {
                report.hours[s].counts["refused", default: 0] += 1
                report.refusedByCode[file.code ?? "unknown", default: 0] += 1
            }
        }
        return report
    }

    // MARK: JSON

    package var json: JSONValue {
        func tallies(_ byCurrency: [String: Tally]) -> JSONValue {
            .object(Dictionary(uniqueKeysWithValues: byCurrency.map { ($0.key, $0.value.json(currency: $0.key)) }))
        }
        var createdJSON: [String: JSONValue] = [:]
        for state in PaymentState.allCases { createdJSON[state.rawValue] = tallies(created[state] ?? [:]) }
        return [
            "v": 1, "days": .array(days.map { .string($0) }), "generated": .string(Timestamp.format(generated)),
            "totals": .object(totals.mapValues { .int(Int64($0)) }),
            "accepted": .array(acceptedTotals.sorted { $0.key < $1.key }.map { Currency.amountJSON(code: $0.key, minor: $0.value) }),
            "hours": .array(hours.map { h in
                ["day": .string(h.day), "hour": .int(Int64(h.hour)),
                 "counts": .object(Dictionary(uniqueKeysWithValues: DailyReport.columns.map { ($0, .int(Int64(h.counts[$0] ?? 0))) })),
                 "accepted": .array(h.accepted.sorted { $0.key < $1.key }.map { Currency.amountJSON(code: $0.key, minor: $0.value) })]
            }),
            "refusedByCode": .object(refusedByCode.mapValues { .int(Int64($0)) }),
            "deferredByCode": .object(deferredByCode.mapValues { .int(Int64($0)) }),
            "requestToAccept": ["payments": .int(Int64(latencies.count)),
                                "p50Seconds": percentile(50).map { .int(Int64($0.rounded())) } ?? .null,
                                "p95Seconds": percentile(95).map { .int(Int64($0.rounded())) } ?? .null],
            "created": .object(createdJSON),
            "status": status.json,
            "skipped": .array(skipped.map { .string($0) }),
        ]
    }

    // MARK: text (pflogsumm-style)

    static func seconds(_ t: Double?) -> String {
        guard let t else { return "-" }
        return t < 120 ? "\(Int(t.rounded())) s" : t < 7200 ? String(format: "%.1f min", t / 60) : String(format: "%.1f h", t / 3600)
    }

    package var text: String {
        let span = days.count == 1 ? days[0] : "\(days.first!) to \(days.last!)"
        var lines = ["QR-Pay report for \(span) (UTC), generated \(Timestamp.format(generated))", "", "Grand totals", "------------"]
        let t = totals
        for name in DailyReport.columns { lines.append("\(String(t[name] ?? 0).leftPad(9))   \(name)") }
        for (cur, minor) in acceptedTotals.sorted(by: { $0.key < $1.key }) {
            lines.append("\(Currency.format(code: cur, minor: minor).leftPad(20))   accepted")
        }
        lines.append("request → accept: p50 \(DailyReport.seconds(percentile(50))), p95 \(DailyReport.seconds(percentile(95))) (\(latencies.count) payments)")
        lines += ["", "Payments created on \(span), by state (as qrpay-reconcile)", "--------------------------------------------------"]
        for state in PaymentState.allCases {
            let byCur = created[state] ?? [:]
            let count = byCur.values.reduce(Int64(0)) { $0 + $1.count }
            let sums = byCur.sorted { $0.key < $1.key }.map { Currency.format(code: $0.key, minor: $0.value.total) }.joined(separator: ", ")
            lines.append("\(state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(String(count).leftPad(8))  \(sums)")
        }
        lines += ["", "Per-hour traffic summary", "------------------------",
                  "hour              " + DailyReport.columns.map { $0.leftPad(11) }.joined() + "  accepted amounts"]
        for h in hours where !h.counts.isEmpty {
            lines.append(h.label.padding(toLength: 18, withPad: " ", startingAt: 0)
                         + DailyReport.columns.map { String(h.counts[$0] ?? 0).leftPad(11) }.joined()
                         + "  " + h.accepted.sorted { $0.key < $1.key }.map { Currency.format(code: $0.key, minor: $0.value) }.joined(separator: ", "))
        }
        if hours.allSatisfy({ $0.counts.isEmpty }) { lines.append("(no traffic)") }
        lines += ["", "Refused by reason", "-----------------"]
        lines += refusedByCode.isEmpty ? ["none"] : refusedByCode.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\(String($0.value).leftPad(9))   \($0.key)" }
        lines += ["", "Deferred now by reason", "----------------------"]
        lines += deferredByCode.isEmpty ? ["none"] : deferredByCode.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\(String($0.value).leftPad(9))   \($0.key)" }
        lines += ["", "Queues now (as qrpay-spool status)", "----------------------------------", status.text]
        if !skipped.isEmpty { lines.append("not readable by this user, skipped: \(skipped.joined(separator: ", "))") }
        return lines.joined(separator: "\n") + "\n"
    }
}
