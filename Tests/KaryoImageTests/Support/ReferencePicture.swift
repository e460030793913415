import KaryoImage

/// The reference picture every fixture variant stores: odd dimensions (so no format's row or tile padding
/// hides a bug), every 8-bit level present, structure in both directions.
enum ReferencePicture {
    static let width = 67
    static let height = 45

    /// The 8-bit level at (x, y).
    static func level(_ x: Int, _ y: Int) -> UInt8 {
        UInt8((x * 7 + y * 13 + (x * y) % 31) % 256)
    }

    /// All levels, row-major.
    static let levels: [UInt8] = (0..<height).flatMap { y in (0..<width).map { x in level(x, y) } }

    /// The levels as the grey image a decoder must return.
    static var image: GrayImage {
        GrayImage(width: width, height: height, pixels: levels.map { Float($0) / 255 })
    }

    /// 16-bit samples with the same intensities (v * 257 maps 255 to 65535).
    static var levels16: [UInt16] { levels.map { UInt16($0) * 257 } }

    /// The largest absolute difference between two same-sized images (infinity if the sizes differ).
    static func maxDifference(_ a: GrayImage, _ b: GrayImage) -> Float {
        guard a.width == b.width, a.height == b.height else { return .infinity }
        return zip(a.pixels, b.pixels).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }
}
