/// Binary morphology, connected components and the distance transform on row-major planes.
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

    /// Labels the connected foreground regions (8-connected, or 4-connected when `eight` is false).
    ///
    /// Returns the label plane (-1 = background, else 0..<count, numbered in raster order of first pixel) and the count.
    static func label(_ mask: [UInt8], width: Int, height: Int, eight: Bool = true) -> (labels: [Int32], count: Int) {
        var labels = [Int32](repeating: -1, count: mask.count)
        var sets = DisjointSets()
        mask.withUnsafeBufferPointer { m in
            labels.withUnsafeMutableBufferPointer { l in
                for y in 0..<height {
                    for x in 0..<width {
                        let i = y * width + x
                        guard m[i] != 0 else { continue }
                        // Visited neighbours: W and N, plus NW and NE for 8-connectivity.
                        var current: Int32 = -1
                        func unite(_ c: Int32) {
                            guard c >= 0 else { return }
                            let a = sets.find(c)
                            if current < 0 {
                                current = a
                            } else if a != current {
                                let (lo, hi) = a < current ? (a, current) : (current, a)
                                sets.attach(hi, to: lo)
                                current = lo
                            }
                        }
                        if x > 0 { unite(l[i - 1]) }
                        if y > 0 {
                            unite(l[i - width])
                            if eight && x > 0 { unite(l[i - width - 1]) }
                            if eight && x + 1 < width { unite(l[i - width + 1]) }
                        }
                        if current < 0 {
                            current = sets.makeSet()
                        }
                        l[i] = current
                    }
                }
            }
        }
        // Compact the roots to 0..<count in order of first appearance.
        var compact = [Int32](repeating: -1, count: sets.count)
        var count: Int32 = 0
        labels.withUnsafeMutableBufferPointer { l in
            for i in 0..<l.count where l[i] >= 0 {
                let root = Int(sets.find(l[i]))
                if compact[root] < 0 {
                    compact[root] = count
                    count += 1
                }
                l[i] = compact[root]
            }
        }
        return (labels, Int(count))
    }
}

/// Union-find over dense `Int32` ids (path halving), shared by component labelling and the watershed.
struct DisjointSets {
    private var parent: [Int32] = []

    /// How many ids have been made.
    var count: Int { parent.count }

    /// A new singleton set; its id is the previous `count`.
    mutating func makeSet() -> Int32 {
        let id = Int32(parent.count)
        parent.append(id)
        return id
    }

    /// The root of `id`'s set.
    mutating func find(_ id: Int32) -> Int32 {
        var i = id
        while parent[Int(i)] != i {
            parent[Int(i)] = parent[Int(parent[Int(i)])]
            i = parent[Int(i)]
        }
        return i
    }

    /// Makes `root` the parent of the root `child`.
    mutating func attach(_ child: Int32, to root: Int32) {
        parent[Int(child)] = root
    }
}
