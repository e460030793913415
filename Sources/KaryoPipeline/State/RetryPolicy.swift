import Foundation

/// How often a failed job is tried again, and how long it waits before each retry.
///
/// A transient cause (a network folder briefly gone, a full disk) needs time to clear: retrying at once would use
/// every attempt within milliseconds. The job is re-queued with a `not_before` time and no worker claims it earlier.
public struct RetryPolicy: Sendable, Equatable {
    /// The waits before the 1st, 2nd and 3rd retry when the configuration names none: 30 s, 2 min, 10 min.
    public static let defaultDelaysSeconds: [Double] = [30, 120, 600]

    /// Attempts (crashes while detecting included) before a job is failed for good.
    public var maxAttempts: Int
    /// Seconds to wait before the retry that follows the 1st, 2nd, ... failed attempt; the last entry repeats.
    public var delaysSeconds: [Double]

    /// Makes a policy; `delaysSeconds` must not be empty.
    public init(maxAttempts: Int, delaysSeconds: [Double] = Self.defaultDelaysSeconds) {
        self.maxAttempts = maxAttempts
        self.delaysSeconds = delaysSeconds
    }

    /// The policy of a configuration (`max_attempts`, `retry_delays_seconds`).
    public init(_ config: KaryoConfig) {
        self.init(maxAttempts: config.maxAttempts, delaysSeconds: config.retryDelaysSeconds)
    }

    /// The wait before retrying a job whose `attempts`-th attempt failed.
    public func delay(afterAttempt attempts: Int) -> TimeInterval {
        guard let last = delaysSeconds.last else { return 0 }
        let index = max(attempts, 1) - 1
        return index < delaysSeconds.count ? delaysSeconds[index] : last
    }
}
