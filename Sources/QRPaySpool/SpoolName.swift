// Queue file names the spool accepts; anything else in a queue's new/ is "foreign": never opened,
// and moved aside by the stage (see StageRunner).

import QRPaySupport

package enum SpoolName {
    /// `[A-Za-z0-9][A-Za-z0-9._:,=+-]{0,200}`, and not ending in `.reason.json` (reason files).
    package static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 201 else { return false }
        func alnum(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        }
        guard alnum(bytes[0]) else { return false }
        for b in bytes.dropFirst() {
            guard alnum(b) || b == 0x2E || b == 0x5F || b == 0x3A || b == 0x2C || b == 0x3D || b == 0x2B || b == 0x2D
            else { return false }
        }
        return !name.hasSuffix(reasonSuffix)
    }

    package static let reasonSuffix = ".reason.json"

    static func validate(_ name: String) throws {
        guard isValid(name) else {
            throw QRPayError(.spoolBadName,
                             "\"\(name.prefix(80))\" is not a valid spool file name: use [A-Za-z0-9][A-Za-z0-9._:,=+-]{0,200}, not ending in .reason.json")
        }
    }
}
