import ArgumentParser

/// `karyocount status` (to be built).
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Not built yet.")

    func run() async throws {
        throw ValidationError("`karyocount status` is not built yet")
    }
}
