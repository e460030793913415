import Foundation
import KaryoDetect
import KaryoEval
import KaryoImage
import KaryoSupport
import Testing

/// A deliberately naive second implementation of the paper's metrics, built differently from KaryoEval: every
/// score threshold is judged from scratch by brute force (each prediction compared with every other), the curve
/// is rebuilt per threshold, AP follows the PASCAL VOC devkit's padded-array form and MR^-2 searches every point.
enum NaiveMetrics {
    struct Counts: Equatable {
        var tp = 0
        var fp = 0
        var fn = 0
    }

    struct Result {
        var total = Counts()
        var overlap = Counts()
        var wholeCorrect = 0
        var countExact = 0
        var ap: Double?
        var mr2: Double?
    }

    static func iou(_ a: BoundingBox, _ b: BoundingBox) -> Double {
        let w = max(0, min(a.x2, b.x2) - max(a.x1, b.x1))
        let h = max(0, min(a.y2, b.y2) - max(a.y1, b.y1))
        let inter = w * h
        let union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
        return union > 0 ? inter / union : 0
    }

    /// Per image, at threshold `s`: (tp, fp, fn, overlap counts, count of kept predictions).
    static func judge(_ image: EvalImage, s: Double, iouThreshold: Double, tau: Double) -> (Counts, Counts, Int) {
        let kept = image.predictions.enumerated().filter { $0.element.score >= s }
        var assigned: [Int] = []
        var best: [Double] = []
        for (_, p) in kept {
            var g = -1
            var v = 0.0
            for (i, t) in image.truth.enumerated() where iou(p.box, t) > v {
                v = iou(p.box, t)
                g = i
            }
            assigned.append(g)
            best.append(v)
        }
        var isTP = Array(repeating: false, count: kept.count)
        for a in 0..<kept.count where assigned[a] >= 0 && best[a] >= iouThreshold {
            var beaten = false
            for b in 0..<kept.count where b != a && assigned[b] == assigned[a] && best[b] >= iouThreshold {
                let sa = kept[a].element.score
                let sb = kept[b].element.score
                if sb > sa || (sb == sa && best[b] > best[a])
                    || (sb == sa && best[b] == best[a] && kept[b].offset < kept[a].offset)
                {
                    beaten = true
                }
            }
            isTP[a] = !beaten
        }
        var inSubset: [Bool] = []
        for (i, gi) in image.truth.enumerated() {
            var sum = 0.0
            let area = (gi.x2 - gi.x1) * (gi.y2 - gi.y1)
            for (j, gj) in image.truth.enumerated() where j != i {
                let w = max(0, min(gi.x2, gj.x2) - max(gi.x1, gj.x1))
                let h = max(0, min(gi.y2, gj.y2) - max(gi.y1, gj.y1))
                sum += area > 0 ? w * h / area : 0
            }
            inSubset.append(area > 0 && sum >= tau)
        }
        var c = Counts()
        var o = Counts()
        c.tp = isTP.filter { $0 }.count
        c.fp = kept.count - c.tp
        c.fn = image.truth.count - c.tp
        for a in 0..<kept.count where assigned[a] >= 0 && inSubset[assigned[a]] {
            if isTP[a] { o.tp += 1 } else { o.fp += 1 }
        }
        let detected = Set((0..<kept.count).filter { isTP[$0] }.map { assigned[$0] })
        o.fn = (0..<image.truth.count).filter { inSubset[$0] && !detected.contains($0) }.count
        return (c, o, kept.count)
    }

    static func evaluate(_ images: [EvalImage], options: EvalOptions) -> Result {
        var r = Result()
        for image in images {
            let (c, o, kept) = judge(
                image, s: options.scoreThreshold, iouThreshold: options.iouThreshold, tau: options.overlapTau)
            r.total.tp += c.tp
            r.total.fp += c.fp
            r.total.fn += c.fn
            r.overlap.tp += o.tp
            r.overlap.fp += o.fp
            r.overlap.fn += o.fn
            if c.fp == 0 && c.fn == 0 { r.wholeCorrect += 1 }
            if kept == image.truth.count { r.countExact += 1 }
        }
        let npos = images.map(\.truth.count).reduce(0, +)
        guard npos > 0 else { return r }
        let thresholds = Array(Set(images.flatMap { $0.predictions.map(\.score) })).sorted(by: >)
        var rec: [Double] = []
        var prec: [Double] = []
        var fppi: [Double] = []
        for s in thresholds {
            var tp = 0
            var fp = 0
            for image in images {
                let (c, _, _) = judge(image, s: s, iouThreshold: options.iouThreshold, tau: options.overlapTau)
                tp += c.tp
                fp += c.fp
            }
            rec.append(Double(tp) / Double(npos))
            prec.append(Double(tp) / Double(tp + fp))
            fppi.append(Double(fp) / Double(images.count))
        }
        // VOC devkit (VOCevalDet, 2010+): pad, make precision monotone from the right, sum where recall changes.
        var mrec = [0.0] + rec + [1.0]
        var mpre = [0.0] + prec + [0.0]
        for i in stride(from: mpre.count - 2, through: 0, by: -1) { mpre[i] = max(mpre[i], mpre[i + 1]) }
        var ap = 0.0
        for i in 1..<mrec.count where mrec[i] != mrec[i - 1] { ap += (mrec[i] - mrec[i - 1]) * mpre[i] }
        r.ap = ap
        mrec.removeAll()
        // MR^-2: at each reference, the best recall among all points within it (0 when none), miss = 1 - recall.
        var logSum = 0.0
        for k in 0...8 {
            let reference = pow(10.0, -2.0 + Double(k) / 4.0)
            var bestRecall = 0.0
            for i in 0..<fppi.count where fppi[i] <= reference { bestRecall = max(bestRecall, rec[i]) }
            logSum += log(max(1 - bestRecall, 1e-10))
        }
        r.mr2 = exp(logSum / 9)
        return r
    }
}

/// A random set of images built to hit the hard cases: overlapping truths, jittered and duplicate detections near
/// the IoU threshold, stray detections, empty images, and scores drawn from a coarse grid so that ties are common.
func randomImages(seed: UInt64) -> [EvalImage] {
    var rng = SplitMix64(seed: seed)
    let coarseScores = Bool.random(using: &rng)
    func score() -> Double {
        coarseScores ? Double(Int.random(in: 1...9, using: &rng)) / 10 : Double.random(in: 0.05...1, using: &rng)
    }
    return (0..<Int.random(in: 1...6, using: &rng)).map { n in
        var truth: [BoundingBox] = []
        for _ in 0..<Int.random(in: 0...8, using: &rng) {
            if let near = truth.randomElement(using: &rng), Int.random(in: 0..<3, using: &rng) == 0 {
                let dx = Double(Int.random(in: -6...6, using: &rng))
                let dy = Double(Int.random(in: -6...6, using: &rng))
                truth.append(BoundingBox(x1: near.x1 + dx, y1: near.y1 + dy, x2: near.x2 + dx, y2: near.y2 + dy))
            } else {
                let x = Double(Int.random(in: 0...80, using: &rng))
                let y = Double(Int.random(in: 0...80, using: &rng))
                truth.append(
                    BoundingBox(
                        x1: x, y1: y, x2: x + Double(Int.random(in: 4...20, using: &rng)),
                        y2: y + Double(Int.random(in: 4...20, using: &rng))))
            }
        }
        var predictions: [Detection] = []
        for t in truth where Int.random(in: 0..<5, using: &rng) > 0 {
            for _ in 0..<Int.random(in: 1...2, using: &rng) {
                let j = { Double(Int.random(in: -3...3, using: &rng)) }
                let b = BoundingBox(x1: t.x1 + j(), y1: t.y1 + j(), x2: t.x2 + j(), y2: t.y2 + j())
                predictions.append(Detection(box: b.width > 0 && b.height > 0 ? b : t, score: score()))
            }
        }
        for _ in 0..<Int.random(in: 0...3, using: &rng) {
            let x = Double(Int.random(in: 0...90, using: &rng))
            let y = Double(Int.random(in: 0...90, using: &rng))
            predictions.append(Detection(box: BoundingBox(x1: x, y1: y, x2: x + 10, y2: y + 12), score: score()))
        }
        predictions.shuffle(using: &rng)
        return EvalImage(stem: "r\(n)", truth: truth, predictions: predictions)
    }
}

@Suite("Cross-check against a naive implementation")
struct CrossCheckTests {
    @Test(
        "400 random sets agree to 1e-9 with the brute-force metrics", arguments: [(0.5, 0.5), (0.3, 0.6), (0.7, 0.3)])
    func randomSetsAgree(scoreThreshold: Double, iouThreshold: Double) throws {
        let options = EvalOptions(scoreThreshold: scoreThreshold, iouThreshold: iouThreshold)
        var withCurves = 0
        for seed in UInt64(1)...400 {
            let images = randomImages(seed: seed &* 7919)
            let fast = try evaluate(images, options: options)
            let naive = NaiveMetrics.evaluate(images, options: options)
            let context = Comment(rawValue: "seed \(seed), options \(options)")
            #expect(fast.counts.truePositives == naive.total.tp, context)
            #expect(fast.counts.falsePositives == naive.total.fp, context)
            #expect(fast.counts.falseNegatives == naive.total.fn, context)
            #expect(fast.overlapCounts.truePositives == naive.overlap.tp, context)
            #expect(fast.overlapCounts.falsePositives == naive.overlap.fp, context)
            #expect(fast.overlapCounts.falseNegatives == naive.overlap.fn, context)
            #expect(
                close(fast.wholeCorrectRatio, Double(naive.wholeCorrect) / Double(images.count), tolerance: 1e-9),
                context)
            #expect(
                close(fast.countExactRatio, Double(naive.countExact) / Double(images.count), tolerance: 1e-9), context)
            #expect(close(fast.meanAveragePrecision, naive.ap, tolerance: 1e-9), context)
            #expect(close(fast.logAverageMissRate, naive.mr2, tolerance: 1e-9), context)
            if naive.ap != nil { withCurves += 1 }
        }
        // The generator must actually exercise the curves, not only empty sets.
        #expect(withCurves > 300)
    }
}
