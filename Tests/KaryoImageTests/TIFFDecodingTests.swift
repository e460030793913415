import CTIFF
import Foundation
import KaryoImage
import Testing

@Suite("TIFF decoding")
struct TIFFDecodingTests {
    @Test("every TIFF variant decodes to the reference pixels", arguments: TIFFFixtures.variants)
    func variants(_ variant: TIFFVariant) throws {
        let dir = TemporaryDirectory()
        let url = dir.file("variant.tif")
        TIFFFixtures.write(variant, to: url)
        let magic = try Data(contentsOf: url).prefix(2)
        #expect(magic == Data(variant.bigEndian ? "MM".utf8 : "II".utf8))
        let decoded = try ImageDecoder.decode(contentsOf: url)
        #expect(decoded.format == .tiff)
        #expect(decoded.bitDepth == variant.bitsPerSample)
        #expect(decoded.pageCount == 1)
        #expect(decoded.warnings.isEmpty)
        let expectedModel: ColorModel =
            switch variant.content {
            case .grey: .grey
            case .minIsWhite: .greyMinIsWhite
            case .rgb: .rgb
            case .palette: .palette
            }
        #expect(decoded.colorModel == expectedModel)
        #expect(ReferencePicture.maxDifference(decoded.image, ReferencePicture.image) < 1e-6)
    }

    @Test("TIFF and PNG of the same picture decode to the same pixels")
    func crossFormat() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("lzw16.tif")
        TIFFFixtures.write(
            TIFFVariant(name: "16-bit LZW", bitsPerSample: 16, compression: COMPRESSION_LZW), to: url)
        let tiff = try ImageDecoder.decode(contentsOf: url).image
        let png = try ImageDecoder.decode(PNGFixtures.grey8()).image
        #expect(ReferencePicture.maxDifference(tiff, png) <= 1.0 / 255)
    }

    @Test("a multi-page TIFF yields page 1 and says how many pages it skipped")
    func multiPage() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("pages.tif")
        TIFFFixtures.write(TIFFVariant(name: "3 pages", compression: COMPRESSION_LZW, pages: 3), to: url)
        let decoded = try ImageDecoder.decode(contentsOf: url)
        #expect(decoded.pageCount == 3)
        #expect(decoded.warnings == ["multi-page TIFF: only page 1 of 3 was read"])
        #expect(ReferencePicture.maxDifference(decoded.image, ReferencePicture.image) < 1e-6)
    }

    @Test("a 1-bit bilevel TIFF decodes to 0 and 1, min-is-white inverted")
    func bilevel() throws {
        let dir = TemporaryDirectory()
        for (photometric, name) in [(PHOTOMETRIC_MINISBLACK, "black"), (PHOTOMETRIC_MINISWHITE, "white")] {
            let url = dir.file("\(name).tif")
            // Every byte is 7 = 0b00000111: columns 5, 6, 7 of each group of eight are set.
            TIFFFixtures.writeRaw(to: url, width: 13, height: 3, bitsPerSample: 1, photometric: photometric)
            let decoded = try ImageDecoder.decode(contentsOf: url)
            let set: Float = photometric == PHOTOMETRIC_MINISBLACK ? 1 : 0
            let expectedRow: [Float] = (0..<13).map { x in (x % 8) >= 5 ? set : 1 - set }
            #expect(decoded.bitDepth == 1)
            #expect(Array(decoded.image.pixels[13..<26]) == expectedRow)
        }
    }

    @Test("the decoder ignores the file extension: a TIFF named .png is read as TIFF")
    func magicNotExtension() throws {
        let dir = TemporaryDirectory()
        let url = dir.file("really-a-tiff.png")
        TIFFFixtures.write(TIFFVariant(name: "plain"), to: url)
        #expect(try ImageDecoder.decode(contentsOf: url).format == .tiff)
    }
}
