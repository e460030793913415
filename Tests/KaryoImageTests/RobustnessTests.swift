import CTIFF
import Foundation
import KaryoImage
import KaryoSupport
import Testing

@Suite("Robustness")
struct RobustnessTests {

    static func samples() throws -> [(String, Data)] {
        let dir = TemporaryDirectory()
        var out: [(String, Data)] = [("png grey", PNGFixtures.grey8()), ("png palette", PNGFixtures.palette())]
        let picks = [
            TIFFVariant(name: "lzw predictor", compression: COMPRESSION_LZW, predictor: PREDICTOR_HORIZONTAL),
            TIFFVariant(
                name: "tiled deflate 16", bitsPerSample: 16, compression: COMPRESSION_ADOBE_DEFLATE, tileSize: 16),
            TIFFVariant(name: "palette", content: .palette),
            TIFFVariant(name: "rgb planes big-endian", content: .rgb, bigEndian: true, separatePlanes: true),
        ]
        for variant in picks {
            let url = dir.file("\(variant.name).tif")
            TIFFFixtures.write(variant, to: url)
            out.append((variant.name, try Data(contentsOf: url)))
        }
        return out
    }

    /// Decoding either yields a full image of the right size or throws `ImageError`; anything else fails.
    static func check(_ data: Data, _ label: String) {
        do {
            // Small limits: a damaged header claiming a huge (but legal) size must not make the test slow.
            let limits = ImageLimits(maxSide: 1024, maxPixels: 1 << 20)
            let decoded = try ImageDecoder.decode(data, name: label, limits: limits)
            #expect(decoded.image.pixels.count == decoded.image.width * decoded.image.height, "\(label)")
        } catch {
            #expect(error.path == label)
        }
    }

    @Test("every truncation point of every fixture gives an image or a typed error, never a crash")
    func truncations() throws {
        for (name, data) in try Self.samples() {
            for cut in stride(from: 0, to: data.count, by: 13) {
                Self.check(data.prefix(cut), "\(name) cut at \(cut)")
            }
        }
    }

    @Test("random byte corruptions give an image or a typed error, never a crash")
    func corruptions() throws {
        var rng = SplitMix64(seed: 42)
        for (name, data) in try Self.samples() {
            for trial in 0..<80 {
                var damaged = data
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let i = Int.random(in: 0..<damaged.count, using: &rng)
                    damaged[i] = UInt8.random(in: 0...255, using: &rng)
                }
                Self.check(damaged, "\(name) damage \(trial)")
            }
        }
    }

    @Test("errors from in-memory data carry the given name")
    func inMemoryName() {
        #expect {
            try ImageDecoder.decode(Data([1, 2, 3, 4, 5, 6, 7, 8, 9]), name: "upload:abc")
        } throws: { error in
            (error as? ImageError)?.description.hasPrefix("upload:abc: not a PNG or TIFF image") == true
        }
    }
}
