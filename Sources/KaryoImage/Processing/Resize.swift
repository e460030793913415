extension GrayImage {
    /// Bilinear resize to `width x height` with half-pixel centres, computed exactly as PyTorch's
    /// `F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=False)`
    /// (same source coordinates, index clamping and weight order, in Float), so that the Swift engine and the
    /// Python trainer see the same pixels. No antialiasing: downscaling by more than 2x skips pixels, as PyTorch does.
    public func resized(width newWidth: Int, height newHeight: Int) -> GrayImage {
        precondition(newWidth > 0 && newHeight > 0, "target size must be positive")
        precondition(width > 0 && height > 0, "cannot resize an empty image")
        return resized(
            width: newWidth, height: newHeight,
            xScale: Float(width) / Float(newWidth), yScale: Float(height) / Float(newHeight))
    }

    /// Bilinear resize by `factor`, as PyTorch's `F.interpolate(x, scale_factor=factor, mode="bilinear",
    /// align_corners=False, antialias=False)` with `recompute_scale_factor` unset: the output is
    /// `floor(size * factor)` pixels and source coordinates step by `1 / factor` (not by in/out sizes).
    public func resized(scale factor: Double) -> GrayImage {
        precondition(factor > 0, "scale factor must be positive")
        let newWidth = Int((Double(width) * factor).rounded(.down))
        let newHeight = Int((Double(height) * factor).rounded(.down))
        precondition(newWidth > 0 && newHeight > 0, "scale factor leaves no pixels")
        let step = Float(1 / factor)
        return resized(width: newWidth, height: newHeight, xScale: step, yScale: step)
    }

    private func resized(width newWidth: Int, height newHeight: Int, xScale: Float, yScale: Float) -> GrayImage {
        let xs = LinearTaps(inputSize: width, outputSize: newWidth, scale: xScale)
        let ys = LinearTaps(inputSize: height, outputSize: newHeight, scale: yScale)
        let sourceWidth = width
        let count = newWidth * newHeight
        let pixels = [Float](unsafeUninitializedCapacity: count) { out, initialized in
            self.pixels.withUnsafeBufferPointer { src in
                xs.withPointers { x0, x1, wx0, wx1 in
                    for y in 0..<newHeight {
                        let row0 = src.baseAddress! + ys.index0[y] * sourceWidth
                        let row1 = src.baseAddress! + ys.index1[y] * sourceWidth
                        let wy0 = ys.weight0[y], wy1 = ys.weight1[y]
                        let dst = out.baseAddress! + y * newWidth
                        for x in 0..<newWidth {
                            let top = row0[x0[x]] * wx0[x] + row0[x1[x]] * wx1[x]
                            let bottom = row1[x0[x]] * wx0[x] + row1[x1[x]] * wx1[x]
                            dst[x] = top * wy0 + bottom * wy1
                        }
                    }
                }
            }
            initialized = count
        }
        return GrayImage(width: newWidth, height: newHeight, pixels: pixels)
    }
}

/// The two source indices and weights of each output position along one axis (PyTorch's
/// `area_pixel_compute_source_index` and `guard_index_and_lambda` for linear modes).
private struct LinearTaps {
    var index0: [Int] = []
    var index1: [Int] = []
    var weight0: [Float] = []
    var weight1: [Float] = []

    init(inputSize: Int, outputSize: Int, scale: Float) {
        for i in 0..<outputSize {
            var source = scale * (Float(i) + 0.5) - 0.5
            if source < 0 { source = 0 }
            let i0 = min(Int(source.rounded(.down)), inputSize - 1)
            let lambda = min(max(source - Float(i0), 0), 1)
            index0.append(i0)
            index1.append(i0 < inputSize - 1 ? i0 + 1 : i0)
            weight0.append(1 - lambda)
            weight1.append(lambda)
        }
    }

    func withPointers<R>(
        _ body: (UnsafePointer<Int>, UnsafePointer<Int>, UnsafePointer<Float>, UnsafePointer<Float>) -> R
    ) -> R {
        index0.withUnsafeBufferPointer { i0 in
            index1.withUnsafeBufferPointer { i1 in
                weight0.withUnsafeBufferPointer { w0 in
                    weight1.withUnsafeBufferPointer { w1 in
                        body(i0.baseAddress!, i1.baseAddress!, w0.baseAddress!, w1.baseAddress!)
                    }
                }
            }
        }
    }
}
