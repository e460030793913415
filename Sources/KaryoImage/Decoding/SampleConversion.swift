/// Tight loops that turn unsigned samples into grey intensities; callers hand in raw pointers so no loop
/// goes through generics or bounds-checked collections.
enum SampleConversion {
    /// Rec. 601 luma weights used for every RGB to grey conversion.
    static let redWeight: Float = 0.299
    static let greenWeight: Float = 0.587
    static let blueWeight: Float = 0.114

    /// `out[i] = table[samples[i * stride]]` for 8-bit samples.
    static func lookup(
        _ samples: UnsafePointer<UInt8>, stride: Int, count: Int, table: UnsafeBufferPointer<Float>,
        into out: UnsafeMutablePointer<Float>
    ) {
        precondition(table.count >= 256)
        let t = table.baseAddress!
        for i in 0..<count { out[i] = t[Int(samples[i &* stride])] }
    }

    /// `out[i] = table[samples[i * stride]]` for 16-bit samples.
    static func lookup(
        _ samples: UnsafePointer<UInt16>, stride: Int, count: Int, table: UnsafeBufferPointer<Float>,
        into out: UnsafeMutablePointer<Float>
    ) {
        precondition(table.count >= 65536)
        let t = table.baseAddress!
        for i in 0..<count { out[i] = t[Int(samples[i &* stride])] }
    }

    /// `out[i] = samples[i * stride] / 65535`, or `(65535 - sample) / 65535` when inverted: the same values
    /// as `greyTable(bits: 16, ...)` without building a 65536-entry table.
    static func scale(
        _ samples: UnsafePointer<UInt16>, stride: Int, count: Int, inverted: Bool, into out: UnsafeMutablePointer<Float>
    ) {
        if inverted {
            for i in 0..<count { out[i] = Float(65535 - samples[i &* stride]) / 65535 }
        } else {
            for i in 0..<count { out[i] = Float(samples[i &* stride]) / 65535 }
        }
    }

    /// Luminance of 8-bit RGB samples; `red`, `green`, `blue` may point into one interleaved buffer
    /// (stride = samples per pixel) or into separate planes (stride 1).
    static func luminance(
        red: UnsafePointer<UInt8>, green: UnsafePointer<UInt8>, blue: UnsafePointer<UInt8>, stride: Int, count: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        let r = redWeight / 255, g = greenWeight / 255, b = blueWeight / 255
        for i in 0..<count {
            let j = i &* stride
            out[i] = r * Float(red[j]) + g * Float(green[j]) + b * Float(blue[j])
        }
    }

    /// Luminance of 16-bit RGB samples (see the 8-bit variant).
    static func luminance(
        red: UnsafePointer<UInt16>, green: UnsafePointer<UInt16>, blue: UnsafePointer<UInt16>, stride: Int,
        count: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let r = redWeight / 65535, g = greenWeight / 65535, b = blueWeight / 65535
        for i in 0..<count {
            let j = i &* stride
            out[i] = r * Float(red[j]) + g * Float(green[j]) + b * Float(blue[j])
        }
    }

    /// Unpacks one row of 1-bit samples (most significant bit first) through a two-entry table.
    static func lookupBits(
        _ row: UnsafePointer<UInt8>, count: Int, zero: Float, one: Float, into out: UnsafeMutablePointer<Float>
    ) {
        for x in 0..<count {
            let bit = (row[x >> 3] >> UInt8(7 - (x & 7))) & 1
            out[x] = bit == 0 ? zero : one
        }
    }

    /// The table mapping each value of a `bits`-bit sample to `value / max`, or `(max - value) / max` when inverted (exact divisions).
    static func greyTable(bits: Int, inverted: Bool) -> [Float] {
        let levels = 1 << bits
        let maximum = Float(levels - 1)
        return (0..<levels).map { v in inverted ? Float(levels - 1 - v) / maximum : Float(v) / maximum }
    }

    /// Fills a float image of `count` pixels by running `body` on its storage; nothing partial escapes.
    static func makePixels(count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            body(buffer.baseAddress!)
            initialized = count
        }
    }
}
