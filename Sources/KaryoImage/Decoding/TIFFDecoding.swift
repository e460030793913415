/// TIFF decoding through libtiff.
enum TIFFDecoding {
    static func decode(_ bytes: UnsafeRawBufferPointer, name: String, limits: ImageLimits) throws(ImageError)
        -> DecodedImage
    {
        throw ImageError(path: name, cause: .unsupportedLayout("TIFF reading is not merged yet"))
    }
}
