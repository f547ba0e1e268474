// qrpay-bench decode - QR-Pay's decoder against zbarimg on photo-like images (see QRPayBench.swift).

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayImaging
import QRPayDecoder
import QRPayTestPhotos
import QRPayCommand

extension QRPayBench {
    struct DecodeBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "decode",
            abstract: "Decode rate and latency of QR-Pay's decoder and of zbarimg on the same images.")

        @Option(help: "How many photo-like 12 MP images to make.") var count = 20
        @Option(help: ArgumentHelp("Also decode every .png/.jpg/.jpeg in this folder.", valueName: "dir")) var dir: String?
        @Option(help: ArgumentHelp("The zbarimg to compare with ('' to skip).", valueName: "path")) var zbarimg = "/usr/bin/zbarimg"
        @Option(help: ArgumentHelp("Keep the generated images in this folder.", valueName: "dir")) var keep: String?
        @Option(help: "First seed of the generated shots.") var seed: UInt64 = 1
        @Option(help: "Photos per category for the category table (0 skips it).") var perCategory = 6
        @Option(help: ArgumentHelp("Only these categories (comma-separated).", valueName: "names")) var categories: String?
        @Flag(help: "Only the category table (no one-code 12 MP rows).") var categoriesOnly = false

        func run() throws {
            try runReportingErrors("qrpay-bench") {
                guard count >= 0, perCategory >= 0 else { throw QRPayError.usage("--count and --per-category must be >= 0") }
                if !categoriesOnly && count > 0 || dir != nil {
                    let (rows, failures, title) = try DecodeBench.measure(count: categoriesOnly ? 0 : count, dir: dir, zbarimg: zbarimg,
                                                                          keep: keep, seed: seed)
                    print(BenchTable.render(rows, title: title), terminator: "")
                    if !failures.isEmpty { print("qrpay missed: " + failures.joined(separator: " ")) }
                }
                if perCategory > 0 {
                    var chosen = PhotoCategory.allCases
                    if let categories {
                        chosen = try categories.split(separator: ",").map { name in
                            guard let c = PhotoCategory(rawValue: String(name)) else {
                                throw QRPayError.usage("unknown category \(name); known: \(PhotoCategory.allCases.map(\.rawValue).joined(separator: ", "))")
                            }
                            return c
                        }
                    }
                    let table = try CategoryBench.measure(perCategory: perCategory, categories: chosen, seed: seed,
                                                          zbarimg: zbarimg, keep: keep.map { $0 + "/categories" })
                    print(table, terminator: "")
                }
            }
        }

        /// Makes the images, decodes them with QR-Pay's decoder and zbarimg: the rows, the images
        /// QR-Pay missed, and the table's title. `qrpay-bench pipeline` puts these rows in its table.
        static func measure(count: Int, dir: String?, zbarimg: String, keep: String?, seed: UInt64) throws
            -> (rows: [BenchRow], failures: [String], title: String) {
            let work = keep ?? NSTemporaryDirectory() + "qrpay-bench." + FileIO.uniqueName()
            try FileIO.makePath(work, mode: 0o700)
            defer { if keep == nil { try? FileManager.default.removeItem(atPath: work) } }

            // 1. The images: (path, expected text or nil when unknown).
            var items: [(path: String, expected: String?)] = []
            let started = BenchTable.now()
            for i in 0..<count {
                let (text, shot) = BenchShots.make(index: i, seed: seed &+ UInt64(i))
                let png = try QRCodeImage.png(text: text)
                let jpeg = try PhoneCamera.photograph(png: png, shot: shot)
                let path = "\(work)/shot-\(i).jpg"
                try Durable.write(jpeg, to: path, ifExists: .replace)
                items.append((path, text))
                if keep != nil {
                    let about = String(format: "rotation %.0f perspective %.3f blur %.1f noise %.1f gradient %.2f quality %d code %.2f seed %llu\n",
                                       shot.rotationDegrees, shot.perspective, shot.blur, shot.noise, shot.gradient,
                                       shot.jpegQuality, shot.codeFraction, shot.seed) + text + "\n"
                    try Durable.write(Data(about.utf8), to: "\(work)/shot-\(i).txt", ifExists: .replace)
                }
            }
            if let dir {
                for name in try FileIO.listDirectory(dir).sorted()
                where [".png", ".jpg", ".jpeg"].contains(where: { name.lowercased().hasSuffix($0) }) {
                    items.append(("\(dir)/\(name)", nil))
                }
            }
            Diagnostics.info("qrpay-bench", String(format: "%d images ready in %.1f s (%@)", items.count, BenchTable.now() - started, work))

            // 2. QR-Pay's decoder, in process; peak RSS measured from here.
            BenchShots.resetPeakRSS()
            let decoder = QRImageDecoder()
            var ours = BenchRow(name: "qrpay", succeeded: 0, total: items.count, milliseconds: [])
            var failures: [String] = []
            for item in items {
                let t0 = BenchTable.now()
                let symbols = (try? decoder.decode(file: item.path).symbols) ?? []
                ours.milliseconds.append((BenchTable.now() - t0) * 1000)
                if BenchShots.matches(symbols, item.expected) { ours.succeeded += 1 }
                else { failures.append((item.path as NSString).lastPathComponent) }
            }
            ours.note = String(format: "peak RSS %.0f MiB", BenchTable.peakRSSMiB())
            var rows = [ours]

            // 3. zbarimg, one subprocess per image, wall time.
            if !zbarimg.isEmpty {
                var zbar = BenchRow(name: "zbarimg", succeeded: 0, total: items.count, milliseconds: [], note: "subprocess per image")
                for item in items {
                    let t0 = BenchTable.now()
                    let output = BenchShots.run(zbarimg, ["--raw", "-q", item.path])
                    zbar.milliseconds.append((BenchTable.now() - t0) * 1000)
                    let lines = output.split(separator: "\n").map(String.init)
                    if BenchShots.matches(lines, item.expected) { zbar.succeeded += 1 }
                }
                rows.append(zbar)
            }
            // 4. zxing-cpp (Python bindings, PyPI `zxing-cpp` + `pillow`), in one process, per-image
            //    time from opening the file to the text, as for QR-Pay's row.
            if let zxing = ZXingRow.measure(items) { rows.append(zxing) }
            let title = "decode: \(items.count) images (\(count) generated 12 MP phone-like JPEGs\(dir.map { " + \($0)" } ?? ""))"
            return (rows, failures, title)
        }
    }
}

enum BenchShots {
    /// Shot `index`: a payment-like payload and a varied phone shot (some easy, some hard).
    static func make(index: Int, seed: UInt64) -> (String, PhoneCamera.Shot) {
        func mix(_ x: UInt64) -> UInt64 {
            var z = x &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var state = mix(mix(seed))
        func unit() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        func word(_ n: Int) -> String { String((0..<n).map { _ in alphabet[Int(unit() * Double(alphabet.count))] }) }
        // Ranges from an easy shot to a hard one: strong tilt, defocus, a dim sensor, uneven
        // light, heavy compression, a code at 8% of the frame.
        let text = "QRP1.shop-\(word(1 + Int(unit() * 40))).pay-\(word(1 + Int(unit() * 40))).\(word(86))"
        let shot = PhoneCamera.Shot(
            rotationDegrees: unit() * 360,
            perspective: unit() * 0.12,
            blur: unit() * 3.5,
            noise: 2 + unit() * 10,
            gradient: unit() * 0.8,
            jpegQuality: 55 + Int(unit() * 36),
            codeFraction: 0.08 + unit() * 0.32,
            seed: seed)
        return (text, shot)
    }

    /// The expected text was read (any symbol, when the expected text is unknown).
    static func matches(_ symbols: [String], _ expected: String?) -> Bool {
        guard let expected else { return !symbols.isEmpty }
        return symbols.contains(expected)
    }

    /// Resets this process's peak RSS (VmHWM) on Linux.
    static func resetPeakRSS() {
        if let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
            handle.write(Data("5".utf8))
            try? handle.close()
        }
    }

    /// Runs a program, returns its stdout (stderr discarded).
    static func run(_ program: String, _ arguments: [String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return "" }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// The zxing-cpp row: skipped (nil) when python3, `zxingcpp` or `PIL` is missing.
enum ZXingRow {
    static let script = """
    import sys, time
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        print("unavailable"); sys.exit(0)
    for path in sys.stdin.read().split("\\n"):
        if not path: continue
        t0 = time.perf_counter()
        try:
            found = [r.text for r in zxingcpp.read_barcodes(Image.open(path).convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)]
        except Exception:
            found = []
        ms = (time.perf_counter() - t0) * 1000
        print("%.3f\\t%s" % (ms, "\\x1f".join(found)))
    """

    /// python3 with `zxingcpp` and `PIL` can be imported.
    static let available: Bool = {
        let out = BenchShots.run("/usr/bin/env", ["python3", "-c", "import zxingcpp, PIL; print('ok')"])
        return out.hasPrefix("ok")
    }()

    /// Per path: the texts zxing-cpp read and its milliseconds; nil when it cannot run.
    static func texts(_ paths: [String]) -> [(texts: Set<String>, ms: Double)]? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let bytes = Data(paths.joined(separator: "\n").utf8)
        DispatchQueue.global().async {
            try? input.fileHandleForWriting.write(contentsOf: bytes)
            try? input.fileHandleForWriting.close()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first != "unavailable", lines.count >= paths.count else { return nil }
        return lines.prefix(paths.count).map { line in
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            let found = parts.count > 1 ? parts[1].split(separator: "\u{1f}").map(String.init) : []
            return (Set(found), Double(parts.first ?? "") ?? 0)
        }
    }

    static func measure(_ items: [(path: String, expected: String?)]) -> BenchRow? {
        guard let results = texts(items.map(\.path)) else { return nil }
        var row = BenchRow(name: "zxing-cpp", succeeded: 0, total: items.count, milliseconds: [],
                           note: "Python bindings, in process (JPEG decode by Pillow)")
        for (item, result) in zip(items, results) {
            row.milliseconds.append(result.ms)
            if BenchShots.matches(Array(result.texts), item.expected) { row.succeeded += 1 }
        }
        return row
    }
}
