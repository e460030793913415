import Foundation
import KaryoImage
import Testing

@testable import KaryoNet

/// The intensity range rule (Training/MODEL.md step 2a) on the hand-made cases of Training/tests/test_intensity.py.
@Suite("intensity range: pale and white exports are brought into the grey levels the model was trained on")
struct IntensityMapTests {
    static let range = ModelConfig.IntensityRange(background: [222, 255], contrast: [80, 150])

    /// Five dark bars (40% of the pixels) on a flat background, 100 x 100.
    static func bars(background: Float, ink: Float) -> [Float] {
        (0..<100).flatMap { y in [Float](repeating: y % 20 < 8 ? ink : background, count: 100) }
    }

    @Test("the levels are the medians either side of Otsu's threshold, as karyotrain's")
    func levels() throws {
        var pixels = Self.bars(background: 240, ink: 100)
        for x in 0..<10 { pixels[x] = 90 }
        #expect(IntensityMap.levels(pixels)! == (240, 100))
        #expect(IntensityMap.levels([Float](repeating: 200, count: 100)) == nil)
        let real = try ImageDecoder.decode(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appending(path: "Fixtures/real/18-Y2087.145.O.png")
        ).image
        #expect(IntensityMap.levels(real.pixels.map { $0 * 255 })! == (245, 148))  // karyotrain.intensity.levels on it
    }

    @Test("an image inside the range, or a model without one, is left as it is")
    func insideTheRange() {
        let pixels = Self.bars(background: 240, ink: 130)
        #expect(
            IntensityMap.measure(pixels, range: Self.range)
                == IntensityMap(background: 240, ink: 130, gain: 1, offset: 0))
        #expect(IntensityMap.measure(pixels, range: nil) == .identity)
    }

    @Test("a pale export with a white background gets the lowest trained contrast; a dark, contrasty one is lifted")
    func outsideTheRange() {
        let pale = IntensityMap.measure(Self.bars(background: 255, ink: 215), range: Self.range)
        #expect(pale.gain == 2)
        #expect(pale.gain * 255 + pale.offset == 255)
        #expect(pale.gain * 215 + pale.offset == 175)
        let dark = IntensityMap.measure(Self.bars(background: 200, ink: 20), range: Self.range)
        #expect(abs(dark.gain - 150.0 / 180) < 1e-12)
        #expect(abs(dark.gain * 200 + dark.offset - 222) < 1e-9)
        #expect(abs(dark.gain * 20 + dark.offset - 72) < 1e-9)
    }

    @Test("prepare feeds the network the mapped grey levels and keeps the padding's value")
    func prepare() throws {
        var config = try Golden.config()
        config.input.working_scale = .fixed
        config.input.scale = 1
        config.input.intensity_range = Self.range
        let network = try DeepACENetwork(config: config, weights: Golden.weights())
        let prepared = network.prepare(Self.bars(background: 255, ink: 215), width: 100, height: 100)
        let (mean, std) = (config.input.mean, config.input.std)
        let wp = prepared.tensor.shape[3]
        #expect(prepared.intensity?.gain == 2)
        #expect(abs(prepared.tensor.data[0] - (175 - mean) / std) < 1e-5)
        #expect(abs(prepared.tensor.data[10 * wp] - (255 - mean) / std) < 1e-5)
        #expect(prepared.tensor.data[120 * wp + 110] == (config.input.pad_value - mean) / std)
    }
}
