// swift-tools-version:6.0
//
// QR-Pay: a secure QR payment system (Lee, Cho, Jun) as a spool-driven batch pipeline.
// C libraries are wrapped in C<Name> system-library modules and imported with `internal import` by
// the core's layer targets only; executables stay thin. Linux only.
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

// The core, one target a layer; each imports only layers below it (LayerTests checks the imports
// against this table; the README's architecture section draws it):
//
//   QRPaySupport      errors catalogue, strict JSON, the POSIX layer, ids, time     (OpenSSL digest, Jansson)
//   QRPaySpool        layout mechanics, queues, the group commit, the stage runner  (Support)
//   QRPayPKI          keys, certificates, CA, trust store, JWS                      (Support, Spool: the CA's files)
//   QRPayImaging      PNG/JPEG codecs, QR PNGs (libqrencode)                        (Support)
//   QRPayDecoder      finding and reading codes in photos (zbar, zxing-cpp)         (Imaging)
//   QRPayTestPhotos   phone-like photo synthesis: bench and tests only              (Imaging, Decoder)
//   QRPayPayments     what a payment is: money, payment information, documents, notices and receipts
//   QRPayLedger       the PG's record: payment records, journal, due index, payouts, accounts
//   QRPayStages       the PG's stages: register, approve, settle, payout; ISO 20022 (libxml2)
//   QRPayShopClient   the shop's side: signing payments and cancels, dropping them (no ledger)
//   QRPayUserClient   the user's side: photo to verified payment to signed approval (no ledger)
//   QRPayOperations   check, reports, reconcile, queue tools, set-up
//   QRPayCommand      what every program's command line shares
let layers: [(name: String, dependencies: [Target.Dependency])] = [
    ("QRPaySupport", ["COpenSSL", "CJansson", "CQRPayShims"]),
    ("QRPaySpool", ["QRPaySupport"]),
    ("QRPayPKI", ["QRPaySupport", "QRPaySpool", "COpenSSL", "CQRPayShims"]),
    ("QRPayImaging", ["QRPaySupport", "CQRencode", "CPNG", "CJPEG", "CQRPayImageShims"]),
    ("QRPayDecoder", ["QRPaySupport", "QRPayImaging", "CZbar", "CQRPayZXing"]),
    ("QRPayTestPhotos", ["QRPaySupport", "QRPayImaging", "QRPayDecoder"]),
    ("QRPayPayments", ["QRPaySupport", "QRPaySpool", "QRPayPKI"]),
    ("QRPayLedger", ["QRPaySupport", "QRPaySpool", "QRPayPKI", "QRPayPayments"]),
    ("QRPayStages", ["QRPaySupport", "QRPaySpool", "QRPayPKI", "QRPayImaging", "QRPayPayments", "QRPayLedger", "CXML2"]),
    ("QRPayShopClient", ["QRPaySupport", "QRPaySpool", "QRPayPKI", "QRPayPayments"]),
    ("QRPayUserClient", ["QRPaySupport", "QRPaySpool", "QRPayPKI", "QRPayImaging", "QRPayDecoder", "QRPayPayments"]),
    ("QRPayOperations", ["QRPaySupport", "QRPaySpool", "QRPayPKI", "QRPayPayments", "QRPayLedger", "QRPayStages"]),
]

// What each program links, beyond QRPayCommand: only what it uses. A program that reads no image
// links neither zbar nor zxing-cpp nor libstdc++ (LayerTests checks with ldd and readelf); those
// that read images: qrpay-user and qrpay-scan (photos), qrpay-shop (`show` reads the PG's QR PNG
// back before it displays it) and qrpay-bench.
let programLayers: [String: [String]] = [
    "qrpay-ca": [],
    "qrpay-shop": ["QRPayShopClient", "QRPayImaging", "QRPayDecoder"],
    "qrpay-register": ["QRPayStages"],
    "qrpay-user": ["QRPayUserClient", "QRPayDecoder"],
    "qrpay-scan": ["QRPayUserClient"],
    "qrpay-approve": ["QRPayStages"],
    "qrpay-settle": ["QRPayStages"],
    "qrpay-payout": ["QRPayStages"],
    "qrpay-spool": ["QRPayOperations", "QRPayLedger"],
    "qrpay-reconcile": ["QRPayOperations"],
    "qrpay-bench": ["QRPayOperations", "QRPayStages", "QRPayLedger", "QRPayImaging", "QRPayDecoder", "QRPayTestPhotos"],
]

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
    // Small C shims for what Swift cannot import (OpenSSL, Jansson and fcntl macros) ...
    .target(name: "CQRPayShims", dependencies: ["COpenSSL", "CJansson"]),
    // ... and libjpeg/libpng calls whose error handlers longjmp (kept in C), for the imaging layer only.
    .target(name: "CQRPayImageShims", dependencies: ["CJPEG", "CPNG"]),
    // The git commit the programs are built from, for --version (nil without git).
    .plugin(name: "GitCommit", capability: .buildTool(), path: "Plugins/GitCommit"),
    .target(
        name: "QRPayCommand",
        dependencies: ["QRPaySupport", "QRPaySpool", "QRPayPKI", "QRPayPayments", .product(name: "ArgumentParser", package: "swift-argument-parser")],
        plugins: ["GitCommit"]),
    // Fuzz targets' one-input functions: Fuzz/ (its own package) runs them under libFuzzer, and
    // QRPayFuzzTests replays the committed corpora and regression inputs through them.
    .target(name: "QRPayFuzz", dependencies: ["QRPaySupport", "QRPaySpool", "QRPayPKI", "QRPayImaging", "QRPayDecoder", "QRPayTestPhotos",
                                              "QRPayPayments", "QRPayLedger", "QRPayStages", "QRPayUserClient", "QRPayOperations"]),
    .testTarget(
        name: "QRPayFuzzTests",
        dependencies: ["QRPayFuzz", "QRPaySupport", "QRPayDecoder"],
        exclude: ["Corpus", "Regressions"]),
    .testTarget(
        name: "QRPayTests",
        dependencies: layers.map { .target(name: $0.name) } + ["QRPayCommand"],
        exclude: ["README.md"],
        resources: [.copy("Fixtures")]),
]
targets += layers.map { layer in
    .target(name: layer.name, dependencies: layer.dependencies, exclude: layer.name == "QRPaySpool" ? ["LAYOUT.md"] : [])
}

for program in programs {
    targets.append(.executableTarget(
        name: program,
        dependencies: (programLayers[program] ?? []).map { .target(name: $0) }
            + ["QRPaySupport", "QRPaySpool", "QRPayPKI", "QRPayPayments", "QRPayCommand",
               .product(name: "ArgumentParser", package: "swift-argument-parser")],
        path: "Sources/\(program)"))
}

let package = Package(
    name: "QRPay",
    // Linux only: the spool relies on inotify, syncfs, O_TMPFILE and renameat2 (no platforms entry:
    // SwiftPM's platforms list only Apple's, and none of them is supported).
    products: [.library(name: "QRPayFuzz", targets: ["QRPayFuzz"])]
        + programs.map { .executable(name: $0, targets: [$0]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: targets,
    cxxLanguageStandard: .cxx17
)
