import Foundation

/// A fresh temporary folder, removed when the value is dropped.
public final class TempDir {
    public let url: URL

    public init() {
        url = FileManager.default.temporaryDirectory.appending(path: "karyo-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// A path inside the folder.
    public func path(_ relative: String) -> URL { url.appending(path: relative) }

    /// Writes `data` at `relative`, creating folders.
    @discardableResult
    public func write(_ relative: String, _ data: Data) -> URL {
        let u = path(relative)
        try! FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! data.write(to: u)
        return u
    }

    /// Every file below the folder, relative paths, sorted.
    public func files() -> [String] {
        let e = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey])!
        var out: [String] = []
        for case let u as URL in e where (try? u.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            out.append(String(u.standardizedFileURL.path.dropFirst(url.standardizedFileURL.path.count + 1)))
        }
        return out.sorted()
    }
}
