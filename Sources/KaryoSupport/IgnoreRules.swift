/// Which names in a drop folder are never taken: hidden and temporary files, and anything inside hidden folders.
public struct IgnoreRules: Sendable, Hashable {
    /// Ignored name prefixes (default `.` and `~`).
    public var prefixes: [String]
    /// Ignored name suffixes, compared case-insensitively (default `.tmp`, `.part`).
    public var suffixes: [String]

    /// The rules of README.md ("Input and output"): `.*`, `*.tmp`, `*.part`, `~*`.
    public static let standard = IgnoreRules(prefixes: [".", "~"], suffixes: [".tmp", ".part"])

    /// Makes rules from explicit prefixes and suffixes.
    public init(prefixes: [String], suffixes: [String]) {
        self.prefixes = prefixes
        self.suffixes = suffixes.map { $0.lowercased() }
    }

    /// Whether a single file or folder name is ignored.
    public func ignores(name: String) -> Bool {
        if name.isEmpty { return true }
        if prefixes.contains(where: { name.hasPrefix($0) }) { return true }
        let lower = name.lowercased()
        return suffixes.contains(where: { lower.hasSuffix($0) })
    }

    /// Whether a path relative to a watch root is ignored: any component ignored ignores the whole path.
    public func ignores(relativePath: String) -> Bool {
        relativePath.split(separator: "/", omittingEmptySubsequences: true).contains { ignores(name: String($0)) }
    }
}
