// The error catalogue: closed, one status and fault per code, and each program's documented exit
// statuses exactly those its codes carry.

import Foundation
@testable import QRPaySupport
import Testing
import QRPayCommand

@Suite struct CatalogueTests {
    @Test func codesAreUniqueDottedAndClassified() {
        var seen = Set<String>()
        for code in ErrorCode.all {
            #expect(seen.insert(code.rawValue).inserted, "\(code) twice in the catalogue")
            #expect(code.rawValue == "usage" || code.rawValue == "internal" || code.rawValue.contains("."), "\(code)")
            #expect(!code.summary.isEmpty)
            #expect(ErrorCode.named(code.rawValue) == code)
            // A fault of the input is bad data; faults of the system are never reported as bad data.
            if code.fault == .input { #expect(code.status == .dataError, "\(code) is the input's fault but exits \(code.status)") }
        }
        #expect(ErrorCode.named("no.such-code") == nil)
    }

    @Test(arguments: [(ENOENT, "io.not-found", SysExit.noInput), (EACCES, "io.permission", .noPermission),
                      (EPERM, "io.permission", .noPermission), (ENOSPC, "io.no-space", .tempFail), (EDQUOT, "io.no-space", .tempFail),
                      (EROFS, "io.read-only", .cantCreate), (EIO, "io.failed", .ioError), (EMFILE, "io.busy", .tempFail),
                      (EEXIST, "io.exists", .cantCreate)])
    func oneErrnoMap(errno: Int32, code: String, status: SysExit) {
        let e = QRPayError.io("create", path: "/x/y", errno: errno)
        #expect(e.code.rawValue == code && e.exit == status && e.isTransient)
        #expect(e.message.hasPrefix("cannot create /x/y: "))
    }

    static let programs = ["qrpay-ca", "qrpay-shop", "qrpay-register", "qrpay-approve", "qrpay-settle", "qrpay-payout", "qrpay-scan",
                           "qrpay-user", "qrpay-spool", "qrpay-reconcile", "qrpay-bench"]

    /// Every program folder is checked below (a new program cannot be forgotten).
    @Test func everyProgramIsListed() throws {
        let folders = try FileIO.listDirectory(LayoutTests.repository + "/Sources").filter { $0.hasPrefix("qrpay-") }
        #expect(Set(folders) == Set(CatalogueTests.programs))
    }

    /// The statuses in a program's header comment ("Exit codes: 0 …; 64 …") are the ones its codes carry.
    @Test(arguments: programs)
    func headerDocumentsTheStatusesTheProgramCanExitWith(program: String) throws {
        let folder = LayoutTests.repository + "/Sources/" + program
        let main = try #require(try FileIO.listDirectory(folder).first { name in
            (try? FileIO.read(folder + "/" + name))
                .map { String(decoding: $0, as: UTF8.self).contains("@main") } ?? false
        })
        let text = String(decoding: try FileIO.read(folder + "/" + main), as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex { $0.hasPrefix("// Exit codes:") }, "\(program): no `// Exit codes:` line")
        var paragraph = String(lines[start].dropFirst("// Exit codes:".count))
        for line in lines[(start + 1)...] {
            guard line.hasPrefix("//"), line.count > 2, line.dropFirst(2).first == " ",
                  line.dropFirst(3).first == " " else { break }
            paragraph += " " + line.dropFirst(2)
        }
        let documented = paragraph.split(separator: ";").compactMap { part in
            Int32(part.trimmingCharacters(in: .whitespaces).prefix { $0.isNumber })
        }
        let expected = ProgramCatalogue.statuses(program).map(\.rawValue)
        #expect(documented == expected,
                "\(program): the header says \(documented); its codes exit with \(expected): // Exit codes: \(ProgramCatalogue.exitText(program))")
    }
}
