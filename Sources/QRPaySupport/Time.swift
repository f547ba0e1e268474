// Time as QR-Pay writes it: RFC 3339 UTC with seconds (`2026-11-25T16:50:00Z`), durations as `90s`,
// `15m`, `2h`, `1d`: a unit is required (a bare `5` could mean seconds or minutes), except for `0`.

import Foundation

package enum Timestamp {
    package static func format(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tmv = tm()
        gmtime_r(&t, &tmv)
        guard (0...9999).contains(tmv.tm_year + 1900) else {
            return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday,
                          tmv.tm_hour, tmv.tm_min, tmv.tm_sec)
        }
        // By hand: String(format:) goes through CoreFoundation and shows in the register stage's profile.
        var out = [UInt8](repeating: 0, count: 20)
        func put(_ value: Int32, _ at: Int, _ digits: Int) {
            var v = value
            for k in stride(from: at + digits - 1, through: at, by: -1) { out[k] = 0x30 + UInt8(v % 10); v /= 10 }
        }
        put(tmv.tm_year + 1900, 0, 4); out[4] = 0x2D; put(tmv.tm_mon + 1, 5, 2); out[7] = 0x2D; put(tmv.tm_mday, 8, 2)
        out[10] = 0x54; put(tmv.tm_hour, 11, 2); out[13] = 0x3A; put(tmv.tm_min, 14, 2); out[16] = 0x3A; put(tmv.tm_sec, 17, 2)
        out[19] = 0x5A
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (UTC only, as QR-Pay writes it).
    package static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count == 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A, b[19] == 0x5A
        else { return nil }
        func num(_ r: Range<Int>) -> Int32? {
            var v: Int32 = 0
            for i in r { guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }; v = v * 10 + Int32(b[i] - 0x30) }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13),
              let mi = num(14..<16), let s = num(17..<19),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 60 else { return nil }
        var tmv = tm()
        tmv.tm_year = y - 1900; tmv.tm_mon = mo - 1; tmv.tm_mday = d
        tmv.tm_hour = h; tmv.tm_min = mi; tmv.tm_sec = s
        let t = timegm(&tmv)
        // Refuse normalised dates such as February 31st.
        var back = tm(); var tt = t; gmtime_r(&tt, &back)
        guard back.tm_mday == d, back.tm_mon == mo - 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(t))
    }

    /// Whether `text` is a day `YYYY-MM-DD`.
    package static func isDay(_ text: String) -> Bool {
        text.utf8.count == 10 && parse(text + "T00:00:00Z") != nil
    }

    /// The UTC day `YYYY-MM-DD` of `date`.
    package static func day(_ date: Date) -> String { String(format(date).prefix(10)) }
}

package enum Duration {
    /// What every duration error says.
    package static let hint = "use a number with a unit: 90s, 15m, 2h or 1d"

    /// Parses `90s`, `15m`, `2h`, `1d` into seconds. A unit is required: `5` alone is refused (seconds
    /// or minutes?), except `0`, which is zero in any unit.
    package static func parse(_ text: String) throws -> TimeInterval {
        guard let last = text.last else { throw QRPayError.usage("an empty duration: \(hint)") }
        if text == "0" { return 0 }
        let unit: Double
        var digits = Substring(text)
        switch last {
        case "s": unit = 1; digits = digits.dropLast()
        case "m": unit = 60; digits = digits.dropLast()
        case "h": unit = 3600; digits = digits.dropLast()
        case "d": unit = 86400; digits = digits.dropLast()
        default:
            if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
                throw QRPayError.usage("\"\(text)\" has no unit: \(hint) (\(text)s for seconds)")
            }
            throw QRPayError.usage("\"\(text)\" is not a duration: \(hint)")
        }
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
              let n = Int(digits) else {
            throw QRPayError.usage("\"\(text)\" is not a duration: \(hint)")
        }
        return TimeInterval(n) * unit
    }
}

/// The time a program works at: the system clock, or (for tests and replays) a clock set through
/// the environment: QRPAY_CLOCK=+SECONDS or -SECONDS (offset from the system clock) or
/// QRPAY_CLOCK=YYYY-MM-DDTHH:MM:SSZ (a fixed time). Documented as for tests; never set it in
/// production.
package struct TimeSource: Sendable {
    private let clock: @Sendable () -> Date

    package init(_ now: @escaping @Sendable () -> Date) { clock = now }

    package func now() -> Date { clock() }

    package static let system = TimeSource { Date() }

    /// The environment variable that sets the clock (tests only).
    package static let environmentVariable = "QRPAY_CLOCK"

    /// The clock QRPAY_CLOCK asks for, else the system clock. A malformed value is a usage error.
    package static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> TimeSource {
        guard let text = environment[environmentVariable], !text.isEmpty else { return .system }
        if let first = text.first, first == "+" || first == "-", let offset = Double(text.dropFirst()), offset.isFinite {
            let signed = first == "-" ? -offset : offset
            return TimeSource { Date().addingTimeInterval(signed) }
        }
        if let fixed = Timestamp.parse(text) { return TimeSource { fixed } }
        throw QRPayError(.usage, "\(environmentVariable)=\"\(text.prefix(40))\" is neither +SECONDS, -SECONDS nor a UTC time YYYY-MM-DDTHH:MM:SSZ")
    }
}
