// ISO 20022 messages: the payout file QR-Pay writes (pain.001.001.09, customer credit transfer
// initiation) and the bank files it reads back (pain.002.001.12 status reports, camt.053.001.08
// statements, camt.054.001.08 debit/credit notifications).
//
// pain.001: one file per payout (one currency), one payment information block debiting the PG's
// account, one credit transfer per shop: EndToEndId `PAYOUT-NNNN`, the amount as a decimal with the
// currency's exponent, the shop's account (IBAN, or account number and the bank's clearing code),
// and remittance information that names the payout. Written with libxml2's writer, from the payout
// record alone, so a rerun writes the same bytes.
//
// Bank files are parsed with libxml2 (XMLReader: no network, no DTD, no entities) and read
// strictly: the root must be a Document of exactly one of the three namespaces, every element in
// it; what QR-Pay uses must be where the schema puts it and of the schema's form (amounts
// decimal with at most 5 fraction digits, currencies three capitals, dates ISO, codes from the
// schema's lists); anything else is refused with the line and the element (`bank.invalid`).

import Foundation
import QRPaySupport
import QRPayPayments
import QRPayLedger

package enum ISO20022 {
    package static let pain001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
    package static let pain002 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.12"
    package static let camt053 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    package static let camt054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"

    /// `minor` in the currency's major unit: 12345 EUR → "123.45", 12200 KRW → "12200".
    package static func decimal(_ minor: Int64, exponent: Int) -> String {
        guard exponent > 0 else { return String(minor) }
        var divisor: Int64 = 1
        for _ in 0..<exponent { divisor *= 10 }
        let fraction = String(minor % divisor)
        return "\(minor / divisor)." + String(repeating: "0", count: exponent - fraction.count) + fraction
    }

    /// A schema decimal amount ("123.4", "12200", "0.50") in minor units of a currency with
    /// `exponent`; nil when it is not a decimal of the schema's form or has more digits than the currency.
    package static func minorUnits(_ text: String, exponent: Int) -> Int64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty, whole.count <= 18,
              whole.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard parts.count == 1 || !fraction.isEmpty, fraction.count <= 5, fraction.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        while fraction.count > exponent, fraction.hasSuffix("0") { fraction.removeLast() }
        guard fraction.count <= exponent else { return nil }
        fraction += String(repeating: "0", count: exponent - fraction.count)
        guard let value = Int64(whole + fraction), value <= maximumAmount else { return nil }
        return value
    }

    // MARK: pain.001.001.09

    /// The payout file of `payout`: same payout, same bytes.
    package static func pain001(_ payout: Payout) throws -> Data {
        let x = try XMLWriter()
        let exponent = payout.currency.exponent
        let total = payout.transfers.reduce(Int64(0)) { $0 + $1.amount }
        x.start("Document", attributes: [("xmlns", pain001)])
        x.start("CstmrCdtTrfInitn")
        x.start("GrpHdr")
        x.element("MsgId", payout.id)
        x.element("CreDtTm", Timestamp.format(payout.created))
        x.element("NbOfTxs", String(payout.transfers.count))
        x.element("CtrlSum", decimal(total, exponent: exponent))
        x.start("InitgPty"); x.element("Nm", payout.debtor.name); x.end()
        x.end()
        x.start("PmtInf")
        x.element("PmtInfId", payout.id)
        x.element("PmtMtd", "TRF")
        x.element("BtchBookg", "false")
        x.element("NbOfTxs", String(payout.transfers.count))
        x.element("CtrlSum", decimal(total, exponent: exponent))
        x.start("ReqdExctnDt"); x.element("Dt", Timestamp.day(payout.created)); x.end()
        x.start("Dbtr"); x.element("Nm", payout.debtor.name); x.end()
        account(x, payout.debtor, currency: true)
        agent(x, "DbtrAgt", payout.debtor)
        x.element("ChrgBr", "SLEV")
        for t in payout.transfers {
            x.start("CdtTrfTxInf")
            x.start("PmtId"); x.element("InstrId", t.endToEndId); x.element("EndToEndId", t.endToEndId); x.end()
            x.start("Amt"); x.element("InstdAmt", decimal(t.amount, exponent: exponent), attributes: [("Ccy", payout.currency.code)]); x.end()
            agent(x, "CdtrAgt", t.account)
            x.start("Cdtr"); x.element("Nm", t.account.name); x.end()
            account(x, t.account, currency: false)
            x.start("RmtInf"); x.element("Ustrd", t.remittance(payout: payout.id)); x.end()
            x.end()
        }
        x.end()
        x.end()
        x.end()
        return try x.finish()
    }

    private static func account(_ x: XMLWriter, _ a: PayoutAccount, currency: Bool) {
        x.start(a.shop == nil ? "DbtrAcct" : "CdtrAcct")
        x.start("Id")
        if let iban = a.iban { x.element("IBAN", iban) } else { x.start("Othr"); x.element("Id", a.account ?? ""); x.end() }
        x.end()
        if currency { x.element("Ccy", a.currency.code) }
        x.end()
    }

    private static func agent(_ x: XMLWriter, _ name: String, _ a: PayoutAccount) {
        x.start(name)
        x.start("FinInstnId")
        if let bic = a.bic { x.element("BICFI", bic) }
        else if let code = a.bankCode { x.start("ClrSysMmbId"); x.element("MmbId", code); x.end() }
        else { x.start("Othr"); x.element("Id", "NOTPROVIDED"); x.end() }
        x.end()
        x.end()
    }
}

// MARK: - Bank files

/// One thing a bank file says about a credit transfer.
package struct BankItem: Sendable, Equatable {
    package enum Kind: String, Sendable { case status, booking }
    package let kind: Kind
    /// The transfer's end-to-end id; nil for a status of a whole payment file (group status).
    package let endToEndId: String?
    /// The message (payout) a group status is about (pain.002 OrgnlMsgId).
    package let originalMessage: String?
    /// pain.002: ACCP, ACSC, RJCT, PDNG...; camt: the entry status (BOOK, PDNG, INFO).
    package let status: String
    package let reason: String?
    /// camt: the amount in minor units, its currency, DBIT/CRDT and the booking day.
    package let amount: Int64?
    package let currency: String?
    package let debit: Bool
    package let day: String?
    package let line: Int

    package var json: JSONValue {
        var o: [String: JSONValue] = ["kind": .string(kind.rawValue), "status": .string(status), "line": .int(Int64(line))]
        if let endToEndId { o["endToEndId"] = .string(endToEndId) }
        if let originalMessage { o["originalMessage"] = .string(originalMessage) }
        if let reason { o["reason"] = .string(reason) }
        if let amount { o["amount"] = .int(amount) }
        if let currency { o["currency"] = .string(currency) }
        if kind == .booking { o["creditDebit"] = .string(debit ? "DBIT" : "CRDT") }
        if let day { o["day"] = .string(day) }
        return .object(o)
    }
}

/// A bank file, read.
package struct BankMessage: Sendable {
    /// "pain.002.001.12", "camt.053.001.08" or "camt.054.001.08".
    package let type: String
    package let messageId: String
    package let created: String
    package let items: [BankItem]

    /// Transaction statuses of pain.002 (ExternalPaymentTransactionStatus1Code).
    static let statuses: Set<String> = ["ACCC", "ACCP", "ACFC", "ACIS", "ACPD", "ACSC", "ACSP", "ACTC", "ACWC", "ACWP", "BLCK",
                                        "CANC", "PATC", "PDNG", "PRES", "RCVD", "RJCT", "PART"]
    static let entryStatuses: Set<String> = ["BOOK", "PDNG", "INFO", "FUTR"]

    package static func parse(_ data: Data, what: String = "the bank file") throws -> BankMessage {
        let root = try XMLReader.parse(data, what: what)
        guard root.name == "Document", let ns = root.namespace else {
            throw QRPayError(.bankMessage, "\(what) is not an ISO 20022 Document (its root is <\(root.name)>)")
        }
        let reader = Reader(what: what, namespace: ns)
        try reader.sameNamespace(root)
        switch ns {
        case ISO20022.pain002: return try reader.pain002(root)
        case ISO20022.camt053: return try reader.camt(root, type: "camt.053.001.08", body: "BkToCstmrStmt", report: "Stmt")
        case ISO20022.camt054: return try reader.camt(root, type: "camt.054.001.08", body: "BkToCstmrDbtCdtNtfctn", report: "Ntfctn")
        default:
            throw QRPayError(.bankMessage, "\(what) is a message of \(ns.prefix(80)); QR-Pay reads pain.002.001.12, camt.053.001.08 and camt.054.001.08")
        }
    }

    struct Reader {
        let what: String
        let namespace: String

        func invalid(_ e: XMLElement, _ text: String) -> QRPayError {
            QRPayError(.bankInvalid, "\(what): \(text) (line \(e.line))")
        }

        /// The children the schema allows in the elements QR-Pay reads (any other is refused).
        static let allowed: [String: Set<String>] = [
            "BkToCstmrStmt": ["GrpHdr", "Stmt", "SplmtryData"],
            "BkToCstmrDbtCdtNtfctn": ["GrpHdr", "Ntfctn", "SplmtryData"],
            "CstmrPmtStsRpt": ["GrpHdr", "OrgnlGrpInfAndSts", "OrgnlPmtInfAndSts", "SplmtryData"],
            "GrpHdr81": ["MsgId", "CreDtTm", "MsgRcpt", "MsgPgntn", "OrgnlBizQry", "AddtlInf"],
            "GrpHdr86": ["MsgId", "CreDtTm", "InitgPty", "FwdgAgt", "DbtrAgt", "CdtrAgt"],
            "Stmt": ["Id", "StmtPgntn", "ElctrncSeqNb", "RptgSeq", "LglSeqNb", "CreDtTm", "FrToDt", "CpyDplctInd", "RptgSrc", "Acct",
                     "RltdAcct", "Intrst", "Bal", "TxsSummry", "Ntry", "AddtlStmtInf"],
            "Ntfctn": ["Id", "NtfctnPgntn", "ElctrncSeqNb", "RptgSeq", "LglSeqNb", "CreDtTm", "FrToDt", "CpyDplctInd", "RptgSrc", "Acct",
                       "RltdAcct", "Intrst", "TxsSummry", "Ntry", "AddtlNtfctnInf"],
            "Bal": ["Tp", "CdtLine", "Amt", "CdtDbtInd", "Dt", "Avlbty"],
            "Ntry": ["NtryRef", "Amt", "CdtDbtInd", "RvslInd", "Sts", "BookgDt", "ValDt", "AcctSvcrRef", "Avlbty", "BkTxCd", "ComssnWvrInd",
                     "AddtlInfInd", "AmtDtls", "Chrgs", "TechInptChanl", "Intrst", "CardTx", "NtryDtls", "AddtlNtryInf"],
            "Sts": ["Cd", "Prtry"],
            "NtryDtls": ["Btch", "TxDtls"],
            "TxDtls": ["Refs", "Amt", "CdtDbtInd", "AmtDtls", "Avlbty", "BkTxCd", "Chrgs", "Intrst", "RltdPties", "RltdAgts", "LclInstrm",
                       "Purp", "RltdRmtInf", "RmtInf", "RltdDts", "RltdPric", "RltdQties", "FinInstrmId", "Tax", "RtrInf", "CorpActn",
                       "SfkpgAcct", "CshDpst", "CardTx", "AddtlTxInf", "SplmtryData"],
            "Refs": ["MsgId", "AcctSvcrRef", "PmtInfId", "InstrId", "EndToEndId", "UETR", "TxId", "MndtId", "ChqNb", "ClrSysRef",
                     "AcctOwnrTxId", "AcctSvcrTxId", "MktInfrstrctrTxId", "PrcgId", "Prtry"],
            "OrgnlGrpInfAndSts": ["OrgnlMsgId", "OrgnlMsgNmId", "OrgnlCreDtTm", "OrgnlNbOfTxs", "OrgnlCtrlSum", "GrpSts", "StsRsnInf", "NbOfTxsPerSts"],
            "OrgnlPmtInfAndSts": ["OrgnlPmtInfId", "OrgnlNbOfTxs", "OrgnlCtrlSum", "PmtInfSts", "StsRsnInf", "NbOfTxsPerSts", "TxInfAndSts"],
            "TxInfAndSts": ["StsId", "OrgnlInstrId", "OrgnlEndToEndId", "OrgnlUETR", "TxSts", "StsRsnInf", "ChrgsInf", "TrckrData",
                            "AccptncDtTm", "AcctSvcrRef", "ClrSysRef", "OrgnlTxRef", "SplmtryData"],
            "StsRsnInf": ["Orgtr", "Rsn", "AddtlInf"],
            "Rsn": ["Cd", "Prtry"],
            "BookgDt": ["Dt", "DtTm"], "ValDt": ["Dt", "DtTm"], "Dt": ["Dt", "DtTm"],
        ]

        /// `e` has only children the schema allows it (`kind`: the allowed list's key, default its name).
        func only(_ e: XMLElement, as kind: String? = nil) throws {
            guard let names = Reader.allowed[kind ?? e.name] else { return }
            if let stranger = e.children.first(where: { !names.contains($0.name) }) {
                throw invalid(stranger, "<\(stranger.name)> is not allowed in <\(e.name)>")
            }
        }

        func sameNamespace(_ e: XMLElement) throws {
            guard e.namespace == namespace else { throw invalid(e, "<\(e.name)> is not in the message's namespace") }
            for c in e.children { try sameNamespace(c) }
        }

        func one(_ e: XMLElement, _ name: String) throws -> XMLElement {
            let found = e.all(name)
            guard found.count == 1 else {
                throw invalid(e, found.isEmpty ? "<\(e.name)> lacks <\(name)>" : "<\(e.name)> has \(found.count) <\(name)>, the schema allows one")
            }
            return found[0]
        }

        func optional(_ e: XMLElement, _ name: String) throws -> XMLElement? {
            let found = e.all(name)
            guard found.count <= 1 else { throw invalid(e, "<\(e.name)> has \(found.count) <\(name)>, the schema allows one") }
            return found.first
        }

        /// Max35Text and the like: 1...max characters.
        func text(_ e: XMLElement, max: Int = 35) throws -> String {
            guard e.children.isEmpty, !e.text.isEmpty, e.text.count <= max else {
                throw invalid(e, "<\(e.name)> must be text of 1 to \(max) characters")
            }
            return e.text
        }

        func dateTime(_ e: XMLElement) throws -> String {
            let t = try text(e, max: 40)
            // ISODateTime: YYYY-MM-DDThh:mm:ss[.s][Z|±hh:mm]
            let b = Array(t.utf8)
            func digits(_ r: Range<Int>) -> Bool { r.upperBound <= b.count && b[r].allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
            guard b.count >= 19, digits(0..<4), b[4] == 0x2D, digits(5..<7), b[7] == 0x2D, digits(8..<10), b[10] == 0x54,
                  digits(11..<13), b[13] == 0x3A, digits(14..<16), b[16] == 0x3A, digits(17..<19) else {
                throw invalid(e, "<\(e.name)> is not an ISO date and time")
            }
            return t
        }

        func date(_ e: XMLElement) throws -> String {
            let t = try text(e, max: 10)
            guard Timestamp.isDay(t) else { throw invalid(e, "<\(e.name)> is not an ISO date (YYYY-MM-DD)") }
            return t
        }

        func code(_ e: XMLElement, in allowed: Set<String>) throws -> String {
            let t = try text(e, max: 4)
            guard allowed.contains(t) else { throw invalid(e, "<\(e.name)> \(t) is not a code QR-Pay knows") }
            return t
        }

        /// ActiveOrHistoricCurrencyAndAmount: a decimal and its Ccy attribute.
        func amount(_ e: XMLElement) throws -> (minor: Int64, currency: String) {
            guard let ccy = e.attributes["Ccy"], ccy.utf8.count == 3, ccy.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
                throw invalid(e, "<\(e.name)> needs a Ccy attribute of three capitals")
            }
            guard let currency = try? Currency(ccy) else { throw invalid(e, "<\(e.name)> is in \(ccy), a currency QR-Pay does not know") }
            guard e.children.isEmpty, let minor = ISO20022.minorUnits(e.text, exponent: currency.exponent) else {
                throw invalid(e, "<\(e.name)> \(e.text.prefix(30)) is not an amount in \(ccy) (a decimal, at most \(currency.exponent) decimals)")
            }
            return (minor, ccy)
        }

        func groupHeader(_ body: XMLElement, kind: String) throws -> (id: String, created: String) {
            let header = try one(body, "GrpHdr")
            try only(header, as: kind)
            return (try text(try one(header, "MsgId")), try dateTime(try one(header, "CreDtTm")))
        }

        func reason(_ parent: XMLElement) throws -> String? {
            guard let info = parent.all("StsRsnInf").first else { return nil }
            try only(info)
            var parts: [String] = []
            if let rsn = try optional(info, "Rsn") {
                try only(rsn)
                if let cd = try optional(rsn, "Cd") { parts.append(try text(cd, max: 4)) }
                else if let p = try optional(rsn, "Prtry") { parts.append(try text(p)) }
                else { throw invalid(rsn, "<Rsn> needs <Cd> or <Prtry>") }
            }
            for add in info.all("AddtlInf") { parts.append(try text(add, max: 105)) }
            return parts.isEmpty ? nil : parts.joined(separator: ": ")
        }

        func pain002(_ root: XMLElement) throws -> BankMessage {
            guard root.children.count == 1 else { throw invalid(root, "<Document> holds one message") }
            let body = try one(root, "CstmrPmtStsRpt")
            try only(body)
            let header = try groupHeader(body, kind: "GrpHdr86")
            let group = try one(body, "OrgnlGrpInfAndSts")
            try only(group)
            let original = try text(try one(group, "OrgnlMsgId"))
            let name = try text(try one(group, "OrgnlMsgNmId"))
            guard name.hasPrefix("pain.001") else { throw invalid(group, "the report is about \(name), not a pain.001 payment file") }
            var items: [BankItem] = []
            if let sts = try optional(group, "GrpSts") {
                items.append(BankItem(kind: .status, endToEndId: nil, originalMessage: original, status: try code(sts, in: BankMessage.statuses),
                                      reason: try reason(group), amount: nil, currency: nil, debit: false, day: nil, line: sts.line))
            }
            for info in body.all("OrgnlPmtInfAndSts") {
                try only(info)
                _ = try text(try one(info, "OrgnlPmtInfId"))
                if let sts = try optional(info, "PmtInfSts"), info.all("TxInfAndSts").isEmpty {
                    items.append(BankItem(kind: .status, endToEndId: nil, originalMessage: original, status: try code(sts, in: BankMessage.statuses),
                                          reason: try reason(info), amount: nil, currency: nil, debit: false, day: nil, line: sts.line))
                }
                for tx in info.all("TxInfAndSts") {
                    try only(tx)
                    guard let e2e = try optional(tx, "OrgnlEndToEndId") else { throw invalid(tx, "<TxInfAndSts> without <OrgnlEndToEndId> cannot be matched") }
                    guard let sts = try optional(tx, "TxSts") else { throw invalid(tx, "<TxInfAndSts> without <TxSts> says nothing") }
                    items.append(BankItem(kind: .status, endToEndId: try text(e2e), originalMessage: original, status: try code(sts, in: BankMessage.statuses),
                                          reason: try reason(tx), amount: nil, currency: nil, debit: false, day: nil, line: tx.line))
                }
            }
            return BankMessage(type: "pain.002.001.12", messageId: header.id, created: header.created, items: items)
        }

        func camt(_ root: XMLElement, type: String, body bodyName: String, report reportName: String) throws -> BankMessage {
            guard root.children.count == 1 else { throw invalid(root, "<Document> holds one message") }
            let body = try one(root, bodyName)
            try only(body)
            let header = try groupHeader(body, kind: "GrpHdr81")
            let reports = body.all(reportName)
            guard !reports.isEmpty else { throw invalid(body, "<\(bodyName)> lacks <\(reportName)>") }
            var items: [BankItem] = []
            for report in reports {
                try only(report)
                _ = try text(try one(report, "Id"))
                let account = try one(report, "Acct")
                _ = try one(account, "Id")
                if reportName == "Stmt" {
                    let balances = report.all("Bal")
                    guard !balances.isEmpty else { throw invalid(report, "a statement needs at least one <Bal>") }
                    for bal in balances {
                        try only(bal)
                        _ = try one(bal, "Tp")
                        _ = try amount(try one(bal, "Amt"))
                        _ = try code(try one(bal, "CdtDbtInd"), in: ["CRDT", "DBIT"])
                        _ = try dayOf(try one(bal, "Dt"))
                    }
                }
                for entry in report.all("Ntry") {
                    try only(entry)
                    let (minor, ccy) = try amount(try one(entry, "Amt"))
                    let debit = try code(try one(entry, "CdtDbtInd"), in: ["CRDT", "DBIT"]) == "DBIT"
                    let stsChoice = try one(entry, "Sts")
                    try only(stsChoice)
                    guard stsChoice.children.count == 1 else { throw invalid(stsChoice, "<Sts> holds one of <Cd> and <Prtry>") }
                    let status: String
                    if let cd = try optional(stsChoice, "Cd") { status = try code(cd, in: BankMessage.entryStatuses) }
                    else { status = try text(try one(stsChoice, "Prtry")) }
                    _ = try one(entry, "BkTxCd")
                    let day = try optional(entry, "BookgDt").map(dayOf)
                    for d in entry.all("NtryDtls") { try only(d) }
                    let details = entry.all("NtryDtls").flatMap { $0.all("TxDtls") }
                    if details.isEmpty {
                        items.append(BankItem(kind: .booking, endToEndId: nil, originalMessage: nil, status: status, reason: nil, amount: minor,
                                              currency: ccy, debit: debit, day: day, line: entry.line))
                    }
                    for tx in details {
                        try only(tx)
                        if let refs = try optional(tx, "Refs") { try only(refs) }
                        let e2e = try optional(tx, "Refs").flatMap { try optional($0, "EndToEndId") }.map { try text($0) }
                        var txAmount = (minor, ccy)
                        if let a = try optional(tx, "Amt") { txAmount = try amount(a) }
                        else if details.count > 1 { throw invalid(tx, "<TxDtls> of an entry with several transactions needs its <Amt>") }
                        var txDebit = debit
                        if let ind = try optional(tx, "CdtDbtInd") { txDebit = try code(ind, in: ["CRDT", "DBIT"]) == "DBIT" }
                        items.append(BankItem(kind: .booking, endToEndId: e2e == "NOTPROVIDED" ? nil : e2e, originalMessage: nil, status: status,
                                              reason: nil, amount: txAmount.0, currency: txAmount.1, debit: txDebit, day: day, line: tx.line))
                    }
                }
            }
            return BankMessage(type: type, messageId: header.id, created: header.created, items: items)
        }

        /// DateAndDateTime2Choice: <Dt> or <DtTm>; the day.
        func dayOf(_ e: XMLElement) throws -> String {
            try only(e, as: "Dt")
            guard e.children.count == 1 else { throw invalid(e, "<\(e.name)> holds one of <Dt> and <DtTm>") }
            if let dt = try optional(e, "Dt") { return try date(dt) }
            if let dtTm = try optional(e, "DtTm") { return String(try dateTime(dtTm).prefix(10)) }
            throw invalid(e, "<\(e.name)> needs <Dt> or <DtTm>")
        }
    }
}
