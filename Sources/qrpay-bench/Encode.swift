// qrpay-bench encode - text -> QR code PNG (see QRPayBench.swift).

import ArgumentParser
import Foundation
import QRPaySupport
import QRPaySpool
import QRPayImaging
import QRPayCommand

extension QRPayBench {
    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the QR code PNG of a text.")

        @Option(help: "The text.") var text: String
        @Option(name: .customLong("out"), help: ArgumentHelp("The PNG to write.", valueName: "png")) var output: String
        @Option(help: "Error correction: L, M, Q or H.") var correction = "M"
        @Option(help: "Pixels per module (default: about 350 px wide).") var moduleSize: Int?

        func run() throws {
            try runReportingErrors("qrpay-bench") {
                guard let level = QRErrorCorrection(rawValue: correction) else { throw QRPayError.usage("--correction must be L, M, Q or H") }
                let png = try QRCodeImage.png(text: text, correction: level, moduleSize: moduleSize)
                try Durable.write(png, to: URL(fileURLWithPath: output).standardizedFileURL.path, ifExists: .replace)
            }
        }
    }
}
