// The journal as a log of the group commit (the spool layer's `CommitLog`): a commit's transitions
// are appended, durably and announced by an intent, after its data is durable and before any record
// they describe changes; the intent goes once every file of the commit is in place.

import Foundation
import QRPaySpool

extension Journal: CommitLog {
    package func append(committing entries: [TransitionRequest]) throws -> (() -> Void)? {
        let completion = try append(entries, announcing: true).completion
        guard !completion.isEmpty else { return nil }
        return { self.finished(completion) }
    }
}

extension GroupCommit {
    /// Appends `request` to `journal` at flush, before anything staged becomes visible.
    package func journal(_ journal: Journal, _ request: TransitionRequest) {
        append(request, to: journal)
    }
}
