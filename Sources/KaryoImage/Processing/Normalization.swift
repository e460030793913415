extension GrayImage {
    /// `(pixel - mean) / std` for every pixel, as the network's input normalization (`config.json`'s mean/std).
    public func normalizedPixels(mean: Float, std: Float) -> [Float] {
        precondition(std > 0, "std must be positive")
        let inverse = 1 / std
        let count = pixels.count
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            pixels.withUnsafeBufferPointer { src in
                for i in 0..<count { out[i] = (src[i] - mean) * inverse }
            }
            initialized = count
        }
    }

    /// The image normalized as by `normalizedPixels(mean:std:)`.
    public func normalized(mean: Float, std: Float) -> GrayImage {
        GrayImage(width: width, height: height, pixels: normalizedPixels(mean: mean, std: std))
    }

    /// Mean and population standard deviation of the pixels (accumulated in Double); zeros for an empty image.
    public var meanAndStandardDeviation: (mean: Float, std: Float) {
        guard !pixels.isEmpty else { return (0, 0) }
        var sum = 0.0, squares = 0.0
        pixels.withUnsafeBufferPointer { src in
            for v in src {
                let d = Double(v)
                sum += d
                squares += d * d
            }
        }
        let n = Double(pixels.count)
        let mean = sum / n
        return (Float(mean), Float(max(0, squares / n - mean * mean).squareRoot()))
    }
}
