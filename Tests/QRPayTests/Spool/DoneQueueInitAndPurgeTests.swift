// Processed files are kept, not deleted: Queue.complete moves them to QUEUE/done/DAY/, and
// `qrpay-spool purge` removes the days past the retention (never today's).

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DoneQueueTests {
    @Test func completeMovesTheFileToItsDayAndKeepsSecondCopiesApart() throws {
        let dir = TemporaryDirectory("done")
        let queue = Queue(path: dir.path + "/q")
        try queue.create()
        let now = try #require(Timestamp.parse("2026-03-04T05:06:07Z"))
        for round in 0..<2 {
            try queue.deliver(Data("round \(round)".utf8), name: "same.json")
            let file = try #require(try queue.claim("same.json"))
            try queue.complete(file, now: now)
        }
        #expect(try FileIO.listDirectory(queue.curDirectory).isEmpty)
        let day = queue.doneDirectory + "/2026-03-04"
        let names = try FileIO.listDirectory(day).sorted()
        #expect(names.count == 2)
        #expect(names.first == "same.json")
        #expect(names.last?.hasPrefix("same.json.dup-") == true)
        #expect(try FileIO.read(day + "/same.json") == Data("round 0".utf8))
        #expect(queue.doneDays() == ["2026-03-04"])
    }

    @Test func aDayRemovedUnderTheStageIsMadeAgain() throws {
        let dir = TemporaryDirectory("done-again")
        let queue = Queue(path: dir.path + "/q")
        try queue.create()
        let now = Date()
        try queue.deliver(Data("a".utf8), name: "a.json")
        try queue.complete(try #require(try queue.claim("a.json")), now: now)
        let day = queue.doneDirectory + "/" + Timestamp.day(now)
        try FileManager.default.removeItem(atPath: day)  // an operator (or a purge) took it away
        try queue.deliver(Data("b".utf8), name: "b.json")
        try queue.complete(try #require(try queue.claim("b.json")), now: now)
        #expect(try FileIO.listDirectory(day) == ["b.json"])
    }
}

@Suite struct PurgeTests {
    /// A registered, approved and settled spool, plus hand-made done/ days.
    @Test func purgeRemovesOnlyDaysPastTheRetention() throws {
        let o = try OperationsSpool()
        let today = Timestamp.day(Date())
        let inbox = SpoolLayout(root: o.root).inbox, approvals = SpoolLayout(root: o.root).approvals
        // What the stages processed today is in done/, nothing is left claimed.
        #expect(try FileIO.listDirectory(inbox.doneDirectory + "/" + today).count == 5)
        #expect(try FileIO.listDirectory(approvals.doneDirectory + "/" + today).count == 2)
        #expect(try FileIO.listDirectory(inbox.curDirectory).isEmpty)

        let old = "2020-01-01", recent = Timestamp.day(Date().addingTimeInterval(-3 * 86400))
        for (day, count) in [(old, 3), (recent, 2)] {
            try FileIO.makeDirectory(inbox.doneDirectory + "/" + day, mode: 0o750)
            for i in 0..<count {
                try Durable.write(Data("x".utf8), to: inbox.doneDirectory + "/\(day)/f\(i).json", mode: 0o640)
            }
        }
        try FileIO.makeDirectory(inbox.doneDirectory + "/not-a-day", mode: 0o750)  // never touched

        let dry = o.spool("purge", "--dry-run", "--json")
        #expect(dry.status == 0, "\(dry.stderr)")
        let dryReport = try JSONValue.parse(dry.stdout)
        #expect(dryReport["dryRun"] == .bool(true) && dryReport["files"] == .int(3) && dryReport["days"] == .int(1))
        #expect(FileIO.isDirectory(inbox.doneDirectory + "/" + old))

        let week = o.spool("purge", "--keep-days", "7", "--json")
        #expect(week.status == 0, "\(week.stderr)")
        let report = try JSONValue.parse(week.stdout)
        #expect(report["files"] == .int(3))
        #expect(report["removed"] == .array([["queue": "pg/inbox", "day": .string(old), "files": 3]]))
        #expect(!FileIO.exists(inbox.doneDirectory + "/" + old))
        #expect(inbox.doneDays() == [recent, today])

        let all = o.spool("purge", "--keep-days", "0")
        #expect(all.status == 0 && all.stdout.contains("removed 2 file(s) in 1 day(s)"), "\(all.stdout)")
        #expect(inbox.doneDays() == [today])  // today's stays, whatever the retention
        #expect(FileIO.isDirectory(inbox.doneDirectory + "/not-a-day"))
        #expect(try FileIO.listDirectory(approvals.doneDirectory + "/" + today).count == 2)

        #expect(o.spool("purge", "--keep-days", "-1").status == 64)
        let check = try o.check()
        #expect(check.status == 0, "\(check.findings)")
    }
}

@Suite struct SpoolInitTests {
    @Test func initCreatesTheTreeOnceAndRegistrationUsesIt() throws {
        let s = try PipelineSpool()
        func directories(_ path: String) -> Int {
            var n = 0
            try? FileIO.forEachEntry(path) { name, isDirectory in if isDirectory { n += 1 + directories(path + "/" + name) } }
            return n
        }
        let before = directories(s.root)
        let first = s.run("qrpay-spool", ["init", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let report = try JSONValue.parse(first.stdout)
        #expect(report["shops"] == ["1001", "2002"])
        // Every directory made is counted: 3 queues of 8, payments/, states, the due index, list/ and its
        // 4,096 token directories, journal/, run/; per shop 256 buckets, qr/ and the notice queue.
        #expect(report["created"] == .int(Int64(directories(s.root) - before)))
        #expect(directories(s.root) - before >= 3 * 8 + 1 + 6 + 3 + 4097 + 2 + 2 * (1 + 256 + 1 + 8))
        let layout = SpoolLayout(root: s.root)
        #expect(try FileIO.listDirectory(layout.listDirectory).count == 4096)
        var st = stat()
        // Modes from the layout table.
        #expect(lstat(layout.listDirectory + "/Az", &st) == 0 && st.st_mode & 0o7777 == 0o711)
        #expect(try FileIO.listDirectory(layout.recordDirectory(shop: "1001")).count == 256)
        #expect(lstat(layout.recordDirectory(shop: "2002") + "/ff", &st) == 0 && st.st_mode & 0o7777 == 0o750)
        #expect(lstat(layout.inbox.newDirectory, &st) == 0 && st.st_mode & 0o7777 == 0o1730)
        #expect(lstat(layout.inbox.curDirectory, &st) == 0 && st.st_mode & 0o7777 == 0o750)
        #expect(lstat(layout.notices(shop: "1001").newDirectory, &st) == 0 && st.st_mode & 0o7777 == 0o2770)
        #expect(lstat(layout.qrDirectory(shop: "1001"), &st) == 0 && st.st_mode & 0o7777 == 0o2750)
        #expect(lstat(layout.dueDirectory(.expires), &st) == 0 && st.st_mode & 0o7777 == 0o750)

        let again = s.run("qrpay-spool", ["init", "--json"])
        #expect(again.status == 0)
        let againReport = try JSONValue.parse(again.stdout)
        #expect(againReport["created"] == .int(0))
        #expect(s.run("qrpay-spool", ["init", "--shop", "../x"]).status == 64)

        try s.dropInInbox(try s.signedPayment(try s.paymentInfo(shop: "1001", payment: "P1", total: 1000)))
        #expect(s.run("qrpay-register", ["--password-file", s.passwordFile, "--once"]).status == 0)
        #expect(try s.store.load(shop: "1001", payment: "P1")?.state == .request)
        let check = s.run("qrpay-spool", ["check", "--json"])
        #expect(check.status == 0, "\(check.stdout)")
    }
}

@Suite struct DirectoryListingTests {
    /// Names are read in place from readdir's records (copying the 256-byte d_name could read past the
    /// end of the library's buffer): every length from 1 to 255 bytes comes back exactly.
    @Test func namesOfEveryLengthComeBackExactly() throws {
        let dir = TemporaryDirectory("listing")
        var expected = Set<String>()
        for length in 1...255 {
            let name = String(repeating: "n", count: length - 1) + String(length % 10)
            try Durable.write(Data(), to: dir.path + "/" + name, mode: 0o600)
            expected.insert(name)
        }
        #expect(Set(try FileIO.listDirectory(dir.path)) == expected)
        var seen = Set<String>()
        try FileIO.forEachName(dir.path) { seen.insert(String(decoding: $0, as: UTF8.self)) }
        #expect(seen == expected)
        var viaReports = Set<String>()
        try FileIO.forEachEntry(dir.path) { name, isDirectory in
            #expect(!isDirectory)
            viaReports.insert(name)
        }
        #expect(viaReports == expected)
    }
}
