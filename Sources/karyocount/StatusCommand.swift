import ArgumentParser
import Foundation
import KaryoPipeline

/// `karyocount status`: the queue and the patients, readable at a terminal.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show queue depth, per-state counts, the last errors and flagged patients.")

    @Option(help: "Configuration file (default: \(KaryoConfig.defaultPath) if it exists, else the defaults).")
    var config: String?

    @Option(help: "How many of the last errors to show.")
    var errors = 5

    func run() async throws {
        let (_, queue) = try openExistingQueue(configPath: config)
        print(try StatusReport(queue: queue, errorLimit: errors).text)
    }
}
