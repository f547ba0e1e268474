// Money: integer minor units with an ISO 4217 currency whose minor-unit exponent is known.
//
// Amounts are never floating point. A currency QR-Pay does not know is refused, because without its
// exponent an amount cannot be shown to the user correctly (KRW 12000 is not USD 120.00).

import QRPaySupport

package struct Currency: Hashable, Sendable, CustomStringConvertible {
    package let code: String
    /// Digits after the decimal point (KRW 0, USD 2, BHD 3).
    package let exponent: Int

    /// ISO 4217 currencies and their minor-unit exponents.
    package static let known: [String: Int] = [
        "AED": 2, "ARS": 2, "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2,
        "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
        "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "LYD": 3, "MXN": 2, "MYR": 2,
        "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PLN": 2, "RUB": 2, "SAR": 2, "SEK": 2, "SGD": 2,
        "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "UGX": 0, "USD": 2, "VND": 0, "XAF": 0, "XOF": 0,
        "ZAR": 2,
    ]

    package init(_ code: String) throws {
        // Byte for byte: Swift's String equality is Unicode canonical equivalence, under which the
        // Kelvin sign U+212A "is" K; a code is three ASCII capitals or it is refused.
        let bytes = Array(code.utf8)
        guard bytes.count == 3, bytes.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }), let exponent = Currency.known[code] else {
            let shown = code.count > 12 ? String(code.prefix(12)) + "…" : code
            throw QRPayError(.paymentCurrency, "unknown currency \"\(shown)\": use an ISO 4217 code such as KRW, USD or EUR")
        }
        self.code = code
        self.exponent = exponent
    }

    package var description: String { code }

    /// `12000` KRW → `KRW 12,000`; `1234` USD → `USD 12.34`; negative amounts get a minus sign.
    package func format(_ minor: Int64) -> String {
        let negative = minor < 0
        let magnitude = minor.magnitude
        var divisor: UInt64 = 1
        for _ in 0..<exponent { divisor *= 10 }
        let whole = magnitude / divisor
        let fraction = magnitude % divisor
        var digits = String(whole)
        var grouped = ""
        while digits.count > 3 {
            grouped = "," + digits.suffix(3) + grouped
            digits.removeLast(3)
        }
        grouped = digits + grouped
        var text = (negative ? "-" : "") + grouped
        if exponent > 0 {
            let f = String(fraction)
            text += "." + String(repeating: "0", count: exponent - f.count) + f
        }
        return "\(code) \(text)"
    }
}

extension Currency {
    /// `1234` USD → `12.34`, `12000` KRW → `12000`: the amount as a plain decimal string (no grouping,
    /// no currency), for CSV and JSON readers that must not misread minor units.
    package func decimal(_ minor: Int64) -> String {
        let negative = minor < 0
        let magnitude = minor.magnitude
        var divisor: UInt64 = 1
        for _ in 0..<exponent { divisor *= 10 }
        var text = (negative ? "-" : "") + String(magnitude / divisor)
        if exponent > 0 {
            let f = String(magnitude % divisor)
            text += "." + String(repeating: "0", count: exponent - f.count) + f
        }
        return text
    }

    /// `USD 12.34` for a known code, else `XYZ 1234 (minor units)`: how every report shows an amount.
    package static func format(code: String, minor: Int64) -> String {
        (try? Currency(code)).map { $0.format(minor) } ?? "\(code) \(minor) (minor units)"
    }

    /// `{"currency", "minor", "exponent", "decimal"}`: one amount in JSON, minor units beside the
    /// exponent and the decimal string (exponent and decimal null for an unknown code).
    package static func amountJSON(code: String, minor: Int64) -> JSONValue {
        let c = try? Currency(code)
        return ["currency": .string(code), "minor": .int(minor),
                "exponent": c.map { .int(Int64($0.exponent)) } ?? .null, "decimal": c.map { .string($0.decimal(minor)) } ?? .null]
    }
}

/// The largest total QR-Pay accepts, in minor units (10^15: far above any real payment, far below overflow).
package let maximumAmount: Int64 = 1_000_000_000_000_000
