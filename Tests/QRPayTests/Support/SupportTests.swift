import Foundation
@testable import QRPaySupport
@testable import QRPaySpool
import Testing

@Suite struct SupportTests {
    @Test(arguments: ["1001", "shop-1", "a.b_c", String(repeating: "x", count: 64)])
    func validIds(_ id: String) throws {
        #expect(Identifier.isValid(id))
        #expect(try Identifier.validate(id) == id)
    }

    @Test(arguments: ["", ".", "..", "../etc", "a/b", "a b", "ä", String(repeating: "x", count: 65), "a\u{0}b"])
    func unsafeIds(_ id: String) {
        #expect(!Identifier.isValid(id))
        #expect(throws: QRPayError.self) { try Identifier.validate(id) }
    }

    @Test func jsonRejectsDuplicateKeys() {
        #expect(throws: QRPayError.self) { try JSONValue.parse(#"{"a":1,"a":2}"#) }
    }

    @Test func jsonKeepsIntegersAndRealsApart() throws {
        let v = try JSONValue.parse(#"{"i":12,"r":1.5,"e":1e2,"s":"x"}"#)
        let r = try JSONObjectReader(v, what: "doc")
        #expect(try r.int("i") == 12)
        #expect(throws: QRPayError.self) { try r.int("r") }
        #expect(throws: QRPayError.self) { try r.int("e") }
        #expect(throws: QRPayError.self) { try r.int("s") }
        #expect(throws: QRPayError.self) { try r.requireOnly(["i", "r"]) }
    }

    @Test func jsonRoundTripIsSortedAndStable() throws {
        let v: JSONValue = ["b": 1, "a": ["x", true, nil], "c": "é\"\\"]
        let text = v.serializedString()
        #expect(text == #"{"a":["x",true,null],"b":1,"c":"é\"\\"}"#)
        #expect(try JSONValue.parse(text) == v)
    }

    @Test func jsonRejectsOverflowAndGarbage() {
        #expect(throws: QRPayError.self) { try JSONValue.parse(#"{"a":99999999999999999999999}"#) }
        #expect(throws: QRPayError.self) { try JSONValue.parse("{") }
        #expect(throws: QRPayError.self) { try JSONValue.parse("") }
        #expect(throws: QRPayError.self) {
            try JSONValue.parse(Data(repeating: 0x20, count: 70_000))
        }
    }

    @Test func base64url() {
        #expect(Base64URL.encode(Data([0xfb, 0xff])) == "-_8")
        #expect(Base64URL.decode("-_8") == Data([0xfb, 0xff]))
        #expect(Base64URL.decode("-_8=") == nil)
        #expect(Base64URL.decode("+/8") == nil)
        #expect(Base64URL.decode("-_9") == nil) // non-canonical trailing bits
    }

    @Test func timestampsAndDurations() throws {
        let d = Date(timeIntervalSince1970: 1_795_000_000)
        let s = Timestamp.format(d)
        #expect(Timestamp.parse(s) == d)
        #expect(Timestamp.parse("2026-02-31T00:00:00Z") == nil)
        #expect(Timestamp.parse("2026-01-01T00:00:00+01:00") == nil)
        #expect(try Duration.parse("90s") == 90)
        #expect(try Duration.parse("15m") == 900)
        #expect(try Duration.parse("2h") == 7200)
        #expect(try Duration.parse("0") == 0)
        #expect(throws: QRPayError.self) { try Duration.parse("-5m") }
        #expect(throws: QRPayError.self) { try Duration.parse("5 m") }
        // A unit is required (is 5 seconds or minutes?), and the error says how.
        #expect(throws: QRPayError.self) { try Duration.parse("5") }
        do { _ = try Duration.parse("5"); Issue.record("5 without a unit parsed") } catch let e as QRPayError {
            #expect(e.code == .usage && e.message.contains("90s, 15m, 2h"), "\(e.message)")
        }
    }

    @Test func durableWriteNeverReplaces() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qrpay-io-\(UUID())").path
        try FileIO.makeDirectory(dir, mode: 0o700)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Durable.write(Data("one".utf8), to: dir + "/f")
        #expect(throws: QRPayError.self) { try Durable.write(Data("two".utf8), to: dir + "/f") }
        #expect(try FileIO.read(dir + "/f") == Data("one".utf8))
        try Durable.write(Data("two".utf8), to: dir + "/f", ifExists: .replace)
        #expect(try FileIO.read(dir + "/f") == Data("two".utf8))
        symlink(dir + "/f", dir + "/link")
        #expect(throws: QRPayError.self) { try FileIO.read(dir + "/link") }
        #expect(try FileIO.listDirectory(dir).sorted() == ["f", "link"])
    }
}
