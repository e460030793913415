import ArgumentParser
import Foundation
import KaryoDetect
import KaryoPipeline
import KaryoReview
import KaryoWatch
import Logging

/// `karyocount watch`: the daemon. Watches the drop folders, queues every finished image and counts it.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Run the daemon: watch the drop folders and count every finished image.",
        discussion: """
            Reads the configuration, re-queues work a crash left running, rescans the watch roots (nothing dropped \
            while the daemon was down is missed), then queues and counts every file that is finished. Under systemd \
            (Type=notify) it reports READY once the start-up backlog is queued, the queue depth as STATUS, and pings \
            the watchdog. SIGTERM or SIGINT finishes the image in hand and re-queues the rest; a second signal exits \
            at once. With --once it counts everything already in the roots and exits; an image whose retry is still \
            waiting (retry_delays_seconds) stays queued for the next run.
            """)

    @Option(name: .long, help: "Configuration file (default: \(KaryoConfig.defaultPath) when it exists).")
    var config: String?

    @Flag(name: .long, help: "Process everything already in the watch roots, then exit.")
    var once = false

    func run() async throws {
        let settings: KaryoConfig
        do {
            settings = try KaryoConfig.loadOrDefault(path: config)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { JournalLogHandler(label: $0, level: level) }
        let logger = Logger(label: "karyocount")
        let problems = settings.environmentProblems()
        guard problems.isEmpty else {
            for problem in problems { logger.critical("cannot start: \(problem) (see `karyocount config check`)") }
            throw ExitCode(1)
        }
        let pipeline: Pipeline
        do {
            let detector = try DetectorFactory.make(
                settings.detector, model: settings.model, chromosomeWidth: settings.chromosomeWidthPx,
                warn: { logger.warning("\($0)") })
            pipeline = try Pipeline(config: settings, detector: detector, logger: logger)
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        let review: ReviewServer?
        do {
            review = settings.review.enabled && !once ? try ReviewServer(pipeline: pipeline) : nil
        } catch {
            logger.critical("cannot start the review station: \(error)")
            throw ExitCode(1)
        }
        let notifier = ServiceNotifier(logger: logger)
        let signals = ShutdownSignals(logger: logger)
        let stop = StopSignal()
        let watcher = DropFolderWatcher(
            configuration: WatchConfiguration(
                roots: settings.watchRoots.map(\.path), stabilitySeconds: settings.stabilitySeconds,
                rescanIntervalSeconds: settings.rescanIntervalSeconds > 0 ? settings.rescanIntervalSeconds : nil),
            logger: logger)
        do {
            try watcher.start()
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        logger.info(
            "watching",
            metadata: [
                "roots": "\(settings.watchRoots.map(\.path))", "detector": "\(pipeline.processor.detector.name)",
                "output": "\(settings.outputRoot.path)", "once": "\(once)",
            ])

        let signalTask = Task {
            for await _ in signals.requests {
                notifier.stopping(status: "stopping: finishing the image in hand")
                stop.stop()
                watcher.stop()
            }
        }
        let intake = Task {
            await Self.enqueue(
                watcher.events, into: pipeline, once: once, logger: logger,
                backlogQueued: {
                    if once {
                        watcher.stop()
                    } else {
                        notifier.ready(status: Self.statusLine(pipeline))
                        logger.info("start-up backlog queued; ready")
                    }
                })
        }

        let reviewTask = Task {
            guard let review else { return }
            do {
                try await review.serve(logger: logger) { address in
                    logger.notice("review station at \(address)/", metadata: ["address": "\(address)"])
                }
            } catch  where !Task.isCancelled {
                logger.error(
                    "the review station cannot serve \(settings.review.listen); counting goes on: \(error)")
            } catch {}
        }

        let summary: RunSummary
        if once {
            await intake.value
            summary = await pipeline.processPending(stop: stop)
        } else {
            notifier.startWatchdog {
                ContinuousClock.now - watcher.lastHeartbeat < .seconds(30)
            }
            let reporter = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    if !stop.isStopped { notifier.status(Self.statusLine(pipeline)) }
                }
            }
            summary = await pipeline.run(until: stop)
            reporter.cancel()
            watcher.stop()
            await intake.value
        }
        reviewTask.cancel()
        await reviewTask.value
        signalTask.cancel()
        signals.cancel()
        notifier.stopping()
        logger.info(
            "stopped",
            metadata: [
                "done": "\(summary.done)", "failed": "\(summary.failed)", "retried": "\(summary.retried)",
                "requeued": "\(summary.released)",
            ])
    }

    /// Queues every announced file; calls `backlogQueued` once the start-up rescan's files are all queued.
    private static func enqueue(
        _ events: AsyncStream<WatchEvent>, into pipeline: Pipeline, once: Bool, logger: Logger,
        backlogQueued: () -> Void
    ) async {
        for await event in events {
            switch event {
            case .ready(let file):
                do {
                    try pipeline.enqueue(URL(filePath: file.path), root: URL(filePath: file.root))
                } catch  where !error.concernsInput {
                    logger.error("cannot queue a file: \(error)", metadata: ["file": "\(file.path)"])
                } catch {
                    // Bad or vanished input: the pipeline has logged it and quarantined what was bad.
                }
            case .undecodableName(let name):
                pipeline.refuseUndecodable(
                    path: name.path, isFolder: name.isFolder,
                    content: name.read(maxBytes: InputFile.maxBytes).map { Data($0) })
            case .initialScanComplete:
                backlogQueued()
            }
        }
    }

    /// The one-line STATUS shown by `systemctl status karyocount`.
    private static func statusLine(_ pipeline: Pipeline) -> String {
        guard let status = try? pipeline.status() else { return "watching (queue unreadable)" }
        let done = status.counts[.done] ?? 0
        let failed = status.counts[.failed] ?? 0
        return "watching; queue \(status.depth), done \(done), failed \(failed), refused \(status.refused)"
    }
}
