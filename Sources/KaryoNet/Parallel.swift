import Dispatch
import Foundation

/// Runs `body` for each index in `0..<count`, spread over the machine's cores when `count > 1`.
///
/// The engine uses it for the work OpenBLAS does not thread: im2col, element-wise epilogues,
/// RoIAlign, pooling.
@inline(__always)
func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 {
        if count == 1 { body(0) }
        return
    }
    // The bodies write disjoint parts of buffers they capture as raw pointers; concurrentPerform returns only
    // after every iteration finished, so the closure never outlives the call.
    withoutActuallyEscaping(body) { body in
        let sendableBody = unsafeBitCast(body, to: (@Sendable (Int) -> Void).self)
        DispatchQueue.concurrentPerform(iterations: count, execute: sendableBody)
    }
}

/// Splits `0..<total` into about `parts` contiguous chunks and runs `body(range)` for each in parallel.
@inline(__always)
func parallelChunks(_ total: Int, parts: Int = parallelWidth, _ body: (Range<Int>) -> Void) {
    let n = max(1, min(parts, total))
    let step = (total + n - 1) / max(n, 1)
    parallelFor(n) { i in
        let lo = i * step
        let hi = min(total, lo + step)
        if lo < hi { body(lo..<hi) }
    }
}

/// How many chunks element-wise work is split into: a few per core so a busy core does not stall the rest.
let parallelWidth: Int = max(1, ProcessInfo.processInfo.activeProcessorCount) * 2
