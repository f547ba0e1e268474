// The journal as a log of the group commit (the spool layer's `CommitLog`): a commit's transitions
// are appended, durably and announced by an intent, after its data is durable and before any record
// they describe changes; the intent goes once every file of the commit is in place.

import Foundation
import QRPaySpool

extension Journal: CommitLog {
    package func append(committing entries: [TransitionRequest]) throws -> (() -> Void)? {
        let appended = try append(entries, announcing: true)
        writeHeads(appended.completion.adoptedEntries + appended.entries)  // the lock is free again
        guard !appended.completion.isEmpty else { return nil }
        return { self.finished(appended.completion) }
    }
}

extension GroupCommit {
    /// Appends `request` to `journal` at flush, before anything staged becomes visible.
    package func journal(_ journal: Journal, _ request: TransitionRequest) {
        append(request, to: journal)
    }
}
