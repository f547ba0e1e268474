// The decoder's two halves on their own, for callers that need only one of them (the fuzz targets
// in Sources/QRPayFuzz): reading an image file into gray pixels under the same byte and pixel
// budgets as `decode(data:)`, and the symbol search on gray pixels already in memory.

import Foundation
import QRPaySupport
import QRPayImaging

extension QRImageDecoder {
    /// Reads PNG or JPEG bytes into 8-bit gray without looking for codes, under this decoder's byte
    /// and pixel budgets (the same checks as `decode(data:)`). A JPEG is decoded at 1/`scale` of its
    /// size (1, 2, 4 or 8, libjpeg's scaled IDCT) and un-mirrored; a PNG is always read whole.
    package func readGray(data: Data, scale: Int = 1) throws -> GrayImage {
        guard [1, 2, 4, 8].contains(scale) else { throw QRPayError.usage("the scale must be 1, 2, 4 or 8") }
        guard !data.isEmpty else { throw ImageErrors.empty() }
        guard data.count <= maxBytes else { throw ImageErrors.tooManyBytes(data.count, maxBytes: maxBytes) }
        switch ImageFormat.sniff(data) {
        case .png: return try PNGReader.gray(data, maxPixels: maxPixels)
        case .jpeg: return try JPEGReader(data, maxPixels: maxPixels).gray(scale: scale)
        case nil: throw ImageErrors.unsupported()
        }
    }

    /// The text of every QR symbol in `image`, by the search `decode(data:)` runs after reading a
    /// file (empty when there is none). Refuses images over the pixel budget.
    package func decode(image: GrayImage) throws -> [String] {
        guard image.width > 0, image.height > 0 else { throw ImageErrors.empty() }
        guard image.width * image.height <= maxPixels else {
            throw ImageErrors.tooLarge(width: image.width, height: image.height, maxPixels: maxPixels)
        }
        let pyramid = Pyramid(width: image.width, height: image.height) { d in d == 1 ? image : nil }
        return try Search(pyramid: pyramid, scanner: try ZBarScanner(), secondEngine: secondEngine).run().map(\.text)
    }
}
