// Photo-like test images: a QR code PNG printed on paper, lying on a table, photographed by a phone.
//
// The code is warped by a perspective transform (rotation, tilt), lit by a gradient, blurred
// (defocus), given sensor noise and a warm colour cast, and saved as a colour JPEG. Used by the
// tests, by `make demo` (qrpay-bench photo) and by the bench. Deterministic for a given seed.

import Foundation
import QRPaySupport
import QRPayImaging
import QRPayDecoder

package enum PhoneCamera {
    package struct Shot: Sendable, Equatable {
        /// In-plane rotation of the code, degrees (any value; wraps).
        package var rotationDegrees: Double
        /// Tilt: how far the code's corners move off the square, as a fraction of its side (0...0.3).
        package var perspective: Double
        /// Defocus blur radius in frame pixels (0 = sharp).
        package var blur: Double
        /// Sensor noise, standard deviation in gray levels.
        package var noise: Double
        /// Light falloff across the frame: 0 even light, 0.6 = the dark side gets 40% of the light.
        package var gradient: Double
        package var jpegQuality: Int
        package var frameWidth: Int
        package var frameHeight: Int
        /// The code's side (with its quiet zone) as a fraction of the frame's short side.
        package var codeFraction: Double
        package var seed: UInt64

        package init(rotationDegrees: Double = 15, perspective: Double = 0.06, blur: Double = 1.5, noise: Double = 4,
                    gradient: Double = 0.3, jpegQuality: Int = 80, frameWidth: Int = 4032, frameHeight: Int = 3024,
                    codeFraction: Double = 0.25, seed: UInt64 = 1) {
            self.rotationDegrees = rotationDegrees
            self.perspective = perspective
            self.blur = blur
            self.noise = noise
            self.gradient = gradient
            self.jpegQuality = jpegQuality
            self.frameWidth = frameWidth
            self.frameHeight = frameHeight
            self.codeFraction = codeFraction
            self.seed = seed
        }
    }

    /// Photographs the code in `png` (any PNG QR-Pay reads) and returns colour JPEG bytes.
    package static func photograph(png: Data, shot: Shot) throws -> Data {
        let code = try PNGReader.gray(png, maxPixels: 16_000_000)
        guard (16...20_000).contains(shot.frameWidth), (16...20_000).contains(shot.frameHeight),
              shot.frameWidth * shot.frameHeight <= 100_000_000 else {
            throw QRPayError(.imageTooLarge, "the photo frame must be 16...20000 pixels a side and at most 100 MP")
        }
        let scene = render(code: code, shot: shot)
        let rgb = colourise(scene, shot: shot)
        return try JPEGWriter.encode(rgb, width: shot.frameWidth, height: shot.frameHeight, components: 3,
                                     quality: shot.jpegQuality)
    }

    /// Grayscale scene: table, paper sheet, code; defocus blur around the code.
    /// (Written for speed even in debug builds: the tests photograph 12 MP frames.)
    static func render(code: GrayImage, shot: Shot) -> GrayImage {
        var rng = SplitMix(seed: shot.seed)
        let W = shot.frameWidth, H = shot.frameHeight
        let side = max(8, Double(min(W, H)) * max(0.02, min(0.95, shot.codeFraction)))
        // Centre: somewhere the whole code fits.
        let reach = side * 0.75
        let cx = Double(W) / 2 + (rng.unit() - 0.5) * max(0, Double(W) - 2 * reach)
        let cy = Double(H) / 2 + (rng.unit() - 0.5) * max(0, Double(H) - 2 * reach)
        let angle = shot.rotationDegrees * .pi / 180
        let (ca, sa) = (cos(angle), sin(angle))
        // Unit-square corners (0,0) (1,0) (1,1) (0,1) -> rotated square, each corner nudged by the tilt.
        let corners: [(Double, Double)] = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)].map { (u, v) in
            let du = u + (rng.unit() - 0.5) * 2 * shot.perspective
            let dv = v + (rng.unit() - 0.5) * 2 * shot.perspective
            return (cx + side * (du * ca - dv * sa), cy + side * (du * sa + dv * ca))
        }
        let forward = Homography.squareToQuad(corners)
        let h = forward.inverse().m
        // Paper: a sheet a little larger than the code (in code units), on a darker textured table.
        let mu = 0.35, mv = 0.49
        let paper = 232, ink = 28, table = 96.0
        // The sheet's bounding box in the frame; outside it is only table.
        let sheet = [(-mu, -mv), (1 + mu, -mv), (1 + mu, 1 + mv), (-mu, 1 + mv)].map { forward.apply($0.0, $0.1) }
        let bx0 = max(0, Int(sheet.map(\.0).min()!.rounded(.down)) - 1), bx1 = min(W, Int(sheet.map(\.0).max()!.rounded(.up)) + 1)
        let by0 = max(0, Int(sheet.map(\.1).min()!.rounded(.down)) - 1), by1 = min(H, Int(sheet.map(\.1).max()!.rounded(.up)) + 1)
        // Wood-ish table: slow stripes, sin(a + b) from per-column and per-row tables.
        let sinX = (0..<W).map { sin(Double($0) * 0.013) }, cosX = (0..<W).map { cos(Double($0) * 0.013) }
        var out = [UInt8](repeating: 0, count: W * H)
        let cw = code.width, ch = code.height
        let fcw = Double(cw), fch = Double(ch)
        var minX = W, maxX = 0, minY = H, maxY = 0
        code.pixels.withUnsafeBufferPointer { srcBuffer in
            out.withUnsafeMutableBufferPointer { dstBuffer in
                let src = srcBuffer.baseAddress!, dst = dstBuffer.baseAddress!
                for y in 0..<H {
                    let phase = sin(Double(y) * 0.004) * 3
                    let sp = 14 * cos(phase), cp = 14 * sin(phase)
                    let row = dst + y * W
                    let inSheetRows = y >= by0 && y < by1
                    let fy = Double(y) + 0.5
                    // Homography numerators and denominator are linear in x.
                    var nu = h[0] * 0.5 + h[1] * fy + h[2], nv = h[3] * 0.5 + h[4] * fy + h[5], dw = h[6] * 0.5 + h[7] * fy + h[8]
                    for x in 0..<W {
                        var value = 0
                        var done = false
                        if inSheetRows && x >= bx0 && x < bx1 {
                            let u = nu / dw, v = nv / dw
                            if u >= 0, u < 1, v >= 0, v < 1 {
                                // Bilinear sample of the code image: ink on paper.
                                let sx = u * fcw - 0.5, sy = v * fch - 0.5
                                let x0 = sx < 0 ? 0 : min(cw - 1, Int(sx)), y0 = sy < 0 ? 0 : min(ch - 1, Int(sy))
                                let x1 = min(cw - 1, x0 + 1), y1 = min(ch - 1, y0 + 1)
                                let ax = max(0, min(1, sx - Double(x0))), ay = max(0, min(1, sy - Double(y0)))
                                let top = Double(src[y0 * cw + x0]) * (1 - ax) + Double(src[y0 * cw + x1]) * ax
                                let bottom = Double(src[y1 * cw + x0]) * (1 - ax) + Double(src[y1 * cw + x1]) * ax
                                value = ink + Int(Double(paper - ink) * (top * (1 - ay) + bottom * ay) / 255)
                                done = true
                                if x < minX { minX = x }
                                if x > maxX { maxX = x }
                                if y < minY { minY = y }
                                if y > maxY { maxY = y }
                            } else if u > -mu, u < 1 + mu, v > -mv, v < 1 + mv {
                                value = paper
                                done = true
                            }
                        }
                        if !done { value = Int(table + sinX[x] * sp + cosX[x] * cp) }
                        row[x] = UInt8(truncatingIfNeeded: max(0, min(255, value)))
                        nu += h[0]; nv += h[3]; dw += h[6]
                    }
                }
            }
        }
        var scene = GrayImage(width: W, height: H, pixels: out)
        if shot.blur > 0.3, minX <= maxX {
            let r = Int(shot.blur.rounded())
            let pad = 4 * r + 8
            scene.boxBlur(radius: max(1, r), passes: 2, x0: max(0, minX - pad), y0: max(0, minY - pad),
                          x1: min(W, maxX + pad + 1), y1: min(H, maxY + pad + 1))
        }
        return scene
    }

    /// Gradient light, warm colour cast and sensor noise -> interleaved RGB.
    static func colourise(_ scene: GrayImage, shot: Shot) -> [UInt8] {
        var rng = SplitMix(seed: shot.seed &+ 0x9E37_79B9)
        let W = scene.width, H = scene.height
        let direction = rng.unit() * 2 * .pi
        let (dx, dy) = (cos(direction), sin(direction))
        let span = abs(dx) * Double(W) + abs(dy) * Double(H)
        let g = max(0, min(0.95, shot.gradient))
        let sigma = max(0, shot.noise)
        // Noise from a table of 4096 roughly normal samples (fixed point, 1/256), indexed by 12 random bits.
        let noise: [Int] = (0..<4096).map { _ in Int((rng.gaussianish() * sigma * 256).rounded()) }
        // Light (fixed point, 1/65536) is linear in x along a row: 1 on the bright side, 1-g on the dark side.
        let tint = [256, 246, 225]  // warm cast, 1/256
        var rgb = [UInt8](repeating: 0, count: W * H * 3)
        scene.pixels.withUnsafeBufferPointer { srcBuffer in
            rgb.withUnsafeMutableBufferPointer { dstBuffer in
                let src = srcBuffer.baseAddress!, dst = dstBuffer.baseAddress!
                let step = Int(-g * dx / span * 65536)
                for y in 0..<H {
                    let t0 = ((0.5 - Double(W) / 2) * dx + (Double(y) - Double(H) / 2) * dy) / span + 0.5
                    var light = Int((1 - g * t0) * 65536)
                    var o = y * W * 3
                    var bits: UInt64 = 0, left = 0
                    for x in 0..<W {
                        let base = (Int(src[y * W + x]) * light) >> 16  // 0...255
                        for c in 0..<3 {
                            if left == 0 { bits = rng.next(); left = 5 }
                            let n = noise[Int(bits & 0xFFF)]
                            bits >>= 12; left -= 1
                            let v = (base * tint[c] + n) >> 8
                            dst[o + c] = UInt8(truncatingIfNeeded: v < 0 ? 0 : (v > 255 ? 255 : v))
                        }
                        o += 3
                        light += step
                    }
                }
            }
        }
        return rgb
    }
}

extension GrayImage {
    /// In-place box blur (`passes` times, horizontal then vertical) of the rectangle [x0,x1)x[y0,y1).
    mutating func boxBlur(radius r: Int, passes: Int, x0: Int, y0: Int, x1: Int, y1: Int) {
        let w = width
        guard x1 - x0 > 2 * r + 1, y1 - y0 > 2 * r + 1 else { return }
        let span = 2 * r + 1
        var line = [Int](repeating: 0, count: max(x1 - x0, y1 - y0))
        pixels.withUnsafeMutableBufferPointer { p in
            line.withUnsafeMutableBufferPointer { l in
                for _ in 0..<passes {
                    for y in y0..<y1 {
                        let n = x1 - x0
                        for i in 0..<n { l[i] = Int(p[y * w + x0 + i]) }
                        var sum = 0
                        for i in -r...r { sum += l[max(0, min(n - 1, i))] }
                        for i in 0..<n {
                            p[y * w + x0 + i] = UInt8(sum / span)
                            sum += l[min(n - 1, i + r + 1)] - l[max(0, i - r)]
                        }
                    }
                    for x in x0..<x1 {
                        let n = y1 - y0
                        for i in 0..<n { l[i] = Int(p[(y0 + i) * w + x]) }
                        var sum = 0
                        for i in -r...r { sum += l[max(0, min(n - 1, i))] }
                        for i in 0..<n {
                            p[(y0 + i) * w + x] = UInt8(sum / span)
                            sum += l[min(n - 1, i + r + 1)] - l[max(0, i - r)]
                        }
                    }
                }
            }
        }
    }
}

/// SplitMix64: small, fast, deterministic.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    /// Roughly normal (sum of four 16-bit uniforms from one draw), mean 0, sd 1.
    mutating func gaussianish() -> Double {
        let r = next()
        let s = Double(r & 0xFFFF) + Double((r >> 16) & 0xFFFF) + Double((r >> 32) & 0xFFFF) + Double(r >> 48)
        return (s / 65536 - 2) * 1.732
    }
}

extension PhoneCamera {
    /// A gray 8-bit PNG of a JPEG at 1/scaleDenominator (1, 2, 4, 8): for looking at test photos.
    /// `crop` (x0, y0, x1, y1 as fractions of the image) keeps only that part.
    package static func previewPNG(jpeg: Data, scaleDenominator: Int = 4, crop: (Double, Double, Double, Double)? = nil) throws -> Data {
        var image = try JPEGReader(jpeg, maxPixels: 100_000_000).gray(scale: scaleDenominator)
        if let crop { image = image.cropped(RegionBox(x0: crop.0, y0: crop.1, x1: crop.2, y1: crop.3)) }
        return try PNGWriter.gray(rows: image.pixels, width: image.width, height: image.height, bitDepth: 8)
    }
}
