/// Ground truth and predictions paired by image stem, with the images found on one side only.
public struct PairedImages: Sendable, Equatable {
    /// Images with both ground truth and predictions, in ground-truth order.
    public var images: [EvalImage]
    /// Stems of annotated images that have no predictions (not scored; a detector failure shows up here).
    public var truthOnly: [String]
    /// Stems of predicted images that have no ground truth (not scored).
    public var predictionOnly: [String]

    public init(images: [EvalImage], truthOnly: [String], predictionOnly: [String]) {
        self.images = images
        self.truthOnly = truthOnly
        self.predictionOnly = predictionOnly
    }
}

/// Pairs ground truth with predictions by image stem.
///
/// First every prediction whose stem equals a ground-truth stem is paired with it. Then each remaining prediction
/// is paired with the one remaining ground-truth image that shares any of its names (stem or alias, e.g. a labelme
/// `imagePath` or a result's `source`); a name shared by several remaining images pairs nothing. Whatever is left
/// is reported in `truthOnly` and `predictionOnly`, never dropped silently.
public func pairByStem(truth: [TruthImage], predictions: [PredictionImage]) -> PairedImages {
    var partner: [Int?] = Array(repeating: nil, count: truth.count)
    var used = Array(repeating: false, count: predictions.count)
    var truthByStem: [String: Int] = [:]
    for (i, t) in truth.enumerated() where truthByStem[t.stem] == nil {
        truthByStem[t.stem] = i
    }
    for (p, prediction) in predictions.enumerated() {
        if let i = truthByStem[prediction.stem], partner[i] == nil {
            partner[i] = p
            used[p] = true
        }
    }
    for (p, prediction) in predictions.enumerated() where !used[p] {
        let names = Set([prediction.stem] + prediction.aliases)
        let candidates = truth.indices.filter { i in
            partner[i] == nil && !names.isDisjoint(with: [truth[i].stem] + truth[i].aliases)
        }
        if candidates.count == 1 {
            partner[candidates[0]] = p
            used[p] = true
        }
    }
    var images: [EvalImage] = []
    var truthOnly: [String] = []
    for (i, t) in truth.enumerated() {
        if let p = partner[i] {
            images.append(
                EvalImage(
                    stem: t.stem, truth: t.boxes, predictions: predictions[p].detections,
                    predictionFile: predictions[p].file))
        } else {
            truthOnly.append(t.stem)
        }
    }
    let predictionOnly = predictions.indices.filter { !used[$0] }.map { predictions[$0].stem }
    return PairedImages(images: images, truthOnly: truthOnly.sorted(), predictionOnly: predictionOnly.sorted())
}
