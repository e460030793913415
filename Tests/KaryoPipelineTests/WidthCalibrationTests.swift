import Foundation
import KaryoImage
import KaryoSupport
import KaryoTestSupport
import Testing

@testable import KaryoPipeline

/// A cell of dark rods of one width on a pale background, rods placed at random angles from `seed`.
private func rodCell(seed: UInt64, rodWidth: Double, size: Int = 400) -> GrayImage {
    var rng = SplitMix64(seed: seed)
    func next() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
    var pixels = [Float](repeating: 0.86, count: size * size)
    for _ in 0..<24 {
        let (cx, cy) = (60 + next() * Double(size - 120), 60 + next() * Double(size - 120))
        let angle = next() * .pi
        let half = (2.5 + 2 * next()) * rodWidth
        let (dx, dy) = (cos(angle), sin(angle))
        for y in 0..<size {
            for x in 0..<size {
                let (px, py) = (Double(x) - cx, Double(y) - cy)
                let along = max(-half, min(half, px * dx + py * dy))
                let (ex, ey) = (px - along * dx, py - along * dy)
                if (ex * ex + ey * ey).squareRoot() <= rodWidth / 2 { pixels[y * size + x] = 0.3 }
            }
        }
    }
    return GrayImage(width: size, height: size, pixels: pixels)
}

/// A separable Gaussian blur of standard deviation `sigma` px, edges clamped.
private func blurred(_ image: GrayImage, sigma: Double) -> GrayImage {
    let radius = Int((3 * sigma).rounded(.up))
    let kernel = (-radius...radius).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
    let total = kernel.reduce(0, +)
    let (w, h) = (image.width, image.height)
    func pass(_ src: [Float], horizontal: Bool) -> [Float] {
        var out = [Float](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                var sum: Float = 0
                for k in -radius...radius {
                    let (xx, yy) = horizontal ? (min(max(x + k, 0), w - 1), y) : (x, min(max(y + k, 0), h - 1))
                    sum += kernel[k + radius] * src[yy * w + xx]
                }
                out[y * w + x] = sum / total
            }
        }
        return out
    }
    return GrayImage(width: w, height: h, pixels: pass(pass(image.pixels, horizontal: true), horizontal: false))
}

/// CytoVision's background removal: everything paler than `level` becomes white.
private func backgroundRemoved(_ image: GrayImage, level: Float = 0.8) -> GrayImage {
    GrayImage(width: image.width, height: image.height, pixels: image.pixels.map { $0 >= level ? 1 : $0 })
}

@Suite("karyocount calibrate: one chromosome width for a lab's exports")
struct WidthCalibrationTests {
    /// Writes each picture as a PNG into a new folder and calibrates on that folder.
    private func calibrate(_ pictures: [GrayImage], extra: [(String, Data)] = []) throws -> WidthCalibration {
        let dir = TempDir()
        for (i, picture) in pictures.enumerated() {
            _ = dir.write("cell-\(i).png", try PNGEncoder.encode(picture))
        }
        for (name, data) in extra { _ = dir.write(name, data) }
        return WidthCalibration.measure(try BatchCounter.inputs([dir.url], recursive: false))
    }

    @Test("the lab's width is the median of its cells': a stray cell does not move it, broken files say why")
    func medianOfTheCells() throws {
        let cells = (1...4).map { rodCell(seed: $0, rodWidth: 12) } + [rodCell(seed: 9, rodWidth: 24)]
        let calibration = try calibrate(cells, extra: [("empty.png", Data()), ("notes.png", Data("hello".utf8))])
        #expect(calibration.measurements.count == 7)
        #expect(calibration.widths.count == 5)
        let width = try #require(calibration.width)
        #expect(abs(width / 12 - 1) <= 0.1, "rods 12 px wide measured \(width) px")
        #expect(calibration.outliers().map(\.file.lastPathComponent) == ["cell-4.png"])
        let broken = calibration.measurements.filter { $0.width == nil }
        #expect(broken.map(\.file.lastPathComponent).sorted() == ["empty.png", "notes.png"])
        #expect(broken.allSatisfy { ($0.problem ?? "").contains($0.file.lastPathComponent) })
    }

    @Test(
        "the same cells re-rendered at 0.5x to 2x, blurred or with the background removed calibrate within 10%",
        arguments: [0.5, 0.75, 1.5, 2.0])
    func rescaledCells(scale: Double) throws {
        let cells = (1...5).map { rodCell(seed: $0, rodWidth: 12) }
        let reference = try #require(try calibrate(cells).width)
        let rescaled = try #require(try calibrate(cells.map { $0.resized(scale: scale) }).width)
        #expect(abs(rescaled / (scale * reference) - 1) <= 0.1, "at \(scale)x: \(rescaled) px, 1x: \(reference) px")
    }

    @Test("blurred cells and cells with the background removed calibrate within 10% of the originals")
    func blurAndBackgroundRemoval() throws {
        let cells = (1...5).map { rodCell(seed: $0, rodWidth: 12) }
        let reference = try #require(try calibrate(cells).width)
        let blur = try #require(try calibrate(cells.map { blurred($0, sigma: 1.5) }).width)
        let white = try #require(try calibrate(cells.map { backgroundRemoved(blurred($0, sigma: 1)) }).width)
        #expect(abs(blur / reference - 1) <= 0.1, "blurred: \(blur) px, original \(reference) px")
        #expect(abs(white / reference - 1) <= 0.1, "background removed: \(white) px, original \(reference) px")
    }
}
