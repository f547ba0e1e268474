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
#if canImport(Glibc)
import Glibc
#endif

public struct SpoolSetupReport: Sendable {
    public var created = 0
    public var shops: [String] = []

    public var json: JSONValue {
        ["created": .int(Int64(created)), "shops": .array(shops.map { .string($0) })]
    }

    public var text: String {
        "created \(created) director\(created == 1 ? "y" : "ies"); shops provisioned: \(shops.isEmpty ? "none" : shops.joined(separator: ", "))"
    }
}

public enum SpoolSetup {
    /// The two-character directory names of the list (base64url alphabet squared) and the record
    /// buckets (two lowercase hex digits).
    static let listPrefixes: [String] = {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        return alphabet.flatMap { a in alphabet.map { b in String([a, b]) } }
    }()
    static let bucketNames: [String] = (0..<256).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }

    /// Shops with a current certificate in the CA repository (ROOT/ca/certs/shop/ID.pem).
    public static func certifiedShops(spoolRoot root: String) throws -> [String] {
        try FileIO.listDirectory(SpoolLayout.caDirectory(root) + "/certs/shop")
            .filter { $0.hasSuffix(".pem") }.map { String($0.dropLast(4)) }
            .filter(Identifier.isValid).sorted()
    }

    /// Creates what is missing; `shops` nil: every certified shop.
    public static func run(spoolRoot root: String, shops: [String]? = nil) throws -> SpoolSetupReport {
        var report = SpoolSetupReport()
        func make(_ path: String, _ mode: mode_t) throws {
            if FileIO.isDirectory(path) { return }
            try FileIO.makeDirectory(path, mode: mode)
            report.created += 1
        }
        for queue in [SpoolLayout.inbox(root), SpoolLayout.approvals(root), SpoolLayout.cancels(root)] {
            if !FileIO.isDirectory(queue.newDirectory) { try queue.create(); report.created += 1 }
        }
        let store = PaymentStore(spoolRoot: root)
        try make(store.paymentsDirectory, 0o750)
        for state in PaymentState.allCases { try make(store.statesDirectory + "/" + state.rawValue, 0o750) }
        try make(store.listDirectory, 0o711)
        for prefix in listPrefixes { try make(store.listDirectory + "/" + prefix, 0o711) }
        for shop in try shops ?? certifiedShops(spoolRoot: root) {
            try Identifier.validate(shop, what: "shop")
            let bucketsDirectory = store.paymentsDirectory + "/" + shop
            try make(bucketsDirectory, 0o750)
            for bucket in bucketNames { try make(bucketsDirectory + "/" + bucket, 0o750) }
            try make(SpoolLayout.shopDirectory(root, shop: shop) + "/qr", 0o750)
            let notices = Notifier.noticeQueue(spoolRoot: root, shop: shop)
            if !FileIO.isDirectory(notices.newDirectory) { try notices.create(); report.created += 1 }
            report.shops.append(shop)
        }
        try SpoolFS.fsyncDirectory(store.listDirectory)
        try SpoolFS.fsyncDirectory(store.paymentsDirectory)
        return report
    }
}
