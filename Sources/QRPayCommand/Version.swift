// The one version of QR-Pay, shown by every program's --version: the release number below and, when
// the programs were built from a git checkout, the commit (BuildCommit.commit, generated at build
// time by the GitCommit plugin; nil when there was no git to ask).



package enum QRPayVersion {
    /// The release, bumped by hand when one is tagged.
    package static let number = "0.14.0"

    /// `0.14.0 (commit 1a2b3c4d5e6f)`, or `0.14.0` when built without git.
    package static var text: String {
        guard let commit = BuildCommit.commit, !commit.isEmpty else { return number }
        return "\(number) (commit \(commit))"
    }
}
