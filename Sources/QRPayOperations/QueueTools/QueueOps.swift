// `qrpay-spool quarantine | requeue | hold | release`, like Postfix's `postsuper -r/-h/-H`: the
// operator's hands on queue files. A file is named `QUEUE/NAME` as `quarantine` and `status` show it
// (`pg/inbox/1795….json`), or by its bare NAME, looked up in every queue (more than one match is
// ambiguous: exit 64; none: exit 66).
//
//   requeue ID   QUEUE/quarantine/NAME → QUEUE/new/NAME (its reason file removed): through its stage again
//   hold ID      QUEUE/new/NAME (or deferred/NAME) → QUEUE/hold/NAME: parked, not processed
//   release ID   QUEUE/hold/NAME → QUEUE/new/NAME

import Foundation
import QRPaySupport
import QRPaySpool
#if canImport(Glibc)
import Glibc
#endif

package struct QuarantinedFile: Sendable {
    package let queue: String
    package let entry: QuarantineEntry

    package var id: String { queue + "/" + entry.name }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "queue": .string(queue), "name": .string(entry.name), "stage": .string(entry.stage),
            "code": .string(entry.code), "reason": .string(entry.reason),
            "at": entry.at.map { .string(Timestamp.format($0)) } ?? .null,
        ]
        if let attempts = entry.attempts { o["attempts"] = .int(Int64(attempts)) }
        return .object(o)
    }
}

package enum QueueOps {
    package enum Action: String, Sendable {
        case requeue, hold, release, delete

        /// Where the file must be for the action.
        package var sources: [QueueState] {
            switch self {
            case .requeue: return [.quarantine]
            case .hold: return [.new, .deferred]
            case .release: return [.hold]
            case .delete: return [.quarantine, .hold]
            }
        }
    }

    /// Every quarantined file of every queue, oldest first within a queue.
    package static func quarantined(spoolRoot: String) throws -> [QuarantinedFile] {
        var out: [QuarantinedFile] = []
        for named in try SpoolLayout(root: spoolRoot).allQueues() where SpoolLayout.mayRead(named.queue.quarantineDirectory) {
            for entry in try named.queue.quarantined() { out.append(QuarantinedFile(queue: named.name, entry: entry)) }
        }
        return out
    }

    package static func text(_ files: [QuarantinedFile]) -> String {
        if files.isEmpty { return "no quarantined files" }
        return files.map { f in
            "\(f.id)\n  stage \(f.entry.stage), \(f.entry.code), at \(f.entry.at.map(Timestamp.format) ?? "?")"
                + (f.entry.attempts.map { ", after \($0) attempts" } ?? "") + "\n  \(f.entry.reason)"
        }.joined(separator: "\n")
    }

    /// Finds the queue holding `id` (QUEUE/NAME, QUEUE/STATE/NAME or a bare NAME) where `action` can take it.
    package static func resolve(_ id: String, action: Action, spoolRoot: String) throws -> (queueName: String, queue: Queue, name: String) {
        let queues = try SpoolLayout(root: spoolRoot).allQueues().map { ($0.name, $0.queue) }
        var parts = id.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let name = parts.popLast(), SpoolName.isValid(name) else {
            throw QRPayError.usage("\"\(id)\" does not name a queue file: use QUEUE/NAME as `qrpay-spool quarantine` or `status` shows it, or NAME")
        }
        if let last = parts.last, QueueState(rawValue: last) != nil, parts.count > 1 { parts.removeLast() }
        let wanted = parts.joined(separator: "/")
        let candidates = parts.isEmpty ? queues : queues.filter { $0.0 == wanted }
        if !parts.isEmpty && candidates.isEmpty {
            throw QRPayError.usage("there is no queue \(wanted); queues are \(queues.map(\.0).joined(separator: ", "))")
        }
        let found = candidates.filter { _, q in
            action.sources.contains { FileIO.exists(q.path + "/" + $0.rawValue + "/" + name) }
        }
        switch found.count {
        case 1: return (found[0].0, found[0].1, name)
        case 0:
            if action == .delete, let elsewhere = candidates.first(where: { _, q in
                [QueueState.new, .cur, .deferred].contains { FileIO.lstatKind(q.path + "/" + $0.rawValue + "/" + name) != nil } }) {
                throw QRPayError(.spoolNotDeletable, "\(elsewhere.0)/\(name) is waiting, claimed or deferred: only quarantined or held files may be deleted (hold it first)")
            }
            let where_ = action.sources.map(\.rawValue).joined(separator: " or ")
            throw QRPayError(.spoolNoSuchFile, "no file \(name) in \(where_)/ of \(parts.isEmpty ? "any queue" : wanted)")
        default:
            throw QRPayError.usage("\(name) is in several queues (\(found.map(\.0).joined(separator: ", "))); name it as QUEUE/NAME")
        }
    }

    /// Performs `action` on `id`; returns a line saying what moved where.
    package static func perform(_ action: Action, id: String, spoolRoot: String) throws -> String {
        let (queueName, queue, name) = try resolve(id, action: action, spoolRoot: spoolRoot)
        switch action {
        case .requeue:
            let target = try queue.requeue(name)
            return "\(queueName)/\(name): requeued as \(queueName)/new/\(target)"
        case .hold:
            try queue.hold(name)
            return "\(queueName)/\(name): held in \(queueName)/hold/"
        case .release:
            try queue.release(name)
            return "\(queueName)/\(name): released into \(queueName)/new/"
        case .delete:
            return try QueueTools.delete(id, spoolRoot: spoolRoot, now: Date(), operator: "uid \(geteuid())")
        }
    }
}
