import KaryoPipeline
import ServiceLifecycle

/// Counts the queue: until graceful shutdown, which finishes the image in hand and leaves the rest queued; with
/// `once`, what the intake queued at start-up (`backlog` opens when it is queued), then returns. On a node that does
/// not count (`counts` false) it only keeps the node's heartbeat until shutdown, or with `once` waits for the
/// backlog to be queued.
struct CountingService: Service {
    let pipeline: Pipeline
    let counts: Bool
    let once: Bool
    let backlog: Gate
    let onFinished: @Sendable (RunSummary) -> Void

    func run() async {
        guard counts else {
            if once {
                await backlog.wait()
            } else {
                try? await cancelWhenGracefulShutdown { await pipeline.heartbeat() }
            }
            onFinished(RunSummary())
            return
        }
        let stop = StopSignal()
        let summary = await withTaskCancellationOrGracefulShutdownHandler {
            if once {
                await backlog.wait()
                return await pipeline.processPending(stop: stop)
            }
            return await pipeline.run(until: stop)
        } onCancelOrGracefulShutdown: { [backlog] in
            stop.stop()
            backlog.open()
        }
        onFinished(summary)
    }
}
