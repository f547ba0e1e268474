// The spool's layout: every path QR-Pay reads or writes, every queue, and for each directory its
// owner, group and mode. Like Postfix's mail_queue.c, this file is the only place that knows how a
// spool path is spelled; everything else asks it. The layout is part of the interface (operators
// and other programs find things by these paths), so the README's layout tables and
// Sources/QRPaySpool/LAYOUT.md are generated from `SpoolLayout.table` (`qrpay-spool layout
// --markdown`), and a test checks that they agree.
//
// Parties: the CA, the PG, shops and users, each its own Unix user when deployed (`qrpay-spool
// setup` applies the table: owners, groups, modes). On a single-user spool (a demo, the tests) the
// same modes apply; only the owners are all one user. Programs create what is missing with the
// table's mode and never change the mode of a directory that exists.

import Foundation
import QRPaySupport
#if canImport(Glibc)
import Glibc
#endif

/// Who owns (or whose group holds) an entry of the layout.
package enum Principal: String, Sendable, CaseIterable {
    /// The certificate authority (`qrpay-ca`).
    case ca
    /// The payment gateway and its operators (`qrpay-pg`).
    case pg
    /// The group every shop is in (`qrpay-shops`): those who may drop into the PG's shop queues.
    case shops
    /// The group every user is in (`qrpay-users`).
    case users
    /// The shop named in the path (`shop-ID`: its own user and group).
    case shop
    /// The user named in the path (`user-ID`).
    case user

    /// The default Unix name (setup's defaults; ID is the shop's or user's id).
    package var defaultName: String {
        switch self {
        case .ca: return "qrpay-ca"
        case .pg: return "qrpay-pg"
        case .shops: return "qrpay-shops"
        case .users: return "qrpay-users"
        case .shop: return "shop-ID"
        case .user: return "user-ID"
        }
    }
}

/// One row of the layout table.
package struct LayoutEntry: Sendable {
    package enum Kind: String, Sendable {
        case directory, file
        /// A queue: a directory with tmp/ new/ cur/ done/ deferred/ hold/ quarantine/.
        case queue
    }

    /// Who writes into a queue, and who consumes it; decides its subdirectories' modes.
    package enum QueueAccess: Sendable, Equatable {
        /// The PG consumes what a group of parties drops (`writers`): tmp/ and new/ are 1730 group
        /// `writers` (they create and link, cannot list, cannot remove another's file), the rest 0750 pg:pg.
        case toPG(writers: Principal)
        /// The PG writes, the party named in the path consumes: every subdirectory 2770 pg:party
        /// (setgid: files keep the party's group, so the party reads and moves them).
        case fromPG(to: Principal)
        /// A party's own queue (photos for its scan stage): 0700, the party's alone.
        case own(Principal)
    }

    /// Relative to the spool root; `{shop}`, `{user}`, `{day}`... stand for one path component.
    package let pattern: String
    package let kind: Kind
    package let owner: Principal
    package let group: Principal
    /// The directory's mode, or the file's.
    package let mode: mode_t
    package let writer: String
    package let reader: String
    package let queue: QueueAccess?

    init(_ pattern: String, _ kind: Kind, _ owner: Principal, _ group: Principal, _ mode: mode_t,
         writer: String, reader: String, queue: QueueAccess? = nil) {
        self.pattern = pattern; self.kind = kind; self.owner = owner; self.group = group; self.mode = mode
        self.writer = writer; self.reader = reader; self.queue = queue
    }

    /// `0750`.
    package var modeText: String { String(format: "%04o", Int(mode)) }
}

/// A queue's subdirectory, with its owner, group and mode.
package struct QueueSubdirectory: Sendable {
    package let name: String
    package let owner: Principal
    package let group: Principal
    package let mode: mode_t
}

extension LayoutEntry.QueueAccess {
    /// The subdirectories of a queue with this access, in Queue.subdirectories order.
    package func subdirectories(queueOwner: Principal) -> [QueueSubdirectory] {
        Queue.subdirectories.map { sub in
            switch self {
            case .toPG(let writers):
                if sub == "tmp" || sub == "new" { return QueueSubdirectory(name: sub, owner: .pg, group: writers, mode: 0o1730) }
                return QueueSubdirectory(name: sub, owner: .pg, group: .pg, mode: 0o750)
            case .fromPG(let party):
                return QueueSubdirectory(name: sub, owner: .pg, group: party, mode: 0o2770)
            case .own(let party):
                return QueueSubdirectory(name: sub, owner: party, group: party, mode: 0o700)
            }
        }
    }

    /// The mode of the queue's own directory.
    package var rootMode: mode_t {
        switch self {
        case .toPG: return 0o750
        case .fromPG: return 0o2770
        case .own: return 0o700
        }
    }
}

/// A queue with the name the operator sees (`pg/inbox`, `shops/1001/notices`).
package struct NamedQueue: Sendable {
    package let name: String
    package let queue: Queue
}

package struct SpoolLayout: Sendable {
    package let root: String

    package init(root: String) {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
    }

    // MARK: the certificate authority (ca/)

    package var caDirectory: String { root + "/ca" }
    package var caCertificate: String { caDirectory + "/ca.pem" }
    package var crl: String { caDirectory + "/crl.pem" }
    package var caIndex: String { caDirectory + "/index.json" }
    package var caLock: String { caDirectory + "/lock" }
    package var caPrivateDirectory: String { caDirectory + "/private" }
    package var caKey: String { caPrivateDirectory + "/ca-key.pem" }
    package var issuedDirectory: String { caDirectory + "/issued" }
    package func issuedCertificate(fingerprint: String) -> String { issuedDirectory + "/" + fingerprint + ".pem" }
    package var certificatesDirectory: String { caDirectory + "/certs" }
    package func certificatesDirectory(role: Role) -> String { certificatesDirectory + "/" + role.rawValue }
    /// The current certificate of a role and id, published by the CA (owners' programs find theirs here).
    package func currentCertificate(role: Role, id: String) -> String {
        certificatesDirectory(role: role) + "/" + id + ".pem"
    }

    // MARK: parties' own directories (keys, requests, certificates)

    /// pg/, shops/ID/ or users/ID/.
    package func ownerDirectory(role: Role, id: String) -> String {
        switch role {
        case .pg: return pgDirectory
        case .shop: return shopDirectory(id)
        case .user: return userDirectory(id)
        }
    }
    package func keyFile(role: Role, id: String) -> String { ownerDirectory(role: role, id: id) + "/key.pem" }
    package func certificateFile(role: Role, id: String) -> String { ownerDirectory(role: role, id: id) + "/cert.pem" }
    /// The owner's certificate request (`qrpay-ca request`), public like its certificate.
    package func requestFile(role: Role, id: String) -> String { ownerDirectory(role: role, id: id) + "/request.csr" }

    // MARK: the payment gateway (pg/)

    package var pgDirectory: String { root + "/pg" }
    package var inbox: Queue { Queue(path: pgDirectory + "/inbox") }
    package var approvals: Queue { Queue(path: pgDirectory + "/approvals") }
    package var cancels: Queue { Queue(path: pgDirectory + "/cancels") }
    package var paymentsDirectory: String { pgDirectory + "/payments" }
    package var statesDirectory: String { pgDirectory + "/states" }
    package var listDirectory: String { pgDirectory + "/list" }
    package var journalDirectory: String { pgDirectory + "/journal" }
    package var journalLock: String { journalDirectory + "/.lock" }
    package func journalFile(day: String) -> String { journalDirectory + "/" + day + ".jsonl" }
    package var checkpointsDirectory: String { journalDirectory + "/checkpoints" }
    /// Intents: the transitions of a journal append whose records are not yet all in place (a
    /// crash or a failed commit leaves one; the rerun then journals nothing twice).
    package var journalIntentsDirectory: String { journalDirectory + "/intents" }
    package func journalIntent(name: String) -> String { journalIntentsDirectory + "/" + name + ".json" }
    package var dueDirectory: String { pgDirectory + "/due" }
    /// The newest CRL the PG has seen (number, thisUpdate): an older one is a rollback.
    package var crlState: String { pgDirectory + "/crl-state.json" }

    // MARK: paying shops out (pg/accounts, pg/debtor, pg/payouts, pg/payout-records, pg/paid, pg/bank...)

    /// pg/accounts/SHOP.json: the shop's payout account (qrpay-spool accounts set).
    package var accountsDirectory: String { pgDirectory + "/accounts" }
    package func accountPath(shop: String) -> String { accountsDirectory + "/" + shop + ".json" }
    /// pg/debtor/CUR.json: the PG's own account a payout in CUR is paid from.
    package var debtorDirectory: String { pgDirectory + "/debtor" }
    package func debtorPath(currency: String) -> String { debtorDirectory + "/" + currency + ".json" }
    /// pg/payouts: the payout files (PAYOUT.xml, pain.001.001.09) and their signed manifests, for the bank's channel.
    package var payouts: Queue { Queue(path: pgDirectory + "/payouts") }
    /// pg/payout-records/PAYOUT.json: what a payout covers and what the bank said of each transfer.
    package var payoutRecordsDirectory: String { pgDirectory + "/payout-records" }
    package func payoutRecordPath(payout: String) -> String { payoutRecordsDirectory + "/" + payout + ".json" }
    /// pg/paid/DAY/MARKER: finished payments already paid out (the finish marker's name, by creation day).
    package var paidDirectory: String { pgDirectory + "/paid" }
    package func paidDirectory(day: String) -> String { paidDirectory + "/" + day }
    /// pg/unpaid/DAY/MARKER: finished payments not yet paid out (an index: pg/states/finish minus
    /// pg/paid, as the journal has them), what a payout pass reads instead of every finish marker.
    /// Built whole by `qrpay-payout` the first time (in pg/unpaid.new, renamed into place).
    package var unpaidDirectory: String { pgDirectory + "/unpaid" }
    package func unpaidDirectory(day: String) -> String { unpaidDirectory + "/" + day }
    /// pg/payout-records/prepared/PAYOUT: payouts a crash may have left half done (an index of the
    /// records in state "prepared": what a payout pass reads instead of every payout record).
    package var preparedPayoutsDirectory: String { payoutRecordsDirectory + "/prepared" }
    package func preparedPayoutPath(payout: String) -> String { preparedPayoutsDirectory + "/" + payout }
    /// pg/bank: status reports and statements from the bank (pain.002, camt.053, camt.054), read by qrpay-payout.
    package var bank: Queue { Queue(path: pgDirectory + "/bank") }
    /// pg/bank-records/HASH.json: what each bank file said, as read (HASH: hex SHA-256 of the file, 32 digits).
    package var bankRecordsDirectory: String { pgDirectory + "/bank-records" }
    package func bankRecordPath(hash: String) -> String { bankRecordsDirectory + "/" + hash + ".json" }

    /// The record bucket of a payment: first two hex digits of SHA-256(payment).
    package static func bucket(_ payment: String) -> String { String(Digest.sha256Hex(Data(payment.utf8)).prefix(2)) }
    package func recordDirectory(shop: String) -> String { paymentsDirectory + "/" + shop }
    package func recordPath(shop: String, payment: String) -> String {
        paymentsDirectory + "/" + shop + "/" + SpoolLayout.bucket(payment) + "/" + payment + ".json"
    }
    package func listPath(token: String) -> String { listDirectory + "/" + token.prefix(2) + "/" + token + ".json" }

    package var reportsDirectory: String { root + "/reports" }
    /// reports/NAME: a report written in the spool (reconcile's, the daily report's page).
    package func reportPath(_ name: String) -> String { reportsDirectory + "/" + name }
    /// pg/audit.log: one line per act on evidence an operator did by hand (`qrpay-spool delete`).
    package var auditLog: String { pgDirectory + "/audit.log" }
    package var runDirectory: String { root + "/run" }
    /// run/STAGE.lock: a stage runner's flock, holding its pid.
    package func lockFile(stage: String) -> String { runDirectory + "/" + stage + ".lock" }

    // MARK: shops (shops/ID/)

    package var shopsDirectory: String { root + "/shops" }
    package func shopDirectory(_ shop: String) -> String { shopsDirectory + "/" + shop }
    package func qrDirectory(shop: String) -> String { shopDirectory(shop) + "/qr" }
    package func qrPath(shop: String, payment: String) -> String { qrDirectory(shop: shop) + "/" + payment + ".png" }
    package func notices(shop: String) -> Queue { Queue(path: shopDirectory(shop) + "/notices") }
    package func shopJournal(shop: String) -> String { shopDirectory(shop) + "/journal.jsonl" }

    // MARK: users (users/ID/)

    package var usersDirectory: String { root + "/users" }
    package func userDirectory(_ user: String) -> String { usersDirectory + "/" + user }
    /// The user's own queue of photos (and .approve sidecars) for `qrpay-scan`.
    package func scanInbox(user: String) -> Queue { Queue(path: userDirectory(user) + "/inbox") }
    package func reviewsDirectory(user: String) -> String { userDirectory(user) + "/reviews" }
    package func receipts(user: String) -> Queue { Queue(path: userDirectory(user) + "/receipts") }
    /// users/ID/run: the user's own locks (`qrpay-scan`), where the user may write.
    package func userRunDirectory(user: String) -> String { userDirectory(user) + "/run" }
    /// users/ID/approved: the user's own record of every payment it approved, one file per payment
    /// (SHOP~PAYMENT.json), so a second approval is refused before anything is signed.
    package func approvedDirectory(user: String) -> String { userDirectory(user) + "/approved" }
    package func approvedRecord(user: String, shop: String, payment: String) -> String {
        approvedDirectory(user: user) + "/" + shop + "~" + payment + ".json"
    }
    /// users/ID/journal.jsonl: what the user's client learnt from receipts.
    package func userJournal(user: String) -> String { userDirectory(user) + "/journal.jsonl" }

    // MARK: every queue

    /// The PG's queues, then every shop's notices, then every user's scan inbox and receipts (shops
    /// and users as their directories exist). `qrpay-spool status`, `purge`, `check`, `init`,
    /// `setup` and the queue commands all use this one list.
    package func allQueues() throws -> [NamedQueue] {
        var out = [NamedQueue(name: "pg/inbox", queue: inbox), NamedQueue(name: "pg/approvals", queue: approvals),
                   NamedQueue(name: "pg/cancels", queue: cancels), NamedQueue(name: "pg/payouts", queue: payouts),
                   NamedQueue(name: "pg/bank", queue: bank)]
        for shop in try shops() {
            out.append(NamedQueue(name: "shops/\(shop)/notices", queue: notices(shop: shop)))
        }
        for user in try users() {
            out.append(NamedQueue(name: "users/\(user)/inbox", queue: scanInbox(user: user)))
            out.append(NamedQueue(name: "users/\(user)/receipts", queue: receipts(user: user)))
        }
        return out
    }

    /// Whether this process may list and enter `path` (a missing path counts as accessible: there is
    /// nothing to skip). Operator commands run as the PG's user skip what another party keeps to
    /// itself (a user's photos, the CA's private directory), saying so, instead of failing.
    package static func mayRead(_ path: String) -> Bool {
        if faccessat(AT_FDCWD, path, R_OK | X_OK, AT_EACCESS) == 0 { return true }
        return errno != EACCES && errno != EPERM
    }

    /// The directories the table names right under the directory `relative` (a queue's
    /// subdirectories, a shop's qr/ and notices/...), for walking a directory that may not be listed.
    package static func knownChildren(of relative: String) -> [String] {
        var out: [String] = []
        let depth = relative.split(separator: "/").count
        for entry in table where entry.kind != .file {
            let parts = entry.pattern.split(separator: "/").map(String.init)
            guard parts.count == depth + 1, !parts[depth].hasPrefix("{") else { continue }
            let parent = parts.prefix(depth).joined(separator: "/")
            if SpoolLayout.entry(matching: relative)?.entry.pattern == parent { out.append(parts[depth]) }
        }
        if let found = entry(matching: relative), found.subdirectory == nil, found.entry.kind == .queue {
            out += Queue.subdirectories
        }
        return out
    }

    /// "not readable by this user (uid N), skipped"
    package static func skippedNote(_ relative: String) -> String {
        "\(relative): not readable by this user (uid \(geteuid())), skipped"
    }

    /// Shops with a directory in the spool, sorted.
    package func shops() throws -> [String] {
        try FileIO.listDirectory(shopsDirectory).filter { !$0.hasPrefix(".") && Identifier.isValid($0) }.sorted()
    }

    /// Users with a directory in the spool, sorted.
    package func users() throws -> [String] {
        try FileIO.listDirectory(usersDirectory).filter { !$0.hasPrefix(".") && Identifier.isValid($0) }.sorted()
    }

    /// A path as records and reason files keep it (relative to the root), made absolute again;
    /// an absolute path (as older records and reason files have it) is returned as it is.
    package func absolute(_ path: String) -> String {
        if path.hasPrefix("/") || path.isEmpty { return path }
        return (root == "/" ? "" : root) + "/" + path
    }

    /// The name of the spool queue at `path` (`pg/inbox`, `shops/1001/notices`), from its last path
    /// components and the table; nil for a queue outside a spool (a shop's outbox).
    package static func queueName(ofPath path: String) -> String? {
        let parts = path.split(separator: "/").map(String.init)
        for n in [3, 2] where parts.count >= n {
            let tail = parts.suffix(n).joined(separator: "/")
            if let found = entry(matching: tail), found.subdirectory == nil, found.entry.kind == .queue { return tail }
        }
        return nil
    }

    /// How a path is named in log lines and listings: relative to the root.
    package func relative(_ path: String) -> String {
        let prefix = root == "/" ? "/" : root + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }

    // MARK: creating directories

    /// The mode the layout gives the directory at `path` (under the root): its table entry's, a
    /// queue's subdirectory's, or 0750 for a path the table does not name.
    package func mode(ofDirectory path: String) -> mode_t {
        let rel = relative(path)
        if let found = SpoolLayout.entry(matching: rel), found.entry.kind != .file {
            if let sub = found.subdirectory { return sub.mode }
            return found.entry.kind == .queue ? found.entry.queue!.rootMode : found.entry.mode
        }
        return 0o750
    }

    /// Creates `path` and its missing parents (up to the root), each with the layout's mode.
    /// Existing directories are left as they are. Returns how many were created.
    @discardableResult
    package func makeDirectories(_ path: String) throws -> Int {
        var parents: Set<String> = []
        let created = try makeDirectories(path, syncLater: &parents)
        for parent in parents { try? FileIO.fsyncDirectory(parent) }  // the new entries survive a crash
        return created
    }

    /// `makeDirectories(_:)` for many paths at once: the parents whose entries changed are added to
    /// `parents`, for the caller to fsync once each (`FileIO.syncDirectories`) when it is done,
    /// instead of one fsync per directory made (init makes thousands).
    package func makeDirectories(_ path: String, syncLater parents: inout Set<String>) throws -> Int {
        if FileIO.isDirectory(path) { return 0 }
        var missing: [String] = []
        var p = path
        while !p.isEmpty, p != "/", !FileIO.isDirectory(p) {
            missing.append(p)
            if p == root { break }
            p = FileIO.parentDirectory(p)
        }
        var created = 0
        for dir in missing.reversed() {
            if dir == root {  // the spool itself, and whatever above it is missing
                try FileIO.makePath(root, mode: 0o755)
                created += 1
                continue
            }
            if try FileIO.makeDirectory(dir, mode: mode(ofDirectory: dir)) {
                created += 1
                parents.insert(FileIO.parentDirectory(dir))
            }
        }
        return created
    }

    /// Creates a queue and its subdirectories (and missing parents) with the layout's modes.
    @discardableResult
    package func makeQueue(_ queue: Queue) throws -> Int {
        var created = try makeDirectories(queue.path)
        for sub in Queue.subdirectories {
            let dir = queue.path + "/" + sub
            if try FileIO.makeDirectory(dir, mode: mode(ofDirectory: dir)) { created += 1 }
        }
        if created > 0 { try FileIO.fsyncDirectory(queue.path) }
        return created
    }
}

// MARK: - The table

extension SpoolLayout {
    /// Every directory and file of the spool: owner, group, mode, writer, reader.
    package static let table: [LayoutEntry] = [
        LayoutEntry("ca", .directory, .ca, .ca, 0o755, writer: "`qrpay-ca`", reader: "every program"),
        LayoutEntry("ca/ca.pem", .file, .ca, .ca, 0o644, writer: "`qrpay-ca init`", reader: "every program (the trust anchor)"),
        LayoutEntry("ca/crl.pem", .file, .ca, .ca, 0o644, writer: "`qrpay-ca crl`, `revoke`", reader: "every program"),
        LayoutEntry("ca/index.json", .file, .ca, .ca, 0o644, writer: "`qrpay-ca`", reader: "`qrpay-ca list`, operators"),
        LayoutEntry("ca/lock", .file, .ca, .ca, 0o600, writer: "`qrpay-ca` (flock)", reader: "`qrpay-ca`"),
        LayoutEntry("ca/private", .directory, .ca, .ca, 0o700, writer: "`qrpay-ca`", reader: "`qrpay-ca`"),
        LayoutEntry("ca/private/ca-key.pem", .file, .ca, .ca, 0o600, writer: "`qrpay-ca init`", reader: "`qrpay-ca`"),
        LayoutEntry("ca/issued", .directory, .ca, .ca, 0o755, writer: "`qrpay-ca issue`", reader: "every program (signer by `x5t#S256`)"),
        LayoutEntry("ca/issued/{fingerprint}.pem", .file, .ca, .ca, 0o644, writer: "`qrpay-ca issue`", reader: "every program"),
        LayoutEntry("ca/certs", .directory, .ca, .ca, 0o755, writer: "`qrpay-ca issue`", reader: "every program"),
        LayoutEntry("ca/certs/{role}", .directory, .ca, .ca, 0o755, writer: "`qrpay-ca issue`", reader: "every program"),
        LayoutEntry("ca/certs/{role}/{id}.pem", .file, .ca, .ca, 0o644, writer: "`qrpay-ca issue`", reader: "the owner's programs, every program"),

        LayoutEntry("pg", .directory, .pg, .pg, 0o711, writer: "PG stages", reader: "the PG; others only pass through (to the inboxes and the list)"),
        LayoutEntry("pg/key.pem", .file, .pg, .pg, 0o600, writer: "`qrpay-ca request --role pg` (or `issue --password-file`)", reader: "PG stages"),
        LayoutEntry("pg/request.csr", .file, .pg, .pg, 0o644, writer: "`qrpay-ca request --role pg`", reader: "`qrpay-ca issue`"),
        LayoutEntry("pg/cert.pem", .file, .pg, .pg, 0o644, writer: "`qrpay-ca` (single-host set-ups)", reader: "PG stages, users' clients"),
        LayoutEntry("pg/crl-state.json", .file, .pg, .pg, 0o640, writer: "PG stages", reader: "PG stages (refuse an older CRL)"),
        LayoutEntry("pg/inbox", .queue, .pg, .shops, 0o750, writer: "`qrpay-shop create`, `send`", reader: "`qrpay-register`",
                    queue: .toPG(writers: .shops)),
        LayoutEntry("pg/approvals", .queue, .pg, .users, 0o750, writer: "`qrpay-user approve`, `qrpay-scan`", reader: "`qrpay-approve`",
                    queue: .toPG(writers: .users)),
        LayoutEntry("pg/cancels", .queue, .pg, .shops, 0o750, writer: "`qrpay-shop cancel`, `send`", reader: "`qrpay-settle`",
                    queue: .toPG(writers: .shops)),
        LayoutEntry("pg/payments", .directory, .pg, .pg, 0o750, writer: "PG stages", reader: "`qrpay-spool`, operators"),
        LayoutEntry("pg/payments/{shop}", .directory, .pg, .pg, 0o750, writer: "PG stages", reader: "`qrpay-spool`, operators"),
        LayoutEntry("pg/payments/{shop}/{xx}", .directory, .pg, .pg, 0o750, writer: "PG stages", reader: "`qrpay-spool`, operators (XX: first hex byte of SHA-256(PAYMENT))"),
        LayoutEntry("pg/payments/{shop}/{xx}/{payment}.json", .file, .pg, .pg, 0o640, writer: "PG stages", reader: "`qrpay-spool show`, operators (the record: an index of the journal's changes of the payment, with the signed documents they rest on; a stage acts on it only as the journal holds it)"),
        LayoutEntry("pg/states", .directory, .pg, .pg, 0o750, writer: "PG stages", reader: "`qrpay-spool status`, `qrpay-reconcile`"),
        LayoutEntry("pg/states/{state}", .directory, .pg, .pg, 0o750, writer: "PG stages", reader: "`qrpay-spool status`, `qrpay-reconcile`"),
        LayoutEntry("pg/states/{state}/{day}", .directory, .pg, .pg, 0o750, writer: "PG stages", reader: "`qrpay-spool status`, `qrpay-reconcile` (DAY: UTC creation day)"),
        LayoutEntry("pg/states/{state}/{day}/{marker}", .file, .pg, .pg, 0o640, writer: "PG stages", reader: "status, reconcile (an index: the record's state, as the journal has it; empty: `SHOP~PAYMENT~CUR~TOTAL`, the name is the data)"),
        LayoutEntry("pg/due", .directory, .pg, .pg, 0o750, writer: "PG stages", reader: "`qrpay-settle`"),
        LayoutEntry("pg/due/{kind}", .directory, .pg, .pg, 0o750, writer: "PG stages", reader: "`qrpay-settle` (KIND: `accepted`, `expires`)"),
        LayoutEntry("pg/due/{kind}/{minute}", .directory, .pg, .pg, 0o750, writer: "PG stages", reader: "`qrpay-settle` (MINUTE: `YYYYMMDDTHHMM`, UTC)"),
        LayoutEntry("pg/due/{kind}/{minute}/{entry}", .file, .pg, .pg, 0o640, writer: "PG stages", reader: "`qrpay-settle` (an index: an open payment by when it falls due, from its record; empty: `EPOCH~SHOP~PAYMENT`)"),
        LayoutEntry("pg/list", .directory, .pg, .pg, 0o711, writer: "PG stages", reader: "users' clients: fetch by name, no listing"),
        LayoutEntry("pg/list/{tt}", .directory, .pg, .pg, 0o711, writer: "PG stages", reader: "users' clients (TT: the token's first two characters)"),
        LayoutEntry("pg/list/{tt}/{token}.json", .file, .pg, .pg, 0o644, writer: "PG stages", reader: "`qrpay-user`, `qrpay-scan` (TOKEN: base64url SHA-256 of the signature)"),
        LayoutEntry("pg/journal", .directory, .pg, .pg, 0o750, writer: "PG stages (flock on `.lock`)", reader: "`qrpay-spool check`, auditors"),
        LayoutEntry("pg/journal/{day}.jsonl", .file, .pg, .pg, 0o640, writer: "PG stages", reader: "`qrpay-spool check`, auditors (the ledger of record: hash-chained, append-only; every other file of pg/ is derived from it and the documents it names)"),
        LayoutEntry("pg/journal/intents", .directory, .pg, .pg, 0o750, writer: "PG stages (a journal append until its records are in place)", reader: "PG stages"),
        LayoutEntry("pg/journal/intents/{name}.json", .file, .pg, .pg, 0o640, writer: "PG stages", reader: "PG stages (a rerun after a crash or a failed commit)"),
        LayoutEntry("pg/journal/checkpoints", .directory, .pg, .pg, 0o750, writer: "`qrpay-spool checkpoint`", reader: "`qrpay-spool check`"),
        LayoutEntry("pg/journal/checkpoints/{day}-{seq}.jws", .file, .pg, .pg, 0o640, writer: "`qrpay-spool checkpoint`", reader: "`qrpay-spool check`"),
        LayoutEntry("pg/audit.log", .file, .pg, .pg, 0o640, writer: "`qrpay-spool delete` (one line per file deleted)", reader: "operators, auditors"),
        LayoutEntry("pg/accounts", .directory, .pg, .pg, 0o750, writer: "`qrpay-spool accounts set`", reader: "`qrpay-payout`, operators"),
        LayoutEntry("pg/accounts/{shop}.json", .file, .pg, .pg, 0o640, writer: "`qrpay-spool accounts set` (journaled)", reader: "`qrpay-payout` (the shop's payout account: name, IBAN or account and bank code, currency)"),
        LayoutEntry("pg/debtor", .directory, .pg, .pg, 0o750, writer: "`qrpay-spool accounts set --pg`", reader: "`qrpay-payout`"),
        LayoutEntry("pg/debtor/{currency}.json", .file, .pg, .pg, 0o640, writer: "`qrpay-spool accounts set --pg` (journaled)", reader: "`qrpay-payout` (the PG's account a payout in CURRENCY is paid from)"),
        LayoutEntry("pg/payouts", .queue, .pg, .pg, 0o700, writer: "`qrpay-payout`: `PAYOUT.xml` (pain.001.001.09), `PAYOUT.manifest.jws`", reader: "the bank's channel (takes files from `new/`)",
                    queue: .own(.pg)),
        LayoutEntry("pg/payout-records", .directory, .pg, .pg, 0o750, writer: "`qrpay-payout`", reader: "`qrpay-reconcile --payouts`, `qrpay-spool check`"),
        LayoutEntry("pg/payout-records/{payout}.json", .file, .pg, .pg, 0o640, writer: "`qrpay-payout`", reader: "reconcile, check (the payout: transfers, payments, the bank's statuses)"),
        LayoutEntry("pg/payout-records/prepared", .directory, .pg, .pg, 0o750, writer: "`qrpay-payout`", reader: "`qrpay-payout` (an index of the payout records still \"prepared\")"),
        LayoutEntry("pg/payout-records/prepared/{payout}", .file, .pg, .pg, 0o640, writer: "`qrpay-payout` (with the record; removed when it is \"sent\")", reader: "`qrpay-payout` (a crash's half-done payout, completed first)"),
        LayoutEntry("pg/paid", .directory, .pg, .pg, 0o750, writer: "`qrpay-payout`", reader: "`qrpay-payout`, `qrpay-reconcile --payouts`"),
        LayoutEntry("pg/paid/{day}", .directory, .pg, .pg, 0o750, writer: "`qrpay-payout`", reader: "`qrpay-payout`, `qrpay-reconcile --payouts` (DAY: UTC creation day)"),
        LayoutEntry("pg/paid/{day}/{marker}", .file, .pg, .pg, 0o640, writer: "`qrpay-payout`", reader: "payout, reconcile (an index of the journal's payout entries; empty: the finish marker's name; the record names the payout)"),
        LayoutEntry("pg/unpaid", .directory, .pg, .pg, 0o750, writer: "`qrpay-payout` (built whole once), `qrpay-settle`", reader: "`qrpay-payout`"),
        LayoutEntry("pg/unpaid/{day}", .directory, .pg, .pg, 0o750, writer: "`qrpay-settle`, `qrpay-payout`", reader: "`qrpay-payout` (DAY: UTC creation day)"),
        LayoutEntry("pg/unpaid/{day}/{marker}", .file, .pg, .pg, 0o640, writer: "`qrpay-settle` (with the finish), `qrpay-payout` (removed with the paid marker)", reader: "`qrpay-payout` (an index: finished and not paid out; checked against the record, which the journal supports)"),
        LayoutEntry("pg/bank", .queue, .pg, .pg, 0o700, writer: "the bank's channel: pain.002, camt.053, camt.054 files", reader: "`qrpay-payout`",
                    queue: .own(.pg)),
        LayoutEntry("pg/bank-records", .directory, .pg, .pg, 0o750, writer: "`qrpay-payout`", reader: "`qrpay-reconcile --payouts`"),
        LayoutEntry("pg/bank-records/{hash}.json", .file, .pg, .pg, 0o640, writer: "`qrpay-payout`", reader: "reconcile (each bank file's entries as read, matched or not)"),
        LayoutEntry("reports", .directory, .pg, .pg, 0o750, writer: "`qrpay-reconcile`, `qrpay-spool report`", reader: "operators, accounting"),
        LayoutEntry("reports/{report}", .file, .pg, .pg, 0o640, writer: "`qrpay-reconcile` (`reconcile-DAY[-SHOP].csv|json[.jws]`), `qrpay-spool report --html` (`daily.html`)", reader: "operators, accounting"),
        LayoutEntry("run", .directory, .pg, .pg, 0o755, writer: "PG stage runners", reader: "operators"),
        LayoutEntry("run/{stage}.lock", .file, .pg, .pg, 0o640, writer: "stage runners (flock, holds the pid)", reader: "operators, `qrpay-spool check --repair`"),

        LayoutEntry("shops", .directory, .pg, .pg, 0o755, writer: "`qrpay-spool setup`, `init`", reader: "everyone (pass-through)"),
        LayoutEntry("shops/{shop}", .directory, .shop, .shop, 0o711, writer: "the shop", reader: "the shop; others only pass through"),
        LayoutEntry("shops/{shop}/key.pem", .file, .shop, .shop, 0o600, writer: "`qrpay-ca request --role shop` (or `issue --password-file`)", reader: "`qrpay-shop`"),
        LayoutEntry("shops/{shop}/request.csr", .file, .shop, .shop, 0o644, writer: "`qrpay-ca request --role shop`", reader: "`qrpay-ca issue`"),
        LayoutEntry("shops/{shop}/cert.pem", .file, .shop, .shop, 0o644, writer: "`qrpay-ca` (single-host set-ups)", reader: "`qrpay-shop`"),
        LayoutEntry("shops/{shop}/journal.jsonl", .file, .shop, .shop, 0o600, writer: "`qrpay-shop`", reader: "`qrpay-reconcile --shop-journal`"),
        LayoutEntry("shops/{shop}/qr", .directory, .pg, .shop, 0o2750, writer: "`qrpay-register`", reader: "the shop's display"),
        LayoutEntry("shops/{shop}/qr/{payment}.png", .file, .pg, .shop, 0o640, writer: "`qrpay-register`", reader: "the shop's display"),
        LayoutEntry("shops/{shop}/notices", .queue, .pg, .shop, 0o2770, writer: "PG stages: `PAYMENT.STATE.json`, PG-signed", reader: "the shop",
                    queue: .fromPG(to: .shop)),

        LayoutEntry("users", .directory, .pg, .pg, 0o755, writer: "`qrpay-spool setup`, `init`", reader: "everyone (pass-through)"),
        LayoutEntry("users/{user}", .directory, .user, .user, 0o711, writer: "the user", reader: "the user; others only pass through"),
        LayoutEntry("users/{user}/key.pem", .file, .user, .user, 0o600, writer: "`qrpay-ca request --role user` (or `issue --password-file`)", reader: "`qrpay-user`, `qrpay-scan`"),
        LayoutEntry("users/{user}/request.csr", .file, .user, .user, 0o644, writer: "`qrpay-ca request --role user`", reader: "`qrpay-ca issue`"),
        LayoutEntry("users/{user}/cert.pem", .file, .user, .user, 0o644, writer: "`qrpay-ca` (single-host set-ups)", reader: "`qrpay-user`, `qrpay-scan`"),
        LayoutEntry("users/{user}/inbox", .queue, .user, .user, 0o700, writer: "the user (photos, `NAME.approve` sidecars)", reader: "`qrpay-scan`",
                    queue: .own(.user)),
        LayoutEntry("users/{user}/reviews", .directory, .user, .user, 0o700, writer: "`qrpay-scan`", reader: "the user"),
        LayoutEntry("users/{user}/receipts", .queue, .pg, .user, 0o2770, writer: "PG stages: `SHOP.PAYMENT.STATE.json`, PG-signed", reader: "the user",
                    queue: .fromPG(to: .user)),
        LayoutEntry("users/{user}/run", .directory, .user, .user, 0o700, writer: "`qrpay-scan` (its lock)", reader: "the user"),
        LayoutEntry("users/{user}/approved", .directory, .user, .user, 0o700, writer: "`qrpay-user approve`, `qrpay-scan`", reader: "the user's client (one approval per payment)"),
        LayoutEntry("users/{user}/approved/{shop}~{payment}.json", .file, .user, .user, 0o600, writer: "`qrpay-user approve`, `qrpay-scan`", reader: "the user's client"),
        LayoutEntry("users/{user}/journal.jsonl", .file, .user, .user, 0o600, writer: "`qrpay-user receipts`", reader: "the user"),
    ]

    /// The table entry (and queue subdirectory) a relative path falls under, if any. A `{…}`
    /// component of a pattern matches any one component; a queue's subdirectories (and done/DAY)
    /// match their queue.
    package static func entry(matching relative: String) -> (entry: LayoutEntry, subdirectory: QueueSubdirectory?)? {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        func matches(_ pattern: [Substring], _ path: ArraySlice<String>) -> Bool {
            guard pattern.count == path.count else { return false }
            for (p, c) in zip(pattern, path) {
                if p.hasPrefix("{") {
                    // "{day}-{seq}.jws", "{payment}.json": a placeholder with a fixed suffix.
                    if let close = p.lastIndex(of: "}"), p.index(after: close) < p.endIndex {
                        let suffix = p[p.index(after: close)...]
                        if !c.hasSuffix(suffix) || c.count <= suffix.count { return false }
                    }
                } else if p != c { return false }
            }
            return true
        }
        for entry in table {
            let pattern = entry.pattern.split(separator: "/")
            if matches(pattern, parts[...]) { return (entry, nil) }
            if entry.kind == .queue, let access = entry.queue, parts.count > pattern.count,
               matches(pattern, parts[0..<pattern.count]) {
                let sub = parts[pattern.count]
                guard let found = access.subdirectories(queueOwner: entry.owner).first(where: { $0.name == sub }) else { continue }
                // QUEUE/SUB is the subdirectory; QUEUE/done/DAY is made like done/.
                if parts.count == pattern.count + 1 || (sub == "done" && parts.count == pattern.count + 2) {
                    return (entry, found)
                }
            }
        }
        return nil
    }
}

// MARK: - Documentation generated from the table

extension SpoolLayout {
    static func owners(_ owner: Principal, _ group: Principal) -> String { "\(owner.defaultName):\(group.defaultName)" }

    /// The layout tables in Markdown, as README.md and LAYOUT.md carry them.
    package static func markdown() -> String {
        var lines = [
            "| Path | Kind | Owner:group | Mode | Writer | Reader |",
            "|---|---|---|---|---|---|",
        ]
        for e in table {
            lines.append("| `\(e.pattern)` | \(e.kind.rawValue) | \(owners(e.owner, e.group)) | \(e.kind == .queue ? e.queue!.rootModeText : e.modeText) | \(e.writer) | \(e.reader) |")
        }
        lines.append("")
        lines.append("Queue subdirectories, by who writes the queue:")
        lines.append("")
        lines.append("| Queue | " + Queue.subdirectories.map { "`\($0)/`" }.joined(separator: " | ") + " |")
        lines.append("|---|" + String(repeating: "---|", count: Queue.subdirectories.count))
        for e in table where e.kind == .queue {
            let subs = e.queue!.subdirectories(queueOwner: e.owner)
            lines.append("| `\(e.pattern)` | " + subs.map { "\(owners($0.owner, $0.group)) \(String(format: "%04o", Int($0.mode)))" }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    /// The begin and end markers around the generated tables in a Markdown file.
    package static let markdownBegin = "<!-- layout table: generated by `qrpay-spool layout --markdown`; do not edit by hand -->"
    package static let markdownEnd = "<!-- end of layout table -->"
}

extension LayoutEntry.QueueAccess {
    var rootModeText: String { String(format: "%04o", Int(rootMode)) }
}

// MARK: - qrpay-spool(5)

extension SpoolLayout {
    /// The qrpay-spool(5) manual page (man(7) macros): the layout table and the file formats, made
    /// from the table so that it cannot disagree with it (`qrpay-spool layout --man`; `make install`).
    package static func manPage(version: String) -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "\\", with: "\\e").replacingOccurrences(of: "`", with: "")
                .split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasPrefix(".") || $0.hasPrefix("'") ? "\\&" + $0 : String($0) }
                .joined(separator: "\n")
        }
        var out = [".TH QRPAY-SPOOL 5 \"\" \"QR-Pay \(version)\" \"File Formats\"",
                   ".SH NAME", "qrpay-spool \\- the QR-Pay spool: its layout, owners, modes and file formats",
                   ".SH DESCRIPTION",
                   esc("A QR-Pay spool (--spool DIR, $QRPAY_SPOOL) holds every file of the system. Each directory has the owner, group and mode below (qrpay-spool setup applies them; on a single-user spool one user owns everything with the same modes). {...} stands for one name: a shop's or user's id, a day, a token."),
                   ".SH LAYOUT"]
        for e in table {
            out.append(".TP")
            out.append(esc("\(e.pattern) (\(e.kind.rawValue), \(owners(e.owner, e.group)) \(e.kind == .queue ? e.queue!.rootModeText : e.modeText))"))
            out.append(esc("Written by \(e.writer); read by \(e.reader)."))
        }
        out += [".SH QUEUES",
                esc("Every queue has tmp/ (being written), new/ (committed, waiting), cur/ (claimed by a stage), done/DAY/ (processed, kept until qrpay-spool purge), deferred/ (transient failures, beside NAME.reason.json with attempts and retryAt), quarantine/ (bad input, beside NAME.reason.json) and hold/ (parked by an operator). Names are [A-Za-z0-9][A-Za-z0-9._:,=+-]{0,200}; write a file in tmp/ and rename it into new/."),
                ".SH FILE FORMATS",
                ".TP", "Signed documents",
                esc("JWS (RFC 7515) flattened JSON: {\"payload\",\"protected\",\"signature\"}, ES256, protected header {\"alg\":\"ES256\",\"typ\":\"qrpay-KIND+jws\",\"x5t#S256\":FINGERPRINT}; KIND is payment, approval, cancel, notice, receipt, checkpoint or report. qrpay-spool cat decodes and verifies one."),
                ".TP", "Payment records (pg/payments/SHOP/XX/PAYMENT.json)",
                esc("{v, shop, payment, state, currency, total, items, created, expires, document, documentHash, signature, signer, qr, history, user?}; qr is relative to the spool (older records: absolute)."),
                ".TP", "State markers (pg/states/STATE/DAY/SHOP~PAYMENT~CUR~TOTAL)",
                esc("Empty files; the name is the data (TOTAL in the currency's minor units)."),
                ".TP", "Reason files (QUEUE/quarantine|deferred/NAME.reason.json)",
                esc("{stage, reason, code, at, file, queue, attempts?, retryAt?, arrived?}; queue is the queue's name relative to the spool (pg/inbox); code is an error code of the catalogue."),
                ".TP", "Journal (pg/journal/DAY.jsonl)",
                esc("One JSON object a line: {seq, at, shop, payment, from, to, evidence, prev, hash}, hash-chained."),
                ".TP", "Audit log (pg/audit.log)",
                esc("One JSON object a line per file qrpay-spool delete removed: {v, at, action, queue, name, state, by, bytes, sha256, code?, reason?}."),
                ".TP", "Amounts",
                esc("Integers in the currency's minor unit (ISO 4217 exponent: KRW 0, USD 2, BHD 3). JSON reports put exponent and decimal (a string) beside them; text shows USD 2.50."),
                ".SH SEE ALSO", "qrpay-spool(1), qrpay-ca(1), qrpay-register(1), qrpay-approve(1), qrpay-settle(1), qrpay-reconcile(1)"]
        return out.joined(separator: "\n") + "\n"
    }
}
