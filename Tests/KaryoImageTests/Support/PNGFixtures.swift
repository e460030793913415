import CPNG
import Foundation

/// Writes PNG fixtures with libpng (through the CPNG target), so tests never depend on checked-in variants.
enum PNGFixtures {
    /// Encodes packed samples (16-bit ones in native byte order) as PNG.
    static func encode(
        _ samples: UnsafeRawBufferPointer, width: Int, height: Int, bitDepth: Int, colorType: karyo_png_color_type,
        palette: [UInt8] = []
    ) -> Data {
        var buffer = karyo_png_buffer()
        defer { karyo_png_buffer_release(&buffer) }
        let status = palette.withUnsafeBufferPointer { pal in
            karyo_png_encode(
                samples.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(width), UInt32(height),
                Int32(bitDepth), colorType, pal.baseAddress, Int32(palette.count / 3), -1, &buffer)
        }
        precondition(status == KARYO_PNG_OK, "fixture encoding failed")
        return Data(bytes: buffer.data, count: buffer.size)
    }

    static func grey8() -> Data {
        ReferencePicture.levels.withUnsafeBytes {
            encode(
                $0, width: ReferencePicture.width, height: ReferencePicture.height, bitDepth: 8,
                colorType: KARYO_PNG_GREY)
        }
    }

    static func grey16(_ samples: [UInt16] = ReferencePicture.levels16) -> Data {
        samples.withUnsafeBytes {
            encode(
                $0, width: ReferencePicture.width, height: ReferencePicture.height, bitDepth: 16,
                colorType: KARYO_PNG_GREY)
        }
    }

    static func rgb8() -> Data {
        let rgb: [UInt8] = ReferencePicture.levels.flatMap { (v: UInt8) -> [UInt8] in [v, v, v] }
        return rgb.withUnsafeBytes {
            encode(
                $0, width: ReferencePicture.width, height: ReferencePicture.height, bitDepth: 8,
                colorType: KARYO_PNG_RGB)
        }
    }

    static func rgba16() -> Data {
        let rgba: [UInt16] = ReferencePicture.levels16.flatMap { (v: UInt16) -> [UInt16] in [v, v, v, 65535] }
        return rgba.withUnsafeBytes {
            encode(
                $0, width: ReferencePicture.width, height: ReferencePicture.height, bitDepth: 16,
                colorType: KARYO_PNG_RGBA)
        }
    }

    /// Palette whose index i holds grey 255 - i; pixels store 255 - level.
    static func palette() -> Data {
        let palette: [UInt8] = (0..<256).flatMap { (i: Int) -> [UInt8] in
            let grey = UInt8(255 - i)
            return [grey, grey, grey]
        }
        let indices = ReferencePicture.levels.map { 255 - $0 }
        return indices.withUnsafeBytes {
            encode(
                $0, width: ReferencePicture.width, height: ReferencePicture.height, bitDepth: 8,
                colorType: KARYO_PNG_PALETTE, palette: palette)
        }
    }

    static func greyAlpha(alpha: UInt8 = 255) -> Data {
        let ga: [UInt8] = ReferencePicture.levels.flatMap { (v: UInt8) -> [UInt8] in [v, alpha] }
        return ga.withUnsafeBytes {
            encode(
                $0, width: ReferencePicture.width, height: ReferencePicture.height, bitDepth: 8,
                colorType: KARYO_PNG_GREY_ALPHA)
        }
    }
}
