import ArgumentParser
import KaryoDaemon
import KaryoDetect
import KaryoPipeline
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
        let daemon: Daemon
        do {
            let detector = try DetectorFactory.make(
                settings.detector, model: settings.model, chromosomeWidth: settings.chromosomeWidthPx,
                warn: { logger.warning("\($0)") })
            daemon = try Daemon(
                settings: settings, detector: detector, once: once, notifier: ServiceNotifier(logger: logger),
                logger: logger)
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        let signals = ShutdownSignals(logger: logger)
        let stopOnSignal = Task {
            for await _ in signals.requests { daemon.requestStop() }
        }
        defer {
            stopOnSignal.cancel()
            signals.cancel()
        }
        do {
            _ = try await daemon.run()
        } catch {
            throw ExitCode(1)  // the daemon has logged why
        }
    }
}
