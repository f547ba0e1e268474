// Fuzz targets: one function per kind of untrusted input, each taking one input and checking the
// invariants the rest of QR-Pay relies on.
//
// The libFuzzer executables in Fuzz/ (built with -sanitize=fuzzer,address) call `FuzzTargets.run`
// from LLVMFuzzerTestOneInput; the normal test suite (Tests/QRPayFuzzTests) replays the committed
// seed corpora and regression inputs through the very same functions. This library uses only
// the core's package API (QRPayFuzz's own API is public for the Fuzz package), so the normal build needs no fuzzer runtime.
//
// What every target checks, beyond "no crash" (libFuzzer and the sanitizers catch crashes, leaks of
// control, hangs over -timeout and memory over -rss_limit_mb):
//  - a refused input is refused with a QRPayError whose code is in the error catalogue and whose
//    message is not empty; any other error is a violation;
//  - a parsed value serialises to a form that parses back to the same value, and serialising that
//    again gives the same bytes (the serialised form is a fixed point);
//  - the target's own facts (see each target).
// A violation throws `FuzzViolation`; the libFuzzer entry turns it into a crash with its message.

import Foundation
import QRPaySupport

/// An invariant that did not hold: a bug, found by a fuzz target.
public struct FuzzViolation: Error, CustomStringConvertible {
    public let target: String
    public let message: String
    public var description: String { "fuzz target \(target): invariant violated: \(message)" }
}

/// What a target made of one input.
public enum FuzzOutcome: Equatable, Sendable, CustomStringConvertible {
    /// The input was accepted (parsed, verified, decoded...).
    case accepted
    /// The input was refused with this QRPayError code.
    case refused(String)

    public var description: String {
        switch self {
        case .accepted: return "accepted"
        case .refused(let code): return "refused (\(code))"
        }
    }
}

public enum FuzzTargets {
    /// Every target, by name (the libFuzzer executable of target NAME is `fuzz-NAME`).
    public static let names: [String] = all.map(\.name)

    static let all: [(name: String, run: @Sendable (Data) throws -> FuzzOutcome)] = [
        ("json", JSONTarget.run),
        ("jws", JWSTarget.run),
        ("payment", PaymentTarget.run),
        ("documents", DocumentsTarget.run),
        ("qr-payload", QRPayloadTarget.run),
        ("base64url", Base64URLTarget.run),
        ("certificate", CertificateTarget.run),
        ("crl", CRLTarget.run),
        ("png", ImageTargets.png),
        ("jpeg", ImageTargets.jpeg),
        ("decoder", ImageTargets.decoder),
        ("reason", ReasonTarget.run),
        ("journal", JournalTarget.run),
        ("list-entry", ListEntryTarget.run),
        ("bank", BankTarget.run),
    ]

    /// Runs target `name` on one input. Throws `FuzzViolation` when an invariant fails (or the
    /// target name is unknown); returns what the target made of the input otherwise.
    public static func run(name: String, data: Data) throws -> FuzzOutcome {
        guard let target = all.first(where: { $0.name == name }) else {
            throw FuzzViolation(target: name, message: "no such target (targets: \(names.joined(separator: ", ")))")
        }
        do {
            return try target.run(data)
        } catch let violation as FuzzViolation {
            throw FuzzViolation(target: name, message: violation.message)
        } catch {
            throw FuzzViolation(target: name, message: "an error that is not a QRPayError escaped: \(error)")
        }
    }

    /// The body of LLVMFuzzerTestOneInput: runs `name` on the bytes, and crashes with the message
    /// when an invariant fails (libFuzzer then keeps the input as a crash artifact).
    public static func testOneInput(_ name: String, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int32 {
        let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
        do {
            _ = try run(name: name, data: data)
        } catch {
            fatalError("\(error)")
        }
        return 0
    }
}

// MARK: - shared checks

/// The error convention: a QRPayError with a code from the catalogue (ErrorCode.all) and a message.
func refused(_ error: Error) throws -> FuzzOutcome {
    guard let error = error as? QRPayError else {
        throw FuzzViolation(target: "", message: "an error that is not a QRPayError: \(type(of: error)): \(error)")
    }
    try checkError(error)
    return .refused(error.code.rawValue)
}

func checkError(_ error: QRPayError) throws {
    guard ErrorCode.named(error.code.rawValue) == error.code else {
        throw FuzzViolation(target: "", message: "error code \"\(error.code.rawValue)\" is not in the error catalogue (\(error.message))")
    }
    guard !error.message.isEmpty else { throw FuzzViolation(target: "", message: "error \(error.code.rawValue) has an empty message") }
}

/// Runs `body`, which parses (or verifies...) untrusted input: a thrown QRPayError is a refusal
/// (checked for the error convention), any other error a violation; a value is passed on.
func attempt<T>(_ body: () throws -> T) throws -> Result<T, QRPayError> {
    do {
        return .success(try body())
    } catch let violation as FuzzViolation {
        throw violation
    } catch let error as QRPayError {
        try checkError(error)
        return .failure(error)
    } catch {
        throw FuzzViolation(target: "", message: "an error that is not a QRPayError: \(type(of: error)): \(error)")
    }
}

/// Fails with `message` unless `condition` holds.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) throws {
    if !condition() { throw FuzzViolation(target: "", message: message()) }
}

/// Something that must not fail (serialised output parsing back, for example): its error is a violation.
@discardableResult
func must<T>(_ what: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let violation as FuzzViolation {
        throw violation
    } catch {
        throw FuzzViolation(target: "", message: "\(what) failed: \(error)")
    }
}

/// The input as text, as QR-Pay reads text it did not write (invalid UTF-8 replaced).
func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }
