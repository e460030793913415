import KaryoImage

/// The two darkness thresholds of the foreground mask and the statistics they come from.
struct DarknessThresholds: Equatable, Sendable {
    /// Median darkness (the background level after correction, close to 0).
    var median: Float
    /// Robust standard deviation of the background's darkness (1.4826 x MAD).
    var noise: Float
    /// Otsu's threshold on the darkness histogram.
    var otsu: Float
    /// Seed threshold: a foreground object must contain at least one pixel this dark.
    var high: Float
    /// Extent threshold: an object grows over connected pixels at least this dark.
    var low: Float
}

/// Thresholding of the background-corrected darkness map.
enum ClassicalThreshold {
    private static let bins = 1024

    /// Chooses the thresholds: Otsu on the darkness histogram, raised to at least `seedNoiseFactor` noise sigmas
    /// above the background and to `minimumContrast`, so a blank or noise-only image yields no seeds; the low
    /// (extent) threshold is `lowFraction` of the high one but never within 3 sigmas of the background.
    static func choose(
        _ darkness: [Float], minimumContrast: Float, seedNoiseFactor: Float, lowFraction: Float
    ) -> DarknessThresholds {
        var histogram = [Int](repeating: 0, count: bins)
        darkness.withUnsafeBufferPointer { d in
            histogram.withUnsafeMutableBufferPointer { h in
                let scale = Float(bins - 1)
                for v in d { h[Int(v * scale + 0.5)] += 1 }
            }
        }
        let total = darkness.count
        let median = quantile(histogram, total: total, fraction: 0.5)
        var deviations = [Int](repeating: 0, count: bins)
        for (bin, count) in histogram.enumerated() where count > 0 {
            let dev = abs(binValue(bin) - median)
            deviations[min(bins - 1, Int(dev * Float(bins - 1) + 0.5))] += count
        }
        let noise = 1.4826 * quantile(deviations, total: total, fraction: 0.5)
        let otsu = otsuThreshold(histogram)
        let high = max(otsu, median + seedNoiseFactor * noise, minimumContrast)
        let low = max(lowFraction * high, median + 3 * noise, minimumContrast * lowFraction)
        return DarknessThresholds(median: median, noise: noise, otsu: otsu, high: high, low: low)
    }

    private static func binValue(_ bin: Int) -> Float { Float(bin) / Float(bins - 1) }

    /// The value below which `fraction` of the histogram's mass lies.
    private static func quantile(_ histogram: [Int], total: Int, fraction: Double) -> Float {
        guard total > 0 else { return 0 }
        let target = Int((Double(total) * fraction).rounded(.up))
        var seen = 0
        for (bin, count) in histogram.enumerated() {
            seen += count
            if seen >= target { return binValue(bin) }
        }
        return 1
    }

    /// Otsu's method on the darkness histogram: the upper edge of the last bin below the split (0 when the
    /// histogram has one value).
    static func otsuThreshold(_ histogram: [Int]) -> Float {
        guard let bin = MaskAnalysis.otsuThreshold(histogram: histogram) else { return 0 }
        return binValue(bin + 1)
    }

    /// Hysteresis thresholding: the 8-connected regions of `darkness >= low` that contain a pixel `>= high`.
    static func hysteresisMask(_ darkness: [Float], width: Int, height: Int, low: Float, high: Float) -> [UInt8] {
        var lowMask = [UInt8](repeating: 0, count: darkness.count)
        darkness.withUnsafeBufferPointer { d in
            lowMask.withUnsafeMutableBufferPointer { m in
                for i in 0..<d.count where d[i] >= low { m[i] = 1 }
            }
        }
        let (labels, count) = MaskAnalysis.label(lowMask, width: width, height: height)
        guard count > 0 else { return lowMask }
        var seeded = [Bool](repeating: false, count: count)
        darkness.withUnsafeBufferPointer { d in
            labels.withUnsafeBufferPointer { l in
                for i in 0..<d.count where l[i] >= 0 && d[i] >= high { seeded[Int(l[i])] = true }
            }
        }
        labels.withUnsafeBufferPointer { l in
            lowMask.withUnsafeMutableBufferPointer { m in
                for i in 0..<m.count where l[i] >= 0 && !seeded[Int(l[i])] { m[i] = 0 }
            }
        }
        return lowMask
    }
}
