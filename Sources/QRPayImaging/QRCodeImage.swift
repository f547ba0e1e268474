// Text -> QR code PNG, through libqrencode (8-bit byte mode, the text's UTF-8 bytes) and a 1-bit
// grayscale PNG written by libpng (in a C shim, because libpng's full writer longjmps on error).

internal import CQRencode
internal import CQRPayImageShims
import Foundation
import QRPaySupport

/// QR error-correction level (ISO/IEC 18004): about 7, 15, 25 and 30 percent of codewords recoverable.
package enum QRErrorCorrection: String, Sendable, CaseIterable {
    case low = "L", medium = "M", quartile = "Q", high = "H"

    var level: QRecLevel {
        switch self {
        case .low: return QR_ECLEVEL_L
        case .medium: return QR_ECLEVEL_M
        case .quartile: return QR_ECLEVEL_Q
        case .high: return QR_ECLEVEL_H
        }
    }
}

/// A QR symbol as a module matrix (true = dark), without quiet zone.
package struct QRModules: Sendable, Equatable {
    package let size: Int
    package let version: Int
    package let dark: [Bool]
    package subscript(x: Int, y: Int) -> Bool { dark[y * size + x] }
}

package enum QRCodeImage {
    /// The largest module size `png` accepts.
    package static let maxModuleSize = 64

    /// Encodes `text` (its UTF-8 bytes, 8-bit byte mode) as a QR module matrix.
    package static func modules(text: String, correction: QRErrorCorrection = .medium) throws -> QRModules {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw QRPayError(.qrEmpty, "cannot encode an empty text as a QR code") }
        let code: UnsafeMutablePointer<QRcode>? = bytes.withUnsafeBufferPointer { buffer in
            QRcode_encodeData(Int32(buffer.count), buffer.baseAddress, 0, correction.level)
        }
        guard let code else {
            if errno == ERANGE {
                throw QRPayError(.qrTooLong, "\(bytes.count) bytes do not fit in a QR code at error correction \(correction.rawValue)")
            }
            throw QRPayError(.qrEncode, "libqrencode could not encode the text: \(String(cString: strerror(errno)))")
        }
        defer { QRcode_free(code) }
        let size = Int(code.pointee.width)
        let data = UnsafeBufferPointer(start: code.pointee.data, count: size * size)
        return QRModules(size: size, version: Int(code.pointee.version), dark: data.map { $0 & 1 == 1 })
    }

    /// The module size `png` picks when none is given: the image is about 300-400 pixels wide.
    package static func defaultModuleSize(modules: Int) -> Int {
        var best = 1
        for candidate in 1...maxModuleSize where abs(candidate * modules - 350) < abs(best * modules - 350) {
            best = candidate
        }
        return best
    }

    /// Text -> PNG bytes: 1-bit grayscale, quiet zone of `margin` modules (4 is the standard's
    /// minimum; smaller values exist for tests), byte-mode UTF-8 data. `moduleSize` nil picks one so
    /// that the image is about 300-400 pixels wide.
    package static func png(text: String, correction: QRErrorCorrection = .medium, moduleSize: Int? = nil, margin: Int = 4) throws -> Data {
        guard (0...64).contains(margin) else { throw QRPayError(.qrMargin, "the quiet zone must be 0...64 modules, not \(margin)") }
        if let moduleSize, !(1...maxModuleSize).contains(moduleSize) {
            throw QRPayError(.qrModuleSize, "the module size must be 1...\(maxModuleSize) pixels, not \(moduleSize)")
        }
        return try png(modules: modules(text: text, correction: correction), moduleSize: moduleSize, margin: margin)
    }

    /// A module matrix -> 1-bit grayscale PNG.
    static func png(modules qr: QRModules, moduleSize: Int?, margin: Int) throws -> Data {
        let total = qr.size + 2 * margin
        let scale = moduleSize ?? defaultModuleSize(modules: total)
        let side = total * scale
        let stride = (side + 7) / 8
        // 1-bit gray: 1 is white. Start all white, clear the bits of dark modules.
        var rows = [UInt8](repeating: 0xFF, count: stride * side)
        rows.withUnsafeMutableBufferPointer { out in
            // One pixel row per module row, copied `scale` times (every module is a scale x scale square).
            for my in 0..<qr.size {
                let y0 = (my + margin) * scale
                let first = y0 * stride
                for mx in 0..<qr.size where qr[mx, my] {
                    let x0 = (mx + margin) * scale
                    for x in x0..<(x0 + scale) { out[first + x >> 3] &= ~(0x80 >> UInt8(x & 7)) }
                }
                for y in (y0 + 1)..<(y0 + scale) {
                    for k in 0..<stride { out[y * stride + k] = out[first + k] }
                }
            }
        }
        return try PNGWriter.gray(rows: rows, width: side, height: side, bitDepth: 1)
    }

    /// Bytes in 8-bit mode after an ECI designator (for example 20, Shift JIS): for tests of ECI decoding.
    static func modules(eci: UInt32, bytes: [UInt8], correction: QRErrorCorrection = .medium) throws -> QRModules {
        guard let input = QRinput_new2(0, correction.level) else {
            throw QRPayError(.qrEncode, "libqrencode could not allocate its input")
        }
        defer { QRinput_free(input) }
        guard QRinput_appendECIheader(input, eci) == 0,
              bytes.withUnsafeBufferPointer({ QRinput_append(input, QR_MODE_8, Int32($0.count), $0.baseAddress) }) == 0,
              let code = QRcode_encodeInput(input) else {
            throw QRPayError(.qrEncode, "libqrencode could not encode the ECI data")
        }
        defer { QRcode_free(code) }
        let size = Int(code.pointee.width)
        let data = UnsafeBufferPointer(start: code.pointee.data, count: size * size)
        return QRModules(size: size, version: Int(code.pointee.version), dark: data.map { $0 & 1 == 1 })
    }
}

package enum PNGWriter {
    /// Packed rows ((width*bitDepth+7)/8 bytes each) -> grayscale PNG bytes.
    package static func gray(rows: [UInt8], width: Int, height: Int, bitDepth: Int) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var length = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = rows.withUnsafeBufferPointer { buffer in
            qrpay_png_write_gray(buffer.baseAddress, Int32(width), Int32(height), Int32(bitDepth), &out, &length, &message, message.count)
        }
        defer { qrpay_image_free(out) }
        guard status == Int32(QRPAY_IMG_OK), let out else {
            let text = String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw QRPayError(.imageWrite, "cannot write PNG: \(text)")
        }
        return Data(bytes: out, count: length)
    }
}

/// A QR code drawn with text for a terminal: two modules per character cell (upper half block ▀,
/// lower half block ▄, full block █, space), as `qrencode -t UTF8` draws them. The blocks are the
/// light modules, so on a terminal's dark background the code reads as printed; `invert` draws the
/// dark modules instead (for a light background). `color` adds ANSI colours (bright white on black,
/// or black on bright white when inverted) so the terminal's own theme does not matter.
package enum TerminalQR {
    package static func render(_ qr: QRModules, margin: Int = 4, invert: Bool = false, color: Bool = false) -> String {
        let size = qr.size + 2 * margin
        func ink(_ x: Int, _ y: Int) -> Bool {
            let mx = x - margin, my = y - margin
            let dark = mx >= 0 && my >= 0 && mx < qr.size && my < qr.size && qr[mx, my]
            return invert ? dark : !dark
        }
        var lines: [String] = []
        var y = 0
        while y < size {
            var line = color ? (invert ? "\u{1B}[30;107m" : "\u{1B}[97;40m") : ""
            for x in 0..<size {
                let top = ink(x, y), bottom = y + 1 < size ? ink(x, y + 1) : !invert
                switch (top, bottom) {
                case (true, true): line += "█"
                case (true, false): line += "▀"
                case (false, true): line += "▄"
                case (false, false): line += " "
                }
            }
            if color { line += "\u{1B}[0m" }
            lines.append(line)
            y += 2
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
