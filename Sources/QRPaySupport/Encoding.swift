// base64url (RFC 4648 section 5, no padding) and hex, as JWS and certificate fingerprints use them.

import Foundation

package enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    /// Byte -> 6-bit value, 0xFF for bytes outside the alphabet.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    package static func encode(_ data: Data) -> String {
        data.withUnsafeBytes { encode(bytes: $0) }
    }

    package static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let array = Array(bytes)
        return array.withUnsafeBytes { encode(bytes: $0) }
    }

    private static func encode(bytes input: UnsafeRawBufferPointer) -> String {
        let n = input.count
        let length = (n / 3) * 4 + [0, 2, 3][n % 3]
        if length == 0 { return "" }
        return alphabet.withUnsafeBufferPointer { a in
            String(unsafeUninitializedCapacity: length) { out in
                var i = 0, o = 0
                while i + 3 <= n {
                    let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                    out[o] = a[Int(v >> 18)]; out[o + 1] = a[Int(v >> 12 & 63)]
                    out[o + 2] = a[Int(v >> 6 & 63)]; out[o + 3] = a[Int(v & 63)]
                    i += 3; o += 4
                }
                if n - i == 1 {
                    let v = UInt32(input[i]) << 16
                    out[o] = a[Int(v >> 18)]; out[o + 1] = a[Int(v >> 12 & 63)]
                    o += 2
                } else if n - i == 2 {
                    let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
                    out[o] = a[Int(v >> 18)]; out[o + 1] = a[Int(v >> 12 & 63)]; out[o + 2] = a[Int(v >> 6 & 63)]
                    o += 3
                }
                return o
            }
        }
    }

    /// Decodes strict unpadded base64url; nil for anything else (padding, `+`, `/`, whitespace, and
    /// non-canonical spellings whose unused low bits are set, so one signature has one spelling).
    package static func decode(_ text: String) -> Data? {
        var text = text
        return text.withUTF8 { decode(utf8: $0) }
    }

    private static func decode(utf8 input: UnsafeBufferPointer<UInt8>) -> Data? {
        let n = input.count
        if n % 4 == 1 { return nil }
        var out = Data(count: (n / 4) * 3 + [0, 0, 1, 2][n % 4])
        let ok = values.withUnsafeBufferPointer { t in
            out.withUnsafeMutableBytes { (o: UnsafeMutableRawBufferPointer) -> Bool in
                var i = 0, j = 0
                while i + 4 <= n {
                    let a = t[Int(input[i])], b = t[Int(input[i + 1])], c = t[Int(input[i + 2])], d = t[Int(input[i + 3])]
                    if (a | b | c | d) & 0xC0 != 0 { return false }
                    let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    o[j] = UInt8(v >> 16); o[j + 1] = UInt8(v >> 8 & 0xFF); o[j + 2] = UInt8(v & 0xFF)
                    i += 4; j += 3
                }
                switch n - i {
                case 2:
                    let a = t[Int(input[i])], b = t[Int(input[i + 1])]
                    if (a | b) & 0xC0 != 0 || b & 0x0F != 0 { return false }
                    o[j] = a << 2 | b >> 4
                case 3:
                    let a = t[Int(input[i])], b = t[Int(input[i + 1])], c = t[Int(input[i + 2])]
                    if (a | b | c) & 0xC0 != 0 || c & 0x03 != 0 { return false }
                    o[j] = a << 2 | b >> 4; o[j + 1] = (b & 0x0F) << 4 | c >> 2
                default: break
                }
                return true
            }
        }
        return ok ? out : nil
    }
}

package enum Hex {
    package static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    package static func decode(_ text: String) -> Data? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var out = Data(capacity: chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
