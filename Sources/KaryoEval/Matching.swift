import KaryoDetect
import KaryoImage

/// How one prediction of an image was judged (Section 3.2 of the DeepACEv2 paper).
public struct PredictionOutcome: Sendable, Equatable {
    /// The ground truth it is assigned to by Eq. 13 (highest IoU), or nil when it meets no ground truth at all.
    public var assignedTruth: Int?
    /// Its IoU with that ground truth (0 when unassigned).
    public var iou: Double
    /// Its score.
    public var score: Double
    /// Whether it is the true positive of its ground truth.
    public var isTruePositive: Bool
}

/// The judgement of all predictions of one image, at every score at once.
///
/// The rules (Section 3.2, "three basic criteria", and Eq. 13):
/// - A prediction is assigned to the ground truth of highest IoU (Eq. 13); on equal IoU, to the lower index. A
///   prediction that meets no ground truth (IoU 0 with all) is assigned to none.
/// - It is a true positive when that IoU is at least the IoU threshold (0.5) and it has the highest score among the
///   predictions assigned to that ground truth with IoU at least the threshold. So a low-IoU prediction never takes
///   a ground truth away from a qualifying one: this is the VOC reading of the paper's FP rule ("has the max IoU
///   with a ground truth that has already been detected"), where only a qualifying prediction detects.
/// - Equal scores on one ground truth: the higher IoU wins, then the lower prediction index. Which one wins never
///   changes the counts.
/// - Every other prediction is a false positive; a ground truth without a true positive is a false negative.
///
/// Because each ground truth's winner is the best-scored qualifying prediction, the judgement of the predictions
/// at or above any score threshold `s` is this judgement restricted to them: TP(s) is the number of ground truths
/// whose `winnerScore` is at least `s`. One matching therefore serves the threshold metrics and the curves.
public struct ImageMatch: Sendable, Equatable {
    /// One outcome per prediction, in the order the predictions were given.
    public var outcomes: [PredictionOutcome]
    /// Per ground truth, the score of its true positive, or nil when no prediction qualifies for it.
    public var winnerScore: [Double?]
    /// Per ground truth, whether it belongs to the overlapping subset S_o (Eq. 14).
    public var isOverlapping: [Bool]
}

/// Judges the predictions of one image against its ground truth (Section 3.2, Eq. 13; see `ImageMatch`).
public func matchPredictions(
    truth: [BoundingBox], predictions: [Detection], iouThreshold: Double = 0.5, overlapTau: Double = 0.5
) -> ImageMatch {
    var outcomes: [PredictionOutcome] = []
    outcomes.reserveCapacity(predictions.count)
    var winner: [Int?] = Array(repeating: nil, count: truth.count)
    for (p, prediction) in predictions.enumerated() {
        let (assigned, iou) = assignToTruth(prediction.box, truth: truth)
        outcomes.append(
            PredictionOutcome(assignedTruth: assigned, iou: iou, score: prediction.score, isTruePositive: false))
        guard let g = assigned, iou >= iouThreshold else { continue }
        if let w = winner[g] {
            let current = outcomes[w]
            if prediction.score > current.score || (prediction.score == current.score && iou > current.iou) {
                winner[g] = p
            }
        } else {
            winner[g] = p
        }
    }
    for case let p? in winner {
        outcomes[p].isTruePositive = true
    }
    return ImageMatch(
        outcomes: outcomes, winnerScore: winner.map { $0.map { outcomes[$0].score } },
        isOverlapping: overlappingChromosomes(truth, tau: overlapTau))
}

/// Eq. 13: the ground truth of highest IoU with `box` and that IoU; on equal IoU the lower index. Nil when `box`
/// meets no ground truth (all IoUs are 0).
public func assignToTruth(_ box: BoundingBox, truth: [BoundingBox]) -> (index: Int?, iou: Double) {
    var best: Int?
    var bestIoU = 0.0
    for (i, g) in truth.enumerated() {
        let iou = box.iou(g)
        if iou > bestIoU {
            best = i
            bestIoU = iou
        }
    }
    return (best, bestIoU)
}

/// Eq. 14: whether each ground truth G_i is in the overlapping subset S_o, i.e. the sum over the other ground
/// truths G_j of IoG(G_j, G_i) = |G_j ∩ G_i| / |G_i| is at least `tau` (0.5 in the paper, Section 3.6). A ground
/// truth of zero area is never in S_o.
public func overlappingChromosomes(_ truth: [BoundingBox], tau: Double = 0.5) -> [Bool] {
    truth.enumerated().map { i, gi in
        guard gi.area > 0 else { return false }
        var sum = 0.0
        for (j, gj) in truth.enumerated() where j != i {
            sum += gj.intersection(gi).area / gi.area
        }
        return sum >= tau
    }
}
