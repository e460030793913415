import Foundation

/// Moves a workstation's SQLite state into an empty PostgreSQL database (`karyocount state migrate`), so a lab that
/// grows from one workstation to several keeps its queue, results index, tallies, reviews and sign-offs. The node
/// table is not copied: nodes register when they start.
public enum StateMigration {
    /// The tables copied, in an order that satisfies their references.
    static let tables = ["job", "seen_path", "result", "patient", "refused_file", "review", "sign_off"]

    /// Copies every row of the SQLite state at `sqlite` into the database `postgres` names, in one transaction,
    /// then checks each table's row count on both sides; returns the rows copied per table. Holds the SQLite
    /// state's lock throughout (a daemon still using it stops the migration), and refuses a missing source and a
    /// target that already holds state.
    public static func copy(
        fromSQLite sqlite: URL, to postgres: PostgresSettings
    ) throws(PipelineError) -> [(table: String, rows: Int)] {
        guard FileManager.default.fileExists(atPath: sqlite.path) else {
            throw PipelineError(.database, file: sqlite.path, detail: "no SQLite state here")
        }
        let lock = try StateLock(directory: sqlite.deletingLastPathComponent())
        defer { withExtendedLifetime(lock) {} }
        let source = try SQLiteStateDatabase(url: sqlite)
        let target = try PostgresStateDatabase(settings: postgres)
        do {
            return try target.write { tx in
                for table in tables {
                    let rows = try tx.row("SELECT COUNT(*) AS n FROM \(table)")?.int("n") ?? 0
                    guard rows == 0 else {
                        throw PipelineError(
                            .database, file: target.location,
                            detail: "the target already holds state (\(rows) rows in \(table)); migrate into an empty "
                                + "database")
                    }
                }
                var copied: [(table: String, rows: Int)] = []
                for table in tables {
                    let columns = try tx.rows(
                        """
                        SELECT column_name, data_type, is_identity FROM information_schema.columns
                        WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position
                        """, table
                    ).map { column in
                        (
                            name: try column.string("column_name"), type: try column.string("data_type"),
                            identity: try column.string("is_identity") == "YES"
                        )
                    }
                    let rows = try source.read { try $0.rows("SELECT * FROM \(table) ORDER BY rowid") }
                    let names = columns.map { "\"\($0.name)\"" }.joined(separator: ", ")
                    let marks = Array(repeating: "?", count: columns.count).joined(separator: ", ")
                    let overriding = columns.contains { $0.identity } ? " OVERRIDING SYSTEM VALUE" : ""
                    for row in rows {
                        let values = try columns.map { try value(row, $0.name, type: $0.type) }
                        try tx.execute("INSERT INTO \(table) (\(names))\(overriding) VALUES (\(marks))", values)
                    }
                    for column in columns where column.identity {
                        _ = try tx.rows(
                            """
                            SELECT setval(pg_get_serial_sequence('\(table)', '\(column.name)'),
                                COALESCE(MAX("\(column.name)"), 0) + 1, false) FROM \(table)
                            """)
                    }
                    let landed = try tx.row("SELECT COUNT(*) AS n FROM \(table)")?.int("n") ?? -1
                    guard landed == rows.count else {
                        throw PipelineError(
                            .database, file: target.location,
                            detail: "\(table): \(rows.count) rows read but \(landed) written; nothing was migrated")
                    }
                    copied.append((table, rows.count))
                }
                return copied
            }
        } catch let error as PipelineError {
            throw error
        } catch {
            throw PipelineError(.database, file: target.location, detail: "cannot migrate: \(error)")
        }
    }

    /// A SQLite cell as the PostgreSQL column of `type` takes it.
    private static func value(_ row: StateRow, _ column: String, type: String) throws -> StateValue {
        if try row.isNull(column) { return .null }
        switch type {
        case "boolean": return .bool(try row.bool(column))
        case "bigint", "integer", "smallint": return .int(try row.int(column))
        case "double precision", "real", "numeric": return .double(try row.double(column))
        case "timestamp with time zone", "timestamp without time zone": return .date(try row.date(column))
        default: return .text(try row.string(column))
        }
    }
}
