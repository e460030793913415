/// How a file stored its colours, before conversion to grey.
public enum ColorModel: String, Sendable, Equatable, Hashable, Codable {
    /// Grey, 0 = black.
    case grey
    /// Grey, 0 = white (TIFF min-is-white); inverted on decode.
    case greyMinIsWhite
    /// Grey with an alpha channel; the alpha is ignored.
    case greyAlpha
    /// RGB, reduced to grey by luminance (0.299 R + 0.587 G + 0.114 B).
    case rgb
    /// RGB with alpha; the alpha is ignored.
    case rgba
    /// Indexed colour, looked up and reduced by luminance.
    case palette
}

/// A decoded image with what the decoder learned about the file.
public struct DecodedImage: Sendable, Equatable {
    /// The pixels as grey intensities in 0...1.
    public var image: GrayImage
    /// The container format, found from the content.
    public var format: ImageFormat
    /// Bits per sample in the file (1, 8 or 16; for palette images, bits per index).
    public var bitDepth: Int
    /// The file's colour model.
    public var colorModel: ColorModel
    /// Pages (TIFF directories) in the file; only the first is read. Always 1 for PNG.
    public var pageCount: Int
    /// Things the user may want to know, e.g. "multi-page TIFF: only page 1 of 3 was read".
    public var warnings: [String]

    /// Creates a decoded image record.
    public init(
        image: GrayImage, format: ImageFormat, bitDepth: Int, colorModel: ColorModel, pageCount: Int = 1,
        warnings: [String] = []
    ) {
        self.image = image
        self.format = format
        self.bitDepth = bitDepth
        self.colorModel = colorModel
        self.pageCount = pageCount
        self.warnings = warnings
    }
}
