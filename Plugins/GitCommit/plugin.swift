// Build-tool plugin: writes BuildCommit.swift, `public enum BuildCommit { static let commit: String? }`,
// with the git commit the package is built from (12 hex digits, `-dirty` when tracked files changed),
// or nil when there is no git or no checkout (a tarball): `swift build` works either way. It runs
// before every build and rewrites the file only when the commit changed, so nothing recompiles
// otherwise.

import Foundation
import PackagePlugin

@main
struct GitCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("Generated")
        let script = #"""
        out="$1/BuildCommit.swift"; mkdir -p "$1"
        c=$(git -C "$2" rev-parse --short=12 HEAD 2>/dev/null) || c=""
        if [ -n "$c" ] && [ -n "$(git -C "$2" status --porcelain --untracked-files=no 2>/dev/null)" ]; then c="$c-dirty"; fi
        if [ -n "$c" ]; then v="\"$c\""; else v="nil"; fi
        text="// Generated at build time by Plugins/GitCommit; do not edit.
        public enum BuildCommit { public static let commit: String? = $v }"
        [ -f "$out" ] && [ "$(cat "$out")" = "$text" ] || printf '%s\n' "$text" > "$out"
        """#
        return [.prebuildCommand(displayName: "Reading the git commit", executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: ["-c", script, "sh", output.path, context.package.directoryURL.path],
                                 outputFilesDirectory: output)]
    }
}
