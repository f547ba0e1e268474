// Where in a large photo a QR code probably is: blocks of high local contrast (a code is a dense
// black-and-white texture; paper, tables, walls and sensor noise are not), grouped into boxes.
// Scanning those boxes at a higher resolution is far cheaper than scanning the whole frame.

import Foundation
import QRPayImaging

/// A rectangle as fractions of the image (0...1), so it applies to every pyramid level.
package struct RegionBox: Equatable {
    var x0: Double, y0: Double, x1: Double, y1: Double
    /// Centres of the high-contrast blocks the box was made of (fractions of the image).
    var cells: [Point2] = []
    /// The score of each cell (same order).
    var cellScores: [Int] = []
    /// Mean contrast score of its blocks: a code's texture scores high throughout.
    var density: Double = 0
    var area: Double { (x1 - x0) * (y1 - y0) }
}

extension GrayImage {
    /// The pixels of [x0,x1)x[y0,y1) (clamped).
    func cropped(x0: Int, y0: Int, x1: Int, y1: Int) -> GrayImage {
        let ax = max(0, min(width, x0)), bx = max(ax, min(width, x1))
        let ay = max(0, min(height, y0)), by = max(ay, min(height, y1))
        let w = bx - ax, h = by - ay
        var out = [UInt8](repeating: 0, count: w * h)
        guard w > 0, h > 0 else { return GrayImage(width: 0, height: 0, pixels: []) }
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    (dst.baseAddress! + y * w).update(from: src.baseAddress! + (ay + y) * width + ax, count: w)
                }
            }
        }
        return GrayImage(width: w, height: h, pixels: out)
    }

    package func cropped(_ box: RegionBox) -> GrayImage {
        cropped(x0: Int((box.x0 * Double(width)).rounded(.down)), y0: Int((box.y0 * Double(height)).rounded(.down)),
                x1: Int((box.x1 * Double(width)).rounded(.up)), y1: Int((box.y1 * Double(height)).rounded(.up)))
    }

    /// Boxes that probably hold a code, best first: connected groups of `block`-pixel blocks whose
    /// contrast (max - min after a light smoothing, and many dark/light transitions) is high.
    func codeRegions(block: Int = 8, limit: Int = 4) -> [RegionBox] {
        let bw = width / block, bh = height / block
        guard bw >= 3, bh >= 3 else { return [] }
        var score = [Int](repeating: 0, count: bw * bh)
        pixels.withUnsafeBufferPointer { p in
            for by in 0..<bh {
                for bx in 0..<bw {
                    var lo = 255, hi = 0, sum = 0
                    let x0 = bx * block, y0 = by * block
                    for y in y0..<(y0 + block) {
                        let row = y * width
                        for x in x0..<(x0 + block) {
                            let v = Int(p[row + x])
                            sum += v
                            if v < lo { lo = v }
                            if v > hi { hi = v }
                        }
                    }
                    // Transitions across the block's mean along its rows and columns: a code has many,
                    // a single edge (paper border, shadow) has one per line.
                    let mean = sum / (block * block)
                    var crossings = 0
                    for y in stride(from: y0, to: y0 + block, by: 2) {
                        var above = Int(p[y * width + x0]) > mean
                        for x in (x0 + 1)..<(x0 + block) {
                            let now = Int(p[y * width + x]) > mean
                            if now != above { crossings += 1; above = now }
                        }
                    }
                    for x in stride(from: x0, to: x0 + block, by: 2) {
                        var above = Int(p[y0 * width + x]) > mean
                        for y in (y0 + 1)..<(y0 + block) {
                            let now = Int(p[y * width + x]) > mean
                            if now != above { crossings += 1; above = now }
                        }
                    }
                    // Contrast relative to the block's brightness: a code in a shadow or a dim corner
                    // scores as well as one in full light (sensor noise is averaged out at this scale).
                    let contrast = hi - lo
                    let relative = contrast * 256 / (hi + 24)
                    score[by * bw + bx] = contrast >= 28 && crossings >= block / 2 ? relative * min(crossings, 2 * block) : 0
                }
            }
        }
        guard let best = score.max(), best > 0 else { return [] }
        let cut = best / 4
        // Connected components (8-neighbourhood) of blocks over the cut.
        var label = [Int](repeating: -1, count: bw * bh)
        var boxes: [(box: RegionBox, weight: Int)] = []
        var cells: [Point2] = []
        var cellScores: [Int] = []
        var stack: [Int] = []
        for start in 0..<(bw * bh) where score[start] > cut && label[start] < 0 {
            let id = boxes.count
            var minX = bw, maxX = 0, minY = bh, maxY = 0, weight = 0, count = 0
            label[start] = id
            stack.append(start)
            cells.removeAll(keepingCapacity: true)
            cellScores.removeAll(keepingCapacity: true)
            while let i = stack.popLast() {
                let x = i % bw, y = i / bw
                cells.append(Point2(x: (Double(x) + 0.5) / Double(bw), y: (Double(y) + 0.5) / Double(bh)))
                cellScores.append(score[i])
                minX = min(minX, x); maxX = max(maxX, x); minY = min(minY, y); maxY = max(maxY, y)
                weight += score[i]; count += 1
                for dy in -1...1 {
                    for dx in -1...1 {
                        let nx = x + dx, ny = y + dy
                        guard nx >= 0, nx < bw, ny >= 0, ny < bh else { continue }
                        let j = ny * bw + nx
                        if score[j] > cut && label[j] < 0 { label[j] = id; stack.append(j) }
                    }
                }
            }
            // Grow by a quarter of the size plus a block on each side: finder patterns at the edge
            // and the quiet zone.
            let growX = max(1, (maxX - minX + 1) / 4), growY = max(1, (maxY - minY + 1) / 4)
            let box = RegionBox(x0: Double(max(0, minX - growX)) / Double(bw), y0: Double(max(0, minY - growY)) / Double(bh),
                                x1: Double(min(bw, maxX + 1 + growX)) / Double(bw), y1: Double(min(bh, maxY + 1 + growY)) / Double(bh),
                                cells: cells, cellScores: cellScores, density: Double(weight) / Double(max(1, count)))
            // Lines of blocks (a sheet's or a screen's edge, a shadow's) are not codes: a code's
            // blocks make a patch at least about three blocks thick.
            let thickness = Double(count) / Double(max(maxX - minX, maxY - minY) + 1)
            let codeLike = count >= 4 && thickness >= 2.5
            boxes.append((codeLike ? box : RegionBox(x0: 0, y0: 0, x1: 0, y1: 0), codeLike ? weight : 0))
        }
        return boxes.filter { $0.weight > 0 }.sorted { $0.weight > $1.weight }.prefix(limit).map(\.box)
    }
}

extension RegionBox {
    /// A box of the image (fractions of its width and height) with no cells.
    package init(x0: Double, y0: Double, x1: Double, y1: Double) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
    }
}
