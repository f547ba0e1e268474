// qrpay-bench decode, the category table: photos of every kind in `PhotoCategory` (several codes,
// high versions, curved labels, shadows, screens, ...), each code counted as read by QR-Pay's
// decoder, zxing-cpp (PyPI bindings) and zbarimg, side by side on the same files in one run.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayDecoder
import QRPayTestPhotos
import QRPayOperations
import QRPayCommand

enum CategoryBench {
    struct Item {
        let path: String
        let category: PhotoCategory
        let codes: [RenderedPhoto.Code]
    }

    struct Tally {
        var codes = 0
        var read: [String: Int] = [:]
        var wrongPlace = 0
        var ms: [String: [Double]] = [:]
    }

    static func measure(perCategory: Int, categories: [PhotoCategory], seed: UInt64, zbarimg: String, keep: String?) throws -> String {
        let work = keep ?? NSTemporaryDirectory() + "qrpay-bench-cat." + FileIO.uniqueName()
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: work) } }
        let started = BenchTable.now()
        var items: [Item] = []
        let slots = Slots<Item>(categories.count * perCategory)
        try parallelFor(categories.count * perCategory) { k in
            let category = categories[k / perCategory], index = k % perCategory
            let photo = try PhoneCamera.photograph(category.scene(index: index, seed: seed))
            let path = "\(work)/\(category.rawValue)-\(index).jpg"
            try Durable.write(photo.jpeg, to: path, ifExists: .replace)
            slots[k] = Item(path: path, category: category, codes: photo.codes)
        }
        items = slots.values
        if keep != nil {
            let manifest: JSONValue = .array(items.map { item in
                .object(["file": .string((item.path as NSString).lastPathComponent), "category": .string(item.category.rawValue),
                         "codes": .array(item.codes.map { code in
                             .object(["text": .string(code.text),
                                      "corners": .array(code.corners.map { .array([.double(($0.x * 10).rounded() / 10), .double(($0.y * 10).rounded() / 10)]) })])
                         })])
            })
            try Durable.write(manifest.serialized(pretty: true), to: work + "/manifest.json", ifExists: .replace)
        }
        Diagnostics.info("qrpay-bench", String(format: "%d category photos ready in %.1f s (%@)", items.count, BenchTable.now() - started, work))

        var tallies: [PhotoCategory: Tally] = [:]
        var missed: [String] = []
        // QR-Pay's decoder with zbar alone (the other route), then as shipped (zbar, then zxing-cpp).
        for item in items {
            let t0 = BenchTable.now()
            let decoded = try? QRImageDecoder(secondEngine: false).decode(file: item.path)
            var t = tallies[item.category] ?? Tally()
            t.ms["zbar only", default: []].append((BenchTable.now() - t0) * 1000)
            t.read["zbar only", default: 0] += item.codes.filter { code in decoded?.codes.contains { $0.text == code.text } ?? false }.count
            tallies[item.category] = t
        }
        BenchShots.resetPeakRSS()
        let decoder = QRImageDecoder()
        for item in items {
            var t = tallies[item.category] ?? Tally()
            t.codes += item.codes.count
            let t0 = BenchTable.now()
            let decoded = try? decoder.decode(file: item.path)
            t.ms["qrpay", default: []].append((BenchTable.now() - t0) * 1000)
            let found = decoded?.codes ?? []
            var n = 0
            for code in item.codes {
                guard let hit = found.first(where: { $0.text == code.text }) else { continue }
                n += 1
                if !CategoryBench.inside(hit.corners.map { ($0.x, $0.y) }, code.corners) { t.wrongPlace += 1 }
            }
            if n < item.codes.count { missed.append("\((item.path as NSString).lastPathComponent)(\(n)/\(item.codes.count))") }
            t.read["qrpay", default: 0] += n
            tallies[item.category] = t
        }
        let rss = BenchTable.peakRSSMiB()
        let engines = ["qrpay", "zbar only"] + (ZXingRow.available ? ["zxing-cpp"] : []) + (zbarimg.isEmpty ? [] : ["zbarimg"])
        if ZXingRow.available, let results = ZXingRow.texts(items.map(\.path)) {
            for (item, result) in zip(items, results) {
                var t = tallies[item.category]!
                t.read["zxing-cpp", default: 0] += item.codes.filter { result.texts.contains($0.text) }.count
                t.ms["zxing-cpp", default: []].append(result.ms)
                tallies[item.category] = t
            }
        }
        if !zbarimg.isEmpty {
            for item in items {
                let t0 = BenchTable.now()
                let output = BenchShots.run(zbarimg, ["--raw", "-q", "-Sdisable", "-Sqrcode.enable", item.path])
                let ms = (BenchTable.now() - t0) * 1000
                let lines = Set(output.split(separator: "\n").map(String.init))
                var t = tallies[item.category]!
                t.read["zbarimg", default: 0] += item.codes.filter { lines.contains($0.text) }.count
                t.ms["zbarimg", default: []].append(ms)
                tallies[item.category] = t
            }
        }

        // The table.
        var lines: [String] = []
        lines.append("decode by category: \(items.count) generated 12 MP photos (\(perCategory) per category, seed \(seed)); codes read / codes present, median ms per photo")
        var header = "category".padding(toLength: 14, withPad: " ", startingAt: 0) + "  codes"
        for e in engines { header += "  " + e.leftPadded(10) + "  " + "ms".leftPadded(6) }
        lines.append(header)
        var total = Tally()
        for c in categories {
            guard let t = tallies[c] else { continue }
            var line = c.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0) + "  " + "\(t.codes)".leftPadded(5)
            for e in engines {
                let ms = BenchRow.percentile(t.ms[e] ?? [], 0.5)
                line += "  " + "\(t.read[e] ?? 0)".leftPadded(10) + "  " + String(format: "%.0f", ms).leftPadded(6)
            }
            lines.append(line)
            total.codes += t.codes
            total.wrongPlace += t.wrongPlace
            for e in engines { total.read[e, default: 0] += t.read[e] ?? 0; total.ms[e, default: []] += t.ms[e] ?? [] }
        }
        var line = "total".padding(toLength: 14, withPad: " ", startingAt: 0) + "  " + "\(total.codes)".leftPadded(5)
        for e in engines {
            line += "  " + "\(total.read[e] ?? 0)".leftPadded(10) + "  " + String(format: "%.0f", BenchRow.percentile(total.ms[e] ?? [], 0.5)).leftPadded(6)
        }
        lines.append(line)
        lines.append(String(format: "qrpay: peak RSS %.0f MiB; codes read at the wrong place: %d", rss, total.wrongPlace))
        if !missed.isEmpty { lines.append("qrpay missed codes in: " + missed.joined(separator: " ")) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every corner of `found` lies within the expected quadrilateral grown by a fifth of its size.
    static func inside(_ found: [(Double, Double)], _ expected: [(x: Double, y: Double)]) -> Bool {
        guard found.count == 4, expected.count == 4 else { return false }
        let cx = expected.map(\.x).reduce(0, +) / 4, cy = expected.map(\.y).reduce(0, +) / 4
        let grown = expected.map { (cx + ($0.x - cx) * 1.2, cy + ($0.y - cy) * 1.2) }
        return found.allSatisfy { p in
            var sign = 0.0
            for i in 0..<4 {
                let a = grown[i], b = grown[(i + 1) % 4]
                let c = (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0)
                if sign == 0 { sign = c } else if c * sign < 0 { return false }
            }
            return true
        }
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
