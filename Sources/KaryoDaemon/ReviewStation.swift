import KaryoReview
import Logging
import ServiceLifecycle

/// The review station inside the daemon. A station that cannot serve (its port taken) is logged and counting
/// goes on without it: the service then waits for the daemon's shutdown like the others.
struct ReviewStation: Service {
    let server: ReviewServer
    let listen: String
    let logger: Logger

    func run() async {
        do {
            try await server.serve(logger: logger) { [logger] address in
                logger.notice("review station at \(address)/", metadata: ["address": "\(address)"])
            }
        } catch  where !Task.isCancelled {
            logger.error(
                "the review station cannot serve \(listen); counting goes on: \(error)")
            try? await gracefulShutdown()
        } catch {}
    }
}
