// zxing-cpp (libzxing-dev 1.4) as the decoder's second engine, through the C++ shim CQRPayZXing:
// QR codes only, every symbol in the image with its corners.

internal import CQRPayZXing
import Foundation
import QRPayImaging

enum ZXingReader {
    /// `image`'s QR symbols; empty when zxing finds none or fails.
    static func symbols(_ image: GrayImage, tryHarder: Bool = true) -> [ZBarScanner.Symbol] {
        guard image.width > 0, image.height > 0 else { return [] }
        var list: UnsafeMutablePointer<qrpay_zxing_symbol>? = nil
        var count: Int32 = 0
        let status = image.pixels.withUnsafeBufferPointer { p in
            qrpay_zxing_read_qr(p.baseAddress, Int32(image.width), Int32(image.height), tryHarder ? 1 : 0, &list, &count)
        }
        defer { qrpay_zxing_free(list, count) }
        guard status == 0, let list else { return [] }
        return (0..<Int(count)).map { i in
            let s = list[i]
            let text = String(decoding: UnsafeRawBufferPointer(start: s.text, count: s.length), as: UTF8.self)
            let c = withUnsafeBytes(of: s.corners) { Array($0.bindMemory(to: Int32.self)) }
            // zxing's corners are module-corner pixels; +0.5 for their centres, as zbar's.
            let corners = (0..<4).map { Point2(x: Double(c[2 * $0]) + 0.5, y: Double(c[2 * $0 + 1]) + 0.5) }
            return ZBarScanner.Symbol(text: text, corners: corners)
        }
    }
}
