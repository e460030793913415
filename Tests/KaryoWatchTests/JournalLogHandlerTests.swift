import Logging
import Testing

@testable import KaryoWatch

@Suite("journald log lines")
struct JournalLogHandlerTests {
    @Test("under journald a line starts with the syslog priority of its level")
    func priorityPrefix() {
        let handler = JournalLogHandler(label: "karyocount", journald: true)
        #expect(handler.line(level: .error, message: "disk full", metadata: nil) == "<3>karyocount: disk full")
        #expect(
            handler.line(level: .warning, message: "w", metadata: ["file": "a.png"]) == "<4>karyocount: w [file=a.png]")
        #expect(handler.line(level: .info, message: "i", metadata: nil).hasPrefix("<6>"))
        #expect(handler.line(level: .debug, message: "d", metadata: nil).hasPrefix("<7>"))
    }

    @Test("control characters in messages and file names cannot forge a second log line")
    func controlCharactersEscaped() {
        let handler = JournalLogHandler(label: "k", journald: true)
        let line = handler.line(level: .info, message: "counted", metadata: ["file": "x\n<3>k: forged\u{1b}[31m"])
        #expect(!line.contains("\n") && !line.contains("\u{1b}"))
        #expect(line.contains("\\u{a}<3>k: forged\\u{1b}[31m"))
    }
}
