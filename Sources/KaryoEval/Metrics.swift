import Foundation
import KaryoImage

/// The thresholds of an evaluation.
public struct EvalOptions: Sendable, Equatable, Codable {
    /// Detections with a score at or above this are counted (Section 3.2: "detection confidence of 0.5").
    public var scoreThreshold: Double
    /// A prediction can be a true positive only with IoU at or above this (0.5 in the paper).
    public var iouThreshold: Double
    /// tau of Eq. 14, the overlapping-subset threshold (0.5 in the paper).
    public var overlapTau: Double

    public init(scoreThreshold: Double = 0.5, iouThreshold: Double = 0.5, overlapTau: Double = 0.5) {
        self.scoreThreshold = scoreThreshold
        self.iouThreshold = iouThreshold
        self.overlapTau = overlapTau
    }

    /// Throws `EvalError.Code.invalidOption` for a threshold outside its range.
    public func validate() throws {
        guard scoreThreshold.isFinite else {
            throw EvalError(.invalidOption, "the score threshold must be a finite number")
        }
        guard iouThreshold > 0, iouThreshold <= 1 else {
            throw EvalError(.invalidOption, "the IoU threshold must be in (0, 1], got \(iouThreshold)")
        }
        guard overlapTau > 0, overlapTau.isFinite else {
            throw EvalError(.invalidOption, "the overlap tau must be a positive number, got \(overlapTau)")
        }
    }
}

/// One image's result at the score threshold.
public struct ImageResult: Sendable, Equatable {
    public var stem: String
    /// Where the predictions came from (a result file, or the image when the detector ran in `eval`).
    public var predictionFile: String
    /// Annotated chromosomes.
    public var trueCount: Int
    /// Detections at or above the score threshold: the count the product reports.
    public var predictedCount: Int
    public var truePositives: Int
    public var falsePositives: Int
    public var falseNegatives: Int
    /// The true-positive predictions' boxes.
    public var truePositiveBoxes: [BoundingBox]
    /// The false-positive predictions' boxes (at or above the score threshold).
    public var falsePositiveBoxes: [BoundingBox]
    /// The missed ground truths' boxes.
    public var missedBoxes: [BoundingBox]

    /// FP = FN = 0: the image counts towards WCR.
    public var isWholeCorrect: Bool { falsePositives == 0 && falseNegatives == 0 }
    /// The predicted count minus the true count.
    public var countError: Int { predictedCount - trueCount }
}

/// TP, FP and FN with the ratios built from them (Eq. 9 and 10), for all chromosomes or a subset.
public struct DetectionCounts: Sendable, Equatable {
    public var truePositives: Int
    public var falsePositives: Int
    public var falseNegatives: Int

    public init(truePositives: Int, falsePositives: Int, falseNegatives: Int) {
        self.truePositives = truePositives
        self.falsePositives = falsePositives
        self.falseNegatives = falseNegatives
    }

    /// Ground truths: TP + FN.
    public var truthCount: Int { truePositives + falseNegatives }
    /// Precision = TP / (TP + FP) (Eq. 9); nil without predictions.
    public var precision: Double? { ratio(truePositives, truePositives + falsePositives) }
    /// Recall = TP / (TP + FN) (Eq. 9); nil without ground truth.
    public var recall: Double? { ratio(truePositives, truePositives + falseNegatives) }
    /// F1 = 2 P R / (P + R) (Eq. 9), computed as 2 TP / (2 TP + FP + FN), which equals it wherever it is defined and
    /// also gives 0 when there are ground truths but no predictions; nil when TP + FP + FN = 0.
    public var f1: Double? { ratio(2 * truePositives, 2 * truePositives + falsePositives + falseNegatives) }
    /// Acc = TP / (TP + FP + FN) (Eq. 10); nil when TP + FP + FN = 0.
    public var accuracy: Double? { ratio(truePositives, truePositives + falsePositives + falseNegatives) }
    /// AER = (FP + FN) / (TP + FN) (Eq. 11); nil without ground truth.
    public var averageErrorRatio: Double? { ratio(falsePositives + falseNegatives, truePositives + falseNegatives) }
}

/// One point of the detection curve: the predictions with a score at or above `score`, over all images.
public struct CurvePoint: Sendable, Equatable {
    /// The lowest score taken in; all predictions with exactly this score enter together.
    public var score: Double
    public var truePositives: Int
    public var falsePositives: Int
    /// TP / all ground truths.
    public var recall: Double
    /// TP / (TP + FP).
    public var precision: Double
    /// False positives per image, FP / images.
    public var fppi: Double
    /// 1 - recall.
    public var missRate: Double { 1 - recall }

    public init(score: Double, truePositives: Int, falsePositives: Int, recall: Double, precision: Double, fppi: Double)
    {
        self.score = score
        self.truePositives = truePositives
        self.falsePositives = falsePositives
        self.recall = recall
        self.precision = precision
        self.fppi = fppi
    }
}

/// The miss rate read off the curve at one reference FPPI (for MR^-2).
public struct MissRateSample: Sendable, Equatable {
    public var fppi: Double
    public var missRate: Double

    public init(fppi: Double, missRate: Double) {
        self.fppi = fppi
        self.missRate = missRate
    }
}

/// The paper's metrics over a set of images (Section 3.2, Table 2; Section 3.6, Table 5), as fractions in [0, 1].
public struct EvalReport: Sendable, Equatable {
    public var options: EvalOptions
    /// Per image, in the order given.
    public var images: [ImageResult]
    /// TP, FP, FN over all images at the score threshold.
    public var counts: DetectionCounts
    /// The same on the overlapping subset S_o (Eq. 14): TP and FN of ground truths in S_o, and FP of predictions
    /// assigned to a ground truth in S_o by Eq. 13 (Table 5).
    public var overlapCounts: DetectionCounts
    /// The detection curve, one point per distinct score, from the highest score down.
    public var curve: [CurvePoint]
    /// mAP: all-point interpolated average precision of `curve` (see `averagePrecision`).
    public var meanAveragePrecision: Double?
    /// The nine samples behind MR^-2 (see `logAverageMissRate`).
    public var missRateSamples: [MissRateSample]
    /// MR^-2, the log-average miss rate.
    public var logAverageMissRate: Double?

    /// Number of images scored (N).
    public var imageCount: Int { images.count }
    /// Number of ground truths in S_o.
    public var overlapTruthCount: Int { overlapCounts.truthCount }
    /// WCR = N+ / N: the share of images with FP = FN = 0 (Section 3.2); nil without images.
    public var wholeCorrectRatio: Double? { ratio(images.filter(\.isWholeCorrect).count, images.count) }
    /// The share of images whose count at the score threshold equals the true count, whichever boxes were found.
    public var countExactRatio: Double? { ratio(images.filter { $0.countError == 0 }.count, images.count) }
    /// Images that are not whole-correct, worst first: most FP + FN, then largest count error, then by stem.
    public var failures: [ImageResult] {
        images.filter { !$0.isWholeCorrect }.sorted { a, b in
            let ea = a.falsePositives + a.falseNegatives
            let eb = b.falsePositives + b.falseNegatives
            if ea != eb { return ea > eb }
            if abs(a.countError) != abs(b.countError) { return abs(a.countError) > abs(b.countError) }
            return a.stem < b.stem
        }
    }
}

/// The nine reference FPPI rates of MR^-2: 10^-2, 10^-1.75, ..., 10^0, evenly spaced in log space.
public let missRateReferenceFPPI: [Double] = (0...8).map { pow(10, -2 + 0.25 * Double($0)) }

/// Scores `images` with the paper's metrics (Section 3.2 and 3.6).
///
/// - WCR, AER (Eq. 11), Acc (Eq. 10), Precision, Recall, F1 (Eq. 9) and CountExact use the detections with a score
///   at or above `options.scoreThreshold`, judged by the rules of `ImageMatch`.
/// - mAP and MR^-2 use every detection, ranked by score across all images (`averagePrecision`,
///   `logAverageMissRate`).
/// - Images without ground truth or without predictions are scored like any other: an image with neither is
///   whole-correct, one with only predictions has only false positives.
///
/// - Throws: `EvalError.Code.invalidOption` when an option is out of range.
public func evaluate(_ images: [EvalImage], options: EvalOptions = EvalOptions()) throws -> EvalReport {
    try options.validate()
    let s = options.scoreThreshold
    var results: [ImageResult] = []
    var total = DetectionCounts(truePositives: 0, falsePositives: 0, falseNegatives: 0)
    var overlap = total
    var ranked: [(score: Double, isTruePositive: Bool)] = []
    for image in images {
        let match = matchPredictions(
            truth: image.truth, predictions: image.predictions, iouThreshold: options.iouThreshold,
            overlapTau: options.overlapTau)
        var result = ImageResult(
            stem: image.stem, predictionFile: image.predictionFile, trueCount: image.truth.count, predictedCount: 0,
            truePositives: 0, falsePositives: 0,
            falseNegatives: 0, truePositiveBoxes: [], falsePositiveBoxes: [], missedBoxes: [])
        for (p, outcome) in match.outcomes.enumerated() {
            ranked.append((outcome.score, outcome.isTruePositive))
            guard outcome.score >= s else { continue }
            result.predictedCount += 1
            if outcome.isTruePositive {
                result.truePositives += 1
                result.truePositiveBoxes.append(image.predictions[p].box)
                if let g = outcome.assignedTruth, match.isOverlapping[g] { overlap.truePositives += 1 }
            } else {
                result.falsePositives += 1
                result.falsePositiveBoxes.append(image.predictions[p].box)
                if let g = outcome.assignedTruth, match.isOverlapping[g] { overlap.falsePositives += 1 }
            }
        }
        for (g, winnerScore) in match.winnerScore.enumerated() where (winnerScore ?? -.infinity) < s {
            result.falseNegatives += 1
            result.missedBoxes.append(image.truth[g])
            if match.isOverlapping[g] { overlap.falseNegatives += 1 }
        }
        total.truePositives += result.truePositives
        total.falsePositives += result.falsePositives
        total.falseNegatives += result.falseNegatives
        results.append(result)
    }
    let truthCount = images.reduce(0) { $0 + $1.truth.count }
    let curve = detectionCurve(ranked, truthCount: truthCount, imageCount: images.count)
    let samples = truthCount > 0 ? missRateSamples(curve) : []
    return EvalReport(
        options: options, images: results, counts: total, overlapCounts: overlap, curve: curve,
        meanAveragePrecision: truthCount > 0 ? averagePrecision(curve) : nil, missRateSamples: samples,
        logAverageMissRate: truthCount > 0 ? logAverageMissRate(samples) : nil)
}

/// The detection curve over predictions ranked by score across all images: one point per distinct score, holding
/// every prediction at or above it. Predictions with equal scores enter together, since no score threshold can
/// separate them; the curve therefore does not depend on the order of ties. Empty without predictions or images;
/// recall is 0 throughout without ground truth.
func detectionCurve(
    _ ranked: [(score: Double, isTruePositive: Bool)], truthCount: Int, imageCount: Int
) -> [CurvePoint] {
    guard imageCount > 0 else { return [] }
    let sorted = ranked.sorted { $0.score > $1.score }
    var curve: [CurvePoint] = []
    var tp = 0
    var fp = 0
    var i = 0
    while i < sorted.count {
        let score = sorted[i].score
        while i < sorted.count && sorted[i].score == score {
            if sorted[i].isTruePositive { tp += 1 } else { fp += 1 }
            i += 1
        }
        curve.append(
            CurvePoint(
                score: score, truePositives: tp, falsePositives: fp,
                recall: truthCount > 0 ? Double(tp) / Double(truthCount) : 0, precision: Double(tp) / Double(tp + fp),
                fppi: Double(fp) / Double(imageCount)))
    }
    return curve
}

/// mAP (Section 3.2, after [27]): the area under the precision-recall curve with all-point interpolation, as in
/// PASCAL VOC 2010 and later. With r_0 = 0 and the curve's points k = 1...n (descending score),
///
///     AP = sum_k (r_k - r_(k-1)) * max_{j >= k} p_j,
///
/// i.e. each recall step is weighted by the highest precision reached at that recall or beyond; recall never
/// reached adds nothing. 0 for an empty curve. With one class ("chromosome") the mean is this one AP.
public func averagePrecision(_ curve: [CurvePoint]) -> Double {
    var envelope = 0.0
    var area = 0.0
    for k in stride(from: curve.count - 1, through: 0, by: -1) {
        envelope = max(envelope, curve[k].precision)
        let previousRecall = k > 0 ? curve[k - 1].recall : 0
        area += (curve[k].recall - previousRecall) * envelope
    }
    return area
}

/// The miss rate at each of the nine reference FPPI rates (`missRateReferenceFPPI`), by Dollár et al.'s rule
/// ([28], their `compRoc`): at reference f, the miss rate of the last curve point whose FPPI does not exceed f
/// (FPPI and recall only grow along the curve, so that is the lowest miss rate reachable within f false positives
/// per image); when no point qualifies, the miss rate is 1 (their curve starts at recall 0, FPPI -inf).
public func missRateSamples(_ curve: [CurvePoint]) -> [MissRateSample] {
    missRateReferenceFPPI.map { reference in
        let point = curve.last { $0.fppi <= reference }
        return MissRateSample(fppi: reference, missRate: point?.missRate ?? 1)
    }
}

/// MR^-2 (Section 3.2, after [28]): the log-average of the sampled miss rates,
/// exp(mean(log(max(mr, 1e-10)))), the floor keeping a miss rate of 0 finite.
public func logAverageMissRate(_ samples: [MissRateSample]) -> Double {
    guard !samples.isEmpty else { return 1 }
    let logs = samples.map { log(max($0.missRate, 1e-10)) }
    return exp(logs.reduce(0, +) / Double(logs.count))
}

/// `numerator / denominator`, or nil when the denominator is 0.
func ratio(_ numerator: Int, _ denominator: Int) -> Double? {
    denominator > 0 ? Double(numerator) / Double(denominator) : nil
}
