import KaryoSupport

/// The confidence of a classical detection, from how much the region looks like a single chromosome of this image.
///
/// Each feature gives a factor in 0...1 and the score is 0.98 x the smallest: a region that is odd in one way only
/// (a little too wide: probably two chromosomes side by side) stays just above 0.5 and is counted but falls in the
/// uncertain band; a region that is clearly not a chromosome (a faint smudge, a speck, a black dirt particle) drops
/// below 0.5.
enum ClassicalScoring {
    /// The image-level references a region is compared with.
    struct Reference: Sendable {
        /// Median area of the split regions.
        var area: Double
        /// Typical chromosome width (twice the typical distance peak).
        var width: Double
        /// Median of the regions' mean darkness.
        var darkness: Double
    }

    /// Builds the reference from the regions themselves (nil when there are none).
    static func reference(_ regions: [RegionStats], typicalWidth: Double) -> Reference? {
        guard let area = regions.map({ Double($0.area) }).median, let darkness = regions.map(\.meanDarkness).median
        else { return nil }
        return Reference(area: area, width: typicalWidth, darkness: darkness)
    }

    /// The confidence of one region, in 0...1.
    static func score(_ region: RegionStats, reference: Reference) -> Double {
        let shape = region.rodShape
        let relativeArea = Double(region.area) / reference.area
        let relativeWidth = shape.width / reference.width
        let relativeDarkness = region.meanDarkness / max(reference.darkness, 1e-6)

        // Size: specks well below the median chromosome fall off; very large regions are probably unsplit clusters.
        let smallFactor = 0.3 + 0.7 * ramp(relativeArea, from: 0.12, to: 0.3)
        let largeFactor = 1 - 0.4 * ramp(relativeArea, from: 2.5, to: 4)
        // Width: two chromosomes side by side are about twice as wide as one.
        let widthFactor = 1 - 0.4 * ramp(relativeWidth, from: 1.3, to: 2.0)
        // Fill: an L, V or X of two chromosomes fills its moment rectangle poorly.
        let fillFactor = 1 - 0.4 * ramp(-shape.fill, from: -0.75, to: -0.5)
        // Contrast: faint smudges and near-black particles are not G-banded chromosomes.
        let faintFactor = 0.2 + 0.8 * ramp(relativeDarkness, from: 0.4, to: 0.75)
        let blackFactor = 1 - 0.7 * ramp(relativeDarkness, from: 1.45, to: 1.9)
        let weakest = min(smallFactor, largeFactor, widthFactor, fillFactor, faintFactor, blackFactor)
        return 0.98 * weakest
    }

    /// 0 below `from`, 1 above `to`, linear in between.
    static func ramp(_ x: Double, from a: Double, to b: Double) -> Double {
        guard b > a else { return x >= b ? 1 : 0 }
        return min(max((x - a) / (b - a), 0), 1)
    }
}
