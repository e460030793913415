import CPNG

/// PNG decoding through libpng (classic API in the CPNG C target, where its longjmp error handling lives).
enum PNGDecoding {
    static func decode(_ bytes: UnsafeRawBufferPointer, name: String, limits: ImageLimits) throws(ImageError)
        -> DecodedImage
    {
        var png = karyo_png_image()
        let status = karyo_png_decode(
            bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count, UInt32(clamping: limits.maxSide),
            UInt64(limits.maxPixels), &png)
        defer { karyo_png_release(&png) }
        let message = withUnsafeBytes(of: png.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        switch status {
        case KARYO_PNG_OK:
            break
        case KARYO_PNG_TRUNCATED:
            throw ImageError(
                path: name, cause: .truncated(detail: "the PNG stream needs more than the file's \(bytes.count) bytes"))
        case KARYO_PNG_TOO_LARGE:
            throw ImageError(
                path: name, cause: .absurdDimensions(width: Int(png.width), height: Int(png.height), limits: limits))
        case KARYO_PNG_NO_MEMORY:
            throw ImageError(path: name, cause: .corrupt("out of memory while decoding"))
        default:
            throw ImageError(path: name, cause: .corrupt("libpng: \(message)"))
        }
        let width = Int(png.width), height = Int(png.height)
        guard limits.accepts(width: width, height: height) else {
            throw ImageError(path: name, cause: .absurdDimensions(width: width, height: height, limits: limits))
        }
        let channels = Int(png.channels)
        let count = width * height
        var warnings: [String] = message.isEmpty ? [] : ["libpng: \(message)"]
        var transparent = 0
        let pixels: [Float]
        let raw = UnsafeRawPointer(png.pixels!)
        if png.bit_depth == 16 {
            let samples = raw.assumingMemoryBound(to: UInt16.self)
            pixels = convert(samples, channels: channels, count: count)
            if channels == 2 || channels == 4 {
                transparent = countBelow(samples + (channels - 1), stride: channels, count: count, max: 65535)
            }
        } else {
            let samples = raw.assumingMemoryBound(to: UInt8.self)
            pixels = convert(samples, channels: channels, count: count)
            if channels == 2 || channels == 4 {
                transparent = countBelow(samples + (channels - 1), stride: channels, count: count, max: 255)
            }
        }
        if transparent > 0 {
            let percent = Double(transparent) * 100 / Double(count)
            warnings.append(
                "alpha channel ignored: \(transparent) pixels (\(percentText(percent))) are not fully opaque")
        }
        let model: ColorModel
        switch karyo_png_color_type(UInt32(png.file_color_type)) {
        case KARYO_PNG_PALETTE: model = .palette
        case KARYO_PNG_RGB: model = .rgb
        case KARYO_PNG_RGBA: model = .rgba
        case KARYO_PNG_GREY_ALPHA: model = .greyAlpha
        default: model = .grey
        }
        return DecodedImage(
            image: GrayImage(width: width, height: height, pixels: pixels), format: .png,
            bitDepth: Int(png.file_bit_depth), colorModel: model, pageCount: 1, warnings: warnings)
    }

    private static func convert(_ samples: UnsafePointer<UInt8>, channels: Int, count: Int) -> [Float] {
        SampleConversion.makePixels(count: count) { out in
            if channels >= 3 {
                SampleConversion.luminance(
                    red: samples, green: samples + 1, blue: samples + 2, stride: channels, count: count, into: out)
            } else {
                SampleConversion.greyTable(bits: 8, inverted: false).withUnsafeBufferPointer {
                    SampleConversion.lookup(samples, stride: channels, count: count, table: $0, into: out)
                }
            }
        }
    }

    private static func convert(_ samples: UnsafePointer<UInt16>, channels: Int, count: Int) -> [Float] {
        SampleConversion.makePixels(count: count) { out in
            if channels >= 3 {
                SampleConversion.luminance(
                    red: samples, green: samples + 1, blue: samples + 2, stride: channels, count: count, into: out)
            } else {
                SampleConversion.greyTable(bits: 16, inverted: false).withUnsafeBufferPointer {
                    SampleConversion.lookup(samples, stride: channels, count: count, table: $0, into: out)
                }
            }
        }
    }

    private static func countBelow<T: FixedWidthInteger>(_ alpha: UnsafePointer<T>, stride: Int, count: Int, max: T)
        -> Int
    {
        var n = 0
        for i in 0..<count where alpha[i &* stride] < max { n += 1 }
        return n
    }

    private static func percentText(_ percent: Double) -> String {
        percent < 0.1 ? "under 0.1%" : "\((percent * 10).rounded() / 10)%"
    }
}
