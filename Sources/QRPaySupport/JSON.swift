// Strict JSON through Jansson.
//
// Foundation's JSON parsers silently accept duplicate keys (the last one wins), which would let a
// signed document say two things at once. QR-Pay therefore parses every untrusted document with
// Jansson and JSON_REJECT_DUPLICATES, keeps integers and reals apart (money is never a float), and
// serializes with sorted keys so that output is stable and `jq`-friendly.

internal import CJansson
internal import CQRPayShims
import Foundation

package enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

package struct JSONParseOptions: Sendable {
    package var maxBytes: Int
    package init(maxBytes: Int = 64 * 1024) { self.maxBytes = maxBytes }
}

extension JSONValue {
    /// Parses `data` strictly: one JSON value, no duplicate keys, at most `options.maxBytes` bytes.
    package static func parse(_ data: Data, options: JSONParseOptions = .init(), what: String = "document") throws -> JSONValue {
        guard data.count <= options.maxBytes else {
            throw QRPayError(.jsonTooLarge, "\(what) is \(data.count) bytes, over the limit of \(options.maxBytes)")
        }
        var error = json_error_t()
        let root: UnsafeMutablePointer<json_t>? = data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return nil }
            return json_loadb(base.assumingMemoryBound(to: CChar.self), raw.count,
                              size_t(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY), &error)
        }
        guard let root else {
            let text = withUnsafeBytes(of: &error.text) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if data.isEmpty {
                throw QRPayError(.jsonMalformed, "\(what) is empty, not JSON")
            }
            throw QRPayError(.jsonMalformed, "\(what) is not valid JSON: \(text) (line \(error.line), column \(error.column))")
        }
        defer { json_decref(root) }
        return try convert(root, depth: 0)
    }

    package static func parse(_ text: String, what: String = "document") throws -> JSONValue {
        try parse(Data(text.utf8), what: what)
    }

    private static func convert(_ node: UnsafeMutablePointer<json_t>, depth: Int) throws -> JSONValue {
        guard depth < 32 else { throw QRPayError(.jsonTooDeep, "JSON nests more than 32 levels") }
        switch node.pointee.type {
        case JSON_NULL: return .null
        case JSON_TRUE: return .bool(true)
        case JSON_FALSE: return .bool(false)
        case JSON_INTEGER: return .int(Int64(json_integer_value(node)))
        case JSON_REAL: return .double(json_real_value(node))
        case JSON_STRING:
            let length = json_string_length(node)
            let bytes = UnsafeRawBufferPointer(start: json_string_value(node), count: length)
            return .string(String(decoding: bytes, as: UTF8.self))
        case JSON_ARRAY:
            var items: [JSONValue] = []
            let count = json_array_size(node)
            items.reserveCapacity(count)
            for i in 0..<count {
                items.append(try convert(json_array_get(node, i)!, depth: depth + 1))
            }
            return .array(items)
        case JSON_OBJECT:
            var members: [String: JSONValue] = [:]
            var iter = json_object_iter(node)
            while let it = iter {
                let keyLength = json_object_iter_key_len(it)
                let key = String(decoding: UnsafeRawBufferPointer(start: json_object_iter_key(it), count: keyLength), as: UTF8.self)
                members[key] = try convert(json_object_iter_value(it)!, depth: depth + 1)
                iter = json_object_iter_next(node, it)
            }
            return .object(members)
        default:
            throw QRPayError(.jsonMalformed, "unknown JSON node type")
        }
    }

    // MARK: serialization

    /// Serializes with sorted keys; compact by default, two-space indent when `pretty`.
    package func serialized(pretty: Bool = false) -> Data {
        let node = makeNode()
        defer { json_decref(node) }
        let flags = qrpay_json_dump_flags(pretty ? 1 : 0)
        // One pass through the tree (json_dumpb would need two: one to size the buffer, one to fill it).
        var out = [UInt8]()
        out.reserveCapacity(1024)
        withUnsafeMutablePointer(to: &out) { sink in
            _ = json_dump_callback(node, { buffer, size, context in
                guard let buffer, let context else { return -1 }
                let sink = context.assumingMemoryBound(to: [UInt8].self)
                sink.pointee.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: size))
                return 0
            }, sink, flags)
        }
        if pretty { out.append(0x0A) }
        return Data(out)
    }

    package func serializedString(pretty: Bool = false) -> String {
        String(decoding: serialized(pretty: pretty), as: UTF8.self)
    }

    private func makeNode() -> UnsafeMutablePointer<json_t> {
        switch self {
        case .null: return json_null()
        case .bool(let b): return b ? json_true() : json_false()
        case .int(let i): return json_integer(json_int_t(i))
        case .double(let d): return json_real(d)
        case .string(let s):
            var s = s
            return s.withUTF8 { buf in
                json_stringn_nocheck(UnsafeRawPointer(buf.baseAddress ?? UnsafePointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self), buf.count)
            }
        case .array(let items):
            let node = json_array()!
            for item in items { json_array_append_new(node, item.makeNode()) }
            return node
        case .object(let members):
            let node = json_object()!
            for (key, value) in members {
                var key = key
                key.withUTF8 { buf in
                    _ = json_object_setn_new_nocheck(node, UnsafeRawPointer(buf.baseAddress ?? UnsafePointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self), buf.count, value.makeNode())
                }
            }
            return node
        }
    }
}

// MARK: - strict field access

/// A JSON object read field by field, so that a decoder can insist on exactly the fields it knows.
package struct JSONObjectReader {
    package let members: [String: JSONValue]
    package let what: String

    package init(_ value: JSONValue, what: String) throws {
        guard case .object(let members) = value else {
            throw QRPayError(.jsonNotObject, "\(what) must be a JSON object")
        }
        self.members = members
        self.what = what
    }

    /// Refuses any field not in `known`.
    package func requireOnly(_ known: Set<String>) throws {
        let unknown = members.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw QRPayError(.jsonUnknownField, "\(what) has unknown field(s): \(unknown.joined(separator: ", "))")
        }
    }

    package func value(_ key: String) throws -> JSONValue {
        guard let v = members[key] else {
            throw QRPayError(.jsonMissingField, "\(what) lacks the field \"\(key)\"")
        }
        return v
    }

    package func string(_ key: String, maxLength: Int = 1024) throws -> String {
        guard case .string(let s) = try value(key) else {
            throw QRPayError(.jsonType, "\(what): \"\(key)\" must be a string")
        }
        guard s.utf8.count <= maxLength else {
            throw QRPayError(.jsonTooLong, "\(what): \"\(key)\" is longer than \(maxLength) bytes")
        }
        return s
    }

    package func optionalString(_ key: String, maxLength: Int = 1024) throws -> String? {
        members[key] == nil ? nil : try string(key, maxLength: maxLength)
    }

    /// An integer (never a real or a string), within `range`.
    package func int(_ key: String, in range: ClosedRange<Int64> = Int64.min...Int64.max) throws -> Int64 {
        switch try value(key) {
        case .int(let i):
            guard range.contains(i) else {
                throw QRPayError(.jsonRange, "\(what): \"\(key)\" is \(i), outside \(range.lowerBound)...\(range.upperBound)")
            }
            return i
        case .double:
            throw QRPayError(.jsonType, "\(what): \"\(key)\" must be an integer, not a decimal number")
        case .string:
            throw QRPayError(.jsonType, "\(what): \"\(key)\" must be an integer, not a string")
        default:
            throw QRPayError(.jsonType, "\(what): \"\(key)\" must be an integer")
        }
    }

    package func bool(_ key: String) throws -> Bool {
        guard case .bool(let b) = try value(key) else {
            throw QRPayError(.jsonType, "\(what): \"\(key)\" must be true or false")
        }
        return b
    }

    package func array(_ key: String, maxCount: Int = 1000) throws -> [JSONValue] {
        guard case .array(let items) = try value(key) else {
            throw QRPayError(.jsonType, "\(what): \"\(key)\" must be an array")
        }
        guard items.count <= maxCount else {
            throw QRPayError(.jsonTooLong, "\(what): \"\(key)\" has more than \(maxCount) entries")
        }
        return items
    }

    package func object(_ key: String) throws -> JSONObjectReader {
        try JSONObjectReader(try value(key), what: "\(what).\(key)")
    }
}

extension JSONValue {
    package var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    package var intValue: Int64? { if case .int(let i) = self { return i } else { return nil } }
    package var objectValue: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }
    package var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    package subscript(key: String) -> JSONValue? { objectValue?[key] }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral {
    package init(stringLiteral value: String) { self = .string(value) }
    package init(integerLiteral value: Int64) { self = .int(value) }
    package init(booleanLiteral value: Bool) { self = .bool(value) }
    package init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    package init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    package init(nilLiteral: ()) { self = .null }
}
