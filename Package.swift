// swift-tools-version:6.0
//
// QR-Pay: a secure QR payment system (Lee, Cho, Jun) as a spool-driven batch pipeline.
// C libraries are wrapped in C<Name> system-library modules and imported with
// `internal import` by the core library only; executables stay thin.
import PackageDescription

// Every program has its folder Sources/<program>/, as Postfix has one per daemon.
let programs = [
    "qrpay-ca", "qrpay-shop", "qrpay-register", "qrpay-user", "qrpay-scan",
    "qrpay-approve", "qrpay-settle", "qrpay-payout", "qrpay-spool", "qrpay-reconcile",
    // Not an operator's program: benchmarks and phone-like test photos for `make bench` and `make demo`.
    "qrpay-bench",
]

func systemLibrary(_ name: String, pkg: String?) -> Target {
    .systemLibrary(
        name: name,
        path: "Sources/\(name)",
        pkgConfig: pkg,
        providers: [.apt(["libssl-dev", "libqrencode-dev", "libzbar-dev", "libpng-dev",
                          "libjpeg62-turbo-dev", "libjansson-dev"])])
}

var targets: [Target] = [
    systemLibrary("COpenSSL", pkg: "openssl"),
    systemLibrary("CQRencode", pkg: "libqrencode"),
    systemLibrary("CZbar", pkg: "zbar"),
    systemLibrary("CPNG", pkg: "libpng16"),
    systemLibrary("CJPEG", pkg: "libjpeg"),
    systemLibrary("CJansson", pkg: "jansson"),
    // libxml2: payout files written (xmlTextWriter) and bank files parsed strictly (no network, no entities).
    .systemLibrary(name: "CXML2", path: "Sources/CXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
    // zxing-cpp (Debian's libzxing-dev): the decoder's second engine, behind a small C++ shim.
    .systemLibrary(name: "CZXing", path: "Sources/CZXing", pkgConfig: "zxing", providers: [.apt(["libzxing-dev"])]),
    .target(name: "CQRPayZXing", dependencies: ["CZXing"], path: "Sources/CQRPayZXing"),
    // Small C shims for what Swift cannot import (macros, setjmp/longjmp error handlers).
    .target(name: "CQRPayShims", dependencies: ["COpenSSL", "CJPEG", "CPNG", "CJansson"]),
    // Optimized in debug builds too: its pixel loops (photo synthesis, thresholds, warps) and JSON
    // run 5x faster, and the test suite, which runs debug builds, spends most of its time there.
    // `swift build -c release` is unaffected; the other modules stay -Onone for debugging.
    .target(
        name: "QRPayCore",
        dependencies: ["COpenSSL", "CQRencode", "CZbar", "CPNG", "CJPEG", "CJansson", "CQRPayShims", "CQRPayZXing", "CXML2"],
        exclude: ["Spool/LAYOUT.md"],
        swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
    // The git commit the programs are built from, for --version (nil without git).
    .plugin(name: "GitCommit", capability: .buildTool(), path: "Plugins/GitCommit"),
    .target(
        name: "QRPayCommand",
        dependencies: ["QRPayCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
        plugins: ["GitCommit"]),
    // Fuzz targets' one-input functions: Fuzz/ (its own package) runs them under libFuzzer, and
    // QRPayFuzzTests replays the committed corpora and regression inputs through them.
    .target(name: "QRPayFuzz", dependencies: ["QRPayCore"]),
    .testTarget(
        name: "QRPayFuzzTests",
        dependencies: ["QRPayFuzz", "QRPayCore"],
        exclude: ["Corpus", "Regressions"]),
    .testTarget(
        name: "QRPayCoreTests",
        dependencies: ["QRPayCore", "QRPayCommand"],
        resources: [.copy("Fixtures")]),
]

for program in programs {
    targets.append(.executableTarget(
        name: program,
        dependencies: ["QRPayCore", "QRPayCommand",
                       .product(name: "ArgumentParser", package: "swift-argument-parser")],
        path: "Sources/\(program)"))
}

let package = Package(
    name: "QRPay",
    platforms: [.macOS(.v13)],
    products: [.library(name: "QRPayCore", targets: ["QRPayCore"]), .library(name: "QRPayFuzz", targets: ["QRPayFuzz"])]
        + programs.map { .executable(name: $0, targets: [$0]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: targets,
    cxxLanguageStandard: .cxx17
)
