// Shops' payout accounts and the PG's debtor accounts, on the PG's side.
//
//   pg/accounts/SHOP.json     the account a shop is paid into (one per shop, in one currency)
//   pg/debtor/CUR.json        the PG's own account that payouts in CUR are paid from
//
// {"v":1,"shop":"1001","name":"Coffee House","currency":"EUR","iban":"DE89370400440532013000","bic":"COBADEFFXXX",
//  "updated":"…"}; instead of an IBAN (countries without one, such as Korea): "account" and "bankCode".
// Every change is journaled (kind "account": from the previous file's hash, to "set"). IBANs are
// checked as ISO 13616 says: two letters of a country that has IBANs, the country's length, check
// digits mod 97 = 1; BICs as ISO 9362 (the pain.001 schema's BICFI pattern).

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments

package enum IBAN {
    /// ISO 13616 lengths by country (the SWIFT IBAN registry).
    package static let lengths: [String: Int] = [
        "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
        "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
        "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
        "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
        "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
        "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
        "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
        "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
        "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    ]

    /// The IBAN in its electronic form (capitals, no spaces), or an `account.iban` error naming why.
    package static func validate(_ text: String) throws -> String {
        let compact = String(text.filter { $0 != " " }).uppercased()
        let shown = compact.count > 40 ? String(compact.prefix(40)) + "…" : compact
        func refuse(_ why: String) -> QRPayError { QRPayError(.accountIBAN, "\(shown) is not a valid IBAN: \(why)") }
        let bytes = Array(compact.utf8)
        guard bytes.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) }) else {
            throw refuse("only letters and digits may appear")
        }
        guard bytes.count >= 4 else { throw refuse("too short") }
        let country = String(compact.prefix(2))
        guard let length = lengths[country] else { throw refuse("\(country) is not a country with IBANs") }
        guard bytes.count == length else { throw refuse("an IBAN of \(country) has \(length) characters, not \(bytes.count)") }
        guard bytes[2...3].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw refuse("the check digits are not digits") }
        // Move the first four characters to the end, letters → 10..35, the number mod 97 must be 1.
        var remainder = 0
        for b in bytes[4...] + bytes[0..<4] {
            if b <= 0x39 { remainder = (remainder * 10 + Int(b - 0x30)) % 97 }
            else { remainder = (remainder * 100 + Int(b - 0x41 + 10)) % 97 }
        }
        guard remainder == 1 else { throw refuse("the check digits do not match (mod 97)") }
        return compact
    }

    package static func isValid(_ text: String) -> Bool { (try? validate(text)) != nil }
}

package enum BIC {
    /// The BIC in capitals, or `account.bic`: 4 letters or digits (the party), 2 letters (the
    /// country), 2 letters or digits (the location), optionally 3 more (the branch).
    package static func validate(_ text: String) throws -> String {
        let bic = text.uppercased()
        let b = Array(bic.utf8)
        func alnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) }
        guard b.count == 8 || b.count == 11, b.allSatisfy(alnum), b[4...5].allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
            throw QRPayError(.accountBIC, "\(bic.prefix(20)) is not a BIC: 8 or 11 letters and digits, the 5th and 6th a country code")
        }
        return bic
    }
}

/// A payout account: a shop's (creditor) or the PG's (debtor).
package struct PayoutAccount: Equatable, Sendable {
    package static let version: Int64 = 1
    /// The shop's id, or nil for the PG's debtor account.
    package let shop: String?
    package let name: String
    package let currency: Currency
    package let iban: String?
    package let bic: String?
    /// An account number and bank (clearing) code, where there is no IBAN.
    package let account: String?
    package let bankCode: String?
    package let updated: Date

    package init(shop: String?, name: String, currency: Currency, iban: String?, bic: String?, account: String?, bankCode: String?,
                updated: Date) throws {
        if let shop { try Identifier.validate(shop, what: "shop") }
        guard !name.isEmpty, name.utf8.count <= 140, HumanText.problem(name) == nil else {
            throw QRPayError(.accountInvalid, "the account holder's name must be 1 to 140 bytes of printable text (--name)")
        }
        self.shop = shop
        self.name = name
        self.currency = currency
        switch (iban, account) {
        case (let iban?, nil):
            guard bankCode == nil else { throw QRPayError(.accountInvalid, "--bank-code goes with --account, not with --iban") }
            self.iban = try IBAN.validate(iban)
            self.account = nil
            self.bankCode = nil
        case (nil, let account?):
            guard let bankCode else { throw QRPayError(.accountInvalid, "--account needs --bank-code (the bank's clearing code)") }
            func plain(_ s: String, _ max: Int) -> Bool {
                !s.isEmpty && s.utf8.count <= max && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x2D }
            }
            guard plain(account, 34) else { throw QRPayError(.accountInvalid, "--account must be 1 to 34 of A-Z 0-9 -") }
            guard plain(bankCode, 35) else { throw QRPayError(.accountInvalid, "--bank-code must be 1 to 35 of A-Z 0-9 -") }
            self.iban = nil
            self.account = account
            self.bankCode = bankCode
        default:
            throw QRPayError(.accountInvalid, "give exactly one of --iban and --account (with --bank-code)")
        }
        self.bic = try bic.map(BIC.validate)
        self.updated = Date(timeIntervalSince1970: updated.timeIntervalSince1970.rounded(.down))
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = ["v": .int(PayoutAccount.version), "name": .string(name), "currency": .string(currency.code),
                                      "updated": .string(Timestamp.format(updated))]
        if let shop { o["shop"] = .string(shop) }
        if let iban { o["iban"] = .string(iban) }
        if let bic { o["bic"] = .string(bic) }
        if let account { o["account"] = .string(account) }
        if let bankCode { o["bankCode"] = .string(bankCode) }
        return .object(o)
    }

    package init(data: Data, path: String) throws {
        do {
            let r = try JSONObjectReader(try JSONValue.parse(data, what: "payout account"), what: "payout account")
            try r.requireOnly(["v", "shop", "name", "currency", "iban", "bic", "account", "bankCode", "updated"])
            guard try r.int("v") == PayoutAccount.version, let updated = Timestamp.parse(try r.string("updated")) else {
                throw QRPayError(.accountMalformed, "version or time")
            }
            try self.init(shop: try r.optionalString("shop"), name: try r.string("name"), currency: try Currency(try r.string("currency")),
                          iban: try r.optionalString("iban"), bic: try r.optionalString("bic"), account: try r.optionalString("account"),
                          bankCode: try r.optionalString("bankCode"), updated: updated)
        } catch let e as QRPayError {
            throw QRPayError(.accountMalformed, "the payout account \(path) does not parse: \(e.message); set it again with qrpay-spool accounts set")
        }
    }

    /// "IBAN DE89…" or "account 123 at 088".
    package var accountText: String { iban.map { "IBAN \($0)" } ?? "account \(account ?? "") at bank \(bankCode ?? "")" }
}

/// Reads and changes the accounts (paths: SpoolLayout).
package struct AccountStore: Sendable {
    package let layout: SpoolLayout
    package init(layout: SpoolLayout) { self.layout = layout }

    func path(_ account: PayoutAccount) -> String {
        account.shop.map { layout.accountPath(shop: $0) } ?? layout.debtorPath(currency: account.currency.code)
    }

    package func account(shop: String) throws -> PayoutAccount? {
        try Identifier.validate(shop, what: "shop")
        let path = layout.accountPath(shop: shop)
        return try FileIO.readIfExists(path, maxBytes: 64 * 1024).map { try PayoutAccount(data: $0, path: path) }
    }

    package func debtor(currency: String) throws -> PayoutAccount? {
        let code = try Currency(currency).code
        let path = layout.debtorPath(currency: code)
        return try FileIO.readIfExists(path, maxBytes: 64 * 1024).map { try PayoutAccount(data: $0, path: path) }
    }

    /// Every shop's account, by shop, and the PG's debtor accounts, by currency.
    package func all() throws -> (shops: [PayoutAccount], debtors: [PayoutAccount]) {
        func read(_ dir: String) throws -> [PayoutAccount] {
            guard FileIO.isDirectory(dir) else { return [] }
            return try FileIO.listDirectory(dir).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().map {
                try PayoutAccount(data: try FileIO.read(dir + "/" + $0, maxBytes: 64 * 1024), path: dir + "/" + $0)
            }
        }
        return (try read(layout.accountsDirectory), try read(layout.debtorDirectory))
    }

    /// Writes the account (replacing the shop's previous one) and journals it, in one commit.
    /// Returns whether anything changed (the same account again is a no-op).
    @discardableResult
    package func set(_ account: PayoutAccount, context: StageContext) throws -> Bool {
        let path = path(account)
        let previous = try FileIO.readIfExists(path, maxBytes: 64 * 1024)
        if let previous, let old = try? PayoutAccount(data: previous, path: path) {
            let same = old.name == account.name && old.currency == account.currency && old.iban == account.iban && old.bic == account.bic
                && old.account == account.account && old.bankCode == account.bankCode
            if same { return false }
        }
        let data = account.json.serialized(pretty: true)
        let commit = GroupCommit(context: context)
        try context.ensureDirectory(FileIO.parentDirectory(path))
        commit.journal(Journal(layout: layout), TransitionRequest(
            .account(previous: previous.map { Base64URL.encode(Digest.sha256($0)) }),
            shop: account.shop ?? "pg-debtor", subject: account.shop == nil ? account.currency.code : "account",
            evidenceHash: Base64URL.encode(Digest.sha256(data)), at: account.updated))
        try commit.write(data, to: path, mode: 0o640, ifExists: .replace)
        try commit.flush()
        return true
    }
}
