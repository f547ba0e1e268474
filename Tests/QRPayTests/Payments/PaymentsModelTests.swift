import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPayments
@testable import QRPayLedger
import Testing

@Suite struct PaymentsModelTests {
    static let created = Date(timeIntervalSince1970: 1_795_000_000)

    func info(currency: String = "KRW", items: [PaymentItem]? = nil) throws -> PaymentInfo {
        try PaymentInfo(shop: "1001", payment: "P-1", currency: try Currency(currency),
                        items: items ?? [try PaymentItem(name: "Coffee", quantity: 2, unitPrice: 4500)],
                        created: Self.created, expires: Self.created + 900)
    }

    @Test(arguments: [("KRW", Int64(12000), "KRW 12,000"), ("USD", 1234, "USD 12.34"), ("USD", 5, "USD 0.05"),
                      ("BHD", 1_234_567, "BHD 1,234.567"), ("JPY", 0, "JPY 0"), ("EUR", 100_000_00, "EUR 100,000.00")])
    func formatsMinorUnits(code: String, minor: Int64, shown: String) throws {
        #expect(try Currency(code).format(minor) == shown)
    }

    @Test(arguments: ["XYZ", "usd", "", "KRW "])
    func refusesUnknownCurrencies(code: String) {
        #expect(throws: QRPayError.self) { try Currency(code) }
    }

    @Test func paymentRoundTripsThroughItsJSON() throws {
        let p = try info()
        #expect(p.total == 9000)
        let again = try PaymentInfo(payload: p.json.serialized())
        #expect(again == p)
    }

    @Test func commandLineItems() throws {
        let item = try PaymentItem.parse(commandLine: "Tea: green:3:1500")
        #expect(item.name == "Tea: green" && item.quantity == 3 && item.amount == 4500)
        #expect(throws: QRPayError.self) { try PaymentItem.parse(commandLine: "Tea:x:1") }
        #expect(throws: QRPayError.self) { try PaymentItem.parse(commandLine: "Tea:1") }
        #expect(throws: QRPayError.self) { try PaymentItem.parse(commandLine: "Tea:0:100") }
    }

    /// Each tampering of a valid payload is refused with its own code.
    @Test(arguments: [
        (#""total":9000"#, #""total":9001"#, "payment.total-mismatch"),
        (#""total":9000"#, #""total":9000.0"#, "json.type"),
        (#""total":9000"#, #""total":"9000""#, "json.type"),
        (#""unit":4500"#, #""unit":-4500"#, "payment.amount"),
        (#""unit":4500"#, #""unit":99999999999999999999"#, "json.malformed"),
        (#""amount":9000"#, #""amount":9001"#, "payment.item-amount"),
        (#""currency":"KRW""#, #""currency":"XXX""#, "payment.currency"),
        (#""shop":"1001""#, #""shop":"../etc""#, "id.unsafe"),
        (#""payment":"P-1""#, #""payment":"P-1","payment":"P-2""#, "json.malformed"),
        (#""v":1"#, #""v":1,"extra":true"#, "json.unknown-field"),
        (#""expires":"2026-11-18T11:21:40Z""#, #""expires":"2026-11-18T11:00:00Z""#, "payment.expiry"),
        (#""expires":"2026-11-18T11:21:40Z""#, #""expires":"tomorrow""#, "payment.time"),
    ])
    func strictParsing(original: String, replacement: String, code: String) throws {
        let text = try info().json.serializedString()
        #expect(text.contains(original), "fixture drifted: \(text)")
        let tampered = text.replacingOccurrences(of: original, with: replacement)
        let error = #expect(throws: QRPayError.self) { try PaymentInfo(payload: Data(tampered.utf8)) }
        #expect(error?.code.rawValue == code)
        if code == "payment.total-mismatch" {
            // Amounts in a refusal read as everywhere else: never bare minor units.
            #expect(error?.message == "the total KRW 9,001 is not the sum of the items (KRW 9,000)", "\(error?.message ?? "")")
        }
    }

    @Test func qrPayloadIsCompactAndStrict() throws {
        let sig = Data((0..<64).map { UInt8($0) })
        let qr = try QRPayload(shop: "1001", payment: "P-1", signature: sig)
        #expect(qr.text.hasPrefix("QRP1:1001:P-1:"))
        #expect(qr.text.utf8.count == 5 + 5 + 4 + 86)
        #expect(try QRPayload(text: qr.text) == qr)
        for bad in ["QRP2:1001:P-1:" + Base64URL.encode(sig), "QRP1:1001:P-1", "QRP1:../x:P-1:" + Base64URL.encode(sig),
                    "QRP1:1001:P-1:" + Base64URL.encode(sig.prefix(63)), "http://example.com"] {
            #expect(throws: QRPayError.self) { try QRPayload(text: bad) }
        }
    }

    @Test(arguments: PaymentState.allCases)
    func onlyThePapersTransitions(state: PaymentState) {
        let allowed = PaymentState.allCases.filter { state.canMove(to: $0) }
        switch state {
        case .request: #expect(allowed == [.accept, .cancel, .expire])
        case .accept: #expect(allowed == [.finish, .cancel])
        case .finish, .cancel, .expire: #expect(allowed.isEmpty)
        }
    }

    @Test func journalChainsAndSurvivesATornLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qrpay-journal-\(UUID())").path
        try FileIO.makeDirectory(dir, mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = Journal(layout: SpoolLayout(root: dir))
        let t = Self.created
        try journal.append([TransitionRequest(shop: "1", payment: "a", from: nil, to: .request, evidence: Data("x".utf8), at: t)])
        // A crash mid-write leaves a torn line; the next append cuts it and chains from the last whole entry.
        let file = try journal.files()[0]
        let fd = open(file, O_WRONLY | O_APPEND)
        _ = "{\"seq\":2,\"at".withCString { write(fd, $0, strlen($0)) }
        close(fd)
        try journal.append([TransitionRequest(shop: "1", payment: "a", from: .request, to: .accept, evidence: Data("y".utf8), at: t + 1),
                            TransitionRequest(shop: "1", payment: "a", from: .accept, to: .finish, evidence: Data("z".utf8), at: t + 2)])
        var entries: [JournalEntry] = []
        try journal.forEachEntry { e, _, _ in entries.append(e) }
        #expect(entries.map(\.seq) == [1, 2, 3])
        #expect(entries.allSatisfy { $0.isIntact })
        #expect(entries[0].prev == Journal.genesis)
        #expect(entries[1].prev == entries[0].hash && entries[2].prev == entries[1].hash)
    }
}
