// libFuzzer entry of the "bank" target (see Sources/QRPayFuzz): built with -parse-as-library, so
// libFuzzer's main runs and calls this for every input.
import QRPayFuzz

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafeRawPointer?, _ size: Int) -> Int32 {
    FuzzTargets.testOneInput("bank", data, size)
}
