/// Windows BMP decoding: 1/4/8-bit palette (grey or colour) and 24/32-bit BGR, uncompressed (BI_RGB, or
/// BI_BITFIELDS with the standard 32-bit masks), bottom-up or top-down; OS/2 core headers too.
/// RLE-compressed and 16-bit files are refused as unsupported layouts.
enum BMPDecoding {
    static func decode(_ bytes: UnsafeRawBufferPointer, name: String, limits: ImageLimits) throws(ImageError)
        -> DecodedImage
    {
        func truncated(_ what: String) -> ImageError {
            ImageError(path: name, cause: .truncated(detail: "\(what) needs more than the file's \(bytes.count) bytes"))
        }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func i32(_ at: Int) -> Int { Int(Int32(truncatingIfNeeded: UInt32(u32(at)))) }

        guard bytes.count >= 26 else { throw truncated("the BMP header") }
        let pixelOffset = u32(10)
        let headerSize = u32(14)
        let core = headerSize == 12
        guard core || headerSize >= 40 else {
            throw ImageError(path: name, cause: .corrupt("BMP header size \(headerSize) is not 12 or 40 and above"))
        }
        guard bytes.count >= 14 + headerSize else { throw truncated("the BMP header") }
        let width = core ? u16(18) : i32(18)
        let signedHeight = core ? u16(20) : i32(22)
        let bitsPerPixel = core ? u16(24) : u16(28)
        let compression = core ? 0 : u32(30)
        let height = abs(signedHeight)
        let bottomUp = signedHeight > 0
        guard width > 0, height > 0 else {
            throw ImageError(path: name, cause: .corrupt("BMP size \(width)x\(signedHeight) has no pixels"))
        }
        guard limits.accepts(width: width, height: height) else {
            throw ImageError(path: name, cause: .absurdDimensions(width: width, height: height, limits: limits))
        }
        switch (bitsPerPixel, compression) {
        case (1, 0), (4, 0), (8, 0), (24, 0), (32, 0):
            break
        case (32, 3)
        where bytes.count >= 66 && u32(54) == 0x00FF_0000 && u32(58) == 0x0000_FF00 && u32(62) == 0x0000_00FF:
            break
        case (_, 1), (_, 2):
            throw ImageError(path: name, cause: .unsupportedLayout("RLE-compressed BMP (export uncompressed BMP)"))
        default:
            throw ImageError(
                path: name,
                cause: .unsupportedLayout("\(bitsPerPixel)-bit BMP with compression \(compression)"))
        }

        // The palette: BGR(A) entries after the header, as many as the header says (0: all 2^bits).
        var palette: [Float] = []
        var greyPalette = true
        if bitsPerPixel <= 8 {
            let declared = core ? 0 : u32(46)
            let entries = declared == 0 ? 1 << bitsPerPixel : min(declared, 1 << bitsPerPixel)
            let entrySize = core ? 3 : 4
            let start = 14 + headerSize
            guard bytes.count >= start + entries * entrySize else { throw truncated("the BMP palette") }
            for i in 0..<entries {
                let b = Float(bytes[start + i * entrySize]), g = Float(bytes[start + i * entrySize + 1])
                let r = Float(bytes[start + i * entrySize + 2])
                if r != g || g != b { greyPalette = false }
                palette.append(
                    (SampleConversion.redWeight * r + SampleConversion.greenWeight * g
                        + SampleConversion.blueWeight * b) / 255)
            }
            palette += [Float](repeating: 0, count: (1 << bitsPerPixel) - entries)
        }

        let stride = (width * bitsPerPixel + 31) / 32 * 4
        let (rowsBytes, overflow) = stride.multipliedReportingOverflow(by: height)
        guard !overflow, pixelOffset >= 14 + headerSize, bytes.count >= pixelOffset + rowsBytes else {
            throw truncated("the BMP's \(width)x\(height) pixels")
        }
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + pixelOffset
        let pixels = SampleConversion.makePixels(count: width * height) { out in
            for y in 0..<height {
                let row = base + (bottomUp ? height - 1 - y : y) * stride
                let dst = out + y * width
                switch bitsPerPixel {
                case 24, 32:
                    let step = bitsPerPixel / 8
                    SampleConversion.luminance(
                        red: row + 2, green: row + 1, blue: row, stride: step, count: width, into: dst)
                default:
                    let perByte = 8 / bitsPerPixel
                    let mask = (1 << bitsPerPixel) - 1
                    for x in 0..<width {
                        let byte = Int(row[x / perByte])
                        let shift = (perByte - 1 - x % perByte) * bitsPerPixel
                        dst[x] = palette[(byte >> shift) & mask]
                    }
                }
            }
        }
        let model: ColorModel = bitsPerPixel > 8 ? .rgb : (greyPalette ? .grey : .palette)
        return DecodedImage(
            image: GrayImage(width: width, height: height, pixels: pixels), format: .bmp, bitDepth: bitsPerPixel,
            colorModel: model, pageCount: 1, warnings: [])
    }
}
