import CTIFF
import Foundation
import KaryoImage
import Testing

@Suite("Robustness")
struct RobustnessTests {
    /// Small deterministic generator so failures reproduce.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

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
            let decoded = try ImageDecoder.decode(data, name: label)
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
        var rng = SplitMix(state: 42)
        for (name, data) in try Self.samples() {
            for trial in 0..<150 {
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
