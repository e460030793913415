import Foundation

/// Reads TIFF, PNG, JPEG and BMP files into grey images. The format is found from the content, never the file name.
///
/// Decoding keeps no shared state (every call has its own libtiff/libpng handle and message buffers), so calls
/// may run concurrently; nothing is ever printed to stderr: library messages end up in the error or the warnings.
public enum ImageDecoder {
    /// Reads and decodes the file at `url`.
    ///
    /// - Throws: `ImageError` naming the file: unreadable, empty, unrecognized, truncated, corrupt,
    ///   unsupported layout or absurd dimensions.
    public static func decode(contentsOf url: URL, limits: ImageLimits = .standard) throws(ImageError) -> DecodedImage {
        let data = try FileBytes.read(path: url.path)
        return try decode(data, name: url.path, limits: limits)
    }

    /// Decodes an image held in memory; `name` (usually the source path) is what errors report.
    public static func decode(_ data: Data, name: String = "<memory>", limits: ImageLimits = .standard)
        throws(ImageError) -> DecodedImage
    {
        let result: Result<DecodedImage, ImageError> = data.withUnsafeBytes { bytes in
            Result { () throws(ImageError) in try decode(bytes: bytes, name: name, limits: limits) }
        }
        return try result.get()
    }

    private static func decode(bytes: UnsafeRawBufferPointer, name: String, limits: ImageLimits) throws(ImageError)
        -> DecodedImage
    {
        if bytes.isEmpty { throw ImageError(path: name, cause: .emptyFile) }
        switch ImageFormat.sniff(bytes) {
        case .png:
            return try PNGDecoding.decode(bytes, name: name, limits: limits)
        case .tiff:
            return try TIFFDecoding.decode(bytes, name: name, limits: limits)
        case .jpeg:
            return try JPEGDecoding.decode(bytes, name: name, limits: limits)
        case .bmp:
            return try BMPDecoding.decode(bytes, name: name, limits: limits)
        case nil:
            if bytes.count < 8 {
                let prefix = [UInt8](bytes)
                let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
                if pngSignature.starts(with: prefix) || [0x49, 0x49, 0x2A, 0x00].starts(with: prefix)
                    || [0x4D, 0x4D, 0x00, 0x2A].starts(with: prefix)
                {
                    throw ImageError(path: name, cause: .truncated(detail: "only \(bytes.count) bytes of a header"))
                }
            }
            throw ImageError(path: name, cause: .unrecognizedFormat(magic: ImageFormat.describeMagic(bytes)))
        }
    }
}
