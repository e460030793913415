/// Histogram and binary-mask measurements shared by the classical detector and the working-scale rule.
public enum MaskAnalysis {
    /// Otsu's threshold on a histogram of integer values `0..<histogram.count`: the first bin `t` (classes
    /// `<= t` and `> t`) that maximises the between-class variance `(S * c0 - s0 * N)^2 / (c0 * (N - c0))`,
    /// in Float64 as Training/MODEL.md states it; nil when no split leaves both classes non-empty.
    public static func otsuThreshold(histogram: [Int]) -> Int? {
        let n = histogram.reduce(0, +)
        var total = 0
        for (t, count) in histogram.enumerated() { total += t * count }
        var c0 = 0
        var s0 = 0
        var best = -1.0
        var bestT: Int?
        for (t, count) in histogram.enumerated() {
            c0 += count
            s0 += t * count
            if c0 == 0 || c0 == n { continue }
            let num = Double(total) * Double(c0) - Double(s0) * Double(n)
            let between = num * num / (Double(c0) * Double(n - c0))
            if between > best {
                best = between
                bestT = t
            }
        }
        return bestT
    }

    /// The mask with its holes of at most `maxArea` pixels made foreground: a hole is a 4-connected component of
    /// background pixels (`mask[i] == 0`) that touches no edge of the plane. Larger enclosed areas (a ring of
    /// touching chromosomes, the field inside a frame line) stay background.
    public static func fillHoles(_ mask: [UInt8], width: Int, height: Int, maxArea: Int) -> [UInt8] {
        precondition(mask.count == width * height, "mask size \(mask.count) is not \(width) x \(height)")
        var background = [UInt8](repeating: 0, count: mask.count)
        for i in 0..<mask.count where mask[i] == 0 { background[i] = 1 }
        let (labels, count) = label(background, width: width, height: height, eight: false)
        guard count > 0 else { return mask }
        var area = [Int](repeating: 0, count: count)
        var touchesEdge = [Bool](repeating: false, count: count)
        labels.withUnsafeBufferPointer { l in
            for y in 0..<height {
                for x in 0..<width {
                    let c = Int(l[y * width + x])
                    guard c >= 0 else { continue }
                    area[c] += 1
                    if x == 0 || y == 0 || x == width - 1 || y == height - 1 { touchesEdge[c] = true }
                }
            }
        }
        var out = mask
        for i in 0..<out.count {
            let c = Int(labels[i])
            if c >= 0 && !touchesEdge[c] && area[c] <= maxArea { out[i] = 1 }
        }
        return out
    }

    /// Labels the connected foreground regions (8-connected, or 4-connected when `eight` is false).
    ///
    /// Returns the label plane (-1 = background, else 0..<count, numbered in raster order of first pixel) and the
    /// count.
    package static func label(
        _ mask: [UInt8], width: Int, height: Int, eight: Bool = true
    ) -> (labels: [Int32], count: Int) {
        var labels = [Int32](repeating: -1, count: mask.count)
        var sets = DisjointSets()
        mask.withUnsafeBufferPointer { m in
            labels.withUnsafeMutableBufferPointer { l in
                for y in 0..<height {
                    for x in 0..<width {
                        let i = y * width + x
                        guard m[i] != 0 else { continue }
                        // Visited neighbours: W and N, plus NW and NE for 8-connectivity.
                        var current: Int32 = -1
                        func unite(_ c: Int32) {
                            guard c >= 0 else { return }
                            let a = sets.find(c)
                            if current < 0 {
                                current = a
                            } else if a != current {
                                let (lo, hi) = a < current ? (a, current) : (current, a)
                                sets.attach(hi, to: lo)
                                current = lo
                            }
                        }
                        if x > 0 { unite(l[i - 1]) }
                        if y > 0 {
                            unite(l[i - width])
                            if eight && x > 0 { unite(l[i - width - 1]) }
                            if eight && x + 1 < width { unite(l[i - width + 1]) }
                        }
                        if current < 0 {
                            current = sets.makeSet()
                        }
                        l[i] = current
                    }
                }
            }
        }
        // Compact the roots to 0..<count in order of first appearance.
        var compact = [Int32](repeating: -1, count: sets.count)
        var count: Int32 = 0
        labels.withUnsafeMutableBufferPointer { l in
            for i in 0..<l.count where l[i] >= 0 {
                let root = Int(sets.find(l[i]))
                if compact[root] < 0 {
                    compact[root] = count
                    count += 1
                }
                l[i] = compact[root]
            }
        }
        return (labels, Int(count))
    }

    /// Squared Euclidean distance of each foreground pixel (`mask[i] != 0`) to the nearest background pixel,
    /// 0 on background. Pixels outside the plane count as background, so an object cut by the edge ends there.
    ///
    /// Felzenszwalb-Huttenlocher lower-envelope transform, separable (columns, then rows); exact and linear.
    public static func squaredDistanceToBackground(_ mask: [UInt8], width: Int, height: Int) -> [Int32] {
        precondition(mask.count == width * height, "mask size \(mask.count) is not \(width) x \(height)")
        let infinity = Int32((width + height + 2) * (width + height + 2))
        var out = [Int32](repeating: 0, count: mask.count)
        let n = max(width, height) + 2
        var f = [Int32](repeating: 0, count: n)
        var d = [Int32](repeating: 0, count: n)
        var v = [Int](repeating: 0, count: n)
        var z = [Double](repeating: 0, count: n + 1)
        mask.withUnsafeBufferPointer { m in
            out.withUnsafeMutableBufferPointer { o in
                // Columns: one virtual background pixel above and below the plane.
                for x in 0..<width {
                    f[0] = 0
                    for y in 0..<height { f[y + 1] = m[y * width + x] != 0 ? infinity : 0 }
                    f[height + 1] = 0
                    lowerEnvelope(&f, count: height + 2, d: &d, v: &v, z: &z)
                    for y in 0..<height { o[y * width + x] = d[y + 1] }
                }
                // Rows, on the column result.
                for y in 0..<height {
                    let b = y * width
                    f[0] = 0
                    for x in 0..<width { f[x + 1] = o[b + x] }
                    f[width + 1] = 0
                    lowerEnvelope(&f, count: width + 2, d: &d, v: &v, z: &z)
                    for x in 0..<width { o[b + x] = m[b + x] != 0 ? d[x + 1] : 0 }
                }
            }
        }
        return out
    }

    /// The 1-D squared distance transform of sampled function `f` (lower envelope of parabolas).
    private static func lowerEnvelope(
        _ f: inout [Int32], count n: Int, d: inout [Int32], v: inout [Int], z: inout [Double]
    ) {
        f.withUnsafeMutableBufferPointer { f in
            d.withUnsafeMutableBufferPointer { d in
                v.withUnsafeMutableBufferPointer { v in
                    z.withUnsafeMutableBufferPointer { z in
                        var k = 0
                        v[0] = 0
                        z[0] = -.infinity
                        z[1] = .infinity
                        for q in 1..<max(n, 1) {
                            var p = v[k]
                            var s = (Double(f[q]) + Double(q * q) - Double(f[p]) - Double(p * p)) / Double(2 * (q - p))
                            while s <= z[k] {
                                k -= 1
                                p = v[k]
                                s = (Double(f[q]) + Double(q * q) - Double(f[p]) - Double(p * p)) / Double(2 * (q - p))
                            }
                            k += 1
                            v[k] = q
                            z[k] = s
                            z[k + 1] = .infinity
                        }
                        k = 0
                        for q in 0..<n {
                            while z[k + 1] < Double(q) { k += 1 }
                            let p = v[k]
                            d[q] = Int32((q - p) * (q - p)) + f[p]
                        }
                    }
                }
            }
        }
    }
}
