// What one run of a stage shares between its group commits (`StageContext`: the layout, the clock,
// directories known to exist, keys reserved by batches in flight) and how the batched stages are
// sized (`StageTuning`).

import Foundation
import QRPaySupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Directories known to exist, so that a batch does not lstat (or create) them again for every
/// file. Thread-safe; an entry is trusted for 10 s (a directory an operator removes under a running
/// --watch stage comes back).
final class DirectoryCache: Sendable {
    private let known = Mutex<[String: Double]>([:])
    static let lifetime = 10.0

    private static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    func isKnown(_ path: String) -> Bool {
        let now = DirectoryCache.monotonic()
        return known.withLock { ($0[path] ?? -1) > now }
    }

    func remember(_ path: String) {
        let until = DirectoryCache.monotonic() + DirectoryCache.lifetime
        known.withLock { $0[path] = until }
    }

    func forget(_ path: String) {
        known.withLock { _ = $0.removeValue(forKey: path) }
    }
}

/// Names reserved by commits in flight (payment records), so two batches never change one payment.
final class KeyReservations: Sendable {
    private let keys = Mutex<Set<String>>([])

    /// Reserves `key`; false when another commit holds it.
    func reserve(_ key: String) -> Bool { keys.withLock { $0.insert(key).inserted } }

    func release(_ released: some Sequence<String>) {
        keys.withLock { set in for k in released { set.remove(k) } }
    }
}

/// What one run of a stage (or one command) shares between its commits: the spool's layout, the
/// clock, the directories known to exist and the keys reserved by batches in flight.
package final class StageContext: Sendable {
    package let layout: SpoolLayout
    package let clock: TimeSource
    let directories = DirectoryCache()
    let reservations = KeyReservations()

    package init(layout: SpoolLayout, clock: TimeSource = .system) {
        self.layout = layout
        self.clock = clock
    }

    package convenience init(spoolRoot: String, clock: TimeSource = .system) {
        self.init(layout: SpoolLayout(root: spoolRoot), clock: clock)
    }

    package func now() -> Date { clock.now() }

    /// Makes sure the directory `path` of the spool exists (created with the layout's modes when
    /// missing); remembered for 10 s.
    package func ensureDirectory(_ path: String) throws {
        if directories.isKnown(path) { return }
        try layout.makeDirectories(path)
        directories.remember(path)
    }

    /// Makes sure a queue and its subdirectories exist.
    package func ensureQueue(_ queue: Queue) throws {
        if directories.isKnown(queue.path) { return }
        if !(FileIO.isDirectory(queue.tmpDirectory) && FileIO.isDirectory(queue.newDirectory)) { try layout.makeQueue(queue) }
        directories.remember(queue.path)
    }

    /// Forgets a directory found missing.
    func forgetDirectory(_ path: String) { directories.forget(path) }
}

/// Batch size and concurrency of the batched stages (register, approve): 64 files per group commit
/// and one batch more than there are CPUs (at most 4), so that a batch waiting for its syncfs leaves
/// every CPU busy with the others. The stage programs take `--batch-size` and `--concurrency`, with
/// QRPAY_BATCH_SIZE and QRPAY_STAGE_CONCURRENCY as fallbacks (read by the programs, not here).
package struct StageTuning: Sendable, Equatable {
    package var batchSize: Int
    package var concurrency: Int

    package static let batchSizes = 1...4096
    package static let concurrencies = 1...64
    package static let defaultBatchSize = 64
    package static var defaultConcurrency: Int { min(4, max(1, ProcessInfo.processInfo.activeProcessorCount) + 1) }

    package init(batchSize: Int = StageTuning.defaultBatchSize, concurrency: Int = StageTuning.defaultConcurrency) {
        self.batchSize = batchSize
        self.concurrency = concurrency
    }

    /// One file at a time (stages whose work is not batched).
    package static let single = StageTuning(batchSize: 1, concurrency: 1)
}
