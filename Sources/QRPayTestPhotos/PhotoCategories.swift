// The kinds of real phone photos a QR reader meets (after the categories of public QR photo
// collections), each as a seeded family of `PhotoScene`s: the decode bench's rows and the
// regression fixtures come from here. `scene(index:)` is deterministic.

import Foundation
import QRPayImaging

package enum PhotoCategory: String, Sendable, CaseIterable {
    case nominal, closeUp = "close-up", manyCodes = "many-codes", rotations, gradient, shadow
    case highVersion = "high-version", curved, perspective, blur, moire, lowLight = "low-light"
    case jpeg, exif, glare, damaged

    package var about: String {
        switch self {
        case .nominal: return "one code, ordinary light and angle"
        case .closeUp: return "one code filling most of the frame, soft focus"
        case .manyCodes: return "8-20 small codes on a sheet, each turned its own way"
        case .rotations: return "2-5 codes, each at its own rotation, slightly tilted"
        case .gradient: return "strong light falloff and vignetting across the codes"
        case .shadow: return "a cast shadow's edge across the code"
        case .highVersion: return "one code of version 15-40"
        case .curved: return "labels round a bottle or can (60-150 degree arc)"
        case .perspective: return "the code's plane tilted 45-65 degrees"
        case .blur: return "camera shake (motion blur) or defocus"
        case .moire: return "a code on a screen: its pixel grid beats with the sensor's"
        case .lowLight: return "a dim room: low exposure, strong sensor noise"
        case .jpeg: return "small codes, JPEG quality 25-55"
        case .exif: return "stored sideways or upside down, EXIF orientation 3, 6 or 8"
        case .glare: return "a bright reflection on the code"
        case .damaged: return "stains and scratches over 6-14% of the code (error correction H or Q)"
        }
    }

    /// Scene `index` of this category at `width` x `height` (a 12 MP phone frame by default).
    package func scene(index: Int, seed: UInt64 = 1, width: Int = 4032, height: Int = 3024) -> PhotoScene {
        var r = SplitMix(seed: (seed &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03)
                         ^ UInt64(truncatingIfNeeded: rawValue.hashValueStable))
        func u(_ a: Double, _ b: Double) -> Double { a + (b - a) * r.unit() }
        func pick<T>(_ items: [T]) -> T { items[Int(r.next() % UInt64(items.count))] }
        let aspect = Double(width) / Double(height)
        /// A centre where a code of `side` (fraction of the short side) fits, with `slack` spare.
        func centre(_ side: Double, slack: Double = 1.2) -> (Double, Double) {
            let short = Double(min(width, height))
            let hx = min(0.49, side * slack / 2 * short / Double(width)), hy = min(0.49, side * slack / 2 * short / Double(height))
            return (u(hx, 1 - hx), u(hy, 1 - hy))
        }
        func one(_ side: Double, _ text: String? = nil, rotation: Double? = nil, tilt: Double = 20,
                 correction: QRErrorCorrection = .medium) -> PhotoCode {
            let (cx, cy) = centre(side)
            return PhotoCode(text: text ?? PhotoCategory.paymentText(&r), correction: correction, centreX: cx, centreY: cy, side: side,
                             rotationDegrees: rotation ?? u(0, 360), tiltX: u(-tilt, tilt), tiltY: u(-tilt, tilt))
        }
        var s = PhotoScene(frameWidth: width, frameHeight: height, codes: [], focusBlur: u(0.5, 2), noise: u(2, 5),
                           gradient: u(0, 0.3), vignette: u(0.1, 0.3), jpegQuality: Int(u(80, 93)), seed: seed &+ UInt64(index) &* 7919)
        switch self {
        case .nominal:
            s.codes = [one(u(0.15, 0.4))]
        case .closeUp:
            var c = one(u(0.75, 0.98), tilt: 12)
            c.centreX = u(0.45, 0.55); c.centreY = u(0.45, 0.55)
            c.rotationDegrees = u(-20, 20) + pick([0.0, 90, 180, 270])
            s.codes = [c]
            s.focusBlur = u(2, 4.5)
        case .manyCodes, .rotations:
            let count = self == .manyCodes ? 8 + Int(r.next() % 13) : 2 + Int(r.next() % 4)
            let cols = max(1, Int((Double(count) * aspect).squareRoot().rounded(.up)))
            let rows = (count + cols - 1) / cols
            let cellW = 1 / Double(cols), cellH = 1 / Double(rows)
            let cellShort = min(cellW * aspect, cellH) // in units of the short side
            var cells = Array(0..<(rows * cols))
            for i in stride(from: cells.count - 1, to: 0, by: -1) { cells.swapAt(i, Int(r.next() % UInt64(i + 1))) }
            for k in 0..<count {
                let cell = cells[k]
                let side = cellShort * u(0.42, 0.6) * (self == .manyCodes ? u(0.7, 1) : 1)
                let spare = (cellShort - side * 1.45) / 2
                let jx = max(0, spare) / aspect, jy = max(0, spare)
                var c = PhotoCode(text: self == .manyCodes ? PhotoCategory.shortText(&r) : PhotoCategory.paymentText(&r),
                                  centreX: (Double(cell % cols) + 0.5) * cellW + u(-jx, jx),
                                  centreY: (Double(cell / cols) + 0.5) * cellH + u(-jy, jy), side: side,
                                  rotationDegrees: u(0, 360), tiltX: u(-15, 15), tiltY: u(-15, 15))
                if self == .rotations { c.rotationDegrees = Double(k) * 360 / Double(count) + u(0, 90) }
                s.codes.append(c)
            }
        case .gradient:
            s.codes = [one(u(0.15, 0.35))]
            if r.unit() < 0.5 { var c = one(u(0.12, 0.25)); c.centreX = 1 - s.codes[0].centreX; c.centreY = 1 - s.codes[0].centreY; s.codes.append(c) }
            s.gradient = u(0.75, 0.92); s.vignette = u(0.35, 0.6)
        case .shadow:
            let c = one(u(0.18, 0.4))
            s.codes = [c]
            s.shadow = u(0.5, 0.8); s.shadowX = c.centreX + u(-0.04, 0.04); s.shadowY = c.centreY + u(-0.04, 0.04)
            s.shadowDegrees = u(0, 180)
        case .highVersion:
            let length = Int(u(350, 2300))
            s.codes = [one(u(0.45, 0.85), PhotoCategory.longText(&r, length: length), tilt: 15, correction: pick([.low, .medium]))]
            if length > 1800 { s.codes[0].correction = .low }
            s.codes[0].centreX = u(0.4, 0.6); s.codes[0].centreY = u(0.4, 0.6)
            s.focusBlur = u(0.5, 1.5)
        case .curved:
            var c = one(u(0.2, 0.4), tilt: 8)
            c.cylinderDegrees = u(60, 150)
            c.rotationDegrees = u(-15, 15) + pick([0.0, 90, 180, 270])
            s.codes = [c]
        case .perspective:
            var c = one(u(0.25, 0.45), tilt: 0)
            let (major, minor) = (u(45, 65) * pick([-1.0, 1]), u(0, 25) * pick([-1.0, 1]))
            if r.unit() < 0.5 { c.tiltX = major; c.tiltY = minor } else { c.tiltX = minor; c.tiltY = major }
            c.centreX = u(0.35, 0.65); c.centreY = u(0.35, 0.65)
            s.codes = [c]
        case .blur:
            s.codes = [one(u(0.15, 0.35))]
            if index % 2 == 0 { s.motionBlur = u(10, 28); s.motionDegrees = u(0, 180) } else { s.focusBlur = u(4, 8) }
        case .moire:
            var c = one(u(0.2, 0.45), tilt: 15)
            c.screen = true
            // About one to two and a half camera pixels per screen pixel: where moiré is worst.
            let modules = Double((try? QRCodeImage.modules(text: c.text).size) ?? 33) + 8
            let cameraPixelsPerModule = c.side * Double(min(width, height)) / modules
            c.screenPixelsPerModule = max(2, min(8, cameraPixelsPerModule / u(1, 2.5)))
            s.codes = [c]
            s.focusBlur = u(0.5, 1.2)
        case .lowLight:
            s.codes = [one(u(0.15, 0.35))]
            s.exposure = u(0.3, 0.5); s.noise = u(9, 16); s.focusBlur = u(1, 2); s.jpegQuality = Int(u(70, 85))
        case .jpeg:
            s.codes = [one(u(0.1, 0.22))]
            s.jpegQuality = Int(u(25, 55))
        case .exif:
            s.codes = [one(u(0.15, 0.35))]
            if r.unit() < 0.4 { s.codes.append(one(u(0.12, 0.2))); s.codes[1].centreX = 1 - s.codes[0].centreX; s.codes[1].centreY = 1 - s.codes[0].centreY }
            s.orientation = pick([3, 6, 8])
        case .glare:
            s.codes = [one(u(0.18, 0.4))]
            s.glare = u(0.8, 1.4)
        case .damaged:
            s.codes = [one(u(0.2, 0.4), correction: pick([.high, .quartile]))]
            s.codes[0].damage = u(0.06, 0.14)
        }
        // Blur lengths are for a 12 MP frame; a smaller frame sees the same scene with less.
        let k = Double(min(width, height)) / 3024
        s.focusBlur = max(0.5, s.focusBlur * k)
        s.motionBlur *= k
        return s
    }

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    static func word(_ r: inout SplitMix, _ n: Int) -> String {
        String((0..<n).map { _ in alphabet[Int(r.next() % UInt64(alphabet.count))] })
    }

    /// A QR-Pay payload: shop, payment, an 86-character signature.
    static func paymentText(_ r: inout SplitMix) -> String {
        "QRP1.shop-\(word(&r, 1 + Int(r.next() % 20))).pay-\(word(&r, 1 + Int(r.next() % 30))).\(word(&r, 86))"
    }

    /// A short label text (versions 1-3).
    static func shortText(_ r: inout SplitMix) -> String { "ITEM-\(word(&r, 4 + Int(r.next() % 20)))" }

    /// A long text of `length` characters (URLs and words): versions up to 40.
    static func longText(_ r: inout SplitMix, length: Int) -> String {
        var text = "https://example.org/doc?"
        while text.count < length { text += word(&r, 3 + Int(r.next() % 9)) + (r.unit() < 0.2 ? "&" : "-") }
        return String(text.prefix(length))
    }
}

extension String {
    /// FNV-1a of the UTF-8 bytes: a hash that is the same in every run (Swift's hashValue is not).
    var hashValueStable: Int {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return Int(truncatingIfNeeded: h)
    }
}
