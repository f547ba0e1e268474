// qrpay-ca - the QR-Pay certificate authority
//
// SYNOPSIS
//   qrpay-ca init   [--spool DIR] --name NAME --password-file F [--days N]
//   qrpay-ca issue  [--spool DIR] --role shop|user|pg --id ID --name NAME --ca-password-file CF
//                   (--password-file F | --csr FILE) [--days N] [--renew]
//   qrpay-ca revoke [--spool DIR] --role R --id ID --ca-password-file CF
//   qrpay-ca crl    [--spool DIR] --ca-password-file CF [--valid-for 7d]
//   qrpay-ca list   [--spool DIR] [--json]
//
// DESCRIPTION
//   The first program of the pipeline (paper, phase A "Initialization"): it creates the spool's CA
//   and issues the X.509 certificates with which shops, users and the payment gateway (PG) sign
//   every later document. All other programs verify signatures against DIR/ca/ (TrustStore).
//
// INPUTS
//   Password files (first line is the password), an optional PKCS#10 CSR in PEM (the owner keeps its
//   private key), the CA repository DIR/ca/ (see CertificateAuthority.swift for its layout).
//
// OUTPUTS
//   DIR/ca/ca.pem, DIR/ca/private/ca-key.pem, DIR/ca/crl.pem, DIR/ca/issued/, DIR/ca/certs/,
//   DIR/ca/index.json; owners' credentials in DIR/shops/ID/, DIR/users/ID/, DIR/pg/ (key.pem,
//   encrypted, mode 0600 in a 0700 directory, and cert.pem). A summary line on stdout; `list` prints
//   a table, or with --json {v, certificates: [{role,id,name,serial,fingerprint,notBefore,notAfter,revoked}]}.
//   Diagnostics go to stderr as "qrpay-ca: error: ...".
//
// Exit codes: 0 done; 64 usage; 65 bad data; 66 no such input (file, spool, payment); 70 internal
//             error; 73 cannot create; 74 I/O error; 75 try again later (a lock held, a full disk,
//             a missing or stale CRL); 77 permission denied or wrong password; 78 configuration
//             (no CA, no or mismatched credentials)

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayCommand

let program = "qrpay-ca"

@main
struct QRPayCA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-ca",
        abstract: "The QR-Pay certificate authority: creates the CA, issues, revokes and lists certificates.",
        discussion: """
            qrpay-ca is the first step of the QR-Pay pipeline. It keeps the CA repository in DIR/ca/ and \
            issues the certificates (SAN qrpay:<role>:<id>) with which shops, users and the payment gateway \
            sign payments, approvals and receipts. Every other program (qrpay-shop, qrpay-user, qrpay-approve, \
            qrpay-settle...) verifies signatures against DIR/ca/ca.pem and refuses revoked certificates, so \
            keep the CRL fresh with `qrpay-ca crl` before its nextUpdate (7 days by default).

            Exit status: 0 ok, 64 usage, 65 bad data, 66 no input, 73 cannot create, 74 I/O error, \
            77 wrong password, 78 configuration.
            """,
        version: QRPayVersion.text,
        subcommands: [Init.self, Request.self, Issue.self, Revoke.self, CRL.self, List.self])
}

/// Validates role and id as the core library does; unsafe ids exit 65.
func checkRoleAndId(role: String, id: String) throws -> Role {
    var parsed: Role? = nil
    try runReportingErrors(program) {
        try Identifier.validate(id, what: "\(role) id")
        guard let r = Role(rawValue: role) else {
            throw QRPayError.usage("--role must be one of shop, user, pg (not \"\(role)\")")
        }
        parsed = r
    }
    return parsed!
}

extension QRPayCA {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the spool's CA: an encrypted P-256 root key, the self-signed root certificate and a CRL.",
            discussion: "Refuses (exit 73) when DIR/ca/ already holds a CA.")

        @OptionGroup var spool: SpoolOptions
        @Option(help: "The CA's display name (subject CN).") var name: String
        @Option(help: ArgumentHelp("File whose first line is the password protecting the CA key.", valueName: "file"))
        var passwordFile: String
        @Option(help: "Validity of the root certificate in days.") var days: Int = 3650

        func validate() throws {
            guard !name.isEmpty else { throw ValidationError("--name must not be empty") }
            guard days > 0 && days <= 36500 else { throw ValidationError("--days must be 1 to 36500") }
        }

        func run() throws {
            try runReportingErrors(program) {
                let password = try readPasswordFile(passwordFile)
                let ca = try CertificateAuthority.create(spoolRoot: spool.root, name: name, password: password, validityDays: days)
                print("created CA \"\(ca.certificate.displayName)\" in \(spool.root)/ca (fingerprint \(ca.certificate.fingerprint))")
            }
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a certificate for a shop, user or the PG.",
            discussion: """
                With --csr the owner keeps its private key and only the certificate is made. With --password-file \
                the CA generates a P-256 key and stores it encrypted with that password in the owner's directory \
                (DIR/shops/ID/, DIR/users/ID/ or DIR/pg/), where the owner's program finds it. The certificate \
                goes to DIR/ca/ and, as cert.pem, to the owner's directory.

                An id that already has a valid (unrevoked, unexpired) certificate is refused (exit 73): \
                give --renew to issue the new one and revoke the old one (the CRL is re-issued; what the \
                old certificate signed before stays valid).
                Example: qrpay-ca issue --role shop --id 1001 --name "Coffee House" --ca-password-file ca.pass --csr request.csr --renew
                """)

        @OptionGroup var spool: SpoolOptions
        @Option(help: ArgumentHelp("shop, user or pg.", valueName: "role")) var role: String
        @Option(help: "The owner's id: 1-64 of A-Z a-z 0-9 . _ - (not . or ..).") var id: String
        @Option(help: "The owner's display name (subject CN).") var name: String
        @Option(help: ArgumentHelp("File whose first line is the CA key's password.", valueName: "file"))
        var caPasswordFile: String
        @Option(help: ArgumentHelp("Generate the owner's key and encrypt it with the password in this file.", valueName: "file"))
        var passwordFile: String?
        @Option(help: ArgumentHelp("Certify the key of this PEM certificate request instead.", valueName: "file"))
        var csr: String?
        @Option(help: "Validity in days.") var days: Int = 365
        @Flag(help: "Replace a valid certificate of this role and id: issue the new one and revoke the old one.")
        var renew = false

        func validate() throws {
            guard (passwordFile == nil) != (csr == nil) else {
                throw ValidationError("give exactly one of --password-file (generate the key) and --csr (certify the owner's key)")
            }
            guard days > 0 && days <= 36500 else { throw ValidationError("--days must be 1 to 36500") }
            guard !name.isEmpty else { throw ValidationError("--name must not be empty") }
            _ = try checkRoleAndId(role: role, id: id)
        }

        func run() throws {
            let role = try checkRoleAndId(role: role, id: id)
            try runReportingErrors(program) {
                try spool.requireSpool()
                let caPassword = try readPasswordFile(caPasswordFile, what: "CA password file")
                let ca = try CertificateAuthority(spoolRoot: spool.root)
                let existing: CertificateAuthority.ExistingCertificate = renew ? .revoke : .refuse
                let replaced = renew ? try ca.validCertificates(role: role, id: id) : []
                if !renew, let old = try ca.validCertificates(role: role, id: id).last {
                    // Before the key is unlocked or a new key made: nothing is written.
                    throw QRPayError(.caAlreadyIssued, "\(role.rawValue) \(id) already has a valid certificate (serial \(old.serial), until \(Timestamp.format(old.notAfter))): give --renew to issue a new one and revoke it")
                }
                let cert: Certificate
                if let csr {
                    cert = try usingPassword(from: "--ca-password-file", file: caPasswordFile) {
                        try ca.issue(role: role, id: id, name: name, caPassword: caPassword,
                                     csrPEM: try FileIO.read(csr, maxBytes: 64 * 1024), validityDays: days, existing: existing)
                    }
                } else {
                    let password = try readPasswordFile(passwordFile!)
                    cert = try usingPassword(from: "--ca-password-file", file: caPasswordFile) {
                        try ca.issue(role: role, id: id, name: name, caPassword: caPassword, ownerPassword: password, validityDays: days,
                                     existing: existing)
                    }
                }
                print("issued \(role.rawValue) \(id) serial \(cert.serialHex) fingerprint \(cert.fingerprint) until \(Timestamp.format(cert.notAfter))")
                for old in replaced {
                    print("revoked \(role.rawValue) \(id) serial \(old.serial) (renewed); CRL re-issued")
                }
            }
        }
    }

    struct Request: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make your own key and a certificate request (run as the owner: the PG, a shop or a user).",
            discussion: """
            Run by the owner as its own Unix user: generates a P-256 key, encrypts it with the password in \
            --password-file and stores it in the owner's directory (DIR/pg/, DIR/shops/ID/ or DIR/users/ID/, \
            key.pem, mode 0600), and writes a certificate request beside it (request.csr). Prints the \
            request's path. The CA's operator then certifies it with `qrpay-ca issue --role R --id ID --name N \
            --csr PATH`; the certificate is published in DIR/ca/certs/ROLE/ID.pem, where the owner's programs \
            find it. The CA never sees the key or its password. An existing key is never replaced (exit 73).
            Example: qrpay-ca request --spool /var/spool/qrpay --role shop --id 1001 --password-file ~/.qrpay.pass
            """)

        @OptionGroup var spool: SpoolOptions
        @Option(help: ArgumentHelp("shop, user or pg.", valueName: "role")) var role: String
        @Option(help: "Your id as the CA will certify it (ignored for the PG; default for the PG: PG).") var id: String = "PG"
        @Option(help: ArgumentHelp("File whose first line is the password that will protect your key.", valueName: "file"))
        var passwordFile: String

        func validate() throws { _ = try checkRoleAndId(role: role, id: id) }

        func run() throws {
            let role = try checkRoleAndId(role: role, id: id)
            try runReportingErrors(program) {
                try spool.requireSpool()
                let password = try readPasswordFile(passwordFile)
                let path = try CertificateAuthority.request(layout: SpoolLayout(root: spool.root), role: role, id: id, password: password)
                print(path)
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke every certificate of a role and id, and re-issue the CRL.")

        @OptionGroup var spool: SpoolOptions
        @Option(help: ArgumentHelp("shop, user or pg.", valueName: "role")) var role: String
        @Option(help: "The owner's id.") var id: String
        @Option(help: ArgumentHelp("File whose first line is the CA key's password.", valueName: "file"))
        var caPasswordFile: String

        func validate() throws { _ = try checkRoleAndId(role: role, id: id) }

        func run() throws {
            let role = try checkRoleAndId(role: role, id: id)
            try runReportingErrors(program) {
                try spool.requireSpool()
                let caPassword = try readPasswordFile(caPasswordFile, what: "CA password file")
                try usingPassword(from: "--ca-password-file", file: caPasswordFile) {
                    try CertificateAuthority(spoolRoot: spool.root).revoke(role: role, id: id, caPassword: caPassword)
                }
                print("revoked \(role.rawValue) \(id); CRL re-issued")
            }
        }
    }

    struct CRL: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "crl",
            abstract: "Re-issue the CRL (do it before the current one's nextUpdate: a stale CRL stops every stage).")

        @OptionGroup var spool: SpoolOptions
        @Option(help: ArgumentHelp("File whose first line is the CA key's password.", valueName: "file"))
        var caPasswordFile: String
        @Option(parsing: .unconditional, help: ArgumentHelp("How long the CRL is valid: 90s, 15m, 2h, 7d.", valueName: "duration"))
        var validFor: String = "7d"

        func validate() throws {
            let seconds: TimeInterval
            seconds = try parseDuration(validFor, option: "--valid-for")
            guard seconds > 0 else { throw ValidationError("--valid-for must be positive") }
        }

        func run() throws {
            try runReportingErrors(program) {
                try spool.requireSpool()
                let caPassword = try readPasswordFile(caPasswordFile, what: "CA password file")
                let seconds = try Duration.parse(validFor)
                try usingPassword(from: "--ca-password-file", file: caPasswordFile) {
                    try CertificateAuthority(spoolRoot: spool.root).issueCRL(caPassword: caPassword, validFor: seconds)
                }
                print("CRL issued, next update \(Timestamp.format(Date().addingTimeInterval(seconds)))")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every certificate the CA has issued.")

        @OptionGroup var spool: SpoolOptions
        @Flag(help: "Print a JSON array instead of a table.") var json = false

        func run() throws {
            try runReportingErrors(program) {
                try spool.requireSpool()
                let issued = try CertificateAuthority(spoolRoot: spool.root).list()
                if json {
                    printJSON(["v": 1, "certificates": .array(issued.map(\.json))])
                    return
                }
                print(["ROLE", "ID", "SERIAL", "NOT AFTER", "REVOKED", "NAME"].joined(separator: "\t"))
                for c in issued {
                    print([c.role.rawValue, c.id, c.serial, Timestamp.format(c.notAfter),
                           c.revoked.map(Timestamp.format) ?? "-", c.name].joined(separator: "\t"))
                }
            }
        }
    }
}
