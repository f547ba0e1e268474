// Text that reaches a person (item names, shop names, cancel reasons, refusal reasons): what may be
// in it, and how it is shown.
//
// Refused: control characters (Cc), format characters (Cf: among them the bidirectional overrides
// and isolates U+202A–U+202E and U+2066–U+2069, which can make "KRW 1,000" read as "KRW 000,1"
// or hide text), line and paragraph separators (U+2028, U+2029), unassigned code points and lone
// surrogates. What remains is shown as it is; anything else that reaches a display from an older
// spool is escaped visibly (`\u{202E}`), never interpreted.

package enum HumanText {
    /// Why `text` may not be shown to a person, or nil when it may.
    package static func problem(_ text: String) -> String? {
        for scalar in text.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control: return "a control character (U+\(hex(scalar)))"
            case .format: return (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
                ? "a bidirectional override (U+\(hex(scalar))), which would reorder the text on screen"
                : "an invisible format character (U+\(hex(scalar)))"
            case .lineSeparator, .paragraphSeparator: return "a line separator (U+\(hex(scalar)))"
            case .unassigned, .surrogate, .privateUse: return "a code point with no meaning (U+\(hex(scalar)))"
            default: continue
            }
        }
        return nil
    }

    /// `text` with every character `problem` refuses replaced by a visible `\u{XXXX}`.
    package static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if problem(String(scalar)) != nil { out += "\\u{\(hex(scalar))}" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    static func hex(_ scalar: Unicode.Scalar) -> String {
        let h = String(scalar.value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - h.count)) + h
    }
}

extension String {
    package func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
