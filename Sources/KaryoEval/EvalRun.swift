import Foundation
import KaryoImage

/// A whole evaluation: the metrics and what could not be scored. This is what `karyocount eval` prints and writes.
public struct EvalRun: Sendable, Equatable {
    /// The metrics over the paired images.
    public var report: EvalReport
    /// Annotated images without predictions (not scored).
    public var truthOnly: [String]
    /// Predicted images without ground truth (not scored).
    public var predictionOnly: [String]
    /// Notes from reading the inputs (skipped shapes and files).
    public var warnings: [String]

    public init(report: EvalReport, truthOnly: [String] = [], predictionOnly: [String] = [], warnings: [String] = []) {
        self.report = report
        self.truthOnly = truthOnly
        self.predictionOnly = predictionOnly
        self.warnings = warnings
    }

    /// Pairs `truth` with `predictions` by stem and scores the pairs.
    ///
    /// - Throws: `EvalError.Code.noImages` when no image has both ground truth and predictions, or
    ///   `.invalidOption` for an option out of range.
    public static func run(
        truth: TruthSet, predictions: PredictionSet, options: EvalOptions = EvalOptions()
    ) throws -> EvalRun {
        let paired = pairByStem(truth: truth.images, predictions: predictions.images)
        guard !paired.images.isEmpty else {
            let t = truth.images.prefix(3).map(\.stem).joined(separator: ", ")
            let p = predictions.images.prefix(3).map(\.stem).joined(separator: ", ")
            throw EvalError(
                .noImages,
                "no image has both ground truth (\(truth.images.count): \(t)) and predictions "
                    + "(\(predictions.images.count): \(p)); images are paired by file stem")
        }
        return EvalRun(
            report: try evaluate(paired.images, options: options), truthOnly: paired.truthOnly,
            predictionOnly: paired.predictionOnly, warnings: truth.warnings + predictions.skipped)
    }

    /// The evaluation as JSON (`"schema": "karyocount.eval/1"`), figures in percent keyed as the paper names them;
    /// an undefined figure (e.g. Precision without predictions) is `null`. Keys: `schema`, `score_threshold`,
    /// `iou_threshold`, `overlap_tau`, `images`, `chromosomes`, `WCR`, `AER`, `Acc`, `Precision`, `Recall`, `F1`,
    /// `mAP`, `MR2`, `CountExact`, `TP`, `FP`, `FN`, `overlap` (`chromosomes`, `share`, `F1`, `Precision`,
    /// `Recall`, `Acc`, `TP`, `FP`, `FN`), `mr2_samples` (`fppi`, `miss_rate`), `per_image` (images not
    /// whole-correct, worst first: `image`, `true_count`, `predicted_count`, `count_error`, `TP`, `FP`, `FN`,
    /// `false_positives` and `missed` boxes), `count_errors` (per image, predicted minus true), `truth_only`,
    /// `prediction_only`, `warnings`.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(EvalJSON(run: self))
    }

    /// The result as text: a row like the paper's Table 2 plus CountExact, the counts, the Table 5 figures on the
    /// overlapping subset, the images that are not whole-correct (worst first) and the images on one side only.
    public func table() -> String {
        let r = report
        let c = r.counts
        func pct(_ v: Double?) -> String { v.map { String(format: "%.2f", $0 * 100) } ?? "-" }
        func row(_ cells: [String], _ widths: [Int]) -> String {
            zip(cells, widths).map { cell, w in
                cell.count >= w ? cell : String(repeating: " ", count: w - cell.count) + cell
            }.joined(separator: "  ")
        }
        let headers = [
            "Images", "Chromosomes", "WCR(%)", "AER(%)", "Acc(%)", "F1(%)", "mAP(%)", "MR2(%)", "CountExact(%)",
        ]
        let widths = headers.map(\.count)
        var lines = [
            row(headers, widths),
            row(
                [
                    "\(r.imageCount)", "\(c.truthCount)", pct(r.wholeCorrectRatio), pct(c.averageErrorRatio),
                    pct(c.accuracy), pct(c.f1), pct(r.meanAveragePrecision), pct(r.logAverageMissRate),
                    pct(r.countExactRatio),
                ], widths),
            "TP \(c.truePositives)  FP \(c.falsePositives)  FN \(c.falseNegatives)  Precision \(pct(c.precision))%  "
                + "Recall \(pct(c.recall))%  (score >= \(r.options.scoreThreshold), IoU >= \(r.options.iouThreshold))",
        ]
        let o = r.overlapCounts
        lines.append(
            "Overlapping subset (Eq. 14, tau \(r.options.overlapTau)): \(o.truthCount) chromosomes "
                + "(\(pct(ratio(o.truthCount, c.truthCount)))%)  F1 \(pct(o.f1))%  Precision \(pct(o.precision))%  "
                + "Recall \(pct(o.recall))%  Acc \(pct(o.accuracy))%  (TP \(o.truePositives)  FP \(o.falsePositives)  "
                + "FN \(o.falseNegatives))")
        let failures = r.failures
        if failures.isEmpty {
            lines.append("Every image is whole-correct.")
        } else {
            lines.append("Not whole-correct, worst first (\(failures.count) of \(r.imageCount)):")
            let nameWidth = max(5, failures.map(\.stem.count).max() ?? 0)
            let heads = [
                "image".padding(toLength: nameWidth, withPad: " ", startingAt: 0), "true", "pred", "TP", "FP", "FN",
            ]
            let w = [nameWidth, 5, 5, 4, 4, 4]
            lines.append("  " + row(heads, w))
            for f in failures {
                let name = f.stem.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                let cells = [
                    name, "\(f.trueCount)", "\(f.predictedCount)", "\(f.truePositives)", "\(f.falsePositives)",
                    "\(f.falseNegatives)",
                ]
                lines.append("  " + row(cells, w))
            }
        }
        if !truthOnly.isEmpty {
            lines.append("Annotated but not predicted (not scored): " + truthOnly.joined(separator: ", "))
        }
        if !predictionOnly.isEmpty {
            lines.append("Predicted but not annotated (not scored): " + predictionOnly.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}

/// The JSON form of an `EvalRun`; optional figures are written as explicit nulls.
private struct EvalJSON: Encodable {
    let run: EvalRun

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private static func percent(_ v: Double?) -> Double? { v.map { $0 * 100 } }

    private static func encodeCounts(
        _ c: DetectionCounts, into container: inout KeyedEncodingContainer<Key>, full: Bool
    ) throws {
        if full {
            try container.encode(percent(c.averageErrorRatio), forKey: Key("AER"))
        }
        try container.encode(percent(c.accuracy), forKey: Key("Acc"))
        try container.encode(percent(c.precision), forKey: Key("Precision"))
        try container.encode(percent(c.recall), forKey: Key("Recall"))
        try container.encode(percent(c.f1), forKey: Key("F1"))
        try container.encode(c.truePositives, forKey: Key("TP"))
        try container.encode(c.falsePositives, forKey: Key("FP"))
        try container.encode(c.falseNegatives, forKey: Key("FN"))
    }

    func encode(to encoder: any Encoder) throws {
        let r = run.report
        var c = encoder.container(keyedBy: Key.self)
        try c.encode("karyocount.eval/1", forKey: Key("schema"))
        try c.encode(r.options.scoreThreshold, forKey: Key("score_threshold"))
        try c.encode(r.options.iouThreshold, forKey: Key("iou_threshold"))
        try c.encode(r.options.overlapTau, forKey: Key("overlap_tau"))
        try c.encode(r.imageCount, forKey: Key("images"))
        try c.encode(r.counts.truthCount, forKey: Key("chromosomes"))
        try c.encode(Self.percent(r.wholeCorrectRatio), forKey: Key("WCR"))
        try Self.encodeCounts(r.counts, into: &c, full: true)
        try c.encode(Self.percent(r.meanAveragePrecision), forKey: Key("mAP"))
        try c.encode(Self.percent(r.logAverageMissRate), forKey: Key("MR2"))
        try c.encode(Self.percent(r.countExactRatio), forKey: Key("CountExact"))

        var overlap = c.nestedContainer(keyedBy: Key.self, forKey: Key("overlap"))
        try overlap.encode(r.overlapCounts.truthCount, forKey: Key("chromosomes"))
        try overlap.encode(
            Self.percent(ratio(r.overlapCounts.truthCount, r.counts.truthCount)), forKey: Key("share"))
        try Self.encodeCounts(r.overlapCounts, into: &overlap, full: false)

        var samples = c.nestedUnkeyedContainer(forKey: Key("mr2_samples"))
        for s in r.missRateSamples {
            var item = samples.nestedContainer(keyedBy: Key.self)
            try item.encode(s.fppi, forKey: Key("fppi"))
            try item.encode(s.missRate * 100, forKey: Key("miss_rate"))
        }

        var perImage = c.nestedUnkeyedContainer(forKey: Key("per_image"))
        for f in r.failures {
            var item = perImage.nestedContainer(keyedBy: Key.self)
            try item.encode(f.stem, forKey: Key("image"))
            try item.encode(f.trueCount, forKey: Key("true_count"))
            try item.encode(f.predictedCount, forKey: Key("predicted_count"))
            try item.encode(f.countError, forKey: Key("count_error"))
            try item.encode(f.truePositives, forKey: Key("TP"))
            try item.encode(f.falsePositives, forKey: Key("FP"))
            try item.encode(f.falseNegatives, forKey: Key("FN"))
            try item.encode(f.falsePositiveBoxes, forKey: Key("false_positives"))
            try item.encode(f.missedBoxes, forKey: Key("missed"))
        }
        var countErrors = c.nestedContainer(keyedBy: Key.self, forKey: Key("count_errors"))
        for image in r.images {
            try countErrors.encode(image.countError, forKey: Key(image.stem))
        }
        try c.encode(run.truthOnly, forKey: Key("truth_only"))
        try c.encode(run.predictionOnly, forKey: Key("prediction_only"))
        try c.encode(run.warnings, forKey: Key("warnings"))
    }
}
