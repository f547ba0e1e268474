// Creating a spool's directory tree ahead of use (`qrpay-spool init`), as qmail's installer creates
// its split queue directories: the PG's queues, the payment-information list's 4,096 token
// directories (pg/list/TT), and for every shop the CA has certified its 256 record buckets
// (pg/payments/SHOP/XX), its QR directory and its notice queue. The stages create whatever is
// missing on first use anyway; doing it at set-up (and again after enrolling shops) keeps
// directory creation, one of the costlier things a file system does, off the registration path.
//
// Idempotent: existing directories are left as they are (modes included); the count of directories
// created is returned.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments
import QRPayLedger
#if canImport(Glibc)
import Glibc
#endif

package struct SpoolSetupReport: Sendable {
    package var created = 0
    package var shops: [String] = []

    package var json: JSONValue {
        ["v": 1, "created": .int(Int64(created)), "shops": .array(shops.map { .string($0) })]
    }

    package var text: String {
        "created \(created) director\(created == 1 ? "y" : "ies"); shops provisioned: \(shops.isEmpty ? "none" : shops.joined(separator: ", "))"
    }
}

package enum SpoolSetup {
    /// The two-character directory names of the list (base64url alphabet squared) and the record
    /// buckets (two lowercase hex digits).
    static let listPrefixes: [String] = {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        return alphabet.flatMap { a in alphabet.map { b in String([a, b]) } }
    }()
    static let bucketNames: [String] = (0..<256).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }

    /// Shops with a current certificate in the CA repository (ca/certs/shop/ID.pem).
    package static func certifiedShops(layout: SpoolLayout) throws -> [String] {
        try FileIO.listDirectory(layout.certificatesDirectory(role: .shop))
            .filter { $0.hasSuffix(".pem") }.map { String($0.dropLast(4)) }
            .filter(Identifier.isValid).sorted()
    }

    /// About how many directories `run` looks at for `shops` shops (the list's and each shop's
    /// buckets dominate): the total of init's progress line.
    package static func directories(shops: Int) -> Int { listPrefixes.count + 12 + shops * (bucketNames.count + 2) }

    /// Creates what is missing, with the layout's modes; `shops` nil: every certified shop.
    /// `progress` is told how many directories were looked at so far (of about `directories(shops:)`).
    package static func run(spoolRoot root: String, shops: [String]? = nil,
                           progress: ((Int) -> Void)? = nil) throws -> SpoolSetupReport {
        let layout = SpoolLayout(root: root)
        var report = SpoolSetupReport()
        let shopList = try shops ?? certifiedShops(layout: layout)
        var looked = 0
        // Each parent whose entries changed is fsynced once at the end (thousands of directories:
        // one fsync each made init take seconds).
        var parents: Set<String> = []
        func make(_ path: String) throws {
            report.created += try layout.makeDirectories(path, syncLater: &parents)
            looked += 1
            if let progress, looked % 256 == 0 { progress(looked) }
        }
        for queue in [layout.inbox, layout.approvals, layout.cancels] { report.created += try layout.makeQueue(queue) }
        try make(layout.paymentsDirectory)
        for state in PaymentState.allCases { try make(layout.stateDirectory(state)) }
        for kind in DueKind.allCases { try make(layout.dueDirectory(kind)) }
        try make(layout.listDirectory)
        for prefix in listPrefixes { try make(layout.listDirectory + "/" + prefix) }
        try make(layout.journalDirectory)
        for queue in [layout.payouts, layout.bank] { report.created += try layout.makeQueue(queue) }
        for dir in [layout.accountsDirectory, layout.debtorDirectory, layout.payoutRecordsDirectory, layout.paidDirectory,
                    layout.bankRecordsDirectory] { try make(dir) }
        try make(layout.runDirectory)
        try make(layout.shopsDirectory)
        try make(layout.usersDirectory)
        for shop in shopList {
            try Identifier.validate(shop, what: "shop")
            let buckets = layout.recordDirectory(shop: shop)
            try make(buckets)
            for bucket in bucketNames { try make(buckets + "/" + bucket) }
            try make(layout.qrDirectory(shop: shop))
            report.created += try layout.makeQueue(layout.notices(shop: shop))
            report.shops.append(shop)
        }
        // As before: a parent this user may not open (a party's own directory) is best effort; the
        // PG's list and payments directories must sync.
        parents.subtract([layout.listDirectory, layout.paymentsDirectory])
        for parent in parents.sorted() { try? FileIO.fsyncDirectory(parent) }
        try FileIO.syncDirectories([layout.listDirectory, layout.paymentsDirectory])
        return report
    }
}
