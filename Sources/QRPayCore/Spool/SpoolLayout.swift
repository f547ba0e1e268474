// The fixed points of a spool, relative to its root. The layout is part of the interface (see
// LAYOUT.md beside this file): operators and other programs find things by these paths.

import Foundation

public enum SpoolLayout {
    /// ROOT/ca: the CA repository (certificates, CRL).
    public static func caDirectory(_ root: String) -> String { root + "/ca" }
    /// ROOT/pg: the payment gateway's private area.
    public static func pgDirectory(_ root: String) -> String { root + "/pg" }
    /// ROOT/pg/inbox: signed payment JSON from shops.
    public static func inbox(_ root: String) -> Queue { Queue(path: pgDirectory(root) + "/inbox") }
    /// ROOT/pg/approvals: users' approvals.
    public static func approvals(_ root: String) -> Queue { Queue(path: pgDirectory(root) + "/approvals") }
    /// ROOT/pg/cancels: cancellations.
    public static func cancels(_ root: String) -> Queue { Queue(path: pgDirectory(root) + "/cancels") }
    /// ROOT/shops/ID.
    public static func shopDirectory(_ root: String, shop: String) -> String { root + "/shops/" + shop }
    /// ROOT/users/ID.
    public static func userDirectory(_ root: String, user: String) -> String { root + "/users/" + user }
    /// ROOT/users/ID/inbox: notices for one user.
    public static func userInbox(_ root: String, user: String) -> Queue {
        Queue(path: userDirectory(root, user: user) + "/inbox")
    }
    /// ROOT/run: one lock file per stage (`<stage>.lock`, holding the runner's pid).
    public static func runDirectory(_ root: String) -> String { root + "/run" }
    /// ROOT/run/<stage>.lock.
    public static func lockFile(_ root: String, stage: String) -> String { runDirectory(root) + "/" + stage + ".lock" }

    /// How a queue is named in log lines: its path relative to the root (`pg/inbox`).
    public static func displayName(_ queue: Queue, root: String) -> String {
        let prefix = root.hasSuffix("/") ? root : root + "/"
        if queue.path.hasPrefix(prefix) { return String(queue.path.dropFirst(prefix.count)) }
        return (queue.path as NSString).lastPathComponent
    }
}
