import Foundation
import KaryoTestSupport
import Testing

@testable import KaryoPipeline

@Suite("Atomic file writing")
struct AtomicFileTests {
    let dir = TempDir()

    @Test("a reader never sees a partial file under the final name")
    func neverPartial() async throws {
        let target = dir.path("results/P1/img.json")
        let a = Data(repeating: 0x41, count: 3_000_000)
        let b = Data(repeating: 0x42, count: 3_000_000)
        try AtomicFile.write(a, to: target)
        let reader = Task.detached { () -> Int in
            var bad = 0
            for _ in 0..<300 {
                if let d = try? Data(contentsOf: target), d != a, d != b { bad += 1 }
            }
            return bad
        }
        for i in 0..<20 { try AtomicFile.write(i.isMultiple(of: 2) ? b : a, to: target) }
        #expect(await reader.value == 0)
        #expect(dir.files() == ["results/P1/img.json"])
    }

    @Test("a failed write leaves neither the final name nor a temp file")
    func failedWrite() throws {
        let folder = dir.path("ro")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: folder.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: folder.path) }
        guard getuid() != 0 else { return }  // root ignores permissions
        #expect(throws: PipelineError.self) {
            try AtomicFile.write(Data("x".utf8), to: folder.appending(path: "a.json"))
        }
        #expect(dir.files().isEmpty)
    }

    @Test("stale temp files from a crash are removed")
    func staleTemps() throws {
        dir.write("out/\(AtomicFile.tempPrefix)123-a.json", Data("partial".utf8))
        dir.write("out/keep.json", Data("{}".utf8))
        AtomicFile.removeStaleTemps(in: dir.path("out"))
        #expect(dir.files() == ["out/keep.json"])
    }

    @Test("on a shared state only temp files older than the given age go: a younger one may be a write in flight")
    func staleTempsByAge() throws {
        let old = dir.write("out/\(AtomicFile.tempPrefix)1-a.json", Data("partial".utf8))
        dir.write("out/\(AtomicFile.tempPrefix)2-b.json", Data("in flight".utf8))
        try FileManager.default.setAttributes(
            [.modificationDate: Date().addingTimeInterval(-40)], ofItemAtPath: old.path)
        AtomicFile.removeStaleTemps(in: dir.path("out"), olderThan: 30)
        #expect(dir.files() == ["out/\(AtomicFile.tempPrefix)2-b.json"])
    }
}
