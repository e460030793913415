import Synchronization

/// Reusable scratch memory for the engine's temporary buffers (im2col columns, Winograd transforms).
///
/// Freshly allocated large buffers are fresh pages that the kernel maps and zeroes on first touch; handing the
/// same few buffers from one convolution to the next avoids that on every layer. Concurrent callers each get
/// their own buffer; at most `keep` buffers are kept between calls.
enum Scratch {
    private struct Buffer: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<Float>
        let capacity: Int
    }

    private static let pool = Mutex<[Buffer]>([])
    private static let keep = 2

    /// Runs `body` with at least `count` floats of uninitialised scratch memory, valid only inside `body`.
    static func withFloats<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let taken: Buffer? = pool.withLock { free in
            guard let index = free.firstIndex(where: { $0.capacity >= count }) ?? free.indices.last else { return nil }
            return free.remove(at: index)
        }
        var buffer: Buffer
        if let taken, taken.capacity >= count {
            buffer = taken
        } else {
            taken?.pointer.deallocate()
            buffer = Buffer(pointer: .allocate(capacity: count), capacity: count)
        }
        defer {
            let surplus: Buffer? = pool.withLock { free in
                free.append(buffer)
                free.sort { $0.capacity < $1.capacity }
                return free.count > keep ? free.removeFirst() : nil
            }
            surplus?.pointer.deallocate()
        }
        return try body(buffer.pointer)
    }
}
