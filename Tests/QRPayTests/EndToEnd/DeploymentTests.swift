// QR-Pay as deployed: every party its own Unix uid (setpriv), the spool made by `qrpay-spool setup`
// from the layout table. A whole payment life runs with each program under its own party's uid;
// then every cross-party read, listing, write, removal, rename and link that must fail fails, and a
// program run as the wrong user exits 77 naming the path and the user, writing nothing. Root only
// (CI runs as root); skipped with a printed reason otherwise. Numeric uids: nothing is added to the
// system's user database, and the test's directory is removed even when it fails.

import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
@testable import QRPayLedger
@testable import QRPayOperations
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Throwaway uids and gids that no account uses, from `base`.
struct Party {
    let uid: uid_t
    let gid: gid_t
    var groups: [gid_t]
}

final class DeployedSpool {
    let dir = TemporaryDirectory("deploy")
    var root: String { dir.path + "/Spool" }
    let base: uid_t
    let ca: Party, pg: Party
    let shops: [String: Party], users: [String: Party]
    let shopsGroup: gid_t, usersGroup: gid_t

    init() throws {
        // A free block of 100 ids.
        var candidate: uid_t = 62_000
        while (0..<100).contains(where: { getpwuid(candidate + $0) != nil || getgrgid(candidate + $0) != nil }) { candidate += 100 }
        base = candidate
        shopsGroup = base + 90
        usersGroup = base + 91
        let shop1 = Party(uid: base + 10, gid: base + 10, groups: [base + 10, base + 90])
        let shop2 = Party(uid: base + 20, gid: base + 20, groups: [base + 20, base + 90])
        let user1 = Party(uid: base + 41, gid: base + 41, groups: [base + 41, base + 91])
        let user2 = Party(uid: base + 42, gid: base + 42, groups: [base + 42, base + 91])
        shops = ["1001": shop1, "2002": shop2]
        users = ["u1": user1, "u2": user2]
        ca = Party(uid: base, gid: base, groups: [base])
        // The PG is in each shop's and user's own group (it reads what they drop).
        pg = Party(uid: base + 1, gid: base + 1, groups: [base + 1, shop1.gid, shop2.gid, user1.gid, user2.gid])
        chmod(dir.path, 0o755)
        try FileManager.default.createDirectory(atPath: dir.path + "/pw", withIntermediateDirectories: true)
        chmod(dir.path + "/pw", 0o755)
        for party in [ca, pg, shop1, shop2, user1, user2] {
            let file = passwordFile(party)
            try Data("secret of \(party.uid)\n".utf8).write(to: URL(fileURLWithPath: file))
            chown(file, party.uid, party.gid)
            chmod(file, 0o400)
        }
    }

    func passwordFile(_ party: Party) -> String { dir.path + "/pw/\(party.uid).pass" }

    /// Runs a built program as `party` (setpriv: its uid, gid and groups, no capabilities).
    func run(_ party: Party, _ program: String, _ args: [String]) -> (status: Int32, stdout: String, stderr: String) {
        let path = program.hasPrefix("/") ? program : programDirectory() + "/" + program
        return runExecutable("/usr/bin/setpriv", ["--reuid=\(party.uid)", "--regid=\(party.gid)",
                                                  "--groups=\(party.groups.map(String.init).joined(separator: ","))",
                                                  "--inh-caps=-all", "--bounding-set=-all", path] + args,
                             env: ["QRPAY_SPOOL": root])
    }

    /// Tries file operations as `party`; returns each one's result: "ok" or the errno's name.
    func attempt(_ party: Party, _ ops: [[String]]) -> [String] {
        let script = """
        import errno, json, os, sys
        out = []
        for op in json.load(sys.stdin):
            kind, a = op[0], op[1]
            try:
                if kind == "read": open(a, "rb").read()
                elif kind == "list": os.listdir(a)
                elif kind == "write":
                    fd = os.open(a, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600); os.close(fd)
                elif kind == "overwrite":
                    fd = os.open(a, os.O_WRONLY | os.O_TRUNC); os.write(fd, b"tampered"); os.close(fd)
                elif kind == "remove": os.unlink(a)
                elif kind == "rename": os.rename(a, op[2])
                elif kind == "link": os.link(a, op[2])
                elif kind == "mkdir": os.mkdir(a)
                elif kind == "drop":
                    fd = os.open(a, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640); os.write(fd, open(op[2], "rb").read()); os.close(fd)
                    os.rename(a, op[3])
                out.append("ok")
            except OSError as e:
                out.append(errno.errorcode.get(e.errno, str(e.errno)))
        print(json.dumps(out))
        """
        let input = JSONValue.array(ops.map { .array($0.map { .string($0) }) }).serialized()
        let r = runExecutable("/usr/bin/setpriv", ["--reuid=\(party.uid)", "--regid=\(party.gid)",
                                                   "--groups=\(party.groups.map(String.init).joined(separator: ","))",
                                                   "/usr/bin/python3", "-c", script], stdin: input)
        guard r.status == 0, case .array(let items)? = try? JSONValue.parse(r.stdout) else { return ["script failed: \(r.stderr)"] }
        return items.map { $0.stringValue ?? "?" }
    }

    /// (path, size, mode, uid) of everything in the spool, to see that a refused program wrote nothing.
    func snapshot() -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: root) else { return [] }
        for case let rel as String in e {
            var st = stat()
            if lstat(root + "/" + rel, &st) == 0 { out.append("\(rel) \(st.st_size) \(st.st_mode) \(st.st_uid)") }
        }
        return out.sorted()
    }

    func setup(_ extra: [String] = []) -> (status: Int32, stdout: String, stderr: String) {
        runProgram("qrpay-spool", ["setup", "--spool", root, "--ca-user", "\(ca.uid)", "--pg-user", "\(pg.uid)",
                                   "--shop", "1001:\(shops["1001"]!.uid)", "--shop", "2002:\(shops["2002"]!.uid)",
                                   "--user", "u1:\(users["u1"]!.uid)", "--user", "u2:\(users["u2"]!.uid)",
                                   "--shops-group", "\(shopsGroup)", "--users-group", "\(usersGroup)"] + extra)
    }
}

@Suite(.serialized, .enabled(if: geteuid() == 0, "needs root: runs every party as its own uid with setpriv (CI runs as root)"))
struct DeploymentTests {
    @Test func aPaymentsLifeWithEveryPartyItsOwnUser() throws {
        let d = try DeployedSpool()
        let layout = SpoolLayout(root: d.root)
        let shop1 = d.shops["1001"]!, shop2 = d.shops["2002"]!, u1 = d.users["u1"]!, u2 = d.users["u2"]!

        // The spool, from the layout table; a second run changes nothing.
        var r = d.setup()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("mkdir pg/inbox/new (1730"), "\(r.stdout.prefix(2000))")
        r = d.setup(["--json"])
        let again = try JSONValue.parse(r.stdout)
        #expect(r.status == 0 && again["actions"] == .array([]), "\(r.stdout.prefix(2000))")
        var st = stat()
        #expect(lstat(layout.inbox.newDirectory, &st) == 0 && st.st_uid == d.pg.uid && st.st_gid == d.shopsGroup && st.st_mode & 0o7777 == 0o1730)
        #expect(lstat(layout.notices(shop: "1001").newDirectory, &st) == 0 && st.st_gid == shop1.gid && st.st_mode & 0o7777 == 0o2770)
        #expect(lstat(layout.shopDirectory("2002"), &st) == 0 && st.st_uid == shop2.uid && st.st_mode & 0o7777 == 0o711)
        r = d.run(d.pg, "qrpay-spool", ["check"])
        #expect(r.status == 0, "check right after setup: \(r.stdout)\(r.stderr)")

        // Enrolment: each party makes its own key and request; the CA's user certifies.
        #expect(d.run(d.ca, "qrpay-ca", ["init", "--name", "Deployed CA", "--password-file", d.passwordFile(d.ca)]).status == 0)
        let owners: [(Party, String, String, String)] = [(d.pg, "pg", "PG1", "Gateway"), (shop1, "shop", "1001", "Coffee House"),
                                                         (shop2, "shop", "2002", "Tea Room"), (u1, "user", "u1", "Kim"), (u2, "user", "u2", "Lee")]
        for (party, role, id, name) in owners {
            r = d.run(party, "qrpay-ca", ["request", "--role", role, "--id", id, "--password-file", d.passwordFile(party)])
            #expect(r.status == 0, "request \(role) \(id): \(r.stderr)")
            let csr = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            r = d.run(d.ca, "qrpay-ca", ["issue", "--role", role, "--id", id, "--name", name, "--ca-password-file", d.passwordFile(d.ca), "--csr", csr])
            #expect(r.status == 0, "issue \(role) \(id): \(r.stderr)")
        }
        #expect(lstat(layout.keyFile(role: .shop, id: "1001"), &st) == 0 && st.st_uid == shop1.uid && st.st_mode & 0o777 == 0o600)
        #expect(!FileIO.exists(layout.certificateFile(role: .shop, id: "1001")))  // the CA wrote nothing there
        #expect(d.run(d.pg, "qrpay-spool", ["init"]).status == 0)

        // Shops sign payments; one shop keeps a hard link to what it dropped.
        r = d.run(shop1, "qrpay-shop", ["create", "--shop", "1001", "--password-file", d.passwordFile(shop1), "--currency", "KRW", "--item", "Americano:2:4500"])
        #expect(r.status == 0, "\(r.stderr)")
        let p1 = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        r = d.run(shop2, "qrpay-shop", ["create", "--shop", "2002", "--password-file", d.passwordFile(shop2), "--currency", "KRW", "--item", "Tea:1:3000"])
        #expect(r.status == 0, "\(r.stderr)")
        let p2 = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let queued = try FileIO.listDirectory(layout.inbox.newDirectory).sorted()
        #expect(queued.count == 2)
        // What a shop dropped is its own and its group's only.
        for name in queued {
            #expect(lstat(layout.inbox.newDirectory + "/" + name, &st) == 0 && st.st_mode & 0o777 == 0o640)
        }
        let ofShop1 = try #require(queued.first { name in
            lstat(layout.inbox.newDirectory + "/" + name, &st) == 0 && st.st_uid == shop1.uid
        })
        let inboxNew = layout.inbox.newDirectory
        #expect(d.attempt(shop2, [["list", inboxNew], ["read", inboxNew + "/" + ofShop1], ["remove", inboxNew + "/" + ofShop1],
                                  ["rename", inboxNew + "/" + ofShop1, inboxNew + "/stolen.json"],
                                  ["link", inboxNew + "/" + ofShop1, layout.shopDirectory("2002") + "/copy.json"],
                                  ["overwrite", inboxNew + "/" + ofShop1]])
                == ["EACCES", "EACCES", "EPERM", "EPERM", "EPERM", "EACCES"])
        // A payment dropped by hand with a hard link kept back, to rewrite the evidence later.
        let hand = inboxNew + "/" + ofShop1
        let kept = layout.shopDirectory("1001") + "/kept.json"
        #expect(d.attempt(shop1, [["link", hand, kept]]) == ["ok"])

        r = d.run(d.pg, "qrpay-register", ["--password-file", d.passwordFile(d.pg), "--once"])
        #expect(r.status == 0 && r.stderr.contains("2 processed, 0 quarantined, 0 deferred"), "\(r.stderr)")
        // Custody: what is in done/ belongs to the PG; the shop's rewrite of its own link changes nothing there.
        let day = try #require(try FileIO.listDirectory(layout.inbox.doneDirectory).first)
        let doneFile = layout.inbox.doneDirectory + "/" + day + "/" + ofShop1
        let before = try FileIO.read(doneFile)
        #expect(lstat(doneFile, &st) == 0 && st.st_uid == d.pg.uid && st.st_nlink == 1)
        #expect(d.attempt(shop1, [["overwrite", kept]]) == ["ok"])
        #expect(try FileIO.read(doneFile) == before)

        // Users: one approves from a photo of the code with qrpay-user, the other through qrpay-scan.
        let photo1 = d.dir.path + "/p1.png", photo2 = d.dir.path + "/p2.png"
        try FileManager.default.copyItem(atPath: layout.qrPath(shop: "1001", payment: p1), toPath: photo1)
        try FileManager.default.copyItem(atPath: layout.qrPath(shop: "2002", payment: p2), toPath: photo2)
        chmod(photo1, 0o644); chmod(photo2, 0o644)
        r = d.run(u1, "qrpay-user", ["approve", "--user", "u1", "--password-file", d.passwordFile(u1), "--expect-shop", "1001", "--expect-total", "9000", photo1])
        #expect(r.status == 0, "\(r.stderr)")
        let sidecar = d.dir.path + "/shot.approve"
        try Data(#"{"shop": "2002", "total": 3000, "currency": "KRW"}"#.utf8).write(to: URL(fileURLWithPath: sidecar))
        chmod(sidecar, 0o644)
        let inbox2 = layout.scanInbox(user: "u2")
        #expect(d.attempt(u2, [["drop", inbox2.tmpDirectory + "/shot.approve", sidecar, inbox2.newDirectory + "/shot.approve"],
                               ["drop", inbox2.tmpDirectory + "/shot.png", photo2, inbox2.newDirectory + "/shot.png"]]) == ["ok", "ok"])
        r = d.run(u2, "qrpay-scan", ["--user", "u2", "--password-file", d.passwordFile(u2), "--once"])
        #expect(r.status == 0 && r.stderr.contains("1 processed"), "\(r.stderr)")
        #expect(FileIO.exists(layout.userRunDirectory(user: "u2") + "/scan-u2.lock"))

        r = d.run(d.pg, "qrpay-approve", ["--password-file", d.passwordFile(d.pg), "--once"])
        #expect(r.status == 0 && r.stderr.contains("2 processed, 0 quarantined"), "\(r.stderr)")
        r = d.run(d.pg, "qrpay-settle", ["--password-file", d.passwordFile(d.pg), "--hold", "0", "--once"])
        #expect(r.status == 0 && r.stderr.contains("2 changed by the clock"), "\(r.stderr)")
        let store = PaymentStore(layout: layout)
        #expect(try store.load(shop: "1001", payment: p1)?.state == .finish)
        #expect(try store.load(shop: "2002", payment: p2)?.state == .finish)

        // The operator's commands, as the PG's user.
        for args in [["status"], ["status", "--json"], ["check"], ["quarantine"], ["purge"], ["init", "--shop", "1001"],
                     ["show", "1001", p1], ["checkpoint", "--password-file", d.passwordFile(d.pg)]] {
            r = d.run(d.pg, "qrpay-spool", args)
            #expect(r.status == 0, "qrpay-spool \(args.joined(separator: " ")): \(r.stdout)\(r.stderr)")
        }
        r = d.run(d.pg, "qrpay-spool", ["check"])
        #expect(r.stderr.contains("ca/private: not readable by this user"), "\(r.stderr)")
        r = d.run(d.pg, "qrpay-reconcile", [])
        #expect(r.status == 0, "\(r.stderr)")

        // The isolation table: what one party may not do to another's files.
        let qr1 = layout.qrPath(shop: "1001", payment: p1)
        let record1 = store.recordPath(shop: "1001", payment: p1)
        let journal = try #require(try FileIO.listDirectory(layout.journalDirectory).first { $0.hasSuffix(".jsonl") })
        let asShop2 = d.attempt(shop2, [
            ["read", layout.keyFile(role: .shop, id: "1001")], ["read", layout.shopJournal(shop: "1001")], ["read", qr1],
            ["list", layout.notices(shop: "1001").newDirectory], ["list", layout.shopDirectory("1001")],
            ["read", layout.keyFile(role: .pg, id: "")], ["list", layout.paymentsDirectory], ["read", record1],
            ["write", layout.stateDirectory(.finish) + "/x"], ["read", layout.journalDirectory + "/" + journal],
            ["list", layout.listDirectory], ["write", layout.approvals.tmpDirectory + "/x"], ["list", layout.inbox.doneDirectory],
            ["write", layout.caDirectory + "/x"], ["list", layout.caPrivateDirectory], ["write", layout.scanInbox(user: "u1").tmpDirectory + "/x"],
            ["mkdir", layout.qrDirectory(shop: "1001") + "/x"],
        ])
        #expect(asShop2 == Array(repeating: "EACCES", count: 17), "\(asShop2)")
        let asUser2 = d.attempt(u2, [
            ["read", layout.keyFile(role: .user, id: "u1")], ["list", layout.scanInbox(user: "u1").newDirectory],
            ["list", layout.receipts(user: "u1").newDirectory], ["list", layout.reviewsDirectory(user: "u1")],
            ["write", layout.inbox.tmpDirectory + "/x"], ["read", record1], ["write", layout.listDirectory + "/x"],
        ])
        #expect(asUser2 == Array(repeating: "EACCES", count: 7), "\(asUser2)")

        // Programs run as the wrong user: exit 77, naming the path and the user, writing nothing.
        let snapshot = d.snapshot()
        r = d.run(shop2, "qrpay-shop", ["create", "--shop", "1001", "--password-file", d.passwordFile(shop2), "--currency", "KRW", "--item", "x:1:1"])
        #expect(r.status == 77 && r.stderr.contains("shops/1001/key.pem") && r.stderr.contains("uid \(shop2.uid)"), "\(r.stderr)")
        r = d.run(shop1, "qrpay-register", ["--password-file", d.passwordFile(shop1), "--once"])
        #expect(r.status == 77 && r.stderr.contains("pg/key.pem") && r.stderr.contains("uid \(shop1.uid)"), "\(r.stderr)")
        r = d.run(u2, "qrpay-scan", ["--user", "u1", "--password-file", d.passwordFile(u2), "--once"])
        #expect(r.status == 77 && r.stderr.contains("users/u1/key.pem") && r.stderr.contains("uid \(u2.uid)"), "\(r.stderr)")
        r = d.run(u1, "qrpay-spool", ["checkpoint", "--password-file", d.passwordFile(u1)])
        #expect(r.status == 77, "\(r.stderr)")
        #expect(d.snapshot() == snapshot)
    }

    /// --create-users makes system users with their own groups and no login shell, and the
    /// memberships the modes rely on; removed again afterwards, even when the test fails.
    @Test func setupCreatesTheAccountsItNeeds() throws {
        let tag = String(UInt32.random(in: 0..<UInt32.max), radix: 36)
        let names = ["ca", "pg", "s1", "u1"].map { "qrpt\(tag)\($0)" }
        let groups = ["qrpt\(tag)shops", "qrpt\(tag)users"]
        defer {
            for name in names { _ = runExecutable("/usr/sbin/userdel", [name]); _ = runExecutable("/usr/sbin/groupdel", [name]) }
            for group in groups { _ = runExecutable("/usr/sbin/groupdel", [group]) }
        }
        let dir = TemporaryDirectory("deploy-users")
        let args = ["setup", "--spool", dir.path + "/Spool", "--ca-user", names[0], "--pg-user", names[1], "--shop", "1001:" + names[2],
                    "--user", "u1:" + names[3], "--shops-group", groups[0], "--users-group", groups[1]]
        var r = runProgram("qrpay-spool", args)
        #expect(r.status == 78 && r.stderr.contains("--create-users"), "\(r.stderr)")
        r = runProgram("qrpay-spool", args + ["--create-users", "--dry-run"])
        #expect(r.status == 0 && r.stdout.contains("would create-user \(names[2])"), "\(r.stdout)")
        #expect(getpwnam(names[2]) == nil && !FileIO.exists(dir.path + "/Spool"))
        r = runProgram("qrpay-spool", args + ["--create-users"])
        #expect(r.status == 0, "\(r.stderr)")
        let shop = try #require(try UnixAccount.resolve(names[2]))
        let pg = try #require(try UnixAccount.resolve(names[1]))
        #expect(String(cString: getpwnam(names[2]).pointee.pw_shell) == "/usr/sbin/nologin")
        let shopsGID = try #require(try UnixAccount.resolveGroup(groups[0]))
        #expect(shop.groups()?.contains(shopsGID) == true)
        #expect(pg.groups()?.contains(shop.gid) == true)  // the PG reads what the shop drops
        var st = stat()
        #expect(lstat(dir.path + "/Spool/shops/1001", &st) == 0 && st.st_uid == shop.uid && st.st_gid == shop.gid)
        r = runProgram("qrpay-spool", args + ["--create-users"])
        #expect(r.status == 0 && r.stderr.contains("setup: 0 change(s)"), "\(r.stderr)")
    }

    /// The sample units: valid for systemd, and exposed at most 3.0 ("OK") each.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze"))
    func sampleUnitsVerifyAndAreHardened() throws {
        let dir = TemporaryDirectory("units")
        let samples = LayoutTests.repository + "/Samples/systemd"
        var services: [String] = []
        for name in try FileIO.listDirectory(samples).sorted() {
            let text = String(decoding: try FileIO.read(samples + "/" + name), as: UTF8.self)
            // ExecStart= must name programs that exist for verify: the ones just built.
            try Data(text.replacingOccurrences(of: "/usr/local/bin/", with: programDirectory() + "/").utf8)
                .write(to: URL(fileURLWithPath: dir.path + "/" + name))
            if name.hasSuffix(".service") {
                services.append(name)
                #expect(text.contains("User=qrpay-pg"), "\(name) does not run as the PG's user")
                if text.contains("Restart=on-failure") { #expect(text.contains("RestartPreventExitStatus=64 65 77 78"), "\(name)") }
            }
        }
        let all = try FileIO.listDirectory(dir.path).sorted().map { dir.path + "/" + $0 }
        let verify = runExecutable("/usr/bin/systemd-analyze", ["verify", "--man=no"] + all)
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        for service in services {
            let security = runExecutable("/usr/bin/systemd-analyze", ["security", "--offline=true", "--threshold=30", dir.path + "/" + service])
            #expect(security.status == 0, "\(service): \(security.stdout.split(separator: "\n").last ?? "")")
        }
    }
}
