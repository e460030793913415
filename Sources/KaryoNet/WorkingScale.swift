import Foundation
import KaryoImage

/// How an image was brought to the working scale (Training/MODEL.md step 2), recorded in its result.
public struct WorkingScaleUsed: Sendable, Equatable, Codable {
    /// The model's rule: `chromosome-width` (resize so the width measured on the image becomes the trained one),
    /// `lab-chromosome-width` (the same with the lab's configured width) or `fixed` (also for a factor given by the
    /// caller).
    public var rule: String
    /// The chromosome width the factor was computed from, px: measured on the image, the lab's configured width or
    /// the case's median; nil when not measured or unmeasurable.
    public var measuredWidth: Double?
    /// The chromosome width measured on this image alone, px (what a case's median is taken over); nil under the
    /// lab's width (not measured) or when unmeasurable.
    public var imageWidth: Double?
    /// The chromosome width the model was trained at, px; nil for a fixed rule.
    public var targetWidth: Double?
    /// The resize factor applied to the source image.
    public var factor: Double
    /// Whether the factor was held at the model's lower or upper limit.
    public var clamped: Bool

    public init(
        rule: String, measuredWidth: Double?, imageWidth: Double?, targetWidth: Double?, factor: Double, clamped: Bool
    ) {
        self.rule = rule
        self.measuredWidth = measuredWidth
        self.imageWidth = imageWidth
        self.targetWidth = targetWidth
        self.factor = factor
        self.clamped = clamped
    }

    enum CodingKeys: String, CodingKey {
        case rule, factor, clamped
        case measuredWidth = "measured_chromosome_width_px"
        case imageWidth = "image_chromosome_width_px"
        case targetWidth = "target_chromosome_width_px"
    }

    /// Encodes with explicit nulls, so every field is always present.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rule, forKey: .rule)
        try c.encode(measuredWidth, forKey: .measuredWidth)
        try c.encode(imageWidth, forKey: .imageWidth)
        try c.encode(targetWidth, forKey: .targetWidth)
        try c.encode(factor, forKey: .factor)
        try c.encode(clamped, forKey: .clamped)
    }
}

/// A chromosome width given to the working-scale rule instead of the one measured on the image.
public struct GivenChromosomeWidth: Sendable, Equatable {
    /// Where the width comes from; its raw value is the `rule` a result records.
    public enum Source: String, Sendable {
        /// The lab's `chromosome_width_px` (`karyocount calibrate`).
        case lab = "lab-chromosome-width"
        /// The median of the widths measured on the cells of the image's case (patient).
        case patient = "case-chromosome-width"
    }

    /// The width in source pixels.
    public var width: Double
    public var source: Source
    /// The width measured on the image itself, when the caller measured it (a case's median is taken over these).
    public var imageWidth: Double?

    public init(_ width: Double, source: Source, imageWidth: Double? = nil) {
        self.width = width
        self.source = source
        self.imageWidth = imageWidth
    }
}

/// The working-scale rule of Training/MODEL.md step 2: how much to resize an image so its chromosomes have the
/// width the model was trained on, and the resize itself.
public enum WorkingScale {
    /// The typical chromosome width in pixels of a grey image (0...255, dark chromosomes on a light background),
    /// or nil when it cannot be measured (`karyotrain/scale.py`): Otsu threshold, exact Euclidean distance
    /// transform of the dark pixels (small holes filled), ridge pixels (`D >= 2`, local maxima over 8 neighbours),
    /// `2 * median(D[ridge])`; a width under `upsampleBelow` is measured again on the image enlarged 2x.
    public static func estimateChromosomeWidth(_ pixels: [Float], width w: Int, height h: Int) -> Double? {
        measure(pixels, width: w, height: h).width
    }

    /// Fewer ridge pixels than this give no width.
    static let minimumRidgePixels = 20
    /// A narrower width (px) is measured again on the image enlarged 2x, where the distance transform is less coarse.
    static let upsampleBelow = 10.0
    /// A hole in the dark mask of at most this fraction of the mask's pixels is a pale band inside a chromosome, and
    /// is filled; the field inside a CytoVision frame line is far larger and stays background.
    static let holeFraction = 0.01

    /// The intermediate values of the width estimate.
    public struct Measurement: Sendable, Equatable {
        /// Otsu's threshold (nil for a flat image).
        public var threshold: Int?
        /// Number of ridge pixels.
        public var ridgeCount: Int
        /// The width, nil with fewer than 20 ridge pixels.
        public var width: Double?
        /// Whether the width was measured on the image enlarged 2x.
        public var upsampled: Bool = false
    }

    /// `estimateChromosomeWidth` with its Otsu threshold and ridge pixel count.
    public static func measure(_ pixels: [Float], width w: Int, height h: Int) -> Measurement {
        guard w * h > 0 else { return Measurement(threshold: nil, ridgeCount: 0, width: nil) }
        let grey = greyLevels(pixels)
        var histogram = [Int](repeating: 0, count: 256)
        for v in grey { histogram[Int(v)] += 1 }
        guard let threshold = MaskAnalysis.otsuThreshold(histogram: histogram) else {
            return Measurement(threshold: nil, ridgeCount: 0, width: nil)
        }
        let ridge = ridgeDistances(grey, width: w, height: h, threshold: threshold)
        var result = Measurement(threshold: threshold, ridgeCount: ridge.count, width: nil)
        guard ridge.count >= minimumRidgePixels else { return result }
        result.width = 2 * median(ridge)
        if let width = result.width, width < upsampleBelow {
            let enlarged = GrayImage(width: w, height: h, pixels: pixels).resized(width: 2 * w, height: 2 * h)
            let fine = ridgeDistances(
                greyLevels(enlarged.pixels), width: 2 * w, height: 2 * h, threshold: threshold)
            if fine.count >= minimumRidgePixels {
                result.width = median(fine)
                result.upsampled = true
            }
        }
        return result
    }

    /// The values rounded half to even and clamped to 0...255.
    static func greyLevels(_ pixels: [Float]) -> [UInt8] {
        pixels.map { UInt8(min(max($0.rounded(.toNearestOrEven), 0), 255)) }
    }

    /// Sorted distances to the background of the ridge pixels of the mask `grey <= threshold` with its small holes
    /// filled: foreground pixels with `D >= 2` that no 8-neighbour inside the image exceeds (outside the image counts
    /// as background).
    private static func ridgeDistances(_ grey: [UInt8], width w: Int, height h: Int, threshold: Int) -> [Double] {
        let dark = grey.map { Int($0) <= threshold ? UInt8(1) : 0 }
        let darkCount = dark.reduce(0) { $0 + Int($1) }
        let foreground = MaskAnalysis.fillHoles(
            dark, width: w, height: h, maxArea: Int((holeFraction * Double(darkCount)).rounded(.down)))
        let distance = MaskAnalysis.squaredDistanceToBackground(foreground, width: w, height: h).map {
            Double($0).squareRoot()
        }
        var ridge: [Double] = []
        for y in 0..<h {
            for x in 0..<w {
                let d = distance[y * w + x]
                guard foreground[y * w + x] != 0, d >= 2 else { continue }
                var isMax = true
                for dy in -1...1 {
                    for dx in -1...1 where dx != 0 || dy != 0 {
                        let (yy, xx) = (y + dy, x + dx)
                        if yy >= 0, yy < h, xx >= 0, xx < w, distance[yy * w + xx] > d { isMax = false }
                    }
                }
                if isMax { ridge.append(d) }
            }
        }
        return ridge.sorted()
    }

    /// The median of sorted values (the mean of the two middle ones for an even count, as numpy's).
    private static func median(_ sorted: [Double]) -> Double {
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
