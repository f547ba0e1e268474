// `qrpay-shop notices` and `qrpay-user receipts`: read the PG's messages of one party, print them,
// and (--watch) keep reading as they arrive.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments
#if canImport(Glibc)
import Glibc
#endif

/// Reads `reader`'s queue once, or (`watch`) until SIGINT/SIGTERM. Exits 65 when something was set
/// aside, 75 when something waits for a fault of this system (no usable CRL).
package func readMessages(_ reader: PGMessageReader, watch: Bool, json: Bool, keep: Bool, program: String) throws {
    var setAside = 0, waiting = 0
    var collected: [JSONValue] = []
    let queueName = reader.layout.relative(reader.queue.path)
    func pass() throws {
        let now = try TimeSource.fromEnvironment().now()
        let result = try reader.readPending(keep: keep, now: now) { message in
            if json {
                if watch {
                    var line = message.json.serialized()
                    line.append(0x0A)
                    FileHandle.standardOutput.write(line)
                } else {
                    collected.append(message.json)
                }
            } else {
                FileHandle.standardOutput.write(Data((message.line + "\n").utf8))
            }
        }
        for (name, error) in result.setAside {
            Diagnostics.error(program, "\(queueName)/\(name): set aside in quarantine/, not believed: \(error.message)")
        }
        for (name, error) in result.waiting {
            Diagnostics.info(program, "\(queueName)/\(name): left waiting: \(error.message)")
        }
        setAside += result.setAside.count
        waiting = result.waiting.count
    }
    try pass()
    if watch {
        let signals = StopSignals.shared
        signals.install()
        let start = signals.generation
        let watcher = try DirectoryWatcher([reader.queue.newDirectory])
        while signals.generation == start {
            // Files left waiting (no CRL) are tried again every minute.
            try watcher.wait(timeout: waiting > 0 ? 60 : 3600, alsoWatching: [signals.wakeDescriptor])
            signals.drain()
            if signals.generation != start { break }
            try pass()
        }
    }
    if json && !watch { printJSON(.array(collected)) }
    if setAside > 0 {
        Diagnostics.error(program, "\(setAside) message(s) did not verify and were set aside in \(queueName)/quarantine/")
        throw ExitCode(SysExit.dataError.rawValue)
    }
    if waiting > 0 { throw ExitCode(SysExit.tempFail.rawValue) }
}
