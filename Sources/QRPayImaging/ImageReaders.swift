// Image files -> GrayImage.
//
// PNG through libpng's simplified API (png_image_*: every colour type and bit depth, palette,
// alpha composited onto white, 16-bit, interlaced; errors are returned, never longjmp'd), JPEG
// through libjpeg-turbo in the C shim (baseline and progressive, reduced-scale decoding, EXIF
// orientation). Sizes are checked against the pixel budget from the header before any pixel
// buffer is allocated.

internal import CPNG
internal import CQRPayImageShims
import Foundation
import QRPaySupport

package enum ImageFormat: String, Sendable {
    case png = "PNG", jpeg = "JPEG"

    /// By magic bytes only; the file name does not matter.
    package static func sniff(_ data: Data) -> ImageFormat? {
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if data.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }
}

package enum ImageErrors {
    package static func unsupported() -> QRPayError {
        QRPayError(.imageUnsupported, "unsupported image format (only PNG and JPEG are read)")
    }
    package static func empty() -> QRPayError { QRPayError(.imageEmpty, "the image file is empty") }
    static func truncated(_ format: ImageFormat, _ detail: String) -> QRPayError {
        QRPayError(.imageTruncated, "the \(format.rawValue) image is truncated (\(detail))")
    }
    static func corrupt(_ format: ImageFormat, _ detail: String) -> QRPayError {
        QRPayError(.imageCorrupt, "the \(format.rawValue) image is corrupt (\(detail))")
    }
    package static func tooLarge(width: Int, height: Int, maxPixels: Int) -> QRPayError {
        QRPayError(.imageTooLarge, "the image is \(width)x\(height) pixels, over the budget of \(maxPixels) pixels")
    }
    package static func tooManyBytes(_ count: Int, maxBytes: Int) -> QRPayError {
        QRPayError(.imageTooLarge, "the image is \(count) bytes, over the budget of \(maxBytes) bytes")
    }

    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

package enum PNGReader {
    /// The whole image as 8-bit gray (alpha composited onto white).
    package static func gray(_ data: Data, maxPixels: Int) throws -> GrayImage {
        try data.withUnsafeBytes { raw -> GrayImage in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            defer { png_image_free(&image) }
            guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else {
                throw failure(&image, data)
            }
            let width = Int(image.width), height = Int(image.height)
            guard width > 0, height > 0, width.multipliedReportingOverflow(by: height).partialValue <= maxPixels,
                  !width.multipliedReportingOverflow(by: height).overflow else {
                throw ImageErrors.tooLarge(width: width, height: height, maxPixels: maxPixels)
            }
            image.format = UInt32(PNG_FORMAT_GRAY)
            var pixels = [UInt8](repeating: 255, count: width * height)
            let ok = pixels.withUnsafeMutableBytes { out in
                png_image_finish_read(&image, nil, out.baseAddress, Int32(width), nil)
            }
            guard ok != 0 else { throw failure(&image, data) }
            return GrayImage(width: width, height: height, pixels: pixels)
        }
    }

    private static func failure(_ image: inout png_image, _ data: Data) -> QRPayError {
        let message = withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        // A complete PNG ends with its IEND chunk; without one the data was cut short.
        let iend: [UInt8] = [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]
        if !data.suffix(12).elementsEqual(iend) { return ImageErrors.truncated(.png, message) }
        return ImageErrors.corrupt(.png, message)
    }
}

/// A JPEG's header facts and reduced-scale grayscale decoding.
package struct JPEGReader {
    let data: Data
    package let width: Int
    package let height: Int
    /// EXIF orientation 1...8 (1 when absent).
    package let orientation: Int

    package init(_ data: Data, maxPixels: Int) throws {
        var w: Int32 = 0, h: Int32 = 0, components: Int32 = 0, orientation: Int32 = 1
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { raw in
            qrpay_jpeg_header(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count, &w, &h, &components, &orientation, &message, message.count)
        }
        try JPEGReader.check(status, message)
        guard w > 0, h > 0, Int(w) * Int(h) <= maxPixels else {
            throw ImageErrors.tooLarge(width: Int(w), height: Int(h), maxPixels: maxPixels)
        }
        self.data = data
        self.width = Int(w)
        self.height = Int(h)
        self.orientation = Int(orientation)
    }

    /// Orientations 2, 4, 5 and 7 mirror the image; a mirrored QR code does not scan.
    package var mirrored: Bool { [2, 4, 5, 7].contains(orientation) }
    /// Orientations 5-8 swap width and height.
    package var displayWidth: Int { orientation >= 5 ? height : width }
    package var displayHeight: Int { orientation >= 5 ? width : height }

    /// The image at 1/denominator (1, 2, 4 or 8) of its size, as gray, un-mirrored (rotation is
    /// kept: it does not matter to the scanner).
    package func gray(scale denominator: Int) throws -> GrayImage {
        let w = (width + denominator - 1) / denominator, h = (height + denominator - 1) / denominator
        var pixels = [UInt8](repeating: 0, count: w * h)
        var ow: Int32 = 0, oh: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { raw in
            pixels.withUnsafeMutableBufferPointer { out in
                qrpay_jpeg_decode_gray(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count, Int32(denominator),
                                       out.baseAddress, out.count, &ow, &oh, &message, message.count)
            }
        }
        try JPEGReader.check(status, message)
        guard Int(ow) == w, Int(oh) == h else { throw ImageErrors.corrupt(.jpeg, "unexpected scaled size \(ow)x\(oh)") }
        let image = GrayImage(width: w, height: h, pixels: pixels)
        return mirrored ? image.flippedHorizontally() : image
    }

    private static func check(_ status: Int32, _ message: [CChar]) throws {
        switch Int(status) {
        case QRPAY_IMG_OK: return
        case QRPAY_IMG_TRUNCATED: throw ImageErrors.truncated(.jpeg, ImageErrors.text(message))
        case QRPAY_IMG_UNSUPPORTED:
            throw QRPayError(.imageUnsupported, "unsupported image format (\(ImageErrors.text(message)))")
        case QRPAY_IMG_NOMEM: throw QRPayError(.imageMemory, "out of memory decoding the JPEG image")
        default: throw ImageErrors.corrupt(.jpeg, ImageErrors.text(message))
        }
    }
}

package enum JPEGWriter {
    /// Gray (components 1) or RGB (3) pixels -> JPEG bytes.
    package static func encode(_ pixels: [UInt8], width: Int, height: Int, components: Int, quality: Int,
                       progressive: Bool = false, orientation: Int = 1) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var length = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = pixels.withUnsafeBufferPointer { p in
            qrpay_jpeg_encode(p.baseAddress, Int32(width), Int32(height), Int32(components), Int32(max(1, min(100, quality))),
                              progressive ? 1 : 0, Int32(orientation), &out, &length, &message, message.count)
        }
        defer { qrpay_image_free(out) }
        guard Int(status) == QRPAY_IMG_OK, let out else {
            throw QRPayError(.imageWrite, "cannot write JPEG: \(ImageErrors.text(message))")
        }
        return Data(bytes: out, count: length)
    }
}
