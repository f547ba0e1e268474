// The index of open payments by the time something becomes due for them, so that a settle pass
// touches only what is due and never reads every open payment:
//
//   pg/due/expires/MINUTE/EPOCH~SHOP~PAYMENT    a `request`, by its expiry (EPOCH: the expiry, in
//                                               seconds since 1970; MINUTE: YYYYMMDDTHHMM of it, UTC)
//   pg/due/accepted/MINUTE/EPOCH~SHOP~PAYMENT   an `accept`, by its acceptance (the hold is settle's
//                                               option, so finishing is due at EPOCH + hold)
//
// Entries are empty files (the name is the data), written and removed in the same group commit as
// the state change (PaymentStore). The record stays the truth: an entry whose record is no longer
// in the entry's state is stale and removed by the pass that meets it; `PaymentStore.reindex`
// (a rerun of a stage, `qrpay-spool check --repair`) writes a missing one.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments

package enum DueKind: String, Sendable, CaseIterable {
    /// `request` payments, by expiry.
    case expires
    /// `accept` payments, by acceptance.
    case accepted

    /// The state a payment has while its entry of this kind is current.
    package var state: PaymentState { self == .expires ? .request : .accept }
}

package struct DueEntry: Sendable, Equatable, Hashable {
    package let kind: DueKind
    /// Seconds since 1970 (UTC).
    package let epoch: Int64
    package let shop: String
    package let payment: String

    package var name: String { "\(epoch)~\(shop)~\(payment)" }
    package var minute: String { DueIndex.minute(epoch) }

    package init(kind: DueKind, epoch: Int64, shop: String, payment: String) {
        self.kind = kind; self.epoch = epoch; self.shop = shop; self.payment = payment
    }

    /// Parses `EPOCH~SHOP~PAYMENT` (nil for anything else).
    package init?(kind: DueKind, name: String) {
        let parts = name.split(separator: "~", omittingEmptySubsequences: false)
        guard parts.count == 3, let epoch = Int64(parts[0]), Identifier.isValid(String(parts[1])),
              Identifier.isValid(String(parts[2])) else { return nil }
        self.init(kind: kind, epoch: epoch, shop: String(parts[1]), payment: String(parts[2]))
    }
}

package enum DueIndex {
    package static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }

    /// The entry `record` should have now: a `request` by its expiry, an `accept` by its acceptance.
    package static func entry(for record: PaymentRecord) -> DueEntry? {
        switch record.state {
        case .request:
            return DueEntry(kind: .expires, epoch: seconds(record.info.expires), shop: record.info.shop, payment: record.info.payment)
        case .accept:
            guard let accepted = record.history.last(where: { $0.state == .accept })?.at else { return nil }
            return DueEntry(kind: .accepted, epoch: seconds(accepted), shop: record.info.shop, payment: record.info.payment)
        default:
            return nil
        }
    }

    /// Every entry the record may have had at some point (for removing stale ones).
    static func candidates(for record: PaymentRecord) -> [DueEntry] {
        var out = [DueEntry(kind: .expires, epoch: seconds(record.info.expires), shop: record.info.shop, payment: record.info.payment)]
        for h in record.history where h.state == .accept {
            out.append(DueEntry(kind: .accepted, epoch: seconds(h.at), shop: record.info.shop, payment: record.info.payment))
        }
        return out
    }

    package static func path(_ entry: DueEntry, layout: SpoolLayout) -> String {
        layout.dueDirectory(entry.kind) + "/" + entry.minute + "/" + entry.name
    }

    /// `YYYYMMDDTHHMM` (UTC) of a time in seconds.
    static func minute(_ epoch: Int64) -> String {
        let text = Timestamp.format(Date(timeIntervalSince1970: TimeInterval(epoch)))  // YYYY-MM-DDTHH:MM:SSZ
        var b: [UInt8] = Array(text.utf8)
        b.removeSubrange(16...)      // YYYY-MM-DDTHH:MM
        b.remove(at: 13)             // YYYY-MM-DDTHHMM
        b.remove(at: 7); b.remove(at: 4)  // YYYYMMDDTHHMM
        return String(decoding: b, as: UTF8.self)
    }

    /// The first second of a MINUTE directory name, or nil for another name.
    static func minuteStart(_ name: String) -> Int64? {
        var b: [UInt8] = Array(name.utf8)
        guard b.count == 13, b[8] == 0x54 else { return nil }
        b.insert(0x3A, at: 11)       // YYYYMMDDTHH:MM
        b.insert(0x2D, at: 6); b.insert(0x2D, at: 4)  // YYYY-MM-DDTHH:MM
        b += Array(":00Z".utf8)
        return Timestamp.parse(String(decoding: b, as: UTF8.self)).map(seconds)
    }

    /// The entries of `kind` due at or before `cutoff` (seconds), oldest minute first: only the
    /// minute directories that have begun by then are listed, and within the last one only the
    /// entries due by then are returned. Work is proportional to what is due, plus one listing of
    /// the (few) minute directories.
    package static func due(_ kind: DueKind, by cutoff: Int64, layout: SpoolLayout) throws -> [DueEntry] {
        var out: [DueEntry] = []
        let base = layout.dueDirectory(kind)
        var minutes: [(Int64, String)] = []
        for name in try FileIO.listDirectory(base) {
            guard let start = minuteStart(name), start <= cutoff else { continue }
            minutes.append((start, name))
        }
        minutes.sort { $0.0 < $1.0 }
        for (_, name) in minutes {
            var entries: [DueEntry] = []
            for file in try FileIO.listDirectory(base + "/" + name) {
                guard let entry = DueEntry(kind: kind, name: file), entry.epoch <= cutoff else { continue }
                entries.append(entry)
            }
            entries.sort { ($0.epoch, $0.shop, $0.payment) < ($1.epoch, $1.shop, $1.payment) }
            out += entries
        }
        return out
    }

    /// Removes the minute directories of `kind` that ended before `cutoff` and are empty (after a
    /// pass took their entries). Best effort: a directory that still holds something stays.
    package static func removeEmptyMinutes(_ kind: DueKind, before cutoff: Int64, layout: SpoolLayout) {
        let base = layout.dueDirectory(kind)
        for name in (try? FileIO.listDirectory(base)) ?? [] {
            guard let start = minuteStart(name), start + 60 <= cutoff else { continue }
            _ = rmdir(base + "/" + name)  // ENOTEMPTY: something is still due there
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
