import Foundation

/// A fresh temporary folder per test, removed when the value is released.
final class TemporaryDirectory {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("karyoimage-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// A path inside the folder.
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    /// Writes `data` to a file in the folder and returns its URL.
    func write(_ data: Data, as name: String) throws -> URL {
        let target = file(name)
        try data.write(to: target)
        return target
    }
}

/// The checked-in fixtures folder (Tests/Fixtures), found from this file's path.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
}
