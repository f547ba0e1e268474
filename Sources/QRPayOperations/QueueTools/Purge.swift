// `qrpay-spool purge`: removes processed files past their retention, like a mail system's log
// rotation. Stages never delete what came in: `Queue.complete` moves a processed file to
// QUEUE/done/DAY/ (DAY: the UTC day it was processed). This removes the done/DAY directories older
// than the retention, in bulk, at the hour the operator picks (Samples/systemd/qrpay-purge.timer,
// Samples/crontab): deleting files frees blocks and inodes, which on some file systems (ext4 with
// `discard`, or without a journal) costs the processes that write next, so it belongs off the hot
// path. The payment records keep every document for good; done/ is the raw evidence as received.
//
// Today's directory is never removed, whatever the retention, and nothing outside QUEUE/done/DAY
// (DAY a valid YYYY-MM-DD name) is touched.

import Foundation
import QRPaySupport
import QRPaySpool
#if canImport(Glibc)
import Glibc
#endif

package struct PurgeReport: Sendable {
    package struct Day: Sendable {
        package let queue: String
        package let day: String
        package let files: Int
    }

    package var removed: [Day] = []
    package var kept: Int = 0
    /// Queues this user may not read (another party's own), skipped.
    package var skipped: [String] = []
    package let cutoff: String
    package let dryRun: Bool

    package var files: Int { removed.reduce(0) { $0 + $1.files } }

    package var json: JSONValue {
        [
            "v": 1, "cutoff": .string(cutoff), "dryRun": .bool(dryRun), "files": .int(Int64(files)),
            "days": .int(Int64(removed.count)), "keptDays": .int(Int64(kept)),
            "removed": .array(removed.map { ["queue": .string($0.queue), "day": .string($0.day), "files": .int(Int64($0.files))] }),
        ]
    }

    package var text: String {
        var lines = removed.map { "\($0.queue)/done/\($0.day): \($0.files) file(s)\(dryRun ? " would be removed" : " removed")" }
        lines.append("\(dryRun ? "would remove" : "removed") \(files) file(s) in \(removed.count) day(s) before \(cutoff); kept \(kept) day(s)")
        return lines.joined(separator: "\n")
    }
}

package enum SpoolPurge {
    /// Removes every QUEUE/done/DAY with DAY before today minus `keepDays` (today is always kept).
    /// `progress` is called with the running file count every 10,000 files.
    package static func run(spoolRoot root: String, keepDays: Int, now: Date = Date(), dryRun: Bool = false,
                           progress: ((Int) -> Void)? = nil) throws -> PurgeReport {
        guard keepDays >= 0 else { throw QRPayError.usage("--keep-days must be 0 or more") }
        let cutoff = Timestamp.day(now.addingTimeInterval(-Double(keepDays) * 86400))
        var report = PurgeReport(cutoff: cutoff, dryRun: dryRun)
        var count = 0
        for named in try SpoolLayout(root: root).allQueues() {
            let name = named.name, queue = named.queue
            guard SpoolLayout.mayRead(queue.doneDirectory) else { report.skipped.append(name); continue }
            for day in queue.doneDays() {
                guard day < cutoff else { report.kept += 1; continue }
                let dir = queue.doneDirectory + "/" + day
                var files = 0
                for entry in try FileIO.listDirectory(dir) {
                    let path = dir + "/" + entry
                    if !dryRun {
                        if let (kind, _) = FileIO.lstatKind(path), kind == .directory {
                            try FileManager.default.removeItem(atPath: path)  // never follows links
                        } else if unlink(path) != 0 && errno != ENOENT {
                            throw QRPayError.io("remove", path: path, errno: errno)
                        }
                    }
                    files += 1
                    count += 1
                    if count % 10_000 == 0 { progress?(count) }
                }
                if !dryRun {
                    guard rmdir(dir) == 0 || errno == ENOENT else { throw QRPayError.io("remove the directory", path: dir, errno: errno) }
                }
                report.removed.append(.init(queue: name, day: day, files: files))
            }
            if !dryRun && report.removed.last?.queue == name { try? FileIO.fsyncDirectory(queue.doneDirectory) }
        }
        return report
    }
}
