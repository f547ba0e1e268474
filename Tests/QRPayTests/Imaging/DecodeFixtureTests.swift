// Decode regression fixtures: small generated photos of every kind in PhotoCategory (several codes,
// high versions, cylinders, heavy tilt, shadows, glare, screens, low light, blur, low JPEG quality,
// EXIF orientation, damage), each with the codes it holds and where (Fixtures/decode/manifest.json,
// written by `qrpay-bench fixtures`). Every expected code must be read, at its place.

import Foundation
@testable import QRPaySupport
@testable import QRPayDecoder
@testable import QRPayTestPhotos
import Testing

struct DecodeFixture: Sendable, CustomTestStringConvertible {
    struct Code: Sendable {
        let text: String
        let corners: [(x: Double, y: Double)]
    }
    let file: String
    let category: String
    let codes: [Code]
    var testDescription: String { file }

    static func all() -> [DecodeFixture] {
        guard let data = try? Data(contentsOf: fixtureURL("decode/manifest.json")),
              let manifest = try? JSONValue.parse(data), let photos = manifest["photos"]?.arrayValue else { return [] }
        return photos.compactMap { p in
            guard let file = p["file"]?.stringValue, let category = p["category"]?.stringValue,
                  let codes = p["codes"]?.arrayValue else { return nil }
            return DecodeFixture(file: file, category: category, codes: codes.compactMap { c in
                guard let text = c["text"]?.stringValue, let corners = c["corners"]?.arrayValue else { return nil }
                let points = corners.compactMap { pair -> (x: Double, y: Double)? in
                    guard let xy = pair.arrayValue, xy.count == 2, let x = xy[0].number, let y = xy[1].number else { return nil }
                    return (x, y)
                }
                return Code(text: text, corners: points)
            })
        }
    }

    /// `p` lies inside the quadrilateral `q` grown by `grow` about its centre, plus `slack` pixels.
    static func inside(_ p: DecodedSymbol.Point, _ q: [(x: Double, y: Double)], grow: Double = 1.15, slack: Double = 4) -> Bool {
        let cx = q.map(\.x).reduce(0, +) / 4, cy = q.map(\.y).reduce(0, +) / 4
        let g = q.map { pt -> (Double, Double) in
            let dx = pt.x - cx, dy = pt.y - cy, r = max(1, hypot(dx, dy))
            return (cx + dx * grow + dx / r * slack, cy + dy * grow + dy / r * slack)
        }
        var sign = 0.0
        for i in 0..<4 {
            let a = g[i], b = g[(i + 1) % 4]
            let c = (b.0 - a.0) * (p.y - a.1) - (b.1 - a.1) * (p.x - a.0)
            if sign == 0 { sign = c } else if c * sign < 0 { return false }
        }
        return true
    }
}

private extension JSONValue {
    var number: Double? {
        switch self {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }
}

@Suite struct DecodeFixtureTests {
    @Test func everyCategoryHasFixtures() {
        let categories = Set(DecodeFixture.all().map(\.category))
        for c in PhotoCategory.allCases { #expect(categories.contains(c.rawValue), "no fixture for \(c.rawValue)") }
    }

    @Test(arguments: DecodeFixture.all())
    func readsEveryCodeAtItsPlace(_ fixture: DecodeFixture) throws {
        let decoded = try QRImageDecoder().decode(file: fixtureURL("decode/" + fixture.file).path)
        for code in fixture.codes {
            let hits = decoded.codes.filter { $0.text == code.text }
            #expect(!hits.isEmpty, "\(fixture.file): not read: \(code.text.prefix(40))")
            guard let hit = hits.first else { continue }
            #expect(hit.corners.count == 4)
            #expect(hits.contains { h in h.corners.allSatisfy { DecodeFixture.inside($0, code.corners) } },
                    "\(fixture.file): corners \(hit.corners.map { "(\(Int($0.x)),\(Int($0.y)))" }.joined()) not on the code at \(code.corners.map { "(\(Int($0.x)),\(Int($0.y)))" }.joined())")
        }
        #expect(Set(decoded.symbols) == Set(decoded.codes.map(\.text)))
    }
}
