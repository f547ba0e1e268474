// Progress of a long command an operator runs by hand (check, reconcile, purge, init, report, a large
// --once drain): one line on stderr, rewritten in place ("qrpay-spool: check: 12,000 records,
// 4,100/s, about 3 s left"), only when stderr is a terminal. Under cron, systemd or a pipe nothing
// is printed, so mail and logs are unchanged.

import Foundation
import QRPaySpool
#if canImport(Glibc)
import Glibc
#endif

package final class ProgressLine: @unchecked Sendable {
    let prefix: String
    let unit: String
    let total: Int?
    let started = Date()
    var last = Date.distantPast
    var shown = false
    let lock = NSLock()
    /// Whether anything is printed at all: stderr is a terminal (QRPAY_PROGRESS=1 forces it, for tests).
    package let enabled: Bool

    /// `total`: how many there will be, when known (then the line says how long is left).
    package init(_ program: String, _ what: String, unit: String, total: Int? = nil) {
        prefix = "\(program): \(what): "
        self.unit = unit
        self.total = total
        let forced = ProcessInfo.processInfo.environment["QRPAY_PROGRESS"] == "1"
        enabled = forced || isatty(STDERR_FILENO) == 1
    }

    /// The count so far; redraws at most 5 times a second.
    package func update(_ count: Int) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(last) >= 0.2 else { return }
        last = now
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let rate = Double(count) / elapsed
        var text = prefix + ProgressLine.grouped(count) + (total.map { " of " + ProgressLine.grouped($0) } ?? "") + " \(unit)"
        if count > 0 { text += ", " + ProgressLine.grouped(Int(rate.rounded())) + "/s" }
        if let total, count > 0, total > count {
            text += ", about " + ProgressLine.duration(Double(total - count) / rate) + " left"
        }
        StandardError.write("\r" + text + "\u{1B}[K")
        shown = true
    }

    /// Clears the line (call before printing the result).
    package func finish() {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        if shown { StandardError.write("\r\u{1B}[K") }
        shown = false
    }

    static func grouped(_ n: Int) -> String {
        var digits = String(n), out = ""
        while digits.count > 3 { out = "," + digits.suffix(3) + out; digits.removeLast(3) }
        return digits + out
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 90 { return "\(Int(seconds.rounded(.up))) s" }
        if seconds < 5400 { return "\(Int((seconds / 60).rounded())) min" }
        return String(format: "%.1f h", seconds / 3600)
    }
}
