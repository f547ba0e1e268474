// The bench table: one row per decoder (or pipeline stage), reusable by every benchmark.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One measured row: a name, how many items succeeded out of how many, and per-item times.
struct BenchRow {
    var name: String
    var succeeded: Int
    var total: Int
    var milliseconds: [Double]
    var note: String = ""

    var rate: Double { total == 0 ? 0 : Double(succeeded) / Double(total) }
    var median: Double { BenchRow.percentile(milliseconds, 0.5) }
    var p95: Double { BenchRow.percentile(milliseconds, 0.95) }

    /// Nearest-rank percentile.
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count - 1, rank - 1))]
    }
}

enum BenchTable {
    /// A fixed-width text table: name, rate, median ms, p95 ms, note.
    static func render(_ rows: [BenchRow], title: String) -> String {
        let nameWidth = max(12, rows.map(\.name.count).max() ?? 0)
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? fill + s : s + fill
        }
        var lines = [title]
        lines.append(pad("", nameWidth) + "  " + pad("read", 12, left: true) + "  " + pad("rate", 6, left: true)
                     + "  " + pad("median ms", 10, left: true) + "  " + pad("p95 ms", 10, left: true) + "  note")
        for row in rows {
            lines.append(pad(row.name, nameWidth) + "  " + pad("\(row.succeeded)/\(row.total)", 12, left: true)
                         + "  " + pad(String(format: "%.0f%%", row.rate * 100), 6, left: true)
                         + "  " + pad(String(format: "%.1f", row.median), 10, left: true)
                         + "  " + pad(String(format: "%.1f", row.p95), 10, left: true) + "  " + row.note)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Peak resident set size of this process so far, in MiB (Linux VmHWM).
    static func peakRSSMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return .nan }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? .nan
            return kb / 1024
        }
        return .nan
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
