// The architecture holds: Package.swift's `layers` table lists the core's targets bottom up, each
// depending only on layers listed before it; every source file imports only what its target
// declares (so never a layer above it); C libraries are imported with `internal import`, only by the
// targets that declare them; test photos stay out of every production program and the clients never
// reach the ledger; and a program that reads no image links neither zbar, zxing-cpp nor libstdc++.

import Foundation
import Testing

/// Package.swift's layer table and programs, read from the manifest's text.
struct PackageLayers {
    /// Layer targets in the table's order (bottom first) with their declared dependencies.
    var layers: [(name: String, dependencies: [String])]
    /// Each program's declared layers (beyond the base every program has).
    var programs: [String: [String]]
    /// QRPayFuzz's dependencies (the fuzz targets and their seed generator: test tooling).
    var fuzz: [String] = []
    /// What QRPayCommand depends on, and what every program depends on besides its own layers.
    var command: [String] = []
    var programBase: [String] = []

    static func load() throws -> PackageLayers {
        let text = try String(contentsOfFile: repositoryRoot + "/Package.swift", encoding: .utf8)
        return try parse(text)
    }

    static func parse(_ text: String) throws -> PackageLayers {
        func block(after marker: String) throws -> Substring {
            guard let start = text.range(of: marker), let end = text.range(of: "\n]\n", range: start.upperBound..<text.endIndex) else {
                throw LayerTestError("Package.swift has no `\(marker)` table")
            }
            return text[start.upperBound..<end.lowerBound]
        }
        func names(_ list: Substring) -> [String] {
            list.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"\n")) }.filter { !$0.isEmpty }
        }
        var layers: [(String, [String])] = []
        for match in try block(after: "let layers:").matches(of: /\("(QRPay\w+)", \[([^\]]*)\]\)/) {
            layers.append((String(match.1), names(match.2)))
        }
        var programs: [String: [String]] = [:]
        for match in try block(after: "let programLayers:").matches(of: /"(qrpay-[\w-]+)": \[([^\]]*)\]/) {
            programs[String(match.1)] = names(match.2)
        }
        /// The quoted target names of a dependency list (products such as ArgumentParser's aside).
        func targets(_ list: Substring) -> [String] {
            list.matches(of: /"(\w+)"/).map { String($0.1) }.filter { $0.hasPrefix("QRPay") || $0.first == "C" }
        }
        var package = PackageLayers(layers: layers, programs: programs)
        if let match = text.firstMatch(of: /\.target\(name: "QRPayFuzz", dependencies: \[([^\]]*)\]/) { package.fuzz = targets(match.1) }
        if let match = text.firstMatch(of: /name: "QRPayCommand",\s*dependencies: \[([^\]]*)\]/) { package.command = targets(match.1) }
        if let match = text.firstMatch(of: /\+ \[("QRPaySupport"[^\]]*)\]/) { package.programBase = targets(match.1) }
        return package
    }

    func dependencies(of target: String) -> [String]? {
        if let layer = layers.first(where: { $0.name == target }) { return layer.dependencies }
        if let own = programs[target] { return own + programBase }
        if target == "QRPayCommand" { return command }
        if target == "QRPayFuzz" { return fuzz }
        return nil
    }

    /// `target` and every target it reaches through declared dependencies.
    func closure(of target: String) -> Set<String> {
        var seen: Set<String> = []
        var stack = [target]
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            stack += dependencies(of: next) ?? []
        }
        return seen
    }
}

struct LayerTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One `import` line of a source file.
struct SourceImport: Equatable {
    var file: String
    var module: String
    var modifier: String  // "", "internal", "@testable", ...
}

enum LayerCheck {
    /// The imports of every Swift file under Sources/`target`.
    static func imports(of target: String) throws -> [SourceImport] {
        let folder = repositoryRoot + "/Sources/" + target
        guard let files = FileManager.default.enumerator(atPath: folder) else { throw LayerTestError("no folder \(folder)") }
        var out: [SourceImport] = []
        for case let file as String in files where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
            out += imports(in: text, file: target + "/" + file)
        }
        return out
    }

    static func imports(in text: String, file: String) -> [SourceImport] {
        text.split(separator: "\n").compactMap { line in
            guard let m = line.wholeMatch(of: /(?:(internal|public|package|@testable|@_implementationOnly) )?import (\w+)/) else { return nil }
            return SourceImport(file: file, module: String(m.2), modifier: m.1.map(String.init) ?? "")
        }
    }

    /// What is wrong with the layers and these imports (empty: nothing).
    static func violations(_ package: PackageLayers, imports: [String: [SourceImport]]) -> [String] {
        var out: [String] = []
        let order = package.layers.map(\.name)
        for (index, layer) in package.layers.enumerated() {
            for dependency in layer.dependencies where dependency.hasPrefix("QRPay") {
                guard let at = order.firstIndex(of: dependency) else {
                    out.append("\(layer.name) depends on \(dependency), which is not a layer"); continue
                }
                if at >= index { out.append("\(layer.name) depends on \(dependency), a layer at or above it") }
            }
        }
        for (target, list) in imports.sorted(by: { $0.key < $1.key }) {
            guard let declared = package.dependencies(of: target) else { out.append("\(target) is not in Package.swift's tables"); continue }
            let isLayer = order.contains(target)
            for i in list {
                if i.module.hasPrefix("QRPay") {
                    if i.module == target { continue }
                    if !declared.contains(i.module) {
                        let above = isLayer && (order.firstIndex(of: i.module).map { $0 > order.firstIndex(of: target)! } ?? false)
                        out.append("\(i.file) imports \(i.module)" + (above ? ", a layer above \(target)" : ", which \(target) does not declare"))
                    }
                } else if i.module.first == "C", i.module.dropFirst().first?.isUppercase == true {  // COpenSSL, CZbar, ...
                    if i.modifier != "internal" { out.append("\(i.file) imports the C module \(i.module) without `internal`") }
                    if !declared.contains(i.module) { out.append("\(i.file) imports the C module \(i.module), which \(target) does not declare") }
                }
            }
        }
        return out
    }
}

@Suite struct LayerTests {
    static let programs: [String] = {
        ((try? FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/Sources")) ?? [])
            .filter { $0.hasPrefix("qrpay-") }.sorted()
    }()

    @Test func everyTargetImportsOnlyTheLayersBelowIt() throws {
        let package = try PackageLayers.load()
        #expect(package.layers.count >= 10, "the layer table was not read: \(package.layers.map(\.name))")
        #expect(Set(package.programs.keys) == Set(Self.programs), "every program has a row in programLayers")
        var imports: [String: [SourceImport]] = [:]
        #expect(!package.fuzz.isEmpty && !package.command.isEmpty && package.programBase.contains("QRPayCommand"),
                "QRPayFuzz's, QRPayCommand's or the programs' dependencies were not read")
        for target in package.layers.map(\.name) + Self.programs + ["QRPayCommand", "QRPayFuzz"] {
            imports[target] = try LayerCheck.imports(of: target)
            #expect(!(imports[target] ?? []).isEmpty || target == "QRPaySupport", "\(target): no imports read")
        }
        let problems = LayerCheck.violations(package, imports: imports)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The checker is not vacuous: an upward import, an undeclared one, a C module imported publicly
    /// and a layer depending on a later one are each reported.
    @Test func anUpwardImportIsReported() throws {
        let package = try PackageLayers.parse("""
            let layers: [(name: String, dependencies: [Target.Dependency])] = [
                ("QRPaySupport", ["CJansson"]),
                ("QRPaySpool", ["QRPaySupport", "QRPayLedger"]),
                ("QRPayLedger", ["QRPaySupport", "QRPaySpool"]),
            ]
            let programLayers: [String: [String]] = [
                "qrpay-x": ["QRPayLedger"],
            ]

            """)
        let imports: [String: [SourceImport]] = [
            "QRPaySupport": LayerCheck.imports(in: "import Foundation\nimport CJansson\n", file: "QRPaySupport/JSON.swift"),
            "QRPaySpool": LayerCheck.imports(in: "import QRPaySupport\nimport QRPayLedger\ninternal import CZbar\n", file: "QRPaySpool/Queue.swift"),
            "QRPayLedger": LayerCheck.imports(in: "import QRPaySpool\nimport QRPayStages\n", file: "QRPayLedger/Journal.swift"),
            "qrpay-x": LayerCheck.imports(in: "import QRPayLedger\nimport QRPayDecoder\n", file: "qrpay-x/Main.swift"),
        ]
        let problems = LayerCheck.violations(package, imports: imports)
        #expect(problems.contains("QRPaySpool depends on QRPayLedger, a layer at or above it"))
        #expect(problems.contains("QRPaySupport/JSON.swift imports the C module CJansson without `internal`"))
        #expect(problems.contains("QRPaySpool/Queue.swift imports the C module CZbar, which QRPaySpool does not declare"))
        #expect(problems.contains("QRPayLedger/Journal.swift imports QRPayStages, which QRPayLedger does not declare"))
        #expect(problems.contains("qrpay-x/Main.swift imports QRPayDecoder, which qrpay-x does not declare"))
        #expect(problems.count == 5, "\(problems)")
    }

    /// Test photos are for the bench and the tests; the clients never reach the ledger or the stages;
    /// the spool layer knows no payment.
    @Test func productionCodeKeepsToItsSide() throws {
        let package = try PackageLayers.load()
        for program in Self.programs where program != "qrpay-bench" {
            #expect(!package.closure(of: program).contains("QRPayTestPhotos"), "\(program) reaches the test photos")
        }
        for client in ["QRPayShopClient", "QRPayUserClient", "qrpay-shop", "qrpay-user", "qrpay-scan"] {
            let reached = package.closure(of: client)
            #expect(reached.isDisjoint(with: ["QRPayLedger", "QRPayStages", "QRPayOperations"]), "\(client) reaches \(reached.sorted())")
        }
        let spool = package.closure(of: "QRPaySpool")
        #expect(spool == ["QRPaySpool", "QRPaySupport", "COpenSSL", "CJansson", "CQRPayShims"], "\(spool.sorted())")
    }

    /// Programs that read an image link zbar and zxing-cpp; every other program links neither, and
    /// does not itself need libstdc++ (the Swift runtime's libswiftCore does, so `ldd` lists it for
    /// every Swift program: the program's own NEEDED entries are what it pulls in).
    @Test(arguments: programs)
    func programLinksOnlyWhatItUses(program: String) throws {
        let path = programDirectory() + "/" + program
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("\(path) is not built (make test builds every program)")
            return
        }
        let package = try PackageLayers.load()
        let readsImages = package.closure(of: program).contains("QRPayDecoder")
        let ldd = runExecutable("/usr/bin/ldd", [path])
        try #require(ldd.status == 0, "\(ldd.stderr)")
        let readelf = runExecutable(tool("readelf"), ["-d", "-W", path])
        try #require(readelf.status == 0, "\(readelf.stderr)")
        let needed = readelf.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }.map(String.init)
        #expect(!needed.isEmpty, "no NEEDED entries read from \(path)")
        let zbar = ldd.stdout.contains("libzbar"), zxing = ldd.stdout.contains("libZXing")
        let ownStdcxx = needed.contains { $0.contains("libstdc++") }
        if readsImages {
            #expect(zbar && zxing && ownStdcxx, "\(program) reads images: zbar \(zbar), ZXing \(zxing), libstdc++ \(ownStdcxx)")
        } else {
            #expect(!zbar && !zxing && !ownStdcxx, "\(program) reads no image yet links zbar \(zbar), ZXing \(zxing), libstdc++ \(ownStdcxx)")
        }
    }
}
