import Foundation
import KaryoNet
import Testing

@testable import KaryoDetect

@Suite("Which detector a configuration gets")
struct DetectorFactoryTests {
    private let shipped = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Models/default")

    private func folder(config: String?) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("factory-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if let config { try Data(config.utf8).write(to: dir.appendingPathComponent("config.json")) }
        return dir
    }

    @Test("auto runs DeepACEv2 on a model and hands it the lab's chromosome width")
    func autoWithModel() throws {
        var warnings: [String] = []
        let detector = try DetectorFactory.make(.auto, model: shipped, chromosomeWidth: 15.5) { warnings.append($0) }
        #expect(detector.name == "deepace" && warnings.isEmpty)
        #expect((detector as? DeepACEDetector)?.givenChromosomeWidth == GivenChromosomeWidth(15.5, source: .lab))
    }

    @Test("auto falls back to the classical detector with a warning; deepace refuses, naming the cause")
    func fallbacks() throws {
        let empty = try folder(config: nil)
        let broken = try folder(config: "{ not json")
        defer { for d in [empty, broken] { try? FileManager.default.removeItem(at: d) } }
        for (dir, cause) in [(empty, "no DeepACEv2 model at"), (broken, "cannot load the model at")] {
            var warnings: [String] = []
            let detector = try DetectorFactory.make(.auto, model: dir) { warnings.append($0) }
            #expect(detector.name == "classical")
            #expect(warnings.count == 1 && warnings[0].contains(cause) && warnings[0].contains(dir.path))
            #expect(throws: DetectorError.self) { try DetectorFactory.make(.deepace, model: dir) }
        }
        #expect(try DetectorFactory.make(.classical, model: shipped).name == "classical")
    }
}
