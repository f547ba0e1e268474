// Batch reconciliation (`qrpay-reconcile`): per shop and day, counts and totals by state and currency,
// and, given the shop's own journal, the list of discrepancies between the shop and the PG.
//
// Reads only the state markers of the day, ROOT/pg/states/STATE/DAY/SHOP~PAYMENT~CURRENCY~TOTAL (the
// day is the payment's creation day, UTC): names carry everything, so no record is opened and no
// other day is scanned. Directories are streamed (readdir), so memory holds the tallies (one per
// shop, state and currency) and, with a shop journal, that shop's payments of the day.
//
// The shop's journal (ROOT/shops/ID/journal.jsonl, written by `qrpay-shop`) has one JSON object a
// line: {"event":"created","payment","currency","total","created",...} for a payment it signed,
// {"event":"cancel","payment",...} for a cancel it sent. Created payments of the day (by `created`,
// else `at`) are matched with the PG's markers; a cancel counts for its payment whatever its day.
//
// Discrepancies (kind):
//   missing-at-pg     the shop made it, the PG has no such payment that day (still in pg/inbox, or quarantined?)
//   missing-at-shop   the PG has it, the shop's journal does not
//   amount-mismatch   currency or total differ
//   state-mismatch    the shop cancelled it but the PG has it request, accept or finish; or the PG
//                     has it cancelled and the shop never sent a cancel
//   two-states        the PG has markers of the payment in two states (see `qrpay-spool check`)
// A cancel the PG refused because the payment had expired agrees (no money moves on either side).

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
import QRPayLedger
#if canImport(Glibc)
import Glibc
#endif

package struct Tally: Equatable, Sendable {
    package var count: Int64 = 0
    package var total: Int64 = 0

    mutating func add(_ amount: Int64) throws {
        let (sum, overflow) = total.addingReportingOverflow(amount)
        guard !overflow else { throw QRPayError(.reconcileOverflow, "a total overflows 64-bit minor units") }
        total = sum
        count += 1
    }

    var json: JSONValue { ["count": .int(count), "total": .int(total)] }

    /// With the currency's exponent and the total as a decimal string beside the minor units.
    func json(currency: String) -> JSONValue {
        let c = try? Currency(currency)
        return ["count": .int(count), "total": .int(total), "exponent": c.map { .int(Int64($0.exponent)) } ?? .null,
                "decimal": c.map { .string($0.decimal(total)) } ?? .null]
    }
}

package struct Discrepancy: Equatable, Sendable {
    package let kind: String
    package let shop: String
    package let payment: String
    /// What the PG has (state, currency, total), if anything.
    package let pgState: PaymentState?
    package let pgCurrency: String?
    package let pgTotal: Int64?
    /// What the shop's journal says, if anything.
    package let shopCurrency: String?
    package let shopTotal: Int64?
    package let shopCancelled: Bool?
    package let message: String

    package var json: JSONValue {
        var pg: JSONValue = .null
        if let pgState {
            pg = ["state": .string(pgState.rawValue), "currency": pgCurrency.map { .string($0) } ?? .null,
                  "total": pgTotal.map { .int($0) } ?? .null,
                  "decimal": pgCurrency.flatMap { c in pgTotal.flatMap { t in (try? Currency(c)).map { .string($0.decimal(t)) } } } ?? .null]
        }
        var shopSide: JSONValue = .null
        if let shopCurrency {
            shopSide = ["currency": .string(shopCurrency), "total": shopTotal.map { .int($0) } ?? .null,
                        "decimal": shopTotal.flatMap { t in (try? Currency(shopCurrency)).map { .string($0.decimal(t)) } } ?? .null,
                        "cancelled": .bool(shopCancelled ?? false)]
        }
        return ["kind": .string(kind), "shop": .string(shop), "payment": .string(payment), "pg": pg,
                "shopJournal": shopSide, "message": .string(message)]
    }
}

package struct ReconcileReport: Sendable {
    package let day: String
    package let shop: String?
    package let generated: Date
    package let shopJournal: String?
    /// shop → state → currency → tally.
    package var shops: [String: [PaymentState: [String: Tally]]] = [:]
    package var discrepancies: [Discrepancy] = []
    package var markers: Int64 = 0

    package var json: JSONValue {
        var shopsJSON: [String: JSONValue] = [:]
        var overall: [PaymentState: [String: Tally]] = [:]
        for (shop, states) in shops {
            var s: [String: JSONValue] = [:]
            for (state, currencies) in states {
                s[state.rawValue] = .object(Dictionary(uniqueKeysWithValues: currencies.map { ($0.key, $0.value.json(currency: $0.key)) }))
                for (cur, t) in currencies {
                    var o = overall[state, default: [:]][cur, default: Tally()]
                    o.count += t.count; o.total = o.total &+ t.total
                    overall[state, default: [:]][cur] = o
                }
            }
            shopsJSON[shop] = .object(s)
        }
        var states: [String: JSONValue] = [:]
        for state in PaymentState.allCases {
            states[state.rawValue] = .object(Dictionary(uniqueKeysWithValues: (overall[state] ?? [:]).map { ($0.key, $0.value.json(currency: $0.key)) }))
        }
        return ["v": 1, "day": .string(day), "shop": shop.map { .string($0) } ?? .null,
                "generated": .string(Timestamp.format(generated)), "shopJournal": shopJournal.map { .string($0) } ?? .null,
                "markers": .int(markers), "shops": .object(shopsJSON), "states": .object(states),
                "discrepancies": .array(discrepancies.map(\.json))]
    }

    /// One header, then a `total` row per shop, state and currency and a `discrepancy` row each.
    /// `total` is in minor units; `exponent` and `amount` (a decimal string) beside it say what it means.
    package var csv: String {
        func exponent(_ cur: String) -> String { (try? Currency(cur)).map { String($0.exponent) } ?? "" }
        func amount(_ cur: String, _ minor: Int64?) -> String { minor.flatMap { m in (try? Currency(cur)).map { $0.decimal(m) } } ?? "" }
        var lines = ["section,shop,state,currency,count,total,payment,kind,message,exponent,amount"]
        for shop in shops.keys.sorted() {
            for state in PaymentState.allCases {
                for (cur, t) in (shops[shop]?[state] ?? [:]).sorted(by: { $0.key < $1.key }) {
                    lines.append(["total", shop, state.rawValue, cur, String(t.count), String(t.total), "", "", "",
                                  exponent(cur), amount(cur, t.total)].map(csvField).joined(separator: ","))
                }
            }
        }
        for d in discrepancies {
            let cur = d.pgCurrency ?? d.shopCurrency ?? ""
            lines.append(["discrepancy", d.shop, d.pgState?.rawValue ?? "", cur, "",
                          (d.pgTotal ?? d.shopTotal).map(String.init) ?? "", d.payment, d.kind, d.message,
                          exponent(cur), amount(cur, d.pgTotal ?? d.shopTotal)].map(csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

package enum Reconcile {
    package enum Format: String, Sendable, CaseIterable { case csv, json }

    /// `YYYY-MM-DD`, `today` or `yesterday` (UTC) as a day; nil when it is none of them.
    package static func day(_ text: String, now: Date = Date()) -> String? {
        switch text {
        case "today": return Timestamp.day(now)
        case "yesterday": return Timestamp.day(now - 86400)
        default: return isDay(text) ? text : nil
        }
    }

    /// YYYY-MM-DD, a real date.
    package static func isDay(_ text: String) -> Bool { Timestamp.isDay(text) }

    /// What the shop says about one payment of the day.
    struct ShopSide {
        var currency: String
        var total: Int64
        var cancelled = false
        var seenState: PaymentState?
    }

    /// Reads the shop's journal: its payments created on `day`, and which of them it cancelled.
    static func readShopJournal(_ path: String, day: String) throws -> [String: ShopSide] {
        let reader: LineReader
        do { reader = try LineReader(path: path) } catch let e as QRPayError {
            throw e.prefixed("cannot read the shop journal: ")
        }
        var created: [String: ShopSide] = [:]
        var cancels: [String] = []
        var lineNumber = 0
        while let line = try reader.next() {
            lineNumber += 1
            if line.isEmpty { continue }
            do {
                let r = try JSONObjectReader(try JSONValue.parse(line, what: "shop journal line"), what: "shop journal line")
                let payment = try r.string("payment", maxLength: 200)
                switch try r.string("event", maxLength: 40) {
                case "created":
                    let when = try r.optionalString("created", maxLength: 40) ?? r.string("at", maxLength: 40)
                    guard let date = Timestamp.parse(when) else { throw QRPayError(.reconcileShopJournal, "\"created\" is not a UTC time") }
                    guard Timestamp.day(date) == day else { continue }
                    created[payment] = ShopSide(currency: try r.string("currency", maxLength: 16), total: try r.int("total"))
                case "cancel":
                    cancels.append(payment)
                default:
                    continue
                }
            } catch let e as QRPayError {
                throw QRPayError(.reconcileShopJournal, "\(path):\(lineNumber): \(e.message)")
            }
        }
        for payment in cancels { created[payment]?.cancelled = true }
        return created
    }

    /// Builds the report of `day` (for one shop or all) from the markers of that day.
    package static func run(spoolRoot: String, day: String, shop: String?, shopJournal: String?, now: Date = Date(),
                           progress: ((PaymentState, Int64) -> Void)? = nil) throws -> ReconcileReport {
        guard isDay(day) else { throw QRPayError.usage("\"\(day)\" is not a day: use YYYY-MM-DD") }
        if let shop { try Identifier.validate(shop, what: "shop") }
        let layout = SpoolLayout(root: spoolRoot)
        guard FileIO.isDirectory(layout.pgDirectory) else {
            throw QRPayError(.spoolMissing, "there is no PG spool at \(spoolRoot) (no pg/ directory): give the spool with --spool DIR or set $QRPAY_SPOOL")
        }
        if let shop, !FileIO.exists(layout.currentCertificate(role: .shop, id: shop)), !FileIO.isDirectory(layout.shopDirectory(shop)),
           !FileIO.isDirectory(layout.recordDirectory(shop: shop)) {
            // A typo in --shop must never read as "0 payments, 0 discrepancies".
            throw QRPayError(.reconcileUnknownShop, "the spool knows no shop \(shop) (no certificate in \(layout.relative(layout.certificatesDirectory(role: .shop))), no shops/\(shop)/, no payments)")
        }
        var report = ReconcileReport(day: day, shop: shop, generated: now, shopJournal: shopJournal)
        var expected: [String: ShopSide]? = nil
        if let shopJournal {
            guard let shop else { throw QRPayError.usage("--shop-journal needs --shop: a shop's journal holds only its own payments") }
            _ = shop
            expected = try readShopJournal(shopJournal, day: day)
        }
        let store = PaymentStore(spoolRoot: spoolRoot)
        let prefix = shop.map { $0 + "~" }
        // The markers are an index; the journal decides. A marker whose state is not the journal's
        // last for its payment is not counted (the difference `unjournaled`). The journal is read
        // from the day before (a shop's clock a little ahead) on.
        let dayStart = Timestamp.parse(day + "T00:00:00Z") ?? now
        let finals = try store.journal.lastStates(since: Timestamp.day(dayStart.addingTimeInterval(-86_400)))
        for state in PaymentState.allCases {
            var seen: Int64 = 0
            try FileIO.forEachEntry(store.layout.stateDirectory(state, day: day)) { name, isDirectory in
                if name.hasPrefix(".") || isDirectory { return }  // a directory named like a marker is not one
                if let prefix, !name.hasPrefix(prefix) { return }
                guard let m = StateMarker(name: name, state: state, day: day) else { return }
                let final = finals[m.shop + "/" + m.payment]
                guard final == state else {
                    report.discrepancies.append(Discrepancy(
                        kind: "unjournaled", shop: m.shop, payment: m.payment, pgState: state, pgCurrency: m.currency, pgTotal: m.total,
                        shopCurrency: nil, shopTotal: nil, shopCancelled: nil,
                        message: "a \(state.rawValue) marker, but the journal's last change of this payment is \(final.map { "to " + $0.rawValue } ?? "none"): not counted (run `qrpay-spool check`)"))
                    return
                }
                try report.shops[m.shop, default: [:]][state, default: [:]][m.currency, default: Tally()].add(m.total)
                report.markers += 1
                seen += 1
                if seen % 10_000 == 0 { progress?(state, seen) }
                if expected != nil { match(m, &expected!, &report) }
            }
            progress?(state, seen)
        }
        if let shop, let expected {
            for (payment, side) in expected.sorted(by: { $0.key < $1.key }) where side.seenState == nil {
                report.discrepancies.append(Discrepancy(
                    kind: "missing-at-pg", shop: shop, payment: payment, pgState: nil, pgCurrency: nil, pgTotal: nil,
                    shopCurrency: side.currency, shopTotal: side.total, shopCancelled: side.cancelled,
                    message: "the shop made this payment but the PG has none that day (still in pg/inbox, or quarantined: see `qrpay-spool quarantine`)"))
            }
        }
        report.discrepancies.sort { ($0.payment, $0.kind) < ($1.payment, $1.kind) }
        return report
    }

    static func match(_ m: StateMarker, _ expected: inout [String: ShopSide], _ report: inout ReconcileReport) {
        func add(_ kind: String, _ side: ShopSide?, _ message: String) {
            report.discrepancies.append(Discrepancy(
                kind: kind, shop: m.shop, payment: m.payment, pgState: m.state, pgCurrency: m.currency, pgTotal: m.total,
                shopCurrency: side?.currency, shopTotal: side?.total, shopCancelled: side?.cancelled, message: message))
        }
        guard var side = expected[m.payment] else {
            add("missing-at-shop", nil, "the PG has this payment (\(m.state.rawValue)) but the shop's journal does not")
            return
        }
        if let earlier = side.seenState {
            add("two-states", side, "the PG has this payment both \(earlier.rawValue) and \(m.state.rawValue) (run `qrpay-spool check`)")
            return
        }
        side.seenState = m.state
        expected[m.payment] = side
        if side.currency != m.currency || side.total != m.total {
            add("amount-mismatch", side, "the shop's journal says \(Currency.format(code: side.currency, minor: side.total)), the PG \(Currency.format(code: m.currency, minor: m.total))")
        }
        switch (side.cancelled, m.state) {
        case (true, .accept), (true, .finish):
            add("state-mismatch", side, "the shop cancelled this payment but the PG has it \(m.state.rawValue)")
        case (true, .request):
            add("state-mismatch", side, "the shop cancelled this payment but the PG still has it request (the cancel is queued in pg/cancels, or was refused)")
        case (false, .cancel):
            add("state-mismatch", side, "the PG cancelled this payment but the shop's journal has no cancel")
        default:
            break
        }
    }

    /// reconcile-DAY[-SHOP].csv|json
    package static func fileName(day: String, shop: String?, format: Format) -> String {
        "reconcile-\(day)" + (shop.map { "-" + $0 } ?? "") + "." + format.rawValue
    }

    /// Writes the report durably into `directory` (replacing an earlier one of the same day and
    /// shop) and, with `pg`, a PG-signed `NAME.jws` beside it:
    /// payload {"v":1,"file","sha256","bytes","day","shop","discrepancies","at"}. Returns the paths.
    package static func write(_ report: ReconcileReport, format: Format, directory: String, pg: Credentials?) throws -> (report: String, signature: String?) {
        let bytes: Data = format == .json ? report.json.serialized(pretty: true) : Data(report.csv.utf8)
        try FileIO.makePath(directory, mode: 0o750)
        let name = fileName(day: report.day, shop: report.shop, format: format)
        let path = directory + "/" + name
        let commit = GroupCommit(context: StageContext(spoolRoot: directory))
        try commit.write(bytes, to: path, mode: 0o640, ifExists: .replace)
        defer { commit.discard() }
        guard let pg else { try commit.flush(); return (path, nil) }
        let payload: JSONValue = [
            "v": 1, "file": .string(name), "sha256": .string(Base64URL.encode(Digest.sha256(bytes))), "bytes": .int(Int64(bytes.count)),
            "day": .string(report.day), "shop": report.shop.map { .string($0) } ?? .null,
            "discrepancies": .int(Int64(report.discrepancies.count)), "at": .string(Timestamp.format(report.generated)),
        ]
        let signed = try JWS.sign(payload: payload.serialized(), type: .report, credentials: pg)
        try commit.write(signed, to: path + ".jws", mode: 0o640, ifExists: .replace)
        try commit.flush()
        return (path, path + ".jws")
    }

    package static func bytes(_ report: ReconcileReport, format: Format) -> Data {
        format == .json ? report.json.serialized(pretty: true) : Data(report.csv.utf8)
    }
}
