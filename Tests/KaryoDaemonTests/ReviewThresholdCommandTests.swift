import Foundation
import KaryoDetect
import KaryoPipeline
import KaryoSupport
import KaryoTestSupport
import Testing

/// `karyocount review threshold` on a daemon's state, as a lab runs it after reviewing cells.
@Suite("review threshold")
struct ReviewThresholdCommandTests {
    @Test(
        "prints each threshold's figures on the configured model's reviewed cells and the line for the chosen one; refuses too few cells",
        .enabled(if: Binary.exists))
    func chooses() async throws {
        let dir = TempDir()
        let weights = Data("the lab's model weights".utf8)
        try FileManager.default.createDirectory(at: dir.path("model"), withIntermediateDirectories: true)
        try weights.write(to: dir.path("model/model.safetensors"))
        var config = testConfig(dir)
        config.model = dir.path("model")
        let configured = ModelledDetector(modelName: "lab", modelSHA256: sha256Hex(of: weights))
        let older = ModelledDetector(modelName: "old", modelSHA256: sha256Hex(of: Data("older weights".utf8)))
        // Counted at 0.5 with an extra 0.5-score box (debris) on L1.001-005: 47 each, and L1.006 45; then L1.007 by
        // an older model.
        let runs: [(any Detector, [(String, Int, Bool)])] = [
            (configured, (1...5).map { ("L1.00\($0).A.png", 46, true) } + [("L1.006.A.png", 45, false)]),
            (older, [("L1.007.A.png", 46, true)]),
        ]
        for (run, (detector, cells)) in runs.enumerated() {
            // Each pipeline stands for one run of the daemon.
            let pipeline = try openPipeline(config: config, detector: detector, logger: LogCapture().logger)
            for (i, (name, count, uncertain)) in cells.enumerated() {
                try pipeline.enqueue(
                    dir.write("drop/L1/\(name)", codedPNG(count: count, uncertain: uncertain, salt: 10 * run + i)),
                    root: dir.path("drop"))
            }
            _ = await pipeline.processPending()
        }
        let queue = try config.openQueue()
        for (stem, count) in (1...5).map({ ("L1.00\($0).A", 46) }) + [("L1.006.A", 45), ("L1.007.A", 46)] {
            let sha = try #require(try queue.results(patient: "L1").first { $0.stem == stem }).sha256
            _ = try queue.recordReview(
                sha256: sha, ReviewSubmission(count: count, boxes: nil, reviewer: "Dr. Ada"), detectorBoxes: [],
                settings: AggregatorSettings(config))
        }
        let toml = dir.path("karyocount.toml")
        try """
        watch_roots = ["\(dir.path("drop").path)"]
        output_root = "\(dir.path("out").path)"
        state_dir = "\(dir.path("state").path)"
        model = "\(dir.path("model").path)"
        """.write(to: toml, atomically: true, encoding: .utf8)

        let run = try Binary.run(["review", "threshold", "--config", toml.path, "--min-cells", "6"])
        #expect(run.status == 0, "\(run.output)")
        let lines = run.output.split(separator: "\n").map(String.init)
        #expect(lines.contains("left out L1/L1.007.A: counted by model old, not the configured model"), "\(run.output)")
        #expect(lines.contains("6 reviewed cells counted by the configured model"), "\(run.output)")
        // 0.10-0.50: +1 five times, 0 (mean abs error 0.83); 0.51-0.90: 0 six times. Leave-one-out: whichever cell
        // is left out, the others choose 0.51, where it counts right.
        #expect(
            lines.contains {
                $0.hasPrefix("0.50") && $0.contains("1/6") && $0.contains("0.83")
                    && $0.hasSuffix("current: 6 cells counted at it")
            }, "\(run.output)")
        #expect(
            lines.contains { $0.hasPrefix("0.51") && $0.contains("6/6") && $0.hasSuffix("chosen") }, "\(run.output)")
        #expect(
            lines.suffix(3) == [
                "Chosen from the other cells, each cell's count (leave-one-out) has a mean abs error of 0.00 against "
                    + "0.83 at the current 0.50.",
                "Add to the configuration (top level):", "score_threshold = 0.51",
            ], "\(run.output)")

        let few = try Binary.run(["review", "threshold", "--config", toml.path])
        #expect(few.status == 1)
        #expect(few.output.contains("6 reviewed cells are too few to choose a threshold from (--min-cells 30)"))
        #expect(!few.output.contains("score_threshold ="), "\(few.output)")
    }
}
