import Dispatch
import Synchronization

/// Milliseconds between laps, from a monotonic clock.
public struct Stopwatch: Sendable {
    private var last = DispatchTime.now().uptimeNanoseconds

    public init() {}

    /// Milliseconds since the previous lap (or creation).
    public mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { last = now }
        return Double(now - last) / 1e6
    }
}

/// Where one image's time and arithmetic went, stage by stage: what `karyocount bench` reports and the result
/// JSON's `timing_ms` holds. The stages take one optionally; without one they keep no books.
public final class StageProfile: Sendable {
    private let books = Mutex<(milliseconds: [String: Double], flops: [String: Double])>(([:], [:]))

    public init() {}

    /// Milliseconds per stage, summed over the stage's runs.
    public var milliseconds: [String: Double] { books.withLock { $0.milliseconds } }
    /// Floating-point operations per stage, of the stages that multiply.
    public var flops: [String: Double] { books.withLock { $0.flops } }

    /// Runs `body`, adding its wall time to `stage`.
    public func time<T, E: Error>(_ stage: String, _ body: () throws(E) -> T) throws(E) -> T {
        var watch = Stopwatch()
        defer { add(milliseconds: watch.lap(), to: stage) }
        return try body()
    }

    /// Adds `ms` milliseconds to `stage`.
    public func add(milliseconds ms: Double, to stage: String) {
        books.withLock { $0.milliseconds[stage, default: 0] += ms }
    }

    /// Adds `count` floating-point operations to `stage`.
    public func add(flops count: Double, to stage: String) {
        books.withLock { $0.flops[stage, default: 0] += count }
    }
}

extension Optional where Wrapped == StageProfile {
    /// Runs `body`; with a profile, adds its wall time to `stage`.
    public func time<T, E: Error>(_ stage: String, _ body: () throws(E) -> T) throws(E) -> T {
        guard let profile = self else { return try body() }
        return try profile.time(stage, body)
    }

    /// With a profile, adds `count` floating-point operations to `stage`.
    public func add(flops count: @autoclosure () -> Double, to stage: String) {
        self?.add(flops: count(), to: stage)
    }
}
