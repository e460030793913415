import Logging
import Synchronization

/// Log lines at `level` and above, kept in memory, for tests that assert what the daemon logs.
public final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    private let level: Logger.Level

    /// Captures lines at `level` and above (default: everything).
    public init(level: Logger.Level = .trace) {
        self.level = level
    }

    /// Every captured line: `"<level> <message> <metadata>"`.
    public var all: [String] { lines.withLock { $0 } }

    /// A logger whose lines land here.
    public var logger: Logger {
        Logger(label: "test") { _ in Handler(capture: self, logLevel: self.level) }
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.lines.withLock { $0.append("\(event.level) \(event.message) \(event.metadata ?? [:])") }
        }
    }
}
