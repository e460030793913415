import Foundation
import Testing

/// `karyocount count` then `karyocount eval --pred`: the README's evaluation path, on the shipped model.
@Suite("count, then eval its results")
struct CountThenEvalTests {
    private let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appending(path: "Fixtures/real")

    @Test(
        "run by its path from another folder, count finds the shipped model, and eval reads what count wrote",
        .enabled(if: Binary.exists))
    func countThenEval() throws {
        let folder = FileManager.default.temporaryDirectory.appending(
            path: "karyo-counteval-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let image = fixtures.appending(path: "18-Y2087.145.O.png").path
        let counted = try Binary.run(["count", image, "--out", "results"], in: folder.path)
        #expect(counted.status == 0, "\(counted.output)")
        let result = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: folder.appending(path: "results/18-Y2087.145.O.json"))) as? [String: Any])
        #expect(result["detector"] as? String == "deepace", "\(counted.output)")
        #expect((result["model"] as? [String: Any])?["name"] as? String == "default")

        let truth = fixtures.appending(path: "18-Y2087.145.O.json").path
        let evaluated = try Binary.run(
            ["eval", "--truth", truth, "--pred", "results", "--json", "eval.json"], in: folder.path)
        #expect(evaluated.status == 0, "\(evaluated.output)")
        let figures = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "eval.json")))
                as? [String: Any])
        let tp = try #require(figures["TP"] as? Int)
        let fp = try #require(figures["FP"] as? Int)
        #expect(figures["images"] as? Int == 1 && figures["chromosomes"] as? Int == 46)
        #expect(tp + fp == result["count"] as? Int, "eval counts what count counted")
        let perImage = try #require((figures["per_image"] as? [[String: Any]])?.first)
        #expect(perImage.description.contains("18-Y2087.145.O"))
    }

    @Test(
        "eval --images counts through the same runner as count: same results, a broken file apart, overlays drawn",
        .enabled(if: Binary.exists))
    func evalImages() throws {
        let folder = FileManager.default.temporaryDirectory.appending(
            path: "karyo-evalimages-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder.appending(path: "images"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            at: fixtures.appending(path: "18-Y2087.145.O.png"), to: folder.appending(path: "images/18-Y2087.145.O.png"))
        try Data("not an image".utf8).write(to: folder.appending(path: "images/broken.png"))
        let truth = fixtures.appending(path: "18-Y2087.145.O.json").path
        let evaluated = try Binary.run(
            [
                "eval", "--truth", truth, "--images", "images", "--detector", "auto", "--pred", "results",
                "--overlays", "judged", "--json", "eval.json",
            ], in: folder.path)
        #expect(evaluated.status == 0, "\(evaluated.output)")
        let result = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: folder.appending(path: "results/18-Y2087.145.O.json"))) as? [String: Any])
        #expect(result["detector"] as? String == "deepace")
        #expect(FileManager.default.fileExists(atPath: folder.appending(path: "results/broken.error.json").path))
        let figures = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "eval.json")))
                as? [String: Any])
        let tp = try #require(figures["TP"] as? Int)
        let fp = try #require(figures["FP"] as? Int)
        #expect(figures["images"] as? Int == 1 && tp + fp == result["count"] as? Int)
        // The shipped model does not count this spread whole-correct, so its judged overlay is drawn.
        #expect(FileManager.default.fileExists(atPath: folder.appending(path: "judged/18-Y2087.145.O.judged.png").path))
    }
}
