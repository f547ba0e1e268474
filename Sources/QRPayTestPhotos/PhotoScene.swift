// Photo-like test scenes with what real phone photos of QR codes have: several codes per image at
// different sizes and angles, codes up to version 40, labels bent round cylinders, heavy 3D tilt,
// strong light gradients, cast shadows, glare, low light with sensor noise, focus and motion blur,
// codes shown on screens (their pixel grid beats against the sensor's: moiré), damage, JPEG at
// phone qualities and EXIF orientation. Every scene is deterministic for its seed, and the
// rendering returns where each code's corners are, for tests and benches to check positions.
//
// The model: a textured table; on it, per code, a paper label (or a screen) carrying the code; the
// label's plane is tilted in 3D and photographed through a pinhole (an exact homography), after
// an optional bend round a vertical cylinder. Then lighting (exposure, gradient, vignette, a
// shadow, a glare spot), blur, colour cast and noise, JPEG, and the EXIF rotation.

import Foundation
import QRPaySupport
import QRPayImaging
import QRPayDecoder

/// One code in a scene.
package struct PhotoCode: Sendable, Equatable {
    package var text: String
    package var correction: QRErrorCorrection
    /// Centre of the code, as fractions of the displayed frame.
    package var centreX: Double
    package var centreY: Double
    /// The code's side (with its 4-module quiet zone) as a fraction of the frame's short side,
    /// before tilt and bending.
    package var side: Double
    /// In-plane rotation, degrees.
    package var rotationDegrees: Double
    /// 3D tilt of the code's plane about its horizontal and vertical axes, degrees (0...70).
    package var tiltX: Double
    package var tiltY: Double
    /// The arc (degrees) the code's width spans round a vertical cylinder (0 = flat; 160 at most).
    package var cylinderDegrees: Double
    /// Dark or light blots on the code (scratches, stains, stickers), as a fraction of its area.
    package var damage: Double
    /// Shown on a screen (light, with a visible pixel grid) instead of printed on paper.
    package var screen: Bool
    /// Screen pixels per code module (2...8), when `screen`.
    package var screenPixelsPerModule: Double

    package init(text: String, correction: QRErrorCorrection = .medium, centreX: Double = 0.5, centreY: Double = 0.5,
                side: Double = 0.3, rotationDegrees: Double = 0, tiltX: Double = 0, tiltY: Double = 0,
                cylinderDegrees: Double = 0, damage: Double = 0, screen: Bool = false, screenPixelsPerModule: Double = 4) {
        self.text = text
        self.correction = correction
        self.centreX = centreX
        self.centreY = centreY
        self.side = side
        self.rotationDegrees = rotationDegrees
        self.tiltX = tiltX
        self.tiltY = tiltY
        self.cylinderDegrees = cylinderDegrees
        self.damage = damage
        self.screen = screen
        self.screenPixelsPerModule = screenPixelsPerModule
    }
}

/// A whole photo: frame, codes, light, optics, sensor, file.
package struct PhotoScene: Sendable, Equatable {
    /// The frame as displayed (after EXIF orientation).
    package var frameWidth: Int
    package var frameHeight: Int
    package var codes: [PhotoCode]
    /// Defocus: box blur radius in pixels (two passes).
    package var focusBlur: Double
    /// Camera shake: blur length in pixels along `motionDegrees`.
    package var motionBlur: Double
    package var motionDegrees: Double
    /// Sensor noise, standard deviation in gray levels (after exposure).
    package var noise: Double
    /// Overall exposure (1 normal, 0.25 a dim room).
    package var exposure: Double
    /// Light falloff across the frame (0 even, 0.9 the dark side gets a tenth).
    package var gradient: Double
    /// Darkening towards the corners (0...0.8).
    package var vignette: Double
    /// A cast shadow with a soft straight edge across the frame: the light it keeps out (0...0.85).
    package var shadow: Double
    /// A point of the shadow's edge (fractions of the frame) and the edge's direction, degrees.
    package var shadowX: Double
    package var shadowY: Double
    package var shadowDegrees: Double
    /// A bright glare spot (0...1.5: how far it pushes to white at its centre) on a code.
    package var glare: Double
    package var jpegQuality: Int
    /// EXIF orientation 1...8 written to the file (the stored pixels are turned to match).
    package var orientation: Int
    package var seed: UInt64

    package init(frameWidth: Int = 4032, frameHeight: Int = 3024, codes: [PhotoCode], focusBlur: Double = 1, motionBlur: Double = 0,
                motionDegrees: Double = 0, noise: Double = 3, exposure: Double = 1, gradient: Double = 0.2, vignette: Double = 0.2,
                shadow: Double = 0, shadowX: Double = 0.5, shadowY: Double = 0.5, shadowDegrees: Double = 30, glare: Double = 0, jpegQuality: Int = 85, orientation: Int = 1, seed: UInt64 = 1) {
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
        self.codes = codes
        self.focusBlur = focusBlur
        self.motionBlur = motionBlur
        self.motionDegrees = motionDegrees
        self.noise = noise
        self.exposure = exposure
        self.gradient = gradient
        self.vignette = vignette
        self.shadow = shadow
        self.shadowX = shadowX
        self.shadowY = shadowY
        self.shadowDegrees = shadowDegrees
        self.glare = glare
        self.jpegQuality = jpegQuality
        self.orientation = orientation
        self.seed = seed
    }
}

/// A rendered scene: the JPEG file and where each code is.
package struct RenderedPhoto: Sendable {
    package struct Code: Sendable, Equatable {
        package let text: String
        /// The symbol's four corners (its modules, without the quiet zone) in the displayed frame's
        /// pixels: top-left, top-right, bottom-right, bottom-left of the code itself.
        package let corners: [(x: Double, y: Double)]
        package static func == (a: Code, b: Code) -> Bool {
            a.text == b.text && a.corners.elementsEqual(b.corners, by: { $0.x == $1.x && $0.y == $1.y })
        }
    }
    package let jpeg: Data
    package let codes: [Code]
}

extension PhoneCamera {
    /// Renders `scene` to a colour JPEG (deterministic for the scene).
    package static func photograph(_ scene: PhotoScene) throws -> RenderedPhoto {
        let W = scene.frameWidth, H = scene.frameHeight
        guard (16...20_000).contains(W), (16...20_000).contains(H), W * H <= 100_000_000 else {
            throw QRPayError(.imageTooLarge, "the photo frame must be 16...20000 pixels a side and at most 100 MP")
        }
        var rng = SplitMix(seed: scene.seed &* 0x2545_F491_4F6C_DD1D &+ 17)
        var image = SceneRenderer.table(width: W, height: H, rng: &rng)
        var placed: [RenderedPhoto.Code] = []
        var union = (x0: W, y0: H, x1: 0, y1: 0)
        for code in scene.codes {
            let modules = try QRCodeImage.modules(text: code.text, correction: code.correction)
            let geometry = SceneRenderer.Geometry(code: code, modules: modules.size, frameWidth: W, frameHeight: H)
            let box = SceneRenderer.draw(code, modules: modules, geometry: geometry, into: &image, rng: &rng)
            union = (min(union.x0, box.x0), min(union.y0, box.y0), max(union.x1, box.x1), max(union.y1, box.y1))
            placed.append(RenderedPhoto.Code(text: code.text, corners: geometry.symbolCorners()))
        }
        if union.x0 < union.x1 {
            let pad = Int(scene.focusBlur * 4 + scene.motionBlur) + 16
            let x0 = max(0, union.x0 - pad), y0 = max(0, union.y0 - pad), x1 = min(W, union.x1 + pad), y1 = min(H, union.y1 + pad)
            if scene.focusBlur >= 0.5 {
                image.boxBlur(radius: max(1, Int(scene.focusBlur.rounded())), passes: 2, x0: x0, y0: y0, x1: x1, y1: y1)
            }
            if scene.motionBlur >= 1.5 {
                image.motionBlur(length: scene.motionBlur, degrees: scene.motionDegrees, x0: x0, y0: y0, x1: x1, y1: y1)
            }
        }
        let glareAt = placed.isEmpty ? (Double(W) / 2, Double(H) / 2) : {
            let c = placed[Int(rng.next() % UInt64(placed.count))].corners
            let t = rng.unit(), s = rng.unit()
            let x = c[0].x + (c[1].x - c[0].x) * t + (c[3].x - c[0].x) * s
            let y = c[0].y + (c[1].y - c[0].y) * t + (c[3].y - c[0].y) * s
            return (x, y)
        }()
        let glareRadius = placed.isEmpty ? 100 : max(20, hypot(placed[0].corners[1].x - placed[0].corners[0].x,
                                                               placed[0].corners[1].y - placed[0].corners[0].y) * (0.12 + 0.12 * rng.unit()))
        let rgb = SceneRenderer.light(image, scene: scene, glare: glareAt, glareRadius: glareRadius, rng: &rng)
        let (stored, sw, sh) = SceneRenderer.store(rgb, width: W, height: H, orientation: scene.orientation)
        let jpeg = try JPEGWriter.encode(stored, width: sw, height: sh, components: 3, quality: scene.jpegQuality,
                                         orientation: scene.orientation)
        return RenderedPhoto(jpeg: jpeg, codes: placed)
    }
}

enum SceneRenderer {
    /// Where a code goes: the homography from its (bent) unit square to the frame.
    struct Geometry {
        let forward: Homography
        let inverse: Homography
        /// Bend: the half arc in radians (0 = flat) and sin of it.
        let halfArc: Double
        /// Modules across, with the 4-module quiet zones.
        let total: Double

        init(code: PhotoCode, modules: Int, frameWidth W: Int, frameHeight H: Int) {
            total = Double(modules + 8)
            halfArc = max(0, min(160, code.cylinderDegrees)) * .pi / 360
            // The code's square in its plane, centred, unit side; rotated in plane, tilted, projected.
            let rot = code.rotationDegrees * .pi / 180
            let ax = max(-75, min(75, code.tiltX)) * .pi / 180, ay = max(-75, min(75, code.tiltY)) * .pi / 180
            let focal = 2.2  // a phone's normal lens: about 2.2 code widths away when the code fills half the view
            let projected: [(Double, Double)] = [(0.0, 0.0), (1, 0), (1, 1), (0, 1)].map { (u, v) in
                var x = u - 0.5, y = v - 0.5, z = 0.0
                (x, y) = (x * cos(rot) - y * sin(rot), x * sin(rot) + y * cos(rot))
                (y, z) = (y * cos(ax) - z * sin(ax), y * sin(ax) + z * cos(ax))
                (x, z) = (x * cos(ay) + z * sin(ay), -x * sin(ay) + z * cos(ay))
                let depth = focal + z
                return (x * focal / depth, y * focal / depth)
            }
            let scale = Double(min(W, H)) * code.side
            let corners = projected.map { (code.centreX * Double(W) + $0.0 * scale, code.centreY * Double(H) + $0.1 * scale) }
            forward = Homography.squareToQuad(corners)
            inverse = forward.inverse()
        }

        /// Unit-square x (0...1 across the code) -> the flattened projection's x (bent code).
        func bend(_ u: Double) -> Double {
            guard halfArc > 0 else { return u }
            return 0.5 + sin((u - 0.5) * 2 * halfArc) / (2 * sin(halfArc))
        }

        /// Inverse of `bend`; nil beyond the cylinder's visible side.
        func unbend(_ p: Double) -> Double? {
            guard halfArc > 0 else { return p }
            let s = (p - 0.5) * 2 * sin(halfArc)
            guard abs(s) < 0.999 else { return nil }
            return 0.5 + asin(s) / (2 * halfArc)
        }

        func toFrame(_ u: Double, _ v: Double) -> (x: Double, y: Double) {
            let (x, y) = forward.apply(bend(u), v)
            return (x, y)
        }

        /// The corners of the symbol's modules (inside the quiet zone): TL, TR, BR, BL.
        func symbolCorners() -> [(x: Double, y: Double)] {
            let q = 4 / total
            return [(q, q), (1 - q, q), (1 - q, 1 - q), (q, 1 - q)].map { toFrame($0.0, $0.1) }
        }
    }

    /// A wood-ish table with slow stripes, its brightness and grain from the seed.
    static func table(width W: Int, height H: Int, rng: inout SplitMix) -> GrayImage {
        let base = 70 + rng.unit() * 60, amp = 8 + rng.unit() * 10, freq = 0.006 + rng.unit() * 0.012
        let sinX = (0..<W).map { sin(Double($0) * freq) }, cosX = (0..<W).map { cos(Double($0) * freq) }
        var out = [UInt8](repeating: 0, count: W * H)
        out.withUnsafeMutableBufferPointer { dst in
            for y in 0..<H {
                let phase = sin(Double(y) * 0.004) * 3
                let sp = amp * cos(phase), cp = amp * sin(phase)
                let row = y * W
                for x in 0..<W { dst[row + x] = UInt8(max(0, min(255, base + sinX[x] * sp + cosX[x] * cp))) }
            }
        }
        return GrayImage(width: W, height: H, pixels: out)
    }

    /// Draws the label (or screen) and the code; returns the pixel box it covers.
    static func draw(_ code: PhotoCode, modules: QRModules, geometry g: Geometry, into image: inout GrayImage,
                     rng: inout SplitMix) -> (x0: Int, y0: Int, x1: Int, y1: Int) {
        let W = image.width, H = image.height
        let n = modules.size
        // The label: a margin of paper round the quiet zone (less on a tight cylinder).
        let margin = code.screen ? 0.08 : (g.halfArc > 0 ? 0.04 : 0.12 + rng.unit() * 0.15)
        let vMargin = code.screen ? 0.06 : margin + rng.unit() * 0.1
        let outline = [(-margin, -vMargin), (1 + margin, -vMargin), (1 + margin, 1 + vMargin), (-margin, 1 + vMargin),
                       (0.5, -vMargin), (0.5, 1 + vMargin), (-margin, 0.5), (1 + margin, 0.5)]
            .map { g.toFrame($0.0, $0.1) }
        let x0 = max(0, Int(outline.map(\.x).min()!.rounded(.down)) - 2), x1 = min(W, Int(outline.map(\.x).max()!.rounded(.up)) + 2)
        let y0 = max(0, Int(outline.map(\.y).min()!.rounded(.down)) - 2), y1 = min(H, Int(outline.map(\.y).max()!.rounded(.up)) + 2)
        guard x0 < x1, y0 < y1 else { return (W, H, 0, 0) }
        let paper = code.screen ? 215.0 + rng.unit() * 30 : 215 + rng.unit() * 25
        let ink = code.screen ? 18 + rng.unit() * 20 : 20 + rng.unit() * 25
        let bezel = 12.0
        // Damage: blots in module coordinates, dark or light, until the fraction is covered.
        var blots: [(x: Double, y: Double, r: Double, dark: Bool)] = []
        var covered = 0.0
        while covered < code.damage {
            let r = (0.03 + rng.unit() * 0.07) * Double(n)
            let cx = 4 + rng.unit() * Double(n), cy = 4 + rng.unit() * Double(n)
            // Keep the three finder patterns mostly whole: real damage that kills a finder also
            // defeats zxing-cpp and zbar alike, and says nothing about the decoder.
            let finders = [(7.5, 7.5), (Double(n) + 0.5, 7.5), (7.5, Double(n) + 0.5)]
            if finders.contains(where: { hypot($0.0 - cx, $0.1 - cy) < r + 5 }) { continue }
            blots.append((cx, cy, r, rng.unit() < 0.5))
            covered += .pi * r * r / Double(n * n)
        }
        let total = g.total
        let screenStep = code.screen ? 1 / max(1.5, code.screenPixelsPerModule) : 0
        let gridDepth = 0.35 + rng.unit() * 0.25
        let inv = g.inverse.m
        image.pixels.withUnsafeMutableBufferPointer { dst in
            modules.dark.withUnsafeBufferPointer { dark in
                for y in y0..<y1 {
                    let fy = Double(y) + 0.5
                    for x in x0..<x1 {
                        let fx = Double(x) + 0.5
                        // Sub-pixel coverage: 2x2 samples, for edges as soft as a lens makes them.
                        var sum = 0.0, hits = 0
                        for (ox, oy) in [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)] {
                            let px = fx + ox, py = fy + oy
                            let w = inv[6] * px + inv[7] * py + inv[8]
                            let p = (inv[0] * px + inv[1] * py + inv[2]) / w, v = (inv[3] * px + inv[4] * py + inv[5]) / w
                            guard let u = g.unbend(p), u > -margin, u < 1 + margin, v > -vMargin, v < 1 + vMargin else { continue }
                            hits += 1
                            var value: Double
                            // Cylinder shading: darker towards the sides.
                            let shade = g.halfArc > 0 ? 0.6 + 0.4 * cos((u - 0.5) * 2 * g.halfArc) : 1
                            if code.screen && (u < 0 || u > 1 || v < 0 || v > 1) {
                                value = bezel
                            } else {
                                let mx = u * total - 4, my = v * total - 4
                                var isDark = false
                                if mx >= 0, my >= 0, mx < Double(n), my < Double(n) {
                                    isDark = dark[Int(my) * n + Int(mx)]
                                }
                                for b in blots where (mx - b.x) * (mx - b.x) + (my - b.y) * (my - b.y) < b.r * b.r { isDark = b.dark }
                                value = isDark ? ink : paper
                                if code.screen && u >= 0 && u <= 1 && v >= 0 && v <= 1 {
                                    // The gaps between the screen's pixels.
                                    let sx = (mx + 4) / screenStep, sy = (my + 4) / screenStep
                                    let gx = sx - sx.rounded(.down), gy = sy - sy.rounded(.down)
                                    if gx < 0.28 || gy < 0.28 { value *= 1 - gridDepth }
                                }
                            }
                            sum += value * shade
                        }
                        guard hits > 0 else { continue }
                        let back = Double(dst[y * W + x])
                        dst[y * W + x] = UInt8(max(0, min(255, (sum + back * Double(4 - hits)) / 4 + 0.5)))
                    }
                }
            }
        }
        return (x0, y0, x1, y1)
    }

    /// Light (exposure, gradient, vignette, shadow, glare), warm cast and noise -> RGB.
    static func light(_ image: GrayImage, scene: PhotoScene, glare: (Double, Double), glareRadius: Double,
                      rng: inout SplitMix) -> [UInt8] {
        let W = image.width, H = image.height
        let direction = rng.unit() * 2 * .pi
        let (dx, dy) = (cos(direction), sin(direction))
        let span = abs(dx) * Double(W) + abs(dy) * Double(H)
        let g = max(0, min(0.95, scene.gradient)), vig = max(0, min(0.8, scene.vignette))
        // Shadow: a half plane whose edge runs through (shadowX, shadowY) at shadowDegrees, soft
        // over about 1.5% of the frame.
        let shadowAngle = (scene.shadowDegrees + 90) * .pi / 180
        let (sx, sy) = (cos(shadowAngle), sin(shadowAngle))
        let shadowOffset = (scene.shadowX - 0.5) * Double(W) * sx + (scene.shadowY - 0.5) * Double(H) * sy
        let soft = 0.015 * Double(min(W, H))
        let shade = max(0, min(0.85, scene.shadow))
        let sigma = max(0, scene.noise)
        let noise: [Int] = (0..<4096).map { _ in Int((rng.gaussianish() * sigma * 256).rounded()) }
        let tint = [256, 244, 222]
        let exposure = max(0.05, scene.exposure)
        let halfW = Double(W) / 2, halfH = Double(H) / 2, diag2 = halfW * halfW + halfH * halfH
        var rgb = [UInt8](repeating: 0, count: W * H * 3)
        image.pixels.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { dst in
                var bits: UInt64 = 0, left = 0
                for y in 0..<H {
                    let fy = Double(y) + 0.5 - halfH
                    for x in 0..<W {
                        let fx = Double(x) + 0.5 - halfW
                        var light = exposure * (1 - g * ((fx * dx + fy * dy) / span + 0.5))
                        if vig > 0 { light *= 1 - vig * (fx * fx + fy * fy) / diag2 }
                        if shade > 0 {
                            let d = (fx * sx + fy * sy - shadowOffset) / soft
                            let t = d <= -1 ? 0 : (d >= 1 ? 1 : (d + 1) / 2)
                            light *= 1 - shade * t
                        }
                        var value = Double(src[y * W + x]) * light
                        if scene.glare > 0 {
                            let ex = (Double(x) - glare.0) / glareRadius, ey = (Double(y) - glare.1) / glareRadius
                            let e2 = ex * ex + ey * ey
                            if e2 < 9 { value += scene.glare * 255 * exp(-e2) }
                        }
                        let base = Int(value)
                        let o = (y * W + x) * 3
                        for c in 0..<3 {
                            if left == 0 { bits = rng.next(); left = 5 }
                            let n = noise[Int(bits & 0xFFF)]
                            bits >>= 12; left -= 1
                            let v = (min(255, base) * tint[c] + n) >> 8
                            dst[o + c] = UInt8(truncatingIfNeeded: v < 0 ? 0 : (v > 255 ? 255 : v))
                        }
                    }
                }
            }
        }
        return rgb
    }

    /// The stored pixels for EXIF `orientation`: displaying them by the tag gives `rgb` back.
    static func store(_ rgb: [UInt8], width W: Int, height H: Int, orientation: Int) -> ([UInt8], Int, Int) {
        guard (2...8).contains(orientation) else { return (rgb, W, H) }
        let swap = orientation >= 5
        let sw = swap ? H : W, sh = swap ? W : H
        var out = [UInt8](repeating: 0, count: rgb.count)
        for y in 0..<sh {
            for x in 0..<sw {
                let (dxp, dyp) = ExifOrientation.display(x, y, width: sw, height: sh, orientation: orientation)
                let s = (dyp * W + dxp) * 3, d = (y * sw + x) * 3
                out[d] = rgb[s]; out[d + 1] = rgb[s + 1]; out[d + 2] = rgb[s + 2]
            }
        }
        return (out, sw, sh)
    }
}

extension GrayImage {
    /// Camera shake: each pixel of [x0,x1)x[y0,y1) the mean along a `length`-pixel line at `degrees`.
    mutating func motionBlur(length: Double, degrees: Double, x0: Int, y0: Int, x1: Int, y1: Int) {
        let taps = max(2, Int(length.rounded()))
        let a = degrees * .pi / 180
        let offsets: [(Int, Int)] = (0..<taps).map { t in
            let s = (Double(t) - Double(taps - 1) / 2) * length / Double(taps)
            return (Int((s * cos(a)).rounded()), Int((s * sin(a)).rounded()))
        }
        let source = pixels
        let w = width, h = height
        source.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for y in y0..<y1 {
                    for x in x0..<x1 {
                        var sum = 0
                        for (ox, oy) in offsets {
                            let sx = max(0, min(w - 1, x + ox)), sy = max(0, min(h - 1, y + oy))
                            sum += Int(src[sy * w + sx])
                        }
                        dst[y * w + x] = UInt8(sum / taps)
                    }
                }
            }
        }
    }
}
