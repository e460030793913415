import KaryoImage

/// The intensity range rule of Training/MODEL.md step 2a (`karyotrain/intensity.py`): an image whose background
/// level or chromosome contrast lies outside the model's `input.intensity_range` is brought into it by one linear
/// map of its grey levels, so that a paler export or one with its background removed to white looks like the
/// spreads the model was trained on. An image inside the range is left as it is.
public struct IntensityMap: Sendable, Equatable, Codable {
    /// The median grey level above Otsu's threshold (nil when the rule did not measure).
    public var background: Double?
    /// The median grey level at or below Otsu's threshold.
    public var ink: Double?
    /// Grey level `x` becomes `gain * x + offset`.
    public var gain: Double
    public var offset: Double

    enum CodingKeys: String, CodingKey {
        case gain, offset
        case background = "background_level"
        case ink = "ink_level"
    }

    /// Encodes with explicit nulls, so every field is always present.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(background, forKey: .background)
        try c.encode(ink, forKey: .ink)
        try c.encode(gain, forKey: .gain)
        try c.encode(offset, forKey: .offset)
    }

    /// The map that changes nothing.
    public static let identity = IntensityMap(background: nil, ink: nil, gain: 1, offset: 0)

    /// The map for an image of 0...255 values under `range`; the identity without a range or for a flat image.
    public static func measure(
        _ pixels: [Float], range: ModelConfig.IntensityRange?
    ) -> IntensityMap {
        guard let range, let (background, ink) = levels(pixels) else { return .identity }
        let contrast = max(background - ink, 1)
        let targetBackground = min(max(background, range.background[0]), range.background[1])
        let gain = min(max(contrast, range.contrast[0]), range.contrast[1]) / contrast
        return IntensityMap(background: background, ink: ink, gain: gain, offset: targetBackground - gain * background)
    }

    /// (background, ink): the medians of the grey levels above and at or below Otsu's threshold (a median of an
    /// even count is the mean of the middle two, as NumPy's), or nil for a flat image.
    static func levels(_ pixels: [Float]) -> (Double, Double)? {
        var histogram = [Int](repeating: 0, count: 256)
        for v in WorkingScale.greyLevels(pixels) { histogram[Int(v)] += 1 }
        guard let threshold = MaskAnalysis.otsuThreshold(histogram: histogram) else { return nil }
        return (median(histogram[(threshold + 1)...], first: threshold + 1), median(histogram[...threshold], first: 0))
    }

    /// The median of the grey levels counted in `counts`, whose first entry counts level `first`.
    private static func median(_ counts: ArraySlice<Int>, first: Int) -> Double {
        let n = counts.reduce(0, +)
        func value(at rank: Int) -> Int {
            var seen = 0
            for (i, count) in counts.enumerated() {
                seen += count
                if seen > rank { return first + i }
            }
            return first + counts.count - 1
        }
        return n % 2 == 1 ? Double(value(at: n / 2)) : Double(value(at: n / 2 - 1) + value(at: n / 2)) / 2
    }
}
