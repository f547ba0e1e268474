// Image file -> the text and position of every QR symbol in it.
//
// The front end that makes zbar fast and robust on phone photos:
//  1. A pyramid of grayscale levels (1/8, 1/4, 1/2, 1/1), built lazily: JPEGs through libjpeg's
//     scaled IDCT (1/2 and 1/1 decoded directly, smaller levels halved from 1/2), so a 12 MP photo
//     whose codes read at a reduced scale never costs a full-size decode.
//  2. The search climbs from cheap to expensive (see `Search`): the smallest level whole; then
//     boxes of dense black-and-white texture (where codes probably are), each cropped from ever
//     larger levels until the codes found explain the box's texture; then whole levels; then
//     inverted levels. Every symbol found on the way is kept, so an image with many codes gives
//     them all, while a one-code photo stops as soon as nothing unexplained is left.
//  3. Each try gets a white quiet zone (codes touching the frame), a local-mean thresholded
//     variant (shadows, gradient light, low contrast) and a perspective-corrected one (the code's
//     outline warped back to a square: zbar misses codes photographed at an angle).
//  4. zbar runs in binary mode; the bytes become text as UTF-8 when valid, else by their ECI
//     designator (zbar's text mode), else as ISO 8859-1.
//  5. Each symbol's corners are mapped back through the crop, scale, padding and warp of the try
//     that found it, and through the EXIF orientation, to the displayed image's pixels.

import Foundation
import QRPaySupport
import QRPayImaging
#if canImport(Glibc)
import Glibc
#endif

/// One QR symbol found in an image: its text and where it is.
package struct DecodedSymbol: Sendable, Equatable {
    package struct Point: Sendable, Equatable {
        package let x: Double
        package let y: Double
        package init(x: Double, y: Double) {
            self.x = x
            self.y = y
        }
    }

    package let text: String
    /// The code's own top-left, top-right, bottom-right and bottom-left corners (of its modules,
    /// without the quiet zone), in pixels of the image as displayed (after EXIF orientation; x to
    /// the right, y down).
    package let corners: [Point]

    package init(text: String, corners: [Point]) {
        self.text = text
        self.corners = corners
    }
}

package struct DecodedImage: Sendable {
    /// The text of each QR symbol found (duplicates removed, in the order found).
    package let symbols: [String]
    /// Every QR symbol found, with its corners (two codes with the same text at different places
    /// are both listed).
    package let codes: [DecodedSymbol]
    /// The image size as displayed (after EXIF orientation).
    package let width: Int
    package let height: Int
    /// Wall time of the decode, from bytes to text.
    package let milliseconds: Double

    package init(symbols: [String], width: Int, height: Int, milliseconds: Double) {
        self.init(codes: [], symbols: symbols, width: width, height: height, milliseconds: milliseconds)
    }

    package init(codes: [DecodedSymbol], symbols: [String]? = nil, width: Int, height: Int, milliseconds: Double) {
        var seen = Set<String>()
        self.symbols = symbols ?? codes.map(\.text).filter { seen.insert($0).inserted }
        self.codes = codes
        self.width = width
        self.height = height
        self.milliseconds = milliseconds
    }
}

package struct QRImageDecoder: Sendable {
    package let maxPixels: Int
    package let maxBytes: Int

    /// zxing-cpp after zbar, on what zbar leaves unread (false: zbar alone, for comparison).
    package let secondEngine: Bool

    package init(maxPixels: Int = 100_000_000, maxBytes: Int = 64 << 20, secondEngine: Bool = true) {
        self.maxPixels = maxPixels
        self.maxBytes = maxBytes
        self.secondEngine = secondEngine
    }

    /// Reads `path` (a regular file, never through a symlink) and decodes it.
    package func decode(file path: String) throws -> DecodedImage {
        let data: Data
        do {
            data = try FileIO.read(path, maxBytes: maxBytes)
        } catch let error as QRPayError where error.code == "io.too-large" {
            throw QRPayError(.imageTooLarge, "\(path) is over the image budget of \(maxBytes) bytes")
        }
        return try decode(data: data)
    }

    /// Decodes PNG or JPEG bytes (recognised by their magic bytes; anything else: image.unsupported).
    package func decode(data: Data) throws -> DecodedImage {
        let start = QRImageDecoder.now()
        guard !data.isEmpty else { throw ImageErrors.empty() }
        guard data.count <= maxBytes else { throw ImageErrors.tooManyBytes(data.count, maxBytes: maxBytes) }
        guard let format = ImageFormat.sniff(data) else { throw ImageErrors.unsupported() }
        let scanner = try ZBarScanner()
        let pyramid: Pyramid
        let width: Int, height: Int
        // Scanned (un-mirrored, stored) pixels -> displayed pixels.
        var toDisplay: (Point2) -> Point2 = { $0 }
        switch format {
        case .png:
            let image = try PNGReader.gray(data, maxPixels: maxPixels)
            width = image.width
            height = image.height
            pyramid = Pyramid(width: width, height: height) { d in d == 1 ? image : nil }
        case .jpeg:
            let jpeg = try JPEGReader(data, maxPixels: maxPixels)
            width = jpeg.displayWidth
            height = jpeg.displayHeight
            pyramid = Pyramid(width: jpeg.width, height: jpeg.height) { d in d <= 2 ? try jpeg.gray(scale: d) : nil }
            let w = Double(jpeg.width), h = Double(jpeg.height), orientation = jpeg.orientation, mirrored = jpeg.mirrored
            toDisplay = { p in
                let stored = mirrored ? Point2(x: w - p.x, y: p.y) : p
                let (x, y) = ExifOrientation.display(stored.x, stored.y, width: w, height: h, orientation: orientation)
                return Point2(x: x, y: y)
            }
        }
        let found = try Search(pyramid: pyramid, scanner: scanner, secondEngine: secondEngine).run()
        let codes = found.map { f in
            DecodedSymbol(text: f.text, corners: f.corners.map { c in
                let p = toDisplay(c)
                return DecodedSymbol.Point(x: (p.x * 10).rounded() / 10, y: (p.y * 10).rounded() / 10)
            })
        }
        return DecodedImage(codes: codes, width: width, height: height, milliseconds: (QRImageDecoder.now() - start) * 1000)
    }

    /// QRPAY_TRACE_IMAGING=1 prints each pass (size, time, result) on stderr: for tuning.
    static let tracing = ProcessInfo.processInfo.environment["QRPAY_TRACE_IMAGING"] == "1"

    static func trace(_ text: @autoclosure () -> String) {
        if tracing { FileHandle.standardError.write(Data("imaging: \(text())\n".utf8)) }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A symbol found by the search, its corners in full-size scanned pixels.
struct FoundSymbol {
    var text: String
    var corners: [Point2]

    var centre: Point2 {
        Point2(x: corners.map(\.x).reduce(0, +) / Double(corners.count), y: corners.map(\.y).reduce(0, +) / Double(corners.count))
    }

    /// `p` lies inside the quadrilateral grown by `grow` about its centre.
    func contains(_ p: Point2, grow: Double = 1) -> Bool {
        guard corners.count == 4 else { return false }
        let c = centre
        let q = corners.map { Point2(x: c.x + ($0.x - c.x) * grow, y: c.y + ($0.y - c.y) * grow) }
        var sign = 0.0
        for i in 0..<4 {
            let a = q[i], b = q[(i + 1) % 4]
            let cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x)
            if sign == 0 { sign = cross } else if cross * sign < 0 { return false }
        }
        return true
    }
}

/// One decode's search (see the file comment), cheapest first.
final class Search {
    let pyramid: Pyramid
    let scanner: ZBarScanner
    private(set) var found: [FoundSymbol] = []

    let secondEngine: Bool

    init(pyramid: Pyramid, scanner: ZBarScanner, secondEngine: Bool) {
        self.pyramid = pyramid
        self.scanner = scanner
        self.secondEngine = secondEngine
    }

    /// Every symbol, in the order found.
    ///  A. the smallest pyramid level, whole (and perspective-corrected when it is all there is);
    ///  B. boxes of high local contrast (found on a level about 600+ pixels high) that the symbols
    ///     found so far do not explain, cropped from each level from small to full size, as they
    ///     are, thresholded, and perspective-corrected, until the box is explained;
    ///  C. when nothing was found: every level whole, as it is and thresholded (not the full size
    ///     of a large photo), small to large, then the inverted levels (light code on dark ground).
    func run() throws -> [FoundSymbol] {
        let levels = pyramid.denominators
        let smallest = try pyramid.level(levels[0])
        let d0 = levels[0]
        scan(smallest.padded(8), "A 1/\(d0)", map: Search.unpad(8, scale: d0))
        if min(pyramid.width, pyramid.height) >= 480 {
            let roiLevel = levels.first(where: { min(pyramid.width, pyramid.height) / $0 >= 600 }) ?? levels[levels.count - 1]
            let t0 = QRImageDecoder.tracing ? QRImageDecoder.now() : 0
            let boxes = try pyramid.level(roiLevel).codeRegions(limit: 48)
            QRImageDecoder.trace("regions on 1/\(roiLevel): \(boxes.count) in \(String(format: "%.1f", (QRImageDecoder.now() - t0) * 1000)) ms")
            // Once a box gave codes, other boxes must look as much like codes to be searched
            // (labels' edges, print and wood grain make boxes too).
            // The density of the boxes that turned out to hold codes so far.
            var codeDensity: Double { boxes.filter { explained($0) }.map(\.density).max() ?? 0 }
            // With zxing-cpp behind it, zbar tries boxes up to half size; zxing-cpp then reads the
            // half-size frame, and both the full-size crops of the boxes still unexplained.
            let zbarLevels = secondEngine ? levels.filter { $0 > 1 || levels.count == 1 } : levels
            for box in boxes where !explained(box) && box.density >= codeDensity * 0.6 {
                try searchBox(box, levels: zbarLevels)
                QRImageDecoder.trace(String(format: "box (%.2f,%.2f)-(%.2f,%.2f) density %.0f of %.0f: %@", box.x0, box.y0, box.x1, box.y1,
                                            box.density, codeDensity, explained(box) ? "explained" : "open"))
            }
            var open = boxes.filter { !explained($0) && $0.density >= codeDensity * 0.6 }
            if secondEngine && (found.isEmpty || !open.isEmpty) {
                let d = levels.count > 1 ? levels[levels.count - 2] : levels[0]
                engine2(try pyramid.level(d), "Z 1/\(d)", map: Search.scaled(d))
                let density = codeDensity
                open = open.filter { !explained($0) && $0.density >= density * 0.6 }
                // Full size only for small boxes (small codes want the pixels; a large box had
                // enough at half size) and only the eight that look most like codes.
                for box in open.prefix(8) where levels.count > 1
                    && min((box.x1 - box.x0) * Double(pyramid.width), (box.y1 - box.y0) * Double(pyramid.height)) <= 800 {
                    try searchBox(box, levels: [1])
                    if explained(box) { continue }
                    let full = try pyramid.level(1)
                    let crop = full.cropped(box)
                    guard crop.width * crop.height <= 6_000_000, min(crop.width, crop.height) >= 32 else { continue }
                    let ox = Double(Int((box.x0 * Double(full.width)).rounded(.down)))
                    let oy = Double(Int((box.y0 * Double(full.height)).rounded(.down)))
                    engine2(crop, "Z box 1/1", map: { p in Point2(x: p.x + ox, y: p.y + oy) })
                }
            }
            if !found.isEmpty { return found }
        } else {
            if !found.isEmpty { return found }
            // A code that fills much of the frame: its outline on the smallest level.
            if rectifiedScan(smallest, "A 1/\(d0)", bends: true, map: Search.scaled(d0)) { return found }
        }
        for (index, d) in levels.enumerated() {
            let image = try pyramid.level(d)
            let border = max(8, min(image.width, image.height) / 32)
            // With zxing-cpp behind it, not the full size of a large photo either: zxing-cpp read the
            // half-size frame, and zbar on 12 MP costs most of a second for a code it rarely finds.
            let wholeFrame = d > 1 || !secondEngine || image.width * image.height <= 4_000_000
            if index > 0, wholeFrame, scan(image.padded(border), "C 1/\(d)", map: Search.unpad(border, scale: d)) { return found }
            let radius = max(4, min(image.width, image.height) / 48)
            // The full-size frame of a large photo is not thresholded: slow, and B covered its codes.
            if d > 1 || image.width * image.height <= 4_000_000,
               scan(image.thresholded(radius: radius).padded(border), "C thr 1/\(d)", map: Search.unpad(border, scale: d)) { return found }
        }
        for d in levels where d > 1 || levels.count == 1 {
            let image = try pyramid.level(d)
            let border = max(8, min(image.width, image.height) / 32)
            if scan(image.inverted().padded(border), "D inv 1/\(d)", map: Search.unpad(border, scale: d)) { return found }
        }
        if secondEngine && levels.count == 1 {
            engine2(smallest, "Z 1/1", map: { $0 })
        }
        return found
    }

    /// zxing-cpp on `image`; keeps the symbols not found before.
    func engine2(_ image: GrayImage, _ pass: String, map: (Point2) -> Point2) {
        let t0 = QRImageDecoder.tracing ? QRImageDecoder.now() : 0
        let symbols = ZXingReader.symbols(image)
        if QRImageDecoder.tracing {
            QRImageDecoder.trace("\(pass) \(image.width)x\(image.height) \(String(format: "%.1f", (QRImageDecoder.now() - t0) * 1000)) ms: \(symbols.count)")
        }
        for symbol in symbols { add(FoundSymbol(text: symbol.text, corners: symbol.corners.map(map))) }
    }

    /// Tries `box` at every level, small to large, until the symbols found explain it.
    func searchBox(_ box: RegionBox, levels: [Int]) throws {
        var tried = false
        for d in levels {
            // A crop 1000+ pixels across at the last level tried has 5+ pixels a module even at
            // version 40: a larger level costs much and adds nothing.
            let short = min((box.x1 - box.x0) * Double(pyramid.width), (box.y1 - box.y0) * Double(pyramid.height)) / Double(d)
            guard short >= 64 else { continue }
            if tried && short > 2000 { break }
            tried = true
            let level = try pyramid.level(d)
            let crop = level.cropped(box)
            let ox = Double(Int((box.x0 * Double(level.width)).rounded(.down)))
            let oy = Double(Int((box.y0 * Double(level.height)).rounded(.down)))
            let border = max(8, min(crop.width, crop.height) / 16)
            let map: (Point2) -> Point2 = { p in Point2(x: (p.x - Double(border) + ox) * Double(d), y: (p.y - Double(border) + oy) * Double(d)) }
            if scan(crop.padded(border), "B 1/\(d)", map: map), explained(box) { return }
            let radius = max(3, min(crop.width, crop.height) / 40)
            if scan(crop.thresholded(radius: radius).padded(border), "B thr 1/\(d)", map: map), explained(box) { return }
            if min(crop.width, crop.height) >= 160, min(crop.width, crop.height) <= 1000,
               rectifiedScan(crop, "1/\(d)", bends: d == 2 || pyramid.denominators.count == 1, map: { p in Point2(x: (p.x + ox) * Double(d), y: (p.y + oy) * Double(d)) }), explained(box) { return }
            // Small codes at full size: twice the pixels (zbar wants 3+ a module).
            if d == 1, max(crop.width, crop.height) <= 600 {
                let big = crop.doubled()
                let b = 2 * border
                let map2: (Point2) -> Point2 = { p in Point2(x: (p.x - Double(b)) / 2 + ox, y: (p.y - Double(b)) / 2 + oy) }
                if scan(big.padded(b), "B x2", map: map2), explained(box) { return }
                if scan(big.thresholded(radius: max(3, min(big.width, big.height) / 40)).padded(b), "B thr x2", map: map2), explained(box) { return }
            }
        }
    }

    /// Most of the box's high-contrast blocks lie on symbols already found.
    func explained(_ box: RegionBox) -> Bool {
        guard !found.isEmpty else { return false }
        guard !box.cells.isEmpty else { return true }
        let w = Double(pyramid.width), h = Double(pyramid.height)
        // By score: a label's or screen's edge round a code scores lower than the code's texture.
        var inside = 0, total = 0
        for (cell, score) in zip(box.cells, box.cellScores) {
            total += score
            let p = Point2(x: cell.x * w, y: cell.y * h)
            if found.contains(where: { $0.contains(p, grow: 1.4) }) { inside += score }
        }
        return Double(inside) >= 0.7 * Double(max(1, total))
    }

    /// The crop's code outline warped to a square (perspective undone), as it is and thresholded.
    /// `map` takes the crop's pixels to full-size pixels.
    @discardableResult
    func rectifiedScan(_ crop: GrayImage, _ what: String, bends: Bool = false, map: @escaping (Point2) -> Point2) -> Bool {
        let t0 = QRImageDecoder.tracing ? QRImageDecoder.now() : 0
        guard let quad = crop.codeQuad() else { QRImageDecoder.trace("R \(what): no outline"); return false }
        var longest = 0.0
        for i in 0..<4 { longest = max(longest, hypot(quad[i].x - quad[(i + 1) % 4].x, quad[i].y - quad[(i + 1) % 4].y)) }
        let side = max(280, min(1600, Int(longest.rounded())))  // small codes: upsampled, zbar likes 4+ px a module
        let margin = side / 8
        let square = crop.rectified(quad, side: side, margin: margin)
        QRImageDecoder.trace("R \(what): outline \(quad.map { "(\(Int($0.x)),\(Int($0.y)))" }.joined()) in \(String(format: "%.1f", (QRImageDecoder.now() - t0) * 1000)) ms")
        let warp = Homography.squareToQuad(quad.map { ($0.x, $0.y) })
        let unwarp: (Point2) -> Point2 = { p in
            let (x, y) = warp.apply((p.x - Double(margin)) / Double(side), (p.y - Double(margin)) / Double(side))
            return map(Point2(x: x, y: y))
        }
        if scan(square, "R \(what)", map: unwarp) { return true }
        if scan(square.thresholded(radius: max(3, side / 40)), "R thr \(what)", map: unwarp) { return true }
        guard bends else { return false }
        // A label round a bottle or can: its outline is the code's corners, but the modules crowd
        // towards the sides parallel to the cylinder's axis. Undo a few arcs along either axis.
        for halfArc in [35.0, 55, 75].map({ $0 * .pi / 180 }) {
            for vertical in [false, true] {
                let flat = square.unbent(halfArc: halfArc, alongY: vertical, margin: margin, side: side)
                let bend: (Point2) -> Point2 = { p in
                    func b(_ t: Double) -> Double {
                        let u = (t - Double(margin)) / Double(side)
                        return Double(margin) + Double(side) * (0.5 + sin((u - 0.5) * 2 * halfArc) / (2 * sin(halfArc)))
                    }
                    return unwarp(vertical ? Point2(x: p.x, y: b(p.y)) : Point2(x: b(p.x), y: p.y))
                }
                if scan(flat, "R bent \(Int(halfArc * 360 / .pi))\(vertical ? "y" : "x") \(what)", map: bend) { return true }
            }
        }
        return false
    }

    /// Scans `image`; keeps the symbols not found before (corners through `map`). True when the
    /// scan found any symbol (new or not).
    @discardableResult
    func scan(_ image: GrayImage, _ pass: String, map: (Point2) -> Point2) -> Bool {
        let t0 = QRImageDecoder.tracing ? QRImageDecoder.now() : 0
        let symbols = scanner.symbols(image)
        if QRImageDecoder.tracing {
            QRImageDecoder.trace("\(pass) \(image.width)x\(image.height) \(String(format: "%.1f", (QRImageDecoder.now() - t0) * 1000)) ms: \(symbols.count)")
        }
        for symbol in symbols {
            add(FoundSymbol(text: symbol.text, corners: symbol.corners.map(map)))
        }
        return !symbols.isEmpty
    }

    /// Adds `symbol` unless the same text was already found at that place.
    func add(_ symbol: FoundSymbol) {
        let c = symbol.centre
        if found.contains(where: { $0.text == symbol.text && ($0.contains(c, grow: 1.2) || symbol.contains($0.centre, grow: 1.2)) }) { return }
        found.append(symbol)
    }

    /// Padded-image pixels -> full-size pixels of a level at 1/scale.
    static func unpad(_ border: Int, scale: Int) -> (Point2) -> Point2 {
        { p in Point2(x: (p.x - Double(border)) * Double(scale), y: (p.y - Double(border)) * Double(scale)) }
    }

    static func scaled(_ scale: Int) -> (Point2) -> Point2 {
        { p in Point2(x: p.x * Double(scale), y: p.y * Double(scale)) }
    }
}

/// Lazily built grayscale levels of one image at 1/1, 1/2, 1/4, 1/8 of its size. `source` makes a
/// level directly when it can (libjpeg's scaled decoding); other levels are halved from the next
/// larger one. Only levels at least 120 pixels on the short side exist.
final class Pyramid {
    let width: Int
    let height: Int
    /// Available denominators, smallest image first (for example [8, 4, 2, 1]).
    let denominators: [Int]
    private let source: (Int) throws -> GrayImage?
    private var cache: [Int: GrayImage] = [:]

    init(width: Int, height: Int, source: @escaping (Int) throws -> GrayImage?) {
        self.width = width
        self.height = height
        self.source = source
        denominators = [8, 4, 2, 1].filter { $0 == 1 || min(width, height) / $0 >= 120 }
    }

    func level(_ d: Int) throws -> GrayImage {
        if let image = cache[d] { return image }
        let t0 = QRImageDecoder.tracing ? QRImageDecoder.now() : 0
        let image: GrayImage
        if let direct = try source(d) {
            image = direct
        } else {
            image = try level(d / 2).halved()
        }
        QRImageDecoder.trace("level 1/\(d) \(image.width)x\(image.height) in \(String(format: "%.1f", (QRImageDecoder.now() - t0) * 1000)) ms")
        cache[d] = image
        return image
    }
}
