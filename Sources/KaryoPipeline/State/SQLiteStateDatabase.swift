import Foundation
import GRDB

/// The state in one SQLite file (GRDB `DatabasePool`, WAL): the zero-setup default for one workstation. Write
/// transactions are serial, and one process uses the file at a time (`StateLock`).
public final class SQLiteStateDatabase: StateDatabase {
    /// The underlying pool; readers never block the writer.
    public let pool: DatabasePool

    public var location: String { pool.path }
    public var isShared: Bool { false }

    /// Opens (creating and migrating) the database at `url`. Processes opening one file at once (the daemon and a
    /// `karyocount status` beside it) take turns on `<file>.open.lock` until it is open and migrated: switching a new
    /// file to WAL fails at once, without waiting, while another connection holds it, and GRDB reads which migrations
    /// are applied outside their transactions, so two concurrent migrators would both apply the same one.
    public init(url: URL) throws(PipelineError) {
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            let lock = try StateLock(file: URL(filePath: url.path + ".open.lock"), waiting: true)
            pool = try withExtendedLifetime(lock) {
                let pool = try DatabasePool(path: url.path, configuration: configuration)
                try Self.migrator.migrate(pool)
                return pool
            }
        } catch {
            throw PipelineError(.database, file: url.path, detail: "cannot open the queue: \(error)")
        }
    }

    public func read<T>(_ body: (any StateTransaction) throws -> T) throws -> T {
        try pool.read { db in try body(Transaction(db: db)) }
    }

    public func write<T>(_ body: (any StateTransaction) throws -> T) throws -> T {
        try pool.write { db in try body(Transaction(db: db)) }
    }

    private struct Transaction: StateTransaction {
        let db: Database

        var claimLock: String { "" }

        func lock(_ key: String) throws {}

        func execute(_ sql: String, _ arguments: [StateValue]) throws -> Int {
            try db.execute(sql: sql, arguments: StatementArguments(arguments.map(Self.bound)))
            return db.changesCount
        }

        func rows(_ sql: String, _ arguments: [StateValue]) throws -> [StateRow] {
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments.map(Self.bound))).map { row in
                var values: [String: StateValue] = [:]
                for (column, value) in row {
                    switch value.storage {
                    case .null: values[column] = .null
                    case .int64(let i): values[column] = .int(Int(i))
                    case .double(let d): values[column] = .double(d)
                    case .string(let s): values[column] = .text(s)
                    case .blob(let b): values[column] = .text(String(decoding: b, as: UTF8.self))
                    }
                }
                return StateRow(values)
            }
        }

        private static func bound(_ value: StateValue) -> DatabaseValue {
            switch value {
            case .null: return .null
            case .int(let i): return i.databaseValue
            case .double(let d): return d.databaseValue
            case .text(let s): return s.databaseValue
            case .bool(let b): return b.databaseValue
            case .date(let d): return d.databaseValue
            }
        }
    }

    /// The schema's history; a database of any earlier version is upgraded in place.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "job") { t in
                t.primaryKey("sha256", .text)
                t.column("path", .text).notNull()
                t.column("root", .text)
                t.column("patient", .text).notNull()
                t.column("cell", .text)
                t.column("stem", .text).notNull()
                t.column("state", .text).notNull()
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("last_error", .text)
                t.column("created_at", .datetime).notNull()
                t.column("updated_at", .datetime).notNull()
            }
            try db.create(index: "job_by_state", on: "job", columns: ["state", "created_at"])
            try db.create(index: "job_by_patient_stem", on: "job", columns: ["patient", "stem"])
            try db.create(table: "seen_path") { t in
                t.primaryKey("path", .text)
                t.column("size", .integer).notNull()
                t.column("mtime", .double).notNull()
                t.column("sha256", .text).notNull()
            }
            try db.create(table: "result") { t in
                t.primaryKey("sha256", .text).references("job")
                t.column("patient", .text).notNull()
                t.column("cell", .text)
                t.column("stem", .text).notNull()
                t.column("count", .integer).notNull()
                t.column("confident", .boolean).notNull()
                t.column("detector", .text).notNull()
                t.column("result_path", .text).notNull()
                t.column("processed_at", .datetime).notNull()
                t.column("processed_day", .text).notNull()
            }
            try db.create(index: "result_by_patient", on: "result", columns: ["patient"])
            try db.create(index: "result_by_day", on: "result", columns: ["processed_day"])
            try db.create(table: "patient") { t in
                t.primaryKey("patient", .text)
                t.column("report", .text).notNull()
                t.column("flagged", .boolean).notNull()
                t.column("flag_raised_at", .datetime)
                t.column("updated_at", .datetime).notNull()
                t.column("version", .integer).notNull()
                t.column("written_version", .integer).notNull().defaults(to: 0)
            }
        }
        m.registerMigration("job-retry-not-before") { db in
            try db.alter(table: "job") { t in t.add(column: "not_before", .datetime) }
        }
        m.registerMigration("job-decoded-ahead") { db in
            try db.alter(table: "job") { t in
                t.add(column: "decoded_ahead", .boolean).notNull().defaults(to: false)
            }
        }
        m.registerMigration("job-failure") { db in
            try db.alter(table: "job") { t in t.add(column: "failure", .text) }
        }
        m.registerMigration("refused-file") { db in
            try db.create(table: "refused_file") { t in
                t.primaryKey("path", .text)
                t.column("error", .text).notNull()
                t.column("refused_at", .datetime).notNull()
            }
        }
        m.registerMigration("job-suspect") { db in
            try db.alter(table: "job") { t in t.add(column: "suspect", .boolean).notNull().defaults(to: false) }
        }
        m.registerMigration("result-warnings") { db in
            try db.alter(table: "result") { t in t.add(column: "warnings", .text).notNull().defaults(to: "[]") }
        }
        m.registerMigration("review-ledger") { db in
            try db.create(table: "review") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("sha256", .text).notNull().indexed()
                t.column("patient", .text).notNull().indexed()
                t.column("reviewer", .text).notNull()
                t.column("reviewed_at", .datetime).notNull()
                t.column("count", .integer).notNull()
                t.column("detector_count", .integer).notNull()
                t.column("boxes", .text)
                t.column("changes", .text).notNull()
            }
            try db.create(table: "sign_off") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("patient", .text).notNull().indexed()
                t.column("action", .text).notNull()
                t.column("by", .text).notNull()
                t.column("at", .datetime).notNull()
                t.column("reason", .text).notNull()
                t.column("report", .text)
            }
            for table in ["review", "sign_off"] {
                for event in ["UPDATE", "DELETE"] {
                    try db.execute(
                        sql: """
                            CREATE TRIGGER \(table)_no_\(event.lowercased()) BEFORE \(event) ON \(table)
                            BEGIN SELECT RAISE(ABORT, '\(table) rows are an audit trail: never changed or removed'); END
                            """)
                }
            }
        }
        m.registerMigration("result-supersede") { db in
            try db.alter(table: "result") { t in
                t.add(column: "name_stem", .text)
                t.add(column: "superseded_by", .text)
            }
        }
        m.registerMigration("node-leases") { db in
            try db.alter(table: "job") { t in
                t.add(column: "lease_owner", .text)
                t.add(column: "lease_until", .datetime)
            }
            try db.create(table: "node") { t in
                t.primaryKey("name", .text)
                t.column("roles", .text).notNull()
                t.column("pid", .integer).notNull()
                t.column("started_at", .datetime).notNull()
                t.column("heartbeat_at", .datetime).notNull()
                t.column("processed", .integer).notNull().defaults(to: 0)
            }
        }
        return m
    }
}
