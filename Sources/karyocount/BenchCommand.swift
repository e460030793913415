import ArgumentParser

/// `karyocount bench` (to be built).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Not built yet.")

    func run() async throws {
        throw ValidationError("`karyocount bench` is not built yet")
    }
}
