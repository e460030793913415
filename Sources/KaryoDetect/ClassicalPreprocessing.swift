import Foundation
import KaryoImage

/// A rectangle of whole pixels, `x0..<x1` by `y0..<y1`.
struct PixelRect: Equatable, Sendable {
    var x0: Int
    var y0: Int
    var x1: Int
    var y1: Int
    var width: Int { x1 - x0 }
    var height: Int { y1 - y0 }
}

/// The image-conditioning steps of the classical detector: field of view, smoothing, background, darkness.
enum ClassicalPreprocessing {
    /// Finds the capture's field of view: CytoVision-style exports draw a thin dark frame line around the camera
    /// field, with a blank margin outside. Returns the rectangle strictly inside the frame lines that are found
    /// (each side independently), or the whole image when there is none.
    ///
    /// A frame row is one whose pixels are darker by `minStep` than both the pixels two rows above and two rows below
    /// over at least 60% of the width, within the outer quarter of the image; columns likewise.
    static func fieldOfView(_ image: GrayImage, minStep: Float = 0.15) -> PixelRect {
        let w = image.width
        let h = image.height
        var rect = PixelRect(x0: 0, y0: 0, x1: w, y1: h)
        guard w >= 16, h >= 16 else { return rect }
        let rowScore = rowLineFractions(image.pixels, width: w, height: h, minStep: minStep)
        let colScore = columnLineFractions(image.pixels, width: w, height: h, minStep: minStep)
        if let top = (2..<h / 4).last(where: { rowScore[$0] >= 0.6 }) { rect.y0 = top + 2 }
        if let bottom = (3 * h / 4..<h - 2).first(where: { rowScore[$0] >= 0.6 }) { rect.y1 = bottom - 1 }
        if let left = (2..<w / 4).last(where: { colScore[$0] >= 0.6 }) { rect.x0 = left + 2 }
        if let right = (3 * w / 4..<w - 2).first(where: { colScore[$0] >= 0.6 }) { rect.x1 = right - 1 }
        return rect
    }

    /// For each row, the fraction of its pixels that are a thin dark line (darker by `minStep` than the pixels two
    /// rows above and two rows below).
    private static func rowLineFractions(_ pixels: [Float], width w: Int, height h: Int, minStep: Float) -> [Float] {
        var fractions = [Float](repeating: 0, count: h)
        pixels.withUnsafeBufferPointer { p in
            for y in 2..<(h - 2) {
                var hits = 0
                for i in (y * w)..<(y * w + w) where p[i] < p[i - 2 * w] - minStep && p[i] < p[i + 2 * w] - minStep {
                    hits += 1
                }
                fractions[y] = Float(hits) / Float(w)
            }
        }
        return fractions
    }

    /// For each column, the fraction of its pixels that are a thin dark line (darker by `minStep` than the pixels
    /// two columns left and right); counted row by row so that memory is read in order.
    private static func columnLineFractions(_ pixels: [Float], width w: Int, height h: Int, minStep: Float) -> [Float] {
        var hits = [Int](repeating: 0, count: w)
        pixels.withUnsafeBufferPointer { p in
            hits.withUnsafeMutableBufferPointer { hits in
                for y in 0..<h {
                    let row = y * w
                    for x in 2..<(w - 2) {
                        let v = p[row + x]
                        if v < p[row + x - 2] - minStep && v < p[row + x + 2] - minStep { hits[x] += 1 }
                    }
                }
            }
        }
        return hits.map { Float($0) / Float(h) }
    }

    /// Copies the pixels of `rect` into a new row-major plane.
    static func crop(_ image: GrayImage, to rect: PixelRect) -> [Float] {
        var out = [Float](repeating: 0, count: rect.width * rect.height)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<rect.height {
                    let s = (y + rect.y0) * image.width + rect.x0
                    let d = y * rect.width
                    for x in 0..<rect.width { dst[d + x] = src[s + x] }
                }
            }
        }
        return out
    }

    /// Separable Gaussian blur with edge clamping; `sigma` in pixels (no-op below 0.3).
    static func gaussianBlur(_ plane: [Float], width: Int, height: Int, sigma: Double) -> [Float] {
        guard sigma >= 0.3, width > 0, height > 0 else { return plane }
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = [Float](repeating: 0, count: 2 * radius + 1)
        for t in -radius...radius {
            let t2 = Double(t * t)
            kernel[t + radius] = Float(exp(-t2 / (2 * sigma * sigma)))
        }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        var tmp = [Float](repeating: 0, count: plane.count)
        var out = [Float](repeating: 0, count: plane.count)
        kernel.withUnsafeBufferPointer { k in
            plane.withUnsafeBufferPointer { src in
                tmp.withUnsafeMutableBufferPointer { dst in
                    for y in 0..<height {
                        let b = y * width
                        for x in 0..<width {
                            var acc: Float = 0
                            for t in -radius...radius {
                                let xx = min(max(x + t, 0), width - 1)
                                acc += k[t + radius] * src[b + xx]
                            }
                            dst[b + x] = acc
                        }
                    }
                }
            }
            tmp.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for y in 0..<height {
                        for x in 0..<width { dst[y * width + x] = 0 }
                        for t in -radius...radius {
                            let yy = min(max(y + t, 0), height - 1)
                            let w = k[t + radius]
                            let s = yy * width
                            let d = y * width
                            for x in 0..<width { dst[d + x] += w * src[s + x] }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Estimates the slowly varying illumination: a grey closing (max then min filter) with a square of side
    /// `window`, which removes every dark object narrower than the window, then a box blur of the same size.
    ///
    /// Computed on a 4x block-averaged copy and upsampled bilinearly, so its cost does not grow with the window.
    static func estimateBackground(_ plane: [Float], width: Int, height: Int, window: Int) -> [Float] {
        let factor = 4
        let sw = max(1, width / factor)
        let sh = max(1, height / factor)
        var small = [Float](repeating: 0, count: sw * sh)
        plane.withUnsafeBufferPointer { src in
            for sy in 0..<sh {
                for sx in 0..<sw {
                    var acc: Float = 0
                    var n: Float = 0
                    for y in (sy * factor)..<min(height, sy * factor + factor) {
                        for x in (sx * factor)..<min(width, sx * factor + factor) {
                            acc += src[y * width + x]
                            n += 1
                        }
                    }
                    small[sy * sw + sx] = n > 0 ? acc / n : 1
                }
            }
        }
        let r = max(1, window / factor / 2)
        small = slidingExtreme(small, width: sw, height: sh, radius: r, maximum: true)
        small = slidingExtreme(small, width: sw, height: sh, radius: r, maximum: false)
        small = boxBlur(small, width: sw, height: sh, radius: r)
        return upsampleBilinear(small, width: sw, height: sh, factor: factor, toWidth: width, toHeight: height)
    }

    /// Separable square max (or min) filter with clamped edges; used on the small background plane only.
    private static func slidingExtreme(_ plane: [Float], width: Int, height: Int, radius r: Int, maximum: Bool)
        -> [Float]
    {
        var tmp = plane
        var out = plane
        plane.withUnsafeBufferPointer { src in
            tmp.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    for x in 0..<width {
                        var e = src[y * width + x]
                        for xx in max(0, x - r)...min(width - 1, x + r) {
                            let v = src[y * width + xx]
                            e = maximum ? max(e, v) : min(e, v)
                        }
                        dst[y * width + x] = e
                    }
                }
            }
        }
        tmp.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    for x in 0..<width {
                        var e = src[y * width + x]
                        for yy in max(0, y - r)...min(height - 1, y + r) {
                            let v = src[yy * width + x]
                            e = maximum ? max(e, v) : min(e, v)
                        }
                        dst[y * width + x] = e
                    }
                }
            }
        }
        return out
    }

    /// Mean over a (2r+1) square window clamped to the plane: a running-sum pass along rows, then along columns.
    private static func boxBlur(_ plane: [Float], width: Int, height: Int, radius r: Int) -> [Float] {
        let rows = runningMean(plane, count: width, lines: height, step: 1, lineStep: width, radius: r)
        return runningMean(rows, count: height, lines: width, step: width, lineStep: 1, radius: r)
    }

    /// 1-D clamped-window mean along `lines` lines of `count` samples (`step` apart, lines `lineStep` apart).
    private static func runningMean(
        _ plane: [Float], count n: Int, lines: Int, step: Int, lineStep: Int, radius r: Int
    ) -> [Float] {
        var out = plane
        plane.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for line in 0..<lines {
                    let base = line * lineStep
                    var acc: Float = 0
                    for t in 0..<min(r, n) { acc += src[base + t * step] }
                    for t in 0..<n {
                        if t + r < n { acc += src[base + (t + r) * step] }
                        if t - r - 1 >= 0 { acc -= src[base + (t - r - 1) * step] }
                        let samples = min(n - 1, t + r) - max(0, t - r) + 1
                        dst[base + t * step] = acc / Float(samples)
                    }
                }
            }
        }
        return out
    }

    /// Bilinear upsampling of a block-averaged plane back to full size (block centres at `factor * (i + 0.5)`).
    private static func upsampleBilinear(
        _ small: [Float], width sw: Int, height sh: Int, factor: Int, toWidth width: Int, toHeight height: Int
    ) -> [Float] {
        var out = [Float](repeating: 0, count: width * height)
        let f = Float(factor)
        small.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                for y in 0..<height {
                    let fy = min(max((Float(y) + 0.5) / f - 0.5, 0), Float(sh - 1))
                    let y0 = Int(fy)
                    let y1 = min(y0 + 1, sh - 1)
                    let ty = fy - Float(y0)
                    for x in 0..<width {
                        let fx = min(max((Float(x) + 0.5) / f - 0.5, 0), Float(sw - 1))
                        let x0 = Int(fx)
                        let x1 = min(x0 + 1, sw - 1)
                        let tx = fx - Float(x0)
                        let top = s[y0 * sw + x0] * (1 - tx) + s[y0 * sw + x1] * tx
                        let bottom = s[y1 * sw + x0] * (1 - tx) + s[y1 * sw + x1] * tx
                        o[y * width + x] = top * (1 - ty) + bottom * ty
                    }
                }
            }
        }
        return out
    }

    /// Background-corrected darkness: `1 - image / background`, clamped to 0...1 (0 = as bright as the background).
    static func darkness(_ plane: [Float], background: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: plane.count)
        plane.withUnsafeBufferPointer { p in
            background.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { o in
                    for i in 0..<o.count {
                        // Written so that a NaN pixel becomes 0 (background) rather than poisoning the histograms.
                        let v = 1 - p[i] / max(b[i], 1e-3)
                        o[i] = v > 0 ? min(v, 1) : 0
                    }
                }
            }
        }
        return out
    }
}
