import Foundation
import KaryoImage

/// Context rescoring (Training/MODEL.md step 18, `karyotrain/rescore.py`): a small network that re-scores each
/// post-processed detection from its neighbours, its size in chromosome widths and the darkness inside, along and
/// around its box. Valid for the weights it was fitted on only (`rescore.model_sha256`).
public struct ContextRescorer: Sendable {
    /// Features per detection.
    public static let featureCount = 16
    static let scoreClip = 1e-4
    static let insideShare = 0.7
    static let edgeWidths = 0.25
    static let ringWidths = 0.5
    static let backgroundQuantile = 0.75
    static let stainQuantile = 0.01

    /// One post-processed detection, in rank order: its box in source pixels, post-processing's score, the box
    /// head's score and the Template Module's embedding.
    public struct Candidate: Sendable, Equatable {
        public var box: BoundingBox
        public var score: Double
        public var networkScore: Double
        public var embedding: Double

        public init(box: BoundingBox, score: Double, networkScore: Double, embedding: Double) {
            self.box = box
            self.score = score
            self.networkScore = networkScore
            self.embedding = embedding
        }
    }

    let mean: [Double]
    let std: [Double]
    let layers: [Linear]

    /// Loads `mean`, `std` and `layers.{0,2,4}` of `rescore.safetensors`.
    public init(config: ModelConfig.Rescore, weights: SafeTensorsFile) throws {
        let n = Self.featureCount
        mean = try weights.doubles("mean")
        std = try weights.doubles("std")
        guard mean.count == n, std.count == n else {
            throw KaryoNetError(.shapeMismatch, "rescore mean and std must hold \(n) values")
        }
        let h = config.hidden
        layers = [
            try weights.linear("layers.0", out: h, in: n), try weights.linear("layers.2", out: h, in: h),
            try weights.linear("layers.4", out: 1, in: h),
        ]
    }

    /// The probability that each candidate is a chromosome found for the first time, from `features`.
    public func probabilities(_ features: [[Double]]) -> [Double] {
        guard !features.isEmpty else { return [] }
        let n = Self.featureCount
        var z = [Float](repeating: 0, count: features.count * n)
        for (i, row) in features.enumerated() {
            for k in 0..<n { z[i * n + k] = Float((row[k] - mean[k]) / std[k]) }
        }
        let x = Tensor(shape: [features.count, n], data: z)
        let logits = layers[2](layers[1](layers[0](x, relu: true), relu: true))
        return logits.data.map { 1 / (1 + exp(-Double($0))) }
    }

    /// The 16 features of each candidate (rank order), as `karyotrain/rescore.features`: `chromosomeWidth` in
    /// source pixels, `grey` the source image's 0...255 values.
    public static func features(
        _ candidates: [Candidate], chromosomeWidth width: Double, grey: [Float], imageWidth: Int, imageHeight: Int
    ) -> [[Double]] {
        let n = candidates.count
        var out = [[Double]](repeating: [Double](repeating: 0, count: featureCount), count: n)
        guard n > 0 else { return out }
        let b = candidates.map(\.box)
        let area = b.map { ($0.x2 - $0.x1) * ($0.y2 - $0.y1) }
        func intersection(_ i: Int, _ j: Int) -> Double {
            let w = min(b[i].x2, b[j].x2) - max(b[i].x1, b[j].x1)
            let h = min(b[i].y2, b[j].y2) - max(b[i].y1, b[j].y1)
            return max(w, 0) * max(h, 0)
        }
        let logits = candidates.map { logit($0.score) }
        for i in 0..<n {
            let c = candidates[i]
            let (w, h) = (b[i].x2 - b[i].x1, b[i].y2 - b[i].y1)
            out[i][0] = logits[i]
            out[i][1] = logit(c.networkScore)
            out[i][2] = log(max(max(w, h), 1e-6) / width)
            out[i][3] = log(max(min(w, h), 1e-6) / width)
            out[i][7] = log(scoreClip / (1 - scoreClip))
            var best = -1.0
            for j in 0..<n where j != i {
                let inter = intersection(i, j)
                let iou = inter / max(area[i] + area[j] - inter, 1e-12)
                let inside = inter / max(area[i], 1e-12)
                let contains = inter / max(area[j], 1e-12)
                if j < i {
                    if iou > best {
                        best = iou
                        out[i][4] = iou
                        out[i][7] = logits[j]
                        out[i][8] = abs(c.embedding - candidates[j].embedding)
                    }
                    out[i][5] = max(out[i][5], inside)
                    out[i][6] = max(out[i][6], contains)
                } else {
                    out[i][9] = max(out[i][9], iou)
                    if contains > insideShare { out[i][10] += candidates[j].score }
                    if inside > insideShare { out[i][11] += candidates[j].score }
                }
            }
        }
        let integral = darknessIntegral(grey, width: imageWidth, height: imageHeight)
        let edge = edgeWidths * width
        let ring = ringWidths * width
        for i in 0..<n {
            let box = b[i]
            let (inside, pixels) = integral.sum(box)
            let core = BoundingBox(
                x1: box.x1 + edge, y1: box.y1 + edge, x2: max(box.x2 - edge, box.x1 + edge),
                y2: max(box.y2 - edge, box.y1 + edge))
            let (inner, innerPixels) = integral.sum(core)
            let (grown, grownPixels) = integral.sum(
                BoundingBox(x1: box.x1 - ring, y1: box.y1 - ring, x2: box.x2 + ring, y2: box.y2 + ring))
            out[i][12] = inside / Double(max(pixels, 1))
            out[i][13] = (inside - inner) / Double(max(pixels - innerPixels, 1))
            out[i][14] = (grown - inside) / Double(max(grownPixels - pixels, 1))
            out[i][15] = log1p(inside / (width * width))
        }
        return out
    }

    static func logit(_ p: Double) -> Double {
        let q = min(max(p, scoreClip), 1 - scoreClip)
        return log(q / (1 - q))
    }

    /// The summed-area table of the darkness `clamp((background - g) / max(background - stain, 1), 0, 1)`, where
    /// background is the 75th-percentile grey level and stain the 1st (levels rounded half to even).
    static func darknessIntegral(_ grey: [Float], width w: Int, height h: Int) -> SummedArea {
        let levels = WorkingScale.greyLevels(grey)
        var histogram = [Int](repeating: 0, count: 256)
        for v in levels { histogram[Int(v)] += 1 }
        let background = Double(levelQuantile(histogram, backgroundQuantile))
        let stain = Double(levelQuantile(histogram, stainQuantile))
        let span = max(background - stain, 1)
        var table = SummedArea(width: w, height: h)
        for y in 0..<h {
            var row = 0.0
            for x in 0..<w {
                row += min(max((background - Double(levels[y * w + x])) / span, 0), 1)
                table.values[(y + 1) * (w + 1) + x + 1] = table.values[y * (w + 1) + x + 1] + row
            }
        }
        return table
    }

    /// The lowest level with at least `q` of the pixels at or below it.
    static func levelQuantile(_ histogram: [Int], _ q: Double) -> Int {
        let total = Double(histogram.reduce(0, +))
        var running = 0
        for (level, count) in histogram.enumerated() {
            running += count
            if Double(running) >= q * total { return level }
        }
        return histogram.count - 1
    }

    /// A summed-area table, `(width + 1) x (height + 1)`.
    struct SummedArea {
        let width: Int
        let height: Int
        var values: [Double]

        init(width: Int, height: Int) {
            self.width = width
            self.height = height
            values = [Double](repeating: 0, count: (width + 1) * (height + 1))
        }

        /// The sum over a box grown to whole pixels and clipped to the image, and its pixel count.
        func sum(_ box: BoundingBox) -> (Double, Int) {
            func clip(_ v: Double, _ limit: Int) -> Int { Int(min(max(v, 0), Double(limit))) }
            let x1 = clip(box.x1.rounded(.down), width)
            let y1 = clip(box.y1.rounded(.down), height)
            let x2 = max(clip(box.x2.rounded(.up), width), x1)
            let y2 = max(clip(box.y2.rounded(.up), height), y1)
            let s =
                values[y2 * (width + 1) + x2] - values[y1 * (width + 1) + x2] - values[y2 * (width + 1) + x1]
                + values[y1 * (width + 1) + x1]
            return (s, (x2 - x1) * (y2 - y1))
        }
    }
}
