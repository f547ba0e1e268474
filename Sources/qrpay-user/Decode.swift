// qrpay-user decode - print the text of every QR code in images.
//
// SYNOPSIS
//      qrpay-user decode [--json] [--max-pixels N] IMAGE...
//
// INPUTS
//      PNG (every colour type and bit depth) or JPEG (baseline, progressive, EXIF orientation)
//      files, typically phone photos. Symlinks are refused. Images over --max-pixels (default 100
//      MP, checked from the header) or 64 MiB are refused.
//
// OUTPUTS
//      Without --json: the text of each QR symbol on its own line, files in command-line order;
//      errors on stderr as `qrpay-user: error: FILE: message`.
//      With --json: a JSON array, one object per file: file, symbols (each text once), codes (every
//      code found: {text, corners: [[x,y] x 4]}, the code's own top-left, top-right, bottom-right
//      and bottom-left corners in pixels of the image as displayed, after EXIF orientation), width,
//      height, milliseconds, and error {code, message} when the file could not be read.
//
// EXIT STATUS
//      0 every image gave at least one symbol; 1 some image gave none; 65 some file was unreadable
//      (missing, not an image, truncated, corrupt, too large); 64 usage.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPayDecoder
import QRPayCommand

extension QRPayUser {
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the text of every QR code in the images.")

        @OptionGroup var spool: SpoolOptions

        @Flag(name: .long, help: "Print per-file results as JSON.")
        var json = false

        @Option(name: .long, help: ArgumentHelp("Refuse images with more pixels than this.", valueName: "pixels"))
        var maxPixels = 100_000_000

        @Argument(help: ArgumentHelp("PNG or JPEG images.", valueName: "image"))
        var images: [String]

        func validate() throws {
            guard !images.isEmpty else { throw ValidationError("give at least one image") }
            guard maxPixels > 0 else { throw ValidationError("--max-pixels must be positive") }
        }

        func run() throws {
            let decoder = QRImageDecoder(maxPixels: maxPixels)
            var results: [JSONValue] = []
            var unreadable = false, empty = false
            for path in images {
                var entry: [String: JSONValue] = ["file": .string(path)]
                do {
                    let decoded = try decoder.decode(file: path)
                    entry["symbols"] = .array(decoded.symbols.map { .string($0) })
                    entry["codes"] = .array(decoded.codes.map { code in
                        ["text": .string(code.text), "corners": .array(code.corners.map { .array([.double($0.x), .double($0.y)]) })]
                    })
                    entry["width"] = .int(Int64(decoded.width))
                    entry["height"] = .int(Int64(decoded.height))
                    entry["milliseconds"] = .double((decoded.milliseconds * 16).rounded() / 16)  // exact in binary: prints short
                    if decoded.symbols.isEmpty {
                        empty = true
                        if !json { Diagnostics.info("qrpay-user", "\(path): no QR code found") }
                    }
                    if !json { for text in decoded.symbols { print(text) } }
                } catch let error as QRPayError {
                    unreadable = true
                    entry["symbols"] = .array([])
                    entry["codes"] = .array([])
                    entry["error"] = ["code": .string(error.code.rawValue), "message": .string(error.message)]
                    if !json { Diagnostics.error("qrpay-user", "\(path): \(error.message)") }
                }
                results.append(.object(entry))
            }
            if json { printJSON(.array(results)) }
            if unreadable { throw ExitCode(SysExit.dataError.rawValue) }
            if empty { throw ExitCode(SysExit.failure.rawValue) }
        }
    }
}
