import COpenBLAS

/// A 2-d convolution (groups 1, dilation 1) computed as im2col + `cblas_sgemm`, or with Winograd's F(2x2, 3x3)
/// for 3x3 stride-1 convolutions, with an optional bias and a fused epilogue (residual add, ReLU).
///
/// Weights keep PyTorch's OIHW layout, which is already the `[out, in * kh * kw]` row-major matrix the product
/// needs; the Winograd filter transform is computed once, at load: nothing is repacked per image. Batch norm is
/// folded in at load (`foldingBatchNorm`).
public struct Conv2d: Sendable {
    /// How the convolution is computed.
    public enum Algorithm: String, Sendable, CaseIterable {
        /// Unfold the input patches (in bounded tiles) and multiply by the weight matrix.
        case im2col
        /// Winograd F(2x2, 3x3): 2.25x fewer multiplications; 3x3 kernels, stride 1, padding 1 only.
        case winograd
    }

    /// Output channels.
    public let outChannels: Int
    /// Input channels.
    public let inChannels: Int
    /// Kernel height and width.
    public let kernel: (h: Int, w: Int)
    /// Stride (same in both directions).
    public let stride: Int
    /// Zero padding (same on all sides).
    public let padding: Int
    /// `[outChannels, inChannels * kh * kw]`, row-major.
    public let weight: [Float]
    /// One bias per output channel (zeros when the layer has none).
    public let bias: [Float]
    /// The algorithm this convolution runs.
    public let algorithm: Algorithm
    /// The Winograd filter transform (16 `[out, in]` matrices) when `algorithm` is `.winograd`, else empty.
    private let winogradWeight: [Float]

    /// Upper bound on the im2col buffer, in floats (32 MB).
    static let maxColumnFloats = 8 << 20

    /// Creates a convolution from a PyTorch weight `[out, in, kh, kw]` and an optional bias `[out]`.
    ///
    /// `algorithm` defaults to the faster one for the shape (`Conv2d.preferredAlgorithm`); asking for
    /// a Winograd algorithm for a shape it cannot compute is a programming error.
    public init(weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0, algorithm: Algorithm? = nil) {
        precondition(weight.shape.count == 4, "conv weight must be 4-d")
        outChannels = weight.shape[0]
        inChannels = weight.shape[1]
        kernel = (weight.shape[2], weight.shape[3])
        self.stride = stride
        self.padding = padding
        self.weight = weight.data
        self.bias = bias?.data ?? [Float](repeating: 0, count: outChannels)
        let chosen =
            algorithm
            ?? Conv2d.preferredAlgorithm(
                kernel: kernel.h, stride: stride, padding: padding, inChannels: inChannels, outChannels: outChannels)
        precondition(
            chosen == .im2col || Conv2d.fitsWinograd(kernel: kernel, stride: stride, padding: padding),
            "Winograd needs a 3x3 kernel, stride 1, padding 1")
        self.algorithm = chosen
        winogradWeight =
            chosen == .winograd
            ? WinogradF2x2.transformWeights(weight.data, outChannels: outChannels, inChannels: inChannels) : []
    }

    /// Winograd F(2x2, 3x3) for 3x3 stride-1 padding-1 convolutions with at least `winogradMinChannels` channels
    /// in and out, im2col otherwise (the measurements behind the choice: Benchmarks/README.md, "Design choices").
    public static func preferredAlgorithm(kernel: Int, stride: Int, padding: Int, inChannels: Int, outChannels: Int)
        -> Algorithm
    {
        fitsWinograd(kernel: (kernel, kernel), stride: stride, padding: padding)
            && min(inChannels, outChannels) >= winogradMinChannels ? .winograd : .im2col
    }

    /// Whether Winograd F(2x2, 3x3) can compute this shape: a 3x3 kernel, stride 1, padding 1.
    private static func fitsWinograd(kernel: (h: Int, w: Int), stride: Int, padding: Int) -> Bool {
        kernel == (3, 3) && stride == 1 && padding == 1
    }

    /// The fewest input and output channels for which `preferredAlgorithm` picks Winograd.
    static let winogradMinChannels = 32

    /// This convolution followed by an inference-mode batch norm, folded into one convolution:
    /// `w' = w * gamma / sqrt(var + eps)`, `b' = (b - mean) * gamma / sqrt(var + eps) + beta`.
    /// `algorithm` is the folded convolution's (default: the preferred one for the shape).
    public func foldingBatchNorm(
        gamma: [Float], beta: [Float], mean: [Float], variance: [Float], eps: Float, algorithm: Algorithm? = nil
    ) -> Conv2d {
        var foldedWeight = weight
        var foldedBias = bias
        let k = inChannels * kernel.h * kernel.w
        for o in 0..<outChannels {
            let scale = gamma[o] / (variance[o] + eps).squareRoot()
            for i in 0..<k { foldedWeight[o * k + i] = weight[o * k + i] * scale }
            foldedBias[o] = (bias[o] - mean[o]) * scale + beta[o]
        }
        return Conv2d(
            weight: Tensor(shape: [outChannels, inChannels, kernel.h, kernel.w], data: foldedWeight),
            bias: Tensor(shape: [outChannels], data: foldedBias), stride: stride, padding: padding,
            algorithm: algorithm)
    }

    /// Output height and width for an input of `h` x `w`.
    public func outputSize(h: Int, w: Int) -> (h: Int, w: Int) {
        ((h + 2 * padding - kernel.h) / stride + 1, (w + 2 * padding - kernel.w) / stride + 1)
    }

    /// Multiply-adds x 2 for an input of `h` x `w` (the FLOP count `karyocount bench` reports).
    public func flops(h: Int, w: Int) -> Double {
        let o = outputSize(h: h, w: w)
        return 2 * Double(outChannels) * Double(inChannels * kernel.h * kernel.w) * Double(o.h * o.w)
    }

    /// Applies the convolution to a `[1, inChannels, h, w]` tensor; adds `residual` (same shape as the output)
    /// before the optional ReLU.
    public func callAsFunction(_ x: Tensor, relu: Bool = false, residual: Tensor? = nil) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[0] == 1, "conv expects a [1, C, H, W] tensor")
        precondition(x.shape[1] == inChannels, "conv expects \(inChannels) channels, got \(x.shape[1])")
        let (h, w) = (x.shape[2], x.shape[3])
        let (oh, ow) = outputSize(h: h, w: w)
        let n = oh * ow
        if let residual {
            precondition(residual.shape == [1, outChannels, oh, ow], "residual shape \(residual.shape) mismatch")
        }
        var out = Tensor(uninitializedShape: [1, outChannels, oh, ow])
        if algorithm == .winograd {
            winogradWeight.withUnsafeBufferPointer { up in
                bias.withUnsafeBufferPointer { bp in
                    x.data.withUnsafeBufferPointer { xp in
                        out.data.withUnsafeMutableBufferPointer { op in
                            withOptionalPointer(residual) { rp in
                                WinogradF2x2.convolve(
                                    input: xp.baseAddress!, h: h, w: w, inChannels: inChannels,
                                    outChannels: outChannels, u: up.baseAddress!, bias: bp.baseAddress!,
                                    residual: rp, relu: relu, output: op.baseAddress!)
                            }
                        }
                    }
                }
            }
            return out
        }
        let k = inChannels * kernel.h * kernel.w
        let m = outChannels
        weight.withUnsafeBufferPointer { wp in
            x.data.withUnsafeBufferPointer { xp in
                out.data.withUnsafeMutableBufferPointer { op in
                    let a = wp.baseAddress!
                    let c = op.baseAddress!
                    if kernel.h == 1 && kernel.w == 1 && stride == 1 && padding == 0 {
                        cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k),
                            xp.baseAddress!, Int32(n), 0, c, Int32(n))
                        return
                    }
                    let rowsPerTile = max(1, min(oh, Conv2d.maxColumnFloats / max(1, k * ow)))
                    Scratch.withFloats(k * rowsPerTile * ow) { columns in
                        var r0 = 0
                        while r0 < oh {
                            let rows = min(rowsPerTile, oh - r0)
                            let cols = rows * ow
                            im2col(xp.baseAddress!, h: h, w: w, outWidth: ow, rows: r0..<(r0 + rows), into: columns)
                            cblas_sgemm(
                                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(cols), Int32(k), 1, a,
                                Int32(k), columns, Int32(cols), 0, c + r0 * ow, Int32(n))
                            r0 += rows
                        }
                    }
                }
            }
        }
        applyEpilogue(&out, residual: residual, relu: relu)
        return out
    }

    /// Adds the bias per channel and the residual, then applies ReLU, in parallel over channels.
    private func applyEpilogue(_ out: inout Tensor, residual: Tensor?, relu: Bool) {
        let plane = out.shape[2] * out.shape[3]
        bias.withUnsafeBufferPointer { bp in
            out.data.withUnsafeMutableBufferPointer { op in
                withOptionalPointer(residual) { rp in
                    let o = op.baseAddress!
                    parallelChunks(outChannels) { channels in
                        for ch in channels {
                            let b = bp[ch]
                            let p = o + ch * plane
                            if let r = rp.map({ $0 + ch * plane }) {
                                if relu {
                                    for i in 0..<plane { p[i] = max(p[i] + b + r[i], 0) }
                                } else {
                                    for i in 0..<plane { p[i] += b + r[i] }
                                }
                            } else if relu {
                                for i in 0..<plane { p[i] = max(p[i] + b, 0) }
                            } else if b != 0 {
                                for i in 0..<plane { p[i] += b }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Unfolds the input patches that produce output rows `rows` into `[k, rows.count * outWidth]` columns,
    /// `k = (ci * kh + ky) * kw + kx` (PyTorch's weight order), zero outside the padded image.
    func im2col(
        _ input: UnsafePointer<Float>, h: Int, w: Int, outWidth ow: Int, rows: Range<Int>,
        into columns: UnsafeMutablePointer<Float>
    ) {
        let (kh, kw, s, pad) = (kernel.h, kernel.w, stride, padding)
        let cols = rows.count * ow
        let kTotal = inChannels * kh * kw
        let chunk = max(1, (kTotal + parallelWidth - 1) / parallelWidth)
        parallelFor((kTotal + chunk - 1) / chunk) { part in
            for kIndex in (part * chunk)..<min(kTotal, (part + 1) * chunk) {
                let kx = kIndex % kw
                let ky = (kIndex / kw) % kh
                let ci = kIndex / (kw * kh)
                let plane = input + ci * h * w
                var dst = columns + kIndex * cols
                // Output columns whose input column ix = ox * s - pad + kx lies inside [0, w).
                let oxLo = min(ow, max(0, (pad - kx + s - 1) / s))
                let hiNumerator = w - 1 + pad - kx
                let oxHi = hiNumerator < 0 ? oxLo : max(oxLo, min(ow, hiNumerator / s + 1))
                for oy in rows {
                    let iy = oy * s - pad + ky
                    if iy < 0 || iy >= h {
                        dst.update(repeating: 0, count: ow)
                    } else {
                        let src = plane + iy * w
                        if oxLo > 0 { dst.update(repeating: 0, count: oxLo) }
                        if s == 1 {
                            (dst + oxLo).update(from: src + (oxLo - pad + kx), count: oxHi - oxLo)
                        } else {
                            var ix = oxLo * s - pad + kx
                            for ox in oxLo..<oxHi {
                                dst[ox] = src[ix]
                                ix += s
                            }
                        }
                        if oxHi < ow { (dst + oxHi).update(repeating: 0, count: ow - oxHi) }
                    }
                    dst += ow
                }
            }
        }
    }
}
