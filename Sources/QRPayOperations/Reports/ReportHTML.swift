// The daily report as one self-contained HTML page (`qrpay-spool report --html FILE`), after
// mailgraph: inline CSS and inline SVG charts, no JavaScript, no fonts, images or anything else
// fetched, so a browser opens it from a mail, a file or a web server alike. Every number a script
// may want to compare carries a `data-k` attribute (`total.accepted`, `created.finish.KRW.total`,
// `now.finish.count`, `queue.pg/inbox.waiting`).

import Foundation
import QRPaySupport
import QRPayPayments

extension DailyReport {
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static let palette = ["#4e79a7", "#59a14f", "#9c755f", "#f28e2b", "#bab0ac", "#e15759"]

    /// A number with its key, for people and for scripts.
    static func n(_ key: String, _ value: String) -> String { "<span class=\"n\" data-k=\"\(escape(key))\">\(escape(value))</span>" }

    /// Stacked bars, one per label: `series` (name, color, value per label).
    static func barChart(title: String, labels: [String], series: [(String, String, [Double])], valueText: (Double) -> String,
                         id: String) -> String {
        let width = 960.0, height = 240.0, left = 56.0, bottom = 28.0, top = 12.0
        let plotWidth = width - left - 12, plotHeight = height - bottom - top
        let totals = labels.indices.map { i in series.reduce(0) { $0 + $1.2[i] } }
        let maximum = max(totals.max() ?? 0, 1)
        let step = plotWidth / Double(max(labels.count, 1))
        var svg = "<svg class=\"chart\" id=\"\(id)\" role=\"img\" aria-label=\"\(escape(title))\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<title>\(escape(title))</title>"
        for k in 0...4 {
            let y = top + plotHeight - plotHeight * Double(k) / 4
            svg += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(width - 12)\" y2=\"\(y)\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">\(escape(valueText(maximum * Double(k) / 4)))</text>"
        }
        for (i, label) in labels.enumerated() {
            var y = top + plotHeight
            let x = left + Double(i) * step + step * 0.1
            for (name, color, values) in series where values[i] > 0 {
                let h = plotHeight * values[i] / maximum
                y -= h
                svg += "<rect class=\"bar\" x=\"\(String(format: "%.1f", x))\" y=\"\(String(format: "%.1f", y))\" width=\"\(String(format: "%.1f", step * 0.8))\" height=\"\(String(format: "%.1f", h))\" fill=\"\(color)\"><title>\(escape(label)): \(escape(valueText(values[i]))) \(escape(name))</title></rect>"
            }
            if labels.count <= 24 || i % 6 == 0 {
                let short = label.count > 12 ? String(label.suffix(label.count > 16 ? 11 : label.count)) : label
                svg += "<text x=\"\(String(format: "%.1f", x + step * 0.4))\" y=\"\(height - 10)\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">\(escape(short))</text>"
            }
        }
        svg += "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(width - 12)\" y2=\"\(top + plotHeight)\" stroke=\"#333\"/></svg>"
        var legend = "<p class=\"legend\">"
        for (name, color, _) in series { legend += "<span><i style=\"background:\(color)\"></i>\(escape(name))</span> " }
        return "<figure><figcaption>\(escape(title))</figcaption>\(svg)\(legend)</p></figure>"
    }

    package var html: String {
        let span = days.count == 1 ? days[0] : "\(days.first!) to \(days.last!)"
        let labels = hours.map { days.count == 1 ? String(format: "%02d", $0.hour) : "\($0.day.suffix(5)) \(String(format: "%02d", $0.hour))" }
        var body = "<h1>QR-Pay report for \(DailyReport.escape(span)) (UTC)</h1>"
        body += "<p class=\"meta\">generated \(Timestamp.format(generated)) by qrpay-spool report</p>"

        // Grand totals.
        let t = totals
        body += "<section><h2>Grand totals</h2><table class=\"totals\"><tr>"
        for name in DailyReport.columns { body += "<th>\(name)</th>" }
        body += "</tr><tr>"
        for name in DailyReport.columns { body += "<td>\(DailyReport.n("total.\(name)", String(t[name] ?? 0)))</td>" }
        body += "</tr></table>"
        body += "<p>Accepted: " + (acceptedTotals.isEmpty ? "none" : acceptedTotals.sorted { $0.key < $1.key }.map {
            DailyReport.n("accepted.\($0.key)", Currency.format(code: $0.key, minor: $0.value))
        }.joined(separator: ", ")) + "</p>"
        body += "<p>Request → accept: p50 \(DailyReport.n("latency.p50", DailyReport.seconds(percentile(50)))), p95 \(DailyReport.n("latency.p95", DailyReport.seconds(percentile(95)))) over \(DailyReport.n("latency.count", String(latencies.count))) payments</p></section>"

        // Charts per hour.
        let series: [(String, String, [Double])] = DailyReport.columns.enumerated().map { i, name in
            (name, DailyReport.palette[i % DailyReport.palette.count], hours.map { Double($0.counts[name] ?? 0) })
        }
        body += "<section><h2>Per hour</h2>"
        body += DailyReport.barChart(title: "Payments per hour (UTC)", labels: labels, series: series, valueText: { String(Int($0.rounded())) }, id: "chart-hourly")
        let currencies = Set(hours.flatMap { $0.accepted.keys }).sorted()
        for (k, cur) in currencies.enumerated() {
            let exponent = (try? Currency(cur))?.exponent ?? 0
            var scale = 1.0
            for _ in 0..<exponent { scale *= 10 }
            body += DailyReport.barChart(title: "Accepted amounts per hour, \(cur)", labels: labels,
                                         series: [(cur, DailyReport.palette[(k + 1) % DailyReport.palette.count], hours.map { Double($0.accepted[cur] ?? 0) / scale })],
                                         valueText: { String(format: "%.\(exponent)f", $0) }, id: "chart-amount-\(cur)")
        }
        body += "<table class=\"hours\"><tr><th>hour</th>" + DailyReport.columns.map { "<th>\($0)</th>" }.joined() + "<th>accepted amounts</th></tr>"
        for (i, h) in hours.enumerated() where !h.counts.isEmpty {
            body += "<tr><td>\(DailyReport.escape(h.label))</td>" + DailyReport.columns.map { "<td>\(DailyReport.n("hour.\(i).\($0)", String(h.counts[$0] ?? 0)))</td>" }.joined()
                + "<td>" + h.accepted.sorted { $0.key < $1.key }.map { DailyReport.escape(Currency.format(code: $0.key, minor: $0.value)) }.joined(separator: ", ") + "</td></tr>"
        }
        body += "</table></section>"

        // Payments created on the days, as qrpay-reconcile; payments now, as status.
        body += "<section><h2>Payments created on \(DailyReport.escape(span)), by state</h2><p class=\"meta\">as qrpay-reconcile counts them</p><table><tr><th>state</th><th>count</th><th>amounts</th></tr>"
        for state in PaymentState.allCases {
            let byCur = created[state] ?? [:]
            let count = byCur.values.reduce(Int64(0)) { $0 + $1.count }
            body += "<tr><td>\(state.rawValue)</td><td>\(DailyReport.n("created.\(state.rawValue).count", String(count)))</td><td>"
                + byCur.sorted { $0.key < $1.key }.map { cur, tally in
                    "<span class=\"n\" data-k=\"created.\(state.rawValue).\(DailyReport.escape(cur)).total\" data-minor=\"\(tally.total)\">\(DailyReport.escape(Currency.format(code: cur, minor: tally.total)))</span>"
                }.joined(separator: ", ") + "</td></tr>"
        }
        body += "</table></section>"
        body += "<section><h2>Payments now, by state</h2><p class=\"meta\">every day, as qrpay-spool status</p><table><tr><th>state</th><th>count</th><th>sums</th></tr>"
        for state in PaymentState.allCases {
            body += "<tr><td>\(state.rawValue)</td><td>\(DailyReport.n("now.\(state.rawValue).count", String(status.payments[state] ?? 0)))</td><td>"
                + (status.sums[state] ?? [:]).sorted { $0.key < $1.key }.map { DailyReport.escape(Currency.format(code: $0.key, minor: $0.value)) }.joined(separator: ", ")
                + "</td></tr>"
        }
        body += "</table></section>"

        // Queues now.
        body += "<section><h2>Queues now</h2>"
        let queueSeries: [(String, String, [Double])] = [
            ("waiting", DailyReport.palette[0], status.queues.map { Double($0.waiting) }),
            ("claimed", DailyReport.palette[4], status.queues.map { Double($0.claimed) }),
            ("deferred", DailyReport.palette[3], status.queues.map { Double($0.deferred) }),
            ("held", DailyReport.palette[2], status.queues.map { Double($0.held) }),
            ("quarantined", DailyReport.palette[5], status.queues.map { Double($0.quarantined) }),
        ]
        body += DailyReport.barChart(title: "Files per queue now", labels: status.queues.map(\.name), series: queueSeries,
                                     valueText: { String(Int($0.rounded())) }, id: "chart-queues")
        body += "<table><tr><th>queue</th><th>waiting</th><th>claimed</th><th>deferred</th><th>held</th><th>quarantined</th><th>oldest waiting</th></tr>"
        for q in status.queues {
            let k = "queue." + q.name
            body += "<tr><td>\(DailyReport.escape(q.name))</td><td>\(DailyReport.n(k + ".waiting", String(q.waiting)))</td><td>\(DailyReport.n(k + ".claimed", String(q.claimed)))</td>"
                + "<td>\(DailyReport.n(k + ".deferred", String(q.deferred)))</td><td>\(DailyReport.n(k + ".held", String(q.held)))</td>"
                + "<td>\(DailyReport.n(k + ".quarantined", String(q.quarantined)))</td><td>\(q.oldest.map(Timestamp.format) ?? "-")</td></tr>"
        }
        body += "</table>"
        if !skipped.isEmpty { body += "<p class=\"meta\">not readable by this user, skipped: \(DailyReport.escape(skipped.joined(separator: ", ")))</p>" }
        body += "</section>"

        // Refusals and deferrals by reason.
        for (title, key, table) in [("Refused by reason", "refused", refusedByCode), ("Deferred now by reason", "deferred", deferredByCode)] {
            body += "<section><h2>\(title)</h2>"
            if table.isEmpty { body += "<p>none</p></section>"; continue }
            let sorted = table.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
            body += DailyReport.barChart(title: title, labels: sorted.map(\.key),
                                         series: [(key, DailyReport.palette[key == "refused" ? 5 : 3], sorted.map { Double($0.value) })],
                                         valueText: { String(Int($0.rounded())) }, id: "chart-\(key)")
            body += "<table><tr><th>code</th><th>files</th></tr>" + sorted.map { "<tr><td>\(DailyReport.escape($0.key))</td><td>\(DailyReport.n("\(key).\($0.key)", String($0.value)))</td></tr>" }.joined() + "</table></section>"
        }

        let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;background:#fff}
        h1{font-size:22px}h2{font-size:17px;border-bottom:1px solid #ccc;padding-bottom:2px;margin-top:28px}
        table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
        th{background:#f2f2f2}td:first-child{text-align:left}.meta{color:#666;font-size:12px}
        figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}.legend span{margin-right:12px;font-size:12px}
        .legend i{display:inline-block;width:10px;height:10px;margin-right:4px}.totals td{font-size:20px;font-weight:600}
        """
        return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>QR-Pay report \(DailyReport.escape(span))</title>"
            + "<style>\(style)</style></head><body>\(body)</body></html>\n"
    }
}
