// qrpay-bench photo - a QR code PNG -> a phone-like JPEG photo (see QRPayBench.swift).

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayTestPhotos
import QRPayCommand

extension QRPayBench {
    struct Photo: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "photo",
            abstract: "Turn a QR code PNG into a phone-like photo (JPEG).")

        @Option(name: .customLong("in"), help: ArgumentHelp("The QR code PNG.", valueName: "png")) var input: String
        @Option(name: .customLong("out"), help: ArgumentHelp("The JPEG to write (must not exist).", valueName: "jpg")) var output: String
        @Option(help: "Random seed (placement, tilt, noise).") var seed: UInt64 = 1
        @Option(help: "In-plane rotation, degrees.") var rotation: Double = 15
        @Option(help: "Tilt: corner displacement as a fraction of the code's side.") var perspective: Double = 0.06
        @Option(help: "Defocus blur radius, pixels.") var blur: Double = 1.5
        @Option(help: "Sensor noise, gray levels (standard deviation).") var noise: Double = 4
        @Option(help: "Light falloff across the frame, 0...0.95.") var gradient: Double = 0.3
        @Option(help: "JPEG quality, 1...100.") var quality: Int = 80
        @Option(help: "The code's side as a fraction of the frame's short side.") var codeFraction: Double = 0.25
        @Option(help: "Frame width, pixels.") var width: Int = 4032
        @Option(help: "Frame height, pixels.") var height: Int = 3024
        @Option(help: ArgumentHelp("Instead: write a gray PNG preview of the JPEG --in at 1/N scale to --out.", valueName: "N"))
        var preview: Int?
        @Option(help: ArgumentHelp("With --preview: keep only this part (fractions x0,y0,x1,y1).", valueName: "box"))
        var crop: String?

        func box() throws -> (Double, Double, Double, Double)? {
            guard let crop else { return nil }
            let v = crop.split(separator: ",").compactMap { Double($0) }
            guard v.count == 4 else { throw QRPayError.usage("--crop wants x0,y0,x1,y1") }
            return (v[0], v[1], v[2], v[3])
        }

        func run() throws {
            try runReportingErrors("qrpay-bench") {
                let png = try FileIO.read(input, maxBytes: 64 << 20)
                // Absolute, so that the durable write always has a directory to fsync.
                let output = URL(fileURLWithPath: self.output).standardizedFileURL.path
                if let preview {
                    try Durable.write(try PhoneCamera.previewPNG(jpeg: png, scaleDenominator: preview, crop: box()), to: output, ifExists: .replace)
                    return
                }
                let shot = PhoneCamera.Shot(rotationDegrees: rotation, perspective: perspective, blur: blur, noise: noise,
                                            gradient: gradient, jpegQuality: quality, frameWidth: width, frameHeight: height,
                                            codeFraction: codeFraction, seed: seed)
                let jpeg = try PhoneCamera.photograph(png: png, shot: shot)
                try Durable.write(jpeg, to: output)
            }
        }
    }
}
