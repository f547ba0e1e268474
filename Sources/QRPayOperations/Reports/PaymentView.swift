// A payment record as a person reads it (qrpay-spool show), like postcat for a queue file.

import Foundation
import QRPaySupport
import QRPayLedger

package enum PaymentView {
    package static func text(_ r: PaymentRecord) -> String {
        let c = r.info.currency
        var lines = [
            "payment   \(r.info.shop)/\(r.info.payment)",
            "state     \(r.state.rawValue)",
            "total     \(c.format(r.info.total))",
            "created   \(Timestamp.format(r.info.created))",
            "expires   \(Timestamp.format(r.info.expires))",
            "shop cert \(r.signer["name"]?.stringValue ?? "?") (\(r.signer["fingerprint"]?.stringValue ?? "?"))",
        ]
        if let user = r.user { lines.append("user      \(user)") }
        if let payout = r.payout { lines.append("payout    \(payout)") }
        lines.append("qr        \(r.qrPath)")
        lines.append("items")
        for item in r.info.items {
            lines.append("  \(item.quantity) × \(item.name) @ \(c.format(item.unitPrice)) = \(c.format(item.amount))")
        }
        lines.append("history")
        for h in r.history {
            let type = h.evidence["type"]?.stringValue ?? "?"
            var detail = ""
            if let user = h.evidence["user"]?.stringValue { detail += " user=\(user)" }
            if let reason = h.evidence["reason"]?.stringValue, !reason.isEmpty { detail += " reason=\"\(reason)\"" }
            if let hash = h.evidence["documentHash"]?.stringValue { detail += " document=\(hash.prefix(16))…" }
            lines.append("  \(Timestamp.format(h.at))  \(h.state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) by \(type)\(detail)")
        }
        return lines.joined(separator: "\n")
    }
}
