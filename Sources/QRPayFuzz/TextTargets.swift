// Targets over text formats: strict JSON, JWS (flattened and compact), payment information, the
// other documents and records, the QR payload, base64url and hex.

import Foundation
import QRPaySupport
import QRPayPKI
import QRPayPayments
import QRPayLedger
import QRPayStages
import QRPayOperations

/// The time at which targets verify signatures: inside the fixture certificates' validity.
let fixtureNow: Date = Timestamp.parse(FixturePKI.listNow) ?? Date()

/// Serialised → parsed: the same value (reals included: they are written with 17 significant
/// digits); serialised again: the same bytes.
func checkJSONRoundTrip(_ value: JSONValue, what: String) throws {
    for pretty in [false, true] {
        let once = value.serialized(pretty: pretty)
        let again = try must("parsing the serialised \(what) (\(text(once).prefix(200)))") { try JSONValue.parse(once, options: .init(maxBytes: 64 << 20)) }
        try require(again == value, "\(what): the serialised form \(text(once).prefix(200)) parses to another value")
        try require(again.serialized(pretty: pretty) == once, "\(what): serialising is not stable (\(text(once).prefix(200)))")
    }
}

enum JSONTarget {
    static func run(_ data: Data) throws -> FuzzOutcome {
        switch try attempt({ try JSONValue.parse(data) }) {
        case .failure(let error):
            return .refused(error.code.rawValue)
        case .success(let value):
            try checkJSONRoundTrip(value, what: "JSON")
            // Field access as the documents use it: never a crash, errors follow the convention.
            if case .object = value {
                let reader = try must("reading an object") { try JSONObjectReader(value, what: "fuzz") }
                for key in reader.members.keys.sorted().prefix(8) {
                    _ = try attempt { try reader.string(key) }
                    _ = try attempt { try reader.int(key, in: 0...1_000_000) }
                    _ = try attempt { try reader.array(key, maxCount: 10) }
                    _ = try attempt { try reader.object(key).requireOnly(["a"]) }
                }
            }
            return .accepted
        }
    }
}

enum JWSTarget {
    static func run(_ data: Data) throws -> FuzzOutcome {
        let env = FuzzEnvironment.shared
        // RFC 7515 compact serialisation (BASE64URL(header).BASE64URL(payload).BASE64URL(signature)) is
        // read as the flattened JSON serialisation of the same three members, as interoperating tools do.
        let compact = data.first != UInt8(ascii: "{")
        let document: Data
        if compact {
            let parts = text(data).split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 3 else { return .refused("jws.malformed") }
            document = JSONValue.object(["protected": .string(String(parts[0])), "payload": .string(String(parts[1])),
                                         "signature": .string(String(parts[2]))]).serialized()
        } else {
            document = data
        }
        let jws: JWS
        switch try attempt({ try JWS(parsing: document) }) {
        case .failure(let error): return .refused(error.code.rawValue)
        case .success(let parsed): jws = parsed
        }
        try require(jws.signature.count == 64, "an ES256 signature of \(jws.signature.count) bytes was accepted")
        try require(jws.fingerprint.utf8.count == 43 && Base64URL.decode(jws.fingerprint)?.count == 32,
                    "the x5t#S256 \"\(jws.fingerprint.prefix(60))\" is not a SHA-256 fingerprint")
        try require(Base64URL.encode(jws.signature) == jws.encodedSignature, "the signature has two spellings")
        let signed = text(jws.signingInput).split(separator: ".", omittingEmptySubsequences: false)
        try require(signed.count == 2 && Base64URL.decode(String(signed[1])) == jws.payload,
                    "the signing input is not BASE64URL(protected).BASE64URL(payload)")
        if compact {
            try require(jws.documentHash == Base64URL.encode(Digest.sha256(data)),
                        "the document hash is not the hash of the compact serialisation")
        }
        let again = try must("parsing the JWS's own object") { try JWS(parsing: jws.object.serialized()) }
        try require(again.payload == jws.payload && again.signature == jws.signature && again.type == jws.type
                    && again.fingerprint == jws.fingerprint && again.signingInput == jws.signingInput,
                    "the JWS's own object parses to another JWS")

        // Verification with the fixture shop's key, and through the trust store (chain, validity, CRL).
        let signedByShop = jws.verifySignature(with: env.shop.publicKey)
        let kind = DocumentType(rawValue: jws.type)
        let verified = try attempt { try env.trust.verify(jws, type: kind ?? .payment, role: .shop, id: nil, at: fixtureNow) }
        let shouldVerify = signedByShop && kind != nil && jws.fingerprint == env.shop.fingerprint
        switch verified {
        case .success(let document):
            try require(shouldVerify, "a document verified that the fixture shop did not sign (typ \(jws.type.prefix(40)))")
            try require(document.payload == jws.payload && document.id == "1001", "the verified document is not the one parsed")
            switch kind {
            case .payment?: _ = try PaymentTarget.run(jws.payload)
            case .approval?, .cancel?, .notice?, .receipt?, .checkpoint?: _ = try DocumentsTarget.run(jws.payload)
            default: break
            }
            return .accepted
        case .failure(let error):
            try require(!shouldVerify, "the fixture shop's valid signature did not verify: \(error)")
            return .refused(error.code.rawValue)
        }
    }
}

enum PaymentTarget {
    static func run(_ data: Data) throws -> FuzzOutcome {
        let info: PaymentInfo
        switch try attempt({ try PaymentInfo(payload: data) }) {
        case .failure(let error): return .refused(error.code.rawValue)
        case .success(let parsed): info = parsed
        }
        try require(Identifier.isValid(info.shop) && Identifier.isValid(info.payment), "an unsafe id was accepted")
        try require((1...200).contains(info.items.count), "\(info.items.count) items were accepted")
        var sum: Int64 = 0
        for item in info.items {
            try require(item.quantity >= 1 && item.unitPrice >= 0 && item.amount <= maximumAmount, "an item out of range was accepted")
            sum += item.amount
        }
        try require(sum == info.total && info.total > 0 && info.total <= maximumAmount, "the total \(info.total) is not the items' sum \(sum)")
        try require(info.expires > info.created && info.expires.timeIntervalSince(info.created) <= 7 * 86400, "the validity period is out of range")
        let serialised = info.json.serialized()
        let again = try must("parsing the serialised payment information") { try PaymentInfo(payload: serialised) }
        try require(again == info, "payment information changes through serialisation")
        try require(again.json.serialized() == serialised, "serialising payment information is not stable")
        _ = info.currency.format(info.total)
        let qr = try must("a QR payload for the payment") { try QRPayload(shop: info.shop, payment: info.payment, signature: Data(count: 64)) }
        try require((try? QRPayload(text: qr.text)) == qr, "the payment's QR payload does not round-trip")
        return .accepted
    }
}

/// The other payloads and records: approvals, cancels, notices and receipts, checkpoints, and the
/// PG's payment records. Every parser sees every input; accepted when one of them accepts it.
enum DocumentsTarget {
    static func run(_ data: Data) throws -> FuzzOutcome {
        var outcomes: [FuzzOutcome] = []
        func roundTrip<T: Equatable>(_ what: String, parse: (Data) throws -> T, serialise: (T) -> Data) throws {
            switch try attempt({ try parse(data) }) {
            case .failure(let error):
                outcomes.append(.refused(error.code.rawValue))
            case .success(let value):
                let once = serialise(value)
                let again = try must("parsing the serialised \(what)") { try parse(once) }
                try require(again == value, "the \(what) changes through serialisation")
                try require(serialise(again) == once, "serialising the \(what) is not stable")
                outcomes.append(.accepted)
            }
        }
        try roundTrip("approval", parse: { try Approval(payload: $0) }, serialise: { $0.json.serialized() })
        try roundTrip("cancel", parse: { try Cancel(payload: $0) }, serialise: { $0.json.serialized() })
        try roundTrip("notice", parse: { try StateNotice(payload: $0) }, serialise: { $0.json.serialized() })
        try roundTrip("checkpoint", parse: { try Checkpoint(payload: $0) }, serialise: { $0.json.serialized() })
        try roundTrip("payment record", parse: { try PaymentRecord(data: $0) }, serialise: { $0.serialized() })
        if case .success(let approval) = try attempt({ try Approval(payload: data) }) {
            try require(Identifier.isValid(approval.shop) && Identifier.isValid(approval.user) && Identifier.isValid(approval.audience),
                        "an approval with an unsafe id was accepted")
            try require((1...maximumAmount).contains(approval.total), "an approval total out of range was accepted")
        }
        if case .success(let record) = try attempt({ try PaymentRecord(data: data) }) {
            try require(record.json["total"]?.intValue == record.info.total, "a record's total disagrees with its document")
        }
        return outcomes.first(where: { $0 == .accepted }) ?? outcomes.first ?? .refused("fuzz.none")
    }
}

enum QRPayloadTarget {
    static func run(_ data: Data) throws -> FuzzOutcome {
        let input = text(data)
        switch try attempt({ try QRPayload(text: input) }) {
        case .failure(let error):
            return .refused(error.code.rawValue)
        case .success(let qr):
            try require(qr.text == input, "the QR text \"\(input.prefix(120))\" has another canonical spelling \"\(qr.text.prefix(120))\"")
            try require((try? QRPayload(text: qr.text)) == qr, "the QR payload does not round-trip")
            try require(qr.signature.count == 64 && Identifier.isValid(qr.shop) && Identifier.isValid(qr.payment), "a bad QR payload was accepted")
            try require(qr.listToken.utf8.count == 43 && !qr.listToken.contains("/"), "the list token is not a base64url SHA-256")
            return .accepted
        }
    }
}

enum Base64URLTarget {
    static func run(_ data: Data) throws -> FuzzOutcome {
        // Bytes → text → bytes.
        let encoded = Base64URL.encode(data)
        try require(encoded.utf8.count == (data.count * 4 + 2) / 3, "base64url of \(data.count) bytes has \(encoded.utf8.count) characters")
        try require(Base64URL.decode(encoded) == data, "base64url does not round-trip \(data.count) bytes")
        let hex = Hex.encode(data)
        try require(Hex.decode(hex) == data, "hex does not round-trip")
        // Text → bytes → text: a strict decoder accepts one spelling per value.
        let input = text(data)
        if let hexBytes = Hex.decode(input) { try require(Hex.encode(hexBytes) == input.lowercased(), "hex \"\(input.prefix(80))\" has another spelling") }
        guard let decoded = Base64URL.decode(input) else { return .refused("base64url.invalid") }
        try require(Base64URL.encode(decoded) == input, "\"\(input.prefix(80))\" decodes but is not the canonical spelling")
        return .accepted
    }
}

/// Bank files (pain.002.001.12, camt.053.001.08, camt.054.001.08) as qrpay-payout reads them from
/// pg/bank/new/: libxml2 without network, entities or DTDs, then the schema's rules for the
/// elements read. Accepted: one of the three types, a message id of 1-35 characters, status items
/// only in a pain.002 and bookings only in a camt, amounts in minor units that the currency's
/// decimal writes and reads back, ISO days, each item's JSON round-trips, and parsing the same
/// bytes again gives the same message.
enum BankTarget {
    static let types = ["pain.002.001.12", "camt.053.001.08", "camt.054.001.08"]

    static func run(_ data: Data) throws -> FuzzOutcome {
        switch try attempt({ try BankMessage.parse(data) }) {
        case .failure(let error):
            return .refused(error.code.rawValue)
        case .success(let m):
            try require(types.contains(m.type), "a message of type \(m.type) was accepted")
            try require(!m.messageId.isEmpty && m.messageId.count <= 35, "message id \"\(m.messageId.prefix(60))\" is not Max35Text")
            for item in m.items {
                if let e2e = item.endToEndId { try require(!e2e.isEmpty && e2e.count <= 35, "end-to-end id \"\(e2e.prefix(60))\" is not Max35Text") }
                if let day = item.day { try require(Timestamp.isDay(day), "booking day \(day) is not YYYY-MM-DD") }
                switch item.kind {
                case .status:
                    try require(m.type == types[0], "a status item in a \(m.type)")
                    try require(item.amount == nil && item.currency == nil && item.status.count == 4, "a status item with an amount or a long code")
                    try require(item.endToEndId != nil || item.originalMessage != nil, "a status item that names nothing")
                case .booking:
                    try require(m.type != types[0], "a booking in a pain.002")
                    guard let amount = item.amount, let code = item.currency else {
                        throw FuzzViolation(target: "", message: "a booking without an amount or currency")
                    }
                    let currency = try must("the booking's currency \(code)") { try Currency(code) }
                    let decimal = ISO20022.decimal(amount, exponent: currency.exponent)
                    try require(amount >= 0 && ISO20022.minorUnits(decimal, exponent: currency.exponent) == amount,
                                "amount \(amount) \(code) does not read back from \(decimal)")
                }
                try checkJSONRoundTrip(item.json, what: "bank item")
            }
            let again = try must("parsing the same bank file again") { try BankMessage.parse(data) }
            try require(again.type == m.type && again.messageId == m.messageId && again.created == m.created && again.items == m.items,
                        "the same bank file parses differently the second time")
            return .accepted
        }
    }
}
