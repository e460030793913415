import COpenBLAS

/// Max pooling with a square window, stride and padding (padding never wins: it acts as -infinity),
/// as `torch.nn.MaxPool2d(kernel, stride, padding)`.
public func maxPool2d(_ x: Tensor, kernel: Int = 3, stride: Int = 2, padding: Int = 1) -> Tensor {
    let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
    let oh = (h + 2 * padding - kernel) / stride + 1
    let ow = (w + 2 * padding - kernel) / stride + 1
    // Output columns whose window lies wholly inside the row; the others are clipped (padding is -inf).
    let interiorLo = min(ow, (padding + stride - 1) / stride)
    let interiorHi = max(interiorLo, min(ow, (w - kernel + padding) / stride + 1))
    var out = Tensor(uninitializedShape: [1, c, oh, ow])
    x.data.withUnsafeBufferPointer { xp in
        out.data.withUnsafeMutableBufferPointer { op in
            let (src, dst) = (xp.baseAddress!, op.baseAddress!)
            parallelFor(c) { ch in
                // Max is separable: first down the window's rows (contiguous, vectorized), then along its columns.
                let columnMax = UnsafeMutablePointer<Float>.allocate(capacity: w)
                defer { columnMax.deallocate() }
                let plane = src + ch * h * w
                for oy in 0..<oh {
                    let rows = max(0, oy * stride - padding)..<min(h, oy * stride - padding + kernel)
                    columnMax.update(from: plane + rows.lowerBound * w, count: w)
                    for y in rows.dropFirst() {
                        let row = plane + y * w
                        for i in 0..<w { columnMax[i] = max(columnMax[i], row[i]) }
                    }
                    let o = dst + (ch * oh + oy) * ow
                    for ox in interiorLo..<interiorHi { o[ox] = columnMax[ox &* stride &- padding] }
                    for kx in 1..<kernel {
                        for ox in interiorLo..<interiorHi {
                            o[ox] = max(o[ox], columnMax[ox &* stride &- padding &+ kx])
                        }
                    }
                    func clipped(_ ox: Int) -> Float {
                        var m = -Float.infinity
                        for xx in max(0, ox * stride - padding)..<min(w, ox * stride - padding + kernel) {
                            m = max(m, columnMax[xx])
                        }
                        return m
                    }
                    for ox in 0..<interiorLo { o[ox] = clipped(ox) }
                    for ox in interiorHi..<ow { o[ox] = clipped(ox) }
                }
            }
        }
    }
    return out
}

/// Nearest-neighbour resize to `outHeight` x `outWidth`, as `F.interpolate(x, size=(oh, ow), mode="nearest")`:
/// source index `min(floor(dst * (in / out)), in - 1)` computed in Float32 like PyTorch's CPU kernel.
public func upsampleNearest(_ x: Tensor, height oh: Int, width ow: Int) -> Tensor {
    let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
    let scaleY = Float(h) / Float(oh)
    let scaleX = Float(w) / Float(ow)
    return upsampleNearest(x, height: oh, width: ow, scaleY: scaleY, scaleX: scaleX, c: c, h: h, w: w)
}

private func upsampleNearest(
    _ x: Tensor, height oh: Int, width ow: Int, scaleY: Float, scaleX: Float, c: Int, h: Int, w: Int
) -> Tensor {
    var out = Tensor(uninitializedShape: [1, c, oh, ow])
    let xIndex = (0..<ow).map { min(Int((Float($0) * scaleX).rounded(.down)), w - 1) }
    let yIndex = (0..<oh).map { min(Int((Float($0) * scaleY).rounded(.down)), h - 1) }
    x.data.withUnsafeBufferPointer { xp in
        out.data.withUnsafeMutableBufferPointer { op in
            let (src, dst) = (xp.baseAddress!, op.baseAddress!)
            parallelFor(c) { ch in
                for oy in 0..<oh {
                    let s = src + ch * h * w + yIndex[oy] * w
                    let d = dst + (ch * oh + oy) * ow
                    for ox in 0..<ow { d[ox] = s[xIndex[ox]] }
                }
            }
        }
    }
    return out
}

/// Element-wise `a + b` (same shapes).
public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape == b.shape, "add: shapes differ \(a.shape) vs \(b.shape)")
    var out = a
    out.data.withUnsafeMutableBufferPointer { op in
        b.data.withUnsafeBufferPointer { bp in
            let (o, s) = (op.baseAddress!, bp.baseAddress!)
            parallelChunks(a.count) { r in
                for i in r { o[i] += s[i] }
            }
        }
    }
    return out
}

/// Element-wise `max(x, 0)`.
public func relu(_ x: Tensor) -> Tensor {
    var out = x
    out.data.withUnsafeMutableBufferPointer { op in
        let o = op.baseAddress!
        parallelChunks(x.count) { r in
            for i in r { o[i] = max(o[i], 0) }
        }
    }
    return out
}

/// A fully connected layer `y = x W^T + b`, as `torch.nn.Linear`; weight `[out, in]`.
public struct Linear: Sendable {
    /// Output features.
    public let outFeatures: Int
    /// Input features.
    public let inFeatures: Int
    /// `[out, in]`, row-major (PyTorch's layout).
    public let weight: [Float]
    /// `[out]`.
    public let bias: [Float]

    /// Creates the layer from PyTorch's `weight [out, in]` and `bias [out]`.
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.shape.count == 2, "linear weight must be 2-d")
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
        self.weight = weight.data
        self.bias = bias?.data ?? [Float](repeating: 0, count: weight.shape[0])
    }

    /// Applies the layer to `[rows, in]`, giving `[rows, out]`; optional ReLU.
    public func callAsFunction(_ x: Tensor, relu: Bool = false) -> Tensor {
        let rows = x.count / inFeatures
        precondition(rows * inFeatures == x.count, "linear expects \(inFeatures) features per row")
        var out = Tensor(uninitializedShape: [rows, outFeatures])
        out.data.withUnsafeMutableBufferPointer { op in
            let o = op.baseAddress!
            for r in 0..<rows { (o + r * outFeatures).update(from: bias, count: outFeatures) }
            guard rows > 0 else { return }
            x.data.withUnsafeBufferPointer { xp in
                weight.withUnsafeBufferPointer { wp in
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(inFeatures), 1,
                        xp.baseAddress!, Int32(inFeatures), wp.baseAddress!, Int32(inFeatures), 1, o,
                        Int32(outFeatures))
                }
            }
            if relu {
                for i in 0..<(rows * outFeatures) { o[i] = max(o[i], 0) }
            }
        }
        return out
    }
}
