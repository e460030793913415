import KaryoSupport

/// Per-component measurements of the foreground mask.
struct ComponentStats: Sendable {
    var area = 0
    var minX = Int.max
    var minY = Int.max
    var maxX = Int.min
    var maxY = Int.min
    /// Largest squared distance to the background (the square of half the widest width).
    var peakSquaredDistance: Int32 = 0
    var darknessSum = 0.0
    /// Pixels within the edge band at the top or bottom of the field of view, and at its left or right.
    var topBottomBandPixels = 0
    var leftRightBandPixels = 0
    /// 90th percentile of darkness (filled in for components large enough to matter).
    var darkness90: Float = 0

    /// Half the widest width, in pixels.
    var peakDistance: Double { Double(peakSquaredDistance).squareRoot() }
    /// Mean darkness.
    var meanDarkness: Double { area > 0 ? darknessSum / Double(area) : 0 }
}

/// Why a connected component is not passed on to splitting.
enum ComponentVerdict: Equatable, Sendable {
    /// Kept: one or more chromosomes.
    case chromosomes
    /// Too small or too thin to be a chromosome: dust, noise, a stain speck.
    case debris
    /// Cut by the edge of the field of view over a long stretch, or much darker than chromosomes while touching it:
    /// part of a cell or a dirt particle outside the spread.
    case clippedByEdge
    /// Far wider than any chromosome: an interphase nucleus or a large blob.
    case nucleus
}

/// The typical chromosome size in this image, learned from its own components.
struct TypicalSize: Sendable {
    /// Median distance peak (half a chromosome's width).
    var halfWidth: Double
    /// Median component area.
    var area: Double
    /// Median 90th-percentile darkness.
    var darkness90: Double
}

/// Measuring and sorting the connected components of the foreground mask.
enum ClassicalComponents {
    /// Measures every component in one pass over the plane; `edgeBand` is the width of the field-of-view edge band.
    static func measure(
        labels: [Int32], count: Int, squaredDistance: [Int32], darkness: [Float], width: Int, height: Int,
        edgeBand: Int, percentileMinimumArea: Int
    ) -> [ComponentStats] {
        var stats = [ComponentStats](repeating: ComponentStats(), count: count)
        labels.withUnsafeBufferPointer { l in
            squaredDistance.withUnsafeBufferPointer { d2 in
                darkness.withUnsafeBufferPointer { d in
                    stats.withUnsafeMutableBufferPointer { s in
                        for y in 0..<height {
                            let nearTopBottom = y < edgeBand || y >= height - edgeBand
                            for x in 0..<width {
                                let i = y * width + x
                                let c = Int(l[i])
                                guard c >= 0 else { continue }
                                s[c].area += 1
                                s[c].minX = min(s[c].minX, x)
                                s[c].maxX = max(s[c].maxX, x)
                                s[c].minY = min(s[c].minY, y)
                                s[c].maxY = max(s[c].maxY, y)
                                s[c].peakSquaredDistance = max(s[c].peakSquaredDistance, d2[i])
                                s[c].darknessSum += Double(d[i])
                                if nearTopBottom { s[c].topBottomBandPixels += 1 }
                                if x < edgeBand || x >= width - edgeBand { s[c].leftRightBandPixels += 1 }
                            }
                        }
                    }
                }
            }
        }
        fillDarkness90(&stats, labels: labels, darkness: darkness, minimumArea: percentileMinimumArea)
        return stats
    }

    /// The 90th percentile of darkness of each component with at least `minimumArea` pixels (256-bin histograms).
    private static func fillDarkness90(
        _ stats: inout [ComponentStats], labels: [Int32], darkness: [Float], minimumArea: Int
    ) {
        let bins = 256
        var slot = [Int](repeating: -1, count: stats.count)
        var used = 0
        for c in 0..<stats.count where stats[c].area >= minimumArea {
            slot[c] = used
            used += 1
        }
        guard used > 0 else { return }
        var histograms = [Int32](repeating: 0, count: used * bins)
        labels.withUnsafeBufferPointer { l in
            darkness.withUnsafeBufferPointer { d in
                histograms.withUnsafeMutableBufferPointer { h in
                    for i in 0..<l.count where l[i] >= 0 {
                        let s = slot[Int(l[i])]
                        guard s >= 0 else { continue }
                        h[s * bins + min(bins - 1, Int(d[i] * Float(bins)))] += 1
                    }
                }
            }
        }
        for c in 0..<stats.count where slot[c] >= 0 {
            let target = Int((Double(stats[c].area) * 0.9).rounded(.up))
            var seen = 0
            for b in 0..<bins {
                seen += Int(histograms[slot[c] * bins + b])
                if seen >= target {
                    stats[c].darkness90 = (Float(b) + 0.5) / Float(bins)
                    break
                }
            }
        }
    }

    /// Medians over the components of at least `minimumArea` pixels, or nil when there are none.
    static func typicalSize(_ stats: [ComponentStats], minimumArea: Int) -> TypicalSize? {
        let sized = stats.filter { $0.area >= minimumArea }
        guard let halfWidth = sized.map(\.peakDistance).median, let area = sized.map({ Double($0.area) }).median,
            let darkness90 = sized.map({ Double($0.darkness90) }).median
        else { return nil }
        return TypicalSize(halfWidth: halfWidth, area: area, darkness90: darkness90)
    }

    /// Decides what a component is, from its size relative to the image's typical chromosome.
    static func verdict(
        _ c: ComponentStats, typical: TypicalSize, configuration k: ClassicalDetector.Configuration
    ) -> ComponentVerdict {
        let hw = typical.halfWidth
        let minimumArea = max(k.minimumAreaInHalfWidths * hw * hw, k.minimumAreaOfMedian * typical.area)
        if c.peakDistance < k.minimumPeakOfTypical * hw || Double(c.area) < minimumArea { return .debris }
        let edgeBand = Double(k.edgeBand)
        let contact = Double(max(c.topBottomBandPixels, c.leftRightBandPixels)) / edgeBand
        if contact >= k.edgeContactInWidths * 2 * hw
            || (contact > 0 && Double(c.darkness90) > k.edgeDebrisDarkness * typical.darkness90)
        {
            return .clippedByEdge
        }
        if c.peakDistance > k.nucleusPeakOfTypical * hw { return .nucleus }
        return .chromosomes
    }
}
