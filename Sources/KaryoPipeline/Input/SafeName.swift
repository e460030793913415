import Foundation

/// Turns untrusted names (patients, file stems) into single path components that cannot leave the folder they are
/// joined to.
public enum SafeName {
    /// The longest component produced, in UTF-8 bytes.
    public static let maxBytes = 120

    /// A single safe path component for `raw`: path separators, control characters and NUL become `_`, leading
    /// dots become `_` (no hidden files, no `..`), surrounding spaces are dropped, a name over `maxBytes` is shortened
    /// before its extension, and an empty result becomes `_`.
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
        if name.utf8.count > maxBytes {
            // Shortened before its extension, so a quarantined `...png` stays a `.png`.
            let dot = name.lastIndex(of: ".").flatMap { $0 == name.startIndex ? nil : $0 }
            let ext = dot.map { String(name[$0...]) }.flatMap { $0.utf8.count <= 16 ? $0 : nil } ?? ""
            var stem = String(name.dropLast(ext.count))
            while stem.utf8.count + ext.utf8.count > maxBytes { stem.removeLast() }
            name = stem + ext
        }
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
