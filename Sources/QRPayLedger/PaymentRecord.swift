// The PG's record of one payment: the shop's signed document, the facts of its verification, its
// state and its history, each transition with its time and evidence (the signed document that
// caused it, or the rule that did).
//
// Records are JSON files an operator can read with `jq` (see PaymentStore for where they live).

import Foundation
import QRPaySupport
import QRPayPKI
import QRPayPayments

package struct HistoryEntry: Equatable, Sendable {
    package let state: PaymentState
    package let at: Date
    /// What caused the transition: {"type": "payment"|"approval"|"cancel"|"hold-elapsed"|"expired", ...}
    package let evidence: JSONValue

    package init(state: PaymentState, at: Date, evidence: JSONValue) {
        self.state = state
        self.at = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down))
        self.evidence = evidence
    }

    var json: JSONValue {
        ["state": .string(state.rawValue), "at": .string(Timestamp.format(at)), "evidence": evidence]
    }
}

package struct PaymentRecord: Equatable, Sendable {
    package static let version: Int64 = 1
    package var info: PaymentInfo
    package var state: PaymentState
    /// The shop's payment JWS exactly as received (flattened JSON serialization).
    package var document: Data
    /// base64url SHA-256 of the shop's JWS in compact form: what approvals bind to.
    package var documentHash: String
    /// base64url raw signature of the shop's JWS (what the QR code carries).
    package var signature: String
    package var signer: JSONValue

    /// The record's `signer`: what identifies the shop's certificate the payment was verified with.
    package static func signer(_ certificate: Certificate) -> JSONValue {
        ["fingerprint": .string(certificate.fingerprint), "serial": .string(certificate.serialHex),
         "name": .string(certificate.displayName), "notAfter": .string(Timestamp.format(certificate.notAfter))]
    }
    package var qrPath: String
    package var user: String?
    package var history: [HistoryEntry]
    /// The payout that paid this (finished) payment out, once one did (Payouts/PayoutStage.swift).
    package var payout: String?
    /// `document` parsed, when whoever made the record had it at hand (saves parsing it again to
    /// serialize the record); not part of the record's value.
    package var parsedDocument: JSONValue?

    package static func == (a: PaymentRecord, b: PaymentRecord) -> Bool {
        a.info == b.info && a.state == b.state && a.document == b.document && a.documentHash == b.documentHash
            && a.signature == b.signature && a.signer == b.signer && a.qrPath == b.qrPath && a.user == b.user
            && a.history == b.history && a.payout == b.payout
    }

    package init(info: PaymentInfo, state: PaymentState, document: Data, documentHash: String, signature: String,
                signer: JSONValue, qrPath: String, user: String? = nil, history: [HistoryEntry]) {
        self.info = info; self.state = state; self.document = document; self.documentHash = documentHash
        self.signature = signature; self.signer = signer; self.qrPath = qrPath; self.user = user; self.history = history
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "v": .int(PaymentRecord.version),
            "shop": .string(info.shop),
            "payment": .string(info.payment),
            "state": .string(state.rawValue),
            "currency": .string(info.currency.code),
            "total": .int(info.total),
            "items": info.json["items"]!,
            "created": .string(Timestamp.format(info.created)),
            "expires": .string(Timestamp.format(info.expires)),
            "document": parsedDocument ?? (try? JSONValue.parse(document)) ?? .string(String(decoding: document, as: UTF8.self)),
            "documentHash": .string(documentHash),
            "signature": .string(signature),
            "signer": signer,
            "qr": .string(qrPath),
            "history": .array(history.map(\.json)),
        ]
        if let user { o["user"] = .string(user) }
        if let payout { o["payout"] = .string(payout) }
        return .object(o)
    }

    package func serialized() -> Data { json.serialized(pretty: true) }

    package init(data: Data) throws {
        let value = try JSONValue.parse(data, options: .init(maxBytes: 4 << 20), what: "payment record")
        let r = try JSONObjectReader(value, what: "payment record")
        try r.requireOnly(["v", "shop", "payment", "state", "currency", "total", "items", "created", "expires",
                           "document", "documentHash", "signature", "signer", "qr", "history", "user", "payout"])
        guard let state = PaymentState(rawValue: try r.string("state")) else {
            throw QRPayError(.recordMalformed, "payment record has an unknown state")
        }
        let document = try r.value("document")
        let documentData = document.serialized()
        // The info is re-derived from the shop's signed payload, never from the record's copy.
        guard let payloadText = document["payload"]?.stringValue, let payload = Base64URL.decode(payloadText) else {
            throw QRPayError(.recordMalformed, "payment record's document is not a JWS")
        }
        let info = try PaymentInfo(payload: payload)
        var history: [HistoryEntry] = []
        for entry in try r.array("history", maxCount: 100) {
            let h = try JSONObjectReader(entry, what: "history entry")
            guard let s = PaymentState(rawValue: try h.string("state")), let at = Timestamp.parse(try h.string("at")) else {
                throw QRPayError(.recordMalformed, "payment record has a malformed history entry")
            }
            history.append(HistoryEntry(state: s, at: at, evidence: (try? h.value("evidence")) ?? .null))
        }
        self.init(info: info, state: state, document: documentData, documentHash: try r.string("documentHash"),
                  signature: try r.string("signature"), signer: try r.value("signer"), qrPath: try r.string("qr", maxLength: 4096),
                  user: try r.optionalString("user"), history: history)
        payout = try r.optionalString("payout", maxLength: 64)
        // The record's summary fields must agree with the signed document.
        guard try r.string("shop") == info.shop, try r.string("payment") == info.payment,
              try r.int("total") == info.total, try r.string("currency") == info.currency.code else {
            throw QRPayError(.recordMismatch, "payment record's summary disagrees with the shop's signed document")
        }
    }

    package var lastTransition: HistoryEntry? { history.last }
}
