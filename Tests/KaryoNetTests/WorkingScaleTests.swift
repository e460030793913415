import KaryoImage
import Testing

@testable import KaryoNet

/// The chromosome width estimate (Training/MODEL.md "Working scale") on the hand-made cases of
/// Training/tests/test_model_parts.py.
@Suite("working scale: the chromosome width of drawn bars")
struct WorkingScaleTests {
    /// Five dark bars 10 px thick on a pale background, 200 x 120; with `bands`, pale 4 x 4 px bands every 8 px
    /// inside each bar.
    static func bars(bands: Bool) -> [Float] {
        let (w, h) = (200, 120)
        var pixels = [Float](repeating: 230, count: w * h)
        for k in 0..<5 {
            for y in (10 + 20 * k)..<(20 + 20 * k) { for x in 20..<180 { pixels[y * w + x] = 60 } }
            guard bands else { continue }
            for x0 in stride(from: 30, to: 170, by: 8) {
                for y in (13 + 20 * k)..<(17 + 20 * k) { for x in x0..<(x0 + 4) { pixels[y * w + x] = 200 } }
            }
        }
        return pixels
    }

    @Test("a bar is as wide as drawn, with or without pale bands inside it (2 px if they were not filled)")
    func paleBandsAreFilled() {
        #expect(WorkingScale.estimateChromosomeWidth(Self.bars(bands: false), width: 200, height: 120) == 10)
        #expect(WorkingScale.estimateChromosomeWidth(Self.bars(bands: true), width: 200, height: 120) == 10)
    }

    @Test("the field inside a frame line is not a hole: a bar in a framed field keeps its width")
    func frameFieldStaysBackground() {
        let (w, h) = (400, 300)
        var pixels = [Float](repeating: 230, count: w * h)
        for x in 20..<380 { (pixels[20 * w + x], pixels[280 * w + x]) = (60, 60) }
        for y in 20...280 { (pixels[y * w + 20], pixels[y * w + 379]) = (60, 60) }
        for y in 100..<110 { for x in 100..<300 { pixels[y * w + x] = 60 } }
        #expect(WorkingScale.estimateChromosomeWidth(pixels, width: w, height: h) == 10)
    }
}
