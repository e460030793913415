import Foundation
import KaryoDetect
import KaryoEval
import KaryoImage
import Testing

/// A box from its corner and size.
func box(_ x: Double, _ y: Double, _ w: Double, _ h: Double) -> BoundingBox {
    BoundingBox(x1: x, y1: y, x2: x + w, y2: y + h)
}

/// A detection of `b` with `score`.
func det(_ b: BoundingBox, _ score: Double) -> Detection { Detection(box: b, score: score) }

/// Whether `a` is within 1e-12 of `b` (both nil counts as equal).
func close(_ a: Double?, _ b: Double?, tolerance: Double = 1e-12) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case (let x?, let y?): return abs(x - y) <= tolerance
    default: return false
    }
}

@Suite("The paper's TP, FP and FN rules")
struct MatchingRuleTests {
    @Test("a duplicate detection of one chromosome is a false positive")
    func duplicateDetection() throws {
        // One truth; P1 covers it exactly (score .9), P2 is shifted by 1 px (IoU 90/110 = .818, score .8).
        let image = EvalImage(
            stem: "dup", truth: [box(0, 0, 10, 10)],
            predictions: [det(box(0, 0, 10, 10), 0.9), det(box(1, 0, 10, 10), 0.8)])
        let r = try evaluate([image])
        #expect(r.counts == DetectionCounts(truePositives: 1, falsePositives: 1, falseNegatives: 0))
        #expect(r.wholeCorrectRatio == 0)
        #expect(r.counts.averageErrorRatio == 1)  // (1 + 0) / (1 + 0)
        #expect(r.counts.accuracy == 0.5)  // 1 / (1 + 1 + 0)
        #expect(r.counts.precision == 0.5)
        #expect(r.counts.recall == 1)
        #expect(close(r.counts.f1, 2.0 / 3))
        #expect(r.countExactRatio == 0)  // 2 counted, 1 true
        #expect(r.images[0].falsePositiveBoxes == [box(1, 0, 10, 10)])
    }

    @Test("a prediction between two overlapping truths goes to the one of higher IoU and never falls back")
    func predictionBetweenTwoTruths() throws {
        // G0 = [0,0,10,10], G1 = [2,0,12,10]. A covers G1 exactly (score .9) and is its TP.
        // B = [1.5,0,11.5,10] (score .8): IoU with G0 = 85/115 = .739, with G1 = 95/105 = .905, so Eq. 13 assigns it
        // to G1, which is already detected: B is a FP although its IoU with G0 is above .5, and G0 is a FN.
        let g0 = box(0, 0, 10, 10)
        let g1 = box(2, 0, 10, 10)
        let b = box(1.5, 0, 10, 10)
        #expect(assignToTruth(b, truth: [g0, g1]).index == 1)
        let image = EvalImage(stem: "pair", truth: [g0, g1], predictions: [det(g1, 0.9), det(b, 0.8)])
        let r = try evaluate([image])
        #expect(r.counts == DetectionCounts(truePositives: 1, falsePositives: 1, falseNegatives: 1))
        #expect(r.images[0].missedBoxes == [g0])
        // IoG(G1, G0) = IoG(G0, G1) = 80/100 >= .5: both are in S_o, and B is assigned to G1 in S_o.
        #expect(r.overlapCounts == DetectionCounts(truePositives: 1, falsePositives: 1, falseNegatives: 1))
        #expect(r.overlapTruthCount == 2)
    }

    @Test("a missed chromosome is a false negative")
    func missedChromosome() throws {
        let truth = [box(0, 0, 10, 10), box(50, 0, 10, 10), box(100, 0, 10, 10)]
        let image = EvalImage(stem: "miss", truth: truth, predictions: [det(truth[0], 0.9), det(truth[1], 0.95)])
        let r = try evaluate([image])
        #expect(r.counts == DetectionCounts(truePositives: 2, falsePositives: 0, falseNegatives: 1))
        #expect(close(r.counts.averageErrorRatio, 1.0 / 3))
        #expect(close(r.counts.accuracy, 2.0 / 3))
        #expect(r.counts.precision == 1)
        #expect(close(r.counts.recall, 2.0 / 3))
        #expect(close(r.counts.f1, 0.8))  // 2 * 2 / (2 * 2 + 0 + 1)
        #expect(r.wholeCorrectRatio == 0)
        #expect(r.images[0].missedBoxes == [truth[2]])
        #expect(r.images[0].countError == -1)
    }

    @Test("a high-scoring prediction below the IoU threshold does not take the chromosome from a good one")
    func lowIoUDoesNotSteal() throws {
        // A = [0,0,10,30] has IoU 100/300 = .333 with G (score .9); B covers G exactly (score .6).
        let g = box(0, 0, 10, 10)
        let image = EvalImage(stem: "x", truth: [g], predictions: [det(box(0, 0, 10, 30), 0.9), det(g, 0.6)])
        let match = matchPredictions(truth: [g], predictions: image.predictions)
        #expect(match.outcomes.map(\.isTruePositive) == [false, true])
        #expect(match.outcomes[0].assignedTruth == 0)
        #expect(try evaluate([image]).counts == DetectionCounts(truePositives: 1, falsePositives: 1, falseNegatives: 0))
    }

    @Test("an IoU of exactly the threshold counts as a match")
    func iouThresholdIsInclusive() throws {
        // [0,0,10,10] vs [0,0,10,20]: IoU = 100 / 200 = .5.
        let image = EvalImage(stem: "x", truth: [box(0, 0, 10, 20)], predictions: [det(box(0, 0, 10, 10), 0.7)])
        #expect(try evaluate([image]).counts.truePositives == 1)
        let strict = try evaluate([image], options: EvalOptions(iouThreshold: 0.51))
        #expect(strict.counts == DetectionCounts(truePositives: 0, falsePositives: 1, falseNegatives: 1))
    }

    @Test("equal scores on one chromosome: the higher IoU is the TP, in any order, and the counts never change")
    func scoreTiesOnOneTruth() {
        let g = box(0, 0, 10, 10)
        let exact = det(g, 0.8)
        let shifted = det(box(1, 0, 10, 10), 0.8)
        let forward = matchPredictions(truth: [g], predictions: [shifted, exact])
        let backward = matchPredictions(truth: [g], predictions: [exact, shifted])
        #expect(forward.outcomes.map(\.isTruePositive) == [false, true])
        #expect(backward.outcomes.map(\.isTruePositive) == [true, false])
        // Same box, same score: the first given wins.
        let twins = matchPredictions(truth: [g], predictions: [exact, exact])
        #expect(twins.outcomes.map(\.isTruePositive) == [true, false])
    }

    @Test("predictions with equal scores enter the curve together, so a tie cannot flatter mAP")
    func scoreTiesOnTheCurve() throws {
        // One truth; a TP and a FP both at score .7. One curve point: recall 1, precision 1/2, so AP = 1 * .5.
        // Ranking the TP first would have given a point at precision 1 and AP = 1.
        let g = box(0, 0, 10, 10)
        let image = EvalImage(stem: "tie", truth: [g], predictions: [det(box(50, 50, 10, 10), 0.7), det(g, 0.7)])
        let r = try evaluate([image])
        #expect(r.curve.count == 1)
        #expect(r.curve[0].truePositives == 1 && r.curve[0].falsePositives == 1)
        #expect(r.meanAveragePrecision == 0.5)
    }

    @Test("an image with neither truth nor predictions is whole-correct; one with only predictions is not")
    func emptyImages() throws {
        let g = box(0, 0, 10, 10)
        let images = [
            EvalImage(stem: "blank", truth: [], predictions: []),
            EvalImage(stem: "debris", truth: [], predictions: [det(box(5, 5, 10, 10), 0.8)]),
            EvalImage(stem: "one", truth: [g], predictions: [det(g, 0.9)]),
        ]
        let r = try evaluate(images)
        #expect(r.counts == DetectionCounts(truePositives: 1, falsePositives: 1, falseNegatives: 0))
        #expect(close(r.wholeCorrectRatio, 2.0 / 3))
        #expect(close(r.countExactRatio, 2.0 / 3))
        #expect(r.counts.averageErrorRatio == 1)  // (1 + 0) / 1
        #expect(r.failures.map(\.stem) == ["debris"])
        // FPPI divides by all three images: the FP at .8 gives FPPI 1/3.
        #expect(r.curve.map(\.fppi) == [0, 1.0 / 3])
    }

    @Test("a set without any ground truth or predictions leaves every ratio undefined but WCR")
    func allEmpty() throws {
        let r = try evaluate([EvalImage(stem: "blank", truth: [], predictions: [])])
        #expect(r.wholeCorrectRatio == 1)
        #expect(r.countExactRatio == 1)
        #expect(r.counts.averageErrorRatio == nil)
        #expect(r.counts.precision == nil)
        #expect(r.counts.recall == nil)
        #expect(r.counts.f1 == nil)
        #expect(r.counts.accuracy == nil)
        #expect(r.meanAveragePrecision == nil)
        #expect(r.logAverageMissRate == nil)
        #expect(try evaluate([]).wholeCorrectRatio == nil)
    }

    @Test("an image without predictions misses every chromosome")
    func imageWithoutPredictions() throws {
        let image = EvalImage(stem: "none", truth: [box(0, 0, 10, 10), box(20, 0, 10, 10)], predictions: [])
        let r = try evaluate([image])
        #expect(r.counts == DetectionCounts(truePositives: 0, falsePositives: 0, falseNegatives: 2))
        #expect(r.counts.precision == nil)
        #expect(r.counts.recall == 0)
        #expect(r.counts.f1 == 0)
        #expect(r.counts.averageErrorRatio == 1)
        #expect(r.meanAveragePrecision == 0)
        #expect(r.logAverageMissRate == 1)
        #expect(r.missRateSamples.allSatisfy { $0.missRate == 1 })
    }

    @Test("detections below the score threshold are not counted but still enter mAP")
    func scoreThreshold() throws {
        let g = box(0, 0, 10, 10)
        let image = EvalImage(stem: "faint", truth: [g], predictions: [det(g, 0.4)])
        let r = try evaluate([image])
        #expect(r.counts == DetectionCounts(truePositives: 0, falsePositives: 0, falseNegatives: 1))
        #expect(r.images[0].predictedCount == 0)
        #expect(r.meanAveragePrecision == 1)
        let low = try evaluate([image], options: EvalOptions(scoreThreshold: 0.4))  // inclusive
        #expect(low.counts.truePositives == 1)
    }

    @Test("thresholds out of range are refused")
    func invalidOptions() {
        #expect(throws: EvalError.self) { try evaluate([], options: EvalOptions(iouThreshold: 0)) }
        #expect(throws: EvalError.self) { try evaluate([], options: EvalOptions(iouThreshold: 1.5)) }
        #expect(throws: EvalError.self) { try evaluate([], options: EvalOptions(scoreThreshold: .nan)) }
        #expect(throws: EvalError.self) { try evaluate([], options: EvalOptions(overlapTau: 0)) }
    }
}

@Suite("Overlapping chromosomes (Eq. 14)")
struct OverlapSubsetTests {
    @Test("a chromosome is in S_o when the other boxes cover at least tau of it, summed")
    func subsetMembership() {
        // G0 = [0,0,10,10]: G1 covers 50/100 of it (= tau, inclusive) -> in.
        // G1 = [5,0,15,10]: G0 covers 50/100, G3 covers 10/100 -> .6 -> in.
        // G2 far away -> out. G3 = [14,0,24,10]: G1 covers 10/100 -> out.
        let truth = [box(0, 0, 10, 10), box(5, 0, 10, 10), box(100, 100, 10, 10), box(14, 0, 10, 10)]
        #expect(overlappingChromosomes(truth, tau: 0.5) == [true, true, false, false])
        #expect(overlappingChromosomes(truth, tau: 0.55) == [false, true, false, false])
        #expect(overlappingChromosomes([box(0, 0, 0, 5), box(0, 0, 10, 10)]) == [false, false])
    }

    @Test("Table 5 figures count only chromosomes of S_o and predictions assigned to them")
    func subsetCounts() throws {
        // S_o = {G0, G1} as above; G2 isolated. Predictions: G0 exact (.9) TP in S_o; a duplicate of G0 (.8) FP in
        // S_o; G2 exact (.9) TP outside; a FP touching G2 only (IoU .2) outside; nothing for G1 -> FN in S_o.
        let truth = [box(0, 0, 10, 10), box(5, 0, 10, 10), box(100, 100, 10, 10)]
        let predictions = [
            det(truth[0], 0.9), det(box(-1, 0, 10, 10), 0.8), det(truth[2], 0.9), det(box(108, 100, 10, 10), 0.7),
        ]
        let r = try evaluate([EvalImage(stem: "o", truth: truth, predictions: predictions)])
        #expect(r.counts == DetectionCounts(truePositives: 2, falsePositives: 2, falseNegatives: 1))
        #expect(r.overlapCounts == DetectionCounts(truePositives: 1, falsePositives: 1, falseNegatives: 1))
        #expect(r.overlapCounts.precision == 0.5)
        #expect(r.overlapCounts.recall == 0.5)
        #expect(close(r.overlapCounts.accuracy, 1.0 / 3))
    }
}

@Suite("mAP and MR^-2")
struct CurveMetricTests {
    /// Ten images with one chromosome each (10 truths). Scores, highest first:
    ///   .9: TPs on images 0-4           -> TP 5, FP 0: recall .5, precision 1,    FPPI 0
    ///   .8: a FP on image 0             -> TP 5, FP 1: recall .5, precision 5/6,  FPPI .1
    ///   .7: TPs on images 5-7           -> TP 8, FP 1: recall .8, precision 8/9,  FPPI .1
    ///   .6: FPs on images 1 and 9       -> TP 8, FP 3: recall .8, precision 8/11, FPPI .3
    ///   .5: TP on image 8               -> TP 9, FP 3: recall .9, precision 9/12, FPPI .3
    /// Image 9's chromosome is never found.
    func tenImages() -> [EvalImage] {
        (0..<10).map { i in
            let g = box(0, 0, 10, 10)
            var predictions: [Detection] = []
            switch i {
            case 0...4: predictions.append(det(g, 0.9))
            case 5...7: predictions.append(det(g, 0.7))
            case 8: predictions.append(det(g, 0.5))
            default: break
            }
            if i == 0 { predictions.append(det(box(50, 50, 10, 10), 0.8)) }
            if i == 1 || i == 9 { predictions.append(det(box(50, 50, 10, 10), 0.6)) }
            return EvalImage(stem: "img\(i)", truth: [g], predictions: predictions)
        }
    }

    @Test("mAP is the all-point interpolated area under the precision-recall curve, worked by hand")
    func meanAveragePrecisionByHand() throws {
        let r = try evaluate(tenImages())
        #expect(r.curve.map(\.recall) == [0.5, 0.5, 0.8, 0.8, 0.9])
        // AP = sum_k (r_k - r_(k-1)) * max_{j >= k} p_j
        //    = .5 * max(1, 5/6, 8/9, 8/11, 3/4) + 0 + .3 * max(8/9, 8/11, 3/4) + 0 + .1 * 3/4
        //    = .5 + .3 * 8/9 + .075 = .841666...
        // (the interpolation lifts nothing here but takes the max 8/9 over the later precisions).
        #expect(close(r.meanAveragePrecision, 0.5 + 0.3 * 8 / 9 + 0.075))
        // Threshold .5 takes everything: TP 9, FP 3, FN 1.
        #expect(r.counts == DetectionCounts(truePositives: 9, falsePositives: 3, falseNegatives: 1))
        #expect(close(r.wholeCorrectRatio, 0.7))  // images 2-8
        #expect(close(r.countExactRatio, 0.8))  // also image 9: one FP in place of its missed chromosome
        #expect(close(r.counts.averageErrorRatio, 0.4))
        #expect(close(r.counts.f1, 18.0 / 22))
        #expect(r.failures.map(\.stem) == ["img9", "img0", "img1"])
    }

    @Test("the interpolation envelope takes a later, higher precision")
    func envelope() {
        // Points (recall, precision): (.25, .5), (.5, 2/3). AP = .25 * 2/3 + .25 * 2/3 = 1/3: the first step gets
        // the later precision 2/3, not its own .5.
        let curve = [
            CurvePoint(score: 0.9, truePositives: 1, falsePositives: 1, recall: 0.25, precision: 0.5, fppi: 1),
            CurvePoint(score: 0.8, truePositives: 2, falsePositives: 1, recall: 0.5, precision: 2.0 / 3, fppi: 1),
        ]
        #expect(close(averagePrecision(curve), 1.0 / 3))
        #expect(averagePrecision([]) == 0)
    }

    @Test("MR^-2 samples the miss rate at the largest FPPI not above each of nine log-spaced rates")
    func missRateSampling() throws {
        let r = try evaluate(tenImages())
        // References 10^-2 ... 10^0 by quarter decades: .01 .0178 .0316 .0562 .1 .178 .316 .562 1.
        #expect(close(missRateReferenceFPPI[4], 0.1) && missRateReferenceFPPI[8] == 1)
        // FPPI 0 serves the first four (miss .5); FPPI .1 (<= .1, the last point there has recall .8) serves .1 and
        // .178 (miss .2); FPPI .3 serves .316, .562 and 1 (miss .1).
        let expected = [0.5, 0.5, 0.5, 0.5, 0.2, 0.2, 0.1, 0.1, 0.1]
        #expect(zip(r.missRateSamples.map(\.missRate), expected).allSatisfy { close($0, $1) })
        // exp(mean(log mr)) = (.5^4 * .2^2 * .1^3)^(1/9)
        #expect(close(r.logAverageMissRate, pow(pow(0.5, 4) * pow(0.2, 2) * pow(0.1, 3), 1.0 / 9)))
    }

    @Test("a reference FPPI below the curve's first point reads a miss rate of 1")
    func missRateBeforeTheCurve() {
        // First point at FPPI .02: references .01 and .0178 see nothing -> 1; the rest read .5.
        let curve = [
            CurvePoint(score: 0.9, truePositives: 1, falsePositives: 1, recall: 0.5, precision: 0.5, fppi: 0.02)
        ]
        let samples = missRateSamples(curve)
        #expect(samples.map(\.missRate) == [1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
        #expect(close(logAverageMissRate(samples), pow(0.5, 7.0 / 9)))
        // A miss rate of 0 is floored at 1e-10 before the log.
        let perfect = missRateReferenceFPPI.map { MissRateSample(fppi: $0, missRate: 0) }
        #expect(close(logAverageMissRate(perfect), 1e-10, tolerance: 1e-22))
    }
}
