import ArgumentParser
import Foundation
import KaryoPipeline
import Logging

/// A logger writing to stderr (journald under systemd), set up once per process.
func cliLogger(level: Logger.Level) -> Logger {
    LoggingBootstrap.once
    var logger = Logger(label: "karyocount")
    logger.logLevel = level
    return logger
}

private enum LoggingBootstrap {
    static let once: Void = LoggingSystem.bootstrap(StreamLogHandler.standardError)
}

/// Writes a line to stderr.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Loads the configuration at `path` (or the default) and opens the daemon's existing queue; prints the reason and
/// exits with status 1 when either is missing, so `status` and `summary` fail the same way.
func openExistingQueue(configPath path: String?) throws -> (KaryoConfig, JobQueue) {
    let config: KaryoConfig
    do {
        config = try KaryoConfig.loadOrDefault(path: path)
    } catch {
        printError(error.description)
        throw ExitCode(1)
    }
    guard config.state.isShared || FileManager.default.fileExists(atPath: config.databaseURL.path) else {
        printError("no queue at \(config.databaseURL.path): the daemon has not run with this configuration yet")
        throw ExitCode(1)
    }
    return (config, try config.openQueue())
}
