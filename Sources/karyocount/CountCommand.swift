import ArgumentParser

/// `karyocount count` (to be built).
struct CountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "count", abstract: "Not built yet.")

    func run() async throws {
        throw ValidationError("`karyocount count` is not built yet")
    }
}
