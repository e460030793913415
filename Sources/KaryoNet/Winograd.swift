import COpenBLAS

/// Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
/// 2016) for 3x3 convolutions with stride 1 and padding 1.
///
/// Each 2x2 block of output ("tile") comes from a 4x4 input patch `d`: `Y = Aᵀ [ U ⊙ V ] A` with the filter
/// transform `U = G g Gᵀ` (done once, at load) and the input transform `V = Bᵀ d B`. Summed over input channels,
/// the element-wise products become 16 matrix products `M_ξ = U_ξ V_ξ` (`[out, in] x [in, tiles]`), so the
/// multiplications are 16 per 4 outputs instead of 36: 2.25x fewer than im2col + sgemm, at the price of the two
/// transforms (additions only) and of rounding within 1e-6 relative of the direct sum.
enum WinogradF2x2 {
    /// Floats that the transformed input and the products of one band of tile rows may take (64 MB).
    static let bandFloats = 16 << 20

    /// `U = G g Gᵀ` for every (out, in) pair of a `[out, in, 3, 3]` weight, stored as 16 row-major `[out, in]`
    /// matrices, `ξ = 4 * row + column` of the 4x4 transform.
    static func transformWeights(_ weight: [Float], outChannels: Int, inChannels: Int) -> [Float] {
        let pairs = outChannels * inChannels
        var u = [Float](repeating: 0, count: 16 * pairs)
        weight.withUnsafeBufferPointer { wp in
            u.withUnsafeMutableBufferPointer { up in
                for pair in 0..<pairs {
                    let g = wp.baseAddress! + pair * 9
                    for i in 0..<4 {
                        // Row i of t = G g (4x3), G = [[1, 0, 0], [½, ½, ½], [½, -½, ½], [0, 0, 1]] ...
                        func t(_ j: Int) -> Float {
                            let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j])
                            switch i {
                            case 0: return g0
                            case 1: return 0.5 * (g0 + g1 + g2)
                            case 2: return 0.5 * (g0 - g1 + g2)
                            default: return g2
                            }
                        }
                        // ... and row i of U = t Gᵀ (4x4).
                        let (t0, t1, t2) = (t(0), t(1), t(2))
                        up[(4 * i) * pairs + pair] = t0
                        up[(4 * i + 1) * pairs + pair] = 0.5 * (t0 + t1 + t2)
                        up[(4 * i + 2) * pairs + pair] = 0.5 * (t0 - t1 + t2)
                        up[(4 * i + 3) * pairs + pair] = t2
                    }
                }
            }
        }
        return u
    }

    /// Convolves `input` (`[inChannels, h, w]`) into `output` (`[outChannels, h, w]`), adding `bias` and
    /// `residual` (same shape as `output`) when given, then applying ReLU when `relu` is set.
    ///
    /// Tile rows are processed in bands that keep the transformed input and the 16 products under `bandFloats`.
    static func convolve(
        input: UnsafePointer<Float>, h: Int, w: Int, inChannels: Int, outChannels: Int,
        u: UnsafePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool,
        output: UnsafeMutablePointer<Float>, bandFloats: Int = bandFloats
    ) {
        let (tileRows, tileCols) = ((h + 1) / 2, (w + 1) / 2)
        let floatsPerTileRow = 16 * (inChannels + outChannels) * tileCols
        let bandRows = max(1, min(tileRows, bandFloats / floatsPerTileRow))
        let maxTiles = bandRows * tileCols
        Scratch.withFloats(16 * (inChannels + outChannels) * maxTiles) { v in
            let m = v + 16 * inChannels * maxTiles
            var firstRow = 0
            while firstRow < tileRows {
                let rows = firstRow..<min(tileRows, firstRow + bandRows)
                let tiles = rows.count * tileCols
                transformInput(input, h: h, w: w, channels: inChannels, tileRows: rows, tileCols: tileCols, into: v)
                for xi in 0..<16 {
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outChannels), Int32(tiles), Int32(inChannels),
                        1,
                        u + xi * outChannels * inChannels, Int32(inChannels), v + xi * inChannels * tiles, Int32(tiles),
                        0, m + xi * outChannels * tiles, Int32(tiles))
                }
                transformOutput(
                    m, h: h, w: w, channels: outChannels, tileRows: rows, tileCols: tileCols, bias: bias,
                    residual: residual, relu: relu, into: output)
                firstRow = rows.upperBound
            }
        }
    }

    /// `V = Bᵀ d B` for every tile of `tileRows` and every channel, into 16 row-major `[channels, tiles]` matrices.
    /// `Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`.
    ///
    /// The four input rows of a tile row are split into even and odd padded columns, so that every loop below
    /// runs over contiguous memory and vectorizes: tile `j` covers padded columns `2j ... 2j + 3`, i.e.
    /// `even[j], odd[j], even[j + 1], odd[j + 1]`.
    private static func transformInput(
        _ input: UnsafePointer<Float>, h: Int, w: Int, channels: Int, tileRows: Range<Int>, tileCols: Int,
        into v: UnsafeMutablePointer<Float>
    ) {
        let tiles = tileRows.count * tileCols
        let halfWidth = tileCols + 1
        let matrixStride = channels * tiles
        parallelChunks(channels) { channelRange in
            // rows[r] even then odd halves (8 arrays), then Bᵀ down the columns: t[i] even then odd (8 arrays).
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 16 * halfWidth)
            defer { scratch.deallocate() }
            let t = scratch + 8 * halfWidth
            for c in channelRange {
                let plane = input + c * h * w
                for tileRow in tileRows {
                    for r in 0..<4 {
                        let even = scratch + 2 * r * halfWidth
                        let odd = even + halfWidth
                        let iy = 2 * tileRow - 1 + r
                        guard iy >= 0 && iy < h else {
                            even.update(repeating: 0, count: 2 * halfWidth)
                            continue
                        }
                        // Padded column x holds input column x - 1: even[j] = in[2j - 1] (inside the row for
                        // 1 <= j <= w / 2; even[0] is the left padding), odd[j] = in[2j] (for j < ceil(w / 2)).
                        let src = plane + iy * w
                        let (evenEnd, oddEnd) = (w / 2 + 1, (w + 1) / 2)
                        even[0] = 0
                        for j in 1..<evenEnd { even[j] = src[2 &* j &- 1] }
                        for j in 0..<oddEnd { odd[j] = src[2 &* j] }
                        (even + evenEnd).update(repeating: 0, count: halfWidth - evenEnd)
                        (odd + oddEnd).update(repeating: 0, count: halfWidth - oddEnd)
                    }
                    let n = 2 * halfWidth  // even and odd halves side by side
                    let (r0, r1, r2, r3) = (scratch, scratch + n, scratch + 2 * n, scratch + 3 * n)
                    let (t0, t1, t2, t3) = (t, t + n, t + 2 * n, t + 3 * n)
                    for x in 0..<n {
                        t0[x] = r0[x] - r2[x]
                        t1[x] = r1[x] + r2[x]
                        t2[x] = r2[x] - r1[x]
                        t3[x] = r1[x] - r3[x]
                    }
                    let base = v + c * tiles + (tileRow - tileRows.lowerBound) * tileCols
                    for i in 0..<4 {
                        let even = t + i * n
                        let odd = even + halfWidth
                        let d0 = base + (4 * i) * matrixStride
                        let d1 = d0 + matrixStride
                        let d2 = d1 + matrixStride
                        let d3 = d2 + matrixStride
                        for j in 0..<tileCols {
                            let (x0, x1, x2, x3) = (even[j], odd[j], even[j &+ 1], odd[j &+ 1])
                            d0[j] = x0 - x2
                            d1[j] = x1 + x2
                            d2[j] = x2 - x1
                            d3[j] = x1 - x3
                        }
                    }
                }
            }
        }
    }

    /// `Y = Aᵀ M A` for every tile and channel, plus bias and `residual` when given,
    /// then ReLU when asked; writes the rows of `output` that `tileRows` cover.
    /// `Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]`.
    private static func transformOutput(
        _ m: UnsafePointer<Float>, h: Int, w: Int, channels: Int, tileRows: Range<Int>, tileCols: Int,
        bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool,
        into output: UnsafeMutablePointer<Float>
    ) {
        let tiles = tileRows.count * tileCols
        let matrixStride = channels * tiles
        parallelChunks(channels) { channelRange in
            // The four outputs of each tile, y[dy][dx], one contiguous array each.
            let y = UnsafeMutablePointer<Float>.allocate(capacity: 4 * tileCols)
            defer { y.deallocate() }
            let (y00, y01, y10, y11) = (y, y + tileCols, y + 2 * tileCols, y + 3 * tileCols)
            for c in channelRange {
                let b = bias[c]
                for tileRow in tileRows {
                    let p = m + c * tiles + (tileRow - tileRows.lowerBound) * tileCols
                    let s = matrixStride
                    for j in 0..<tileCols {
                        // Aᵀ along each row i of the 4x4 M gives (a_i, d_i); then Aᵀ down the columns.
                        let a0 = p[j] + p[s &+ j] + p[2 &* s &+ j]
                        let d0 = p[s &+ j] - p[2 &* s &+ j] - p[3 &* s &+ j]
                        let a1 = p[4 &* s &+ j] + p[5 &* s &+ j] + p[6 &* s &+ j]
                        let d1 = p[5 &* s &+ j] - p[6 &* s &+ j] - p[7 &* s &+ j]
                        let a2 = p[8 &* s &+ j] + p[9 &* s &+ j] + p[10 &* s &+ j]
                        let d2 = p[9 &* s &+ j] - p[10 &* s &+ j] - p[11 &* s &+ j]
                        let a3 = p[12 &* s &+ j] + p[13 &* s &+ j] + p[14 &* s &+ j]
                        let d3 = p[13 &* s &+ j] - p[14 &* s &+ j] - p[15 &* s &+ j]
                        y00[j] = a0 + a1 + a2
                        y01[j] = d0 + d1 + d2
                        y10[j] = a1 - a2 - a3
                        y11[j] = d1 - d2 - d3
                    }
                    for dy in 0..<2 where 2 * tileRow + dy < h {
                        let (left, right) = dy == 0 ? (y00, y01) : (y10, y11)
                        let dst = output + (c * h + 2 * tileRow + dy) * w
                        let pairs = w / 2
                        for j in 0..<pairs {
                            dst[2 &* j] = left[j] + b
                            dst[2 &* j &+ 1] = right[j] + b
                        }
                        if w % 2 == 1 { dst[w - 1] = left[pairs] + b }
                        if let residual {
                            let r = residual + (dst - output)
                            for x in 0..<w { dst[x] += r[x] }
                        }
                        if relu { for x in 0..<w { dst[x] = max(dst[x], 0) } }
                    }
                }
            }
        }
    }
}
