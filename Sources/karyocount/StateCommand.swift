import ArgumentParser
import Foundation
import KaryoPipeline

/// `karyocount state`: operations on the state itself.
struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state", abstract: "Operations on the queue's state.", subcommands: [MigrateCommand.self])

    /// `karyocount state migrate`: a workstation's SQLite state into a shared PostgreSQL database.
    struct MigrateCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate",
            abstract: "Copy a SQLite state into an empty PostgreSQL database, without loss.",
            discussion: """
                Stop the daemon first: the SQLite state's lock is held throughout, so a running daemon stops the \
                migration. Every job, seen path, result, patient tally, refused file, review and sign-off is copied \
                in one transaction and each table's row count is checked on both sides; on any error nothing is \
                written. The target database must exist and hold no state yet (its schema is created). Then set \
                `[state] backend = "postgres"` and `url` in every node's configuration. The password comes from \
                --password-file or libpq's environment (PGPASSWORD, PGPASSFILE, ~/.pgpass), never from the URL.
                """)

        @Option(help: "The SQLite state: sqlite:PATH (state_dir/karyocount.sqlite).")
        var from: String

        @Option(help: "The target: postgres:postgresql://user@host:5432/database.")
        var to: String

        @Option(help: "A file holding the PostgreSQL password.")
        var passwordFile: String?

        func run() throws {
            guard from.hasPrefix("sqlite:"), to.hasPrefix("postgres:") else {
                throw ValidationError("expected --from sqlite:PATH --to postgres:URL")
            }
            let source = URL(filePath: String(from.dropFirst("sqlite:".count)))
            do {
                let target = try PostgresSettings(
                    url: String(to.dropFirst("postgres:".count)), passwordFile: passwordFile.map { URL(filePath: $0) })
                let copied = try StateMigration.copy(fromSQLite: source, to: target)
                for (table, rows) in copied { print("\(table): \(rows) rows") }
                print("migrated \(source.path) to \(target.redactedURL)")
            } catch {
                printError(error.description)
                throw ExitCode(1)
            }
        }
    }
}
