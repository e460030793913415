import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// Where a shared state's PostgreSQL server is, and who connects: `postgresql://user@host:port/database`, with the
/// password from a file the configuration names or from libpq's environment (`PGPASSWORD`, `PGPASSFILE` or
/// `~/.pgpass`), never from the URL.
public struct PostgresSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    public var password: String?

    /// The URL without a password, for messages and `status`.
    public var redactedURL: String { "postgresql://\(user)@\(host):\(port)/\(database)" }

    /// Parses `url`; reads the password from `passwordFile` when given, else from libpq's environment.
    public init(
        url: String, passwordFile: URL? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(PipelineError) {
        func refuse(_ why: String) -> PipelineError {
            PipelineError(.database, file: url, detail: why)
        }
        guard let parts = URLComponents(string: url), ["postgresql", "postgres"].contains(parts.scheme ?? "") else {
            throw refuse("not a postgresql://user@host:port/database URL")
        }
        guard parts.password == nil else {
            throw refuse("the URL holds a password; put it in [state] password_file or PGPASSWORD instead")
        }
        host = parts.host.flatMap { $0.isEmpty ? nil : $0 } ?? environment["PGHOST"] ?? "localhost"
        port = parts.port ?? environment["PGPORT"].flatMap { Int($0) } ?? 5432
        guard let user = parts.user ?? environment["PGUSER"] else {
            throw refuse("the URL names no user (postgresql://USER@host/database)")
        }
        self.user = user
        let path = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        database = path.isEmpty ? user : path
        if let passwordFile {
            do {
                password = try String(contentsOf: passwordFile, encoding: .utf8)
                    .trimmingCharacters(in: .newlines)
            } catch {
                throw PipelineError(
                    .database, file: passwordFile.path, detail: "cannot read the password file: \(error)")
            }
        } else if let fromEnvironment = environment["PGPASSWORD"] {
            password = fromEnvironment
        } else {
            let passfile =
                environment["PGPASSFILE"]
                ?? environment["HOME"].map { URL(filePath: $0).appending(path: ".pgpass").path }
            password = passfile.flatMap {
                Self.passfilePassword(path: $0, host: host, port: port, database: database, user: user)
            }
        }
    }

    /// The password of the first matching `host:port:database:user:password` line (`*` matches anything).
    static func passfilePassword(path: String, host: String, port: Int, database: String, user: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields, wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }
}

/// The state on a PostgreSQL server that several processes, on one machine or many, share.
///
/// One connection per process; its transactions run one at a time. A transaction that loses its connection (the
/// server restarted, the network dropped) or conflicts with another process (deadlock, serialisation, a key taken
/// at the same moment) is rolled back and run again on a fresh connection, for up to `retryWindow`.
public final class PostgresStateDatabase: StateDatabase {
    public let settings: PostgresSettings
    public var location: String { settings.redactedURL }
    public var isShared: Bool { true }
    /// How long a transaction keeps trying through lost connections and conflicts before it fails.
    public let retryWindow: TimeInterval

    /// How long a transaction may sit idle on the server (its process stalled) before the server ends its session.
    static let stalledTransactionLimit: TimeInterval = 10
    /// How long a statement's reply may take before its connection counts as lost.
    static let responseLimit: TimeInterval = 30

    private let logger: Logger
    private let connection = NIOLockedValueBox<PostgresConnection?>(nil)

    /// Connects and brings the schema up to date (several processes starting at once migrate one at a time).
    public init(settings: PostgresSettings, retryWindow: TimeInterval = 30, logger: Logger = Logger(label: "state"))
        throws(PipelineError)
    {
        self.settings = settings
        self.retryWindow = retryWindow
        self.logger = logger
        do {
            try write { tx in try Self.migrate(tx) }
        } catch {
            throw PipelineError(.database, file: settings.redactedURL, detail: "cannot open the state: \(error)")
        }
    }

    deinit {
        if let open = connection.withLockedValue({ $0 }) { try? open.close().wait() }
    }

    public func read<T>(_ body: (any StateTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN READ ONLY", body)
    }

    public func write<T>(_ body: (any StateTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN", body)
    }

    private func transaction<T>(begin: String, _ body: (any StateTransaction) throws -> T) throws -> T {
        try connection.withLockedValue { open in
            let deadline = Date().addingTimeInterval(retryWindow)
            var pause = 0.05
            while true {
                do {
                    let live = try connected(&open)
                    let tx = Transaction(connection: live, logger: logger)
                    try tx.simple(begin)
                    do {
                        let value = try body(tx)
                        try tx.simple("COMMIT")
                        return value
                    } catch {
                        // A session the server ended takes no ROLLBACK (it would wait out `responseLimit`
                        // unanswered); closing its connection ends the transaction.
                        if !live.isClosed && Self.retryable(error) != .reconnect { try? tx.simple("ROLLBACK") }
                        throw error
                    }
                } catch {
                    // Whatever a server going away reports, a connection it closed is opened anew.
                    let retry = open?.isClosed == true ? .reconnect : Self.retryable(error)
                    if retry == .reconnect {
                        if let lost = open { Self.discard(lost) }
                        open = nil
                    }
                    guard retry != .never, Date() < deadline else { throw StateFailure(error) }
                    logger.info(
                        "state transaction retried",
                        metadata: ["error": "\(StateFailure(error))", "database": "\(location)"])
                    Thread.sleep(forTimeInterval: pause)
                    pause = min(pause * 2, 1)
                }
            }
        }
    }

    private func connected(_ open: inout PostgresConnection?) throws -> PostgresConnection {
        if let live = open, !live.isClosed { return live }
        var configuration = PostgresConnection.Configuration(
            host: settings.host, port: settings.port, username: settings.user, password: settings.password,
            database: settings.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        // A process that stalls inside a transaction (suspended, or cut off while the server still sees its socket)
        // would hold its patient and row locks for every other node; the server ends such a session, and the
        // process, once it runs again, reruns the transaction on a fresh connection.
        configuration.options.additionalStartupParameters = [
            ("idle_in_transaction_session_timeout", "\(Int(Self.stalledTransactionLimit * 1000))")
        ]
        let connecting = PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: logger)
        let live = try Self.reply(connecting) { connecting.whenSuccess { late in Self.discard(late) } }
        open = live
        return live
    }

    /// Closes a connection given up on without waiting for it (one cut mid-reply may never finish closing), and
    /// keeps it alive until it has closed (postgres-nio asserts that a connection is closed before it is freed).
    private static func discard(_ connection: PostgresConnection) {
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// A failed transaction's error, described in full: postgres-nio's own description of a `PSQLError` hides the
    /// server's message and state for fear of leaking data, which leaves an operator nothing to act on.
    struct StateFailure: Error, CustomStringConvertible {
        let underlying: any Error
        init(_ error: any Error) { underlying = (error as? StateFailure)?.underlying ?? error }
        var description: String {
            guard let psql = underlying as? PSQLError else { return "\(underlying)" }
            let server = [psql.serverInfo?[.sqlState], psql.serverInfo?[.message]].compactMap { $0 }
            return "PostgreSQL: \(psql.code)" + (server.isEmpty ? "" : " (\(server.joined(separator: " ")))")
        }
    }

    /// No reply from the server within `responseLimit`.
    struct NoReply: Error, CustomStringConvertible {
        var description: String { "no reply from the server within \(Int(PostgresStateDatabase.responseLimit)) s" }
    }

    /// Waits for `future` at most `responseLimit`, then fails with `NoReply` and runs `onTimeout` (a half-open TCP
    /// connection after a network cut, or a session the server ended while this process was suspended, may never
    /// answer, and closing its connection does not always fail what is pending on it).
    static func reply<T: Sendable>(_ future: EventLoopFuture<T>, onTimeout: @escaping @Sendable () -> Void = {})
        throws -> T
    {
        let loop = future.eventLoop
        let answer = loop.makePromise(of: T.self)
        let settled = NIOLockedValueBox(false)
        /// True for the first of the reply and the time limit only.
        @Sendable func first() -> Bool {
            settled.withLockedValue { done in
                defer { done = true }
                return !done
            }
        }
        let limit = loop.scheduleTask(in: .milliseconds(Int64(responseLimit * 1000))) {
            guard first() else { return }
            answer.fail(NoReply())
            onTimeout()
        }
        future.whenComplete { result in
            guard first() else { return }
            limit.cancel()
            answer.completeWith(result)
        }
        return try answer.futureResult.wait()
    }

    private enum Retry { case never, again, reconnect }

    /// Conflicts with another transaction are run again; a lost connection is opened anew first.
    private static func retryable(_ error: any Error) -> Retry {
        if let psql = error as? PSQLError {
            switch psql.code {
            case .server:
                let state = psql.serverInfo?[.sqlState] ?? ""
                // serialization_failure, deadlock_detected, unique_violation (a key inserted at the same moment),
                // and the server shutting down or starting up, or ending a session that stalled in a transaction.
                if ["40001", "40P01", "23505"].contains(state) { return .again }
                if state.hasPrefix("57P") || ["08006", "25P03"].contains(state) { return .reconnect }
                return .never
            case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown:
                return .reconnect
            default: return .never
            }
        }
        if error is ChannelError || error is IOError || error is NIOConnectionError || error is NoReply {
            return .reconnect
        }
        return .never
    }

    private struct Transaction: StateTransaction {
        let connection: PostgresConnection
        let logger: Logger

        var claimLock: String { "FOR UPDATE SKIP LOCKED" }

        func lock(_ key: String) throws {
            _ = try query("SELECT pg_advisory_xact_lock(hashtext(?))", [.text(key)])
        }

        func simple(_ sql: String) throws {
            _ = try bounded(connection.query(PostgresQuery(unsafeSQL: sql), logger: logger))
        }

        /// Waits for a reply; when none comes within `responseLimit` the query fails, its connection is closed and
        /// the transaction is run again on a fresh one.
        private func bounded<T: Sendable>(_ reply: EventLoopFuture<T>) throws -> T {
            try PostgresStateDatabase.reply(reply) { [connection] in PostgresStateDatabase.discard(connection) }
        }

        func execute(_ sql: String, _ arguments: [StateValue]) throws -> Int {
            try query(sql, arguments).metadata.rows ?? 0
        }

        func rows(_ sql: String, _ arguments: [StateValue]) throws -> [StateRow] {
            try query(sql, arguments).rows.map { row in
                var values: [String: StateValue] = [:]
                for cell in row { values[cell.columnName] = try Self.value(cell) }
                return StateRow(values)
            }
        }

        private func query(_ sql: String, _ arguments: [StateValue]) throws -> PostgresQueryResult {
            var binds = PostgresBindings(capacity: arguments.count)
            for argument in arguments {
                switch argument {
                case .null: binds.appendNull()
                case .int(let i): binds.append(i)
                case .double(let d): binds.append(d)
                case .text(let s): binds.append(s)
                case .bool(let b): binds.append(b)
                case .date(let d): binds.append(StateDates.milliseconds(d))
                }
            }
            return try bounded(
                connection.query(PostgresQuery(unsafeSQL: Self.numberedPlaceholders(sql), binds: binds), logger: logger)
            )
        }

        /// `?` placeholders as `$1`, `$2`, ... (outside quoted strings and names).
        static func numberedPlaceholders(_ sql: String) -> String {
            var out = ""
            var n = 0
            var quote: Character? = nil
            for c in sql {
                if let q = quote {
                    if c == q { quote = nil }
                    out.append(c)
                } else if c == "'" || c == "\"" {
                    quote = c
                    out.append(c)
                } else if c == "?" {
                    n += 1
                    out += "$\(n)"
                } else {
                    out.append(c)
                }
            }
            return out
        }

        private static func value(_ cell: PostgresCell) throws -> StateValue {
            guard cell.bytes != nil else { return .null }
            switch cell.dataType {
            case .int2, .int4, .int8: return .int(try cell.decode(Int.self))
            case .bool: return .bool(try cell.decode(Bool.self))
            case .float4, .float8: return .double(try cell.decode(Double.self))
            case .timestamptz, .timestamp: return .date(try cell.decode(Date.self))
            default: return .text(try cell.decode(String.self))
            }
        }
    }

    // MARK: - Schema

    /// The schema's history, oldest first; each step runs once, in order, recorded in `karyocount_migration`.
    static let migrations: [(id: String, statements: [String])] = [
        (
            "v1",
            [
                """
                CREATE TABLE job (
                    sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, root TEXT, patient TEXT NOT NULL, cell TEXT,
                    stem TEXT NOT NULL, state TEXT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, last_error TEXT,
                    created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL, not_before TIMESTAMPTZ,
                    decoded_ahead BOOLEAN NOT NULL DEFAULT FALSE, suspect BOOLEAN NOT NULL DEFAULT FALSE, failure TEXT,
                    lease_owner TEXT, lease_until TIMESTAMPTZ)
                """,
                """
                CREATE INDEX job_by_state ON job (state, created_at)
                """,
                """
                CREATE INDEX job_by_patient_stem ON job (patient, stem)
                """,
                """
                CREATE TABLE seen_path (
                    path TEXT PRIMARY KEY, size BIGINT NOT NULL, mtime DOUBLE PRECISION NOT NULL, sha256 TEXT NOT NULL)
                """,
                """
                CREATE TABLE result (
                    sha256 TEXT PRIMARY KEY REFERENCES job, patient TEXT NOT NULL, cell TEXT, stem TEXT NOT NULL,
                    count BIGINT NOT NULL, confident BOOLEAN NOT NULL, detector TEXT NOT NULL, result_path TEXT NOT NULL,
                    processed_at TIMESTAMPTZ NOT NULL, processed_day TEXT NOT NULL, warnings TEXT NOT NULL DEFAULT '[]',
                    name_stem TEXT, superseded_by TEXT)
                """,
                """
                CREATE INDEX result_by_patient ON result (patient)
                """,
                """
                CREATE INDEX result_by_day ON result (processed_day)
                """,
                """
                CREATE TABLE patient (
                    patient TEXT PRIMARY KEY, report TEXT NOT NULL, flagged BOOLEAN NOT NULL,
                    flag_raised_at TIMESTAMPTZ, updated_at TIMESTAMPTZ NOT NULL, version BIGINT NOT NULL,
                    written_version BIGINT NOT NULL DEFAULT 0)
                """,
                """
                CREATE TABLE refused_file (path TEXT PRIMARY KEY, error TEXT NOT NULL, refused_at TIMESTAMPTZ NOT NULL)
                """,
                """
                CREATE TABLE review (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, sha256 TEXT NOT NULL, patient TEXT NOT NULL,
                    reviewer TEXT NOT NULL, reviewed_at TIMESTAMPTZ NOT NULL, count BIGINT NOT NULL,
                    detector_count BIGINT NOT NULL, boxes TEXT, changes TEXT NOT NULL)
                """,
                """
                CREATE INDEX review_by_sha256 ON review (sha256)
                """,
                """
                CREATE INDEX review_by_patient ON review (patient)
                """,
                """
                CREATE TABLE sign_off (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, patient TEXT NOT NULL, action TEXT NOT NULL,
                    "by" TEXT NOT NULL, "at" TIMESTAMPTZ NOT NULL, reason TEXT NOT NULL, report TEXT)
                """,
                """
                CREATE INDEX sign_off_by_patient ON sign_off (patient)
                """,
                """
                CREATE FUNCTION karyocount_audit_trail() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION '% rows are an audit trail: never changed or removed', TG_TABLE_NAME; END $$
                """,
                """
                CREATE TRIGGER review_is_append_only BEFORE UPDATE OR DELETE ON review
                    FOR EACH ROW EXECUTE FUNCTION karyocount_audit_trail()
                """,
                """
                CREATE TRIGGER sign_off_is_append_only BEFORE UPDATE OR DELETE ON sign_off
                    FOR EACH ROW EXECUTE FUNCTION karyocount_audit_trail()
                """,
                """
                CREATE TABLE node (
                    name TEXT PRIMARY KEY, roles TEXT NOT NULL, pid BIGINT NOT NULL, started_at TIMESTAMPTZ NOT NULL,
                    heartbeat_at TIMESTAMPTZ NOT NULL, processed BIGINT NOT NULL DEFAULT 0)
                """,
            ]
        )
    ]

    private static func migrate(_ tx: any StateTransaction) throws {
        try tx.lock("migration")
        try tx.execute(
            "CREATE TABLE IF NOT EXISTS karyocount_migration (id TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
        let applied = Set(try tx.rows("SELECT id FROM karyocount_migration").map { try $0.string("id") })
        for step in migrations where !applied.contains(step.id) {
            for statement in step.statements { try tx.execute(statement) }
            try tx.execute("INSERT INTO karyocount_migration (id, applied_at) VALUES (?, now())", step.id)
        }
    }
}
