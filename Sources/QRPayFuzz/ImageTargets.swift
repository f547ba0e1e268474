// Targets over images: PNG and JPEG reading (with the byte and pixel budgets) into the decoder,
// and the decoder's symbol search on small gray images.

import Foundation
import QRPayImaging
import QRPayDecoder

enum ImageTargets {
    /// Reading: budgets far below the programs' (100 MP), so that no input can take long.
    static let reader = QRImageDecoder(maxPixels: 1 << 20, maxBytes: 1 << 20)
    /// Reading and searching: small images only (larger ones are refused by their header).
    static let decoder = QRImageDecoder(maxPixels: 160 * 160, maxBytes: 1 << 20)

    static func png(_ data: Data) throws -> FuzzOutcome { try read(data, jpegScales: false) }
    static func jpeg(_ data: Data) throws -> FuzzOutcome { try read(data, jpegScales: true) }

    static func read(_ data: Data, jpegScales: Bool) throws -> FuzzOutcome {
        let image: GrayImage
        switch try attempt({ try reader.readGray(data: data) }) {
        case .failure(let error):
            try require(error.code.rawValue.hasPrefix("image."), "reading an image failed with \(error.code.rawValue)")
            return .refused(error.code.rawValue)
        case .success(let read):
            image = read
        }
        try require(image.width > 0 && image.height > 0 && image.width * image.height <= reader.maxPixels,
                    "an image of \(image.width)x\(image.height) pixels passed the budget of \(reader.maxPixels)")
        try require(image.pixels.count == image.width * image.height, "the pixel buffer does not match the size")
        let isJPEG = data.starts(with: [0xFF, 0xD8, 0xFF])
        if jpegScales && isJPEG {
            for scale in [2, 4, 8] {
                if case .success(let scaled) = try attempt({ try reader.readGray(data: data, scale: scale) }) {
                    try require(scaled.width == (image.width + scale - 1) / scale && scaled.height == (image.height + scale - 1) / scale,
                                "1/\(scale) of \(image.width)x\(image.height) is \(scaled.width)x\(scaled.height)")
                }
            }
        }
        // Into the decoder, under its own (smaller) budget.
        switch try attempt({ try decoder.decode(data: data) }) {
        case .success(let decoded):
            try require(image.width * image.height <= decoder.maxPixels, "the decoder took an image over its pixel budget")
            try require(decoded.width * decoded.height == image.width * image.height, "the decoder saw another size")
            try checkSymbols(decoded.symbols)
        case .failure(let error):
            if image.width * image.height > decoder.maxPixels {
                try require(error.code == .imageTooLarge, "an image over the budget failed with \(error.code.rawValue), not image.too-large")
            } else if !isJPEG {
                throw FuzzViolation(target: "", message: "a PNG that reads did not decode: \(error)")
            }
        }
        return .accepted
    }

    /// The search on a gray image from the input: byte 0 sets the width (1...160), the bytes after
    /// it are the pixels, row by row (at most 160 rows).
    static func decoder(_ data: Data) throws -> FuzzOutcome {
        guard data.count >= 2 else { return .refused("image.empty") }
        let width = 1 + Int(data[data.startIndex]) % 160
        let height = min(160, (data.count - 1) / width)
        guard height > 0 else { return .refused("image.empty") }
        let pixels = [UInt8](data.dropFirst().prefix(width * height))
        switch try attempt({ try decoder.decode(image: GrayImage(width: width, height: height, pixels: pixels)) }) {
        case .success(let symbols):
            try checkSymbols(symbols)
            return symbols.isEmpty ? .refused("qr.none") : .accepted
        case .failure(let error):
            throw FuzzViolation(target: "", message: "the search failed on a \(width)x\(height) image: \(error)")
        }
    }

    static func checkSymbols(_ symbols: [String]) throws {
        try require(Set(symbols).count == symbols.count, "the decoder reported a symbol twice")
        for symbol in symbols {
            try require(!symbol.isEmpty, "the decoder reported an empty symbol")
            _ = try QRPayloadTarget.run(Data(symbol.utf8))
        }
    }
}
