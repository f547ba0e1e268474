// zbar, QR symbols only, binary mode: raw bytes, which QR-Pay takes as UTF-8 when they are valid
// UTF-8 (ASCII, ECI 26, and what most encoders write). Otherwise the image is scanned once more in
// zbar's text mode, which converts each segment by its ECI designator (Latin-1, Shift JIS, ...);
// failing that the bytes are read as ISO 8859-1, the QR standard's default.

internal import CZbar
import Foundation
import QRPaySupport
import QRPayImaging

/// Owns one zbar image scanner; not shared between threads (a decode makes its own).
final class ZBarScanner {
    private let scanner: OpaquePointer
    /// Text mode (ECI conversion by zbar), made on first use.
    private var textScanner: OpaquePointer?

    init() throws {
        scanner = try ZBarScanner.make(binary: true)
    }

    deinit {
        zbar_image_scanner_destroy(scanner)
        if let textScanner { zbar_image_scanner_destroy(textScanner) }
    }

    private static func make(binary: Bool) throws -> OpaquePointer {
        guard let scanner = zbar_image_scanner_create() else {
            throw QRPayError(.imageMemory, "cannot create a zbar scanner")
        }
        zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_ENABLE, 0)
        zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1)
        zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_BINARY, binary ? 1 : 0)
        return scanner
    }

    /// A symbol as zbar reports it: its text and its four corners in the scanned image.
    struct Symbol {
        var text: String
        /// The code's own top-left, top-right, bottom-right, bottom-left corners (pixels).
        var corners: [Point2]
    }

    /// The texts of `image`'s QR symbols, from raw bytes (see the file comment).
    func texts(_ image: GrayImage) -> [String] { symbols(image).map(\.text) }

    /// `image`'s QR symbols with their corners.
    func symbols(_ image: GrayImage) -> [Symbol] {
        let raw = ZBarScanner.scan(image, with: scanner)
        if raw.allSatisfy({ String(validating: $0.bytes, as: UTF8.self) != nil }) {
            return raw.map { Symbol(text: ZBarScanner.text($0.bytes), corners: $0.corners) }
        }
        if textScanner == nil { textScanner = try? ZBarScanner.make(binary: false) }
        if let textScanner {
            let converted = ZBarScanner.scan(image, with: textScanner)
            if converted.count == raw.count {
                return converted.map { Symbol(text: String(validating: $0.bytes, as: UTF8.self) ?? ZBarScanner.text($0.bytes), corners: $0.corners) }
            }
        }
        return raw.map { Symbol(text: ZBarScanner.text($0.bytes), corners: $0.corners) }
    }

    /// Scan density: 1 looks at every row and column, 2 at every other one (twice as fast).
    func setDensity(_ density: Int) {
        zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_X_DENSITY, Int32(density))
        zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_Y_DENSITY, Int32(density))
    }

    /// The raw bytes of every QR symbol in `image`.
    func scan(_ image: GrayImage) -> [[UInt8]] { ZBarScanner.scan(image, with: scanner).map(\.bytes) }

    private static func scan(_ image: GrayImage, with scanner: OpaquePointer) -> [(bytes: [UInt8], corners: [Point2])] {
        guard image.width > 0, image.height > 0 else { return [] }
        // The pixel buffer stays alive (and unmoved) inside withUnsafeBufferPointer until the zbar
        // image that points at it is destroyed; zbar gets no cleanup handler, it never frees it.
        return image.pixels.withUnsafeBufferPointer { buffer -> [(bytes: [UInt8], corners: [Point2])] in
            guard let zimage = zbar_image_create() else { return [] }
            defer { zbar_image_destroy(zimage) }
            zbar_image_set_format(zimage, 0x3030_3859)  // fourcc "Y800": 8-bit gray
            zbar_image_set_size(zimage, UInt32(image.width), UInt32(image.height))
            zbar_image_set_data(zimage, UnsafeRawPointer(buffer.baseAddress), UInt(buffer.count), nil)
            guard zbar_scan_image(scanner, zimage) > 0 else { return [] }
            var results: [(bytes: [UInt8], corners: [Point2])] = []
            var symbol = zbar_image_first_symbol(zimage)
            while let current = symbol {
                if zbar_symbol_get_type(current) == ZBAR_QRCODE, let data = zbar_symbol_get_data(current) {
                    let length = Int(zbar_symbol_get_data_length(current))
                    let bytes = data.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
                    // zbar gives a QR symbol's corners as top-left, bottom-left, bottom-right,
                    // top-right of the code itself (its bounding quadrilateral, pixel centres).
                    var points: [Point2] = []
                    for i in 0..<zbar_symbol_get_loc_size(current) {
                        points.append(Point2(x: Double(zbar_symbol_get_loc_x(current, i)) + 0.5,
                                             y: Double(zbar_symbol_get_loc_y(current, i)) + 0.5))
                    }
                    let corners = points.count == 4 ? [points[0], points[3], points[2], points[1]] : points
                    results.append((bytes, corners))
                }
                symbol = zbar_symbol_next(current)
            }
            return results
        }
    }

    /// QR text from raw bytes: UTF-8 when valid (ECI 26 or plain ASCII/UTF-8), else ISO 8859-1.
    static func text(_ bytes: [UInt8]) -> String {
        if let utf8 = String(validating: bytes, as: UTF8.self) { return utf8 }
        return String(bytes.map { Character(Unicode.Scalar($0)) })
    }
}
