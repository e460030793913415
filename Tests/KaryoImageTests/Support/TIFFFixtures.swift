import CTIFF
import Foundation

/// One way of storing the reference picture as TIFF, written with libtiff itself.
struct TIFFVariant: CustomStringConvertible, Sendable {
    enum Content: Sendable {
        case grey, minIsWhite, rgb, palette
    }

    var name: String
    var content = Content.grey
    var bitsPerSample = 8
    var compression = COMPRESSION_NONE
    var predictor = PREDICTOR_NONE
    var rowsPerStrip = 8
    var tileSize: Int?
    var bigEndian = false
    var separatePlanes = false
    var pages = 1

    var description: String { name }
}

/// Writes TIFF fixtures with libtiff into files.
enum TIFFFixtures {
    /// The variants every TIFF decoding test covers.
    static let variants: [TIFFVariant] = [
        TIFFVariant(name: "8-bit strips"),
        TIFFVariant(name: "8-bit one strip", rowsPerStrip: 1000),
        TIFFVariant(name: "16-bit", bitsPerSample: 16),
        TIFFVariant(name: "16-bit big-endian LZW", bitsPerSample: 16, compression: COMPRESSION_LZW, bigEndian: true),
        TIFFVariant(name: "RGB", content: .rgb),
        TIFFVariant(name: "RGB 16-bit separate planes", content: .rgb, bitsPerSample: 16, separatePlanes: true),
        TIFFVariant(name: "palette", content: .palette),
        TIFFVariant(name: "tiled", tileSize: 16),
        TIFFVariant(
            name: "tiled 16-bit Deflate", bitsPerSample: 16, compression: COMPRESSION_ADOBE_DEFLATE, tileSize: 32),
        TIFFVariant(name: "LZW", compression: COMPRESSION_LZW),
        TIFFVariant(
            name: "LZW + predictor (CytoVision)", compression: COMPRESSION_LZW, predictor: PREDICTOR_HORIZONTAL,
            rowsPerStrip: 11),
        TIFFVariant(
            name: "Deflate + predictor", compression: COMPRESSION_ADOBE_DEFLATE, predictor: PREDICTOR_HORIZONTAL),
        TIFFVariant(name: "PackBits", compression: COMPRESSION_PACKBITS),
        TIFFVariant(name: "big-endian", bigEndian: true),
        TIFFVariant(name: "min-is-white", content: .minIsWhite),
        TIFFVariant(name: "min-is-white 16-bit", content: .minIsWhite, bitsPerSample: 16),
        TIFFVariant(
            name: "RGB LZW + predictor big-endian", content: .rgb, compression: COMPRESSION_LZW,
            predictor: PREDICTOR_HORIZONTAL, bigEndian: true),
    ]

    /// Writes `variant` of the reference picture to `url`.
    static func write(_ variant: TIFFVariant, to url: URL) {
        let w = ReferencePicture.width, h = ReferencePicture.height
        let levels = ReferencePicture.levels
        let planes: [[UInt8]]
        var samplesPerPixel = 1
        var photometric = PHOTOMETRIC_MINISBLACK
        let stored: [UInt16]
        switch variant.content {
        case .grey: stored = levels.map { UInt16($0) }
        case .minIsWhite:
            stored = levels.map { 255 - UInt16($0) }
            photometric = PHOTOMETRIC_MINISWHITE
        case .rgb:
            stored = levels.map { UInt16($0) }
            photometric = PHOTOMETRIC_RGB
            samplesPerPixel = 3
        case .palette:
            stored = levels.map { 255 - UInt16($0) }
            photometric = PHOTOMETRIC_PALETTE
        }
        func bytes(_ values: [UInt16]) -> [UInt8] {
            if variant.bitsPerSample == 8 { return values.map { UInt8($0) } }
            return values.map { $0 * 257 }.withUnsafeBytes { Array($0) }
        }
        if samplesPerPixel == 3 && !variant.separatePlanes {
            planes = [bytes(stored.flatMap { (v: UInt16) -> [UInt16] in [v, v, v] })]
        } else {
            planes = Array(repeating: bytes(stored), count: samplesPerPixel)
        }
        let pixelBytes = (variant.separatePlanes ? 1 : samplesPerPixel) * variant.bitsPerSample / 8
        let rowBytes = w * pixelBytes

        let tif = TIFFOpen(url.path, variant.bigEndian ? "wb" : "wl")!
        defer { TIFFClose(tif) }
        for _ in 0..<variant.pages {
            set(tif, TIFFTAG_IMAGEWIDTH, UInt32(w))
            set(tif, TIFFTAG_IMAGELENGTH, UInt32(h))
            set16(tif, TIFFTAG_BITSPERSAMPLE, variant.bitsPerSample)
            set16(tif, TIFFTAG_SAMPLESPERPIXEL, samplesPerPixel)
            set16(tif, TIFFTAG_PHOTOMETRIC, Int(photometric))
            set16(tif, TIFFTAG_PLANARCONFIG, Int(variant.separatePlanes ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG))
            set16(tif, TIFFTAG_COMPRESSION, Int(variant.compression))
            if variant.predictor != PREDICTOR_NONE { set16(tif, TIFFTAG_PREDICTOR, Int(variant.predictor)) }
            if variant.pages > 1 { set(tif, TIFFTAG_SUBFILETYPE, UInt32(FILETYPE_PAGE)) }
            if variant.content == .palette {
                let entries = 1 << variant.bitsPerSample
                var map = (0..<entries).map { i in UInt16(entries - 1 - i) * (variant.bitsPerSample == 8 ? 257 : 1) }
                var g = map, b = map
                _ = karyo_tiff_set_colormap(tif, &map, &g, &b)
            }
            if let tile = variant.tileSize {
                set(tif, TIFFTAG_TILEWIDTH, UInt32(tile))
                set(tif, TIFFTAG_TILELENGTH, UInt32(tile))
                var buffer = [UInt8](repeating: 0, count: tile * tile * pixelBytes)
                for (p, plane) in planes.enumerated() {
                    for ty in stride(from: 0, to: h, by: tile) {
                        for tx in stride(from: 0, to: w, by: tile) {
                            for i in buffer.indices { buffer[i] = 0 }
                            for r in 0..<min(tile, h - ty) {
                                let n = min(tile, w - tx) * pixelBytes
                                let src = (ty + r) * rowBytes + tx * pixelBytes
                                buffer.replaceSubrange(
                                    r * tile * pixelBytes..<(r * tile * pixelBytes + n), with: plane[src..<(src + n)])
                            }
                            let index = TIFFComputeTile(tif, UInt32(tx), UInt32(ty), 0, UInt16(p))
                            precondition(TIFFWriteEncodedTile(tif, index, &buffer, tmsize_t(buffer.count)) >= 0)
                        }
                    }
                }
            } else {
                set(tif, TIFFTAG_ROWSPERSTRIP, UInt32(variant.rowsPerStrip))
                for (p, plane) in planes.enumerated() {
                    for y in stride(from: 0, to: h, by: variant.rowsPerStrip) {
                        let rows = min(variant.rowsPerStrip, h - y)
                        var strip = Array(plane[(y * rowBytes)..<((y + rows) * rowBytes)])
                        let index = TIFFComputeStrip(tif, UInt32(y), UInt16(p))
                        precondition(TIFFWriteEncodedStrip(tif, index, &strip, tmsize_t(strip.count)) >= 0)
                    }
                }
            }
            precondition(TIFFWriteDirectory(tif) == 1)
        }
    }

    /// Writes a single-strip uncompressed TIFF of arbitrary samples (for layouts the reader must refuse).
    static func writeRaw(
        to url: URL, width: Int, height: Int, bitsPerSample: Int, sampleFormat: Int32 = SAMPLEFORMAT_UINT,
        photometric: Int32 = PHOTOMETRIC_MINISBLACK, samplesPerPixel: Int = 1
    ) {
        let tif = TIFFOpen(url.path, "w")!
        defer { TIFFClose(tif) }
        set(tif, TIFFTAG_IMAGEWIDTH, UInt32(width))
        set(tif, TIFFTAG_IMAGELENGTH, UInt32(height))
        set16(tif, TIFFTAG_BITSPERSAMPLE, bitsPerSample)
        set16(tif, TIFFTAG_SAMPLESPERPIXEL, samplesPerPixel)
        set16(tif, TIFFTAG_SAMPLEFORMAT, Int(sampleFormat))
        set16(tif, TIFFTAG_PHOTOMETRIC, Int(photometric))
        set(tif, TIFFTAG_ROWSPERSTRIP, UInt32(height))
        var data = [UInt8](repeating: 7, count: (width * bitsPerSample * samplesPerPixel + 7) / 8 * height)
        precondition(TIFFWriteEncodedStrip(tif, 0, &data, tmsize_t(data.count)) >= 0)
    }

    /// A hand-made little-endian TIFF: header, one directory right after it, then the pixel data, so that
    /// cutting the file cuts the pixels and not the directory. `width` and `height` may be absurd.
    static func handMade(width: UInt32, height: UInt32, dataBytes: Int) -> Data {
        var out = Data([0x49, 0x49, 42, 0, 8, 0, 0, 0])
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        let entries: [(UInt16, UInt16, UInt32)] = [
            (256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0),
            (277, 3, 1), (278, 4, height), (279, 4, UInt32(dataBytes)),
        ]
        let dataOffset = UInt32(8 + 2 + entries.count * 12 + 4)
        u16(UInt16(entries.count))
        for (tag, type, value) in entries {
            u16(tag)
            u16(type)
            u32(1)
            if type == 3 {
                u16(UInt16(value))
                u16(0)
            } else {
                u32(tag == 273 ? dataOffset : value)
            }
        }
        u32(0)
        out.append(contentsOf: (0..<dataBytes).map { UInt8($0 % 251) })
        return out
    }

    private static func set(_ tif: OpaquePointer, _ tag: Int32, _ value: UInt32) {
        precondition(karyo_tiff_set_u32(tif, UInt32(tag), value) == 1)
    }

    private static func set16(_ tif: OpaquePointer, _ tag: Int32, _ value: Int) {
        precondition(karyo_tiff_set_u16(tif, UInt32(tag), UInt16(value)) == 1)
    }
}
