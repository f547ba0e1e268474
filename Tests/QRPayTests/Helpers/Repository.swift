// Where the repository is, for tests that read its files (the README, LAYOUT.md, Sources/, Samples/)
// or run its Makefile: the nearest folder above this file that holds Package.swift, wherever the
// test files sit in Tests/QRPayTests/.

import Foundation

let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        url.deleteLastPathComponent()
    }
    fatalError("no Package.swift above \(#filePath)")
}()
