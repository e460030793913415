import Foundation
import KaryoDetect
import KaryoEval
import KaryoImage
import Testing

/// Two images: "good" fully right, "bad" with one FP and one FN (count still right).
func twoImageRun() throws -> EvalRun {
    let g = box(0, 0, 10, 10)
    let h = box(40, 0, 10, 10)
    let images = [
        EvalImage(stem: "good", truth: [g, h], predictions: [det(g, 0.9), det(h, 0.8)]),
        EvalImage(stem: "bad", truth: [g, h], predictions: [det(g, 0.9), det(box(80, 80, 10, 10), 0.7)]),
    ]
    return EvalRun(report: try evaluate(images), truthOnly: ["lost"], predictionOnly: ["stray"], warnings: ["w"])
}

@Suite("Report output")
struct OutputTests {
    @Test("the JSON gives the paper's figures in percent under the paper's names, with explicit nulls")
    func json() throws {
        let data = try twoImageRun().jsonData()
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["schema"] as? String == "karyocount.eval/1")
        // TP 3, FP 1, FN 1 over 4 chromosomes in 2 images.
        #expect(object["TP"] as? Int == 3 && object["FP"] as? Int == 1 && object["FN"] as? Int == 1)
        #expect(object["WCR"] as? Double == 50)
        #expect(object["AER"] as? Double == 50)  // (1 + 1) / 4
        #expect(object["Acc"] as? Double == 60)  // 3 / 5
        #expect(object["Precision"] as? Double == 75)
        #expect(object["Recall"] as? Double == 75)
        #expect(object["F1"] as? Double == 75)
        #expect(object["CountExact"] as? Double == 100)
        #expect(object["mAP"] is Double && object["MR2"] is Double)
        let overlap = try #require(object["overlap"] as? [String: Any])
        #expect(overlap["chromosomes"] as? Int == 0)
        #expect(overlap["Precision"] is NSNull)  // nothing in S_o: undefined, written as null
        let perImage = try #require(object["per_image"] as? [[String: Any]])
        #expect(perImage.count == 1)
        #expect(perImage[0]["image"] as? String == "bad")
        #expect(perImage[0]["missed"] as? [[Double]] == [[40, 0, 50, 10]])
        #expect(perImage[0]["false_positives"] as? [[Double]] == [[80, 80, 90, 90]])
        #expect((object["mr2_samples"] as? [Any])?.count == 9)
        #expect(object["truth_only"] as? [String] == ["lost"])
        #expect(object["prediction_only"] as? [String] == ["stray"])
        #expect((object["count_errors"] as? [String: Int]) == ["good": 0, "bad": 0])
    }

    @Test("the table has the Table 2 row, the counts, the overlap line and the failures")
    func table() throws {
        let text = try twoImageRun().table()
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0].contains("WCR(%)") && lines[0].contains("MR2(%)") && lines[0].contains("CountExact(%)"))
        #expect(lines[1].contains("50.00") && lines[1].contains("60.00") && lines[1].contains("100.00"))
        #expect(lines[2].hasPrefix("TP 3  FP 1  FN 1"))
        #expect(lines[3].hasPrefix("Overlapping subset (Eq. 14, tau 0.5): 0 chromosomes"))
        #expect(text.contains("Not whole-correct, worst first (1 of 2)"))
        #expect(lines.contains { $0.contains("bad") && $0.hasSuffix("1     1") })
        #expect(text.contains("Annotated but not predicted (not scored): lost"))
        #expect(text.contains("Predicted but not annotated (not scored): stray"))
    }

    @Test("the three charts are written as PNGs that decode, with the curves drawn in their colours")
    func plots() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = try twoImageRun().report
        let urls = try EvalPlots.write(report, to: dir.appendingPathComponent("plots"))
        #expect(urls.map(\.lastPathComponent) == EvalPlots.fileNames)
        for url in urls {
            let decoded = try ImageDecoder.decode(contentsOf: url)
            #expect(decoded.image.width == 900 && decoded.image.height == 640)
        }
        func count(_ image: RGBImage, _ color: RGBColor) -> Int {
            (0..<image.height).reduce(0) { n, y in n + (0..<image.width).filter { image[$0, y] == color }.count }
        }
        #expect(count(EvalPlots.precisionRecall(report), .blue) > 500)
        #expect(count(EvalPlots.missRateVersusFPPI(report), .red) > 9 * 50)  // nine sample dots
        let histogram = EvalPlots.countErrorHistogram(report)
        #expect(count(histogram, .green) > 10_000)  // both images exact: one tall bar at 0
        #expect(count(histogram, .orange) < 1_000)  // only the legend swatch
    }

    @Test("a failed image made from an image file gets its judged overlay; predictions from result files do not")
    func judgementOverlays() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let picture = dir.appendingPathComponent("a.1.O.png")
        try PNGEncoder.write(GrayImage(width: 8, height: 6, value: 0.5), to: picture)
        let detections = [det(BoundingBox(x1: 1, y1: 1, x2: 8, y2: 4), 0.75)]
        let set = PredictionSet(images: [PredictionImage(stem: "a.1.O", detections: detections, file: picture.path)])
        let reread = PredictionSet(
            images: [PredictionImage(stem: "a.1.O", detections: detections, file: dir.path + "/a.1.O.json")])

        // The box covers 7 x 3 of an 8 x 6 truth: IoU 21/48 < .5, so the image is a failure with one FP and one FN,
        // and its overlay is drawn from the image file.
        let truth = TruthSet(images: [TruthImage(stem: "a.1.O", boxes: [BoundingBox(x1: 0, y1: 0, x2: 8, y2: 6)])])
        let run = try EvalRun.run(truth: truth, predictions: set)
        #expect(run.report.counts == DetectionCounts(truePositives: 0, falsePositives: 1, falseNegatives: 1))
        let overlays = try EvalPlots.writeJudgementOverlays(run.report, to: dir.appendingPathComponent("judged"))
        #expect(overlays.map(\.lastPathComponent) == ["a.1.O.judged.png"])
        let judged = try ImageDecoder.decode(contentsOf: overlays[0])
        #expect(judged.image.width == 8 && judged.image.height == 6)
        // Predictions read from result files have no picture to draw on.
        let fromFiles = try EvalRun.run(truth: truth, predictions: reread)
        #expect(try EvalPlots.writeJudgementOverlays(fromFiles.report, to: dir.appendingPathComponent("j2")).isEmpty)
    }
}
