import Foundation
import Logging

/// A swift-log handler writing one line per message to stderr. Under systemd (`$JOURNAL_STREAM` set) each line
/// starts with a `<N>` syslog priority, which journald turns into the entry's priority, and carries no timestamp
/// (journald adds one); at a terminal lines carry an ISO 8601 time instead.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let journald: Bool

    /// Makes a handler for `label`; `journald` defaults to whether `$JOURNAL_STREAM` is set.
    public init(
        label: String, level: Logger.Level = .info,
        journald: Bool = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
    ) {
        self.label = label
        self.logLevel = level
        self.journald = journald
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The syslog priority journald reads from a `<N>` prefix.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// The line written for one message (without the newline).
    func line(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?) -> String {
        let merged = metadata.merging(extra ?? [:]) { $1 }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = Self.escapingControlCharacters("\(message)" + (fields.isEmpty ? "" : " [\(fields)]"))
        if journald { return "<\(Self.priority(level))>\(label): \(text)" }
        let time = Date().formatted(.iso8601)
        return "\(time) \(level) \(label): \(text)"
    }

    /// `text` with control characters (newlines included) written as `\u{..}`, so a file name cannot forge lines.
    static func escapingControlCharacters(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    public func log(event: LogEvent) {
        let text = line(level: event.level, message: event.message, metadata: event.metadata) + "\n"
        FileHandle.standardError.write(Data(text.utf8))
    }
}
