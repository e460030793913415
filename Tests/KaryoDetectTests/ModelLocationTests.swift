import Foundation
import Testing

@testable import KaryoDetect

@Suite("Where the shipped model is found")
struct ModelLocationTests {
    private let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appending(path: "karyo-models-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.resolvingSymlinksInPath()
    }

    private func makeModel(at folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: folder.appending(path: "config.json"))
    }

    @Test(
        "a checkout's binary run by its path from another folder, through the .build/release symlink, finds Models/default"
    )
    func checkoutThroughSymlink() throws {
        let repo = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: repo) }
        try makeModel(at: repo.appending(path: "Models/default"))
        let real = repo.appending(path: ".build/x86_64-unknown-linux-gnu/release")
        try FileManager.default.createDirectory(at: real, withIntermediateDirectories: true)
        try Data().write(to: real.appending(path: "karyocount"))
        try FileManager.default.createSymbolicLink(
            atPath: repo.appending(path: ".build/release").path, withDestinationPath: "x86_64-unknown-linux-gnu/release"
        )
        for executable in [".build/release/karyocount", ".build/x86_64-unknown-linux-gnu/release/karyocount"] {
            let found = ModelLocation.defaultDirectory(
                executable: repo.appending(path: executable).path, currentDirectory: "/")
            #expect(found?.standardizedFileURL.path == repo.appending(path: "Models/default").path, "\(executable)")
        }
        // Relative to the folder it is run from, as a shell passes it.
        let relative = ModelLocation.defaultDirectory(
            executable: "../\(repo.lastPathComponent)/.build/release/karyocount",
            currentDirectory: repo.deletingLastPathComponent().appending(path: "elsewhere").path)
        #expect(relative?.standardizedFileURL.path == repo.appending(path: "Models/default").path)
    }

    @Test("Deploy/install.sh puts the model where an installed binary looks for it")
    func installedBinary() throws {
        let destdir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: destdir) }
        let process = Process()
        process.executableURL = repositoryRoot.appending(path: "Deploy/install.sh")
        process.arguments = ["--binary", "/bin/true", "--prefix", "/opt/kc"]
        process.environment = ProcessInfo.processInfo.environment.merging(["DESTDIR": destdir.path]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let found = ModelLocation.defaultDirectory(
            executable: destdir.appending(path: "opt/kc/bin/karyocount").path, currentDirectory: "/")
        #expect(found?.path == destdir.appending(path: "opt/kc/share/karyocount/models/default").path)
        #expect(
            FileManager.default.fileExists(
                atPath: destdir.appending(path: "opt/kc/share/karyocount/models/default/model.safetensors").path))
    }
}
