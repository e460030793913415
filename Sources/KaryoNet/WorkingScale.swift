import Foundation

/// The working-scale rule of Training/MODEL.md step 2: how much to resize an image so its chromosomes have the
/// width the model was trained on, and the resize itself.
public enum WorkingScale {
    /// The typical chromosome width in pixels of a grey image (0...255, dark chromosomes on a light background),
    /// or nil when it cannot be measured (`karyotrain/scale.py`): Otsu threshold, exact Euclidean distance
    /// transform of the dark pixels, ridge pixels (`D >= 2`, local maxima over 8 neighbours), `2 * median(D[ridge])`.
    public static func estimateChromosomeWidth(_ pixels: [Float], width w: Int, height h: Int) -> Double? {
        measure(pixels, width: w, height: h).width
    }

    /// The intermediate values of the width estimate.
    public struct Measurement: Sendable, Equatable {
        /// Otsu's threshold (nil for a flat image).
        public var threshold: Int?
        /// Number of ridge pixels.
        public var ridgeCount: Int
        /// The width, nil with fewer than 20 ridge pixels.
        public var width: Double?
    }

    /// `estimateChromosomeWidth` with its Otsu threshold and ridge pixel count.
    public static func measure(_ pixels: [Float], width w: Int, height h: Int) -> Measurement {
        let n = w * h
        guard n > 0 else { return Measurement(threshold: nil, ridgeCount: 0, width: nil) }
        var grey = [UInt8](repeating: 0, count: n)
        var histogram = [Int](repeating: 0, count: 256)
        for i in 0..<n {
            let v = UInt8(min(max(pixels[i].rounded(.toNearestOrEven), 0), 255))
            grey[i] = v
            histogram[Int(v)] += 1
        }
        guard let threshold = otsuThreshold(histogram: histogram) else {
            return Measurement(threshold: nil, ridgeCount: 0, width: nil)
        }
        let foreground = grey.map { Int($0) <= threshold }
        let distance = euclideanDistance(foreground, width: w, height: h)
        var ridge: [Double] = []
        for y in 0..<h {
            for x in 0..<w {
                let d = distance[y * w + x]
                guard foreground[y * w + x], d >= 2 else { continue }
                var isMax = true
                for dy in -1...1 {
                    for dx in -1...1 where dx != 0 || dy != 0 {
                        let (yy, xx) = (y + dy, x + dx)
                        if yy >= 0, yy < h, xx >= 0, xx < w, distance[yy * w + xx] > d { isMax = false }
                    }
                }
                if isMax { ridge.append(d) }
            }
        }
        guard ridge.count >= 20 else { return Measurement(threshold: threshold, ridgeCount: ridge.count, width: nil) }
        ridge.sort()
        let mid = ridge.count / 2
        let median = ridge.count % 2 == 1 ? ridge[mid] : (ridge[mid - 1] + ridge[mid]) / 2
        return Measurement(threshold: threshold, ridgeCount: ridge.count, width: 2 * median)
    }

    /// Otsu's threshold from integer counts (MODEL.md): the first `t` maximising
    /// `(S * c0 - s0 * N)^2 / (c0 * (N - c0))` in Float64; nil for a flat image.
    static func otsuThreshold(histogram: [Int]) -> Int? {
        let n = histogram.reduce(0, +)
        var total = 0
        for t in 0..<256 { total += t * histogram[t] }
        var c0 = 0
        var s0 = 0
        var best = -1.0
        var bestT: Int?
        for t in 0..<256 {
            c0 += histogram[t]
            s0 += t * histogram[t]
            if c0 == 0 || c0 == n { continue }
            let num = Double(total) * Double(c0) - Double(s0) * Double(n)
            let sb = num * num / (Double(c0) * Double(n - c0))
            if sb > best {
                best = sb
                bestT = t
            }
        }
        return bestT
    }

    /// Exact Euclidean distance of each foreground pixel to the nearest background pixel, with everything outside
    /// the image counting as background (Felzenszwalb-Huttenlocher separable squared-distance transform).
    static func euclideanDistance(_ fg: [Bool], width w: Int, height h: Int) -> [Double] {
        // Pad by one background pixel on every side.
        let (pw, ph) = (w + 2, h + 2)
        let inf = 1e20
        var f = [Double](repeating: 0, count: pw * ph)
        for y in 0..<h {
            for x in 0..<w where fg[y * w + x] { f[(y + 1) * pw + x + 1] = inf }
        }
        var out = [Double](repeating: 0, count: w * h)
        f.withUnsafeMutableBufferPointer { fp in
            out.withUnsafeMutableBufferPointer { op in
                let (grid, dst) = (fp.baseAddress!, op.baseAddress!)
                // Columns, then rows; each line is independent, so lines are spread over the cores.
                parallelChunks(pw) { columns in
                    var column = [Double](repeating: 0, count: ph)
                    for x in columns {
                        for y in 0..<ph { column[y] = grid[y * pw + x] }
                        let d = distanceTransform1D(column)
                        for y in 0..<ph { grid[y * pw + x] = d[y] }
                    }
                }
                parallelChunks(h) { rows in
                    var row = [Double](repeating: 0, count: pw)
                    for y in rows {
                        for x in 0..<pw { row[x] = grid[(y + 1) * pw + x] }
                        let d = distanceTransform1D(row)
                        for x in 1...w { dst[y * w + x - 1] = d[x].squareRoot() }
                    }
                }
            }
        }
        return out
    }

    /// The 1-d squared distance transform (lower envelope of parabolas).
    static func distanceTransform1D(_ f: [Double]) -> [Double] {
        let n = f.count
        var d = [Double](repeating: 0, count: n)
        var v = [Int](repeating: 0, count: n)
        var z = [Double](repeating: 0, count: n + 1)
        var k = 0
        z[0] = -.infinity
        z[1] = .infinity
        for q in 1..<n {
            var s = ((f[q] + Double(q * q)) - (f[v[k]] + Double(v[k] * v[k]))) / Double(2 * q - 2 * v[k])
            while s <= z[k] {
                k -= 1
                s = ((f[q] + Double(q * q)) - (f[v[k]] + Double(v[k] * v[k]))) / Double(2 * q - 2 * v[k])
            }
            k += 1
            v[k] = q
            z[k] = s
            z[k + 1] = .infinity
        }
        k = 0
        for q in 0..<n {
            while z[k + 1] < Double(q) { k += 1 }
            d[q] = Double((q - v[k]) * (q - v[k])) + f[v[k]]
        }
        return d
    }
}
