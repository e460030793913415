import Foundation
import KaryoImage
import Testing

@testable import KaryoNet

@Suite("Context rescoring (MODEL.md step 18)")
struct ContextRescorerTests {
    /// 40x40 white with one black bar x 10-20, y 10-14: darkness 1 on the bar, 0 elsewhere.
    let bar: [Float] = (0..<1600).map { i in (10..<14).contains(i / 40) && (10..<20).contains(i % 40) ? 0 : 255 }

    func candidate(_ x1: Double, _ x2: Double, score: Double, network: Double, embedding: Double)
        -> ContextRescorer.Candidate
    {
        ContextRescorer.Candidate(
            box: BoundingBox(x1: x1, y1: 10, x2: x2, y2: 14), score: score, networkScore: network,
            embedding: embedding)
    }

    @Test("the features of a box and its left half, hand-checked (Training/tests/test_rescore.py has the same case)")
    func featuresOfABoxAndItsHalf() {
        let x = ContextRescorer.features(
            [
                candidate(10, 20, score: 0.9, network: 0.95, embedding: 1),
                candidate(10, 15, score: 0.5, network: 0.8, embedding: 1.75),
            ], chromosomeWidth: 4, grey: bar, imageWidth: 40, imageHeight: 40)
        let (a, b) = (x[0], x[1])
        func near(_ u: Double, _ v: Double) -> Bool { abs(u - v) < 1e-9 }
        #expect(near(a[0], log(9)) && near(a[1], log(19)))
        #expect(near(a[2], log(10.0 / 4)) && near(a[3], 0))
        #expect(a[4] == 0 && a[5] == 0 && a[6] == 0 && near(a[7], log(1e-4 / (1 - 1e-4))) && a[8] == 0)
        #expect(near(a[9], 0.5), "IoU 20 / 40 with the half")
        #expect(near(a[10], 0.5) && a[11] == 0, "the half (score 0.5) lies inside; the box is half inside the half")
        #expect(near(a[12], 1) && near(a[13], 1) && near(a[14], 0))
        #expect(near(a[15], log1p(40.0 / 16)))
        #expect(near(b[2], log(5.0 / 4)))
        #expect(near(b[4], 0.5) && near(b[5], 1) && near(b[6], 0.5) && near(b[7], log(9)) && near(b[8], 0.75))
        #expect(b[9] == 0 && b[10] == 0 && b[11] == 0)
        #expect(near(b[14], 8.0 / (9 * 8 - 20)), "the 2 px ring around the half holds 8 pixels of the other half")
    }

    @Test("a box's features do not change with a box elsewhere in the image")
    func featuresAreLocal() {
        let alone = ContextRescorer.features(
            [candidate(10, 20, score: 0.9, network: 0.9, embedding: 0)], chromosomeWidth: 4, grey: bar,
            imageWidth: 40, imageHeight: 40)
        var far = candidate(30, 36, score: 0.4, network: 0.4, embedding: 0)
        far.box = BoundingBox(x1: 30, y1: 30, x2: 36, y2: 34)
        let both = ContextRescorer.features(
            [candidate(10, 20, score: 0.9, network: 0.9, embedding: 0), far], chromosomeWidth: 4, grey: bar,
            imageWidth: 40, imageHeight: 40)
        #expect(zip(alone[0], both[0]).allSatisfy { abs($0 - $1) < 1e-12 })
    }

    @Test("probabilities: standardized features through the three layers and a sigmoid, hand-checked")
    func probabilities() throws {
        var mean = [Float](repeating: 0, count: 16)
        var std = [Float](repeating: 1, count: 16)
        (mean[0], std[0]) = (1, 2)
        var picksFirst = [Float](repeating: 0, count: 16)
        picksFirst[0] = 1
        let data = safeTensorsData([
            "mean": Tensor(shape: [16], data: mean), "std": Tensor(shape: [16], data: std),
            "layers.0.weight": Tensor(shape: [1, 16], data: picksFirst), "layers.0.bias": Tensor(shape: [1], data: [0]),
            "layers.2.weight": Tensor(shape: [1, 1], data: [1]), "layers.2.bias": Tensor(shape: [1], data: [0]),
            "layers.4.weight": Tensor(shape: [1, 1], data: [2]), "layers.4.bias": Tensor(shape: [1], data: [-1]),
        ])
        let rescorer = try ContextRescorer(
            config: ModelConfig.Rescore(hidden: 1, features: 16, model_sha256: ""),
            weights: try SafeTensorsFile(data: data, path: "rescore.safetensors"))
        var high = [Double](repeating: 0, count: 16)
        high[0] = 5  // (5 - 1) / 2 = 2 -> 2 -> 2 -> 2 * 2 - 1 = 3
        var low = high
        low[0] = -3  // -2 -> 0 -> 0 -> -1
        let p = rescorer.probabilities([high, low])
        #expect(abs(p[0] - 1 / (1 + exp(-3.0))) < 1e-6)
        #expect(abs(p[1] - 1 / (1 + exp(1.0))) < 1e-6)
        #expect(rescorer.probabilities([]).isEmpty)
    }
}
