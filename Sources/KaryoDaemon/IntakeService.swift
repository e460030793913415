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
            for await event in watcher.events { handle(event) }
        } onCancelOrGracefulShutdown: { [watcher] in
            watcher.stop()
        }
        onFinished()
        try? await gracefulShutdown()
    }

    private func handle(_ event: WatchEvent) {
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
            onBacklogQueued()
        }
    }
}
