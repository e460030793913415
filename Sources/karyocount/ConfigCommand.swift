import ArgumentParser

/// `karyocount config` (to be built).
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Not built yet.")

    func run() async throws {
        throw ValidationError("`karyocount config` is not built yet")
    }
}
