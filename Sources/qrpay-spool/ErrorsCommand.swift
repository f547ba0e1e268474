// qrpay-spool errors: the error catalogue, for operators reading a reason file and for scripts.

import ArgumentParser
import Foundation
import QRPaySupport
import QRPayCommand

extension QRPaySpool {
    struct Errors: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the error catalogue: every code, its exit status, whose fault it is, what it means.",
            discussion: """
            Every refusal and failure of a QR-Pay program carries one of these codes: on stderr, and in \
            the `code` field of a quarantine or deferral reason file (QUEUE/quarantine/NAME.reason.json). \
            A fault of the input is quarantined and never retried by itself; a fault of the system is \
            deferred and retried. Give CODE (or an area such as `payment`) to see only those.
            Example: qrpay-spool errors approval   |   qrpay-spool errors --json | jq '.codes[] | select(.fault=="system") | .code'
            """)
        @Flag(help: "Print JSON: {v, codes: [{code, exit, fault, summary}]}.") var json = false
        @Argument(help: "A code (payment.replay) or an area (payment) to show; default: every code.")
        var filter: String?

        func run() throws {
            try runReportingErrors("qrpay-spool") {
                let codes = ErrorCode.all.filter { code in
                    guard let filter else { return true }
                    return code.rawValue == filter || code.area == filter
                }
                if let filter, codes.isEmpty {
                    throw QRPayError(.ioNotFound, "no error code or area \"\(filter)\" in the catalogue (qrpay-spool errors lists them all)")
                }
                if json {
                    printJSON(["v": 1, "codes": .array(codes.map {
                        ["code": .string($0.rawValue), "exit": .int(Int64($0.status.rawValue)), "fault": .string($0.fault.rawValue),
                         "summary": .string($0.summary)]
                    })])
                } else {
                    let width = codes.map(\.rawValue.count).max() ?? 0
                    for code in codes {
                        print("\(code.rawValue.padding(toLength: width, withPad: " ", startingAt: 0))  \(code.status.rawValue)  \(code.fault.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0))  \(code.summary)")
                    }
                }
            }
        }
    }
}
