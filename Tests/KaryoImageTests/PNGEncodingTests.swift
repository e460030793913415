import Foundation
import KaryoImage
import Testing

@Suite("PNG encoding")
struct PNGEncodingTests {
    @Test("an 8-bit grey PNG round-trips exactly")
    func greyRoundTrip() throws {
        let data = try PNGEncoder.encode(ReferencePicture.image)
        let decoded = try ImageDecoder.decode(data)
        #expect(decoded.colorModel == .grey)
        #expect(decoded.image == ReferencePicture.image)
    }

    @Test("grey values are clamped to 0...1 and rounded to the nearest level")
    func clamping() throws {
        let image = GrayImage(width: 4, height: 1, pixels: [-0.5, 0.5, 1.7, 0.999])
        let decoded = try ImageDecoder.decode(try PNGEncoder.encode(image))
        #expect(decoded.image.pixels == [0, 128 / 255, 1, 1])
    }

    @Test("an 8-bit RGB PNG round-trips its colours")
    func rgbRoundTrip() throws {
        var image = RGBImage(width: 3, height: 2, color: .white)
        image[0, 0] = RGBColor(red: 255, green: 0, blue: 0)
        image[2, 1] = RGBColor(red: 0, green: 0, blue: 255)
        let dir = TemporaryDirectory()
        let url = dir.file("rgb.png")
        try PNGEncoder.write(image, to: url)
        let decoded = try ImageDecoder.decode(contentsOf: url)
        #expect(decoded.colorModel == .rgb)
        #expect(abs(decoded.image[0, 0] - 0.299) < 1e-6)
        #expect(abs(decoded.image[2, 1] - 0.114) < 1e-6)
        #expect(abs(decoded.image[1, 0] - 1) < 1e-6)
    }

    @Test("writing into a missing folder names the file and the errno")
    func unwritable() {
        let url = URL(fileURLWithPath: "/nonexistent-karyo-folder/out.png")
        #expect {
            try PNGEncoder.write(ReferencePicture.image, to: url)
        } throws: { error in
            guard let error = error as? ImageError else { return false }
            return error.path == url.path && error.cause == .unwritable(errno: ENOENT)
                && error.description.contains("/nonexistent-karyo-folder/out.png")
        }
    }
}
