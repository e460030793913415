/// Size limits a decoder checks against the header before it allocates pixel memory.
public struct ImageLimits: Sendable, Equatable, Hashable {
    /// Largest accepted width or height in pixels.
    public var maxSide: Int
    /// Largest accepted `width * height`.
    public var maxPixels: Int

    /// Creates limits; the defaults (20000 px per side, 100 megapixels) are far above any microscope export.
    public init(maxSide: Int = 20_000, maxPixels: Int = 100_000_000) {
        self.maxSide = maxSide
        self.maxPixels = maxPixels
    }

    /// The default limits.
    public static let standard = ImageLimits()

    /// Whether a `width x height` image fits (zero-sized images never do).
    public func accepts(width: Int, height: Int) -> Bool {
        width > 0 && height > 0 && width <= maxSide && height <= maxSide && width * height <= maxPixels
    }
}
