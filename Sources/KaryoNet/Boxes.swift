import Foundation

/// A box `[x1, y1, x2, y2]` in Float32, the engine's working type (MODEL.md steps 9-15).
public struct Box: Sendable, Equatable {
    public var x1: Float
    public var y1: Float
    public var x2: Float
    public var y2: Float

    public init(_ x1: Float, _ y1: Float, _ x2: Float, _ y2: Float) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }

    /// `(x2 - x1) * (y2 - y1)`, no +1.
    public var area: Float { (x2 - x1) * (y2 - y1) }

    /// Intersection over union, torchvision's `box_iou` (no +1).
    public func iou(_ o: Box) -> Float {
        let iw = max(0, min(x2, o.x2) - max(x1, o.x1))
        let ih = max(0, min(y2, o.y2) - max(y1, o.y1))
        let inter = iw * ih
        return inter / (area + o.area - inter)
    }

    /// The box clipped to `0...width` x `0...height`.
    public func clipped(width: Float, height: Float) -> Box {
        Box(min(max(x1, 0), width), min(max(y1, 0), height), min(max(x2, 0), width), min(max(y2, 0), height))
    }
}

/// Applies regression deltas to a reference box, torchvision's `BoxCoder.decode_single` (MODEL.md step 10):
/// `weights` (wx, wy, ww, wh), `dw`/`dh` clamped at `clip` (log(1000/16)).
@inline(__always)
public func decodeBox(_ ref: Box, _ d0: Float, _ d1: Float, _ d2: Float, _ d3: Float, weights: [Float], clip: Float)
    -> Box
{
    let w = ref.x2 - ref.x1
    let h = ref.y2 - ref.y1
    let cx = ref.x1 + 0.5 * w
    let cy = ref.y1 + 0.5 * h
    let dx = d0 / weights[0]
    let dy = d1 / weights[1]
    let dw = min(d2 / weights[2], clip)
    let dh = min(d3 / weights[3], clip)
    let pcx = dx * w + cx
    let pcy = dy * h + cy
    let pw = expf(dw) * w
    let ph = expf(dh) * h
    return Box(pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph)
}

/// Greedy non-maximum suppression, torchvision semantics (MODEL.md step 11): visits boxes by descending score
/// (stable: ties keep the lower index first) and drops every later box whose IoU with a kept one is `> threshold`.
/// Returns the kept indices in visiting order, stopping after `limit` (the first `limit` of the full result).
public func nonMaximumSuppression(boxes: [Box], scores: [Float], threshold: Float, limit: Int = .max) -> [Int] {
    let order = (0..<boxes.count).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    var suppressed = [Bool](repeating: false, count: boxes.count)
    var keep: [Int] = []
    for (rank, i) in order.enumerated() where !suppressed[i] {
        keep.append(i)
        if keep.count == limit { break }
        let b = boxes[i]
        for j in order[(rank + 1)...] where !suppressed[j] {
            if b.iou(boxes[j]) > threshold { suppressed[j] = true }
        }
    }
    return keep
}

/// One output of Soft-NMS / Embedding-Guided NMS: the candidate's index and its decayed score.
public struct RescoredDetection: Sendable, Equatable {
    /// Index into the candidate list.
    public var index: Int
    /// The score after decay.
    public var score: Float
}

/// Gaussian Soft-NMS (Bodla et al., the paper's [26]): repeatedly takes the highest current score and decays every
/// remaining score by `exp(-iou^2 / sigma)`. Runs over all candidates; returns the first `limit` picks.
public func softNMS(boxes: [Box], scores: [Float], sigma: Float = 0.5, limit: Int = 100) -> [RescoredDetection] {
    rescoringNMS(boxes: boxes, scores: scores, limit: limit) { _, _, iou in expf(-(iou * iou) / sigma) }
}

/// Embedding-Guided NMS, the paper's Algorithm 1 (Section 2.4): the decay of candidate `i` by the pick `m` is
/// `exp(-iou^(1.5 + S(d)) / sigma)` with `d = |e_m - e_i|` and the sigmoid `S(d) = 1 / (1 + exp(-2 (d - delta)))`,
/// so boxes whose embeddings differ (another chromosome) are decayed less. Returns the first `limit` picks.
public func embeddingGuidedNMS(
    boxes: [Box], scores: [Float], embeddings: [Float], delta: Float = 0.3, sigma: Float = 0.5, limit: Int = 100
) -> [RescoredDetection] {
    rescoringNMS(boxes: boxes, scores: scores, limit: limit) { m, i, iou in
        let d = abs(embeddings[m] - embeddings[i])
        let s = 1 / (1 + expf(-2 * (d - delta)))
        return expf(-powf(iou, 1.5 + s) / sigma)
    }
}

/// The loop shared by Soft-NMS and EG-NMS (MODEL.md step 15): pick the highest current score (ties: lowest
/// index), emit it, multiply every remaining score by `decay(pick, i, iou)`.
private func rescoringNMS(
    boxes: [Box], scores: [Float], limit: Int, decay: (Int, Int, Float) -> Float
) -> [RescoredDetection] {
    var current = scores
    var remaining = Array(0..<boxes.count)
    var out: [RescoredDetection] = []
    while !remaining.isEmpty {
        var best = 0
        for k in 1..<remaining.count where current[remaining[k]] > current[remaining[best]] { best = k }
        let m = remaining.remove(at: best)
        out.append(RescoredDetection(index: m, score: current[m]))
        let bm = boxes[m]
        for i in remaining { current[i] *= decay(m, i, bm.iou(boxes[i])) }
    }
    return Array(out.prefix(limit))
}
