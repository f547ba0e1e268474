// The group commit carries the entries of logs (`CommitLog`) without knowing what they mean: each
// log gets one append per flush, in staging order, after the staged data and before any name; a
// rollback drops what was staged after its mark; a log that fails leaves no staged file named; and
// a log hears that the commit is complete only after every name is in place.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
import Testing

/// A log that keeps what it was given and what it saw of the commit's files when it was called.
final class RecordingLog: CommitLog {
    typealias Entry = String
    let watched: String
    var fail = false
    var appends: [[String]] = []
    var visibleAtAppend: [Bool] = []
    var completions: [Bool] = []  // whether the watched file existed when the commit completed

    init(watching path: String) { watched = path }

    func append(committing entries: [String]) throws -> (() -> Void)? {
        visibleAtAppend.append(FileIO.exists(watched))
        if fail { throw QRPayError(.spoolExists, "the log refused") }
        appends.append(entries)
        return { [self] in completions.append(FileIO.exists(watched)) }
    }
}

@Suite struct CommitLogTests {
    @Test func entriesGoOncePerFlushInOrderBeforeAnyName() throws {
        try withSpool { spool in
            let path = spool.root + "/record.json"
            let a = RecordingLog(watching: path), b = RecordingLog(watching: path)
            let commit = testCommit(spool.root)
            try commit.write(Data("r".utf8), to: path)
            commit.append("a1", to: a)
            commit.append("b1", to: b)
            commit.append("a2", to: a)
            #expect(!commit.isEmpty)
            try commit.flush()
            #expect(a.appends == [["a1", "a2"]] && b.appends == [["b1"]])
            #expect(a.visibleAtAppend == [false] && b.visibleAtAppend == [false], "a log is written before any staged file is named")
            #expect(a.completions == [true] && b.completions == [true], "a log hears of completion after the names")
            #expect(commit.isEmpty)
            try commit.flush()  // nothing staged: no append
            #expect(a.appends.count == 1)
        }
    }

    @Test func aRollbackDropsTheEntriesStagedAfterItsMark() throws {
        try withSpool { spool in
            let a = RecordingLog(watching: spool.root + "/x"), b = RecordingLog(watching: spool.root + "/x")
            let commit = testCommit(spool.root)
            commit.append("a1", to: a)
            let mark = commit.mark
            commit.append("a2", to: a)
            commit.append("b1", to: b)
            commit.rollback(to: mark)
            try commit.flush()
            #expect(a.appends == [["a1"]] && b.appends.isEmpty)
            // Only entries, and all rolled back: nothing to do.
            let empty = testCommit(spool.root)
            let start = empty.mark
            empty.append("b2", to: b)
            empty.rollback(to: start)
            #expect(empty.isEmpty)
            try empty.flush()
            #expect(b.appends.isEmpty)
        }
    }

    @Test func aLogThatFailsLeavesNoStagedFileNamed() throws {
        try withSpool { spool in
            let path = spool.root + "/record.json"
            let log = RecordingLog(watching: path)
            log.fail = true
            let commit = testCommit(spool.root)
            try commit.write(Data("r".utf8), to: path)
            commit.append("e", to: log)
            expectCode("spool.exists") { try commit.flush() }
            #expect(!FileIO.exists(path) && log.completions.isEmpty)
            #expect(contents(spool.root).isEmpty, "no temporaries left: \(contents(spool.root))")
        }
    }
}
