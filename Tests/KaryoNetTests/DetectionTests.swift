import Foundation
import Testing

@testable import KaryoNet

@Suite("RoIAlign, anchors, box coding and NMS")
struct DetectionTests {
    @Test("RoIAlign with aligned=True samples bilinearly at half-pixel-shifted points")
    func roiAlignBilinear() {
        // f(y, x) = 10 y + x is linear, so every interior bilinear sample and every bin mean is exact.
        var f = Tensor(shape: [1, 1, 8, 8])
        for y in 0..<8 {
            for x in 0..<8 { f.data[y * 8 + x] = Float(10 * y + x) }
        }
        // Box [1, 1, 4.5, 4.5] at scale 1: x0 = 0.5, bin 0.5 wide, samples at 0.5 + pw*0.5 + {0.125, 0.375}.
        let out = roiAlign(f, boxes: [Box(1, 1, 4.5, 4.5)], outputSize: 7, samplingRatio: 2, spatialScale: 1)
        #expect(out.shape == [1, 1, 7, 7])
        for ph in 0..<7 {
            for pw in 0..<7 {
                let y = 0.5 + Float(ph) * 0.5 + 0.25
                let x = 0.5 + Float(pw) * 0.5 + 0.25
                #expect(abs(out.data[ph * 7 + pw] - (10 * y + x)) < 1e-4)
            }
        }
    }

    @Test("RoIAlign clamps samples in [-1, 0) to the first pixel and zeroes samples beyond -1")
    func roiAlignBoundary() {
        let f = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        // Sample at (y, x) = (-0.5, -0.5): clamped to (0, 0) -> 1. Sample at (-1.5, ...) -> 0.
        var offsets = [Int](repeating: 0, count: 4)
        var weights = [Float](repeating: 0, count: 4)
        bilinearTaps(y: -0.5, x: -0.5, h: 2, w: 2, offsets: &offsets, weights: &weights, at: 0)
        #expect(zip(offsets, weights).map { f.data[$0] * $1 }.reduce(0, +) == 1)
        bilinearTaps(y: -1.5, x: 0.5, h: 2, w: 2, offsets: &offsets, weights: &weights, at: 0)
        #expect(weights == [0, 0, 0, 0])
        // At y = 1.5 >= H - 1 the row clamps to the last one: value = row 1 interpolated in x at 0.5 -> 3.5.
        bilinearTaps(y: 1.5, x: 0.5, h: 2, w: 2, offsets: &offsets, weights: &weights, at: 0)
        #expect(abs(zip(offsets, weights).map { f.data[$0] * $1 }.reduce(0, +) - 3.5) < 1e-6)
    }

    @Test("base anchors are ratio-major, size-minor and rounded half to even like torchvision")
    func baseAnchors() {
        let base = ModelConfig.baseAnchors(
            sizes: [32, 64, 96, 128], ratios: [0.2, 0.25, 1.0 / 3.0, 0.5, 1, 2, 3, 4, 5])
        #expect(base.count == 36)
        #expect(base[16] == [-16, -16, 16, 16])  // ratio 1, size 32
        #expect(base[19] == [-64, -64, 64, 64])  // ratio 1, size 128
        // ratio 0.25 (h/w), size 32: w = 64, h = 16.
        #expect(base[4] == [-32, -8, 32, 8])
    }

    @Test("decoding zero deltas returns the reference box, and dw is clamped at log(1000/16)")
    func boxDecode() {
        let ref = Box(10, 20, 50, 40)
        #expect(decodeBox(ref, 0, 0, 0, 0, weights: [1, 1, 1, 1], clip: 4.135) == ref)
        let shifted = decodeBox(ref, 1, 0, 0, 0, weights: [10, 10, 5, 5], clip: 4.135)
        #expect(abs(shifted.x1 - 14) < 1e-5 && abs(shifted.x2 - 54) < 1e-5)
        let wide = decodeBox(ref, 0, 0, 100, 0, weights: [1, 1, 1, 1], clip: Float(log(1000.0 / 16)))
        #expect(abs((wide.x2 - wide.x1) - 40 * 1000 / 16) < 0.1)
    }

    @Test("NMS drops a box overlapping a better one by more than the threshold and keeps one at exactly it")
    func plainNMS() {
        // Box 1 (best) and box 0 overlap with IoU exactly 0.6; box 3 overlaps box 0 by 0.5 and box 1 by 0.1.
        let boxes = [Box(0, 0, 10, 10), Box(0, 0, 10, 6), Box(50, 50, 60, 60), Box(0, 5, 10, 10)]
        let scores: [Float] = [0.9, 0.95, 0.5, 0.4]
        #expect(nonMaximumSuppression(boxes: boxes, scores: scores, threshold: 0.6) == [1, 0, 2, 3])
        #expect(nonMaximumSuppression(boxes: boxes, scores: scores, threshold: 0.55) == [1, 2, 3])
        // Box 3 overlaps only the suppressed box 0 by more than 0.45: a suppressed box suppresses nothing.
        #expect(nonMaximumSuppression(boxes: boxes, scores: scores, threshold: 0.45) == [1, 2, 3])
        let tie = nonMaximumSuppression(boxes: [Box(0, 0, 1, 1), Box(0, 0, 1, 1)], scores: [0.5, 0.5], threshold: 0.5)
        #expect(tie == [0])
    }

    @Test("Soft-NMS decays an overlapping box by exp(-iou^2 / sigma) instead of dropping it")
    func softNMSDecay() {
        let boxes = [Box(0, 0, 10, 10), Box(0, 0, 10, 5)]
        let out = softNMS(boxes: boxes, scores: [0.9, 0.8], sigma: 0.5)
        #expect(out.map(\.index) == [0, 1])
        #expect(abs(out[1].score - 0.8 * expf(-0.25 / 0.5)) < 1e-6)
    }

    @Test("EG-NMS decays an overlapping box with a distant embedding less than one with the same embedding")
    func embeddingGuidedDecay() {
        let boxes = [Box(0, 0, 10, 10), Box(0, 0, 10, 5)]
        let same = embeddingGuidedNMS(boxes: boxes, scores: [0.9, 0.8], embeddings: [1, 1])
        let apart = embeddingGuidedNMS(boxes: boxes, scores: [0.9, 0.8], embeddings: [1, 3])
        // d = 0: S = 1/(1+e^0.6); d = 2: S = 1/(1+e^-3.4). Decay exp(-0.5^(1.5+S) / 0.5).
        let s0 = 1 / (1 + expf(0.6))
        let s2 = 1 / (1 + expf(-3.4))
        #expect(abs(same[1].score - 0.8 * expf(-powf(0.5, 1.5 + s0) / 0.5)) < 1e-6)
        #expect(abs(apart[1].score - 0.8 * expf(-powf(0.5, 1.5 + s2) / 0.5)) < 1e-6)
        #expect(apart[1].score > same[1].score)
    }

    @Test("EG-NMS re-sorts after each decay, so a decayed box can fall behind a lower-scored one")
    func embeddingGuidedOrder() {
        let boxes = [Box(0, 0, 10, 10), Box(0, 0, 10, 9), Box(40, 40, 50, 50)]
        let out = embeddingGuidedNMS(boxes: boxes, scores: [0.9, 0.85, 0.6], embeddings: [0, 0, 0], limit: 2)
        #expect(out.map(\.index) == [0, 2])
    }

    @Test("the template masks follow Eq. 1: T_D peaks on the diagonal, T_C on the ring x^2 + y^2 = 5")
    func templateMasks() {
        let m = DeepACENetwork.templateMasks()
        #expect(m.count == 245)
        #expect(m[0 * 49 + 0 * 7 + 0] == 1)  // T_D at (0, 0): xr = yc
        #expect(abs(m[1 * 49 + 0 * 7 + 0] - expf(-36.0 / 3)) < 1e-9)  // T_TD at (0, 0): (xr + yc)^2 = 36
        #expect(m[2 * 49 + 5 * 7 + 3] == 1)  // T_H: column 3
        #expect(m[3 * 49 + 3 * 7 + 6] == 1)  // T_V: row 3
        #expect(m[4 * 49 + 4 * 7 + 5] == 1)  // T_C: xr = 1, yc = 2
    }
}
