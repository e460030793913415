import CTIFF

/// TIFF decoding through libtiff, band by band: each strip (or row of tiles) is decoded into a small reusable
/// buffer and converted straight into the output, so no full-size raw copy of the image is ever made.
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
        let layout = try TIFFLayout(tif, name: name, limits: limits)
        try checkExtents(tif, layout: layout, fileSize: UInt64(bytes.count), name: name)
        let converter = try TIFFSampleConverter(tif, layout: layout, name: name)

        let count = layout.width * layout.height
        var failure: String?
        let pixels = [Float](unsafeUninitializedCapacity: count) { out, initialized in
            failure = decodeBands(tif, layout: layout, converter: converter, into: out.baseAddress!)
            initialized = count  // Floats need no initialization; on failure the array is dropped below.
        }
        if let failure {
            let detail = text(of: messages.pointee.error)
            throw ImageError(path: name, cause: .corrupt(detail.isEmpty ? failure : "\(failure): libtiff: \(detail)"))
        }

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

    /// Throws `truncated` when a strip or tile's data would lie past the end of the file.
    private static func checkExtents(_ tif: OpaquePointer, layout: TIFFLayout, fileSize: UInt64, name: String)
        throws(ImageError)
    {
        let chunks = layout.tiled ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif)
        for chunk in 0..<chunks {
            let end = TIFFGetStrileOffset(tif, chunk).addingReportingOverflow(TIFFGetStrileByteCount(tif, chunk))
            if end.overflow || end.partialValue > fileSize {
                let kind = layout.tiled ? "tile" : "strip"
                throw ImageError(
                    path: name,
                    cause: .truncated(detail: "\(kind) \(chunk + 1) of \(chunks) lies past the end of the file"))
            }
        }
    }

    /// Decodes the image band by band (a band is one strip, or one row of tiles, of every plane needed) and
    /// converts each band into `out`. Returns what failed, or nil.
    private static func decodeBands(
        _ tif: OpaquePointer, layout: TIFFLayout, converter: TIFFSampleConverter, into out: UnsafeMutablePointer<Float>
    ) -> String? {
        var tileWidth: UInt32 = 0, bandRows: UInt32 = 0
        if layout.tiled {
            _ = karyo_tiff_get_u32(tif, UInt32(TIFFTAG_TILEWIDTH), &tileWidth)
            _ = karyo_tiff_get_u32(tif, UInt32(TIFFTAG_TILELENGTH), &bandRows)
        } else {
            _ = karyo_tiff_get_u32_defaulted(tif, UInt32(TIFFTAG_ROWSPERSTRIP), &bandRows)
        }
        let rowsPerBand = max(1, min(Int(bandRows), layout.height))
        let planeBytes = rowsPerBand * layout.rowBytes
        let band = UnsafeMutableRawPointer.allocate(byteCount: planeBytes * layout.planes, alignment: 16)
        defer { band.deallocate() }

        var tile: UnsafeMutableRawPointer?
        var tileSize = 0, tileRowBytes = 0
        if layout.tiled {
            tileSize = Int(TIFFTileSize64(tif))
            tileRowBytes = Int(TIFFTileRowSize64(tif))
            guard tileWidth > 0, tileSize > 0, tileSize <= 1 << 28, tileRowBytes * rowsPerBand <= tileSize else {
                return "implausible tile size \(tileWidth)x\(bandRows)"
            }
            tile = UnsafeMutableRawPointer.allocate(byteCount: tileSize, alignment: 16)
        }
        defer { tile?.deallocate() }

        let bitsPerPixel = layout.samplesInPlane * layout.bitsPerSample
        for y in stride(from: 0, to: layout.height, by: rowsPerBand) {
            let rows = min(rowsPerBand, layout.height - y)
            for plane in 0..<layout.planes {
                let target = band + plane * planeBytes
                if let tile {
                    for x in stride(from: 0, to: layout.width, by: Int(tileWidth)) {
                        let index = TIFFComputeTile(tif, UInt32(x), UInt32(y), 0, UInt16(plane))
                        if TIFFReadEncodedTile(tif, index, tile, tmsize_t(tileSize)) < 0 {
                            return "tile \(index + 1) cannot be decoded"
                        }
                        let copyBytes = (min(Int(tileWidth), layout.width - x) * bitsPerPixel + 7) / 8
                        let start = target + (x * bitsPerPixel) / 8
                        for r in 0..<rows {
                            (start + r * layout.rowBytes).copyMemory(
                                from: tile + r * tileRowBytes, byteCount: copyBytes)
                        }
                    }
                } else {
                    let index = TIFFComputeStrip(tif, UInt32(y), UInt16(plane))
                    let expected = rows * layout.rowBytes
                    let got = TIFFReadEncodedStrip(tif, index, target, tmsize_t(expected))
                    if got < 0 { return "strip \(index + 1) cannot be decoded" }
                    if got < expected { return "strip \(index + 1) holds \(got) of \(expected) bytes" }
                }
            }
            converter.convert(band: band, rows: rows, planeBytes: planeBytes, into: out + y * layout.width)
        }
        return nil
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
