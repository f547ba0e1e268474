// What `qrpay-spool status` reports, like Postfix's `mailq` and `qshape`: per queue the files waiting
// (new/, cur/), deferred, held and quarantined, the oldest waiting file's age and an age histogram;
// per payment state the count and the sums per currency. Reads directory entries only (names and
// inode times), never the payment records, so it stays fast on a spool of millions of payments.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments
import QRPayLedger
#if canImport(Glibc)
import Glibc
#endif

package struct QueueStatus: Sendable {
    package let name: String
    package var waiting = 0
    package var claimed = 0
    package var deferred = 0
    package var held = 0
    package var quarantined = 0
    package var oldest: Date?
    /// Waiting files by age: <1m, <5m, <1h, <1d, older.
    package var ages = [0, 0, 0, 0, 0]
    package static let ageBuckets = ["<1m", "<5m", "<1h", "<1d", ">=1d"]

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "waiting": .int(Int64(waiting)), "claimed": .int(Int64(claimed)), "deferred": .int(Int64(deferred)),
            "held": .int(Int64(held)), "quarantined": .int(Int64(quarantined)),
            "ages": .object(Dictionary(uniqueKeysWithValues: zip(QueueStatus.ageBuckets, ages.map { .int(Int64($0)) }))),
        ]
        if let oldest { o["oldest"] = .string(Timestamp.format(oldest)) }
        return .object(o)
    }
}

package struct SpoolStatus: Sendable {
    package var queues: [QueueStatus] = []
    package var payments: [PaymentState: Int] = [:]
    package var sums: [PaymentState: [String: Int64]] = [:]
    /// Queues this user may not read (another party's own), skipped.
    package var skipped: [String] = []

    package static func collect(spoolRoot root: String, now: Date = Date()) throws -> SpoolStatus {
        var status = SpoolStatus()
        for named in try SpoolLayout(root: root).allQueues() {
            let name = named.name, queue = named.queue
            guard SpoolLayout.mayRead(queue.path) && SpoolLayout.mayRead(queue.newDirectory) else {
                status.skipped.append(name)
                continue
            }
            var q = QueueStatus(name: name)
            for entry in try FileIO.listDirectory(queue.newDirectory) where !entry.hasPrefix(".") {
                q.waiting += 1
                var st = stat()
                if lstat(queue.newDirectory + "/" + entry, &st) == 0 {
                    let t = Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec))
                    if q.oldest == nil || t < q.oldest! { q.oldest = t }
                    let age = now.timeIntervalSince(t)
                    q.ages[age < 60 ? 0 : age < 300 ? 1 : age < 3600 ? 2 : age < 86400 ? 3 : 4] += 1
                }
            }
            q.claimed = try FileIO.listDirectory(queue.curDirectory).filter { !$0.hasPrefix(".") }.count
            q.deferred = try FileIO.listDirectory(queue.deferredDirectory).filter { !$0.hasPrefix(".") && !$0.hasSuffix(".reason.json") }.count
            q.held = try FileIO.listDirectory(queue.holdDirectory).filter { !$0.hasPrefix(".") }.count
            q.quarantined = try FileIO.listDirectory(queue.quarantineDirectory).filter { !$0.hasPrefix(".") && !$0.hasSuffix(".reason.json") }.count
            status.queues.append(q)
        }
        let store = PaymentStore(spoolRoot: root)
        for state in PaymentState.allCases {
            let (count, sums) = try store.tally(state)
            status.payments[state] = count
            status.sums[state] = sums
        }
        return status
    }

    package var json: JSONValue {
        var queueCounts: [String: JSONValue] = [:]
        var details: [String: JSONValue] = [:]
        for q in queues {
            queueCounts[q.name] = .int(Int64(q.waiting + q.claimed))
            details[q.name] = q.json
        }
        var paymentCounts: [String: JSONValue] = [:]
        var sumJSON: [String: JSONValue] = [:]
        for state in PaymentState.allCases {
            paymentCounts[state.rawValue] = .int(Int64(payments[state] ?? 0))
            sumJSON[state.rawValue] = .object((sums[state] ?? [:]).mapValues { .int($0) })
        }
        var amounts: [String: JSONValue] = [:]
        for state in PaymentState.allCases {
            amounts[state.rawValue] = .array((sums[state] ?? [:]).sorted { $0.key < $1.key }.map { Currency.amountJSON(code: $0.key, minor: $0.value) })
        }
        return ["v": 1, "queues": .object(queueCounts), "queueDetails": .object(details),
                "payments": .object(paymentCounts), "sums": .object(sumJSON), "amounts": .object(amounts),
                "deferred": .int(Int64(queues.reduce(0) { $0 + $1.deferred })),
                "quarantined": .int(Int64(queues.reduce(0) { $0 + $1.quarantined }))]
    }

    package var text: String {
        var lines = ["QUEUE                      WAITING  CLAIMED DEFERRED     HELD QUARANT  OLDEST                " + QueueStatus.ageBuckets.map { $0.leftPad(6) }.joined()]
        for q in queues {
            let name = q.name.padding(toLength: 25, withPad: " ", startingAt: 0)
            let cols = [q.waiting, q.claimed, q.deferred, q.held, q.quarantined].map { String($0).leftPad(8) }.joined(separator: " ")
            let oldest = (q.oldest.map(Timestamp.format) ?? "-").padding(toLength: 22, withPad: " ", startingAt: 0)
            lines.append("\(name) \(cols)  \(oldest)" + q.ages.map { String($0).leftPad(6) }.joined())
        }
        lines.append("")
        lines.append("STATE       COUNT  SUMS")
        for state in PaymentState.allCases {
            let sums = (sums[state] ?? [:]).sorted { $0.key < $1.key }.map { cur, total in
                Currency.format(code: cur, minor: total)
            }.joined(separator: ", ")
            lines.append("\(state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(String(payments[state] ?? 0).leftPad(8))  \(sums)")
        }
        return lines.joined(separator: "\n")
    }
}
