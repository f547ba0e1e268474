// `qrpay-spool rebuild`: the indexes (state markers, due entries) made anew from the journal and the
// records it holds are byte for byte what a clean run left; hand edits of the indexes are undone;
// a record the journal does not hold gets nothing new and loses nothing the journal supports.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayLedger
import Testing

@Suite(.serialized) struct RebuildTests {
    /// Every file under the index trees, with its size, and every directory, relative to the spool.
    func snapshot(_ o: OperationsSpool) throws -> [String] {
        var out: [String] = []
        func walk(_ dir: String) throws {
            for name in try FileIO.listDirectory(dir).sorted() {
                let path = dir + "/" + name
                guard let (kind, st) = FileIO.lstatKind(path) else { continue }
                if kind == .directory { out.append(o.s.store.layout.relative(path) + "/"); try walk(path) }
                else { out.append("\(o.s.store.layout.relative(path)) \(st.st_size) \(String(st.st_mode & 0o7777, radix: 8))") }
            }
        }
        for tree in ["pg/states", "pg/due"] { try walk(o.root + "/" + tree) }
        return out
    }

    func rebuild(_ o: OperationsSpool, _ args: String...) throws -> (status: Int32, report: JSONValue) {
        let r = o.s.run("qrpay-spool", ["rebuild", "--json"] + args)
        return (r.status, try JSONValue.parse(r.stdout.isEmpty ? "{}" : r.stdout))
    }

    @Test func rebuildGivesWhatACleanRunLeft() throws {
        let o = try OperationsSpool()
        let layout = o.s.store.layout
        let clean = try snapshot(o)
        #expect(clean.count > 10)
        var r = try rebuild(o)
        #expect(r.status == 0 && r.report["added"]?.arrayValue?.isEmpty == true && r.report["removed"]?.arrayValue?.isEmpty == true,
                "\(r.report)")
        #expect(r.report["indexed"]?.intValue == 5)
        #expect(try snapshot(o) == clean)

        // Hand edits of the indexes: a marker deleted, one moved to another state, a due entry added
        // for a finished payment, an open payment's due entry removed.
        let a = try o.record("1001", "A"), b = try o.record("1001", "B"), d = try o.record("1001", "D")
        try FileIO.remove(layout.markerPath(state: .finish, info: a.info))
        let moved = layout.markerPath(state: .finish, info: d.info)
        try layout.makeDirectories(FileIO.parentDirectory(moved))
        #expect(rename(layout.markerPath(state: .cancel, info: d.info), moved) == 0)
        let forged = DueEntry(kind: .expires, epoch: DueIndex.seconds(Date()) + 300, shop: "1001", payment: "A")
        try layout.makeDirectories(FileIO.parentDirectory(DueIndex.path(forged, layout: layout)))
        try Durable.write(Data(), to: DueIndex.path(forged, layout: layout), mode: 0o640, ifExists: .fail)
        try FileIO.remove(DueIndex.path(try #require(DueIndex.entry(for: b)), layout: layout))
        let edited = try snapshot(o)
        #expect(edited != clean)

        // --dry-run names each difference and changes nothing.
        r = try rebuild(o, "--dry-run")
        #expect(r.status == 0)
        let added = r.report["added"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let removed = r.report["removed"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(added.count == 3 && removed.count == 2, "\(r.report)")
        #expect(try snapshot(o) == edited)

        r = try rebuild(o)
        #expect(r.status == 0, "\(r.report)")
        let rebuilt = try snapshot(o)
        #expect(rebuilt == clean, "\(Set(rebuilt).symmetricDifference(clean).sorted())")
        #expect(try o.check().findings.isEmpty)

        // A record edited by hand: not rebuilt (exit 1, named), its payment's entries left as they
        // were: B's request marker and due entry, which the journal supports, stay.
        try o.rewriteRecord("1001", "B") { $0["state"] = "finish" }
        r = try rebuild(o)
        #expect(r.status == 1 && r.report["notRebuilt"]?.arrayValue?.first?.stringValue?.hasPrefix("1001/B: the record says finish") == true,
                "\(r.report)")
        #expect(try snapshot(o) == clean)
        // While a stage runs, rebuild refuses.
        let lock = open(layout.lockFile(stage: "settle"), O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        defer { close(lock) }
        #expect(flock(lock, LOCK_EX) == 0)
        let busy = o.s.run("qrpay-spool", ["rebuild"])
        #expect(busy.status == 75 && busy.stderr.contains("qrpay-settle is running"), "\(busy.stderr)")
    }
}
