/// RoIAlign with `aligned=True` (Mask R-CNN, torchvision's `roi_align`; MODEL.md step 12): for each box, an
/// `outputSize` x `outputSize` grid of bins, each the mean of `samplingRatio`^2 bilinear samples of `features`
/// (`[1, C, H, W]`). Returns `[K, C, outputSize, outputSize]`. Boxes are in input pixels; `spatialScale` maps them
/// onto the feature map.
public func roiAlign(
    _ features: Tensor, boxes: [Box], outputSize: Int = 7, samplingRatio: Int = 2, spatialScale: Float
) -> Tensor {
    let (c, h, w) = (features.shape[1], features.shape[2], features.shape[3])
    let bins = outputSize * outputSize
    let grid = samplingRatio
    let count = Float(max(grid * grid, 1))
    var out = Tensor(uninitializedShape: [boxes.count, c, outputSize, outputSize])
    features.data.withUnsafeBufferPointer { fp in
        out.data.withUnsafeMutableBufferPointer { op in
            let (src, dst) = (fp.baseAddress!, op.baseAddress!)
            parallelFor(boxes.count) { k in
                let box = boxes[k]
                let x0 = box.x1 * spatialScale - 0.5
                let y0 = box.y1 * spatialScale - 0.5
                let bw = (box.x2 * spatialScale - 0.5 - x0) / Float(outputSize)
                let bh = (box.y2 * spatialScale - 0.5 - y0) / Float(outputSize)
                // The four neighbours and weights of every sample, computed once for all channels.
                var offsets = [Int](repeating: 0, count: bins * grid * grid * 4)
                var weights = [Float](repeating: 0, count: bins * grid * grid * 4)
                var s = 0
                for ph in 0..<outputSize {
                    for pw in 0..<outputSize {
                        for iy in 0..<grid {
                            let y = y0 + Float(ph) * bh + (Float(iy) + 0.5) * bh / Float(grid)
                            for ix in 0..<grid {
                                let x = x0 + Float(pw) * bw + (Float(ix) + 0.5) * bw / Float(grid)
                                bilinearTaps(y: y, x: x, h: h, w: w, offsets: &offsets, weights: &weights, at: s)
                                s += 4
                            }
                        }
                    }
                }
                let taps = grid * grid * 4
                let samples = grid * grid
                offsets.withUnsafeBufferPointer { offs in
                    weights.withUnsafeBufferPointer { wts in
                        for ch in 0..<c {
                            let plane = src + ch * h * w
                            let o = dst + (k * c + ch) * bins
                            for bin in 0..<bins {
                                var sum: Float = 0
                                var t = bin * taps
                                for _ in 0..<samples {
                                    sum +=
                                        wts[t] * plane[offs[t]] + wts[t + 1] * plane[offs[t + 1]]
                                        + wts[t + 2] * plane[offs[t + 2]] + wts[t + 3] * plane[offs[t + 3]]
                                    t += 4
                                }
                                o[bin] = sum / count
                            }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// torchvision's `bilinear_interpolate` pre-calculation: the four taps of a sample at (y, x), zero weight outside
/// `[-1, H] x [-1, W]`, coordinates clamped at 0 and at the last row/column.
@inline(__always)
func bilinearTaps(y yIn: Float, x xIn: Float, h: Int, w: Int, offsets: inout [Int], weights: inout [Float], at s: Int) {
    if yIn < -1 || yIn > Float(h) || xIn < -1 || xIn > Float(w) {
        for t in 0..<4 {
            offsets[s + t] = 0
            weights[s + t] = 0
        }
        return
    }
    var y = max(yIn, 0)
    var x = max(xIn, 0)
    var yl = Int(y)
    var xl = Int(x)
    let yh: Int
    let xh: Int
    if yl >= h - 1 {
        yl = h - 1
        yh = h - 1
        y = Float(yl)
    } else {
        yh = yl + 1
    }
    if xl >= w - 1 {
        xl = w - 1
        xh = w - 1
        x = Float(xl)
    } else {
        xh = xl + 1
    }
    let ly = y - Float(yl)
    let lx = x - Float(xl)
    let hy = 1 - ly
    let hx = 1 - lx
    offsets[s] = yl * w + xl
    offsets[s + 1] = yl * w + xh
    offsets[s + 2] = yh * w + xl
    offsets[s + 3] = yh * w + xh
    weights[s] = hy * hx
    weights[s + 1] = hy * lx
    weights[s + 2] = ly * hx
    weights[s + 3] = ly * lx
}
