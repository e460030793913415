import Foundation
import KaryoDetect
import KaryoPipeline
import KaryoReview
import KaryoWatch
import Logging
import ServiceLifecycle
import Synchronization

/// The daemon `karyocount watch` runs, as a library type: it watches the drop folders, queues every finished
/// image, counts the queue and, when enabled, serves the review station. On a shared state a node may only watch
/// or only count (`[state] roles`). Its parts are services composed in one
/// `ServiceGroup`; `requestStop()` tells systemd the daemon is stopping and shuts the services down gracefully: the
/// image in hand is finished (the rest stays queued), the watcher stops, the review station closes.
public final class Daemon: Sendable {
    /// The queue, results and tallies this daemon counts into.
    public let pipeline: Pipeline
    private let settings: KaryoConfig
    private let once: Bool
    /// Nil on a node that only counts.
    private let watcher: DropFolderWatcher?
    private let review: ReviewServer?
    private let notifier: ServiceNotifier
    private let logger: Logger
    private let stopState = Mutex<StopState>(StopState())
    /// Set by `requestStop()`: from then on systemd hears no READY, STATUS or watchdog ping.
    private let stopping = StopSignal()

    /// Opens the state (re-queuing work a crash left running) and prepares the watcher and the review station.
    /// With `once`, the daemon counts what is already in the watch roots and returns; the review station does not
    /// start. Throws when the state cannot be opened or the review station is misconfigured.
    public init(
        settings: KaryoConfig, detector: any Detector, once: Bool = false,
        notifier: ServiceNotifier, logger: Logger
    ) throws {
        self.settings = settings
        self.once = once
        self.notifier = notifier
        self.logger = logger
        pipeline = try Pipeline(config: settings, detector: detector, logger: logger)
        review = settings.review.enabled && !once ? try ReviewServer(pipeline: pipeline) : nil
        watcher =
            settings.state.nodeRoles.contains(.watch)
            ? DropFolderWatcher(
                configuration: WatchConfiguration(
                    roots: settings.watchRoots.map(\.path), stabilitySeconds: settings.stabilitySeconds,
                    rescanIntervalSeconds: settings.rescanIntervalSeconds > 0 ? settings.rescanIntervalSeconds : nil),
                logger: logger)
            : nil
    }

    /// Runs until `requestStop()` (or, with `once`, until the start-up backlog is counted) and returns what was
    /// counted. Throws, after logging it, when the watch roots cannot be watched or a service fails.
    public func run() async throws -> RunSummary {
        do {
            try watcher?.start()
        } catch {
            logger.critical("cannot start: \(error)")
            throw error
        }
        logger.info(
            "watching",
            metadata: [
                "roots": "\(settings.watchRoots.map(\.path))", "detector": "\(pipeline.processor.detector.name)",
                "output": "\(settings.outputRoot.path)", "once": "\(once)",
                "roles": "\(settings.state.nodeRoles.name)", "node": "\(pipeline.queue.node)",
            ])
        let counted = Mutex(RunSummary())
        let backlog = Gate()
        // A graceful shutdown runs from the last service to the first: counting stops first (the image in hand is
        // finished), then the intake, then the review station, then the health reports. Each service returns only
        // when asked to (or, counting, when it ends the group): ServiceGroup fails on one that returns on its own
        // while another is shutting down.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if !once {
            services.append(
                .init(
                    service: HealthReporter(
                        pipeline: pipeline, notifier: notifier, stopping: stopping,
                        isHealthy: { [watcher, pipeline] in
                            let last = watcher?.lastHeartbeat ?? pipeline.lastHeartbeat
                            return ContinuousClock.now - last < HealthReporter.stuckAfter(pipeline)
                        })))
        }
        if let review {
            services.append(
                .init(
                    service: ReviewStation(server: review, listen: settings.review.listen, logger: logger),
                    successTerminationBehavior: .ignore))
        }
        if let watcher {
            services.append(.init(service: intake(watcher: watcher, backlog: backlog)))
        } else {
            backlog.open()
            if !once {
                notifier.ready(status: HealthReporter.statusLine(pipeline))
                logger.info("counting what the other nodes queue; ready")
            }
        }
        services.append(
            .init(
                service: CountingService(
                    pipeline: pipeline, counts: settings.state.nodeRoles.contains(.count), once: once,
                    backlog: backlog, onFinished: { summary in counted.withLock { $0 = summary } }),
                successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
        let stopEarly = stopState.withLock { state in
            state.group = group
            return state.requested
        }
        if stopEarly { await group.triggerGracefulShutdown() }
        do {
            try await group.run()
        } catch {
            notifier.stopping()
            logger.critical("stopped: \(error)")
            throw error
        }
        notifier.stopping()
        let summary = counted.withLock { $0 }
        logger.info(
            "stopped",
            metadata: [
                "done": "\(summary.done)", "failed": "\(summary.failed)", "retried": "\(summary.retried)",
                "requeued": "\(summary.released)",
            ])
        return summary
    }

    /// The intake of a watching node: queues what the watcher announces; with `once`, stops the watcher after the
    /// start-up backlog; otherwise reports READY then. Opens `backlog` when it has queued its last file.
    private func intake(watcher: DropFolderWatcher, backlog: Gate) -> IntakeService {
        IntakeService(
            watcher: watcher, pipeline: pipeline, logger: logger,
            onBacklogQueued: { [once, watcher, notifier, logger, pipeline, stopping] in
                if once {
                    watcher.stop()
                } else if !stopping.isStopped {
                    notifier.ready(status: HealthReporter.statusLine(pipeline))
                    logger.info("start-up backlog queued; ready")
                }
            },
            onFinished: { backlog.open() })
    }

    /// Asks the daemon to stop: the image in hand is finished, everything else stays queued for the next start.
    /// Safe to call from any thread, before `run()` too, and more than once.
    public func requestStop() {
        let group = stopState.withLock { state -> ServiceGroup? in
            defer { state.requested = true }
            return state.requested ? nil : state.group
        }
        stopping.stop()
        notifier.stopping(status: "stopping: finishing the image in hand")
        if let group { Task { await group.triggerGracefulShutdown() } }
    }

    private struct StopState {
        var requested = false
        var group: ServiceGroup?
    }
}

/// A one-way gate: `wait()` returns once `open()` has been called (before or after).
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let open = state.withLock { state in
                if !state.open { state.waiters.append(continuation) }
                return state.open
            }
            if open { continuation.resume() }
        }
    }
}
