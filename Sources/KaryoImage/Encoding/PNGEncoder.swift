import CPNG
import Foundation

/// Writes 8-bit grey and 8-bit RGB PNG.
///
/// `compressionLevel` is zlib's 0-9; the default is 3 (why: Benchmarks/README.md, "Design choices").
public enum PNGEncoder {
    /// The zlib level used unless the caller asks for another.
    public static let defaultCompressionLevel = 3

    /// The image as an 8-bit grey PNG (intensities clamped to 0...1 and rounded).
    public static func encode(_ image: GrayImage, compressionLevel: Int = defaultCompressionLevel) throws(ImageError)
        -> Data
    {
        let count = image.width * image.height
        let levels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            image.pixels.withUnsafeBufferPointer { src in
                for i in 0..<count { buffer[i] = UInt8(quantizing: src[i]) }
            }
            initialized = count
        }
        return try encode(
            levels, width: image.width, height: image.height, colorType: KARYO_PNG_GREY, level: compressionLevel)
    }

    /// The image as an 8-bit RGB PNG.
    public static func encode(_ image: RGBImage, compressionLevel: Int = defaultCompressionLevel) throws(ImageError)
        -> Data
    {
        try encode(
            image.samples, width: image.width, height: image.height, colorType: KARYO_PNG_RGB, level: compressionLevel)
    }

    /// Encodes and writes to `url` (replacing the file; use a temp name and rename for atomic results).
    public static func write(
        _ image: GrayImage, to url: URL, compressionLevel: Int = defaultCompressionLevel
    ) throws(ImageError) {
        let data: Data
        do { data = try encode(image, compressionLevel: compressionLevel) } catch {
            throw ImageError(path: url.path, cause: error.cause)
        }
        try FileBytes.write(data, to: url.path)
    }

    /// Encodes and writes to `url` (replacing the file; use a temp name and rename for atomic results).
    public static func write(
        _ image: RGBImage, to url: URL, compressionLevel: Int = defaultCompressionLevel
    ) throws(ImageError) {
        let data: Data
        do { data = try encode(image, compressionLevel: compressionLevel) } catch {
            throw ImageError(path: url.path, cause: error.cause)
        }
        try FileBytes.write(data, to: url.path)
    }

    private static func encode(
        _ samples: [UInt8], width: Int, height: Int, colorType: karyo_png_color_type, level: Int
    ) throws(ImageError) -> Data {
        guard width > 0, height > 0 else {
            throw ImageError(path: "<memory>", cause: .encodingFailed("a PNG needs at least one pixel"))
        }
        var buffer = karyo_png_buffer()
        defer { karyo_png_buffer_release(&buffer) }
        let status = samples.withUnsafeBufferPointer { src in
            karyo_png_encode(
                src.baseAddress!, UInt32(width), UInt32(height), 8, colorType, nil, 0, Int32(max(0, min(9, level))),
                &buffer)
        }
        guard status == KARYO_PNG_OK else {
            let message = withUnsafeBytes(of: buffer.message) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw ImageError(
                path: "<memory>", cause: .encodingFailed(status == KARYO_PNG_NO_MEMORY ? "out of memory" : message))
        }
        return Data(bytes: buffer.data, count: buffer.size)
    }
}
