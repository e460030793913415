import COpenBLAS
import KaryoSupport

/// This machine's single-precision matrix-multiply rate through OpenBLAS: the ceiling the engine's convolutions are
/// measured against (`karyocount bench`).
public enum SgemmRate {
    /// The threads OpenBLAS runs a product on (`OPENBLAS_NUM_THREADS`, else the cores).
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// GFLOP/s of an `n` x `n` x `n` `cblas_sgemm`, the median of `repeats` runs after a warm-up run.
    public static func measure(n: Int, repeats: Int) -> Double {
        let a = [Float](repeating: 0.5, count: n * n)
        let b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        var rates: [Double] = []
        for i in 0...repeats {
            var clock = Stopwatch()
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n),
                0, &c, Int32(n))
            let ms = clock.lap()
            if i > 0 { rates.append(2 * Double(n) * Double(n) * Double(n) / (ms / 1000) / 1e9) }
        }
        return rates.median ?? 0
    }
}
