// SHA-256 through OpenSSL's EVP one-shot digest.

internal import COpenSSL
import Foundation

package enum Digest {
    package static func sha256(_ data: Data) -> Data {
        var out = Data(count: 32)
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBytes { o in
            data.withUnsafeBytes { i in
                EVP_Digest(i.baseAddress, i.count, o.baseAddress!.assumingMemoryBound(to: UInt8.self), &length, EVP_sha256(), nil)
            }
        }
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        return out
    }

    package static func sha256Hex(_ data: Data) -> String { Hex.encode(sha256(data)) }
}
