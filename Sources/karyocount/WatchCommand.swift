import ArgumentParser

/// `karyocount watch` (to be built).
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "watch", abstract: "Not built yet.")

    func run() async throws {
        throw ValidationError("`karyocount watch` is not built yet")
    }
}
