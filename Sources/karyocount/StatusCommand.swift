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
        let c: KaryoConfig
        do {
            c = try KaryoConfig.loadOrDefault(path: config)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        guard FileManager.default.fileExists(atPath: c.databaseURL.path) else {
            printError("no queue at \(c.databaseURL.path): the daemon has not run with this configuration yet")
            throw ExitCode(1)
        }
        let queue = try JobQueue(url: c.databaseURL)
        print(try StatusReport(queue: queue, errorLimit: errors).text)
    }
}
