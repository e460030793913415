import Dispatch
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Turns SIGTERM and SIGINT into an orderly stop: the first signal ends `requests` with the signal number so the
/// daemon can finish or re-queue the image in hand; a second signal of either kind exits at once (status 130).
// Unchecked: `sources` is immutable after init, and cancelling a dispatch source is thread-safe.
public final class ShutdownSignals: @unchecked Sendable {
    /// Yields the first stop signal received, then finishes.
    public let requests: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    /// Installs handlers for `signals` (the default actions are replaced until the process ends).
    public init(signals: [Int32] = [SIGTERM, SIGINT], logger: Logger) {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .bufferingNewest(1))
        requests = stream
        let queue = DispatchQueue(label: "karyocount.signals")
        let received = SignalCount()
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if received.next() == 1 {
                    logger.notice(
                        "stop requested by signal \(number): finishing the image in hand; send it again to exit at once"
                    )
                    continuation.yield(number)
                    continuation.finish()
                } else {
                    logger.warning("second stop signal: exiting now; unfinished jobs are re-queued at the next start")
                    exit(130)
                }
            }
            source.resume()
            return source
        }
    }

    /// Stops listening (the signals stay ignored).
    public func cancel() {
        sources.forEach { $0.cancel() }
    }
}

/// Counts signals on the signal queue (only touched there).
private final class SignalCount: @unchecked Sendable {
    private var count = 0
    func next() -> Int {
        count += 1
        return count
    }
}
