import KaryoPipeline
import KaryoWatch
import ServiceLifecycle

/// Tells systemd how the daemon is: the queue as STATUS every 5 s, and watchdog pings while the watcher's
/// heartbeat is fresh, until the daemon is `stopping`. Under no service manager it only waits.
struct HealthReporter: Service {
    let pipeline: Pipeline
    let watcher: DropFolderWatcher
    let notifier: ServiceNotifier
    let stopping: StopSignal

    func run() async {
        if !stopping.isStopped {
            notifier.startWatchdog { [watcher] in ContinuousClock.now - watcher.lastHeartbeat < .seconds(30) }
        }
        defer { notifier.stopWatchdog() }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(5)) }
            if !stopping.isStopped && !Task.isShuttingDownGracefully { notifier.status(Self.statusLine(pipeline)) }
        }
    }

    /// The one-line STATUS shown by `systemctl status karyocount`.
    static func statusLine(_ pipeline: Pipeline) -> String {
        guard let status = try? pipeline.status() else { return "watching (queue unreadable)" }
        let done = status.counts[.done] ?? 0
        let failed = status.counts[.failed] ?? 0
        return "watching; queue \(status.depth), done \(done), failed \(failed), refused \(status.refused)"
    }
}
