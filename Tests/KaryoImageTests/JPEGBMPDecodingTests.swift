import Foundation
import Testing

@testable import KaryoImage

@Suite("JPEG and BMP decoding")
struct JPEGBMPDecodingTests {
    typealias F = JPEGAndBMPFixtures

    static func maxDifference(_ image: GrayImage, _ levels: [UInt8]) -> Float {
        zip(image.pixels, levels).reduce(0) { max($0, abs($1.0 - Float($1.1) / 255)) }
    }

    @Test("a grey JPEG and a colour JPEG decode to the picture within JPEG's loss", arguments: [false, true])
    func jpeg(rgb: Bool) throws {
        let decoded = try ImageDecoder.decode(F.jpeg(rgb: rgb), name: "cell.jpg")
        #expect(decoded.format == .jpeg && decoded.bitDepth == 8)
        #expect(decoded.colorModel == (rgb ? .rgb : .grey))
        #expect(decoded.image.width == F.width && decoded.image.height == F.height)
        #expect(Self.maxDifference(decoded.image, F.levels) <= 4 / 255)
    }

    @Test("JPEG data saved under a .png name is decoded by its content")
    func jpegUnderPNGName() throws {
        #expect(try ImageDecoder.decode(F.jpeg(), name: "18-Y2087.001.O.png").format == .jpeg)
    }

    @Test("a cut-off JPEG is a truncated-file error naming the file")
    func truncatedJPEG() throws {
        let full = F.jpeg()
        for cut in [full.count / 2, 20, 3] {
            do {
                _ = try ImageDecoder.decode(full.prefix(cut), name: "cut.jpg")
                Issue.record("a JPEG cut at \(cut) bytes decoded")
            } catch {
                #expect(error.path == "cut.jpg")
                guard case .truncated = error.cause else {
                    Issue.record("cut at \(cut): expected truncated, got \(error.cause)")
                    continue
                }
            }
        }
    }

    @Test("BMP: 8-bit grey palette, 24- and 32-bit, bottom-up and top-down, decode exactly", arguments: [8, 24, 32])
    func bmp(bits: Int) throws {
        let r = ReferencePicture.self
        for topDown in [false, true] {
            let data = F.bmp(levels: r.levels, width: r.width, height: r.height, bitsPerPixel: bits, topDown: topDown)
            let decoded = try ImageDecoder.decode(data, name: "cell.bmp")
            #expect(decoded.format == .bmp && decoded.bitDepth == bits)
            #expect(decoded.colorModel == (bits == 8 ? .grey : .rgb))
            #expect(ReferencePicture.maxDifference(decoded.image, r.image) <= 1e-5, "\(bits)-bit, topDown \(topDown)")
        }
    }

    @Test("BMP: 4-bit and 1-bit palettes decode to their palette levels", arguments: [4, 1])
    func bmpPacked(bits: Int) throws {
        let entries = 1 << bits
        let levels = (0..<(21 * 5)).map { UInt8(($0 % entries) * 255 / (entries - 1)) }
        let decoded = try ImageDecoder.decode(
            F.bmp(levels: levels, width: 21, height: 5, bitsPerPixel: bits), name: "packed.bmp")
        #expect(decoded.image.width == 21 && decoded.image.height == 5)
        #expect(Self.maxDifference(decoded.image, levels) <= 1e-5)
    }

    @Test("BMP: cut-off pixels are truncated, RLE is an unsupported layout, an absurd size is refused before reading")
    func brokenBMP() throws {
        let r = ReferencePicture.self
        let full = F.bmp(levels: r.levels, width: r.width, height: r.height, bitsPerPixel: 24)
        func cause(_ data: Data) -> ImageError.Cause? {
            do {
                _ = try ImageDecoder.decode(data, name: "x.bmp")
                return nil
            } catch {
                return error.cause
            }
        }
        guard case .truncated = cause(full.prefix(full.count - 100)) else {
            Issue.record("cut pixels: \(String(describing: cause(full.prefix(full.count - 100))))")
            return
        }
        guard case .truncated = cause(full.prefix(30)) else {
            Issue.record("cut header: \(String(describing: cause(full.prefix(30))))")
            return
        }
        let rle = F.bmp(levels: r.levels, width: r.width, height: r.height, bitsPerPixel: 8, compression: 1)
        #expect(cause(rle) == .unsupportedLayout("RLE-compressed BMP (export uncompressed BMP)"))
        var huge = full
        huge.replaceSubrange(18..<26, with: [0x40, 0x9C, 0, 0, 0x40, 0x9C, 0, 0])  // 40000 x 40000
        guard case .absurdDimensions(40000, 40000, _) = cause(huge) else {
            Issue.record("huge: \(String(describing: cause(huge)))")
            return
        }
    }
}
