// The spool's layout has one owner (SpoolLayout): the documents agree with its table, every path it
// builds falls under a table entry with the right kind, and nothing else in Sources/ builds a spool
// path from strings.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayPayments
@testable import QRPayLedger
import Testing

@Suite struct LayoutTests {
    /// The repository's root (Helpers/Repository.swift).
    static var repository: String { repositoryRoot }

    static func generatedBlock(in file: String) throws -> String {
        let text = String(decoding: try FileIO.read(repository + "/" + file, maxBytes: 1 << 22), as: UTF8.self)
        guard let begin = text.range(of: SpoolLayout.markdownBegin + "\n"),
              let end = text.range(of: "\n" + SpoolLayout.markdownEnd, range: begin.upperBound..<text.endIndex) else {
            Issue.record("\(file) has no generated layout block")
            return ""
        }
        return String(text[begin.upperBound..<end.lowerBound])
    }

    @Test(arguments: ["README.md", "Sources/QRPaySpool/LAYOUT.md"])
    func documentsCarryTheTable(file: String) throws {
        let block = try Self.generatedBlock(in: file)
        #expect(block == SpoolLayout.markdown(),
                "\(file) disagrees with SpoolLayout.table: replace its block with the output of `qrpay-spool layout --markdown`")
    }

    /// Every path the layout builds is an entry of its table, of the right kind, with the mode used to make it.
    @Test func everyBuiltPathIsInTheTable() throws {
        let layout = SpoolLayout(root: "/srv/q")
        let info = try PaymentInfo(shop: "1001", payment: "P1", currency: try Currency("KRW"),
                                   items: [try PaymentItem(name: "x", quantity: 1, unitPrice: 5)],
                                   created: Date(timeIntervalSince1970: 1_800_000_000), expires: Date(timeIntervalSince1970: 1_800_000_900))
        let due = DueEntry(kind: .expires, epoch: 1_800_000_900, shop: "1001", payment: "P1")
        let files: [String] = [
            layout.caCertificate, layout.crl, layout.caIndex, layout.caLock, layout.caKey, layout.issuedCertificate(fingerprint: "abc"),
            layout.currentCertificate(role: .shop, id: "1001"), layout.keyFile(role: .pg, id: ""), layout.keyFile(role: .shop, id: "1001"),
            layout.certificateFile(role: .user, id: "u1"), layout.requestFile(role: .user, id: "u1"),
            layout.recordPath(shop: "1001", payment: "P1"), layout.markerPath(state: .accept, info: info),
            DueIndex.path(due, layout: layout), layout.listPath(token: "AbCdEf"), layout.journalFile(day: "2026-11-28"),
            layout.checkpointsDirectory + "/2026-11-28-7.jws", layout.lockFile(stage: "register"),
            layout.qrPath(shop: "1001", payment: "P1"), layout.shopJournal(shop: "1001"),
            layout.accountPath(shop: "1001"), layout.debtorPath(currency: "EUR"), layout.payoutRecordPath(payout: "PO20261128EUR0123456789"),
            layout.paidPath(info: info), layout.bankRecordPath(hash: "0123456789abcdef0123456789abcdef"),
            layout.unpaidPath(info: info), layout.preparedPayoutPath(payout: "PO20261128EUR0123456789"),
        ]
        for path in files {
            let found = SpoolLayout.entry(matching: layout.relative(path))
            #expect(found?.entry.kind == .file && found?.subdirectory == nil, "\(layout.relative(path)) is not a file of the table")
        }
        let directories: [String] = [
            layout.caDirectory, layout.caPrivateDirectory, layout.issuedDirectory, layout.certificatesDirectory(role: .pg),
            layout.pgDirectory, layout.paymentsDirectory, layout.recordDirectory(shop: "1001"),
            FileIO.parentDirectory(layout.recordPath(shop: "1001", payment: "P1")), layout.stateDirectory(.finish, day: "2026-11-28"),
            layout.dueDirectory(.accepted), FileIO.parentDirectory(DueIndex.path(due, layout: layout)), layout.listDirectory,
            FileIO.parentDirectory(layout.listPath(token: "AbCdEf")), layout.journalDirectory, layout.checkpointsDirectory,
            layout.accountsDirectory, layout.debtorDirectory, layout.payoutRecordsDirectory, layout.paidDirectory,
            layout.paidDirectory(day: "2026-11-28"), layout.bankRecordsDirectory, layout.unpaidDirectory,
            layout.unpaidDirectory(day: "2026-11-28"), layout.preparedPayoutsDirectory,
            layout.reportsDirectory, layout.runDirectory, layout.shopsDirectory, layout.shopDirectory("1001"), layout.qrDirectory(shop: "1001"),
            layout.usersDirectory, layout.userDirectory("u1"), layout.reviewsDirectory(user: "u1"), layout.userRunDirectory(user: "u1"),
        ]
        for path in directories {
            let found = SpoolLayout.entry(matching: layout.relative(path))
            #expect(found?.entry.kind == .directory, "\(layout.relative(path)) is not a directory of the table")
            #expect(layout.mode(ofDirectory: path) == found?.entry.mode)
        }
        let queues = [layout.inbox, layout.approvals, layout.cancels, layout.notices(shop: "1001"), layout.scanInbox(user: "u1"),
                      layout.receipts(user: "u1"), layout.payouts, layout.bank]
        for queue in queues {
            #expect(SpoolLayout.entry(matching: layout.relative(queue.path))?.entry.kind == .queue, "\(queue.path)")
            for sub in Queue.subdirectories {
                #expect(SpoolLayout.entry(matching: layout.relative(queue.path + "/" + sub))?.subdirectory?.name == sub)
            }
            #expect(SpoolLayout.entry(matching: layout.relative(queue.doneDirectory + "/2026-11-28"))?.subdirectory?.name == "done")
        }
        // The modes that make separate Unix users work (see README, Deploying).
        #expect(layout.mode(ofDirectory: layout.inbox.newDirectory) == 0o1730)
        #expect(layout.mode(ofDirectory: layout.inbox.curDirectory) == 0o750)
        #expect(layout.mode(ofDirectory: layout.notices(shop: "9").tmpDirectory) == 0o2770)
        #expect(layout.mode(ofDirectory: layout.scanInbox(user: "u9").newDirectory) == 0o700)
        #expect(layout.mode(ofDirectory: "/srv/q/not/in/the/table") == 0o750)
        #expect(SpoolLayout.table.allSatisfy { $0.mode & 0o002 == 0 })  // nothing world-writable
    }

    /// `allQueues` is the one list of queues: the PG's, then each shop's and user's, as they exist.
    @Test func allQueuesFollowsTheShopsAndUsersThere() throws {
        let dir = TemporaryDirectory("layout")
        let layout = SpoolLayout(root: dir.path)
        try layout.makeDirectories(layout.shopDirectory("1001"))
        try layout.makeDirectories(layout.userDirectory("u1"))
        try FileIO.makeDirectory(layout.shopsDirectory + "/.hidden", mode: 0o700)
        #expect(try layout.allQueues().map(\.name) == ["pg/inbox", "pg/approvals", "pg/cancels", "pg/payouts", "pg/bank", "shops/1001/notices",
                                                        "users/u1/inbox", "users/u1/receipts"])
        var st = stat()
        #expect(lstat(layout.shopDirectory("1001"), &st) == 0 && st.st_mode & 0o7777 == 0o711)
        #expect(lstat(layout.shopsDirectory, &st) == 0 && st.st_mode & 0o7777 == 0o755)
    }

    /// Only SpoolLayout spells spool paths: no other source file glues a spool directory's name onto a path.
    @Test func nothingElseBuildsSpoolPathsFromStrings() throws {
        let names = "pg|shops|users|ca|run|reports|notices|receipts|qr|inbox|approvals|cancels|journal|states|payments|list|due|private|issued|certs|reviews|checkpoints|accounts|debtor|payouts|payout-records|paid|bank|bank-records"
        let building = try NSRegularExpression(pattern: "(\\+\\s*\"/(\(names))[/\"])|(\\)/(\(names))[/\"])")
        var offenders: [String] = []
        let sources = Self.repository + "/Sources"
        for folder in try FileIO.listDirectory(sources).sorted() where folder != "qrpay-bench" {
            guard let enumerator = FileManager.default.enumerator(atPath: sources + "/" + folder) else { continue }
            for case let file as String in enumerator where file.hasSuffix(".swift") && file != "SpoolLayout.swift"
                && !file.hasSuffix("/SpoolLayout.swift") {
                let path = sources + "/" + folder + "/" + file
                let text = String(decoding: try FileIO.read(path, maxBytes: 1 << 22), as: UTF8.self)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let code = line.trimmingCharacters(in: .whitespaces)
                    if code.hasPrefix("//") { continue }
                    let range = NSRange(code.startIndex..., in: code)
                    if building.firstMatch(in: code, range: range) != nil { offenders.append("\(folder)/\(file):\(number + 1): \(code)") }
                }
            }
        }
        #expect(offenders.isEmpty, "spool paths built outside SpoolLayout:\n\(offenders.joined(separator: "\n"))")
    }
}
