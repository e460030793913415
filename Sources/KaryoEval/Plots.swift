import Foundation
import KaryoImage

/// The evaluation's charts as PNG-ready images: precision-recall curve, miss rate against FPPI, and the per-image
/// count-error histogram.
public enum EvalPlots {
    /// File names written by `write(_:to:)`.
    public static let fileNames = ["precision_recall.png", "miss_rate_fppi.png", "count_error_histogram.png"]

    /// Writes the three charts of `report` into `folder` (created if missing) and returns their paths.
    public static func write(_ report: EvalReport, to folder: URL) throws -> [URL] {
        let images = [precisionRecall(report), missRateVersusFPPI(report), countErrorHistogram(report)]
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw EvalError(
                .unwritableFile, file: folder.path, "cannot create the plot folder: \(error.localizedDescription)")
        }
        var urls: [URL] = []
        for (name, image) in zip(fileNames, images) {
            let url = folder.appendingPathComponent(name)
            do {
                try PNGEncoder.write(image, to: url)
            } catch {
                throw EvalError(.plotFailed, file: url.path, "\(error)")
            }
            urls.append(url)
        }
        return urls
    }

    /// Precision against recall over all scores: the raw curve, the interpolated envelope whose area is mAP, and
    /// the operating point at the score threshold.
    public static func precisionRecall(_ report: EvalReport) -> RGBImage {
        var f = PlotFrame(xRange: 0...1, yRange: 0...1)
        let ticks = stride(from: 0.0, through: 1.0001, by: 0.2).map { ($0, tickLabel($0)) }
        let ap = report.meanAveragePrecision.map { String(format: "%.2f%%", $0 * 100) } ?? "-"
        f.axes(
            xTicks: ticks, yTicks: ticks, xLabel: "Recall", yLabel: "Precision",
            title:
                "Precision-recall, \(counted(report.imageCount, "image")), \(counted(report.counts.truthCount, "chromosome"))"
        )
        let curve = report.curve
        let raw = RGBColor(red: 150, green: 170, blue: 230)
        let envelopeColor = RGBColor.blue
        // Raw points joined in score order.
        var previous: (Double, Double)?
        for p in curve {
            let point = (p.recall, p.precision)
            if let previous { f.line(previous, point, color: raw, thickness: 2) }
            previous = point
        }
        // Envelope: p_interp(k) = max_{j >= k} p_j held over (r_(k-1), r_k], as averagePrecision integrates it.
        var envelope = Array(repeating: 0.0, count: curve.count)
        var running = 0.0
        for k in stride(from: curve.count - 1, through: 0, by: -1) {
            running = max(running, curve[k].precision)
            envelope[k] = running
        }
        var lastRecall = 0.0
        var lastLevel: Double?
        for (k, p) in curve.enumerated() where p.recall > lastRecall || k == 0 {
            if let lastLevel {
                f.line((lastRecall, lastLevel), (lastRecall, envelope[k]), color: envelopeColor, thickness: 3)
            }
            f.line((lastRecall, envelope[k]), (p.recall, envelope[k]), color: envelopeColor, thickness: 3)
            lastRecall = p.recall
            lastLevel = envelope[k]
        }
        if let lastLevel, lastRecall < 1 {
            f.line((lastRecall, lastLevel), (lastRecall, 0), color: envelopeColor, thickness: 3)
        }
        var entries = [("interpolated, mAP \(ap)", envelopeColor), ("raw curve", raw)]
        if let operating = curve.last(where: { $0.score >= report.options.scoreThreshold }) {
            f.dot((operating.recall, operating.precision), color: .red, radius: 6)
            entries.append(("score >= \(tickLabel(report.options.scoreThreshold, digits: 3))", .red))
        }
        f.legend(entries, topRight: false)
        return f.image
    }

    /// Miss rate against false positives per image on a log axis (10^-3 to 10^1), with the nine samples of MR^-2
    /// over [10^-2, 10^0] marked and that range shaded. FPPI 0 is drawn at the left edge.
    public static func missRateVersusFPPI(_ report: EvalReport) -> RGBImage {
        var f = PlotFrame(xRange: 1e-3...10, yRange: 0...1, logX: true)
        let shadeLeft = Int(f.px(1e-2).rounded())
        let shadeRight = Int(f.px(1).rounded())
        f.image.fillRectangle(
            x: shadeLeft, y: f.top, width: shadeRight - shadeLeft, height: f.bottom - f.top, color: RGBColor(grey: 242))
        let xTicks: [(Double, String)] = [(1e-3, "0.001"), (1e-2, "0.01"), (1e-1, "0.1"), (1, "1"), (10, "10")]
        let yTicks = stride(from: 0.0, through: 1.0001, by: 0.2).map { ($0, tickLabel($0)) }
        f.axes(
            xTicks: xTicks, yTicks: yTicks, xLabel: "False positives per image (log scale)", yLabel: "Miss rate",
            title: "Miss rate vs FPPI, \(counted(report.imageCount, "image"))")
        let color = RGBColor.blue
        // The step curve: miss rate 1 until the first point's FPPI, then each point's miss rate until the next's.
        var level = 1.0
        var from = 1e-3
        for p in report.curve {
            let x = max(p.fppi, 1e-3)
            f.line((from, level), (x, level), color: color, thickness: 3)
            f.line((x, level), (x, p.missRate), color: color, thickness: 3)
            level = p.missRate
            from = x
        }
        f.line((from, level), (10, level), color: color, thickness: 3)
        for s in report.missRateSamples {
            f.dot((s.fppi, s.missRate), color: .red, radius: 5)
        }
        let mr2 = report.logAverageMissRate.map { String(format: "%.2f%%", $0 * 100) } ?? "-"
        f.legend([("miss rate", color), ("MR-2 samples, MR-2 \(mr2)", .red)], topRight: true)
        return f.image
    }

    /// How many images have each count error (detections at or above the score threshold minus annotated
    /// chromosomes); the bar at 0 is the images counted exactly.
    public static func countErrorHistogram(_ report: EvalReport) -> RGBImage {
        let errors = report.images.map(\.countError)
        let low = min(-3, errors.min() ?? 0)
        let high = max(3, errors.max() ?? 0)
        var bins: [Int: Int] = [:]
        for e in errors { bins[e, default: 0] += 1 }
        let tallest = max(1, bins.values.max() ?? 0)
        // Headroom above the tallest bar for its label and the legend.
        let yStep = niceStep(Double(tallest) * 1.4 / 5)
        let yTop = (Double(tallest) * 1.4 / yStep).rounded(.up) * yStep
        var f = PlotFrame(xRange: Double(low) - 0.5...Double(high) + 0.5, yRange: 0...yTop)
        let labelEvery = max(1, (high - low + 1) / 15)
        let xTicks = (low...high).filter { ($0 - low) % labelEvery == 0 || $0 == 0 }.map { (Double($0), "\($0)") }
        let yTicks = stride(from: 0.0, through: yTop + 1e-9, by: yStep).map { ($0, tickLabel($0)) }
        let exact = report.countExactRatio.map { String(format: "%.1f%%", $0 * 100) } ?? "-"
        f.axes(
            xTicks: xTicks, yTicks: yTicks, xLabel: "Count error (predicted - true)", yLabel: "Images",
            title: "Count error per image, \(counted(report.imageCount, "image")), exact \(exact)")
        for (e, n) in bins.sorted(by: { $0.key < $1.key }) {
            f.bar(x0: Double(e) - 0.4, x1: Double(e) + 0.4, y: Double(n), color: e == 0 ? .green : .orange)
            f.text("\(n)", x: Int(f.px(Double(e)).rounded()), y: Int(f.py(Double(n)).rounded()) - 20, anchor: 0.5)
        }
        f.legend([("exact count", .green), ("over or under", .orange)], topRight: true)
        return f.image
    }

    /// "1 image", "30 images".
    private static func counted(_ n: Int, _ noun: String) -> String { n == 1 ? "1 \(noun)" : "\(n) \(noun)s" }

    /// A step of 1, 2 or 5 times a power of ten, at least `raw` and at least 1 (counts are whole).
    private static func niceStep(_ raw: Double) -> Double {
        guard raw > 1 else { return 1 }
        let power = pow(10, floor(log10(raw)))
        for m in [1.0, 2, 5, 10] where m * power >= raw { return m * power }
        return 10 * power
    }
}

extension EvalPlots {
    /// One image with its judgement drawn on it: true positives thin green, false positives orange, missed
    /// chromosomes (the ground truth boxes) red, and a caption with the counts.
    public static func judgementOverlay(_ image: GrayImage, result: ImageResult) -> RGBImage {
        var canvas = RGBImage(image)
        for b in result.truePositiveBoxes { canvas.drawBox(b, color: .green, thickness: 1) }
        for b in result.falsePositiveBoxes { canvas.drawBox(b, color: .orange, thickness: 2) }
        for b in result.missedBoxes { canvas.drawBox(b, color: .red, thickness: 2) }
        let caption =
            "\(result.stem): true \(result.trueCount), counted \(result.predictedCount)\n"
            + "TP \(result.truePositives) (green)  FP \(result.falsePositives) (orange)  "
            + "FN \(result.falseNegatives) (red)"
        let scale = max(1, image.width / 500)
        canvas.drawLabel(caption, x: 4, y: 4, scale: scale, color: .white, background: RGBColor(grey: 40), padding: 2)
        return canvas
    }

    /// For each image that is not whole-correct and whose predictions were made from an image file in this run
    /// (`eval --images`), decodes that image and writes `<stem>.judged.png` into `folder`; returns the paths.
    public static func writeJudgementOverlays(_ report: EvalReport, to folder: URL) throws -> [URL] {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw EvalError(
                .unwritableFile, file: folder.path, "cannot create the folder: \(error.localizedDescription)")
        }
        var urls: [URL] = []
        for result in report.failures where !result.predictionFile.hasSuffix(".json") {
            let url = folder.appendingPathComponent("\(result.stem).judged.png")
            do {
                let decoded = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: result.predictionFile))
                try PNGEncoder.write(judgementOverlay(decoded.image, result: result), to: url)
            } catch {
                throw EvalError(.plotFailed, file: url.path, "\(error)")
            }
            urls.append(url)
        }
        return urls
    }
}
