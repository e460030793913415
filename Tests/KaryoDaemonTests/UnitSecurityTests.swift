import Foundation
import Testing

/// The exposure figures Deploy/README.md states for the systemd units, re-measured.
@Suite("systemd units")
struct UnitSecurityTests {
    static let repo = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let analyze = "/usr/bin/systemd-analyze"

    /// `systemd-analyze security --offline=yes` of a unit file: its overall exposure, e.g. "1.3".
    static func exposure(_ unit: String) throws -> String {
        let process = Process()
        process.executableURL = URL(filePath: analyze)
        process.arguments = ["security", "--offline=yes", repo.appending(path: "systemd/\(unit)").path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let line = try #require(text.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let figure = try #require(line.split(separator: ":").last?.split(separator: " ").first)
        return String(figure)
    }

    @Test(
        "Deploy/README.md states the exposure systemd-analyze measures for both units",
        .enabled(if: FileManager.default.isExecutableFile(atPath: analyze)))
    func statedExposure() throws {
        let readme = try String(contentsOf: Self.repo.appending(path: "Deploy/README.md"), encoding: .utf8)
        let service = try Self.exposure("karyocount.service")
        let summary = try Self.exposure("karyocount-summary.service")
        #expect(readme.contains("rates `karyocount.service` \(service) ("), "measured \(service)")
        #expect(readme.contains("`karyocount-summary.service` \(summary) ("), "measured \(summary)")
    }
}
