// `qrpay-spool cat FILE|ID`, like Postfix's postcat: any file of the spool decoded for a person
// (or, with --json, for a script). Recognized by content, not by name:
//
//   jws         a signed document (payment, approval, cancel, notice, refusal, receipt, list entry,
//               checkpoint, report):
//               the protected header, the payload pretty-printed, the signer from its certificate,
//               and the signature verified now for the kind its `typ` names (chain, validity, role,
//               CRL), so the verdict says "as a qrpay-payment+jws"
//   record      a payment record (pg/payments/…): the record as `show` prints it, signatures re-verified
//   reason      a quarantine or deferral reason file (NAME.reason.json)
//   list-entry  an unsigned payment-information list entry (pg/list/…, as written before the PG
//               signed them; a signed one is a jws of typ qrpay-list+jws)
//   image       a PNG or JPEG (a QR code, a photo): its size only
//
// Anything else is `spool.unknown-format` (exit 65).

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayPayments
import QRPayLedger

package enum SpoolFileView {
    /// The role that signs each kind of document.
    package static func signerRole(_ type: DocumentType) -> Role {
        switch type {
        case .payment, .cancel: return .shop
        case .approval: return .user
        case .notice, .receipt, .checkpoint, .report, .list, .refusal, .payout: return .pg
        }
    }

    /// Finds `argument`: a file path (absolute, relative to the working directory, or relative to the
    /// spool), else a queue file's ID (QUEUE/NAME or a bare NAME, in any state of any queue).
    package static func locate(_ argument: String, spoolRoot: String) throws -> String {
        let layout = SpoolLayout(root: spoolRoot)
        if FileIO.lstatKind(argument) != nil, !FileIO.isDirectory(argument) {
            return URL(fileURLWithPath: argument).standardizedFileURL.path
        }
        if !argument.hasPrefix("/"), FileIO.lstatKind(layout.absolute(argument)) != nil, !FileIO.isDirectory(layout.absolute(argument)) {
            return layout.absolute(argument)
        }
        var parts = argument.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let name = parts.popLast(), SpoolName.isValid(name) else {
            throw QRPayError(.spoolNoSuchFile, "no file \(argument): give a path, or QUEUE/NAME as `qrpay-spool list` shows it")
        }
        if let last = parts.last, QueueState(rawValue: last) != nil || ListedState(rawValue: last) != nil, parts.count > 1 { parts.removeLast() }
        let queue = parts.isEmpty ? nil : parts.joined(separator: "/")
        let found = try QueueTools.list(spoolRoot: spoolRoot, queue: queue).files.filter { $0.name == name }
        switch found.count {
        case 1:
            let q = try QueueTools.queues(found[0].queue, layout: layout)[0].queue
            return q.path + "/" + found[0].state.directory.rawValue + "/" + name
        case 0:
            throw QRPayError(.spoolNoSuchFile, "no file \(argument): neither a path nor a queue file (see `qrpay-spool list`)")
        default:
            throw QRPayError.usage("\(name) is in several places (\(found.map { "\($0.queue)/\($0.state.directory.rawValue)" }.joined(separator: ", "))); name it as QUEUE/NAME")
        }
    }

    /// Decodes the file at `path` (JSON for scripts, text for a person).
    package static func describe(path: String, spoolRoot: String, now: Date = Date()) throws -> (json: JSONValue, text: String) {
        let layout = SpoolLayout(root: spoolRoot)
        let shownPath = layout.relative(path)
        guard let (kind, _) = FileIO.lstatKind(path), kind == .regular else {
            throw QRPayError(.spoolNotRegular, "\(shownPath) is not a regular file; it was not opened")
        }
        let data = try FileIO.read(path, maxBytes: 64 << 20)
        var out: [String: JSONValue] = ["v": 1, "path": .string(shownPath), "bytes": .int(Int64(data.count))]
        var lines = ["file      \(shownPath) (\(data.count) bytes)"]
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47]) || data.starts(with: [0xFF, 0xD8, 0xFF]) {
            out["kind"] = "image"
            out["format"] = .string(data.first == 0x89 ? "png" : "jpeg")
            lines.append("kind      image (\(data.first == 0x89 ? "PNG" : "JPEG")); decode it with `qrpay-user decode`")
            return (.object(out), lines.joined(separator: "\n"))
        }
        guard let value = try? JSONValue.parse(data, options: .init(maxBytes: 64 << 20), what: shownPath), case .object(let o) = value else {
            throw QRPayError(.spoolUnknownFormat, "\(shownPath) is neither JSON nor an image: none of the spool's file formats")
        }
        if o["protected"] != nil && o["payload"] != nil && o["signature"] != nil {
            return try jws(data, layout: layout, now: now, out: &out, lines: &lines)
        }
        if o["documentHash"] != nil && o["history"] != nil {
            let record = try PaymentRecord(data: data)
            let checks = PaymentVerification.verify(record, spoolRoot: spoolRoot, now: now)
            out["kind"] = "record"
            out["record"] = record.json
            out["verification"] = PaymentVerification.json(checks, at: now)
            lines.append("kind      payment record")
            lines.append(PaymentView.text(record))
            lines.append(PaymentVerification.text(checks, at: now))
            return (.object(out), lines.joined(separator: "\n"))
        }
        if o["stage"] != nil && o["code"] != nil && o["reason"] != nil {
            out["kind"] = "reason"
            out["reason"] = value
            let deferred = o["retryAt"] != nil
            lines.append("kind      \(deferred ? "deferral" : "quarantine") reason")
            for key in ["queue", "file", "stage", "code", "reason", "at", "attempts", "arrived", "retryAt"] {
                guard let v = o[key] else { continue }
                let text = v.stringValue ?? v.intValue.map(String.init) ?? String(decoding: v.serialized(), as: UTF8.self)
                lines.append("\(key.padding(toLength: 9, withPad: " ", startingAt: 0)) \(text)")
            }
            if let code = o["code"]?.stringValue, let entry = ErrorCode.named(code) {
                lines.append("means     \(entry.summary) (exit \(entry.status.rawValue), fault of the \(entry.fault.rawValue))")
            }
            return (.object(out), lines.joined(separator: "\n"))
        }
        if let entry = listEntryLines(value) {
            // An unsigned list entry (as the PG wrote them before it signed them): nothing to verify.
            out["kind"] = "list-entry"
            out["entry"] = value
            lines.append("kind      payment-information list entry (unsigned)")
            lines += entry
            return (.object(out), lines.joined(separator: "\n"))
        }
        throw QRPayError(.spoolUnknownFormat, "\(shownPath) is JSON but none of the spool's file formats (signed document, record, reason file, list entry)")
    }

    /// What a list entry's payload says (the payment, its state, the shop's document's total), or nil
    /// when `o` is not one: `{shop, payment, state, document, updated}`.
    static func listEntryLines(_ o: JSONValue) -> [String]? {
        guard let shop = o["shop"]?.stringValue, let payment = o["payment"]?.stringValue, let state = o["state"]?.stringValue,
              let document = o["document"], o["updated"] != nil else { return nil }
        var lines = ["payment   \(shop)/\(payment)", "state     \(state)", "updated   \(o["updated"]?.stringValue ?? "?")"]
        if let parsed = try? JWS(parsing: document.serialized()), let info = try? PaymentInfo(payload: parsed.payload) {
            lines.append("total     \(info.currency.format(info.total))")
            lines.append("document  \(parsed.type) signed by \(parsed.fingerprint)")
        }
        return lines
    }

    static func jws(_ data: Data, layout: SpoolLayout, now: Date, out: inout [String: JSONValue], lines: inout [String]) throws -> (json: JSONValue, text: String) {
        let jws = try JWS(parsing: data)
        let header = (jws.object["protected"]?.stringValue).flatMap(Base64URL.decode).flatMap { try? JSONValue.parse($0) } ?? .null
        let payload = (try? JSONValue.parse(jws.payload, options: .init(maxBytes: JWS.maxBytes))) ?? .string(String(decoding: jws.payload, as: UTF8.self))
        out["kind"] = "jws"
        out["typ"] = .string(jws.type)
        out["header"] = header
        out["payload"] = payload
        lines.append("kind      signed document, typ \(jws.type)")
        lines.append("header    " + String(decoding: header.serialized(), as: UTF8.self))
        let trust = try? TrustStore(spoolRoot: layout.root)
        var signerJSON: JSONValue = .null
        if let trust, let signer = try? trust.certificate(fingerprint: jws.fingerprint) {
            signerJSON = ["role": signer.role.map { .string($0.rawValue) } ?? .null, "id": signer.id.map { .string($0) } ?? .null,
                          "name": .string(signer.displayName), "serial": .string(signer.serialHex),
                          "fingerprint": .string(signer.fingerprint), "notAfter": .string(Timestamp.format(signer.notAfter))]
            lines.append("signer    \(signer.role?.rawValue ?? "?") \(signer.id ?? "?") \"\(signer.displayName)\" (serial \(signer.serialHex), until \(Timestamp.format(signer.notAfter)))")
        } else {
            lines.append("signer    unknown: the CA issued no certificate \(jws.fingerprint)")
        }
        out["signer"] = signerJSON
        var verdict: [String: JSONValue] = ["at": .string(Timestamp.format(now))]
        if let type = DocumentType(rawValue: jws.type) {
            verdict["as"] = .string(type.rawValue)
            do {
                guard let trust else { throw QRPayError(.caMissing, "the spool has no CA to verify against") }
                _ = try trust.verify(jws, type: type, role: signerRole(type), id: nil, at: now)
                verdict["ok"] = true
                lines.append("signature verified now (\(Timestamp.format(now))) as a \(type.rawValue) of a \(signerRole(type).rawValue): ok")
            } catch let e as QRPayError {
                verdict["ok"] = false
                verdict["code"] = .string(e.code.rawValue)
                verdict["error"] = .string(e.message)
                lines.append("signature verified now (\(Timestamp.format(now))) as a \(type.rawValue): FAILED: \(e.message) [\(e.code.rawValue)]")
            }
        } else {
            verdict["ok"] = false
            verdict["error"] = .string("\(jws.type) is no kind of QR-Pay document")
            lines.append("signature not verified: \(jws.type) is no kind of QR-Pay document")
        }
        out["verification"] = .object(verdict)
        if let info = try? PaymentInfo(payload: jws.payload) {
            lines.append("total     \(info.currency.format(info.total))")
        } else if let entry = listEntryLines(payload) {
            lines += entry
        } else if let currency = payload["currency"]?.stringValue.flatMap({ try? Currency($0) }), let total = payload["total"]?.intValue {
            lines.append("total     \(currency.format(total))")
        }
        lines.append("payload")
        lines.append(String(decoding: payload.serialized(pretty: true), as: UTF8.self).trimmingCharacters(in: .newlines))
        return (.object(out), lines.joined(separator: "\n"))
    }
}
