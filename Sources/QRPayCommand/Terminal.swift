// The person at the terminal: whether there is one, a yes/no question, a password typed without echo.
// A program that signs for a person asks on the terminal itself (/dev/tty), never on a pipe.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPayPKI
#if canImport(Glibc)
import Glibc
#endif

package enum Terminal {
    /// True when standard input is a terminal: a person runs the command and can answer.
    package static var isInteractive: Bool { isatty(0) == 1 }

    /// Asks `question` on the terminal; true only for an answer starting with y or Y.
    package static func confirm(_ question: String) throws -> Bool {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw QRPayError(.pkiPasswordTerminal, "there is no terminal to ask for confirmation") }
        defer { close(fd) }
        _ = question.withCString { Glibc.write(fd, $0, strlen($0)) }
        var answer: [UInt8] = []
        var byte: UInt8 = 0
        while answer.count < 256 {
            let n = Glibc.read(fd, &byte, 1)
            if n < 0 { if errno == EINTR { continue }; break }
            if n == 0 || byte == 0x0A { break }
            answer.append(byte)
        }
        return answer.first == UInt8(ascii: "y") || answer.first == UInt8(ascii: "Y")
    }
}

/// Where a program that unlocks a key gets the password: `--password-file F`, `--password-stdin`, or
/// (on a terminal, when the program allows it) a prompt without echo.
package struct PasswordOptions: ParsableArguments {
    @Option(help: ArgumentHelp("File holding the password of the private key (its bytes; one trailing newline is removed).", valueName: "file"))
    package var passwordFile: String?
    @Flag(help: "Read the password from standard input (up to the first newline).")
    package var passwordStdin = false

    package init() {}

    package func validate() throws {
        if passwordFile != nil && passwordStdin { throw ValidationError("give --password-file or --password-stdin, not both") }
    }

    /// True when a password source was given on the command line.
    package var given: Bool { passwordFile != nil || passwordStdin }

    /// The password, from the file, standard input or the terminal (`prompt`), in that order.
    package func read(prompt: String, what: String) throws -> Password {
        if let passwordFile { return try Password.read(file: passwordFile, what: what) }
        if passwordStdin { return try Password.readStandardInput() }
        guard Terminal.isInteractive else {
            throw QRPayError(.pkiPasswordTerminal, "there is no terminal to ask for \(what): give --password-file FILE or --password-stdin")
        }
        return try Password.readTerminal(prompt: prompt)
    }
}
