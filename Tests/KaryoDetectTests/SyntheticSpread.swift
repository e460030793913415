import Foundation
import KaryoImage

/// A small renderer of synthetic metaphase-like images for exact test expectations: dark banded rods (capsules)
/// on a light, unevenly lit background with a little deterministic noise.
struct SyntheticSpread {
    /// A rod from `(x1, y1)` to `(x2, y2)` with radius `r`; `waist` < 1 narrows its middle (a centromere).
    struct Rod {
        var x1: Double
        var y1: Double
        var x2: Double
        var y2: Double
        var r: Double
        var darkness = 0.45
        var waist = 1.0

        /// The box of the pixels the rod covers by at least half (exclusive right/bottom edge).
        var expectedBox: BoundingBox {
            BoundingBox(
                x1: (min(x1, x2) - r).rounded(), y1: (min(y1, y2) - r).rounded(),
                x2: (max(x1, x2) + r).rounded(), y2: (max(y1, y2) + r).rounded())
        }

        /// The same rod scaled about the origin.
        func scaled(_ s: Double) -> Rod {
            Rod(x1: x1 * s, y1: y1 * s, x2: x2 * s, y2: y2 * s, r: r * s, darkness: darkness, waist: waist)
        }
    }

    /// A uniformly dark disk (an interphase nucleus, or a speck when small).
    struct Disk {
        var cx: Double
        var cy: Double
        var r: Double
        var darkness: Double
    }

    var width: Int
    var height: Int
    var rods: [Rod] = []
    var disks: [Disk] = []
    /// Amplitude of the illumination gradient (0 = flat).
    var unevenness = 0.1
    /// Amplitude of the uniform pixel noise.
    var noise = 0.02
    /// Draws a CytoVision-style frame line at this inset, with a white margin outside, when set.
    var frameInset: Int?

    /// Renders the image.
    func render() -> GrayImage {
        var pixels = [Float](repeating: 0, count: width * height)
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for y in 0..<height {
            for x in 0..<width {
                let fx = Double(x) / Double(width)
                let fy = Double(y) / Double(height)
                let background = 0.93 - unevenness * (0.6 * fx + 0.4 * fy * fy)
                var transmitted = 1.0
                for rod in rods { transmitted *= 1 - rodDarkness(rod, x: Double(x) + 0.5, y: Double(y) + 0.5) }
                for disk in disks {
                    let d = hypot(Double(x) + 0.5 - disk.cx, Double(y) + 0.5 - disk.cy)
                    transmitted *= 1 - disk.darkness * min(max(disk.r + 0.5 - d, 0), 1)
                }
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let jitter = (Double(seed >> 40) / Double(1 << 24) - 0.5) * 2 * noise
                pixels[y * width + x] = Float(min(max(background * transmitted + jitter, 0), 1))
            }
        }
        if let inset = frameInset {
            for y in 0..<height {
                for x in 0..<width {
                    let outside = x < inset || y < inset || x > width - 1 - inset || y > height - 1 - inset
                    let onLine =
                        ((x == inset || x == width - 1 - inset) && y >= inset && y <= height - 1 - inset)
                        || ((y == inset || y == height - 1 - inset) && x >= inset && x <= width - 1 - inset)
                    if onLine {
                        pixels[y * width + x] = 0.5
                    } else if outside {
                        pixels[y * width + x] = 1
                    }
                }
            }
        }
        return GrayImage(width: width, height: height, pixels: pixels)
    }

    /// Darkness of a rod at a point: anti-aliased capsule coverage times a G-band-like pattern along its axis.
    private func rodDarkness(_ rod: Rod, x: Double, y: Double) -> Double {
        let dx = rod.x2 - rod.x1
        let dy = rod.y2 - rod.y1
        let length2 = dx * dx + dy * dy
        let t = length2 > 0 ? min(max(((x - rod.x1) * dx + (y - rod.y1) * dy) / length2, 0), 1) : 0
        let px = rod.x1 + t * dx
        let py = rod.y1 + t * dy
        let d = hypot(x - px, y - py)
        // The waist narrows the rod smoothly towards its middle.
        let narrowing = 1 - (1 - rod.waist) * max(0, 1 - abs(t - 0.5) / 0.15)
        let coverage = min(max(rod.r * narrowing + 0.5 - d, 0), 1)
        let along = t * length2.squareRoot()
        let band = 0.75 + 0.25 * cos(along / 4)
        return rod.darkness * band * coverage
    }
}
