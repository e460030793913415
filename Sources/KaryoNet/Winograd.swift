import COpenBLAS

/// Winograd's minimal filtering F(m x m, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
/// 2016) for 3x3 convolutions with stride 1 and padding 1.
///
/// Each m x m block of output ("tile") comes from an α x α input patch `d` (α = m + 2):
/// `Y = Aᵀ [ U ⊙ V ] A` with the filter transform `U = G g Gᵀ` (done once, at load) and the input transform
/// `V = Bᵀ d B`. Summed over input channels, the element-wise products become α² matrix products
/// `M_ξ = U_ξ V_ξ` (`[out, in] x [in, tiles]`): F(2x2, 3x3) multiplies 16 times per 4 outputs (2.25x fewer than
/// the direct 36), F(4x4, 3x3) 36 times per 16 outputs (4x fewer), at the price of the transforms and of
/// rounding (within 1e-6 and 1e-5 relative of the direct sum).
struct WinogradTransform: Sendable {
    /// Output tile side m.
    let m: Int
    /// Input tile side α = m + 2.
    let alpha: Int
    /// `Bᵀ`, α x α, row-major.
    let bt: [Float]
    /// `G`, α x 3, row-major.
    let g: [Float]
    /// `Aᵀ`, m x α, row-major.
    let at: [Float]

    /// F(2x2, 3x3), interpolation points 0, 1, -1 and ∞: additions only.
    static let f2x2 = WinogradTransform(
        m: 2,
        bt: [1, 0, -1, 0, 0, 1, 1, 0, 0, -1, 1, 0, 0, 1, 0, -1],
        g: [1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1],
        at: [1, 1, 1, 0, 0, 1, -1, -1])

    /// F(4x4, 3x3), interpolation points 0, ±1, ±2 and ∞ (Lavin & Gray's matrices).
    static let f4x4 = WinogradTransform(
        m: 4,
        bt: [
            4, 0, -5, 0, 1, 0, 0, -4, -4, 1, 1, 0, 0, 4, -4, -1, 1, 0, 0, -2, -1, 2, 1, 0, 0, 2, -1, -2, 1, 0, 0, 4, 0,
            -5, 0, 1,
        ],
        g: [
            1.0 / 4, 0, 0, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 12, 1.0 / 6,
            1.0 / 24, -1.0 / 12, 1.0 / 6, 0, 0, 1,
        ],
        at: [1, 1, 1, 1, 1, 0, 0, 1, -1, 2, -2, 0, 0, 1, 1, 4, 4, 0, 0, 1, -1, 8, -8, 1])

    private init(m: Int, bt: [Float], g: [Float], at: [Float]) {
        self.m = m
        alpha = m + 2
        self.bt = bt
        self.g = g
        self.at = at
    }

    /// Floats that the transformed input and the products of one band of tile rows may take (64 MB).
    static let bandFloats = 16 << 20

    /// `U = G g Gᵀ` for every (out, in) pair of a `[out, in, 3, 3]` weight, stored as α² row-major `[out, in]`
    /// matrices, `ξ = α * row + column` of the α x α transform.
    func transformWeights(_ weight: [Float], outChannels: Int, inChannels: Int) -> [Float] {
        let pairs = outChannels * inChannels
        var u = [Float](repeating: 0, count: alpha * alpha * pairs)
        var t = [Float](repeating: 0, count: alpha * 3)
        for pair in 0..<pairs {
            let kernel = weight[(pair * 9)..<(pair * 9 + 9)]
            // t = G g (α x 3), then U = t Gᵀ (α x α); sums in Double, rounded once.
            for i in 0..<alpha {
                for j in 0..<3 {
                    var s = 0.0
                    for r in 0..<3 { s += Double(g[i * 3 + r]) * Double(kernel[kernel.startIndex + r * 3 + j]) }
                    t[i * 3 + j] = Float(s)
                }
            }
            for i in 0..<alpha {
                for j in 0..<alpha {
                    var s = 0.0
                    for r in 0..<3 { s += Double(t[i * 3 + r]) * Double(g[j * 3 + r]) }
                    u[(alpha * i + j) * pairs + pair] = Float(s)
                }
            }
        }
        return u
    }

    /// Convolves `input` (`[inChannels, h, w]`) into `output` (`[outChannels, h, w]`), adding `bias` and
    /// `residual` (same shape as `output`) when given, then applying ReLU when `relu` is set.
    ///
    /// Tile rows are processed in bands that keep the transformed input and the α² products under `bandFloats`.
    func convolve(
        input: UnsafePointer<Float>, h: Int, w: Int, inChannels: Int, outChannels: Int,
        u: UnsafePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool,
        output: UnsafeMutablePointer<Float>, bandFloats: Int = WinogradTransform.bandFloats
    ) {
        let (tileRows, tileCols) = ((h + m - 1) / m, (w + m - 1) / m)
        let products = alpha * alpha
        let floatsPerTileRow = products * (inChannels + outChannels) * tileCols
        let bandRows = max(1, min(tileRows, bandFloats / floatsPerTileRow))
        let maxTiles = bandRows * tileCols
        Scratch.withFloats(products * (inChannels + outChannels) * maxTiles) { v in
            let mProducts = v + products * inChannels * maxTiles
            var firstRow = 0
            while firstRow < tileRows {
                let rows = firstRow..<min(tileRows, firstRow + bandRows)
                let tiles = rows.count * tileCols
                transformInput(input, h: h, w: w, channels: inChannels, tileRows: rows, tileCols: tileCols, into: v)
                for xi in 0..<products {
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(tiles),
                        Int32(inChannels), 1, u + xi * outChannels * inChannels, Int32(inChannels),
                        v + xi * inChannels * tiles, Int32(tiles), 0, mProducts + xi * outChannels * tiles,
                        Int32(tiles))
                }
                transformOutput(
                    mProducts, h: h, w: w, channels: outChannels, tileRows: rows, tileCols: tileCols, bias: bias,
                    residual: residual, relu: relu, into: output)
                firstRow = rows.upperBound
            }
        }
    }

    /// `dst[j] (+)= coefficient * src[j]` for `j < n`: the one loop both transforms are made of (it vectorizes).
    @inline(__always)
    private static func scaleAdd(
        _ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ coefficient: Float, _ n: Int, first: Bool
    ) {
        if first {
            for j in 0..<n { dst[j] = coefficient * src[j] }
        } else {
            for j in 0..<n { dst[j] += coefficient * src[j] }
        }
    }

    /// `dst = Σ_k coefficients[k] * sources(k)` over the nonzero coefficients (zeros when all are zero).
    @inline(__always)
    private static func combine(
        _ dst: UnsafeMutablePointer<Float>, _ coefficients: UnsafePointer<Float>, count: Int, n: Int,
        _ source: (Int) -> UnsafePointer<Float>
    ) {
        var first = true
        for k in 0..<count where coefficients[k] != 0 {
            scaleAdd(dst, source(k), coefficients[k], n, first: first)
            first = false
        }
        if first { dst.update(repeating: 0, count: n) }
    }

    /// `V = Bᵀ d B` for every tile of `tileRows` and every channel, into α² row-major `[channels, tiles]` matrices.
    ///
    /// The α input rows of a tile row are split by column phase (padded column `m j + p` goes to phase `p`,
    /// index `j`), so the tile at `j` reads column `c` of its patch at phase `c % m`, index `j + c / m`, and every
    /// loop runs over contiguous memory.
    private func transformInput(
        _ input: UnsafePointer<Float>, h: Int, w: Int, channels: Int, tileRows: Range<Int>, tileCols: Int,
        into v: UnsafeMutablePointer<Float>
    ) {
        let (m, alpha) = (self.m, self.alpha)
        let tiles = tileRows.count * tileCols
        let phaseLength = tileCols + 1
        let rowFloats = m * phaseLength
        let matrixStride = channels * tiles
        bt.withUnsafeBufferPointer { btp in
            let bt = btp.baseAddress!
            parallelChunks(channels) { channelRange in
                // The α rows split into phases, then Bᵀ applied down the columns (same layout).
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * alpha * rowFloats)
                defer { scratch.deallocate() }
                let down = scratch + alpha * rowFloats
                for c in channelRange {
                    let plane = input + c * h * w
                    for tileRow in tileRows {
                        for r in 0..<alpha {
                            let row = scratch + r * rowFloats
                            let iy = tileRow * m - 1 + r
                            guard iy >= 0 && iy < h else {
                                row.update(repeating: 0, count: rowFloats)
                                continue
                            }
                            let src = plane + iy * w
                            for p in 0..<m {
                                let phase = row + p * phaseLength
                                for j in 0..<phaseLength {
                                    let x = m &* j &+ p &- 1
                                    phase[j] = x >= 0 && x < w ? src[x] : 0
                                }
                            }
                        }
                        for i in 0..<alpha {
                            Self.combine(down + i * rowFloats, bt + i * alpha, count: alpha, n: rowFloats) {
                                UnsafePointer(scratch + $0 * rowFloats)
                            }
                        }
                        let base = v + c * tiles + (tileRow - tileRows.lowerBound) * tileCols
                        for i in 0..<alpha {
                            let rowOfT = down + i * rowFloats
                            for k in 0..<alpha {
                                Self.combine(
                                    base + (alpha * i + k) * matrixStride, bt + k * alpha, count: alpha, n: tileCols
                                ) {
                                    UnsafePointer(rowOfT + ($0 % m) * phaseLength + $0 / m)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `Y = Aᵀ M A` for every tile and channel, plus bias and `residual` when given, then ReLU when asked; writes
    /// the rows of `output` that `tileRows` cover.
    private func transformOutput(
        _ products: UnsafePointer<Float>, h: Int, w: Int, channels: Int, tileRows: Range<Int>, tileCols: Int,
        bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool,
        into output: UnsafeMutablePointer<Float>
    ) {
        let (m, alpha) = (self.m, self.alpha)
        let tiles = tileRows.count * tileCols
        let matrixStride = channels * tiles
        at.withUnsafeBufferPointer { atp in
            let at = atp.baseAddress!
            parallelChunks(channels) { channelRange in
                // s[i][b] = Σ_k Aᵀ[b][k] M[i][k] (Aᵀ along each row of M), then y[a][b] = Σ_i Aᵀ[a][i] s[i][b].
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: (alpha + m) * m * tileCols)
                defer { scratch.deallocate() }
                let y = scratch + alpha * m * tileCols
                for c in channelRange {
                    let b = bias[c]
                    for tileRow in tileRows {
                        let p = products + c * tiles + (tileRow - tileRows.lowerBound) * tileCols
                        for i in 0..<alpha {
                            for col in 0..<m {
                                Self.combine(
                                    scratch + (i * m + col) * tileCols, at + col * alpha, count: alpha, n: tileCols
                                ) {
                                    p + (alpha * i + $0) * matrixStride
                                }
                            }
                        }
                        for a in 0..<m where tileRow * m + a < h {
                            for col in 0..<m {
                                Self.combine(y + col * tileCols, at + a * alpha, count: alpha, n: tileCols) {
                                    UnsafePointer(scratch + ($0 * m + col) * tileCols)
                                }
                            }
                            let offset = (c * h + tileRow * m + a) * w
                            let dst = output + offset
                            for j in 0..<(w / m) {
                                for col in 0..<m { dst[m &* j &+ col] = y[col &* tileCols &+ j] + b }
                            }
                            for x in (w / m * m)..<w { dst[x] = y[(x % m) * tileCols + x / m] + b }
                            if let residual {
                                let r = residual + offset
                                for x in 0..<w { dst[x] += r[x] }
                            }
                            if relu { for x in 0..<w { dst[x] = max(dst[x], 0) } }
                        }
                    }
                }
            }
        }
    }
}
