// swift-tools-version:5.4
//
// QR-Pay's libFuzzer executables, a package of its own so that the main build never needs the
// fuzzer runtime. Each fuzz-NAME is a thin LLVMFuzzerTestOneInput around FuzzTargets.run(name:)
// in the main package's QRPayFuzz library (where the normal test suite replays the same targets).
// Built by `make fuzz` / `make fuzz-smoke` with:
//
//   swift build --package-path Fuzz --scratch-path .build-fuzz -c release --sanitize=address \
//       -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xcc -fsanitize=fuzzer-no-link
//
// Tools version 5.4 on purpose: from 5.5 on, SwiftPM links executables with `main` renamed to
// `<module>_main` (so tests can link them), which libFuzzer's own `main` cannot satisfy; the
// executables here have no Swift entry point (-parse-as-library), libFuzzer's main is theirs.
import PackageDescription

// Must match FuzzTargets.names (a test in QRPayFuzzTests checks that every name has its folder).
let targets = ["json", "jws", "payment", "documents", "qr-payload", "base64url", "certificate", "crl",
               "png", "jpeg", "decoder", "reason", "journal", "list-entry", "bank"]

let package = Package(
    name: "QRPayFuzzers",
    dependencies: [.package(name: "QRPay", path: "..")],
    targets: targets.map { name in
        .executableTarget(
            name: "fuzz-\(name)",
            dependencies: [.product(name: "QRPayFuzz", package: "QRPay")],
            path: "Sources/fuzz-\(name)")
    }
)
