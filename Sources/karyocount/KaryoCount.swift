import ArgumentParser
import KaryoNet

/// The `karyocount` command: counts chromosomes in metaphase images; `watch` is the daemon.
@main
struct KaryoCount: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "karyocount",
        abstract: "Counts chromosomes in G-banded metaphase images and flags patients whose counts are not 46.",
        subcommands: [
            CountCommand.self, WatchCommand.self, SummaryCommand.self, StatusCommand.self, ConfigCommand.self,
            CalibrateCommand.self, EvalCommand.self, BenchCommand.self, ReviewCommand.self, StateCommand.self,
        ]
    )

    /// Applies the engine's allocator policy before anything is loaded, then runs the subcommand.
    static func main() async {
        MemoryPolicy.retainFreedMemory()
        await main(nil)
    }
}
