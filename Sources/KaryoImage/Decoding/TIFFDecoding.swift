import CTIFF

/// TIFF decoding through libtiff: strips or tiles are decoded into one raw buffer, then converted to grey.
///
/// Handles 1-, 8- and 16-bit unsigned samples; min-is-black, min-is-white, RGB and palette; contiguous and
/// separate planes; every compression libtiff was built with (none, LZW, Deflate, PackBits, ... with predictors);
/// either byte order. Only the first page of a multi-page file is read.
enum TIFFDecoding {
    static func decode(_ bytes: UnsafeRawBufferPointer, name: String, limits: ImageLimits) throws(ImageError)
        -> DecodedImage
    {
        let memory = UnsafeMutablePointer<karyo_tiff_memory>.allocate(capacity: 1)
        memory.initialize(
            to: karyo_tiff_memory(
                data: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), size: UInt64(bytes.count), position: 0))
        let messages = UnsafeMutablePointer<karyo_tiff_messages>.allocate(capacity: 1)
        messages.initialize(to: karyo_tiff_messages())
        defer {
            memory.deallocate()
            messages.deallocate()
        }
        guard let tif = karyo_tiff_open_memory(name, memory, messages) else {
            let message = text(of: messages.pointee.error)
            if headerPointsPastEnd(bytes) {
                throw ImageError(path: name, cause: .truncated(detail: "the first TIFF directory lies past the end"))
            }
            throw ImageError(path: name, cause: .corrupt("libtiff: \(message.isEmpty ? "cannot open" : message)"))
        }
        defer { TIFFClose(tif) }
        let layout = try Layout(tif, name: name, limits: limits)
        let raw = try readSamples(tif, layout: layout, fileSize: UInt64(bytes.count), name: name, messages: messages)
        defer { raw.deallocate() }
        let pixels = try convert(raw, layout: layout, tif: tif, name: name)

        var warnings: [String] = []
        let pages = Int(TIFFNumberOfDirectories(tif))
        if pages > 1 { warnings.append("multi-page TIFF: only page 1 of \(pages) was read") }
        let libtiffWarnings = text(of: messages.pointee.warnings)
        if !libtiffWarnings.isEmpty { warnings.append("libtiff: \(libtiffWarnings)") }
        return DecodedImage(
            image: GrayImage(width: layout.width, height: layout.height, pixels: pixels), format: .tiff,
            bitDepth: layout.bitsPerSample, colorModel: layout.colorModel, pageCount: max(pages, 1),
            warnings: warnings)
    }

    /// The first directory's sample layout, validated before any pixel memory is allocated.
    struct Layout {
        var width = 0
        var height = 0
        var bitsPerSample = 0
        var samplesPerPixel = 0
        var photometric = 0
        var separatePlanes = false
        var tiled = false
        /// Planes read: 3 for separate RGB, else 1.
        var planes = 1
        /// Samples per pixel inside one read plane.
        var samplesInPlane = 1
        var rowBytes = 0

        var colorModel: ColorModel {
            switch Int32(photometric) {
            case PHOTOMETRIC_MINISWHITE: return .greyMinIsWhite
            case PHOTOMETRIC_RGB: return samplesPerPixel > 3 ? .rgba : .rgb
            case PHOTOMETRIC_PALETTE: return .palette
            default: return samplesPerPixel > 1 ? .greyAlpha : .grey
            }
        }

        init(_ tif: OpaquePointer, name: String, limits: ImageLimits) throws(ImageError) {
            var w: UInt32 = 0, h: UInt32 = 0
            guard karyo_tiff_get_u32(tif, UInt32(TIFFTAG_IMAGEWIDTH), &w) == 1,
                karyo_tiff_get_u32(tif, UInt32(TIFFTAG_IMAGELENGTH), &h) == 1
            else { throw ImageError(path: name, cause: .corrupt("the TIFF directory has no image width or length")) }
            width = Int(w)
            height = Int(h)
            guard limits.accepts(width: width, height: height) else {
                throw ImageError(path: name, cause: .absurdDimensions(width: width, height: height, limits: limits))
            }
            var bps: UInt16 = 1, spp: UInt16 = 1, format: UInt16 = 1, planar: UInt16 = 1, photo: UInt16 = 0
            var compression: UInt16 = 1
            _ = karyo_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_BITSPERSAMPLE), &bps)
            _ = karyo_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), &spp)
            _ = karyo_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_SAMPLEFORMAT), &format)
            _ = karyo_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_PLANARCONFIG), &planar)
            _ = karyo_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_COMPRESSION), &compression)
            if karyo_tiff_get_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), &photo) != 1 {
                photo = UInt16(spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK)
            }
            bitsPerSample = Int(bps)
            samplesPerPixel = Int(spp)
            photometric = Int(photo)
            separatePlanes = Int32(planar) == PLANARCONFIG_SEPARATE && spp > 1
            tiled = TIFFIsTiled(tif) != 0

            func unsupported(_ what: String) -> ImageError { ImageError(path: name, cause: .unsupportedLayout(what)) }
            switch Int32(format) {
            case SAMPLEFORMAT_UINT: break
            case SAMPLEFORMAT_IEEEFP: throw unsupported("\(bps)-bit floating-point samples")
            case SAMPLEFORMAT_INT: throw unsupported("\(bps)-bit signed integer samples")
            default: throw unsupported("sample format \(format) with \(bps)-bit samples")
            }
            guard bps == 1 || bps == 8 || bps == 16 else {
                throw unsupported("\(bps)-bit samples (only 1, 8 and 16 bits are read)")
            }
            guard spp >= 1 && spp <= 16 else { throw unsupported("\(spp) samples per pixel") }
            switch Int32(photo) {
            case PHOTOMETRIC_MINISBLACK, PHOTOMETRIC_MINISWHITE:
                break
            case PHOTOMETRIC_RGB:
                guard spp >= 3 else { throw unsupported("RGB with \(spp) samples per pixel") }
                guard bps != 1 else { throw unsupported("1-bit RGB") }
            case PHOTOMETRIC_PALETTE:
                guard spp == 1 else { throw unsupported("palette image with \(spp) samples per pixel") }
            default:
                throw unsupported("photometric interpretation \(Self.photometricName(Int32(photo)))")
            }
            if bps == 1 && spp != 1 { throw unsupported("1-bit samples with \(spp) samples per pixel") }
            if TIFFIsCODECConfigured(compression) == 0 {
                throw unsupported("compression scheme \(compression), which this libtiff cannot decode")
            }
            planes = separatePlanes && Int32(photo) == PHOTOMETRIC_RGB ? 3 : 1
            samplesInPlane = separatePlanes ? 1 : samplesPerPixel
            rowBytes = (width * samplesInPlane * bitsPerSample + 7) / 8
        }

        static func photometricName(_ value: Int32) -> String {
            switch value {
            case PHOTOMETRIC_SEPARATED: return "CMYK (separated)"
            case PHOTOMETRIC_YCBCR: return "YCbCr"
            case PHOTOMETRIC_CIELAB, PHOTOMETRIC_ICCLAB, PHOTOMETRIC_ITULAB: return "CIE L*a*b*"
            case PHOTOMETRIC_MASK: return "transparency mask"
            default: return "\(value)"
            }
        }
    }

    /// Decodes every strip or tile of the planes needed into one buffer of `planes * height * rowBytes` bytes.
    private static func readSamples(
        _ tif: OpaquePointer, layout: Layout, fileSize: UInt64, name: String,
        messages: UnsafeMutablePointer<karyo_tiff_messages>
    ) throws(ImageError) -> UnsafeMutableRawPointer {
        let planeBytes = layout.rowBytes * layout.height
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(planeBytes * layout.planes, 1), alignment: 16)
        func failure(_ what: String) -> ImageError {
            raw.deallocate()
            let detail = text(of: messages.pointee.error)
            return ImageError(path: name, cause: .corrupt(detail.isEmpty ? what : "\(what): libtiff: \(detail)"))
        }
        let chunks = layout.tiled ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif)
        for chunk in 0..<chunks {
            let end = TIFFGetStrileOffset(tif, chunk).addingReportingOverflow(TIFFGetStrileByteCount(tif, chunk))
            if end.overflow || end.partialValue > fileSize {
                raw.deallocate()
                let kind = layout.tiled ? "tile" : "strip"
                throw ImageError(
                    path: name,
                    cause: .truncated(detail: "\(kind) \(chunk + 1) of \(chunks) lies past the end of the file"))
            }
        }
        if layout.tiled {
            var tileWidth: UInt32 = 0, tileLength: UInt32 = 0
            _ = karyo_tiff_get_u32(tif, UInt32(TIFFTAG_TILEWIDTH), &tileWidth)
            _ = karyo_tiff_get_u32(tif, UInt32(TIFFTAG_TILELENGTH), &tileLength)
            let tileSize = Int(TIFFTileSize64(tif))
            let tileRowBytes = Int(TIFFTileRowSize64(tif))
            guard tileWidth > 0, tileLength > 0, tileSize > 0, tileSize <= 1 << 28,
                tileRowBytes * Int(tileLength) <= tileSize
            else { throw failure("implausible tile size \(tileWidth)x\(tileLength)") }
            let tile = UnsafeMutableRawPointer.allocate(byteCount: tileSize, alignment: 16)
            defer { tile.deallocate() }
            let bitsPerPixel = layout.samplesInPlane * layout.bitsPerSample
            for plane in 0..<layout.planes {
                for y in stride(from: 0, to: layout.height, by: Int(tileLength)) {
                    for x in stride(from: 0, to: layout.width, by: Int(tileWidth)) {
                        let index = TIFFComputeTile(tif, UInt32(x), UInt32(y), 0, UInt16(plane))
                        if TIFFReadEncodedTile(tif, index, tile, tmsize_t(tileSize)) < 0 {
                            throw failure("tile \(index + 1) cannot be decoded")
                        }
                        let rows = min(Int(tileLength), layout.height - y)
                        let columns = min(Int(tileWidth), layout.width - x)
                        let copyBytes = (columns * bitsPerPixel + 7) / 8
                        let start = raw + plane * planeBytes + (x * bitsPerPixel) / 8
                        for r in 0..<rows {
                            (start + (y + r) * layout.rowBytes).copyMemory(
                                from: tile + r * tileRowBytes, byteCount: copyBytes)
                        }
                    }
                }
            }
        } else {
            var rowsPerStrip: UInt32 = 0
            _ = karyo_tiff_get_u32_defaulted(tif, UInt32(TIFFTAG_ROWSPERSTRIP), &rowsPerStrip)
            let stripRows = max(1, min(Int(rowsPerStrip), layout.height))
            for plane in 0..<layout.planes {
                for y in stride(from: 0, to: layout.height, by: stripRows) {
                    let index = TIFFComputeStrip(tif, UInt32(y), UInt16(plane))
                    let expected = min(stripRows, layout.height - y) * layout.rowBytes
                    let got = TIFFReadEncodedStrip(
                        tif, index, raw + plane * planeBytes + y * layout.rowBytes, tmsize_t(expected))
                    if got < 0 { throw failure("strip \(index + 1) cannot be decoded") }
                    if got < expected { throw failure("strip \(index + 1) holds \(got) of \(expected) bytes") }
                }
            }
        }
        return raw
    }

    /// Converts the raw samples to grey intensities.
    private static func convert(_ raw: UnsafeMutableRawPointer, layout: Layout, tif: OpaquePointer, name: String)
        throws(ImageError) -> [Float]
    {
        let count = layout.width * layout.height
        let planeBytes = layout.rowBytes * layout.height
        let photometric = Int32(layout.photometric)
        if photometric == PHOTOMETRIC_RGB {
            let step = layout.separatePlanes ? 1 : layout.samplesPerPixel
            let sampleBytes = layout.bitsPerSample / 8
            let offset = { (channel: Int) in layout.separatePlanes ? channel * planeBytes : channel * sampleBytes }
            return SampleConversion.makePixels(count: count) { out in
                if layout.bitsPerSample == 16 {
                    let r = (raw + offset(0)).assumingMemoryBound(to: UInt16.self)
                    let g = (raw + offset(1)).assumingMemoryBound(to: UInt16.self)
                    let b = (raw + offset(2)).assumingMemoryBound(to: UInt16.self)
                    SampleConversion.luminance(red: r, green: g, blue: b, stride: step, count: count, into: out)
                } else {
                    let r = (raw + offset(0)).assumingMemoryBound(to: UInt8.self)
                    let g = (raw + offset(1)).assumingMemoryBound(to: UInt8.self)
                    let b = (raw + offset(2)).assumingMemoryBound(to: UInt8.self)
                    SampleConversion.luminance(red: r, green: g, blue: b, stride: step, count: count, into: out)
                }
            }
        }
        let table: [Float]
        if photometric == PHOTOMETRIC_PALETTE {
            table = try paletteTable(tif, bits: layout.bitsPerSample, name: name)
        } else {
            table = SampleConversion.greyTable(
                bits: layout.bitsPerSample, inverted: photometric == PHOTOMETRIC_MINISWHITE)
        }
        return table.withUnsafeBufferPointer { lut in
            SampleConversion.makePixels(count: count) { out in
                switch layout.bitsPerSample {
                case 16:
                    let samples = UnsafePointer(raw.assumingMemoryBound(to: UInt16.self))
                    SampleConversion.lookup(samples, stride: layout.samplesInPlane, count: count, table: lut, into: out)
                case 8:
                    let samples = UnsafePointer(raw.assumingMemoryBound(to: UInt8.self))
                    SampleConversion.lookup(samples, stride: layout.samplesInPlane, count: count, table: lut, into: out)
                default:
                    for y in 0..<layout.height {
                        let row = UnsafePointer((raw + y * layout.rowBytes).assumingMemoryBound(to: UInt8.self))
                        SampleConversion.lookupBits(
                            row, count: layout.width, zero: lut[0], one: lut[1], into: out + y * layout.width)
                    }
                }
            }
        }
    }

    /// Grey levels of the colour map's entries (16-bit per channel; maps holding only 8-bit values are
    /// read as 8-bit, as libtiff's own RGBA reader does).
    private static func paletteTable(_ tif: OpaquePointer, bits: Int, name: String) throws(ImageError) -> [Float] {
        var r: UnsafeMutablePointer<UInt16>?, g: UnsafeMutablePointer<UInt16>?, b: UnsafeMutablePointer<UInt16>?
        guard karyo_tiff_get_colormap(tif, &r, &g, &b) == 1, let r, let g, let b else {
            throw ImageError(path: name, cause: .corrupt("a palette image without a colour map"))
        }
        let entries = 1 << bits
        var maximum: UInt16 = 0
        for i in 0..<entries { maximum = max(maximum, r[i], g[i], b[i]) }
        let scale: Float = maximum < 256 ? 255 : 65535
        return (0..<entries).map { i in
            (SampleConversion.redWeight * Float(r[i]) + SampleConversion.greenWeight * Float(g[i])
                + SampleConversion.blueWeight * Float(b[i])) / scale
        }
    }

    /// Whether the header's first-directory offset lies beyond the data (a file cut short).
    private static func headerPointsPastEnd(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 8 else { return true }
        let bigEndian = bytes[0] == 0x4D
        if (bigEndian ? bytes[3] : bytes[2]) == 43 {  // BigTIFF: 8-byte offset at 8.
            guard bytes.count >= 16 else { return true }
            var offset: UInt64 = 0
            for i in 0..<8 { offset |= UInt64(bytes[8 + (bigEndian ? 7 - i : i)]) << (8 * UInt64(i)) }
            return offset >= UInt64(bytes.count)
        }
        var offset: UInt32 = 0
        for i in 0..<4 { offset |= UInt32(bytes[4 + (bigEndian ? 3 - i : i)]) << (8 * UInt32(i)) }
        return UInt64(offset) + 2 > UInt64(bytes.count)
    }

    private static func text<T>(of tuple: T) -> String {
        withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
