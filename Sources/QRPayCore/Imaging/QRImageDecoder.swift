// Image file -> the text of every QR symbol in it.
//
// The front end that makes zbar fast and robust on phone photos:
//  1. A pyramid of grayscale levels (1/8, 1/4, 1/2, 1/1), built lazily: JPEGs through libjpeg's
//     scaled IDCT (1/2 and 1/1 decoded directly, smaller levels halved from 1/2), so a 12 MP photo
//     whose code reads at a reduced scale never costs a full-size decode.
//  2. The search climbs from cheap to expensive and stops at the first symbol (see `search`):
//     the smallest level; then boxes of dense black-and-white texture, cropped from ever larger
//     levels (zbar's time grows with pixels, and a code is a small part of a photo); then whole
//     levels; then inverted levels.
//  3. Each try gets a white quiet zone (codes touching the frame), a local-mean thresholded
//     variant (shadows, gradient light, low contrast) and a perspective-corrected one (the code's
//     outline warped back to a square: zbar misses codes photographed at an angle).
//  4. zbar runs in binary mode; the bytes become text as UTF-8 when valid, else by their ECI
//     designator (zbar's text mode), else as ISO 8859-1.
//  5. Only the first pass that finds anything counts: an image is expected to hold one payment
//     code (several codes are all reported only when they read at the same pass).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct DecodedImage: Sendable {
    /// The text of each QR symbol found (duplicates removed, in the order found).
    public let symbols: [String]
    /// The image size as displayed (after EXIF orientation).
    public let width: Int
    public let height: Int
    /// Wall time of the decode, from bytes to text.
    public let milliseconds: Double

    public init(symbols: [String], width: Int, height: Int, milliseconds: Double) {
        self.symbols = symbols
        self.width = width
        self.height = height
        self.milliseconds = milliseconds
    }
}

public struct QRImageDecoder: Sendable {
    public let maxPixels: Int
    public let maxBytes: Int

    public init(maxPixels: Int = 100_000_000, maxBytes: Int = 64 << 20) {
        self.maxPixels = maxPixels
        self.maxBytes = maxBytes
    }

    /// Reads `path` (a regular file, never through a symlink) and decodes it.
    public func decode(file path: String) throws -> DecodedImage {
        let data: Data
        do {
            data = try FileIO.read(path, maxBytes: maxBytes)
        } catch let error as QRPayError where error.code == "io.too-large" {
            throw QRPayError(.imageTooLarge, "\(path) is over the image budget of \(maxBytes) bytes")
        }
        return try decode(data: data)
    }

    /// Decodes PNG or JPEG bytes (recognised by their magic bytes; anything else: image.unsupported).
    public func decode(data: Data) throws -> DecodedImage {
        let start = QRImageDecoder.now()
        guard !data.isEmpty else { throw ImageErrors.empty() }
        guard data.count <= maxBytes else { throw ImageErrors.tooManyBytes(data.count, maxBytes: maxBytes) }
        guard let format = ImageFormat.sniff(data) else { throw ImageErrors.unsupported() }
        let scanner = try ZBarScanner()
        let pyramid: Pyramid
        let width: Int, height: Int
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
        }
        let symbols = try QRImageDecoder.search(pyramid, scanner: scanner)
        return DecodedImage(symbols: symbols, width: width, height: height,
                            milliseconds: (QRImageDecoder.now() - start) * 1000)
    }

    /// The search, cheapest first, stopping at the first pass that finds a symbol:
    ///  A. the smallest pyramid level, whole, and perspective-corrected;
    ///  B. boxes of high local contrast (found on a level about 600+ pixels high), cropped from
    ///     each level from small to full size, as they are, thresholded, and perspective-corrected;
    ///  C. every level whole, as it is and thresholded (not the full size of a large photo), small to large;
    ///  D. the inverted levels (light code on dark ground), except the full-size one.
    static func search(_ pyramid: Pyramid, scanner: ZBarScanner) throws -> [String] {
        let levels = pyramid.denominators
        let smallest = try pyramid.level(levels[0])
        if let found = scan(smallest.padded(8), scanner, "A 1/\(levels[0])") { return found }
        // A code that fills much of the frame: its outline on the smallest level.
        if levels.count > 1, let found = rectifiedScan(smallest, scanner, "A 1/\(levels[0])") { return found }
        if min(pyramid.width, pyramid.height) >= 1200 && levels.count > 1 {
            let roiLevel = levels.first(where: { min(pyramid.width, pyramid.height) / $0 >= 600 }) ?? levels[0]
            let t0 = tracing ? now() : 0
            let boxes = try pyramid.level(roiLevel).codeRegions()
            trace("regions on 1/\(roiLevel): \(boxes.count) in \(String(format: "%.1f", (now() - t0) * 1000)) ms")
            for box in boxes {
                for d in levels {
                    let crop = try pyramid.level(d).cropped(box)
                    guard min(crop.width, crop.height) >= 64 else { continue }
                    guard crop.width * crop.height <= 3_000_000 else { break }  // C scans such big boxes anyway
                    let border = max(8, min(crop.width, crop.height) / 16)
                    if let found = scan(crop.padded(border), scanner, "B 1/\(d)") { return found }
                    let radius = max(3, min(crop.width, crop.height) / 40)
                    if let found = scan(crop.thresholded(radius: radius).padded(border), scanner, "B thr 1/\(d)") { return found }
                    if min(crop.width, crop.height) >= 160, let found = rectifiedScan(crop, scanner, "1/\(d)") { return found }
                }
            }
        }
        for (index, d) in levels.enumerated() {
            let image = try pyramid.level(d)
            let border = max(8, min(image.width, image.height) / 32)
            if index > 0, let found = scan(image.padded(border), scanner, "C 1/\(d)") { return found }
            let radius = max(4, min(image.width, image.height) / 48)
            // The full-size frame of a large photo is not thresholded: slow, and B covered its code.
            if d > 1 || image.width * image.height <= 4_000_000,
               let found = scan(image.thresholded(radius: radius).padded(border), scanner, "C thr 1/\(d)") { return found }
        }
        for d in levels where d > 1 || levels.count == 1 {
            let image = try pyramid.level(d)
            if let found = scan(image.inverted().padded(max(8, min(image.width, image.height) / 32)), scanner, "D inv 1/\(d)") { return found }
        }
        return []
    }

    /// The crop's code outline warped to a square (perspective undone), as it is and thresholded.
    static func rectifiedScan(_ crop: GrayImage, _ scanner: ZBarScanner, _ what: String) -> [String]? {
        let t0 = tracing ? now() : 0
        guard let quad = crop.codeQuad() else { trace("R \(what): no outline"); return nil }
        var longest = 0.0
        for i in 0..<4 { longest = max(longest, hypot(quad[i].x - quad[(i + 1) % 4].x, quad[i].y - quad[(i + 1) % 4].y)) }
        let side = max(280, min(1600, Int(longest.rounded())))  // small codes: upsampled, zbar likes 4+ px a module
        let square = crop.rectified(quad, side: side, margin: side / 8)
        trace("R \(what): outline \(quad.map { "(\(Int($0.x)),\(Int($0.y)))" }.joined()) in \(String(format: "%.1f", (now() - t0) * 1000)) ms")
        if let found = scan(square, scanner, "R \(what)") { return found }
        return scan(square.thresholded(radius: max(3, side / 40)), scanner, "R thr \(what)")
    }

    /// QRPAY_TRACE_IMAGING=1 prints each pass (size, time, result) on stderr: for tuning.
    static let tracing = ProcessInfo.processInfo.environment["QRPAY_TRACE_IMAGING"] == "1"

    static func trace(_ text: @autoclosure () -> String) {
        if tracing { FileHandle.standardError.write(Data("imaging: \(text())\n".utf8)) }
    }

    private static func scan(_ image: GrayImage, _ scanner: ZBarScanner, _ pass: String = "") -> [String]? {
        let t0 = tracing ? now() : 0
        let texts = scanner.texts(image)
        if tracing { trace("\(pass) \(image.width)x\(image.height) \(String(format: "%.1f", (now() - t0) * 1000)) ms: \(texts.count)") }
        var seen = Set<String>()
        let unique = texts.filter { seen.insert($0).inserted }
        return unique.isEmpty ? nil : unique
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
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
