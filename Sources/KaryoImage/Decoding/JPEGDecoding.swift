import CTurboJPEG

/// JPEG decoding through libjpeg-turbo's TurboJPEG API, straight to 8-bit grey (colour JPEGs by their luma).
enum JPEGDecoding {
    static func decode(_ bytes: UnsafeRawBufferPointer, name: String, limits: ImageLimits) throws(ImageError)
        -> DecodedImage
    {
        guard let handle = tjInitDecompress() else {
            throw ImageError(path: name, cause: .corrupt("libjpeg-turbo could not start a decoder"))
        }
        defer { tjDestroy(handle) }
        let data = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let size = UInt(bytes.count)
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        if tjDecompressHeader3(handle, data, size, &width, &height, &subsampling, &colorspace) != 0 {
            throw failure(handle, name: name, size: bytes.count)
        }
        // A stream cut before its frame header reads as a header of no size.
        guard width > 0, height > 0 else {
            throw ImageError(
                path: name,
                cause: .truncated(detail: "the file's \(bytes.count) bytes end before the JPEG frame header"))
        }
        guard limits.accepts(width: Int(width), height: Int(height)) else {
            throw ImageError(
                path: name, cause: .absurdDimensions(width: Int(width), height: Int(height), limits: limits))
        }
        let count = Int(width) * Int(height)
        var grey = [UInt8](repeating: 0, count: count)
        var warnings: [String] = []
        let status = grey.withUnsafeMutableBufferPointer { out in
            tjDecompress2(handle, data, size, out.baseAddress, width, 0, height, Int32(TJPF_GRAY.rawValue), 0)
        }
        if status != 0 {
            let message = String(cString: tjGetErrorStr2(handle))
            guard tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue), !message.contains("Premature end") else {
                throw failure(handle, name: name, size: bytes.count)
            }
            warnings.append("libjpeg: \(message)")
        }
        let pixels = SampleConversion.makePixels(count: count) { out in
            SampleConversion.greyTable(bits: 8, inverted: false).withUnsafeBufferPointer { table in
                grey.withUnsafeBufferPointer {
                    SampleConversion.lookup($0.baseAddress!, stride: 1, count: count, table: table, into: out)
                }
            }
        }
        return DecodedImage(
            image: GrayImage(width: Int(width), height: Int(height), pixels: pixels), format: .jpeg, bitDepth: 8,
            colorModel: colorspace == Int32(TJCS_GRAY.rawValue) ? .grey : .rgb, pageCount: 1, warnings: warnings)
    }

    /// The decoder's last error as an `ImageError`: a stream that ends early is truncated, anything else corrupt.
    private static func failure(_ handle: tjhandle, name: String, size: Int) -> ImageError {
        let message = String(cString: tjGetErrorStr2(handle))
        if message.contains("Premature end") || message.contains("insufficient") {
            return ImageError(
                path: name, cause: .truncated(detail: "the JPEG stream needs more than the file's \(size) bytes"))
        }
        return ImageError(path: name, cause: .corrupt("libjpeg: \(message)"))
    }
}
