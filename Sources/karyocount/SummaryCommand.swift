import ArgumentParser
import Foundation
import KaryoPipeline

/// `karyocount summary`: writes the day's summary (JSON, CSV, PNG chart) under output_root/summaries.
struct SummaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Write summaries/DATE.json, .csv and .png for every patient touched that day (UTC).",
        discussion: "Idempotent: the same state gives the same bytes, so a timer may run it as often as it likes.")

    @Option(help: "YYYY-MM-DD, `today` or `yesterday` (UTC days).")
    var date = "today"

    @Option(help: "Configuration file (default: \(KaryoConfig.defaultPath) if it exists, else the defaults).")
    var config: String?

    func validate() throws {
        guard Self.day(date) != nil else { throw ValidationError("--date must be YYYY-MM-DD, today or yesterday") }
    }

    static func day(_ text: String) -> String? {
        switch text {
        case "today": return JobQueue.day(of: Date())
        case "yesterday": return JobQueue.day(of: Date().addingTimeInterval(-86_400))
        default:
            let parts = text.split(separator: "-")
            guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
                let m = Int(parts[1]), let d = Int(parts[2]), Int(parts[0]) != nil, (1...12).contains(m),
                (1...31).contains(d)
            else { return nil }
            return text
        }
    }

    func run() async throws {
        let (c, queue) = try openExistingQueue(configPath: config)
        let day = Self.day(date)!
        let summary = try DailySummary.build(from: queue, day: day, review: c.review)
        let urls = try summary.write(to: c.summariesRoot)
        print(
            "\(day): \(summary.imagesCounted) images, \(summary.patients.count) patients, "
                + "\(summary.patientsFlagged) flagged, \(summary.failures.count) failed inputs")
        for url in urls { print("  \(url.path)") }
    }
}
