import Foundation
import KaryoPipeline
import KaryoWatch
import Logging
import ServiceLifecycle

/// Queues every file the watcher announces as finished; refuses, with a record, names that are not UTF-8. Its
/// queueing ends when the watcher stops (on graceful shutdown or cancellation, or after the start-up backlog with
/// `--once`); the service itself returns only when the group shuts down.
struct IntakeService: Service {
    let watcher: DropFolderWatcher
    let pipeline: Pipeline
    let logger: Logger
    /// Called once the start-up rescan's files are all queued.
    let onBacklogQueued: @Sendable () -> Void
    /// Called when the intake has queued its last file.
    let onFinished: @Sendable () -> Void

    func run() async {
        await withTaskCancellationOrGracefulShutdownHandler {
            for await event in watcher.events { await handle(event) }
        } onCancelOrGracefulShutdown: { [watcher] in
            watcher.stop()
        }
        onFinished()
        try? await gracefulShutdown()
    }

    private func handle(_ event: WatchEvent) async {
        switch event {
        case .ready(let file):
            await enqueue(file)
        case .undecodableName(let name):
            pipeline.refuseUndecodable(
                path: name.path, isFolder: name.isFolder,
                content: name.read(maxBytes: InputFile.maxBytes).map { Data($0) })
        case .initialScanComplete:
            onBacklogQueued()
        }
    }

    /// Queues a finished file. When the state cannot take it (its database is away) the file is tried again, after
    /// 1 s, then 2, 4 ... up to 30 s, until it is queued or the daemon stops; a stop leaves it to the next start's
    /// rescan. Only a file that is itself bad or gone is given up on (the pipeline has logged and quarantined it).
    private func enqueue(_ file: ReadyFile) async {
        var pause = 1.0
        while true {
            do {
                try pipeline.enqueue(URL(filePath: file.path), root: URL(filePath: file.root))
                return
            } catch  where !error.concernsInput {
                guard !Task.isCancelled, !Task.isShuttingDownGracefully else {
                    logger.error(
                        "cannot queue a file: \(error); the next start's rescan takes it",
                        metadata: ["file": "\(file.path)"])
                    return
                }
                logger.error(
                    "cannot queue a file: \(error); trying again in \(Int(pause)) s",
                    metadata: ["file": "\(file.path)"])
                try? await Task.sleep(for: .seconds(pause))
                pause = min(pause * 2, 30)
            } catch {
                return
            }
        }
    }
}
