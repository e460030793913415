import CPNG
import Foundation
import KaryoImage
import Testing

@Suite("PNG decoding")
struct PNGDecodingTests {
    @Test(
        "every PNG variant decodes to the reference pixels",
        arguments: [
            ("grey8", PNGFixtures.grey8(), ColorModel.grey, 8),
            ("grey16", PNGFixtures.grey16(), .grey, 16),
            ("rgb8", PNGFixtures.rgb8(), .rgb, 8),
            ("rgba16", PNGFixtures.rgba16(), .rgba, 16),
            ("palette", PNGFixtures.palette(), .palette, 8),
            ("grey+alpha", PNGFixtures.greyAlpha(), .greyAlpha, 8),
        ])
    func variants(name: String, data: Data, model: ColorModel, depth: Int) throws {
        let dir = TemporaryDirectory()
        let url = try dir.write(data, as: "\(name).png")
        let decoded = try ImageDecoder.decode(contentsOf: url)
        #expect(decoded.format == .png)
        #expect(decoded.colorModel == model)
        #expect(decoded.bitDepth == depth)
        #expect(decoded.pageCount == 1)
        #expect(decoded.warnings.isEmpty)
        #expect(ReferencePicture.maxDifference(decoded.image, ReferencePicture.image) < 1e-6)
    }

    @Test("16-bit grey PNG samples come through unchanged, not gamma-converted")
    func sixteenBitExact() throws {
        let samples = (0..<(ReferencePicture.width * ReferencePicture.height)).map { UInt16(($0 * 977) % 65536) }
        let decoded = try ImageDecoder.decode(PNGFixtures.grey16(samples))
        for (value, expected) in zip(decoded.image.pixels, samples) {
            #expect(value == Float(expected) / 65535)
        }
    }

    @Test("a 1-bit grey PNG is scaled to 0 and 1")
    func oneBit() throws {
        let rows: [UInt8] = [0b1010_0000, 0b0100_0000]  // Two rows of three pixels.
        let data = rows.withUnsafeBytes {
            PNGFixtures.encode($0, width: 3, height: 2, bitDepth: 1, colorType: KARYO_PNG_GREY)
        }
        let decoded = try ImageDecoder.decode(data)
        #expect(decoded.bitDepth == 1)
        #expect(decoded.image.pixels == [1, 0, 1, 0, 1, 0])
    }

    @Test("a PNG with a transparent alpha channel decodes with a warning")
    func alphaWarning() throws {
        let decoded = try ImageDecoder.decode(PNGFixtures.greyAlpha(alpha: 10))
        #expect(decoded.warnings.count == 1)
        #expect(decoded.warnings.first?.contains("alpha channel ignored") == true)
        #expect(ReferencePicture.maxDifference(decoded.image, ReferencePicture.image) < 1e-6)
    }

    @Test("the real CytoVision spread decodes as 1017x896 grey")
    func realFixture() throws {
        let url = Fixtures.root.appendingPathComponent("real/18-Y2087.145.O.png")
        let decoded = try ImageDecoder.decode(contentsOf: url)
        #expect(decoded.image.width == 1017)
        #expect(decoded.image.height == 896)
        #expect(decoded.colorModel == .grey)
        #expect(decoded.bitDepth == 8)
        let mean = decoded.image.pixels.reduce(0, +) / Float(decoded.image.pixels.count)
        #expect(mean > 0.3 && mean < 1)  // A light background with dark chromosomes.
        #expect(decoded.image.pixels.allSatisfy { $0 >= 0 && $0 <= 1 })
    }
}
