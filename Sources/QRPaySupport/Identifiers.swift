// Identifiers of shops, users and payments.
//
// Ids name files and directories in the spool, so they are restricted to a safe alphabet:
// `[A-Za-z0-9._-]{1,64}`, never `.` or `..`. Anything else is refused with exit 65, before it can
// reach a path.

package enum Role: String, Sendable, CaseIterable, Codable {
    case shop, user, pg

    /// QR-Pay's arc for its certificate purposes: a UUID-based OID (ITU-T X.667, 2.25), which needs no
    /// registration. A leaf certificate's extendedKeyUsage names its role's purpose, and the trust
    /// store requires it: a certificate made for another system (or another role) never signs here.
    package static let purposeArc = "2.25.141124626854829476790982977646219787569"

    /// 2.25….1 shop, .2 user, .3 pg.
    package var purposeOID: String {
        switch self {
        case .shop: return Role.purposeArc + ".1"
        case .user: return Role.purposeArc + ".2"
        case .pg: return Role.purposeArc + ".3"
        }
    }
}

package enum Identifier {
    package static let maxLength = 64

    package static func isValid(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= maxLength, id != ".", id != ".." else { return false }
        return id.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x2E || b == 0x5F || b == 0x2D
        }
    }

    /// Returns `id` when it is safe, or throws `id.unsafe` (exit 65).
    @discardableResult
    package static func validate(_ id: String, what: String = "id") throws -> String {
        guard isValid(id) else {
            let shown = id.count > 80 ? String(id.prefix(80)) + "…" : id
            throw QRPayError(.idUnsafe, "\(what) \"\(shown.debugDescription.dropFirst().dropLast())\" is not a valid id: use 1-64 of A-Z a-z 0-9 . _ - (not \".\" or \"..\")")
        }
        return id
    }
}
