import Foundation
import KaryoDetect
import KaryoImage
import KaryoPipeline
import KaryoSupport
import KaryoTestSupport
import Testing

@testable import KaryoReview

/// `karyocount review threshold`: the score threshold a lab's reviewed cells choose.
@Suite("Threshold from reviewed cells")
struct ThresholdCalibrationTests {
    @Test(
        "the rule: lowest mean abs error over the 0.10-0.90 grid, then the higher exact rate, then the lower threshold")
    func rule() throws {
        // Cell 1: three chromosomes scoring 0.9, 0.5, 0.35, reviewed 3; cell 2: two scoring 0.9, 0.45 and a speck at
        // 0.32, reviewed 2. Errors (cell 1, cell 2): 0.10-0.32 (0, +1); 0.33-0.35 (0, 0); 0.36-0.45 (-1, 0);
        // 0.46-0.50 (-1, -1); 0.51-0.90 (-2, -1).
        let calibration = ThresholdCalibration(cells: [
            .init(name: "A/1", reviewedCount: 3, scores: [0.9, 0.5, 0.35]),
            .init(name: "A/2", reviewedCount: 2, scores: [0.9, 0.45, 0.32]),
        ])
        let expected: [(Double, Double, Int, Double)] = [
            (0.10, 0.5, 1, 0.5), (0.32, 0.5, 1, 0.5), (0.33, 0, 2, 0), (0.35, 0, 2, 0), (0.36, 0.5, 1, -0.5),
            (0.46, 1, 0, -1), (0.50, 1, 0, -1), (0.51, 1.5, 0, -1.5), (0.90, 1.5, 0, -1.5),
        ]
        for (threshold, meanAbsError, exact, meanError) in expected {
            let row = calibration.row(at: threshold)
            #expect(row.meanAbsError == meanAbsError && row.exact == exact, "at \(threshold)")
            #expect(row.meanError == meanError, "at \(threshold)")
        }
        #expect(calibration.chosen?.threshold == 0.33)
        #expect(calibration.rows.count == 81)
        // Leave-one-out: cell 1 out, cell 2 alone chooses 0.33, where cell 1 counts 3 (error 0); cell 2 out, cell 1
        // alone chooses 0.10, where cell 2 counts 3 (+1). Mean abs error 0.5, not the chosen row's flattering 0.
        #expect(calibration.leaveOneOutMeanAbsError == 0.5)
        #expect(calibration.advice(current: 0.5) == .change(to: 0.33))  // 0.5 against 1.0 at 0.5
        #expect(calibration.advice(current: 0.32) == .keep)  // 0.5 against 0.5 at 0.32: not better
        #expect(calibration.advice(current: 0.33) == .keep)  // the current one is the choice

        let tie = [
            ThresholdCalibration.Row(threshold: 0.30, exact: 1, cells: 5, meanAbsError: 1, meanError: 0),
            ThresholdCalibration.Row(threshold: 0.35, exact: 2, cells: 5, meanAbsError: 1, meanError: 0),
            ThresholdCalibration.Row(threshold: 0.40, exact: 2, cells: 5, meanAbsError: 1, meanError: 0),
            ThresholdCalibration.Row(threshold: 0.45, exact: 4, cells: 5, meanAbsError: 1.5, meanError: 0),
        ]
        #expect(ThresholdCalibration.chosen(tie)?.threshold == 0.35)
        #expect(ThresholdCalibration(cells: []).chosen == nil)
    }

    @Test("a score equal to a grid threshold is counted there, as the daemon counts at score_threshold = 0.31")
    func gridMatchesConfiguration() throws {
        let grid = try #require(ThresholdCalibration.thresholds.first { abs($0 - 0.31) < 1e-9 })
        #expect(grid == 0.31)
        #expect(ThresholdCalibration.Cell(name: "A/1", reviewedCount: 1, scores: [0.31]).count(at: grid) == 1)
    }

    @Test("cells reviewed as 45 and 47 choose the threshold that counts 45 and 47: nothing pulls towards 46")
    func nothingPullsTowards46() throws {
        // 45 strong detections each; cell 1 also has chromosomes scoring 0.6 and 0.3 (reviewed 47), cell 2 a speck
        // of debris at 0.25 (reviewed 45).
        let strong = (0..<45).map { 0.95 - Double($0) * 0.001 }
        let calibration = ThresholdCalibration(cells: [
            .init(name: "T/47", reviewedCount: 47, scores: strong + [0.6, 0.3]),
            .init(name: "T/45", reviewedCount: 45, scores: strong + [0.25]),
        ])
        // 0.10-0.25: 47, 46 (0, +1); 0.26-0.30: 47, 45 (exact both); 0.31-0.60: 46, 45; 0.61-0.90: 45, 45.
        let chosen = try #require(calibration.chosen)
        #expect(chosen.threshold == 0.26 && chosen.exact == 2 && chosen.meanAbsError == 0)
        #expect(calibration.cells.map { $0.count(at: chosen.threshold) } == [47, 45])
    }

    /// A pipeline that counted `cells` (file name, count, with an extra 0.5-score box) with a detector reporting
    /// model weights `sha`.
    private func counted(_ dir: TempDir, sha: String, _ cells: [(String, Int, Bool)]) async throws -> Pipeline {
        let detector = ModelledDetector(modelName: "lab", modelSHA256: sha)
        let pipeline = try openPipeline(config: testConfig(dir), detector: detector, logger: LogCapture().logger)
        for (i, (name, count, uncertain)) in cells.enumerated() {
            let file = dir.write("drop/\(name)", codedPNG(count: count, uncertain: uncertain, salt: i))
            try pipeline.enqueue(file, root: dir.path("drop"))
        }
        _ = await pipeline.processPending()
        return pipeline
    }

    @Test("reviewed cells of the configured model: the latest review of each is the truth, the others left out")
    func reviewedCells() async throws {
        let dir = TempDir()
        // Counted at 0.5: the extra 0.5 box counts, so the cells with it are counted 47 and K1.004 is 45.
        let pipeline = try await counted(
            dir, sha: "aa",
            [
                ("K1/K1.001.A.png", 46, true), ("K1/K1.002.A.png", 46, true), ("K1/K1.003.A.png", 46, true),
                ("K1/K1.004.A.png", 45, false), ("K1/K1.005.A.png", 46, true),
            ])
        let queue = pipeline.queue
        let settings = AggregatorSettings(pipeline.config)
        func review(_ stem: String, _ count: Int) throws {
            let sha = try #require(try queue.results(patient: "K1").first { $0.stem == stem }).sha256
            _ = try queue.recordReview(
                sha256: sha, ReviewSubmission(count: count, boxes: nil, reviewer: "Dr. Ada"), detectorBoxes: [],
                settings: settings)
        }
        try review("K1.001.A", 47)
        try review("K1.001.A", 46)  // corrected: the 0.5 box is debris
        try review("K1.002.A", 46)
        try review("K1.003.A", 47)  // the 0.5 box is a chromosome
        try review("K1.004.A", 45)
        let collected = try ThresholdCalibration.reviewedCells(queue: queue, modelSHA256: "aa")
        #expect(collected.cells.map(\.name) == ["K1/K1.001.A", "K1/K1.002.A", "K1/K1.003.A", "K1/K1.004.A"])
        #expect(collected.cells.map(\.reviewedCount) == [46, 46, 47, 45])
        #expect(collected.skipped.isEmpty)
        #expect(collected.countedAt == [0.5: 4])
        // 0.10-0.50: 47, 47, 47, 45 (+1, +1, 0, 0): mean abs error 0.5, 2 exact; 0.51-0.90: 46, 46, 46, 45
        // (0, 0, -1, 0): 0.25, 3 exact.
        let calibration = ThresholdCalibration(cells: collected.cells)
        #expect(calibration.row(at: 0.5).meanAbsError == 0.5 && calibration.row(at: 0.5).exact == 2)
        let chosen = try #require(calibration.chosen)
        #expect(chosen.threshold == 0.51 && chosen.exact == 3 && chosen.meanAbsError == 0.25)
        #expect(chosen.meanError == -0.25)
        // Leave-one-out: K1.001 (or .002) out, the others tie on mean abs error and exact rate, so 0.10 is chosen,
        // where it counts +1; K1.003 out, the others choose 0.51, where it counts -1; K1.004 out, 0.51, 0. Mean abs
        // error 0.75 against 0.5 at the current 0.5: keep it.
        #expect(calibration.leaveOneOutMeanAbsError == 0.75)
        #expect(calibration.advice(current: 0.5) == .keep)

        let other = try ThresholdCalibration.reviewedCells(queue: queue, modelSHA256: "bb")
        #expect(other.cells.isEmpty)
        #expect(other.skipped.first == "K1/K1.001.A: counted by model lab, not the configured model")
        #expect(other.skipped.count == 4)
    }
}
