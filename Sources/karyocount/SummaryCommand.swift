import ArgumentParser

/// `karyocount summary` (to be built).
struct SummaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "summary", abstract: "Not built yet.")

    func run() async throws {
        throw ValidationError("`karyocount summary` is not built yet")
    }
}
