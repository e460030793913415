import CTIFF
import Foundation
import KaryoImage
import Testing

/// Decodes `data` stored as `name` and returns the error it must throw.
private func decodingError(_ data: Data, name: String) throws -> (ImageError, URL) {
    let dir = TemporaryDirectory()
    let url = try dir.write(data, as: name)
    switch Result(catching: { () throws(ImageError) in try ImageDecoder.decode(contentsOf: url) }) {
    case .success(let decoded):
        Issue.record("\(name) decoded as \(decoded.image.width)x\(decoded.image.height) instead of failing")
        throw CancellationError()
    case .failure(let error):
        #expect(error.path == url.path)
        #expect(error.description.hasPrefix(url.path + ": "))
        return (error, url)
    }
}

@Suite("Broken files")
struct BrokenFileTests {
    @Test("a zero-byte file is reported as empty")
    func empty() throws {
        let (error, _) = try decodingError(Data(), name: "8129A.001.A.TIF")
        #expect(error.cause == .emptyFile)
        #expect(error.description.contains("empty"))
    }

    @Test("a truncated PNG is a truncation error, not a crash")
    func truncatedPNG() throws {
        let png = PNGFixtures.grey8()
        let (error, _) = try decodingError(png.prefix(png.count * 6 / 10), name: "cut.png")
        guard case .truncated = error.cause else {
            Issue.record("expected truncated, got \(error.cause)")
            return
        }
        #expect(error.description.contains("truncated"))
    }

    @Test("a PNG cut inside its signature is truncated")
    func tinyPNG() throws {
        let (error, _) = try decodingError(PNGFixtures.grey8().prefix(5), name: "tiny.png")
        guard case .truncated = error.cause else {
            Issue.record("expected truncated, got \(error.cause)")
            return
        }
    }

    @Test("a TIFF cut before its directory is truncated")
    func truncatedTIFFDirectory() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("full.tif")
        TIFFFixtures.write(TIFFVariant(name: "lzw", compression: COMPRESSION_LZW), to: url)
        let full = try Data(contentsOf: url)
        let (error, _) = try decodingError(full.prefix(full.count / 2), name: "cut.tif")
        guard case .truncated = error.cause else {
            Issue.record("expected truncated, got \(error.cause)")
            return
        }
    }

    @Test("a TIFF whose pixel data is cut off is truncated")
    func truncatedTIFFData() throws {
        let full = TIFFFixtures.handMade(width: 20, height: 10, dataBytes: 200)
        #expect(try ImageDecoder.decode(full).image.width == 20)  // The uncut file is valid.
        let (error, _) = try decodingError(full.prefix(full.count - 50), name: "cut-data.tif")
        #expect(error.cause == .truncated(detail: "strip 1 of 1 lies past the end of the file"))
    }

    @Test("text with an image extension is an unrecognized format that quotes the text")
    func wrongMagic() throws {
        let (error, _) = try decodingError(Data("hello, this is not an image".utf8), name: "notes.png")
        #expect(error.cause == .unrecognizedFormat(magic: "text (\"hello, this is n\")"))
    }

    @Test("a JPEG header alone, under a .png name, is read as JPEG and refused as truncated")
    func jpegHeaderOnly() throws {
        let jpeg = Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00])
        let (error, _) = try decodingError(jpeg, name: "18-Y2087.001.O.png")
        guard case .truncated = error.cause else {
            Issue.record("expected truncated, got \(error.cause)")
            return
        }
        #expect(error.description.contains("18-Y2087.001.O.png"))
    }

    @Test("binary junk is described by its first bytes")
    func binaryMagic() throws {
        let (error, _) = try decodingError(Data([0x00, 0x01, 0x02, 0xFE, 0x10, 0x20, 0x30, 0x40, 0x50]), name: "x.tif")
        #expect(error.cause == .unrecognizedFormat(magic: "bytes 00 01 02 FE 10 20 30 40"))
    }

    @Test("a PNG with a bad CRC is a corrupt-data error carrying libpng's message")
    func badCRC() throws {
        var png = PNGFixtures.grey8()
        let idat = png.firstRange(of: Data("IDAT".utf8))!
        let length = png[(idat.lowerBound - 4)..<idat.lowerBound].reduce(0) { $0 << 8 | Int($1) }
        png[idat.upperBound + length] ^= 0xFF  // The first byte of the chunk's CRC.
        let (error, _) = try decodingError(png, name: "crc.png")
        #expect(error.cause == .corrupt("libpng: IDAT: CRC error"))
    }

    @Test("a PNG with damaged compressed data is a corrupt-data error")
    func damagedData() throws {
        var png = PNGFixtures.grey8()
        let idat = png.firstRange(of: Data("IDAT".utf8))!
        png[idat.upperBound + 10] ^= 0xFF
        let (error, _) = try decodingError(png, name: "zlib.png")
        guard case .corrupt(let message) = error.cause else {
            Issue.record("expected corrupt, got \(error.cause)")
            return
        }
        #expect(message.hasPrefix("libpng: "))
    }

    @Test("a TIFF claiming 100000x100000 pixels is refused before any allocation")
    func absurdTIFF() throws {
        let data = TIFFFixtures.handMade(width: 100_000, height: 100_000, dataBytes: 100)
        let (error, _) = try decodingError(data, name: "huge.tif")
        #expect(error.cause == .absurdDimensions(width: 100_000, height: 100_000, limits: .standard))
        #expect(error.description.contains("100000x100000"))
    }

    @Test("a PNG larger than the limits is refused")
    func absurdPNG() throws {
        let limits = ImageLimits(maxSide: 50, maxPixels: 2000)
        #expect {
            try ImageDecoder.decode(PNGFixtures.grey8(), name: "big.png", limits: limits)
        } throws: { error in
            (error as? ImageError)?.cause == .absurdDimensions(width: 67, height: 45, limits: limits)
        }
    }

    @Test("32-bit float and 12-bit TIFFs are unsupported layouts that say what they are")
    func unsupportedLayouts() throws {
        let dir = TemporaryDirectory()
        let float = dir.file("float.tif")
        TIFFFixtures.writeRaw(to: float, width: 8, height: 4, bitsPerSample: 32, sampleFormat: SAMPLEFORMAT_IEEEFP)
        let twelve = dir.file("twelve.tif")
        TIFFFixtures.writeRaw(to: twelve, width: 8, height: 4, bitsPerSample: 12)
        for (url, words) in [(float, "32-bit floating-point"), (twelve, "12-bit samples")] {
            #expect {
                try ImageDecoder.decode(contentsOf: url)
            } throws: { error in
                guard let error = error as? ImageError, case .unsupportedLayout(let what) = error.cause else {
                    return false
                }
                return what.contains(words) && error.path == url.path
            }
        }
    }

    @Test("a missing file is unreadable with ENOENT")
    func missing() {
        let url = URL(fileURLWithPath: "/nonexistent-karyo/8129A.001.A.TIF")
        #expect {
            try ImageDecoder.decode(contentsOf: url)
        } throws: { error in
            guard let error = error as? ImageError else { return false }
            return error.cause == .unreadable(errno: ENOENT) && error.description.contains("No such file")
        }
    }

    @Test("a folder is unreadable, not a crash")
    func folder() {
        let dir = TemporaryDirectory()
        #expect {
            try ImageDecoder.decode(contentsOf: dir.url)
        } throws: { error in
            (error as? ImageError)?.cause == .unreadable(errno: EISDIR)
        }
    }
}
