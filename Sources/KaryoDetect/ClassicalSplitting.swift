import KaryoImage

/// Accumulated pixel statistics of one region: area, bounding box, raw moments, distance peak, summed darkness.
struct RegionStats: Sendable {
    var component: Int32
    var area = 0
    var minX = Int.max
    var minY = Int.max
    var maxX = Int.min
    var maxY = Int.min
    var sumX = 0.0
    var sumY = 0.0
    var sumXX = 0.0
    var sumYY = 0.0
    var sumXY = 0.0
    /// Largest distance to the background inside the region (half the widest width).
    var peak: Float = 0
    var darknessSum = 0.0

    init(component: Int32) { self.component = component }

    /// Adds one pixel.
    mutating func add(x: Int, y: Int, distance: Float, darkness: Float) {
        area += 1
        minX = min(minX, x)
        minY = min(minY, y)
        maxX = max(maxX, x)
        maxY = max(maxY, y)
        let fx = Double(x)
        let fy = Double(y)
        sumX += fx
        sumY += fy
        sumXX += fx * fx
        sumYY += fy * fy
        sumXY += fx * fy
        peak = max(peak, distance)
        darknessSum += Double(darkness)
    }

    /// The union of two regions' statistics.
    func merged(with o: RegionStats) -> RegionStats {
        var r = self
        r.area += o.area
        r.minX = min(minX, o.minX)
        r.minY = min(minY, o.minY)
        r.maxX = max(maxX, o.maxX)
        r.maxY = max(maxY, o.maxY)
        r.sumX += o.sumX
        r.sumY += o.sumY
        r.sumXX += o.sumXX
        r.sumYY += o.sumYY
        r.sumXY += o.sumXY
        r.peak = max(peak, o.peak)
        r.darknessSum += o.darknessSum
        return r
    }

    /// Mean darkness of the region's pixels.
    var meanDarkness: Double { area > 0 ? darknessSum / Double(area) : 0 }

    /// The region seen as a rod: length and width of the rectangle with the same second moments
    /// (`sqrt(12 * eigenvalue)`), and `fill`, the area over that rectangle's area: about 1 for a straight rod or an
    /// ellipse, clearly lower for an L, V or X of two rods.
    var rodShape: (length: Double, width: Double, fill: Double) {
        guard area > 0 else { return (0, 0, 0) }
        let n = Double(area)
        let cx = sumX / n
        let cy = sumY / n
        // Pixel squares add 1/12 to each variance.
        let a = sumXX / n - cx * cx + 1.0 / 12
        let b = sumYY / n - cy * cy + 1.0 / 12
        let c = sumXY / n - cx * cy
        let mean = (a + b) / 2
        let spread = ((a - b) * (a - b) / 4 + c * c).squareRoot()
        let length = (12 * (mean + spread)).squareRoot()
        let width = (12 * max(mean - spread, 1e-6)).squareRoot()
        return (length, width, n / (length * width))
    }
}

/// The parameters of touching-chromosome splitting, in pixels of the working plane.
struct SplitParameters: Sendable {
    /// A distance maximum is a marker only if it rises this far above its saddle ...
    var minimumDynamic: Float
    /// ... and by this fraction of its own height ...
    var relativeDynamic: Float
    /// ... and its basin holds at least this many pixels when it meets a higher one.
    var minimumBasinArea: Int
    /// Typical chromosome width (twice the typical distance peak).
    var typicalWidth: Double
    /// Neighbouring pieces whose saddle is at least this fraction of the lower peak are always one chromosome.
    var weakNeckRatio: Double
    /// Pieces with a saddle above this ratio are rejoined when their union is still rod-shaped ...
    var rodNeckRatio: Double
    /// ... i.e. fills at least this fraction of its moment rectangle ...
    var rodMinimumFill: Double
    /// ... and is at most this many typical widths wide.
    var rodMaximumWidth: Double
    /// Pieces smaller than this are fragments and always rejoin their neighbour with the highest saddle.
    var fragmentArea: Int
}

/// Splitting of touching chromosomes: a watershed on the distance transform whose markers are the distance maxima
/// with enough dynamic (the h-maxima), followed by a merge of neighbouring pieces that still form one rod, so a
/// chromosome's centromere constriction does not cut it in two.
enum ClassicalSplitting {
    /// Splits the foreground of `mask` into chromosome regions; returns their statistics in no particular order.
    static func splitTouching(
        mask: [UInt8], components: [Int32], squaredDistance: [Int32], darkness: [Float], width: Int, height: Int,
        parameters: SplitParameters
    ) -> [RegionStats] {
        let distance = squaredDistance.map { Float($0).squareRoot() }
        let basins = floodDistanceBasins(
            mask: mask, squaredDistance: squaredDistance, distance: distance, width: width, height: height,
            parameters: parameters)
        let (pieces, regionOf) = collectRegions(
            basins: basins, components: components, distance: distance, darkness: darkness, width: width,
            height: height)
        let saddles = neighbourSaddles(regionOf: regionOf, distance: distance, width: width, height: height)
        return mergeRodPieces(pieces, saddles: saddles, parameters: parameters)
    }

    /// Watershed by flooding the distance transform from its maxima downwards (union-find over basins).
    ///
    /// When basins meet at a saddle, the lower one survives as a separate marker only if its dynamic
    /// (peak - saddle) reaches both `minimumDynamic` and `relativeDynamic` x peak and it already holds
    /// `minimumBasinArea` pixels; otherwise it joins the higher basin. A pixel between surviving basins goes to the
    /// basin of its highest neighbour (steepest ascent). Returns the basin root of every pixel (-1 = background).
    static func floodDistanceBasins(
        mask: [UInt8], squaredDistance: [Int32], distance: [Float], width: Int, height: Int,
        parameters: SplitParameters
    ) -> [Int32] {
        // Foreground pixels in descending distance order (ties in raster order), via one integer sort.
        var order: [UInt64] = []
        order.reserveCapacity(mask.count / 8)
        let top = UInt64(squaredDistance.max() ?? 0)
        mask.withUnsafeBufferPointer { m in
            squaredDistance.withUnsafeBufferPointer { d in
                for i in 0..<m.count where m[i] != 0 {
                    order.append((top - UInt64(d[i])) << 32 | UInt64(i))
                }
            }
        }
        order.sort()

        var basin = [Int32](repeating: -1, count: mask.count)
        var sets = DisjointSets()
        var peak: [Float] = []
        var size: [Int] = []
        var roots = [Int32](repeating: 0, count: 8)
        distance.withUnsafeBufferPointer { dist in
            for key in order {
                let i = Int(key & 0xFFFF_FFFF)
                let x = i % width
                let y = i / width
                let level = dist[i]
                var rootCount = 0
                var steepest = -1
                var steepestValue: Float = -1
                for dy in -1...1 {
                    let yy = y + dy
                    guard yy >= 0 && yy < height else { continue }
                    for dx in -1...1 {
                        let xx = x + dx
                        guard xx >= 0 && xx < width && (dx != 0 || dy != 0) else { continue }
                        let j = yy * width + xx
                        guard basin[j] >= 0 else { continue }
                        if dist[j] > steepestValue {
                            steepestValue = dist[j]
                            steepest = j
                        }
                        let r = sets.find(basin[j])
                        var seen = false
                        for k in 0..<rootCount where roots[k] == r { seen = true }
                        if !seen {
                            roots[rootCount] = r
                            rootCount += 1
                        }
                    }
                }
                if rootCount == 0 {
                    let id = sets.makeSet()
                    peak.append(level)
                    size.append(1)
                    basin[i] = id
                    continue
                }
                // The highest basin absorbs every neighbour basin that is not a significant marker.
                var main = roots[0]
                for k in 1..<rootCount where peak[Int(roots[k])] > peak[Int(main)] { main = roots[k] }
                for k in 0..<rootCount where roots[k] != main {
                    let r = Int(roots[k])
                    let dynamic = peak[r] - level
                    let significant =
                        dynamic >= parameters.minimumDynamic && dynamic >= parameters.relativeDynamic * peak[r]
                        && size[r] >= parameters.minimumBasinArea
                    if !significant {
                        sets.attach(roots[k], to: main)
                        size[Int(main)] += size[r]
                    }
                }
                let owner = sets.find(basin[steepest])
                basin[i] = owner
                size[Int(owner)] += 1
            }
        }
        for i in 0..<basin.count where basin[i] >= 0 { basin[i] = sets.find(basin[i]) }
        return basin
    }

    /// Numbers the basins 0..<n and accumulates each one's statistics.
    private static func collectRegions(
        basins: [Int32], components: [Int32], distance: [Float], darkness: [Float], width: Int, height: Int
    ) -> ([RegionStats], [Int32]) {
        var index = [Int32: Int32]()
        var regions: [RegionStats] = []
        var regionOf = [Int32](repeating: -1, count: basins.count)
        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x
                let b = basins[i]
                guard b >= 0 else { continue }
                let r: Int32
                if let known = index[b] {
                    r = known
                } else {
                    r = Int32(regions.count)
                    index[b] = r
                    regions.append(RegionStats(component: components[i]))
                }
                regionOf[i] = r
                regions[Int(r)].add(x: x, y: y, distance: distance[i], darkness: darkness[i])
            }
        }
        return (regions, regionOf)
    }

    /// For each pair of touching regions, the saddle: the highest distance value along their common border.
    static func neighbourSaddles(regionOf: [Int32], distance: [Float], width: Int, height: Int) -> [UInt64: Float] {
        var saddles: [UInt64: Float] = [:]
        let forward = [(1, 0), (0, 1), (1, 1), (-1, 1)]
        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x
                let a = regionOf[i]
                guard a >= 0 else { continue }
                for (dx, dy) in forward {
                    let xx = x + dx
                    let yy = y + dy
                    guard xx >= 0 && xx < width && yy < height else { continue }
                    let j = yy * width + xx
                    let b = regionOf[j]
                    guard b >= 0 && b != a else { continue }
                    let key = pairKey(a, b)
                    let level = min(distance[i], distance[j])
                    saddles[key] = max(saddles[key] ?? 0, level)
                }
            }
        }
        return saddles
    }

    private static func pairKey(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(min(a, b))) << 32 | UInt64(UInt32(max(a, b)))
    }

    /// Greedily rejoins neighbouring pieces, most clearly connected first, while the rejoined piece is still one
    /// chromosome: a weak neck, a small fragment, or a moderate neck whose union is a straight rod of normal width.
    static func mergeRodPieces(_ pieces: [RegionStats], saddles: [UInt64: Float], parameters p: SplitParameters)
        -> [RegionStats]
    {
        var regions: [RegionStats?] = pieces
        var saddles = saddles
        while true {
            var best: (ratio: Double, a: Int, b: Int)?
            for (key, level) in saddles {
                let a = Int(key >> 32)
                let b = Int(key & 0xFFFF_FFFF)
                guard let ra = regions[a], let rb = regions[b] else { continue }
                let ratio = Double(level) / Double(max(min(ra.peak, rb.peak), 1e-6))
                let union = ra.merged(with: rb).rodShape
                let fragment = min(ra.area, rb.area) < p.fragmentArea
                let rod =
                    ratio >= p.rodNeckRatio && union.fill >= p.rodMinimumFill
                    && union.width <= p.rodMaximumWidth * p.typicalWidth
                guard ratio >= p.weakNeckRatio || fragment || rod else { continue }
                // Ties go to the lower pair key, so the result never depends on dictionary order.
                if let current = best,
                    ratio < current.ratio
                        || (ratio == current.ratio && key > pairKey(Int32(current.a), Int32(current.b)))
                {
                    continue
                }
                best = (ratio, a, b)
            }
            guard let (_, a, b) = best else { break }
            regions[a] = regions[a]!.merged(with: regions[b]!)
            regions[b] = nil
            var renamed: [UInt64: Float] = [:]
            for (key, level) in saddles {
                var x = Int32(key >> 32)
                var y = Int32(key & 0xFFFF_FFFF)
                if x == Int32(b) { x = Int32(a) }
                if y == Int32(b) { y = Int32(a) }
                guard x != y else { continue }
                let k = pairKey(x, y)
                renamed[k] = max(renamed[k] ?? 0, level)
            }
            saddles = renamed
        }
        return regions.compactMap { $0 }
    }
}
