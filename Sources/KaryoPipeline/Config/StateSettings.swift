import Foundation

/// Where the queue, results index, tallies and review ledger live (`[state]` in the configuration): SQLite under
/// `state_dir` for one workstation, or one PostgreSQL database that several processes on several machines share.
public struct StateSettings: Sendable, Equatable {
    /// `sqlite` or `postgres`. Key `state.backend`.
    public var backend = "sqlite"
    /// `postgresql://user@host:5432/database` (no password in it). Key `state.url`.
    public var url = ""
    /// A file holding the PostgreSQL password; nil: libpq's environment (PGPASSWORD, PGPASSFILE, ~/.pgpass).
    /// Key `state.password_file`.
    public var passwordFile: URL?
    /// This process's name among those sharing the state; empty: the host name. Key `state.node`.
    public var node = ""
    /// `watch+count`, `watch` (queue what arrives) or `count` (count what is queued). Key `state.roles`.
    public var roles = "watch+count"
    /// How long a claimed image stays this node's without renewal: after a crash, power loss or network cut, another
    /// node takes it once this has passed. Key `state.lease_seconds`.
    public var leaseSeconds = 60.0

    public init() {}

    /// Whether the state is shared through PostgreSQL.
    public var isShared: Bool { backend == "postgres" }

    /// The node name in force.
    public var nodeName: String { node.isEmpty ? JobQueue.defaultNodeName : node }

    /// The roles in force (`watch+count` for a value `validationProblems` refuses).
    public var nodeRoles: NodeRoles { NodeRoles(name: roles) ?? .all }

    /// The keys of the `[state]` table, in file order.
    static var keyTable: [ConfigKey<StateSettings>] {
        [
            .text(
                "backend",
                "Where the state lives: sqlite (state_dir/karyocount.sqlite, one process) or postgres (one database "
                    + "shared by every node of the lab).", \.backend,
                oneOf: ["sqlite", "postgres"]),
            .text(
                "url",
                "The PostgreSQL database for backend postgres, postgresql://user@host:5432/database. Never put the "
                    + "password here.", \.url),
            ConfigKey(
                name: "password_file",
                doc: "A file holding the PostgreSQL password (readable by the service only). Empty: libpq's "
                    + "environment (PGPASSWORD, PGPASSFILE or ~/.pgpass).",
                read: { s, r in
                    if let v = r.string("password_file") { s.passwordFile = v.isEmpty ? nil : r.resolve(v) }
                },
                value: { s in tomlString(s.passwordFile?.path ?? "") }),
            .text(
                "node",
                "This process's name among the nodes sharing the state, unique per process. Empty: the host name.",
                \.node),
            .text(
                "roles",
                "What this process does: watch+count, watch (queue what arrives in the drop folders) or count (count "
                    + "what is queued). Only a shared state has a use for watch or count alone.", \.roles,
                oneOf: ["watch+count", "watch", "count"]),
            ConfigKey(
                name: "lease_seconds",
                doc: "How long a claimed image stays this node's without renewal. Another node takes over an image "
                    + "whose node died or lost the database once this has passed.",
                read: { s, r in if let v = r.number("lease_seconds") { s.leaseSeconds = v } },
                check: { s in (5...3600).contains(s.leaseSeconds) ? nil : "must be within 5...3600 seconds" },
                value: { tomlNumber($0.leaseSeconds) }),
        ]
    }

    /// Problems of the values alone, each with its key.
    func validationProblems() -> [ConfigProblem] {
        let keyProblems = Self.keyTable.compactMap { key in
            key.check(self).map { ConfigProblem(key: "state.\(key.name)", message: $0) }
        }
        return keyProblems.isEmpty ? backendProblems() : keyProblems
    }

    private func backendProblems() -> [ConfigProblem] {
        guard isShared else {
            return roles == "watch+count"
                ? []
                : [
                    ConfigProblem(
                        key: "state.roles",
                        message: "`\(roles)` needs backend postgres: a SQLite state has one process, which both "
                            + "watches and counts")
                ]
        }
        guard !url.isEmpty else {
            return [ConfigProblem(key: "state.url", message: "backend postgres needs the database's URL")]
        }
        do throws(PipelineError) {
            _ = try PostgresSettings(url: url, passwordFile: nil, environment: [:])
        } catch {
            return [ConfigProblem(key: "state.url", message: error.detail)]
        }
        return []
    }

    /// Problems only the machine reveals: a password file that cannot be read.
    func environmentProblems() -> [ConfigProblem] {
        guard isShared, let passwordFile, !FileManager.default.isReadableFile(atPath: passwordFile.path) else {
            return []
        }
        return [ConfigProblem(key: "state.password_file", message: "`\(passwordFile.path)` cannot be read")]
    }
}

extension KaryoConfig {
    /// Opens the state the configuration names (creating or upgrading its schema) for this process's node.
    public func openQueue() throws(PipelineError) -> JobQueue {
        let database: any StateDatabase
        if state.isShared {
            database = try PostgresStateDatabase(
                settings: try PostgresSettings(url: state.url, passwordFile: state.passwordFile))
        } else {
            database = try SQLiteStateDatabase(url: databaseURL)
        }
        return JobQueue(database: database, node: state.nodeName, leaseDuration: state.leaseSeconds)
    }
}
