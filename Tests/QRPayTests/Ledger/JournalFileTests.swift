// The journal's files never go back in time: an entry goes into the file of its own day or of the
// newest entry's file, whichever is later. (A stage run with a clock ahead past midnight wrote into
// the next day's file; an entry after it dated that evening went back into the evening's file and
// broke the chain as `check` reads it, file by file.)

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayLedger
@testable import QRPayOperations
import Testing

@Suite struct JournalFileTests {
    @Test func entriesAfterOneDatedTomorrowStayInTomorrowsFile() throws {
        try withSpool { spool in
            let journal = Journal(layout: SpoolLayout(root: spool.root))
            func append(_ payment: String, _ at: String) throws {
                try journal.append([TransitionRequest(shop: "1001", payment: payment, from: nil, to: .request,
                                                      evidence: Data(payment.utf8), at: try #require(Timestamp.parse(at)))])
            }
            try append("P1", "2026-12-07T23:50:00Z")
            try append("P2", "2026-12-08T00:05:00Z")  // a clock ahead
            try append("P3", "2026-12-07T23:51:00Z")
            try append("P4", "2026-12-07T23:52:00Z")
            let files = try journal.files().map { ($0 as NSString).lastPathComponent }
            #expect(files == ["2026-12-07.jsonl", "2026-12-08.jsonl"])
            var seqs: [[Int64]] = []
            for file in try journal.files() {
                seqs.append(try String(decoding: FileIO.read(file), as: UTF8.self).split(separator: "\n")
                    .map { try JournalEntry(line: Data($0.utf8)).seq })
            }
            #expect(seqs == [[1], [2, 3, 4]])
            var findings: [String] = []
            var audit = JournalAudit(spoolRoot: spool.root) { code, path, _ in findings.append("\(code) \(path)") }
            try audit.run()
            #expect(findings.isEmpty, "\(findings)")
            #expect(audit.entries == 4)
        }
    }
}
