import ArgumentParser

/// `karyocount eval` (to be built).
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Not built yet.")

    func run() async throws {
        throw ValidationError("`karyocount eval` is not built yet")
    }
}
