// The pipeline bench works end to end (`qrpay-bench pipeline --quick`): every row is there. A
// functional check only: no figure is asserted.

import Foundation
import Testing
@testable import QRPayCore

@Suite struct BenchTests {
    @Test func quickPipelineBenchPrintsEveryRow() throws {
        let dir = TemporaryDirectory("bench")
        let r = runProgram("qrpay-bench", ["pipeline", "--quick", "--work", dir.path + "/work"])
        #expect(r.status == 0, "\(r.stderr)")
        for row in ["register --once, empty spool", "approve --once", "reference loop", "register / reference",
                    "--watch drop -> QR PNG, p99", "in spool", "qrpay-spool status", "qrpay-reconcile", "decode qrpay"] {
            #expect(r.stdout.contains(row), "missing row \(row):\n\(r.stdout)")
        }
        #expect(r.stdout.contains("machine:") && r.stdout.contains("disk:"))
        #expect(!r.stdout.contains("NOT ALL PROCESSED"), "\(r.stdout)")
    }
}
