import KaryoPipeline
import KaryoWatch
import ServiceLifecycle

/// Tells systemd how the daemon is: the queue as STATUS every 5 s, and watchdog pings while `isHealthy` (the
/// watcher's heartbeat, or on a node that only counts the state heartbeat, is fresh), until the daemon is
/// `stopping`. Under no service manager it only waits.
struct HealthReporter: Service {
    let pipeline: Pipeline
    let notifier: ServiceNotifier
    let stopping: StopSignal
    let isHealthy: @Sendable () -> Bool

    func run() async {
        if !stopping.isStopped { notifier.startWatchdog(isHealthy: isHealthy) }
        defer { notifier.stopWatchdog() }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(5)) }
            if !stopping.isStopped && !Task.isShuttingDownGracefully { notifier.status(Self.statusLine(pipeline)) }
        }
    }

    /// How old a heartbeat may be before the daemon counts as stuck: 30 s, or for the state heartbeat a beat
    /// interval plus the time a lost database connection is retried.
    static func stuckAfter(_ pipeline: Pipeline) -> Duration {
        .seconds(max(30, pipeline.queue.leaseDuration / 3 + 60))
    }

    /// The one-line STATUS shown by `systemctl status karyocount`.
    static func statusLine(_ pipeline: Pipeline) -> String {
        guard let status = try? pipeline.status() else { return "watching (queue unreadable)" }
        let done = status.counts[.done] ?? 0
        let failed = status.counts[.failed] ?? 0
        return "watching; queue \(status.depth), done \(done), failed \(failed), refused \(status.refused)"
    }
}
