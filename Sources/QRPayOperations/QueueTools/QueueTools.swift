// The Postfix queue tools QR-Pay has: `qrpay-spool list` (mailq, `postqueue -p`), `flush`
// (`postqueue -f`), `delete` (`postsuper -d`, with an audit log), `hold`/`release`/`requeue` of
// several files or ALL (`postsuper -h/-H/-r`).
//
//   list     one line per file: queue, name, state, size, age; deferred files with their reason,
//            attempts and next retry; quarantined ones with their code
//   flush    deferred files of every queue (or one) made due now: back into new/, their attempt
//            records kept (the next failure counts on)
//   delete   quarantined or held files only (never what waits, is claimed or deferred): each one is
//            first written to pg/audit.log (who, when, which file, its SHA-256 and size, its reason),
//            then removed with its reason file

import Foundation
import QRPaySupport
import QRPaySpool
#if canImport(Glibc)
import Glibc
#endif

/// A file's state as operators name it (`--state`), and the queue subdirectory that holds it.
package enum ListedState: String, Sendable, CaseIterable {
    case waiting, claimed, deferred, held, quarantined

    package var directory: QueueState {
        switch self {
        case .waiting: return .new
        case .claimed: return .cur
        case .deferred: return .deferred
        case .held: return .hold
        case .quarantined: return .quarantine
        }
    }
}

/// One file of `qrpay-spool list`.
package struct ListedFile: Sendable {
    package let queue: String
    package let name: String
    package let state: ListedState
    package let size: Int64
    /// When it arrived where it is (its inode change time).
    package let since: Date
    /// Deferred and quarantined files: what their reason file says.
    package var code: String?
    package var reason: String?
    package var attempts: Int?
    package var retryAt: Date?
    package var stage: String?
    /// When the reason file says it was quarantined or deferred.
    package var at: Date?

    package var id: String { queue + "/" + name }

    package func json(now: Date) -> JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "queue": .string(queue), "name": .string(name), "state": .string(state.rawValue),
            "size": .int(size), "since": .string(Timestamp.format(since)), "ageSeconds": .int(Int64(max(0, now.timeIntervalSince(since)))),
        ]
        if let code { o["code"] = .string(code) }
        if let reason { o["reason"] = .string(reason) }
        if let attempts { o["attempts"] = .int(Int64(attempts)) }
        if let retryAt { o["retryAt"] = .string(Timestamp.format(retryAt)) }
        if let stage { o["stage"] = .string(stage) }
        return .object(o)
    }

    package func line(now: Date) -> String {
        var text = "\(queue.padding(toLength: 24, withPad: " ", startingAt: 0)) \(state.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) "
            + "\(String(size).leftPad(8)) \(QueueTools.age(now.timeIntervalSince(since)).leftPad(6))  \(name)"
        if state == .deferred {
            text += "\n    \(code ?? "?"), \(attempts ?? 0) attempt\(attempts == 1 ? "" : "s"), next retry "
                + (retryAt.map { $0 <= now ? "now" : Timestamp.format($0) } ?? "?") + ": " + (reason ?? "no reason file")
        } else if state == .quarantined {
            text += "\n    \(code ?? "?") (\(stage ?? "?")): " + (reason ?? "no reason file")
        }
        return text
    }
}

package enum QueueTools {
    /// "42s", "17m", "5h", "3d".
    package static func age(_ t: TimeInterval) -> String {
        let s = max(0, Int(t))
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 2 * 86400 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }

    /// The queues named `queue` (all when nil); `usage` naming the queues there are when none matches.
    package static func queues(_ queue: String?, layout: SpoolLayout) throws -> [NamedQueue] {
        let all = try layout.allQueues()
        guard let queue else { return all }
        let wanted = queue.hasSuffix("/") ? String(queue.dropLast()) : queue
        let found = all.filter { $0.name == wanted }
        guard !found.isEmpty else {
            throw QRPayError.usage("there is no queue \(queue); queues are \(all.map(\.name).joined(separator: ", "))")
        }
        return found
    }

    /// Every file in `states` of the queues (all, or the one named), oldest first within a queue and
    /// state; queues this user may not read are returned in `skipped`.
    package static func list(spoolRoot: String, queue: String? = nil, states: [ListedState] = ListedState.allCases)
        throws -> (files: [ListedFile], skipped: [String]) {
        let layout = SpoolLayout(root: spoolRoot)
        var files: [ListedFile] = []
        var skipped: [String] = []
        for named in try queues(queue, layout: layout) {
            for state in states {
                let dir = named.queue.path + "/" + state.directory.rawValue
                guard SpoolLayout.mayRead(dir) else {
                    if !skipped.contains(named.name) { skipped.append(named.name) }
                    continue
                }
                var entries: [(Date, String, Int64)] = []
                for name in (try? FileIO.listDirectory(dir)) ?? [] where SpoolName.isValid(name) {
                    guard let (_, st) = FileIO.lstatKind(dir + "/" + name) else { continue }
                    entries.append((Queue.changeTime(st), name, Int64(st.st_size)))
                }
                for (since, name, size) in entries.sorted(by: { ($0.0, $0.1) < ($1.0, $1.1) }) {
                    var file = ListedFile(queue: named.name, name: name, state: state, size: size, since: since)
                    if state == .deferred || state == .quarantined {
                        let reason = try? JSONValue.parse(try FileIO.read(dir + "/" + name + SpoolName.reasonSuffix, maxBytes: 64 * 1024))
                        file.code = reason?["code"]?.stringValue
                        file.reason = reason?["reason"]?.stringValue
                        file.stage = reason?["stage"]?.stringValue
                        file.attempts = reason?["attempts"]?.intValue.map(Int.init)
                        file.retryAt = reason?["retryAt"]?.stringValue.flatMap(Timestamp.parse)
                        file.at = reason?["at"]?.stringValue.flatMap(Timestamp.parse)
                    }
                    files.append(file)
                }
            }
        }
        return (files, skipped)
    }

    /// Makes the deferred files of the queues (all, or the one named) due now: each moves back into
    /// new/ at once, its attempt record kept. Returns (queue, name) of each file moved.
    package static func flush(spoolRoot: String, queue: String? = nil) throws -> [(queue: String, name: String)] {
        var moved: [(String, String)] = []
        for named in try queues(queue, layout: SpoolLayout(root: spoolRoot)) where SpoolLayout.mayRead(named.queue.deferredDirectory) {
            let before = Set(try named.queue.deferred())
            _ = try named.queue.promoteDeferred(now: .distantFuture)
            let after = Set(try named.queue.deferred())
            for name in before.subtracting(after).sorted() { moved.append((named.name, name)) }
        }
        return moved
    }

    /// Every file `action` could take in the queues (all, or the one named): `ALL` of postsuper.
    package static func all(_ action: QueueOps.Action, spoolRoot: String, queue: String?) throws -> [String] {
        let states: [ListedState] = action.sources.compactMap { s in ListedState.allCases.first { $0.directory == s } }
        return try list(spoolRoot: spoolRoot, queue: queue, states: states).files.map(\.id)
    }

    /// Deletes a quarantined or held file (`id` as `resolve` takes it): one line in pg/audit.log
    /// first (durable), then the file and its reason file are removed. Returns a line saying what went.
    package static func delete(_ id: String, spoolRoot: String, now: Date, operator who: String) throws -> String {
        let layout = SpoolLayout(root: spoolRoot)
        let (queueName, queue, name) = try QueueOps.resolve(id, action: .delete, spoolRoot: spoolRoot)
        let state: ListedState = FileIO.lstatKind(queue.quarantineDirectory + "/" + name) != nil ? .quarantined : .held
        let dir = queue.path + "/" + state.directory.rawValue
        let path = dir + "/" + name
        var entry: [String: JSONValue] = [
            "v": 1, "at": .string(Timestamp.format(now)), "action": "delete", "queue": .string(queueName), "name": .string(name),
            "state": .string(state.rawValue), "by": .string(who),
        ]
        if let (kind, st) = FileIO.lstatKind(path) {
            entry["bytes"] = .int(Int64(st.st_size))
            if kind == .regular, let data = try? FileIO.read(path, maxBytes: 64 << 20) {
                entry["sha256"] = .string(Base64URL.encode(Digest.sha256(data)))
            } else {
                entry["kind"] = .string(kind.described)
            }
        }
        if let reason = try? JSONValue.parse(try FileIO.read(path + SpoolName.reasonSuffix, maxBytes: 64 * 1024)) {
            entry["code"] = reason["code"] ?? .null
            entry["reason"] = reason["reason"] ?? .null
        }
        var line = JSONValue.object(entry).serialized()
        line.append(0x0A)
        try FileIO.appendDurably(line, to: layout.auditLog, mode: 0o640)
        try FileIO.remove(path)
        if FileIO.lstatKind(path + SpoolName.reasonSuffix) != nil { try FileIO.remove(path + SpoolName.reasonSuffix) }
        try FileIO.fsyncDirectory(dir)
        return "\(queueName)/\(name): deleted from \(queueName)/\(state.directory.rawValue)/ (logged in \(layout.relative(layout.auditLog)))"
    }
}
