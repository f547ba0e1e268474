// Which error codes each program can stop with, and so which exit statuses it documents.
//
// Every error is an `ErrorCode` of the catalogue (Errors.swift), which carries its exit status. A
// program declares the catalogue areas its code paths raise; its exit statuses are the statuses of
// those codes, plus the program's own (1 for "not everything succeeded"). The header comment of each
// program and its --help say exactly these (a test checks the headers), and `runReportingErrors`
// refuses, in debug builds, an error from an area the program did not declare, so the end-to-end
// tests keep the declarations honest.

import QRPaySupport


package enum ProgramCatalogue {
    /// Areas every program can raise: the command line, internal errors, system calls, the spool,
    /// ids, password files and keys, the ledger.
    static let common = ["usage", "internal", "io", "spool", "id", "password", "pki", "ca", "ledger"]

    /// Each program's areas beyond `common`, and its own statuses.
    static let programs: [String: (areas: [String], own: [SysExit: String])] = [
        "qrpay-ca": (["json"], [:]),
        "qrpay-shop": (["json", "jws", "payment", "cancel", "notice", "shop", "qr", "image"], [:]),
        "qrpay-register": ([], stageStatuses),
        "qrpay-approve": ([], stageStatuses),
        "qrpay-settle": ([], stageStatuses),
        "qrpay-payout": (["json", "jws", "account", "payout", "bank", "record"], stageStatuses),
        "qrpay-scan": (["json", "approval", "list", "scan", "qr", "payment", "jws", "image"], stageStatuses),
        "qrpay-user": (["json", "jws", "payment", "approval", "list", "qr", "image", "scan", "notice", "user"],
                       [.failure: "some image held no QR code (decode), or the user declined (approve)"]),
        "qrpay-spool": (["json", "jws", "payment", "record", "list", "journal", "checkpoint", "verify", "setup", "account", "payout"],
                        [.failure: "check found something it did not repair, or show found a signature that does not verify"]),
        "qrpay-reconcile": (["json", "jws", "reconcile", "account", "payout"], [.failure: "discrepancies were found"]),
        "qrpay-bench": (["json", "jws", "payment", "approval", "qr", "image", "bench", "journal", "account"], [:]),
    ]

    /// What a stage's --once run says with its status, beyond the errors that stop it.
    static let stageStatuses: [SysExit: String] = [
        .ok: "every input processed",
        .dataError: "some inputs were quarantined (see qrpay-spool quarantine), or bad data stopped the run",
        .tempFail: "some inputs were deferred or left waiting (retried later), another instance holds the lock, or try again later",
    ]

    /// What each status means, in the words every program uses.
    static let meanings: [SysExit: String] = [
        .ok: "done", .usage: "usage", .dataError: "bad data", .noInput: "no such input (file, spool, payment)",
        .software: "internal error", .osError: "system error", .cantCreate: "cannot create",
        .ioError: "I/O error", .tempFail: "try again later (a lock held, a full disk, a missing or stale CRL)",
        .noPermission: "permission denied or wrong password", .config: "configuration (no CA, no or mismatched credentials)",
    ]

    /// The catalogue areas `program` may raise.
    package static func areas(_ program: String) -> [String] {
        common + (programs[program]?.areas ?? [])
    }

    /// The exit statuses `program` can end with, ascending.
    package static func statuses(_ program: String) -> [SysExit] {
        let areas = Set(areas(program))
        var out: Set<SysExit> = [.ok]
        for code in ErrorCode.all where areas.contains(code.area) || areas.contains(code.rawValue) { out.insert(code.status) }
        for status in (programs[program]?.own ?? [:]).keys { out.insert(status) }
        return out.sorted { $0.rawValue < $1.rawValue }
    }

    /// "0 done; 1 …; 64 usage; …": the exit statuses with their meanings.
    package static func exitText(_ program: String) -> String {
        let own = programs[program]?.own ?? [:]
        return statuses(program).map { "\($0.rawValue) \(own[$0] ?? meanings[$0] ?? "")" }.joined(separator: "; ")
    }

    /// Whether `code` is one `program` declares.
    package static func declares(_ program: String, _ code: ErrorCode) -> Bool {
        let areas = Set(areas(program))
        return areas.contains(code.area) || areas.contains(code.rawValue)
    }
}
