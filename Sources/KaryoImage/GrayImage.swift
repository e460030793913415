/// A single-channel image of Float32 intensities, row-major, 0 = black and 1 = white.
///
/// Every decoder converts to this form: 8-bit samples are divided by 255, 16-bit by 65535,
/// RGB is reduced by luminance, palette entries are looked up, min-is-white is inverted.
public struct GrayImage: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `width * height` intensities, row after row.
    public var pixels: [Float]

    /// Creates an image from row-major intensities; `pixels.count` must equal `width * height`.
    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height, "pixel count must be width * height")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Creates an image filled with one value.
    public init(width: Int, height: Int, value: Float = 0) {
        self.init(width: width, height: height, pixels: [Float](repeating: value, count: width * height))
    }

    /// The intensity at column `x`, row `y`.
    @inlinable public subscript(x: Int, y: Int) -> Float {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }
}
