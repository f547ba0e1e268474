// Shared command-line pieces of every QR-Pay program: the `--spool` option group, password files,
// and the one place where errors become a message on stderr and a sysexits status.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI

/// `--spool DIR`, shared by every program. Default: `$QRPAY_SPOOL`, then `./Spool`.
package struct SpoolOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The spool root directory (default: $QRPAY_SPOOL, else ./Spool).",
        valueName: "dir"))
    package var spool: String?

    package init() {}

    /// The spool root, resolved to an absolute path.
    package var root: String {
        let chosen = spool ?? ProcessInfo.processInfo.environment["QRPAY_SPOOL"].flatMap { $0.isEmpty ? nil : $0 } ?? "./Spool"
        return URL(fileURLWithPath: chosen).standardizedFileURL.path
    }

    /// `spool.missing` (exit 66) unless the spool root is a directory: a typo in --spool must never
    /// look like an empty spool.
    package func requireSpool() throws {
        guard FileIO.isDirectory(root) else {
            let from = spool != nil ? "--spool" : (ProcessInfo.processInfo.environment["QRPAY_SPOOL"].map { $0.isEmpty ? nil : $0 } ?? nil) != nil ? "$QRPAY_SPOOL" : "the default ./Spool"
            throw QRPayError(.spoolMissing, "there is no spool at \(root) (from \(from)): give the spool's directory with --spool DIR or set $QRPAY_SPOOL")
        }
    }
}

/// Reads a password file: its bytes exactly, one trailing newline removed (`Password.read(file:)`):
/// empty files and NUL bytes are refused.
package func readPasswordFile(_ path: String, what: String = "password file") throws -> Password {
    try Password.read(file: path, what: what)
}

/// Runs `body`; a wrong password (`pki.password`) then says which option gave it, so the operator
/// knows which file to fix.
package func usingPassword<T>(from option: String, file: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as QRPayError where e.code == .pkiPassword {
        throw QRPayError(.pkiPassword, "\(e.message) Check the password in \(file) (\(option)).")
    }
}

/// Runs `body`, turning a `QRPayError` into `qrpay-xxx: message` on stderr and its sysexits status.
package func runReportingErrors(_ program: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as QRPayError {
        assert(ProgramCatalogue.declares(program, error.code),
               "\(program) raised \(error.code.rawValue), an area ProgramCatalogue does not declare for it")
        var message = error.message
        if error.code == .ioPermission || error.code == .pkiPasswordFile {
            // Which user was refused: the operator runs each party as its own Unix user.
            message += " (running as \(currentUserDescription()))"
        }
        Diagnostics.error(program, message)
        throw ExitCode(error.exit.rawValue)
    }
}

/// "user qrpay-pg (uid 998)", or "uid 61001" for a uid without a name.
package func currentUserDescription() -> String {
    let uid = geteuid()
    if let pw = getpwuid(uid) { return "user \(String(cString: pw.pointee.pw_name)) (uid \(uid))" }
    return "uid \(uid)"
}

package enum Diagnostics {
    package static func error(_ program: String, _ message: String) {
        StandardError.write("\(program): error: \(message)\n")
    }
    package static func info(_ program: String, _ message: String) {
        StandardError.write("\(program): \(message)\n")
    }
}

/// Prints a JSON value on stdout (pretty, sorted keys).
package func printJSON(_ value: JSONValue) {
    FileHandle.standardOutput.write(value.serialized(pretty: true))
}
