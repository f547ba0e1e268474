// `qrpay-spool setup`: a spool for separate Unix users, from the layout table alone (like Postfix's
// `postfix set-permissions` applying one table of owners and modes).
//
// Parties: the CA's user, the PG's user, each shop's and each user's own Unix user (with a primary
// group of its own), and two groups: the shops' (who may drop into pg/inbox and pg/cancels) and the
// users' (pg/approvals). The PG's user must be in each shop's and user's own group: what a party
// drops is readable by its own group only (mode 0640), so no other party of the same group can read
// it, and the PG can. With --create-users, setup makes the users and groups (system users, no
// login shell) and these memberships; otherwise it checks the memberships of named users and says
// what is missing.
//
// Then every directory of the spool is created where missing and given the owner, group and mode
// the layout table gives it (SpoolLayout.table), and the fixed files that exist (certificates,
// keys, requests, journals) their owners and modes. Idempotent: only what differs is changed, and
// the actions are listed (`--dry-run` lists them without doing anything).

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments
import QRPayLedger
#if canImport(Glibc)
import Glibc
#endif

/// A Unix account: a name (nil when given by number only), a uid and its primary gid.
package struct UnixAccount: Sendable, Equatable {
    package let name: String?
    package let uid: uid_t
    package let gid: gid_t

    package init(name: String?, uid: uid_t, gid: gid_t) {
        self.name = name; self.uid = uid; self.gid = gid
    }

    /// "NAME", "UID" or "UID:GID": a name is looked up (nil when there is none yet); a number is taken
    /// as is (its primary group: GID, else the user's, else the same number).
    package static func resolve(_ text: String) throws -> UnixAccount? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if let uid = uid_t(parts[0]) {
            guard parts.count <= 2 else { throw QRPayError.usage("\"\(text)\" is not NAME, UID or UID:GID") }
            if parts.count == 2 {
                guard let gid = gid_t(parts[1]) else { throw QRPayError.usage("\"\(text)\": the group is not a number") }
                return UnixAccount(name: nil, uid: uid, gid: gid)
            }
            if let pw = getpwuid(uid) { return UnixAccount(name: String(cString: pw.pointee.pw_name), uid: uid, gid: pw.pointee.pw_gid) }
            return UnixAccount(name: nil, uid: uid, gid: gid_t(uid))
        }
        guard parts.count == 1, isValidName(text) else {
            throw QRPayError.usage("\"\(text)\" is not a Unix user name ([a-z_][a-z0-9_-]*, at most 32), UID or UID:GID")
        }
        guard let pw = getpwnam(text) else { return nil }
        return UnixAccount(name: text, uid: pw.pointee.pw_uid, gid: pw.pointee.pw_gid)
    }

    /// A group by name or number (nil when the name does not exist yet).
    package static func resolveGroup(_ text: String) throws -> gid_t? {
        if let gid = gid_t(text) { return gid }
        guard isValidName(text) else { throw QRPayError.usage("\"\(text)\" is not a Unix group name or GID") }
        return getgrnam(text).map { $0.pointee.gr_gid }
    }

    static func isValidName(_ name: String) -> Bool {
        let b = Array(name.utf8)
        guard (1...32).contains(b.count), b[0] == 0x5F || (b[0] >= 0x61 && b[0] <= 0x7A) else { return false }
        return b.allSatisfy { $0 == 0x5F || $0 == 0x2D || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    /// The groups a named user is in (primary and supplementary).
    func groups() -> Set<gid_t>? {
        guard let name else { return nil }
        var count: Int32 = 64
        var list = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &list, &count) < 0 {
            list = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, gid, &list, &count) >= 0 else { return nil }
        }
        return Set(list.prefix(Int(count)))
    }
}

/// What `setup` is asked for: the accounts (as given on the command line) of every party.
package struct DeploymentRequest: Sendable {
    package var ca: String
    package var pg: String
    package var shopsGroup: String
    package var usersGroup: String
    /// Shop id → its Unix user (NAME, UID or UID:GID).
    package var shops: [(id: String, account: String)]
    package var users: [(id: String, account: String)]
    package var createUsers: Bool

    package init(ca: String, pg: String, shopsGroup: String = "qrpay-shops", usersGroup: String = "qrpay-users",
                shops: [(id: String, account: String)] = [], users: [(id: String, account: String)] = [], createUsers: Bool = false) {
        self.ca = ca; self.pg = pg; self.shopsGroup = shopsGroup; self.usersGroup = usersGroup
        self.shops = shops; self.users = users; self.createUsers = createUsers
    }
}

/// One thing setup does (or, with --dry-run, would do).
package struct DeploymentAction: Sendable, Equatable {
    package enum Kind: String, Sendable {
        case createGroup = "create-group", createUser = "create-user", addToGroup = "add-to-group"
        case makeDirectory = "mkdir", setOwner = "chown", setMode = "chmod"
        /// Not done: something setup cannot do and the operator must (a missing membership).
        case warning
    }
    package let kind: Kind
    /// A path relative to the spool, or an account or group name.
    package let target: String
    package let detail: String

    package var json: JSONValue { ["action": .string(kind.rawValue), "target": .string(target), "detail": .string(detail)] }
    package var line: String { "\(kind.rawValue) \(target)" + (detail.isEmpty ? "" : " (\(detail))") }
}

package struct Deployment {
    package let layout: SpoolLayout
    package let request: DeploymentRequest
    package let dryRun: Bool
    package private(set) var actions: [DeploymentAction] = []

    package init(layout: SpoolLayout, request: DeploymentRequest, dryRun: Bool) {
        self.layout = layout; self.request = request; self.dryRun = dryRun
    }

    /// The resolved accounts of every party.
    struct Accounts {
        var ca: UnixAccount
        var pg: UnixAccount
        var shopsGroup: gid_t
        var usersGroup: gid_t
        var shops: [String: UnixAccount]
        var users: [String: UnixAccount]
    }

    /// Runs setup: accounts, memberships, directories, files. Throws before changing anything when an
    /// argument is wrong; needs root unless `dryRun`.
    package mutating func run() throws {
        for (id, _) in request.shops { try Identifier.validate(id, what: "shop") }
        for (id, _) in request.users { try Identifier.validate(id, what: "user") }
        if !dryRun && geteuid() != 0 {
            throw QRPayError(.ioPermission, "qrpay-spool setup gives directories to other users: run it as root (or with --dry-run to see what it would do)")
        }
        let accounts = try resolveAccounts()
        try checkMemberships(accounts)
        try makeTree(accounts)
    }

    // MARK: accounts

    private mutating func account(_ text: String, role: String) throws -> UnixAccount {
        if let found = try UnixAccount.resolve(text) { return found }
        guard request.createUsers else {
            throw QRPayError(.setupAccount, "there is no Unix user \"\(text)\" for \(role): create it, or pass --create-users")
        }
        act(.createUser, text, "system user, group \(text), no login shell")
        if !dryRun {
            try Deployment.command("/usr/sbin/useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                                                         "--shell", "/usr/sbin/nologin", "--comment", "QR-Pay \(role)", text])
            guard let made = try UnixAccount.resolve(text) else {
                throw QRPayError(.internalError, "useradd reported success but there is no user \(text)")
            }
            return made
        }
        return UnixAccount(name: text, uid: 0, gid: 0)  // a dry run: numbers unknown yet
    }

    private mutating func group(_ text: String) throws -> gid_t {
        if let gid = try UnixAccount.resolveGroup(text) { return gid }
        guard request.createUsers else {
            throw QRPayError(.setupAccount, "there is no Unix group \"\(text)\": create it, or pass --create-users")
        }
        act(.createGroup, text, "system group")
        if !dryRun {
            try Deployment.command("/usr/sbin/groupadd", ["--system", text])
            guard let gid = try UnixAccount.resolveGroup(text) else { throw QRPayError(.internalError, "groupadd made no group \(text)") }
            return gid
        }
        return 0
    }

    private mutating func resolveAccounts() throws -> Accounts {
        let shopsGroup = try group(request.shopsGroup)
        let usersGroup = try group(request.usersGroup)
        let ca = try account(request.ca, role: "the CA")
        let pg = try account(request.pg, role: "the PG")
        var shops: [String: UnixAccount] = [:], users: [String: UnixAccount] = [:]
        for (id, text) in request.shops { shops[id] = try account(text, role: "shop \(id)") }
        for (id, text) in request.users { users[id] = try account(text, role: "user \(id)") }
        return Accounts(ca: ca, pg: pg, shopsGroup: shopsGroup, usersGroup: usersGroup, shops: shops, users: users)
    }

    /// Shops in the shops' group, users in the users' group, the PG in each party's own group.
    private mutating func checkMemberships(_ a: Accounts) throws {
        var wanted: [(account: UnixAccount, group: gid_t, groupName: String, why: String)] = []
        for (id, shop) in a.shops.sorted(by: { $0.key < $1.key }) {
            wanted.append((shop, a.shopsGroup, request.shopsGroup, "shop \(id) drops into pg/inbox and pg/cancels"))
            wanted.append((a.pg, shop.gid, Deployment.groupName(shop.gid) ?? shop.name ?? "\(shop.gid)", "the PG reads what shop \(id) drops"))
        }
        for (id, user) in a.users.sorted(by: { $0.key < $1.key }) {
            wanted.append((user, a.usersGroup, request.usersGroup, "user \(id) drops into pg/approvals"))
            wanted.append((a.pg, user.gid, Deployment.groupName(user.gid) ?? user.name ?? "\(user.gid)", "the PG reads what user \(id) drops"))
        }
        for w in wanted {
            if w.account.gid == w.group { continue }
            if let groups = w.account.groups(), groups.contains(w.group) { continue }
            let who = w.account.name ?? "\(w.account.uid)"
            if request.createUsers, let name = w.account.name {
                act(.addToGroup, name, "\(w.groupName): \(w.why)")
                if !dryRun { try Deployment.command("/usr/sbin/usermod", ["--append", "--groups", w.groupName, name]) }
            } else if w.account.name != nil {
                act(.warning, who, "is not in group \(w.groupName) (\(w.why)): usermod -aG \(w.groupName) \(who)")
            }
            // A numeric account without a passwd entry: its groups are the service manager's business.
        }
    }

    // MARK: the tree

    private func ids(_ principal: Principal, _ a: Accounts, shop: String?, user: String?) -> (uid: uid_t, gid: gid_t) {
        switch principal {
        case .ca: return (a.ca.uid, a.ca.gid)
        case .pg: return (a.pg.uid, a.pg.gid)
        case .shops: return (a.pg.uid, a.shopsGroup)
        case .users: return (a.pg.uid, a.usersGroup)
        case .shop: let s = shop.flatMap { a.shops[$0] } ?? a.pg; return (s.uid, s.gid)
        case .user: let u = user.flatMap { a.users[$0] } ?? a.pg; return (u.uid, u.gid)
        }
    }

    /// Every concrete directory of the table for these shops and users (placeholders expanded;
    /// days, minutes and other per-file names are made by the stages as they go).
    func directories(_ a: Accounts) -> [(path: String, owner: Principal, group: Principal, mode: mode_t, shop: String?, user: String?)] {
        var out: [(String, Principal, Principal, mode_t, String?, String?)] = []
        func expand(_ pattern: String) -> [(String, String?, String?)] {
            var results: [(String, String?, String?)] = [("", nil, nil)]
            for part in pattern.split(separator: "/").map(String.init) {
                var next: [(String, String?, String?)] = []
                for (prefix, shop, user) in results {
                    func add(_ name: String, shop s: String? = nil, user u: String? = nil) {
                        next.append((prefix.isEmpty ? name : prefix + "/" + name, s ?? shop, u ?? user))
                    }
                    switch part {
                    case "{shop}": for id in a.shops.keys.sorted() { add(id, shop: id) }
                    case "{user}": for id in a.users.keys.sorted() { add(id, user: id) }
                    case "{role}": for role in Role.allCases { add(role.rawValue) }
                    case "{state}": for state in PaymentState.allCases { add(state.rawValue) }
                    case "{kind}": for kind in DueKind.allCases { add(kind.rawValue) }
                    case "{tt}": for tt in SpoolSetup.listPrefixes { add(tt) }
                    case "{xx}": for xx in SpoolSetup.bucketNames { add(xx) }
                    default:
                        if part.hasPrefix("{") { continue }  // per-day or per-file: made as they come
                        add(part)
                    }
                }
                results = next
            }
            return results
        }
        for entry in SpoolLayout.table where entry.kind != .file {
            for (rel, shop, user) in expand(entry.pattern) {
                if entry.kind == .queue, let access = entry.queue {
                    out.append((rel, entry.owner, entry.group, access.rootMode, shop, user))
                    for sub in access.subdirectories(queueOwner: entry.owner) {
                        out.append((rel + "/" + sub.name, sub.owner, sub.group, sub.mode, shop, user))
                    }
                } else {
                    out.append((rel, entry.owner, entry.group, entry.mode, shop, user))
                }
            }
        }
        return out
    }

    private mutating func makeTree(_ a: Accounts) throws {
        if !FileIO.isDirectory(layout.root) {
            act(.makeDirectory, ".", "0755 root:root")
            if !dryRun { try FileIO.makePath(layout.root, mode: 0o755) }
        }
        for d in directories(a) {
            let path = layout.root + "/" + d.path
            let (uid, _) = ids(d.owner, a, shop: d.shop, user: d.user)
            let (_, gid) = ids(d.group, a, shop: d.shop, user: d.user)
            try apply(path, relative: d.path, uid: uid, gid: gid, mode: d.mode, directory: true)
        }
        // Fixed files that exist: the CA's, and each party's key, request, certificate and journal.
        for entry in SpoolLayout.table where entry.kind == .file {
            let parts = entry.pattern.split(separator: "/").map(String.init)
            guard let last = parts.last else { continue }
            let parent = parts.dropLast().joined(separator: "/")
            let candidates: [(String, String?, String?)]
            if parent.contains("{") || last.hasPrefix("{") {
                // Certificates the CA issued: every file in ca/issued and ca/certs/ROLE.
                guard entry.pattern.hasPrefix("ca/") else { continue }
                var found: [(String, String?, String?)] = []
                let dirs = parent.contains("{role}") ? Role.allCases.map { "ca/certs/" + $0.rawValue } : [parent]
                for dir in dirs {
                    for name in (try? FileIO.listDirectory(layout.root + "/" + dir)) ?? [] where name.hasSuffix(".pem") {
                        found.append((dir + "/" + name, nil, nil))
                    }
                }
                candidates = found
            } else {
                candidates = [(entry.pattern, nil, nil)]
            }
            var concrete = candidates
            if entry.pattern.hasPrefix("shops/{shop}/") {
                concrete = a.shops.keys.sorted().map { ("shops/\($0)/" + last, $0, nil) }
            } else if entry.pattern.hasPrefix("users/{user}/") {
                concrete = a.users.keys.sorted().map { ("users/\($0)/" + last, nil, $0) }
            }
            for (rel, shop, user) in concrete {
                let path = layout.root + "/" + rel
                guard FileIO.lstatKind(path)?.0 == .regular else { continue }
                let (uid, _) = ids(entry.owner, a, shop: shop, user: user)
                let (_, gid) = ids(entry.group, a, shop: shop, user: user)
                try apply(path, relative: rel, uid: uid, gid: gid, mode: entry.mode, directory: false)
            }
        }
    }

    private mutating func apply(_ path: String, relative: String, uid: uid_t, gid: gid_t, mode: mode_t, directory: Bool) throws {
        let modeText = String(format: "%04o", Int(mode))
        guard let (kind, st) = FileIO.lstatKind(path) else {
            act(.makeDirectory, relative, "\(modeText) \(uid):\(gid)")
            if dryRun { return }
            guard mkdir(path, 0o700) == 0 else { throw QRPayError.io("create directory", path: path, errno: errno) }
            guard lchown(path, uid, gid) == 0 else { throw QRPayError.io("chown", path: path, errno: errno) }
            guard chmod(path, mode) == 0 else { throw QRPayError.io("chmod", path: path, errno: errno) }
            return
        }
        guard kind == (directory ? .directory : .regular) else {
            throw QRPayError(.ioNotDirectory, "\(path) is \(kind.described), not a \(directory ? "directory" : "regular file"); move it away")
        }
        if st.st_uid != uid || st.st_gid != gid {
            act(.setOwner, relative, "\(st.st_uid):\(st.st_gid) → \(uid):\(gid)")
            if !dryRun { guard lchown(path, uid, gid) == 0 else { throw QRPayError.io("chown", path: path, errno: errno) } }
        }
        // chown may clear set-id bits: the mode last, and compared after.
        let current = dryRun ? st.st_mode & 0o7777 : (FileIO.lstatKind(path)?.1.st_mode ?? st.st_mode) & 0o7777
        if current != mode {
            act(.setMode, relative, String(format: "%04o → %@", Int(current), modeText))
            if !dryRun { guard chmod(path, mode) == 0 else { throw QRPayError.io("chmod", path: path, errno: errno) } }
        }
    }

    private mutating func act(_ kind: DeploymentAction.Kind, _ target: String, _ detail: String) {
        actions.append(DeploymentAction(kind: kind, target: target, detail: detail))
    }

    static func groupName(_ gid: gid_t) -> String? { getgrgid(gid).map { String(cString: $0.pointee.gr_name) } }

    /// Runs an account tool (useradd, groupadd, usermod); its failure is a configuration error.
    static func command(_ path: String, _ args: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = args
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw QRPayError(.internalError, "cannot run \(path): \(error)")
        }
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw QRPayError(.setupAccount, "\(FileIO.lastComponent(path)) \(args.joined(separator: " ")) failed (exit \(process.terminationStatus)): \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
