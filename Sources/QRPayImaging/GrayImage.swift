// An 8-bit grayscale raster and the cheap pixel operations the QR front end needs: box
// downscaling, quiet-zone padding, inversion, horizontal flip and a local-mean threshold.

import Foundation

/// 8-bit grayscale pixels, row-major, no padding (0 black, 255 white).
package struct GrayImage: Sendable, Equatable {
    package let width: Int
    package let height: Int
    package var pixels: [UInt8]

    package init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height)
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    package init(width: Int, height: Int, fill: UInt8 = 255) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height))
    }

    /// Half size, each pixel the mean of a 2x2 block (odd last row/column dropped).
    package func halved() -> GrayImage {
        let w = width / 2, h = height / 2
        guard w > 0, h > 0 else { return self }
        var out = [UInt8](repeating: 0, count: w * h)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let r0 = 2 * y * width, r1 = r0 + width, o = y * w
                    for x in 0..<w {
                        let s = Int(src[r0 + 2 * x]) + Int(src[r0 + 2 * x + 1]) + Int(src[r1 + 2 * x]) + Int(src[r1 + 2 * x + 1])
                        dst[o + x] = UInt8((s + 2) >> 2)
                    }
                }
            }
        }
        return GrayImage(width: w, height: h, pixels: out)
    }

    /// Twice the size, bilinear (pixel centres kept: output x maps to input (x + 0.5) / 2 - 0.5).
    package func doubled() -> GrayImage {
        let w = width * 2, h = height * 2
        guard width > 1, height > 1 else { return self }
        var out = [UInt8](repeating: 0, count: w * h)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let fy = max(0, min(Double(height - 1), (Double(y) + 0.5) / 2 - 0.5))
                    let y0 = min(height - 2, Int(fy)), ay = fy - Double(y0)
                    for x in 0..<w {
                        let fx = max(0, min(Double(width - 1), (Double(x) + 0.5) / 2 - 0.5))
                        let x0 = min(width - 2, Int(fx)), ax = fx - Double(x0)
                        let i = y0 * width + x0
                        let top = Double(src[i]) * (1 - ax) + Double(src[i + 1]) * ax
                        let bottom = Double(src[i + width]) * (1 - ax) + Double(src[i + width + 1]) * ax
                        dst[y * w + x] = UInt8(top * (1 - ay) + bottom * ay + 0.5)
                    }
                }
            }
        }
        return GrayImage(width: w, height: h, pixels: out)
    }

    /// The image centred in a border of `border` pixels of `value` (a quiet zone for the scanner).
    package func padded(_ border: Int, value: UInt8 = 255) -> GrayImage {
        let w = width + 2 * border, h = height + 2 * border
        var out = [UInt8](repeating: value, count: w * h)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let d = dst.baseAddress! + (y + border) * w + border
                    d.update(from: src.baseAddress! + y * width, count: width)
                }
            }
        }
        return GrayImage(width: w, height: h, pixels: out)
    }

    package func inverted() -> GrayImage {
        var copy = self
        copy.pixels.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = 255 &- p[i] }
        }
        return copy
    }

    package func flippedHorizontally() -> GrayImage {
        var copy = self
        copy.pixels.withUnsafeMutableBufferPointer { p in
            for y in 0..<height {
                var a = y * width, b = a + width - 1
                while a < b { p.swapAt(a, b); a += 1; b -= 1 }
            }
        }
        return copy
    }

    /// Black where a pixel is darker than the mean of its (2r+1)^2 neighbourhood minus `bias`,
    /// white elsewhere: evens out shadows and gradient light before the scanner sees the image.
    package func thresholded(radius r: Int, bias: Int = 4) -> GrayImage {
        guard width > 0, height > 0 else { return self }
        let w = width, h = height, iw = w + 1
        var integral = [UInt32](repeating: 0, count: iw * (h + 1))
        var out = [UInt8](repeating: 255, count: w * h)
        pixels.withUnsafeBufferPointer { src in
            integral.withUnsafeMutableBufferPointer { sum in
                for y in 0..<h {
                    var row: UInt32 = 0
                    let s = y * w, o = (y + 1) * iw, p = y * iw
                    for x in 0..<w {
                        row &+= UInt32(src[s + x])
                        sum[o + x + 1] = sum[p + x + 1] &+ row
                    }
                }
            }
            integral.withUnsafeBufferPointer { sum in
                out.withUnsafeMutableBufferPointer { dst in
                    for y in 0..<h {
                        let y0 = max(0, y - r), y1 = min(h, y + r + 1)
                        for x in 0..<w {
                            let x0 = max(0, x - r), x1 = min(w, x + r + 1)
                            let total = Int(sum[y1 * iw + x1] &- sum[y0 * iw + x1] &- sum[y1 * iw + x0] &+ sum[y0 * iw + x0])
                            let count = (y1 - y0) * (x1 - x0)
                            if Int(src[y * w + x]) * count < total - bias * count { dst[y * w + x] = 0 }
                        }
                    }
                }
            }
        }
        return GrayImage(width: w, height: h, pixels: out)
    }
}

/// EXIF orientation: where a stored pixel is shown.
package enum ExifOrientation {
    /// Stored pixel (x, y) of a width x height image -> its displayed pixel.
    package static func display(_ x: Int, _ y: Int, width W: Int, height H: Int, orientation: Int) -> (Int, Int) {
        switch orientation {
        case 2: return (W - 1 - x, y)
        case 3: return (W - 1 - x, H - 1 - y)
        case 4: return (x, H - 1 - y)
        case 5: return (y, x)
        case 6: return (H - 1 - y, x)
        case 7: return (H - 1 - y, W - 1 - x)
        case 8: return (y, W - 1 - x)
        default: return (x, y)
        }
    }

    /// A stored point (continuous pixel coordinates) -> the displayed point.
    package static func display(_ x: Double, _ y: Double, width W: Double, height H: Double, orientation: Int) -> (Double, Double) {
        switch orientation {
        case 2: return (W - x, y)
        case 3: return (W - x, H - y)
        case 4: return (x, H - y)
        case 5: return (y, x)
        case 6: return (H - y, x)
        case 7: return (H - y, W - x)
        case 8: return (y, W - x)
        default: return (x, y)
        }
    }
}
