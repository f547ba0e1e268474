// Auditing the PG's hash-chained journal (Journal.swift) and its signed checkpoints.
//
// The chain: every entry's `hash` matches its content, `prev` is the previous entry's hash (43 "A"s
// for the first), `seq` counts up by one. An edited line breaks its hash; a removed, inserted or
// reordered line breaks `prev`/`seq` of the next one. Someone who edits a line and recomputes every
// hash after it keeps the chain intact: checkpoints catch that.
//
// A checkpoint is the PG's signature over the journal head at some moment:
//   ROOT/pg/journal/checkpoints/DAY-SEQ.jws   JWS `qrpay-checkpoint+jws` signed with ROOT/pg/key.pem,
//   payload {"v":1,"seq":N,"hash":"<the entry's hash>","day":"<its journal file's day>","at":"<signing time>"}
// The entry with that seq must still have that hash in that day's file; so every change before a
// checkpoint is detected, whatever was recomputed after it.
//
// Replay: the journal's last transition of each payment gives its state, which must be the
// record's. A transition must start from the payment's previous state, except an identical repeat
// of the previous transition (a stage rerun after a crash between journal and record, see
// Journal.swift) or a transition from the same state as the previous one (that one was journaled
// but never applied before a crash, and another won).

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
import QRPayLedger
#if canImport(Glibc)
import Glibc
#endif

/// One checkpoint's payload.
package struct Checkpoint: Equatable, Sendable {
    package let seq: Int64
    package let hash: String
    package let day: String
    package let at: Date

    package init(seq: Int64, hash: String, day: String, at: Date) {
        self.seq = seq; self.hash = hash; self.day = day
        self.at = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down))
    }

    package var json: JSONValue {
        ["v": 1, "seq": .int(seq), "hash": .string(hash), "day": .string(day), "at": .string(Timestamp.format(at))]
    }

    package init(payload: Data) throws {
        let r = try JSONObjectReader(try JSONValue.parse(payload, what: "checkpoint"), what: "checkpoint")
        try r.requireOnly(["v", "seq", "hash", "day", "at"])
        guard try r.int("v") == 1 else { throw QRPayError(.checkpointVersion, "checkpoint version is not 1") }
        guard let at = Timestamp.parse(try r.string("at", maxLength: 40)) else {
            throw QRPayError(.checkpointMalformed, "checkpoint: \"at\" is not a UTC time")
        }
        let day = try r.string("day", maxLength: 10)
        guard Reconcile.isDay(day) else { throw QRPayError(.checkpointMalformed, "checkpoint: \"day\" is not YYYY-MM-DD") }
        self.init(seq: try r.int("seq", in: 1...Int64.max), hash: try r.string("hash", maxLength: 64), day: day, at: at)
    }

    /// DAY-SEQ.jws
    package var fileName: String { "\(day)-\(seq).jws" }

    package static func directory(spoolRoot: String) -> String { SpoolLayout(root: spoolRoot).checkpointsDirectory }
}

/// A payment's last transition in the journal: its state, time and evidence hash.
package struct JournalFinal: Sendable {
    package let state: PaymentState
    package let at: Date
    package let evidence: String
}

/// The head of the journal: the last entry and the day of the file it is in.
package struct JournalHead: Sendable {
    package let seq: Int64
    package let hash: String
    package let day: String
}

package struct JournalAudit {
    package let spoolRoot: String
    package let journal: Journal
    /// Findings are reported through this (code, path, message).
    let report: (String, String, String) -> Void
    /// The final state of each payment ("shop/payment") after replaying the journal, and when.
    package private(set) var finalStates: [String: JournalFinal] = [:]
    package private(set) var entries = 0
    package private(set) var head: JournalHead?
    package private(set) var checkpoints = 0
    /// The payouts the journal records for each payment ("shop/payment" → payout ids, oldest first).
    package private(set) var payouts: [String: [String]] = [:]
    /// Keep the replay map (check needs it; checkpoint does not).
    let replay: Bool
    /// `check`: entries no checkpoint signs (all of them, when there is none) that began longer ago
    /// than this are a finding (`checkpoint.missing`, `checkpoint.behind`): the daily checkpoint did
    /// not run, or checkpoints were removed, and what is unsigned can be rewritten unseen.
    package var checkpointAge: TimeInterval?
    package var now = Date()

    package init(spoolRoot: String, replay: Bool = true, report: @escaping (String, String, String) -> Void) {
        self.spoolRoot = spoolRoot
        self.journal = Journal(layout: SpoolLayout(root: spoolRoot))
        self.replay = replay
        self.report = report
    }

    private struct Last { var from: PaymentState?; var to: PaymentState; var evidence: String; var at: Date }

    /// Loads and verifies every checkpoint (signature by the PG, file name); returns them by seq.
    mutating func loadCheckpoints() -> [Int64: [(path: String, checkpoint: Checkpoint)]] {
        let dir = Checkpoint.directory(spoolRoot: spoolRoot)
        var out: [Int64: [(String, Checkpoint)]] = [:]
        let names = ((try? FileIO.listDirectory(dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        if names.isEmpty { return out }
        let trust: TrustStore?
        do { trust = try TrustStore(spoolRoot: spoolRoot) } catch let e as QRPayError {
            report("checkpoint.unverifiable", dir.relative(to: spoolRoot), "checkpoints cannot be verified: \(e.message)")
            trust = nil
        } catch { trust = nil }
        for name in names {
            let path = dir + "/" + name
            let rel = path.relative(to: spoolRoot)
            guard name.hasSuffix(".jws") else {
                report("checkpoint.foreign", rel, "not a checkpoint (names are DAY-SEQ.jws)")
                continue
            }
            do {
                let jws = try JWS(parsing: try FileIO.read(path, maxBytes: 64 * 1024))
                let cp = try Checkpoint(payload: jws.payload)
                if let trust { _ = try trust.verify(jws, type: .checkpoint, role: .pg, id: nil, at: cp.at) }
                guard cp.fileName == name else {
                    report("checkpoint.malformed", rel, "the file name does not match its signed content (\(cp.fileName))")
                    continue
                }
                checkpoints += 1
                out[cp.seq, default: []].append((path, cp))
            } catch let e as QRPayError {
                report(e.code.area == "jws" || e.code.area == "pki" ? "checkpoint.signature" : "checkpoint.malformed", rel,
                       "the checkpoint does not verify: \(e.message)")
            } catch {
                report("checkpoint.malformed", rel, "\(error)")
            }
        }
        return out
    }

    /// Walks the whole journal, oldest first, reporting every break of the chain, of the replay and
    /// of a checkpoint.
    package mutating func run() throws {
        var pending = loadCheckpoints()
        let signedUpTo = pending.keys.max() ?? 0
        var firstUnsigned: JournalEntry?
        var prevHash = Journal.genesis
        var prevSeq: Int64 = 0
        var last: [String: Last] = [:]
        let files = try journal.files()
        for file in files {
            let day = String((file as NSString).lastPathComponent.dropLast(".jsonl".count))
            let rel = file.relative(to: spoolRoot)
            let reader = try LineReader(path: file)
            var lineNumber = 0
            while let line = try reader.next() {
                lineNumber += 1
                if line.isEmpty { continue }
                // A last line without its newline is being appended right now, or was torn by a crash
                // before its fsync returned (never acknowledged; the next append cuts it): not an entry.
                if reader.lastLineUnterminated && file == files.last { break }
                let at = "\(rel):\(lineNumber)"
                let entry: JournalEntry
                do { entry = try JournalEntry(line: line) } catch let e as QRPayError {
                    report("journal.malformed", at, "the entry does not parse: \(e.message)")
                    continue
                }
                entries += 1
                if entry.seq > signedUpTo && firstUnsigned == nil { firstUnsigned = entry }
                if !entry.isIntact {
                    report("journal.hash", at, "entry seq \(entry.seq) was edited: its hash does not match its content")
                }
                if entry.prev != prevHash {
                    report("journal.chain", at, "entry seq \(entry.seq) does not follow the previous entry (prev hash differs): an entry before it was removed, inserted or reordered")
                }
                if entry.seq != prevSeq + 1 {
                    report("journal.seq", at, "entry seq \(entry.seq) follows seq \(prevSeq): entries are missing, repeated or reordered")
                }
                if let cps = pending.removeValue(forKey: entry.seq) {
                    for (path, cp) in cps where cp.hash != entry.hash || cp.day != day {
                        report("checkpoint.mismatch", at,
                               "entry seq \(entry.seq) is not the one checkpoint \(path.relative(to: spoolRoot)) signed: the journal was changed at or before it")
                    }
                }
                if replay, case .payout(let id) = entry.event {
                    payouts[entry.shop + "/" + entry.payment, default: []].append(id)
                }
                if replay, case .transition(let from, let to) = entry.event {
                    let key = entry.shop + "/" + entry.payment
                    if let l = last[key] {
                        let retry = l.from == from && l.to == to && l.evidence == entry.evidence
                        let superseded = l.from == from
                        if from != l.to && !retry && !superseded {
                            report("journal.sequence", at,
                                   "payment \(key) moves \(from?.rawValue ?? "(new)") → \(to.rawValue) but the journal had it \(l.to.rawValue)")
                        }
                    } else if let from {
                        report("journal.sequence", at, "payment \(key) first appears moving from \(from.rawValue), not as a new payment")
                    }
                    last[key] = Last(from: from, to: to, evidence: entry.evidence, at: entry.at)
                }
                prevHash = entry.hash
                prevSeq = entry.seq
                head = JournalHead(seq: entry.seq, hash: entry.hash, day: day)
            }
        }
        for (seq, cps) in pending {
            for (path, _) in cps {
                report("checkpoint.mismatch", path.relative(to: spoolRoot),
                       "the checkpoint signed entry seq \(seq) but the journal has no such entry (it ends at seq \(prevSeq)): entries were removed")
            }
        }
        if let maxAge = checkpointAge, let first = firstUnsigned, now.timeIntervalSince(first.at) > maxAge {
            let dir = Checkpoint.directory(spoolRoot: spoolRoot).relative(to: spoolRoot)
            let hours = Int(maxAge / 3600)
            if signedUpTo == 0 {
                report("checkpoint.missing", dir, "no checkpoint signs the journal, whose first entry (seq \(first.seq)) is from \(Timestamp.format(first.at)), over \(hours) h ago: run `qrpay-spool checkpoint` daily (the sample timer or crontab); an unsigned journal can be rewritten unseen")
            } else {
                report("checkpoint.behind", dir, "the newest checkpoint signs seq \(signedUpTo); the entries after it began with seq \(first.seq) at \(Timestamp.format(first.at)), over \(hours) h ago, and no checkpoint signs them: is the daily `qrpay-spool checkpoint` running?")
            }
        }
        if replay { finalStates = last.mapValues { JournalFinal(state: $0.to, at: $0.at, evidence: $0.evidence) } }
    }
}

package enum JournalCheckpointer {
    /// Verifies the journal and signs a checkpoint over its head into ROOT/pg/journal/checkpoints/.
    /// Returns the checkpoint's path and whether it was new (the same head signed before: not new).
    /// Refuses (journal.broken, exit 65) to sign a journal whose chain or earlier checkpoints fail.
    package static func sign(spoolRoot: String, pg: Credentials, now: Date = Date()) throws -> (path: String, checkpoint: Checkpoint, new: Bool)? {
        var problems: [String] = []
        var audit = JournalAudit(spoolRoot: spoolRoot, replay: false) { code, path, message in
            if code.hasPrefix("journal.") || code == "checkpoint.mismatch" { problems.append("\(code) \(path): \(message)") }
        }
        // No lock: stages keep appending meanwhile; the checkpoint covers the head this walk verified.
        try audit.run()
        guard problems.isEmpty else {
            throw QRPayError(.journalBroken, "the journal does not verify; no checkpoint signed (run `qrpay-spool check`):\n  "
                             + problems.prefix(10).joined(separator: "\n  "))
        }
        guard let head = audit.head else { return nil }
        let cp = Checkpoint(seq: head.seq, hash: head.hash, day: head.day, at: now)
        let dir = Checkpoint.directory(spoolRoot: spoolRoot)
        try SpoolLayout(root: spoolRoot).makeDirectories(dir)
        let path = dir + "/" + cp.fileName
        if let existing = try? Checkpoint(payload: try JWS(parsing: try FileIO.read(path, maxBytes: 64 * 1024)).payload) {
            return (path, existing, false)
        }
        let signed = try JWS.sign(payload: cp.json.serialized(), type: .checkpoint, key: pg.key, certificate: pg.certificate)
        do {
            try Durable.write(signed, to: path, mode: 0o640, ifExists: .fail)
        } catch let e as QRPayError where e.code == .spoolExists {
            return (path, (try? Checkpoint(payload: try JWS(parsing: try FileIO.read(path, maxBytes: 64 * 1024)).payload)) ?? cp, false)
        }
        return (path, cp, true)
    }
}
