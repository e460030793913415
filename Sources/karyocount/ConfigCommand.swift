import ArgumentParser
import Foundation
import KaryoPipeline

/// `karyocount config check|show|keys`: validate and inspect the TOML configuration.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check or show the configuration (default \(KaryoConfig.defaultPath)).",
        subcommands: [Check.self, Show.self, Keys.self, Example.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report every problem of a configuration file at once, each with its key; exit 1 if any.")

        @Option(help: "Configuration file.")
        var config: String = KaryoConfig.defaultPath

        func run() async throws {
            let problems = KaryoConfig.check(URL(filePath: config))
            guard problems.isEmpty else {
                printError(ConfigError(path: config, problems: problems).description)
                throw ExitCode(1)
            }
            print("\(config): OK")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the effective configuration (file values over defaults) as TOML.")

        @Option(help: "Configuration file (default: \(KaryoConfig.defaultPath) if it exists, else the defaults).")
        var config: String?

        func run() async throws {
            let c: KaryoConfig
            do {
                c = try KaryoConfig.loadOrDefault(path: config)
            } catch {
                printError(error.description)
                throw ExitCode(1)
            }
            print(c.tomlText)
        }
    }

    struct Keys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every configuration key and its meaning.")

        func run() async throws {
            let all = KaryoConfig.keys
            let width = all.map(\.key.count).max() ?? 0
            for (key, meaning) in all {
                print(key.padding(toLength: width + 2, withPad: " ", startingAt: 0) + meaning)
            }
        }
    }

    struct Example: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the example configuration: every key with its documentation and default.")

        func run() async throws {
            print(KaryoConfig.exampleText, terminator: "")
        }
    }
}
