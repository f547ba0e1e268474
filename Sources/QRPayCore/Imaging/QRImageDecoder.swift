// Image file -> the text of every QR symbol in it.
//
// The front end that makes zbar fast and robust on phone photos:
//  1. JPEGs are decoded at reduced scale first (libjpeg's scaled IDCT: 1/8, 1/4, 1/2, 1/1) and the
//     pyramid is climbed only while nothing is found; a 12 MP photo of a code usually reads at 1/4
//     or 1/8 in a few milliseconds, where zbar on the full frame takes most of a second.
//  2. Every image gets a white quiet zone, so codes that touch the frame still scan.
//  3. Each level is tried as it is and then binarised against its local mean (shadows, gradient
//     light, low contrast); when no level gave anything, the inverted images are tried.
//  4. zbar runs in binary mode; the bytes become text as UTF-8 when valid, else ISO 8859-1.

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
            throw QRPayError("image.too-large", "\(path) is over the image budget of \(maxBytes) bytes")
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
        let symbols: [String]
        let width: Int, height: Int
        switch format {
        case .png:
            let image = try PNGReader.gray(data, maxPixels: maxPixels)
            width = image.width
            height = image.height
            var levels = [image]
            while min(levels[0].width, levels[0].height) / 2 >= 400 { levels.insert(levels[0].halved(), at: 0) }
            symbols = QRImageDecoder.search(levels.map { level in { level } }, scanner: scanner)
        case .jpeg:
            let jpeg = try JPEGReader(data, maxPixels: maxPixels)
            width = jpeg.displayWidth
            height = jpeg.displayHeight
            let short = min(jpeg.width, jpeg.height)
            let denominators = [8, 4, 2, 1].filter { $0 == 1 || short / $0 >= 240 }
            var decodeError: Error? = nil
            let levels: [() -> GrayImage?] = denominators.map { d in
                {
                    do { return try jpeg.gray(scale: d) } catch { decodeError = decodeError ?? error; return nil }
                }
            }
            symbols = QRImageDecoder.search(levels, scanner: scanner)
            if symbols.isEmpty, let decodeError { throw decodeError }
        }
        return DecodedImage(symbols: symbols, width: width, height: height,
                            milliseconds: (QRImageDecoder.now() - start) * 1000)
    }

    /// Tries each level (smallest first) plain, then thresholded; then the inverted levels.
    static func search(_ levels: [() -> GrayImage?], scanner: ZBarScanner) -> [String] {
        var kept: [GrayImage] = []
        for (index, make) in levels.enumerated() {
            let t0 = tracing ? now() : 0
            guard let image = make() else { return [] }
            trace("level \(index) \(image.width)x\(image.height) made in \(String(format: "%.1f", (now() - t0) * 1000)) ms")
            let border = max(8, min(image.width, image.height) / 32)
            if let found = scan(image.padded(border), scanner, "plain") { return found }
            let radius = max(4, min(image.width, image.height) / 48)
            if let found = scan(image.thresholded(radius: radius).padded(border), scanner, "threshold") { return found }
            // Inverted images are tried last; keep the small levels (not the full-size one) for that.
            if index < levels.count - 1 || levels.count == 1 { kept.append(image) }
        }
        for image in kept {
            let border = max(8, min(image.width, image.height) / 32)
            if let found = scan(image.inverted().padded(border), scanner, "inverted") { return found }
        }
        return []
    }

    /// QRPAY_TRACE_IMAGING=1 prints each pass (size, time, result) on stderr: for tuning.
    static let tracing = ProcessInfo.processInfo.environment["QRPAY_TRACE_IMAGING"] == "1"

    static func trace(_ text: @autoclosure () -> String) {
        if tracing { FileHandle.standardError.write(Data("imaging: \(text())\n".utf8)) }
    }

    private static func scan(_ image: GrayImage, _ scanner: ZBarScanner, _ pass: String = "") -> [String]? {
        let t0 = tracing ? now() : 0
        defer { if tracing { trace("\(pass) \(image.width)x\(image.height) \(String(format: "%.1f", (now() - t0) * 1000)) ms") } }
        var seen = Set<String>()
        let texts = scanner.scan(image).map(ZBarScanner.text).filter { seen.insert($0).inserted }
        return texts.isEmpty ? nil : texts
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
