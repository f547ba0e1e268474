// The pipeline bench works end to end (`qrpay-bench pipeline --quick`): every row is there, with a
// figure only a real run produces (a rate, a time, a count read). No figure is compared with its
// target: tests never assert timings.

import Foundation
import Testing

@Suite struct BenchTests {
    /// The first number in a row's figure column.
    static func figure(_ line: Substring, after label: String) -> Double? {
        let rest = line.dropFirst(label.count).drop { !$0.isNumber }
        let number = rest.prefix { $0.isNumber || $0 == "." }
        return Double(number)
    }

    @Test func quickPipelineBenchMeasuresEveryRow() throws {
        let dir = TemporaryDirectory("bench")
        // zbarimg on a 12 MP photo takes seconds and its row is a comparison, not one of QR-Pay's.
        let r = runProgram("qrpay-bench", ["pipeline", "--quick", "--zbarimg", "", "--work", dir.path + "/work"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        // Each row: its label, and a positive figure measured by the run.
        let rows = ["register --once, empty spool", "approve --once", "reference loop, in process", "register / reference",
                    "--watch drop -> QR PNG, p50", "--watch drop -> QR PNG, p99", "register --once, 500 in spool",
                    "qrpay-spool status, 600 payments", "qrpay-reconcile, a day of 600", "idle qrpay-settle --once, 50 open",
                    "idle qrpay-settle --once, 1000 open", "decode qrpay, 12 MP phone photo"]
        for label in rows {
            guard let line = lines.first(where: { $0.hasPrefix(label) }) else {
                Issue.record("missing row \(label):\n\(r.stdout)")
                continue
            }
            let value = Self.figure(line, after: label)
            #expect(value != nil && value! > 0 && value!.isFinite, "row \(label) has no measured figure: \(line)")
        }
        // Counts only a real run produces: every payment processed, the photo read.
        #expect(lines.contains { $0.hasPrefix("decode qrpay") && $0.contains("read 1/1") }, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("reference loop") && $0.contains("CPU ") }, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("register --once, empty spool") && $0.contains("100 payments, 5 shops") }, "\(r.stdout)")
        #expect(r.stdout.contains("machine:") && r.stdout.contains("disk:"))
        #expect(!r.stdout.contains("NOT ALL PROCESSED"), "\(r.stdout)")
        #expect(r.stdout.range(of: "exit [1-9]", options: .regularExpression) == nil, "a program failed during the bench:\n\(r.stdout)")
    }
}
