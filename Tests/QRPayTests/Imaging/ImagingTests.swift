// QR imaging: encode -> decode round trips, every PNG and JPEG variant, photo-like 12 MP images,
// an independent decoder (zbarimg) on our PNGs, bad images, and `qrpay-user decode` end to end.

import Foundation
@testable import QRPaySupport
@testable import QRPayImaging
@testable import QRPayDecoder
@testable import QRPayTestPhotos
import Testing

/// A QR-Pay payment payload of the longest kind: 64-character shop and payment ids, 86-char signature.
private let longestPayload = "QRP1." + String(repeating: "s", count: 60) + "shop." + String(repeating: "p", count: 60)
    + "pay1." + String(repeating: "Ab0-_", count: 17) + "x"

private func payload(length: Int, salt: Int = 0) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    return String((0..<length).map { alphabet[($0 * 7 + length + salt) % alphabet.count] })
}

@Suite struct ImagingEncodeTests {
    @Test(arguments: [1, 2, 5, 17, 32, 64, 86, 100, 128, 150, 175, 200, 220, 240, 256, 280, 300])
    func roundTripEveryPayloadSize(_ length: Int) throws {
        let text = payload(length: length)
        let png = try QRCodeImage.png(text: text)
        let decoded = try QRImageDecoder().decode(data: png)
        #expect(decoded.symbols == [text])
        #expect((300...400).contains(decoded.width), "default width about 300-400 px, got \(decoded.width)")
        #expect(decoded.width == decoded.height)
    }

    @Test(arguments: QRErrorCorrection.allCases)
    func roundTripEveryCorrectionLevel(_ level: QRErrorCorrection) throws {
        for text in [longestPayload, "Grüße aus Zürich, 東京 💳", "a"] {
            let png = try QRCodeImage.png(text: text, correction: level)
            #expect(try QRImageDecoder().decode(data: png).symbols == [text])
        }
    }

    @Test func pngIsOneBitGrayWithQuietZone() throws {
        let png = try QRCodeImage.png(text: longestPayload, moduleSize: 3)
        let bytes = [UInt8](png)
        // IHDR: width, height, bit depth 1, colour type 0 (grayscale).
        #expect(bytes[24] == 1)
        #expect(bytes[25] == 0)
        let image = try PNGReader.gray(png, maxPixels: 1 << 24)
        let modules = try QRCodeImage.modules(text: longestPayload)
        #expect(image.width == (modules.size + 8) * 3)
        // The quiet zone (4 modules = 12 px) is white all around.
        for y in 0..<image.height {
            for x in 0..<image.width where x < 12 || y < 12 || x >= image.width - 12 || y >= image.height - 12 {
                #expect(image.pixels[y * image.width + x] == 255)
            }
        }
        #expect(image.pixels[12 * image.width + 12] == 0)  // the top-left finder's corner is dark
    }

    @Test func refusesWhatCannotBeACode() {
        #expect(throws: QRPayError.self) { try QRCodeImage.png(text: "") }
        #expect(throws: QRPayError.self) { try QRCodeImage.png(text: String(repeating: "x", count: 3000)) }
        #expect(throws: QRPayError.self) { try QRCodeImage.png(text: "x", moduleSize: 0) }
        #expect(throws: QRPayError.self) { try QRCodeImage.png(text: "x", margin: -1) }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/zbarimg")),
          arguments: [(1, QRErrorCorrection.medium), (64, .low), (150, .quartile), (220, .medium), (300, .high)])
    func zbarimgReadsOurPNGs(_ length: Int, _ level: QRErrorCorrection) throws {
        let text = payload(length: length, salt: 3)
        let dir = try imagingTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/code.png"
        try QRCodeImage.png(text: text, correction: level).write(to: URL(fileURLWithPath: path))
        let result = imagingRun("/usr/bin/zbarimg", ["--raw", "-q", path])
        #expect(result.status == 0)
        #expect(result.stdout == text + "\n")
    }
}

@Suite struct ImagingFormatTests {
    /// The code of `text`, 4 px per module, 4-module quiet zone: true where dark.
    static func darkMap(_ text: String = "QRP1.shop-1.pay-2.sig") throws -> (Int, (Int, Int) -> Bool) {
        let modules = try QRCodeImage.modules(text: text)
        let side = (modules.size + 8) * 4
        return (side, { x, y in
            let mx = x / 4 - 4, my = y / 4 - 4
            return mx >= 0 && my >= 0 && mx < modules.size && my < modules.size && modules[mx, my]
        })
    }

    static let pngVariants: [(colorType: UInt8, bitDepth: UInt8)] = [
        (0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 2), (3, 4), (3, 8),
        (4, 8), (4, 16), (6, 8), (6, 16),
    ]

    @Test(arguments: pngVariants, [false, true])
    func everyPNGColourTypeAndDepth(_ variant: (colorType: UInt8, bitDepth: UInt8), _ interlaced: Bool) throws {
        let text = "QRP1.shop-1.pay-2.sig"
        let (side, dark) = try ImagingFormatTests.darkMap(text)
        let max = UInt16((1 << Int(variant.bitDepth)) - 1)
        let png = TestPNG.encode(width: side, height: side, colorType: variant.colorType, bitDepth: variant.bitDepth,
                                 interlaced: interlaced,
                                 palette: [(250, 245, 230), (10, 10, 60), (200, 0, 0), (128, 128, 128)],
                                 transparent: [255, 255, 255, 255]) { x, y in
            let d = dark(x, y)
            switch variant.colorType {
            case 0: return [d ? 0 : max]
            case 2: return d ? [max / 10, max / 8, max / 2] : [max, max - max / 20, max - max / 5]
            case 3: return [d ? 1 : 0]
            // Alpha: black ink, transparent (black!) background: must be composited onto white.
            case 4: return d ? [0, max] : [0, 0]
            default: return d ? [0, 0, 0, max] : [0, 0, 0, 0]
            }
        }
        let decoded = try QRImageDecoder().decode(data: png)
        #expect(decoded.symbols == [text])
        #expect(decoded.width == side && decoded.height == side)
    }

    @Test func paletteWithTransparency() throws {
        let text = "QRP1.shop-1.pay-2.sig"
        let (side, dark) = try ImagingFormatTests.darkMap(text)
        let png = TestPNG.encode(width: side, height: side, colorType: 3, bitDepth: 8, interlaced: false,
                                 palette: [(0, 0, 0), (0, 0, 0)], transparent: [0, 255]) { x, y in [dark(x, y) ? 1 : 0] }
        #expect(try QRImageDecoder().decode(data: png).symbols == [text])
    }

    @Test func invertedCode() throws {
        let text = "QRP1.shop-1.pay-2.inverted"
        let (side, dark) = try ImagingFormatTests.darkMap(text)
        let png = TestPNG.encode(width: side, height: side, colorType: 0, bitDepth: 8, interlaced: false) { x, y in [dark(x, y) ? 255 : 0] }
        #expect(try QRImageDecoder().decode(data: png).symbols == [text])
    }

    @Test func codeWithoutQuietZone() throws {
        let png = try QRCodeImage.png(text: longestPayload, moduleSize: 4, margin: 0)
        #expect(try QRImageDecoder().decode(data: png).symbols == [longestPayload])
    }

    /// Gray pixels of a code centred on a white width x height canvas.
    static func canvas(_ text: String, width: Int, height: Int) throws -> GrayImage {
        let code = try PNGReader.gray(QRCodeImage.png(text: text), maxPixels: 1 << 24)
        var out = GrayImage(width: width, height: height)
        let ox = (width - code.width) / 2, oy = (height - code.height) / 2
        for y in 0..<code.height { for x in 0..<code.width { out.pixels[(y + oy) * width + x + ox] = code.pixels[y * code.width + x] } }
        return out
    }

    @Test(arguments: [(1, false), (3, false), (1, true), (3, true)])
    func jpegBaselineAndProgressive(_ components: Int, _ progressive: Bool) throws {
        let image = try ImagingFormatTests.canvas(longestPayload, width: 500, height: 420)
        let pixels = components == 1 ? image.pixels : image.pixels.flatMap { [$0, $0, $0] }
        let jpeg = try JPEGWriter.encode(pixels, width: 500, height: 420, components: components, quality: 85, progressive: progressive)
        let decoded = try QRImageDecoder().decode(data: jpeg)
        #expect(decoded.symbols == [longestPayload])
        #expect(decoded.width == 500 && decoded.height == 420)
    }

    /// EXIF orientation: 2 (mirrored) must be un-mirrored to scan; 6 and 5 swap the displayed size.
    @Test(arguments: [1, 2, 5, 6, 7])
    func jpegExifOrientation(_ orientation: Int) throws {
        var image = try ImagingFormatTests.canvas(longestPayload, width: 520, height: 400)
        if [2, 4, 5, 7].contains(orientation) { image = image.flippedHorizontally() }
        let jpeg = try JPEGWriter.encode(image.pixels, width: 520, height: 400, components: 1, quality: 90, orientation: orientation)
        let decoded = try QRImageDecoder().decode(data: jpeg)
        #expect(decoded.symbols == [longestPayload])
        #expect(orientation >= 5 ? (decoded.width == 400 && decoded.height == 520) : (decoded.width == 520 && decoded.height == 400))
    }

    /// Not UTF-8: the ECI designator says how to read the bytes (20 Shift JIS, 3 ISO 8859-1).
    @Test(arguments: [(UInt32(20), [UInt8]([0x93, 0x8C, 0x8B, 0x9E]), "東京"), (3, [0x63, 0x61, 0x66, 0xE9], "café")])
    func eciDesignatorsAreHonoured(_ eci: UInt32, _ bytes: [UInt8], _ text: String) throws {
        let png = try QRCodeImage.png(modules: QRCodeImage.modules(eci: eci, bytes: bytes), moduleSize: 6, margin: 4)
        #expect(try QRImageDecoder().decode(data: png).symbols == [text])
    }

    @Test func latin1BytesBecomeText() {
        #expect(ZBarScanner.text([0x63, 0x61, 0x66, 0xE9]) == "café")
        #expect(ZBarScanner.text(Array("café".utf8)) == "café")
    }

    @Test func grayImageOperations() {
        let image = GrayImage(width: 4, height: 2, pixels: [0, 100, 200, 255, 50, 150, 250, 255])
        #expect(image.halved().pixels == [75, 240])
        #expect(image.padded(1).width == 6 && image.padded(1).pixels[0] == 255 && image.padded(1).pixels[7] == 0)
        #expect(image.inverted().pixels[0] == 255)
        #expect(image.flippedHorizontally().pixels[0] == 255)
        // A dark dot on a bright-to-dim gradient stays the only black pixel after thresholding.
        var ramp = GrayImage(width: 40, height: 10, pixels: (0..<400).map { UInt8(250 - ($0 % 40) * 2) })
        ramp.pixels[5 * 40 + 30] = 20
        let t = ramp.thresholded(radius: 3)
        #expect(t.pixels.filter { $0 == 0 }.count == 1)
        #expect(t.pixels[5 * 40 + 30] == 0)
    }
}

@Suite struct ImagingBadInputTests {
    static func samplePNG() throws -> Data { try QRCodeImage.png(text: longestPayload) }
    static func sampleJPEG() throws -> Data {
        let image = try ImagingFormatTests.canvas(longestPayload, width: 480, height: 480)
        return try JPEGWriter.encode(image.pixels, width: 480, height: 480, components: 1, quality: 80)
    }

    private func code(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch let error as QRPayError { return error.code.rawValue } catch { return "not a QRPayError: \(error)" }
    }

    @Test func truncatedFiles() throws {
        let png = try ImagingBadInputTests.samplePNG(), jpeg = try ImagingBadInputTests.sampleJPEG()
        for cut in [png.count / 2, png.count - 13, 40, 8] {
            #expect(code { _ = try QRImageDecoder().decode(data: png.prefix(cut)) } == "image.truncated", "PNG cut at \(cut)")
        }
        for cut in [jpeg.count / 2, jpeg.count - 50, 300, 3] {
            #expect(code { _ = try QRImageDecoder().decode(data: jpeg.prefix(cut)) } == "image.truncated", "JPEG cut at \(cut)")
        }
    }

    @Test func corruptFiles() throws {
        var png = [UInt8](try ImagingBadInputTests.samplePNG())
        png[png.count / 2] ^= 0xFF  // IDAT CRC no longer matches
        #expect(code { _ = try QRImageDecoder().decode(data: Data(png)) } == "image.corrupt")
        var jpeg = [UInt8](try ImagingBadInputTests.sampleJPEG())
        let sof = try #require((0..<(jpeg.count - 9)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg[sof + 2] = 0; jpeg[sof + 3] = 3  // a frame header 3 bytes long: bogus
        #expect(code { _ = try QRImageDecoder().decode(data: Data(jpeg)) } == "image.corrupt")
    }

    @Test func emptyAndUnsupported() throws {
        #expect(code { _ = try QRImageDecoder().decode(data: Data()) } == "image.empty")
        #expect(code { _ = try QRImageDecoder().decode(data: Data("hello, I am text\n".utf8)) } == "image.unsupported")
        #expect(code { _ = try QRImageDecoder().decode(data: Data("GIF89a....".utf8)) } == "image.unsupported")
        let dir = try imagingTempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("not a picture\n".utf8).write(to: URL(fileURLWithPath: dir + "/text.png"))
        try Data().write(to: URL(fileURLWithPath: dir + "/zero.png"))
        #expect(code { _ = try QRImageDecoder().decode(file: dir + "/text.png") } == "image.unsupported")
        #expect(code { _ = try QRImageDecoder().decode(file: dir + "/zero.png") } == "image.empty")
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.png", withDestinationPath: dir + "/text.png")
        #expect(code { _ = try QRImageDecoder().decode(file: dir + "/link.png") } == "io.symlink")
    }

    @Test func hugeDimensionsAreRefusedFromTheHeader() throws {
        // A PNG that claims 100000 x 100000 pixels (10 gigapixels) and has no pixel data.
        let header = TestPNG.signature + TestPNG.chunk("IHDR", TestPNG.be32(100_000) + TestPNG.be32(100_000) + [8, 0, 0, 0, 0])
            + TestPNG.chunk("IDAT", TestPNG.zlibStored([0, 0, 0, 0])) + TestPNG.chunk("IEND", [])
        #expect(code { _ = try QRImageDecoder().decode(data: Data(header)) } == "image.too-large")
        // A JPEG whose frame header says 60000 x 60000.
        var jpeg = [UInt8](try ImagingBadInputTests.sampleJPEG())
        let sof = try #require((0..<(jpeg.count - 9)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg[sof + 5] = 0xEA; jpeg[sof + 6] = 0x60; jpeg[sof + 7] = 0xEA; jpeg[sof + 8] = 0x60
        #expect(code { _ = try QRImageDecoder().decode(data: Data(jpeg)) } == "image.too-large")
        // Budgets given by the caller.
        #expect(code { _ = try QRImageDecoder(maxPixels: 10_000).decode(data: try ImagingBadInputTests.samplePNG()) } == "image.too-large")
        #expect(code { _ = try QRImageDecoder(maxBytes: 100).decode(data: try ImagingBadInputTests.sampleJPEG()) } == "image.too-large")
    }

    /// The damaged-file cases' JPEG: the code alone at half size (2 pixels a module, about 200
    /// across). A damaged JPEG still decodes to pixels, which the decoder then searches whole: on
    /// the 480-pixel sample each try took 0.1-0.26 s, most of this test's time, for the same codec
    /// paths.
    static func smallJPEG() throws -> Data {
        let code = try PNGReader.gray(QRCodeImage.png(text: longestPayload), maxPixels: 1 << 24).halved()
        return try JPEGWriter.encode(code.pixels, width: code.width, height: code.height, components: 1, quality: 80)
    }

    /// Random byte damage: every outcome is a result or a QRPayError, never a crash.
    @Test(arguments: ["png", "jpeg"])
    func damagedFilesNeverCrash(_ kind: String) throws {
        let sample = kind == "png" ? try ImagingBadInputTests.samplePNG() : try ImagingBadInputTests.smallJPEG()
        // Undamaged, the sample reads: the damage below is what makes the difference.
        #expect(try QRImageDecoder().decode(data: sample).symbols == [longestPayload])
        let original = [UInt8](sample)
        var rng = SplitMix(seed: kind == "png" ? 7 : 11)
        for _ in 0..<150 {
            var bytes = original
            for _ in 0..<(1 + Int(rng.next() % 8)) {
                let at = 2 + Int(rng.next() % UInt64(bytes.count - 2))
                bytes[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.next() % 4 == 0 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count)))) }
            let outcome = code { _ = try QRImageDecoder().decode(data: Data(bytes)) }
            #expect(outcome == nil || outcome!.hasPrefix("image."))
        }
    }
}

/// Phone-like 12 MP photos: every one must decode.
@Suite struct ImagingPhotoTests {
    static func decodePhoto(_ shot: PhoneCamera.Shot, text: String = longestPayload) throws -> DecodedImage {
        let jpeg = try PhoneCamera.photograph(png: QRCodeImage.png(text: text), shot: shot)
        return try QRImageDecoder().decode(data: jpeg)
    }

    @Test(arguments: Array(stride(from: 0.0, to: 360.0, by: 30.0)))
    func rotationThroughAFullTurn(_ degrees: Double) throws {
        let shot = PhoneCamera.Shot(rotationDegrees: degrees, seed: UInt64(degrees) + 100)
        let decoded = try ImagingPhotoTests.decodePhoto(shot)
        #expect(decoded.symbols == [longestPayload])
        #expect(decoded.width == 4032 && decoded.height == 3024)
    }

    static let hardShotCases: [(String, PhoneCamera.Shot)] = [
        ("perspective", .init(rotationDegrees: 40, perspective: 0.08, seed: 201)),
        ("strong perspective", .init(rotationDegrees: 130, perspective: 0.15, seed: 209)),
        ("code fills the frame", .init(rotationDegrees: 55, codeFraction: 0.65, seed: 210)),
        ("blur", .init(rotationDegrees: 75, blur: 3, seed: 202)),
        ("noise", .init(rotationDegrees: 110, noise: 10, seed: 203)),
        ("gradient light", .init(rotationDegrees: 160, gradient: 0.7, seed: 204)),
        ("quality 60", .init(rotationDegrees: 200, jpegQuality: 60, seed: 205)),
        ("code at 10%", .init(rotationDegrees: 250, codeFraction: 0.10, seed: 206)),
        ("code at 40%", .init(rotationDegrees: 300, codeFraction: 0.40, seed: 207)),
        ("everything", .init(rotationDegrees: 333, perspective: 0.05, blur: 2, noise: 6, gradient: 0.5,
                             jpegQuality: 60, codeFraction: 0.15, seed: 208)),
    ]

    @Test(arguments: hardShotCases)
    func hardShots(_ name: String, _ shot: PhoneCamera.Shot) throws {
        #expect(try ImagingPhotoTests.decodePhoto(shot).symbols == [longestPayload], "\(name)")
    }

    @Test func photosAreDeterministic() throws {
        let shot = PhoneCamera.Shot(frameWidth: 640, frameHeight: 480, seed: 9)
        let png = try QRCodeImage.png(text: "QRP1.a.b.c")
        #expect(try PhoneCamera.photograph(png: png, shot: shot) == PhoneCamera.photograph(png: png, shot: shot))
    }
}

/// `qrpay-user decode` end to end, through the built program.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["QRPAY_BIN"] != nil))
struct ImagingUserDecodeTests {
    let bin = (ProcessInfo.processInfo.environment["QRPAY_BIN"] ?? "") + "/qrpay-user"

    func files() throws -> (dir: String, a: String, b: String, blank: String, text: String) {
        let dir = try imagingTempDirectory()
        try QRCodeImage.png(text: "QRP1.shop-a.pay-1.sig").write(to: URL(fileURLWithPath: dir + "/a.png"))
        let photo = try PhoneCamera.photograph(png: QRCodeImage.png(text: longestPayload),
                                               shot: .init(blur: 0.5, frameWidth: 1600, frameHeight: 1200, codeFraction: 0.4, seed: 5))
        try photo.write(to: URL(fileURLWithPath: dir + "/b.jpg"))
        let blank = TestPNG.encode(width: 64, height: 64, colorType: 0, bitDepth: 8, interlaced: false) { _, _ in [255] }
        try blank.write(to: URL(fileURLWithPath: dir + "/blank.png"))
        try Data("just text\n".utf8).write(to: URL(fileURLWithPath: dir + "/text.png"))
        return (dir, dir + "/a.png", dir + "/b.jpg", dir + "/blank.png", dir + "/text.png")
    }

    @Test func printsEverySymbolAndExitsZero() throws {
        let f = try files()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        let result = imagingRun(bin, ["decode", f.a, f.b])
        #expect(result.status == 0)
        #expect(result.stdout == "QRP1.shop-a.pay-1.sig\n\(longestPayload)\n")
    }

    @Test func exitsOneWhenAnImageHasNoCode() throws {
        let f = try files()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        let result = imagingRun(bin, ["decode", f.a, f.blank])
        #expect(result.status == 1)
        #expect(result.stdout == "QRP1.shop-a.pay-1.sig\n")
    }

    @Test func exits65WhenAFileIsUnreadable() throws {
        let f = try files()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        let bad = imagingRun(bin, ["decode", f.a, f.text])
        #expect(bad.status == 65)
        #expect(bad.stderr.contains("unsupported image format"))
        #expect(imagingRun(bin, ["decode", f.dir + "/missing.png"]).status == 65)
        #expect(imagingRun(bin, ["decode"]).status == 64)
    }

    @Test func jsonPerFileResults() throws {
        let f = try files()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        let result = imagingRun(bin, ["decode", "--json", f.a, f.blank, f.text])
        #expect(result.status == 65)
        let entries = try #require(try JSONValue.parse(Data(result.stdout.utf8)).arrayValue)
        #expect(entries.count == 3)
        #expect(entries[0]["file"] == .string(f.a))
        #expect(entries[0]["symbols"] == .array(["QRP1.shop-a.pay-1.sig"]))
        #expect(entries[0]["width"]?.intValue ?? 0 > 0 && entries[0]["height"]?.intValue ?? 0 > 0)
        if case .double = entries[0]["milliseconds"] {} else { Issue.record("milliseconds is not a number") }
        #expect(entries[1]["symbols"] == .array([]))
        #expect(entries[1]["error"] == nil)
        #expect(entries[2]["error"]?["code"] == .string("image.unsupported"))
        // Every code with its four corners beside the symbols; empty lists for the others.
        let codes = try #require(entries[0]["codes"]?.arrayValue)
        #expect(codes.count == 1)
        #expect(codes[0]["text"] == .string("QRP1.shop-a.pay-1.sig"))
        let corners = try #require(codes[0]["corners"]?.arrayValue)
        #expect(corners.count == 4 && corners.allSatisfy { $0.arrayValue?.count == 2 })
        #expect(entries[1]["codes"] == .array([]))
        #expect(entries[2]["codes"] == .array([]))
    }
}

/// Several codes in one image, and where each is.
@Suite struct ImagingManyCodesTests {
    /// Two different codes side by side on a white canvas, 4 px a module: both, at their places.
    @Test func twoCodesInAPNGWithCorners() throws {
        let texts = ["QRP1.shop-a.pay-1.first", "QRP1.shop-b.pay-2.second"]
        let codes = try texts.map { try PNGReader.gray(QRCodeImage.png(text: $0, moduleSize: 4), maxPixels: 1 << 24) }
        var canvas = GrayImage(width: codes[0].width + codes[1].width + 40, height: max(codes[0].height, codes[1].height) + 20)
        var origins: [(Int, Int)] = []
        var x0 = 10
        for code in codes {
            origins.append((x0, 10))
            for y in 0..<code.height { for x in 0..<code.width { canvas.pixels[(y + 10) * canvas.width + x + x0] = code.pixels[y * code.width + x] } }
            x0 += code.width + 20
        }
        let png = try PNGWriter.gray(rows: canvas.pixels, width: canvas.width, height: canvas.height, bitDepth: 8)
        let decoded = try QRImageDecoder().decode(data: png)
        #expect(Set(decoded.symbols) == Set(texts))
        #expect(decoded.codes.count == 2)
        for (i, text) in texts.enumerated() {
            let code = try #require(decoded.codes.first { $0.text == text })
            // The symbol (inside the 4-module quiet zone, 16 px) spans [16, side - 16] of its image.
            let side = Double(codes[i].width), ox = Double(origins[i].0), oy = Double(origins[i].1)
            let expected = [(ox + 16, oy + 16), (ox + side - 16, oy + 16), (ox + side - 16, oy + side - 16), (ox + 16, oy + side - 16)]
            for (corner, want) in zip(code.corners, expected) {
                #expect(abs(corner.x - want.0) <= 6 && abs(corner.y - want.1) <= 6, "\(text): corner \(corner) not near \(want)")
            }
        }
    }

    /// A 12 MP phone photo of three codes at different angles, turned by EXIF orientation 6: all
    /// three, with corners in the displayed frame.
    @Test func threeCodesInARotatedPhoto() throws {
        let texts = ["QRP1.shop-1.pay-1.aaaa", "QRP1.shop-2.pay-2.bbbb", "QRP1.shop-3.pay-3.cccc"]
        let scene = PhotoScene(codes: [
            PhotoCode(text: texts[0], centreX: 0.22, centreY: 0.3, side: 0.22, rotationDegrees: 10),
            PhotoCode(text: texts[1], centreX: 0.72, centreY: 0.35, side: 0.18, rotationDegrees: 130, tiltX: 20),
            PhotoCode(text: texts[2], centreX: 0.45, centreY: 0.75, side: 0.15, rotationDegrees: 250, tiltY: -15),
        ], orientation: 6, seed: 3)
        let photo = try PhoneCamera.photograph(scene)
        let decoded = try QRImageDecoder().decode(data: photo.jpeg)
        #expect(decoded.width == 4032 && decoded.height == 3024)
        #expect(Set(decoded.symbols) == Set(texts))
        for expected in photo.codes {
            let code = try #require(decoded.codes.first { $0.text == expected.text })
            for (corner, want) in zip(code.corners, expected.corners) {
                #expect(hypot(corner.x - want.x, corner.y - want.y) <= 40, "\(expected.text): corner \(corner) not near \(want)")
            }
        }
    }

    @Test func scenesAreDeterministic() throws {
        let scene = PhotoCategory.manyCodes.scene(index: 1, seed: 5, width: 640, height: 480)
        #expect(try PhoneCamera.photograph(scene).jpeg == PhoneCamera.photograph(scene).jpeg)
        #expect(PhotoCategory.manyCodes.scene(index: 1, seed: 5) == PhotoCategory.manyCodes.scene(index: 1, seed: 5))
        #expect(PhotoCategory.manyCodes.scene(index: 1, seed: 5).codes.count >= 8)
    }
}

// MARK: - Helpers (private to the imaging tests)

private func imagingTempDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "qrpay-imaging-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return URL(fileURLWithPath: dir).resolvingSymlinksInPath().path
}

/// Runs a program; reads stdout and stderr before waiting.
private func imagingRun(_ program: String, _ arguments: [String]) -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    do { try process.run() } catch { return (-1, "", "\(error)") }
    final class Box: @unchecked Sendable { var data = Data() }  // written before group.leave, read after wait
    let errBox = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errBox.data = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let errData = errBox.data
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// A minimal, independent PNG writer for the tests: every colour type and bit depth, Adam7
/// interlacing, palette and tRNS; stored (uncompressed) deflate blocks.
private enum TestPNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc(body))
    }

    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65_535, data.count - offset)
            let final: UInt8 = offset + n == data.count ? 1 : 0
            out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[offset..<(offset + n)]
            offset += n
        } while offset < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data { a = (a + UInt32(byte)) % 65_521; b = (b + a) % 65_521 }
        return out + be32(b << 16 | a)
    }

    /// `sample(x, y)` gives the channel values (0 ... 2^bitDepth - 1; a palette index for type 3).
    static func encode(width: Int, height: Int, colorType: UInt8, bitDepth: UInt8, interlaced: Bool,
                       palette: [(UInt8, UInt8, UInt8)] = [], transparent: [UInt8] = [],
                       sample: (Int, Int) -> [UInt16]) -> Data {
        let depth = Int(bitDepth)
        func row(_ xs: [Int], _ y: Int) -> [UInt8] {
            var bytes: [UInt8] = [0]  // filter: none
            var acc = 0, bits = 0
            for x in xs {
                for v in sample(x, y) {
                    if depth == 16 { bytes += [UInt8(v >> 8), UInt8(v & 0xFF)]; continue }
                    if depth == 8 { bytes.append(UInt8(v)); continue }
                    acc = acc << depth | Int(v); bits += depth
                    if bits == 8 { bytes.append(UInt8(acc)); acc = 0; bits = 0 }
                }
            }
            if bits > 0 { bytes.append(UInt8(acc << (8 - bits))) }
            return bytes
        }
        var raw: [UInt8] = []
        let passes = interlaced
            ? [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            : [(0, 0, 1, 1)]
        for (x0, y0, dx, dy) in passes {
            let xs = Array(stride(from: x0, to: width, by: dx))
            guard !xs.isEmpty else { continue }
            for y in stride(from: y0, to: height, by: dy) { raw += row(xs, y) }
        }
        var png = signature
        png += chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [bitDepth, colorType, 0, 0, interlaced ? 1 : 0])
        if colorType == 3 {
            let entries = palette.prefix(1 << min(depth, 8))
            png += chunk("PLTE", entries.flatMap { [$0.0, $0.1, $0.2] })
            if !transparent.isEmpty { png += chunk("tRNS", Array(transparent.prefix(entries.count))) }
        }
        png += chunk("IDAT", zlibStored(raw))
        png += chunk("IEND", [])
        return Data(png)
    }
}
