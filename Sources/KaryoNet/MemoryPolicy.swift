#if canImport(Glibc)
    import CMalloc
#endif

/// The process-wide allocator setting the engine runs best with.
///
/// A forward pass allocates one tensor per layer, up to 124 MB each (ResNet-101 at 1600x1200). glibc serves
/// allocations of that size with fresh `mmap`s and returns them on `free`, so every layer's output is mapped and
/// zero-filled by the kernel anew: about 15% of the pass. Keeping freed memory in the heap (no `mmap` for large
/// blocks, no trimming) lets the next layer and the next image reuse the same pages, at the cost of the process
/// holding on to its peak heap (about 130 MB more resident memory for ResNet-101; see Benchmarks/README.md).
///
/// All threads share the main heap (one arena): a thread's own arena is made of 64 MB heaps that glibc creates and
/// unmaps as they fill and empty, and a block larger than that is `mmap`ped whatever `M_MMAP_MAX` says
/// (measurements: Benchmarks/README.md, "Design choices").
public enum MemoryPolicy {
    /// Applies the policy once per process (later calls do nothing); a no-op where glibc is not the allocator.
    /// Call it at start-up, before the model is loaded: applied later, the weights already lie in mapped blocks.
    public static func retainFreedMemory() { _ = applied }

    /// Images above this many pixels leave far more free heap than a working-scale image needs (a 1600x1200
    /// export is 1.9 MP); after one, `releaseFreedMemory()` gives it back.
    public static let largeImagePixels = 8_000_000

    /// Returns the heap's free pages to the system (`malloc_trim`): after an unusually large image, so that the
    /// retained heap stays at what ordinary images need instead of the largest image ever seen.
    public static func releaseFreedMemory() {
        #if canImport(Glibc)
            _ = malloc_trim(0)
        #endif
    }

    private static let applied: Bool = {
        #if canImport(Glibc)
            return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, Int32.max) == 1
                && mallopt(M_ARENA_MAX, 1) == 1
        #else
            return false
        #endif
    }()
}
