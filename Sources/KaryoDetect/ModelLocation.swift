import Foundation

/// Where the shipped model is found when none is named: the one rule behind `karyocount count`, `eval` and the
/// daemon's `model` default.
public enum ModelLocation {
    /// The model folder of a source checkout, relative to its root.
    public static let checkoutPath = "Models/default"
    /// The model folder of an installation, relative to its prefix (`Deploy/install.sh` copies `Models/` there).
    public static let installedPath = "share/karyocount/models/default"
    /// The installation prefix of `Deploy/install.sh`.
    public static let defaultPrefix = "/usr/local"

    /// The folders searched, in order: `Models/default` in `currentDirectory`; then, for the executable both as
    /// invoked and with its symlinks resolved (`.build/release` is a symlink), `<prefix>/share/karyocount/models/
    /// default` for `<prefix>/bin/karyocount` and `Models/default` in each folder above it (a checkout's
    /// `.build/<config>/karyocount`).
    public static func candidates(executable: String, currentDirectory: String) -> [URL] {
        let cwd = URL(filePath: currentDirectory, directoryHint: .isDirectory)
        var found = [cwd.appending(path: checkoutPath)]
        var executables: [URL] = []
        if executable.contains("/") {
            let invoked = URL(filePath: executable, relativeTo: cwd).standardizedFileURL
            executables += [invoked, invoked.resolvingSymlinksInPath()]
        }
        executables.append(URL(filePath: "/proc/self/exe").resolvingSymlinksInPath())
        for binary in executables where binary.path != "/proc/self/exe" {
            var folder = binary.deletingLastPathComponent()
            found.append(folder.deletingLastPathComponent().appending(path: installedPath))
            for _ in 0..<4 where folder.path != "/" {
                folder = folder.deletingLastPathComponent()
                found.append(folder.appending(path: checkoutPath))
            }
        }
        var seen = Set<String>()
        return found.filter { seen.insert($0.standardizedFileURL.path).inserted }
    }

    /// The first candidate that holds a `config.json`, or nil.
    public static func defaultDirectory(
        executable: String = CommandLine.arguments.first ?? "",
        currentDirectory: String = FileManager.default.currentDirectoryPath
    ) -> URL? {
        candidates(executable: executable, currentDirectory: currentDirectory).first {
            FileManager.default.fileExists(atPath: $0.appending(path: "config.json").path)
        }
    }

    /// The folders `defaultDirectory()` searches, for a message saying where no model was found.
    public static var searchedPlaces: String {
        candidates(
            executable: CommandLine.arguments.first ?? "", currentDirectory: FileManager.default.currentDirectoryPath
        ).map(\.path).joined(separator: ", ")
    }

    /// Where an installation keeps the model: `/usr/local/share/karyocount/models/default`.
    public static var installedDefault: URL { URL(filePath: defaultPrefix).appending(path: installedPath) }
}
