// qrpay-bench payout - the daily payout batch measured: a spool with N finished payments of S shops
// (written in the store's layout, signed for real, as `pipeline` builds its scale spool), payout
// accounts for every shop and the PG's debtor account, then the real programs as subprocesses:
// qrpay-payout --once (one pain.001 file, one transfer per shop), an idle pass (nothing left to
// pay), the bank's answers back (a pain.002 accepting every transfer and a camt.053 booking them),
// and qrpay-reconcile --payouts over the day. One table, with wall time, CPU and peak RSS.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments
import QRPayLedger
import QRPayStages
import QRPayCommand

extension QRPayBench {
    struct PayoutBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "payout",
            abstract: "The payout batch: qrpay-payout over N finished payments, an idle pass, the bank's files back, reconcile --payouts.")

        @Option(help: "Finished payments to pay out.") var payments = 100_000
        @Option(help: "Shops they belong to (one credit transfer each; each costs two scrypt key derivations to set up).") var shops = 100
        @Option(help: ArgumentHelp("Where the programs are (default: beside qrpay-bench).", valueName: "dir")) var bin: String?
        @Option(help: ArgumentHelp("Build the spool in this folder and keep it (default: a temporary folder, removed).", valueName: "dir"))
        var work: String?
        @Flag(help: "Small figures (a functional check of the bench, not a measurement).") var quick = false

        func run() throws {
            try runReportingErrors("qrpay-bench") {
                let n = quick ? min(payments, 2000) : payments, s = quick ? min(shops, 20) : shops
                guard n > 0, s > 0 else { throw QRPayError.usage("--payments and --shops must be > 0") }
                let bin = bin ?? ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map {
                    ($0 as NSString).deletingLastPathComponent } ?? ".")
                let keep = work != nil
                let work = work ?? NSTemporaryDirectory() + "qrpay-bench." + FileIO.uniqueName()
                try FileIO.makePath(work, mode: 0o700)
                defer { if !keep { try? FileManager.default.removeItem(atPath: work) } }
                try PayoutBench.measure(payments: n, shops: s, bin: bin, work: work, quick: quick)
            }
        }

        static func measure(payments n: Int, shops s: Int, bin: String, work: String, quick: Bool) throws {
            let machine = Machine.describe(workPath: work)
            let started = BenchTable.now()
            var table = ResultTable()
            func info(_ text: String) { Diagnostics.info("qrpay-bench", text) }

            info("building a spool of \(n) finished payments of \(s) shops")
            let pki = try BenchPKI(root: work + "/pki", shops: s, users: 1, protection: quick ? .legacy : .standard)
            let spool = try BenchSpool(root: work + "/payout", pki: pki, shops: s, users: 1)
            let now = Date()
            var t0 = BenchTable.now()
            try prebuildFinished(spool, count: n, now: now)
            let context = StageContext(spoolRoot: spool.root)
            let accounts = AccountStore(layout: spool.layout)
            let krw = try Currency("KRW")
            try accounts.set(try PayoutAccount(shop: nil, name: "Bench PG", currency: krw, iban: nil, bic: nil, account: "9990001",
                                               bankCode: "004", updated: now), context: context)
            for (i, shop) in spool.shops.enumerated() {
                try accounts.set(try PayoutAccount(shop: shop.id, name: "Bench shop \(shop.id)", currency: krw, iban: nil, bic: nil,
                                                   account: String(format: "1002-345-%06d", i), bankCode: "088", updated: now), context: context)
            }
            info(String(format: "spool built in %.0f s", BenchTable.now() - t0))

            func payout(_ log: String) throws -> (status: Int32, seconds: Double, maxRSSMiB: Double, cpu: Double) {
                let r = try Child.run(bin + "/qrpay-payout", ["--spool", spool.root, "--password-file", spool.passwordFile, "--once"],
                                      stderr: work + "/" + log)
                guard r.status == 0 else { throw QRPayError(.benchFailed, "qrpay-payout exited \(r.status); see \(work)/\(log)") }
                return r
            }

            // 1. The payout run.
            info("qrpay-payout --once over \(n) finished payments")
            let run = try payout("payout.log")
            let store = PayoutStore(layout: spool.layout)
            let made = try store.all()
            let covered = made.reduce(0) { $0 + $1.transfers.reduce(0) { $0 + $1.payments.count } }
            guard made.count == 1, covered == n, let p = made.first else {
                throw QRPayError(.benchFailed, "qrpay-payout made \(made.count) payouts covering \(covered) payments, not 1 covering \(n)")
            }
            let fileBytes = (try? FileIO.read(spool.layout.payouts.newDirectory + "/" + p.fileName, maxBytes: 1 << 30).count) ?? 0
            table.add("qrpay-payout --once, \(n) finished", String(format: "%.0f payments/s", Double(n) / run.seconds),
                      note: String(format: "%.1f s, CPU %.0f us/payment, peak RSS %.0f MiB; 1 pain.001 file of %d transfers, %.1f MB",
                                   run.seconds, run.cpu / Double(n) * 1e6, run.maxRSSMiB, p.transfers.count, Double(fileBytes) / 1e6))

            // 2. An idle pass: everything is paid out, the pass only looks.
            let idle = try payout("payout-idle.log")
            table.add("idle qrpay-payout --once, \(n) paid", String(format: "%.2f s", idle.seconds),
                      note: String(format: "nothing to pay; it lists the unpaid and prepared indexes (empty), no finish marker, paid marker or payout record; mostly the key's scrypt; peak RSS %.0f MiB", idle.maxRSSMiB))

            // 3. The bank's answers: every transfer accepted, then booked.
            let exponent = p.currency.exponent
            let e2e = p.transfers.map(\.endToEndId)
            let status = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Document xmlns="\(ISO20022.pain002)"><CstmrPmtStsRpt><GrpHdr><MsgId>BENCH-STS</MsgId><CreDtTm>\(Timestamp.format(now))</CreDtTm></GrpHdr>
            <OrgnlGrpInfAndSts><OrgnlMsgId>\(p.id)</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>
            <OrgnlPmtInfAndSts><OrgnlPmtInfId>\(p.id)</OrgnlPmtInfId>
            \(e2e.map { "<TxInfAndSts><OrgnlEndToEndId>\($0)</OrgnlEndToEndId><TxSts>ACCP</TxSts></TxInfAndSts>" }.joined(separator: "\n"))
            </OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>

            """
            let day = Timestamp.day(now)
            let entries = p.transfers.map { t in
                let amount = ISO20022.decimal(t.amount, exponent: exponent)
                return "<Ntry><Amt Ccy=\"\(p.currency.code)\">\(amount)</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>\(day)</Dt></BookgDt>"
                    + "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
                    + "<NtryDtls><TxDtls><Refs><EndToEndId>\(t.endToEndId)</EndToEndId></Refs><Amt Ccy=\"\(p.currency.code)\">\(amount)</Amt></TxDtls></NtryDtls></Ntry>"
            }
            let statement = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Document xmlns="\(ISO20022.camt053)"><BkToCstmrStmt><GrpHdr><MsgId>BENCH-STMT</MsgId><CreDtTm>\(Timestamp.format(now))</CreDtTm></GrpHdr>
            <Stmt><Id>BENCH-STMT-1</Id><Acct><Id><Othr><Id>9990001</Id></Othr></Id></Acct>
            <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="\(p.currency.code)">0</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>\(day)</Dt></Dt></Bal>
            \(entries.joined(separator: "\n"))
            </Stmt></BkToCstmrStmt></Document>

            """
            try spool.layout.bank.create()
            _ = try spool.layout.bank.deliver(Data(status.utf8), name: "status.xml")
            _ = try spool.layout.bank.deliver(Data(statement.utf8), name: "statement.xml")
            info("qrpay-payout --once reading a pain.002 and a camt.053 of \(e2e.count) transfers each")
            let back = try payout("payout-bank.log")
            let booked = try store.load(p.id)?.transfers.filter { $0.status == .booked }.count ?? 0
            guard booked == e2e.count else { throw QRPayError(.benchFailed, "\(booked) of \(e2e.count) transfers booked; see \(work)/payout-bank.log") }
            table.add("qrpay-payout --once, bank files back", String(format: "%.2f s", back.seconds),
                      note: String(format: "pain.002 + camt.053 of %d transfers each (%.1f MB), all booked; peak RSS %.0f MiB",
                                   e2e.count, Double(status.utf8.count + statement.utf8.count) / 1e6, back.maxRSSMiB))

            // 4. Reconciliation of the day.
            t0 = BenchTable.now()
            let r = try Child.run(bin + "/qrpay-reconcile", ["--spool", spool.root, "--payouts", "--date", day, "--format", "json",
                                                            "--out", work + "/reports"],
                                  stdout: work + "/reconcile-payouts.out", stderr: work + "/reconcile-payouts.err")
            guard r.status == 0 else { throw QRPayError(.benchFailed, "qrpay-reconcile --payouts exited \(r.status) (0: no differences); see \(work)/reconcile-payouts.err") }
            table.add("qrpay-reconcile --payouts, a day of \(n)", String(format: "%.2f s", r.seconds),
                      note: String(format: "no differences; peak RSS %.0f MiB", r.maxRSSMiB))

            let mode = quick ? " (--quick: a functional check, not a measurement)" : ""
            print(table.render(title: String(format: "QR-Pay payout bench%@, %d payments, %d shops, %.0f s in all", mode, n, s,
                                             BenchTable.now() - started), machine: machine), terminator: "")
        }

        /// Writes `count` finished payments in the store's layout: record (request, accept, finish),
        /// the finish marker and journal entries (one append per 1,000). Plain writes, one sync() at
        /// the end: a set-up, not a measurement.
        static func prebuildFinished(_ spool: BenchSpool, count: Int, now: Date) throws {
            let store = PaymentStore(spoolRoot: spool.root)
            let chunk = 1000
            let made = DirectorySet()
            let created = now.addingTimeInterval(-7200), accepted = now.addingTimeInterval(-7140), finished = now.addingTimeInterval(-3600)
            let certificates = Dictionary(uniqueKeysWithValues: spool.shops.map { ($0.id, $0.credentials.certificate) })
            let finishEvidence: JSONValue = ["type": "hold-elapsed"]
            try parallelFor((count + chunk - 1) / chunk) { c in
                var transitions: [TransitionRequest] = []
                for i in (c * chunk)..<min(count, (c + 1) * chunk) {
                    let info = try spool.info(i, prefix: "F", now: created)
                    let p = try spool.sign(info)
                    let signer = certificates[info.shop]!
                    let record = PaymentRecord(
                        info: info, state: .finish, document: p.data, documentHash: p.documentHash,
                        signature: Base64URL.encode(p.signature),
                        signer: PaymentRecord.signer(signer),
                        qrPath: spool.layout.qrPath(shop: info.shop, payment: info.payment), user: "U0001",
                        history: [HistoryEntry(state: .request, at: created, evidence: ["type": "payment", "documentHash": .string(p.documentHash)]),
                                  HistoryEntry(state: .accept, at: accepted, evidence: ["type": "approval", "user": "U0001"]),
                                  HistoryEntry(state: .finish, at: finished, evidence: finishEvidence)])
                    try made.write(record.serialized(), to: store.recordPath(shop: info.shop, payment: info.payment), directoryMode: 0o750)
                    try made.write(Data(), to: store.markerPath(state: .finish, info: info), directoryMode: 0o750)
                    transitions += [
                        TransitionRequest(shop: info.shop, payment: info.payment, from: nil, to: .request, evidence: p.data, at: created),
                        TransitionRequest(shop: info.shop, payment: info.payment, from: .request, to: .accept, evidence: Data("approval".utf8), at: accepted),
                        // The finish's evidence as the record has it (the payout pays only what the journal holds).
                        TransitionRequest(shop: info.shop, payment: info.payment, from: .accept, to: .finish,
                                          evidenceHash: PaymentStore.evidenceHash(finishEvidence), at: finished),
                    ]
                }
                try store.journal.append(transitions)
            }
            sync()
        }
    }
}
