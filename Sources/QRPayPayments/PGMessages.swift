// What the PG sends a shop or a user, read by the party (paper, phase E): notices and refusals in
// shops/ID/notices/, receipts in users/ID/receipts/.
//
// Each file is verified before anything in it is believed: a JWS of the expected kind
// (`qrpay-notice+jws` or `qrpay-refusal+jws` for a shop, `qrpay-receipt+jws` for a user), signed by a
// certificate of role pg that chains to the CA, valid and unrevoked (CRL), and about this party (its
// shop id, or its user id). A file that does not verify is set aside in the queue's quarantine/ with
// the reason, and reported, never believed. A fault of this system (no CRL) leaves the file waiting.
//
// A message read is recorded in the party's journal (shops/ID/journal.jsonl, users/ID/journal.jsonl)
// and consumed: claimed into cur/, then moved to done/DAY/ once the journal line is durable (so a
// crash in between reads it again, and the journal may hold a line twice: readers of the journal
// count each payment and state once). `keep` reads without claiming, recording or moving anything.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
#if canImport(Glibc)
import Glibc
#endif

/// One message the PG sent, verified.
package enum PGMessage: Sendable {
    /// A payment's new state (a shop's notice or a user's receipt).
    case state(StateNotice, documentHash: String)
    /// A document of the shop's the PG refused.
    case refusal(Refusal, documentHash: String)

    /// One line for a person: `P1 accept KRW 12,200 by user u42`, `P1 refused (payment.total-mismatch): …`.
    package var line: String {
        switch self {
        case .state(let n, _):
            var text = "\(n.payment) \(n.state.rawValue) "
            text += (try? Currency(n.currency)).map { $0.format(n.total) } ?? "\(n.currency) \(n.total)"
            if let user = n.user { text += " by user \(user)" }
            if let reason = n.reason { text += ": " + HumanText.escaped(reason) }
            return text
        case .refusal(let r, _):
            return "\(r.payment ?? "?") refused \(r.kind) (\(r.code)): \(HumanText.escaped(r.reason))"
        }
    }

    package var json: JSONValue {
        switch self {
        case .state(let n, let hash):
            guard case .object(var o) = n.json else { return n.json }
            o["kind"] = "state"
            o["notice"] = .string(hash)
            if let c = try? Currency(n.currency) { o["totalText"] = .string(c.format(n.total)) }
            o.removeValue(forKey: "v")
            return .object(o)
        case .refusal(let r, let hash):
            guard case .object(var o) = r.json else { return r.json }
            o["refusedDocument"] = o["document"]
            o.removeValue(forKey: "document")
            o["kind"] = "refusal"
            o["refusedKind"] = .string(r.kind)
            o["notice"] = .string(hash)
            o.removeValue(forKey: "v")
            return .object(o)
        }
    }

    /// The journal line that records it.
    func journalEntry(readAt: Date) -> JSONValue {
        switch self {
        case .state(let n, let hash):
            var o: [String: JSONValue] = [
                "at": .string(Timestamp.format(readAt)), "event": "state", "payment": .string(n.payment),
                "state": .string(n.state.rawValue), "currency": .string(n.currency), "total": .int(n.total),
                "stateAt": .string(Timestamp.format(n.at)), "notice": .string(hash),
            ]
            if let user = n.user { o["user"] = .string(user) }
            if n.shop != "" { o["shop"] = .string(n.shop) }
            return .object(o)
        case .refusal(let r, let hash):
            var o: [String: JSONValue] = [
                "at": .string(Timestamp.format(readAt)), "event": "refused", "kind": .string(r.kind),
                "document": .string(r.document), "code": .string(r.code), "reason": .string(r.reason),
                "refusedAt": .string(Timestamp.format(r.at)), "notice": .string(hash),
            ]
            if let payment = r.payment { o["payment"] = .string(payment) }
            return .object(o)
        }
    }
}

/// An append-only JSON-lines journal a party keeps for itself (0600, fsync'd per append).
package struct PartyJournal: Sendable {
    package let path: String
    let layout: SpoolLayout

    package init(path: String, layout: SpoolLayout) { self.path = path; self.layout = layout }

    /// Appends the lines and makes them durable.
    package func append(_ entries: [JSONValue]) throws {
        guard !entries.isEmpty else { return }
        try layout.makeDirectories(FileIO.parentDirectory(path))
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw QRPayError.io("open", path: path, errno: errno) }
        defer { close(fd) }
        var data = Data()
        for entry in entries {
            data.append(entry.serialized())
            data.append(0x0A)
        }
        try FileIO.writeAll(fd: fd, data, path: path)
        guard fsync(fd) == 0 else { throw QRPayError.io("fsync", path: path, errno: errno) }
    }

    /// Every line that parses as a JSON object, oldest first (a torn last line is skipped).
    package func entries() throws -> [[String: JSONValue]] {
        guard let data = try FileIO.readIfExists(path, maxBytes: 1 << 30) else { return [] }
        var out: [[String: JSONValue]] = []
        for line in data.split(separator: 0x0A) where !line.isEmpty {
            if case .object(let o)? = try? JSONValue.parse(Data(line), what: "journal line") { out.append(o) }
        }
        return out
    }
}

/// Reads one party's queue of PG messages.
package struct PGMessageReader: Sendable {
    package enum Party: Sendable, Equatable {
        case shop(String)
        case user(String)
    }

    package let layout: SpoolLayout
    package let party: Party
    let trust: TrustStore

    package init(layout: SpoolLayout, party: Party, trust: TrustStore? = nil) throws {
        switch party {
        case .shop(let id): try Identifier.validate(id, what: "shop")
        case .user(let id): try Identifier.validate(id, what: "user")
        }
        self.layout = layout
        self.party = party
        self.trust = try trust ?? TrustStore(spoolRoot: layout.root)
    }

    package var queue: Queue {
        switch party {
        case .shop(let id): return layout.notices(shop: id)
        case .user(let id): return layout.receipts(user: id)
        }
    }

    package var journal: PartyJournal {
        switch party {
        case .shop(let id): return PartyJournal(path: layout.shopJournal(shop: id), layout: layout)
        case .user(let id): return PartyJournal(path: layout.userJournal(user: id), layout: layout)
        }
    }

    /// Verifies one message; throws why it is not believed.
    package func verify(_ data: Data, now: Date) throws -> PGMessage {
        let jws = try JWS(parsing: data)
        switch party {
        case .shop(let shop):
            if jws.type == DocumentType.refusal.rawValue {
                let verified = try trust.verify(jws, type: .refusal, role: .pg, id: nil, at: now)
                let refusal = try Refusal(payload: verified.payload)
                guard refusal.shop == shop else {
                    throw QRPayError(.noticeParty, "the refusal is about shop \(refusal.shop), not shop \(shop)")
                }
                return .refusal(refusal, documentHash: jws.documentHash)
            }
            let verified = try trust.verify(jws, type: .notice, role: .pg, id: nil, at: now)
            let notice = try StateNotice(payload: verified.payload)
            guard notice.shop == shop else {
                throw QRPayError(.noticeParty, "the notice is about shop \(notice.shop), not shop \(shop)")
            }
            return .state(notice, documentHash: jws.documentHash)
        case .user(let user):
            let verified = try trust.verify(jws, type: .receipt, role: .pg, id: nil, at: now)
            let notice = try StateNotice(payload: verified.payload)
            guard notice.user == user else {
                throw QRPayError(.noticeParty, "the receipt is for user \(notice.user ?? "nobody"), not user \(user)")
            }
            return .state(notice, documentHash: jws.documentHash)
        }
    }

    package struct Pass: Sendable {
        package var read: [PGMessage] = []
        /// Files set aside: (name, why).
        package var setAside: [(name: String, reason: QRPayError)] = []
        /// Files left waiting for a fault of this system (no CRL...): (name, why).
        package var waiting: [(name: String, reason: QRPayError)] = []
    }

    /// Reads every message waiting in new/ (and any a crash left in cur/), oldest first, calling
    /// `each` as each one is read and recorded.
    package func readPending(keep: Bool, now: Date, each: (PGMessage) -> Void = { _ in }) throws -> Pass {
        var pass = Pass()
        let q = queue
        guard FileIO.isDirectory(q.newDirectory) else {
            throw QRPayError(.ioNotFound, "there is no queue \(q.path): the PG has sent nothing yet, or --spool is not the PG's spool")
        }
        if keep {
            for name in try q.pending(promotingDeferred: false, now: now) {
                guard let data = try FileIO.readIfExists(q.newDirectory + "/" + name, maxBytes: 64 * 1024) else { continue }
                do {
                    let message = try verify(data, now: now)
                    pass.read.append(message)
                    each(message)
                } catch let e as QRPayError {
                    if e.isTransient { pass.waiting.append((name, e)) } else { pass.setAside.append((name, e)) }
                }
            }
            return pass
        }
        var claimed = try q.leftovers()
        for entry in try q.pendingEntries(promotingDeferred: false, now: now) {
            if let file = try q.claim(entry.name, arrived: entry.arrived, deferredRecordPossible: false) { claimed.append(file) }
        }
        for file in claimed {
            do {
                let message = try verify(try file.read(maxBytes: 64 * 1024), now: now)
                try journal.append([message.journalEntry(readAt: now)])
                try q.complete(file, durable: true, now: now)
                pass.read.append(message)
                each(message)
            } catch let e as QRPayError where e.isTransient {
                // Not a verdict on the file: back into new/ for the next read.
                _ = FileIO.renameNoReplace(file.path, q.newDirectory + "/" + file.name)
                pass.waiting.append((file.name, e))
            } catch let e as QRPayError {
                _ = try q.quarantine(file, stage: partyStage, error: e, now: now)
                pass.setAside.append((file.name, e))
            }
        }
        return pass
    }

    var partyStage: String {
        switch party {
        case .shop: return "qrpay-shop notices"
        case .user: return "qrpay-user receipts"
        }
    }
}

/// A shop's own day, from its journal (what it created and what the PG told it): for the shop owner
/// at closing time (`qrpay-shop status`).
package struct ShopDay: Sendable {
    package let shop: String
    package let day: String
    /// Per payment created that day: its latest known state ("sent" while the PG has said nothing,
    /// "refused" when the PG refused it), currency and total.
    package let payments: [(payment: String, state: String, currency: String, total: Int64)]

    /// The order states are shown in.
    package static let states = ["sent", "request", "accept", "finish", "cancel", "expire", "refused"]

    package init(shop: String, day: String, journal: [[String: JSONValue]]) {
        self.shop = shop
        self.day = day
        var order: [String] = []
        var info: [String: (currency: String, total: Int64)] = [:]
        var latest: [String: (state: String, at: String)] = [:]
        for e in journal {
            guard let payment = e["payment"]?.stringValue else { continue }
            switch e["event"]?.stringValue {
            case "created":
                let created = e["created"]?.stringValue ?? e["at"]?.stringValue ?? ""
                guard created.hasPrefix(day), info[payment] == nil else { continue }
                order.append(payment)
                info[payment] = (e["currency"]?.stringValue ?? "?", e["total"]?.intValue ?? 0)
            case "state":
                guard let state = e["state"]?.stringValue else { continue }
                let at = e["stateAt"]?.stringValue ?? ""
                // The latest state by the PG's time; at the same second, the later in the life.
                if let known = latest[payment], known.at > at
                    || (known.at == at && (ShopDay.states.firstIndex(of: known.state) ?? 0) > (ShopDay.states.firstIndex(of: state) ?? 0)) { continue }
                latest[payment] = (state, at)
            case "refused":
                if e["kind"]?.stringValue == "payment", latest[payment] == nil { latest[payment] = ("refused", e["refusedAt"]?.stringValue ?? "") }
            default:
                continue
            }
        }
        payments = order.map { p in (p, latest[p]?.state ?? "sent", info[p]!.currency, info[p]!.total) }
    }

    /// state → (count, currency → total).
    package var byState: [String: (count: Int, totals: [String: Int64])] {
        var out: [String: (count: Int, totals: [String: Int64])] = [:]
        for p in payments {
            var entry = out[p.state] ?? (0, [:])
            entry.count += 1
            entry.totals[p.currency, default: 0] += p.total
            out[p.state] = entry
        }
        return out
    }

    package var text: String {
        var lines = ["Shop \(shop), \(day) (UTC): \(payments.count) payment(s) created"]
        let by = byState
        for state in ShopDay.states {
            let entry = by[state] ?? (0, [:])
            let totals = entry.totals.keys.sorted().map { c in (try? Currency(c)).map { $0.format(entry.totals[c]!) } ?? "\(c) \(entry.totals[c]!)" }
            lines.append("  \(state.padding(toLength: 8, withPad: " ", startingAt: 0)) \(String(entry.count).leftPad(5))  \(totals.joined(separator: ", "))")
        }
        return lines.joined(separator: "\n")
    }

    package var json: JSONValue {
        var states: [String: JSONValue] = [:]
        let by = byState
        for state in ShopDay.states {
            let entry = by[state] ?? (0, [:])
            states[state] = ["count": .int(Int64(entry.count)), "totals": .object(entry.totals.mapValues { .int($0) })]
        }
        return ["shop": .string(shop), "day": .string(day), "payments": .int(Int64(payments.count)), "states": .object(states),
                "list": .array(payments.map { ["payment": .string($0.payment), "state": .string($0.state),
                                               "currency": .string($0.currency), "total": .int($0.total)] })]
    }
}
