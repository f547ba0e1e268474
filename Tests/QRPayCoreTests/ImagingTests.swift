import Foundation
import Testing
@testable import QRPayCore

@Suite struct ImagingTests {
    @Test(arguments: [1, 2, 17, 64, 100, 150, 200, 220, 250, 300])
    func roundTripPayloadLengths(_ length: Int) throws {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
        let text = String((0..<length).map { alphabet[($0 * 7 + length) % alphabet.count] })
        let png = try QRCodeImage.png(text: text)
        let decoded = try QRImageDecoder().decode(data: png)
        #expect(decoded.symbols == [text])
        #expect((250...450).contains(decoded.width))
    }
}
