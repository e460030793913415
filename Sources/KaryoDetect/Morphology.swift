/// Binary morphology on row-major planes (component labels, hole filling and the distance transform are in
/// `MaskAnalysis`).
///
/// Masks are `[UInt8]` with 1 = foreground; labels are `[Int32]` with -1 = background. All loops run over unsafe
/// buffers so a 1000 x 1000 plane takes a few milliseconds per step.
enum Morphology {
    /// Erosion by a (2r+1) x (2r+1) square; pixels outside the plane count as background.
    static func erode(_ mask: [UInt8], width: Int, height: Int, radius r: Int) -> [UInt8] {
        squareFilter(mask, width: width, height: height, radius: r, keepWhenAll: true)
    }

    /// Dilation by a (2r+1) x (2r+1) square.
    static func dilate(_ mask: [UInt8], width: Int, height: Int, radius r: Int) -> [UInt8] {
        squareFilter(mask, width: width, height: height, radius: r, keepWhenAll: false)
    }

    /// Opening (erosion then dilation): removes specks and lines thinner than the square.
    static func open(_ mask: [UInt8], width: Int, height: Int, radius r: Int) -> [UInt8] {
        guard r > 0 else { return mask }
        return dilate(erode(mask, width: width, height: height, radius: r), width: width, height: height, radius: r)
    }

    /// A separable square min (erosion) or max (dilation) filter with running counts, O(1) per pixel.
    private static func squareFilter(_ mask: [UInt8], width: Int, height: Int, radius r: Int, keepWhenAll: Bool)
        -> [UInt8]
    {
        guard r > 0, width > 0, height > 0 else { return mask }
        let need = keepWhenAll ? 2 * r + 1 : 1
        var rows = [UInt8](repeating: 0, count: mask.count)
        var out = [UInt8](repeating: 0, count: mask.count)
        mask.withUnsafeBufferPointer { src in
            rows.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let base = y * width
                    var count = 0
                    for x in 0..<min(r, width) { count += Int(src[base + x]) }
                    for x in 0..<width {
                        if x + r < width { count += Int(src[base + x + r]) }
                        if x - r - 1 >= 0 { count -= Int(src[base + x - r - 1]) }
                        dst[base + x] = count >= need ? 1 : 0
                    }
                }
            }
        }
        rows.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var counts = [Int](repeating: 0, count: width)
                counts.withUnsafeMutableBufferPointer { c in
                    for y in 0..<min(r, height) {
                        for x in 0..<width { c[x] += Int(src[y * width + x]) }
                    }
                    for y in 0..<height {
                        if y + r < height {
                            let b = (y + r) * width
                            for x in 0..<width { c[x] += Int(src[b + x]) }
                        }
                        if y - r - 1 >= 0 {
                            let b = (y - r - 1) * width
                            for x in 0..<width { c[x] -= Int(src[b + x]) }
                        }
                        let b = y * width
                        for x in 0..<width { dst[b + x] = c[x] >= need ? 1 : 0 }
                    }
                }
            }
        }
        return out
    }
}
