import Foundation

/// Turns untrusted names (patients, file stems) into single path components that cannot leave the folder they are
/// joined to.
public enum SafeName {
    /// The longest component produced, in UTF-8 bytes.
    public static let maxBytes = 120

    /// A single safe path component for `raw`: path separators, control characters and NUL become `_`, leading
    /// dots become `_` (no hidden files, no `..`), surrounding spaces are dropped, and an empty result becomes `_`.
    public static func component(_ raw: String) -> String {
        var scalars = String.UnicodeScalarView()
        for s in raw.unicodeScalars {
            let v = s.value
            let isControl = v < 0x20 || (0x7F...0x9F).contains(v)
            if isControl || s == "/" || s == "\\" {
                scalars.append("_")
            } else {
                scalars.append(s)
            }
        }
        var name = String(scalars).trimmingCharacters(in: .whitespaces)
        if name.hasPrefix(".") {
            let dots = name.prefix { $0 == "." }.count
            name = String(repeating: "_", count: dots) + name.dropFirst(dots)
        }
        while name.utf8.count > maxBytes { name.removeLast() }
        return name.isEmpty ? "_" : name
    }

    /// Joins safe components under `root` and checks that the result stays inside it.
    public static func join(_ root: URL, _ components: String...) throws(PipelineError) -> URL {
        var url = root
        for c in components {
            let safe = component(c)
            guard safe == c else {
                throw PipelineError(.unsafePath, file: root.path, detail: "`\(c)` is not a safe name")
            }
            url = url.appending(path: safe, directoryHint: .notDirectory)
        }
        guard KaryoConfig.isSameOrInside(url, root) else {
            throw PipelineError(.unsafePath, file: url.path, detail: "path leaves \(root.path)")
        }
        return url
    }
}
