import Foundation
import KaryoSupport
import Testing

@testable import KaryoNet

/// A direct (quadruple-loop) convolution to check the im2col + sgemm path against.
func referenceConv(_ x: Tensor, weight: Tensor, bias: [Float], stride: Int, padding: Int) -> Tensor {
    let (ci, h, w) = (x.shape[1], x.shape[2], x.shape[3])
    let (co, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    let oh = (h + 2 * padding - kh) / stride + 1
    let ow = (w + 2 * padding - kw) / stride + 1
    var out = Tensor(shape: [1, co, oh, ow])
    for o in 0..<co {
        for oy in 0..<oh {
            for ox in 0..<ow {
                var s = bias[o]
                for c in 0..<ci {
                    for ky in 0..<kh {
                        for kx in 0..<kw {
                            let iy = oy * stride - padding + ky
                            let ix = ox * stride - padding + kx
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            s += weight.data[((o * ci + c) * kh + ky) * kw + kx] * x.data[(c * h + iy) * w + ix]
                        }
                    }
                }
                out.data[(o * oh + oy) * ow + ox] = s
            }
        }
    }
    return out
}

func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SplitMix64(seed: seed)
    return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in rng.uniform() })
}

@Suite("KaryoNet layers")
struct LayerTests {
    @Test("a 3x3 convolution with padding 1 matches the hand-computed sums at the borders")
    func convPaddingByHand() {
        // 1 channel 3x3 input 1...9, all-ones kernel: each output is the sum of the in-image neighbourhood.
        let x = Tensor(shape: [1, 1, 3, 3], data: (1...9).map(Float.init))
        let conv = Conv2d(weight: Tensor(shape: [1, 1, 3, 3], value: 1), padding: 1)
        #expect(conv(x).data == [12, 21, 16, 27, 45, 33, 24, 39, 28])
    }

    @Test(
        "convolutions with stride and padding match a direct convolution",
        arguments: [
            (3, 1, 1), (3, 2, 1), (7, 2, 3), (1, 1, 0), (1, 2, 0), (3, 1, 0),
        ])
    func convMatchesDirect(kernel: Int, stride: Int, padding: Int) {
        let x = randomTensor([1, 3, 11, 9], seed: 1)
        let w = randomTensor([5, 3, kernel, kernel], seed: 2)
        let b = randomTensor([5], seed: 3)
        let conv = Conv2d(weight: w, bias: b, stride: stride, padding: padding)
        let expected = referenceConv(x, weight: w, bias: b.data, stride: stride, padding: padding)
        #expect(conv(x).relativeError(to: expected) < 1e-5)
        let fused = conv(x, relu: true, residual: expected)
        let want = Tensor(shape: expected.shape, data: expected.data.map { max(2 * $0, 0) })
        #expect(fused.relativeError(to: want) < 1e-5)
    }

    @Test("a convolution tiled over output rows gives the same result as one untiled product")
    func tilingBoundaries() {
        // k = 4 * 9 = 36 rows, 13 output columns: 8 << 20 floats would hold it whole, so force small tiles by
        // checking that every row-range split agrees with the whole.
        let x = randomTensor([1, 4, 13, 13], seed: 4)
        let w = randomTensor([6, 4, 3, 3], seed: 5)
        let conv = Conv2d(weight: w, stride: 1, padding: 1)
        let whole = conv(x)
        let k = 36
        let ow = 13
        let product = { (rows: Range<Int>) -> [Float] in
            var columns = [Float](repeating: .nan, count: k * rows.count * ow)
            x.data.withUnsafeBufferPointer { xp in
                columns.withUnsafeMutableBufferPointer { cp in
                    conv.im2col(xp.baseAddress!, h: 13, w: 13, outWidth: ow, rows: rows, into: cp.baseAddress!)
                }
            }
            var out = [Float](repeating: 0, count: 6 * rows.count * ow)
            for o in 0..<6 {
                for j in 0..<(rows.count * ow) {
                    var s: Float = 0
                    for kk in 0..<k { s += w.data[o * k + kk] * columns[kk * rows.count * ow + j] }
                    out[o * rows.count * ow + j] = s
                }
            }
            return out
        }
        for split in [1, 5, 12] {
            let top = product(0..<split)
            let bottom = product(split..<13)
            for o in 0..<6 {
                for j in 0..<(13 * ow) {
                    let v = j < split * ow ? top[o * split * ow + j] : bottom[o * (13 - split) * ow + j - split * ow]
                    #expect(abs(v - whole.data[o * 169 + j]) < 1e-4)
                }
            }
        }
    }

    @Test("a convolution larger than the im2col bound is computed in row tiles with the same result")
    func largeConvIsTiled() {
        // 64 channels x 9 = 576 rows; 200 x 160 output = 18.4M floats > 8M: three or more tiles.
        let x = randomTensor([1, 64, 200, 160], seed: 6)
        let w = randomTensor([2, 64, 3, 3], seed: 7)
        let conv = Conv2d(weight: w, padding: 1)
        #expect(Conv2d.maxColumnFloats / (576 * 160) < 200)
        let out = conv(x)
        // Spot-check rows on both sides of every tile boundary against direct sums.
        let rowsPerTile = Conv2d.maxColumnFloats / (576 * 160)
        for oy in [0, rowsPerTile - 1, rowsPerTile, 2 * rowsPerTile - 1, 2 * rowsPerTile, 199] {
            for ox in [0, 1, 80, 159] {
                var s: Float = 0
                for c in 0..<64 {
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let (iy, ix) = (oy - 1 + ky, ox - 1 + kx)
                            guard iy >= 0, iy < 200, ix >= 0, ix < 160 else { continue }
                            s += w.data[(c * 3 + ky) * 3 + kx] * x.data[(c * 200 + iy) * 160 + ix]
                        }
                    }
                }
                #expect(abs(out.data[oy * 160 + ox] - s) < 1e-3)
            }
        }
    }

    @Test("batch norm folded into a convolution equals the convolution followed by the norm")
    func batchNormFolding() {
        let x = randomTensor([1, 2, 5, 5], seed: 8)
        let w = randomTensor([3, 2, 3, 3], seed: 9)
        let gamma: [Float] = [1.5, 0.5, -2]
        let beta: [Float] = [0.1, -0.2, 0.3]
        let mean: [Float] = [0.2, -0.1, 0.05]
        let variance: [Float] = [0.9, 2.0, 0.3]
        let plain = Conv2d(weight: w, padding: 1)(x)
        let folded = Conv2d(weight: w, padding: 1)
            .foldingBatchNorm(gamma: gamma, beta: beta, mean: mean, variance: variance, eps: 1e-5)(x)
        var expected = plain
        for c in 0..<3 {
            for i in 0..<25 {
                let v = plain.data[c * 25 + i]
                expected.data[c * 25 + i] = (v - mean[c]) / (variance[c] + 1e-5).squareRoot() * gamma[c] + beta[c]
            }
        }
        #expect(folded.relativeError(to: expected) < 1e-5)
    }

    @Test("max pooling 3x3 stride 2 pad 1 never picks the padding, even for negative inputs")
    func maxPoolEdges() {
        let x = Tensor(shape: [1, 1, 4, 4], data: (0..<16).map { -Float($0) - 1 })
        let y = maxPool2d(x)
        #expect(y.shape == [1, 1, 2, 2])
        #expect(y.data == [-1, -2, -5, -6])
        let odd = maxPool2d(Tensor(shape: [1, 1, 5, 5], data: (0..<25).map(Float.init)))
        #expect(odd.shape == [1, 1, 3, 3])
        #expect(odd.data == [6, 8, 9, 16, 18, 19, 21, 23, 24])
    }

    @Test("max pooling equals the window maximum for other windows, strides, paddings and tiny planes")
    func maxPoolMatchesDirectMaximum() {
        var rng = SystemRandomNumberGenerator()
        for (kernel, stride, padding) in [(3, 2, 1), (2, 2, 0), (3, 1, 1), (5, 3, 2), (1, 1, 0)] {
            for (h, w) in [(1, 1), (2, 3), (7, 6), (9, 13)] where h + 2 * padding >= kernel && w + 2 * padding >= kernel
            {
                let x = Tensor(
                    shape: [1, 2, h, w], data: (0..<(2 * h * w)).map { _ in Float.random(in: -5...5, using: &rng) })
                let y = maxPool2d(x, kernel: kernel, stride: stride, padding: padding)
                let (oh, ow) = ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1)
                #expect(y.shape == [1, 2, oh, ow])
                var expected: [Float] = []
                for c in 0..<2 {
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            var m = -Float.infinity
                            for yy in (oy * stride - padding)..<(oy * stride - padding + kernel) where yy >= 0 && yy < h
                            {
                                for xx in (ox * stride - padding)..<(ox * stride - padding + kernel)
                                where xx >= 0 && xx < w {
                                    m = max(m, x.data[(c * h + yy) * w + xx])
                                }
                            }
                            expected.append(m)
                        }
                    }
                }
                #expect(y.data == expected, "kernel \(kernel) stride \(stride) padding \(padding) at \(h)x\(w)")
            }
        }
    }

    @Test("nearest upsampling repeats each value 2x2, and a size target uses floor(dst * in / out)")
    func nearestUpsample() {
        let x = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        #expect(upsampleNearest(x, height: 4, width: 4).data == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        // 3 -> 5 columns: floor(j * 0.6) = 0, 0, 1, 1, 2.
        let row = Tensor(shape: [1, 1, 1, 3], data: [7, 8, 9])
        #expect(upsampleNearest(row, height: 1, width: 5).data == [7, 7, 8, 8, 9])
    }

    @Test("a linear layer computes x W^T + b")
    func linear() {
        let layer = Linear(
            weight: Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]), bias: Tensor(shape: [2], data: [1, -100]))
        let y = layer(Tensor(shape: [2, 3], data: [1, 1, 1, 0, 1, 0]), relu: true)
        #expect(y.data == [7, 0, 3, 0])
    }

    @Test("top-k returns the largest values in descending order with ties broken by index")
    func topKSelection() {
        let values: [Float] = [3, 9, 1, 9, 5, 7, 2, 7, 8]
        let top = topK(count: values.count, k: 4) { values[$0] }
        #expect(top.map(\.0) == [1, 3, 8, 5])
        let all = topK(count: values.count, k: 20) { values[$0] }
        #expect(all.count == 9)
    }

    @Test("the SHA-256 of known strings matches the standard test vectors")
    func sha256Vectors() {
        #expect(sha256Hex(of: Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            sha256Hex(of: Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(sha256Hex(of: long) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}

@Suite("SHA-256 and weights files")
struct WeightsFileTests {
    @Test("hashing in uneven chunks gives the same digest as hashing at once")
    func incrementalHash() {
        let data = Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        var hasher = SHA256Hasher()
        data.withUnsafeBytes { raw in
            var offset = 0
            for size in [1, 63, 64, 65, 200, 607] {
                hasher.update(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + size)]))
                offset += size
            }
        }
        #expect(hasher.finalize() == sha256Hex(of: data))
    }

    @Test("a safetensors file on disk reads the same tensors as its bytes in memory, and hashes like them")
    func fileMatchesMemory() throws {
        let tensors = ["a": randomTensor([3, 5], seed: 11), "b": randomTensor([7], seed: 12)]
        let data = safeTensorsData(tensors)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "karyonet-\(UUID().uuidString).safetensors")
        try data.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try SafeTensorsFile(url: url)
        for (name, t) in tensors { #expect(try file.tensor(name, shape: t.shape) == t) }
        #expect(try sha256Hex(ofFileAt: url) == sha256Hex(of: data))
        #expect(throws: KaryoNetError.self) {
            try SafeTensorsFile(url: url.appendingPathExtension("missing"))
        }
    }
}
