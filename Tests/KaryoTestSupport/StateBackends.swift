import Foundation
import GRDB
import KaryoPipeline
import Logging
import NIOPosix
import PostgresNIO

extension JobQueue {
    /// The SQLite pool under a queue on the default backend, for tests that reach past the queue's rules.
    public var sqlitePool: DatabasePool { (database as! SQLiteStateDatabase).pool }
}

/// A state backend the queue's tests run on: SQLite always, PostgreSQL where a test server is named by
/// `KARYOCOUNT_TEST_POSTGRES_URL` and `KARYOCOUNT_TEST_POSTGRES_PASSWORD_FILE` (`make swift-test` starts one with
/// Tests/Support/postgres-server; CI always does).
public enum TestStateBackend: Sendable, CustomStringConvertible, CaseIterable {
    case sqlite
    case postgres

    /// SQLite, and PostgreSQL when a test server is named.
    public static var allCases: [TestStateBackend] { postgresServer == nil ? [.sqlite] : [.sqlite, .postgres] }

    public var description: String { self == .sqlite ? "SQLite" : "PostgreSQL" }

    /// The test server's settings (its `postgres` database), nil when none is named.
    public static var postgresServer: PostgresSettings? {
        guard let url = ProcessInfo.processInfo.environment["KARYOCOUNT_TEST_POSTGRES_URL"] else { return nil }
        return try? PostgresSettings(url: url, passwordFile: postgresPasswordFile)
    }

    /// The file holding the test server's password.
    public static var postgresPasswordFile: URL? {
        ProcessInfo.processInfo.environment["KARYOCOUNT_TEST_POSTGRES_PASSWORD_FILE"].map { URL(filePath: $0) }
    }

    /// A new, empty state for one test: a file under `dir`, or a new database on the test server.
    public func freshState(in dir: TempDir) throws -> TestState {
        switch self {
        case .sqlite:
            return TestState(location: .sqlite(dir.path("state/karyocount.sqlite")))
        case .postgres:
            guard let server = Self.postgresServer, let passwordFile = Self.postgresPasswordFile else {
                throw TestStateError("no PostgreSQL test server named")
            }
            return try Self.freshDatabase(on: server, passwordFile: passwordFile)
        }
    }

    /// A new, empty database on `server`.
    static func freshDatabase(on server: PostgresSettings, passwordFile: URL) throws -> TestState {
        let name = "kc_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try admin(server, "CREATE DATABASE \(name)")
        var settings = server
        settings.database = name
        return TestState(location: .postgres(settings), passwordFile: passwordFile)
    }

    /// Runs one statement outside a transaction (`CREATE DATABASE` cannot run inside one).
    public static func admin(_ server: PostgresSettings, _ sql: String) throws {
        let configuration = PostgresConnection.Configuration(
            host: server.host, port: server.port, username: server.user, password: server.password,
            database: server.database, tls: .disable)
        let logger = Logger(label: "test-admin")
        let connection = try PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 0, logger: logger
        ).wait()
        defer { try? connection.close().wait() }
        _ = try connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).wait()
    }
}

/// One test's state, opened as often as the test restarts a process on it.
public struct TestState: Sendable {
    public enum Location: Sendable {
        case sqlite(URL)
        case postgres(PostgresSettings)
    }

    public var location: Location
    /// The password's file, for a daemon's configuration (PostgreSQL only).
    public var passwordFile: URL?

    public init(location: Location, passwordFile: URL? = nil) {
        self.location = location
        self.passwordFile = passwordFile
    }

    /// The `[state]` table a daemon's configuration file needs to use this state as `node` (on SQLite, whose
    /// state lives under `state_dir`, only the node's name). Goes last in the file.
    public func configTable(node: String, roles: String = "watch+count", leaseSeconds: Double = 60) -> String {
        var lines = ["[state]", "node = \"\(node)\""]
        if case .postgres(let settings) = location {
            lines += [
                "backend = \"postgres\"", "url = \"\(settings.redactedURL)\"",
                "password_file = \"\(passwordFile?.path ?? "")\"", "roles = \"\(roles)\"",
                "lease_seconds = \(leaseSeconds)",
            ]
        }
        return lines.joined(separator: "\n")
    }

    /// The database, opened anew.
    public func database() throws -> any StateDatabase {
        switch location {
        case .sqlite(let url): return try SQLiteStateDatabase(url: url)
        case .postgres(let settings): return try PostgresStateDatabase(settings: settings, retryWindow: 20)
        }
    }

    /// A queue on the state for the process called `node`.
    public func queue(node: String = JobQueue.defaultNodeName, leaseDuration: TimeInterval = 60) throws -> JobQueue {
        JobQueue(database: try database(), node: node, leaseDuration: leaseDuration)
    }
}

public struct TestStateError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A PostgreSQL server of one test's own (Tests/Support/postgres-server), for a test that restarts it under running
/// processes without disturbing the suites that share the common test server. Stopped and removed by `stop()`.
public final class PrivatePostgresServer: Sendable {
    public let folder: String
    public let settings: PostgresSettings
    public let passwordFile: URL

    public init() throws {
        folder = "/tmp/karyo-pg-\(UUID().uuidString.prefix(8))"
        let output = try Self.script("start", folder)
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        guard let url = values["KARYOCOUNT_TEST_POSTGRES_URL"],
            let file = values["KARYOCOUNT_TEST_POSTGRES_PASSWORD_FILE"]
        else { throw TestStateError("postgres-server printed no settings: \(output)") }
        passwordFile = URL(filePath: file)
        settings = try PostgresSettings(url: url, passwordFile: passwordFile)
    }

    /// A new, empty database on this server.
    public func freshState() throws -> TestState {
        try TestStateBackend.freshDatabase(on: settings, passwordFile: passwordFile)
    }

    /// Stops and starts the server (a fast shutdown: every open connection is cut).
    public func restart() throws { _ = try Self.script("restart", folder) }

    /// Stops the server (a fast shutdown) and keeps its cluster, for `start()`.
    public func pause() throws { _ = try Self.script("stop", folder) }

    /// Starts the paused server again on its port.
    public func start() throws { _ = try Self.script("start", folder, String(settings.port)) }

    public func stop() {
        _ = try? Self.script("stop", folder)
        try? FileManager.default.removeItem(atPath: folder)
    }

    private static func script(_ arguments: String...) throws -> String {
        let script = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "Support/postgres-server")
        let process = Process()
        process.executableURL = script
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestStateError("postgres-server \(arguments.joined(separator: " ")) failed: \(output)")
        }
        return output
    }
}
