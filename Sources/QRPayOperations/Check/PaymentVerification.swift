// `qrpay-spool show`: every signature of a payment re-verified now, against the spool's CA and
// today's CRL: the shop's payment document (and that the record's hash, signature and summary are
// its own), and the evidence of each history entry that is a signed document (a user's approval, a
// shop's cancel) with what it must bind to. Each signature is judged as of the time the PG took the
// document (its history entry): a certificate that has since expired, or was revoked after, still
// vouches for what it signed before; one revoked by then does not. Transitions made by a rule (hold
// elapsed, expiry) carry no signature and are not listed.

import Foundation
import QRPaySupport
import QRPayPKI
import QRPayPayments
import QRPayLedger

package struct SignatureCheck: Sendable, Equatable {
    /// "payment", "approval", "cancel".
    package let document: String
    /// The state the document moved the payment to (nil for the payment document itself).
    package let state: PaymentState?
    /// "shop 1001", "user u1" (from the certificate) or what the document claims.
    package let signer: String
    package let ok: Bool
    /// The QRPayError code when not ok.
    package let code: String?
    package let message: String

    package var json: JSONValue {
        var o: [String: JSONValue] = ["document": .string(document), "signer": .string(signer), "ok": .bool(ok),
                                      "message": .string(message)]
        if let state { o["state"] = .string(state.rawValue) }
        if let code { o["code"] = .string(code) }
        return .object(o)
    }
}

package enum PaymentVerification {
    package static func verify(_ record: PaymentRecord, spoolRoot: String, now: Date = Date()) -> [SignatureCheck] {
        var checks: [SignatureCheck] = []
        let trust: TrustStore
        do { trust = try TrustStore(spoolRoot: spoolRoot) } catch {
            // Fail closed: no trust store means nothing is verified, and the result says so.
            let e = (error as? QRPayError) ?? QRPayError(.internalError, "\(error)")
            return [SignatureCheck(document: "payment", state: nil, signer: "shop \(record.info.shop)", ok: false, code: e.code.rawValue,
                                   message: "cannot verify: \(e.message)")]
        }

        func run(_ document: String, _ state: PaymentState?, _ claimed: String, _ body: () throws -> String) {
            do {
                let signer = try body()
                checks.append(SignatureCheck(document: document, state: state, signer: signer, ok: true, code: nil,
                                             message: "signature verified"))
            } catch let e as QRPayError {
                checks.append(SignatureCheck(document: document, state: state, signer: claimed, ok: false, code: e.code.rawValue, message: e.message))
            } catch {
                checks.append(SignatureCheck(document: document, state: state, signer: claimed, ok: false, code: ErrorCode.internalError.rawValue, message: "\(error)"))
            }
        }
        func mismatch(_ what: String) -> QRPayError { QRPayError(.verifyMismatch, what) }
        func name(_ d: VerifiedDocument) -> String { "\(d.role.rawValue) \(d.id) (\(d.signer.displayName))" }

        let info = record.info
        run("payment", nil, "shop \(info.shop)") {
            let jws = try JWS(parsing: record.document)
            let verified = try trust.verify(jws, type: .payment, role: .shop, id: info.shop, at: record.history.first?.at ?? info.created)
            guard try PaymentInfo(payload: jws.payload) == info else { throw mismatch("the signed payment differs from the record's") }
            guard jws.documentHash == record.documentHash else { throw mismatch("the record's documentHash is not the signed document's") }
            guard Base64URL.encode(jws.signature) == record.signature else { throw mismatch("the record's signature is not the signed document's (the QR code would not match)") }
            return name(verified)
        }
        for entry in record.history {
            guard let type = entry.evidence["type"]?.stringValue, let document = entry.evidence["document"] else {
                if entry.evidence["type"]?.stringValue == "payment", entry.evidence["documentHash"]?.stringValue != record.documentHash {
                    checks.append(SignatureCheck(document: "payment", state: entry.state, signer: "shop \(info.shop)", ok: false,
                                                 code: ErrorCode.verifyMismatch.rawValue, message: "the history's first entry names another payment document"))
                }
                continue
            }
            let evidenceHash = entry.evidence["documentHash"]?.stringValue
            switch type {
            case "approval":
                run("approval", entry.state, "user \(entry.evidence["user"]?.stringValue ?? "?")") {
                    let jws = try JWS(parsing: document.serialized())
                    let a = try Approval(payload: jws.payload)
                    let verified = try trust.verify(jws, type: .approval, role: .user, id: a.user, at: entry.at)
                    guard a.shop == info.shop, a.payment == info.payment, a.total == info.total,
                          a.currency == info.currency.code, a.document == record.documentHash else {
                        throw mismatch("the approval is not bound to this payment (shop, number, total, currency or document hash differ)")
                    }
                    guard evidenceHash == nil || evidenceHash == jws.documentHash else { throw mismatch("the history's documentHash is not the approval's") }
                    guard record.user == nil || record.user == a.user else { throw mismatch("the record names user \(record.user!), the approval user \(a.user)") }
                    return name(verified)
                }
            case "cancel":
                run("cancel", entry.state, "shop \(info.shop)") {
                    let jws = try JWS(parsing: document.serialized())
                    let c = try Cancel(payload: jws.payload)
                    let verified = try trust.verify(jws, type: .cancel, role: .shop, id: c.shop, at: entry.at)
                    guard c.shop == info.shop, c.payment == info.payment else { throw mismatch("the cancel is for another payment") }
                    guard evidenceHash == nil || evidenceHash == jws.documentHash else { throw mismatch("the history's documentHash is not the cancel's") }
                    return name(verified)
                }
            default:
                run(type, entry.state, "?") { throw mismatch("unknown kind of signed evidence \"\(type.prefix(40))\"") }
            }
        }
        return checks
    }

    /// Whether every signature verified; nothing checked is never "verified".
    package static func allVerified(_ checks: [SignatureCheck]) -> Bool { !checks.isEmpty && checks.allSatisfy(\.ok) }

    package static func json(_ checks: [SignatureCheck], at: Date) -> JSONValue {
        ["ok": .bool(allVerified(checks)), "at": .string(Timestamp.format(at)), "documents": .array(checks.map(\.json))]
    }

    package static func text(_ checks: [SignatureCheck], at: Date) -> String {
        var lines = ["verification (re-verified \(Timestamp.format(at)))"]
        for c in checks {
            let what = (c.document + (c.state.map { "→\($0.rawValue)" } ?? "")).padding(toLength: 16, withPad: " ", startingAt: 0)
            lines.append("  \(what) \(c.ok ? "ok    " : "FAILED") \(c.signer)" + (c.ok ? "" : ": \(c.message) [\(c.code ?? "?")]"))
        }
        return lines.joined(separator: "\n")
    }
}
