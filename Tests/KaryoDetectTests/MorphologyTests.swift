import KaryoImage
import Testing

@testable import KaryoDetect

/// A deterministic pseudo-random mask with about `density` foreground.
private func randomMask(width: Int, height: Int, density: Double, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<(width * height)).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53) < density ? 1 : 0
    }
}

@Suite("Morphology building blocks")
struct MorphologyTests {
    @Test("the distance transform equals the brute-force nearest-background distance")
    func distanceTransformIsExact() {
        let (w, h) = (23, 17)
        let mask = randomMask(width: w, height: h, density: 0.8, seed: 7)
        let d2 = MaskAnalysis.squaredDistanceToBackground(mask, width: w, height: h)
        for y in 0..<h {
            for x in 0..<w {
                guard mask[y * w + x] != 0 else {
                    #expect(d2[y * w + x] == 0)
                    continue
                }
                // Background pixels, plus the virtual background just outside the plane.
                var best = min((x + 1) * (x + 1), (w - x) * (w - x), (y + 1) * (y + 1), (h - y) * (h - y))
                for yy in 0..<h {
                    for xx in 0..<w where mask[yy * w + xx] == 0 {
                        best = min(best, (x - xx) * (x - xx) + (y - yy) * (y - yy))
                    }
                }
                #expect(Int(d2[y * w + x]) == best, "at (\(x), \(y))")
            }
        }
    }

    @Test("diagonal neighbours join in 8-connectivity but not in 4-connectivity")
    func connectivity() {
        // Two pixels touching at a corner, plus a U shape whose arms meet only through the bottom row.
        let rows = [
            "1.....",
            ".1.1.1",
            "...1.1",
            "...111",
        ]
        let mask = rows.flatMap { $0.map { $0 == "1" ? UInt8(1) : 0 } }
        #expect(MaskAnalysis.label(mask, width: 6, height: 4).count == 2)
        #expect(MaskAnalysis.label(mask, width: 6, height: 4, eight: false).count == 3)
    }

    @Test("opening removes a one-pixel line and keeps a thick block; small holes are filled, large ones kept")
    func openingAndHoles() {
        let (w, h) = (30, 30)
        var mask = [UInt8](repeating: 0, count: w * h)
        for x in 0..<w { mask[2 * w + x] = 1 }
        for y in 10..<20 { for x in 5..<15 { mask[y * w + x] = 1 } }
        let opened = Morphology.open(mask, width: w, height: h, radius: 1)
        #expect(opened[2 * w + 10] == 0)
        #expect(opened.reduce(0) { $0 + Int($1) } == 100)

        var ring = [UInt8](repeating: 0, count: w * h)
        for y in 5..<25 { for x in 5..<25 { ring[y * w + x] = 1 } }
        ring[10 * w + 10] = 0
        for y in 14..<22 { for x in 14..<22 { ring[y * w + x] = 0 } }
        let filled = MaskAnalysis.fillHoles(ring, width: w, height: h, maxArea: 10)
        #expect(filled[10 * w + 10] == 1)
        #expect(filled[18 * w + 18] == 0)
        #expect(MaskAnalysis.fillHoles(ring, width: w, height: h, maxArea: 64)[18 * w + 18] == 1)

        // A background pixel that meets the outside only at a corner is a hole (background is 4-connected).
        let corner = [
            "111",
            "1.1",
            "11.",
        ].flatMap { $0.map { $0 == "1" ? UInt8(1) : 0 } }
        #expect(MaskAnalysis.fillHoles(corner, width: 3, height: 3, maxArea: 1)[4] == 1)
        #expect(MaskAnalysis.fillHoles(corner, width: 3, height: 3, maxArea: 1)[8] == 0)
    }

    @Test("Otsu's threshold falls between the two modes of a bimodal histogram")
    func otsuSeparatesModes() {
        var histogram = [Int](repeating: 0, count: 1024)
        histogram[100] = 500
        histogram[700] = 300
        let t = ClassicalThreshold.otsuThreshold(histogram)
        #expect(t > 100.0 / 1023 && t <= 700.0 / 1023)
    }
}
