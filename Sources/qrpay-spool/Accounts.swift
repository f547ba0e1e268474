// qrpay-spool accounts set|list: shops' payout accounts and the PG's debtor accounts (Payouts/Accounts.swift).

import ArgumentParser
import Foundation
import QRPaySpool
import QRPayPayments
import QRPayLedger
import QRPayCommand

extension QRPaySpool {
    struct Accounts: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shops' payout accounts and the PG's debtor accounts (what qrpay-payout pays from and into).",
            subcommands: [SetAccount.self, ListAccounts.self])
    }

    struct SetAccount: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set a shop's payout account (--shop) or the PG's debtor account in a currency (--pg); journaled.",
            discussion: """
            Stored in SPOOL/pg/accounts/SHOP.json (a shop has one account, in one currency; its finished \
            payments in another currency wait) or SPOOL/pg/debtor/CUR.json. An IBAN is checked as ISO \
            13616 says (country, the country's length, check digits mod 97) and refused with the reason; \
            where there are no IBANs give --account and --bank-code (the bank's clearing code).
            Example: qrpay-spool accounts set --shop 1001 --name "Coffee House" --iban DE89370400440532013000 --bic COBADEFFXXX --currency EUR
            """)
        @OptionGroup var spool: SpoolOptions
        @Option(help: ArgumentHelp("The shop whose payout account this is.", valueName: "id")) var shop: String?
        @Flag(help: "The PG's own (debtor) account for payouts in --currency.") var pg = false
        @Option(help: ArgumentHelp("The account holder's name (as the bank knows it).", valueName: "name")) var name: String
        @Option(help: ArgumentHelp("The IBAN (spaces allowed).", valueName: "iban")) var iban: String?
        @Option(help: ArgumentHelp("The bank's BIC (8 or 11 characters).", valueName: "bic")) var bic: String?
        @Option(help: ArgumentHelp("An account number, where there is no IBAN (with --bank-code).", valueName: "number")) var account: String?
        @Option(help: ArgumentHelp("The bank's clearing code, with --account.", valueName: "code")) var bankCode: String?
        @Option(help: ArgumentHelp("The account's currency (ISO 4217).", valueName: "cur")) var currency: String
        @Flag(help: "Print the account as JSON.") var json = false

        func validate() throws {
            guard (shop != nil) != pg else { throw ValidationError("give exactly one of --shop ID and --pg") }
            guard (iban != nil) != (account != nil) else { throw ValidationError("give exactly one of --iban and --account (with --bank-code)") }
        }

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let context = try stageContext(spool.root)
                let a = try PayoutAccount(shop: shop, name: name, currency: try Currency(currency), iban: iban, bic: bic, account: account,
                                          bankCode: bankCode, updated: context.now())
                let changed = try AccountStore(layout: context.layout).set(a, context: context)
                if json { printJSON(a.json) } else {
                    print("\(shop.map { "shop \($0)" } ?? "the PG (debtor)"): \(a.name), \(a.accountText)\(a.bic.map { ", BIC \($0)" } ?? ""), \(a.currency.code)")
                }
                Diagnostics.info("qrpay-spool", changed ? "accounts: set" : "accounts: the same account was already set; nothing changed")
            }
        }
    }

    struct ListAccounts: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List shops' payout accounts and the PG's debtor accounts.")
        @OptionGroup var spool: SpoolOptions
        @Flag(help: "Print JSON: {shops: [account], debtors: [account]}; an account is {shop?, name, currency, iban? bic? account? bankCode?, updated}.")
        var json = false

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                try spool.requireSpool()
                let all = try AccountStore(layout: SpoolLayout(root: spool.root)).all()
                if json {
                    printJSON(["shops": .array(all.shops.map(\.json)), "debtors": .array(all.debtors.map(\.json))])
                    return
                }
                for a in all.debtors { print("PG (debtor)\t\(a.currency.code)\t\(a.name)\t\(a.accountText)\t\(a.bic ?? "-")") }
                for a in all.shops { print("\(a.shop ?? "")\t\(a.currency.code)\t\(a.name)\t\(a.accountText)\t\(a.bic ?? "-")") }
            }
        }
    }
}
