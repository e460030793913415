import Testing

@testable import KaryoNet

@Suite("Winograd F(2x2, 3x3) convolution")
struct WinogradTests {
    @Test(
        "Winograd matches a direct convolution whether or not the last tile is full, with bias, residual and ReLU",
        arguments: [(1, 1), (1, 2), (2, 2), (3, 5), (4, 4), (8, 8), (11, 9), (13, 16), (17, 6)])
    func matchesDirect(h: Int, w: Int) {
        for (inChannels, outChannels) in [(3, 5), (33, 34)] {
            let x = randomTensor([1, inChannels, h, w], seed: 11)
            let weight = randomTensor([outChannels, inChannels, 3, 3], seed: 12)
            let bias = randomTensor([outChannels], seed: 13)
            let conv = Conv2d(weight: weight, bias: bias, padding: 1, algorithm: .winograd)
            let expected = referenceConv(x, weight: weight, bias: bias.data, stride: 1, padding: 1)
            #expect(conv(x).relativeError(to: expected) < 1e-5, "\(inChannels)->\(outChannels) at \(h)x\(w)")
            let residual = randomTensor(expected.shape, seed: 14)
            let fused = conv(x, relu: true, residual: residual)
            let want = Tensor(
                shape: expected.shape, data: zip(expected.data, residual.data).map { max($0 + $1, 0) })
            #expect(fused.relativeError(to: want) < 1e-5, "fused \(inChannels)->\(outChannels) at \(h)x\(w)")
            #expect(fused.data.contains(0) && fused.data.contains { $0 > 0 }, "ReLU must both clip and pass")
        }
    }

    @Test(
        "bands of one tile row give the same output as one band over the whole image",
    )
    func bandsAgree() {
        let (c, o, h, w) = (6, 7, 11, 10)
        let x = randomTensor([1, c, h, w], seed: 21)
        let weight = randomTensor([o, c, 3, 3], seed: 22)
        let bias = randomTensor([o], seed: 23).data
        let u = WinogradF2x2.transformWeights(weight.data, outChannels: o, inChannels: c)
        func run(bandFloats: Int) -> [Float] {
            var out = [Float](repeating: .nan, count: o * h * w)
            x.data.withUnsafeBufferPointer { xp in
                u.withUnsafeBufferPointer { up in
                    bias.withUnsafeBufferPointer { bp in
                        out.withUnsafeMutableBufferPointer { op in
                            WinogradF2x2.convolve(
                                input: xp.baseAddress!, h: h, w: w, inChannels: c, outChannels: o,
                                u: up.baseAddress!, bias: bp.baseAddress!, residual: nil, relu: false,
                                output: op.baseAddress!, bandFloats: bandFloats)
                        }
                    }
                }
            }
            return out
        }
        let whole = run(bandFloats: 1 << 20)
        let rowByRow = run(bandFloats: 1)
        #expect(!whole.contains { $0.isNaN })
        #expect(whole == rowByRow)
        let expected = referenceConv(x, weight: weight, bias: bias, stride: 1, padding: 1)
        #expect(Tensor(shape: [1, o, h, w], data: rowByRow).relativeError(to: expected) < 1e-5)
    }

    @Test("the preferred algorithm is Winograd only for wide 3x3 stride-1 padding-1 convolutions")
    func preferredAlgorithm() {
        func choice(_ kernel: Int, _ stride: Int, _ padding: Int, _ channels: Int) -> Conv2d.Algorithm {
            Conv2d.preferredAlgorithm(
                kernel: kernel, stride: stride, padding: padding, inChannels: channels, outChannels: channels)
        }
        #expect(choice(3, 1, 1, 256) == .winograd)
        #expect(choice(3, 1, 1, 128) == .winograd)
        #expect(choice(3, 2, 1, 256) == .im2col)
        #expect(choice(1, 1, 0, 256) == .im2col)
        #expect(choice(3, 1, 0, 256) == .im2col)
        #expect(choice(3, 1, 1, 64) == .winograd)
        #expect(choice(3, 1, 1, 32) == .winograd)
        #expect(choice(3, 1, 1, 16) == .im2col)
        #expect(
            Conv2d.preferredAlgorithm(kernel: 3, stride: 1, padding: 1, inChannels: 16, outChannels: 256) == .im2col)
    }

    @Test("folding batch norm into a Winograd convolution gives the im2col result")
    func foldedWinogradMatchesIm2col() {
        let (c, o) = (130, 128)
        let x = randomTensor([1, c, 7, 6], seed: 31)
        let weight = randomTensor([o, c, 3, 3], seed: 32)
        let gamma = randomTensor([o], seed: 33).data.map { $0 + 1.5 }
        let beta = randomTensor([o], seed: 34).data
        let mean = randomTensor([o], seed: 35).data
        let variance = randomTensor([o], seed: 36).data.map { $0 + 1.2 }
        let base = Conv2d(weight: weight, padding: 1, algorithm: .im2col)
        let winograd = base.foldingBatchNorm(gamma: gamma, beta: beta, mean: mean, variance: variance, eps: 1e-5)
        let im2col = base.foldingBatchNorm(
            gamma: gamma, beta: beta, mean: mean, variance: variance, eps: 1e-5, algorithm: .im2col)
        #expect(winograd.algorithm == .winograd)
        #expect(winograd(x, relu: true).relativeError(to: im2col(x, relu: true)) < 1e-5)
    }
}
