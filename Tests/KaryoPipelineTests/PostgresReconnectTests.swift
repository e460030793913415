import Foundation
import KaryoPipeline
import KaryoTestSupport
import Testing

/// A state on PostgreSQL outlives the sessions the server ends under it.
@Suite("PostgreSQL sessions ended by the server", .enabled(if: TestStateBackend.postgresServer != nil))
struct PostgresReconnectTests {
    /// This process's session on `database`, as the server numbers it.
    private func backendPID(_ database: any StateDatabase) throws -> Int {
        let rows = try database.read { tx in try tx.rows("SELECT pg_backend_pid()::TEXT AS pid", []) }
        let row = try #require(rows.first)
        return try #require(Int(try row.string("pid")))
    }

    @Test(
        "a session ended by the server 40 times in a row (as a restart ends them): each time the next transaction commits on a new one"
    )
    func endedSessions() throws {
        let server = try #require(TestStateBackend.postgresServer)
        let database = try TestStateBackend.postgres.freshState(in: TempDir()).database()
        try database.write { tx in try tx.execute("CREATE TABLE tally (n BIGINT NOT NULL)", []) }
        var sessions: Set<Int> = []
        for round in 0..<40 {
            let pid = try backendPID(database)
            sessions.insert(pid)
            try TestStateBackend.admin(server, "SELECT pg_terminate_backend(\(pid))")
            try database.write { tx in try tx.execute("INSERT INTO tally (n) VALUES (?)", [.int(round)]) }
        }
        let rows = try database.read { tx in try tx.rows("SELECT COUNT(*)::TEXT AS n FROM tally", []) }
        #expect(try rows.first?.string("n") == "40")
        #expect(sessions.count == 40, "a session the server ended was used again")
    }

    @Test(
        "a session ended by the server in the middle of a statement, 20 times: the transaction is run again and commits once"
    )
    func endedMidStatement() throws {
        let server = try #require(TestStateBackend.postgresServer)
        let state = try TestStateBackend.postgres.freshState(in: TempDir())
        guard case .postgres(let settings) = state.location else { throw TestStateError("not a PostgreSQL state") }
        let database = try state.database()
        try database.write { tx in try tx.execute("CREATE TABLE tally (n BIGINT NOT NULL)", []) }
        for round in 0..<20 {
            let terminator = Thread {
                Thread.sleep(forTimeInterval: 0.15)
                try? TestStateBackend.admin(
                    server,
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(settings.database)' "
                        + "AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()")
            }
            terminator.start()
            try database.write { tx in
                _ = try tx.rows("SELECT pg_sleep(0.4)::TEXT AS slept", [])
                try tx.execute("INSERT INTO tally (n) VALUES (?)", [.int(round)])
            }
        }
        let rows = try database.read { tx in try tx.rows("SELECT COUNT(*)::TEXT AS n FROM tally", []) }
        #expect(try rows.first?.string("n") == "20")
    }
}
