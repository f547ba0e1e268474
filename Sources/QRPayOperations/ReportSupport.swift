// Small helpers of the operator tools (qrpay-spool check, qrpay-reconcile): taking the PG stages'
// locks, paths relative to the spool.

import Foundation
import QRPaySpool
#if canImport(Glibc)
import Glibc
#endif

/// The stages that change payments (register, approve, settle). Holding their locks means no
/// transition is in flight, so markers and records can be compared (and repaired) safely.
package final class StageLocks {
    package static let paymentStages = ["register", "approve", "settle", "payout"]
    private var fds: [Int32] = []
    /// Stages that were running (their lock was held by another process).
    package private(set) var busy: [String] = []

    /// Tries each stage's lock without waiting. A missing lock file means the stage never ran here.
    package init(spoolRoot: String, stages: [String] = StageLocks.paymentStages) {
        for stage in stages {
            let fd = open(SpoolLayout(root: spoolRoot).lockFile(stage: stage), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            if fd < 0 { continue }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                busy.append(stage)
                close(fd)
            } else {
                fds.append(fd)
            }
        }
    }

    package var allHeld: Bool { busy.isEmpty }

    deinit { for fd in fds { close(fd) } }
}

extension String {
    /// `path` relative to `root` (for findings and listings).
    func relative(to root: String) -> String {
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
    }
}
