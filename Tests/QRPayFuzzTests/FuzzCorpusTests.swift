// The fuzz targets' seed corpora and regression inputs, replayed through the very functions the
// libFuzzer executables in Fuzz/ run (no fuzzer runtime needed): no input may break an invariant,
// seeds named ok-… must be accepted and no-… refused, and every crash libFuzzer ever found stays
// fixed (Regressions/TARGET/, one file per finding, named for what it was).

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI
import QRPayImaging
import QRPayDecoder
import QRPayTestPhotos
import QRPayPayments
import QRPayLedger
import QRPayStages
import QRPayShopClient
import QRPayUserClient
import QRPayOperations
import QRPayFuzz
import Testing

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

func inputs(_ kind: String, _ target: String) -> [(name: String, data: Data)] {
    let dir = packageRoot + "/Tests/QRPayFuzzTests/\(kind)/\(target)"
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    return names.compactMap { name in (try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))).map { (name, $0) } }
}

@Suite struct FuzzCorpusTests {
    @Test(arguments: FuzzTargets.names)
    func seedCorpus(target: String) throws {
        let seeds = inputs("Corpus", target)
        #expect(!seeds.isEmpty, "no seeds for \(target): run make fuzz-seeds")
        for seed in seeds {
            let outcome = try FuzzTargets.run(name: target, data: seed.data)
            if seed.name.hasPrefix("ok-") { #expect(outcome == .accepted, "\(target)/\(seed.name): \(outcome)") }
            if seed.name.hasPrefix("no-") { #expect(outcome != .accepted, "\(target)/\(seed.name) was accepted") }
        }
    }

    @Test(arguments: FuzzTargets.names)
    func regressionInputs(target: String) throws {
        for input in inputs("Regressions", target) {
            // A violation throws (and fails the test); a crash would end the test process.
            _ = try FuzzTargets.run(name: target, data: input.data)
        }
    }

    @Test func regressionDirectoriesNameTargets() throws {
        let dir = packageRoot + "/Tests/QRPayFuzzTests/Regressions"
        let names = (try FileManager.default.contentsOfDirectory(atPath: dir)).filter { !$0.hasPrefix(".") }
        #expect(Set(names).isSubset(of: FuzzTargets.names), "\(names.sorted())")
    }

    @Test func violationsAreReported() throws {
        #expect(throws: FuzzViolation.self) { try FuzzTargets.run(name: "no-such-target", data: Data()) }
        // Mutating an accepted seed's signature must be refused, never accepted or crash.
        let seed = try #require(inputs("Corpus", "jws").first { $0.name == "ok-payment-compact" })
        var text = String(decoding: seed.data, as: UTF8.self)
        let last = text.removeLast()
        text.append(last == "A" ? "Q" : "A")
        #expect(try FuzzTargets.run(name: "jws", data: Data(text.utf8)) != .accepted)
    }
}

/// `make fuzz-seeds`: regenerates the fixture PKI and the seed corpora (then rebuild and test).
@Suite struct FuzzSeedTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["QRPAY_FUZZ_REGENERATE"] == "1"))
    func regenerate() throws {
        try FuzzSeeds.regenerate(packageRoot: packageRoot)
    }
}

@Suite struct FuzzPackageTests {
    /// Fuzz/Package.swift lists the targets again (a manifest cannot import QRPayFuzz): each has its executable.
    @Test(arguments: FuzzTargets.names)
    func everyTargetHasItsFuzzer(target: String) throws {
        let main = try String(contentsOfFile: packageRoot + "/Fuzz/Sources/fuzz-\(target)/main.swift", encoding: .utf8)
        #expect(main.contains("FuzzTargets.testOneInput(\"\(target)\""))
        let manifest = try String(contentsOfFile: packageRoot + "/Fuzz/Package.swift", encoding: .utf8)
        #expect(manifest.contains("\"\(target)\""))
    }
}
