import Foundation

/// A job's state: `queued -> running -> done | failed`; karyograms are recorded as `skipped`.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case queued, running, done, failed, skipped
}

/// One image in the durable queue, identified by the SHA-256 of its content.
public struct Job: Sendable, Equatable, Codable {
    /// SHA-256 of the file's bytes (lower-case hex): the job's identity.
    public var sha256: String
    /// The path the image was first found at.
    public var path: String
    /// The watch root it was found under, if any.
    public var root: String?
    /// Safe patient name.
    public var patient: String
    public var cell: String?
    /// Safe output stem, unique within the patient.
    public var stem: String
    public var state: JobState
    /// Times processing was started (a crash while running counts).
    public var attempts: Int
    public var lastError: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// A queued job is not claimed before this time (the wait before a retry); nil: at once.
    public var notBefore: Date? = nil
    /// Running, decoded ahead, and waiting for a worker to detect it: a crash in this state gives the attempt back.
    public var decodedAhead = false
    /// It was in hand together with another image when the process died, so either may have caused the crash: it
    /// got its attempt back and from then on runs alone, where a crash is its own.
    public var suspect = false
    /// The last failure with its stage and kind; nil when the job has not failed or was interrupted by a crash.
    public var failure: StageFailure? = nil
    /// The node that holds it while running; nil when no node does.
    public var leaseOwner: String? = nil
    /// A running job whose lease ran out (its node died or lost the database) is taken back and claimed again.
    public var leaseUntil: Date? = nil

    enum CodingKeys: String, CodingKey {
        case sha256, path, root, patient, cell, stem, state, attempts, failure
        case lastError = "last_error"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case notBefore = "not_before"
        case decodedAhead = "decoded_ahead"
        case suspect
        case leaseOwner = "lease_owner"
        case leaseUntil = "lease_until"
    }
}

extension Job {
    init(row: StateRow) throws {
        guard let state = JobState(rawValue: try row.string("state")) else {
            throw StateDecodingError(column: "state", problem: "unknown state \(try row.string("state"))")
        }
        self.init(
            sha256: try row.string("sha256"), path: try row.string("path"), root: try row.optionalString("root"),
            patient: try row.string("patient"), cell: try row.optionalString("cell"), stem: try row.string("stem"),
            state: state, attempts: try row.int("attempts"), lastError: try row.optionalString("last_error"),
            createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"),
            notBefore: try row.optionalDate("not_before"), decodedAhead: try row.bool("decoded_ahead"),
            suspect: try row.bool("suspect"), failure: try row.optionalJSON(StageFailure.self, "failure"),
            leaseOwner: try row.optionalString("lease_owner"), leaseUntil: try row.optionalDate("lease_until"))
    }

    /// Inserts the job, or stores every column of the existing one.
    func save(_ tx: any StateTransaction) throws {
        try tx.execute(
            """
            INSERT INTO job (sha256, path, root, patient, cell, stem, state, attempts, last_error, created_at,
                updated_at, not_before, decoded_ahead, suspect, failure, lease_owner, lease_until)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, root = excluded.root,
                patient = excluded.patient, cell = excluded.cell, stem = excluded.stem, state = excluded.state,
                attempts = excluded.attempts, last_error = excluded.last_error, updated_at = excluded.updated_at,
                not_before = excluded.not_before, decoded_ahead = excluded.decoded_ahead,
                suspect = excluded.suspect, failure = excluded.failure, lease_owner = excluded.lease_owner,
                lease_until = excluded.lease_until
            """,
            sha256, path, root, patient, cell, stem, state.rawValue, attempts, lastError, createdAt, updatedAt,
            notBefore, decodedAhead, suspect, try StateJSON.optionalText(failure), leaseOwner, leaseUntil)
    }

    static func fetch(_ tx: any StateTransaction, sha256: String) throws -> Job? {
        try tx.row("SELECT * FROM job WHERE sha256 = ?", sha256).map(Job.init(row:))
    }
}

/// The result index: one row per done job, what the aggregator and the summaries read.
public struct ResultIndexEntry: Sendable, Equatable, Codable {
    public var sha256: String
    public var patient: String
    public var cell: String?
    public var stem: String
    public var count: Int
    /// No detection inside the uncertain band.
    public var confident: Bool
    public var detector: String
    /// The result JSON's path.
    public var resultPath: String
    public var processedAt: Date
    /// `YYYY-MM-DD` (UTC) of `processedAt`, what summaries select on.
    public var processedDay: String
    /// The result's warnings, for the review station's patient page.
    public var warnings: [String]
    /// The stem the file's name gives (`stem` without the suffix that keeps outputs apart): one cell's exports share
    /// it. Nil for results counted before it was recorded (their `stem`).
    public var nameStem: String?
    /// The result of a newer export of the same cell that replaced this one in the tally; nil while current.
    public var supersededBy: String?

    public init(
        sha256: String, patient: String, cell: String?, stem: String, count: Int, confident: Bool, detector: String,
        resultPath: String, processedAt: Date, warnings: [String] = [], nameStem: String? = nil
    ) {
        self.sha256 = sha256
        self.patient = patient
        self.cell = cell
        self.stem = stem
        self.count = count
        self.confident = confident
        self.detector = detector
        self.resultPath = resultPath
        self.processedAt = processedAt
        self.processedDay = JobQueue.day(of: processedAt)
        self.warnings = warnings
        self.nameStem = nameStem
        self.supersededBy = nil
    }

    /// The aggregator's view of this row, with the cytologist's count when the image was reviewed.
    public func imageCount(reviewedCount: Int? = nil) -> ImageCount {
        ImageCount(stem: stem, cell: cell, count: count, confident: confident, reviewedCount: reviewedCount)
    }

    enum CodingKeys: String, CodingKey {
        case sha256, patient, cell, stem, count, confident, detector, warnings
        case nameStem = "name_stem"
        case supersededBy = "superseded_by"
        case resultPath = "result_path"
        case processedAt = "processed_at"
        case processedDay = "processed_day"
    }
}

extension ResultIndexEntry {
    init(row: StateRow) throws {
        self.init(
            sha256: try row.string("sha256"), patient: try row.string("patient"), cell: try row.optionalString("cell"),
            stem: try row.string("stem"), count: try row.int("count"), confident: try row.bool("confident"),
            detector: try row.string("detector"), resultPath: try row.string("result_path"),
            processedAt: try row.date("processed_at"), warnings: try row.json([String].self, "warnings"),
            nameStem: try row.optionalString("name_stem"))
        processedDay = try row.string("processed_day")
        supersededBy = try row.optionalString("superseded_by")
    }

    /// Inserts the entry, or stores every column of the existing one.
    func save(_ tx: any StateTransaction) throws {
        try tx.execute(
            """
            INSERT INTO result (sha256, patient, cell, stem, count, confident, detector, result_path, processed_at,
                processed_day, warnings, name_stem, superseded_by)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (sha256) DO UPDATE SET patient = excluded.patient, cell = excluded.cell,
                stem = excluded.stem, count = excluded.count, confident = excluded.confident,
                detector = excluded.detector, result_path = excluded.result_path,
                processed_at = excluded.processed_at, processed_day = excluded.processed_day,
                warnings = excluded.warnings, name_stem = excluded.name_stem, superseded_by = excluded.superseded_by
            """,
            sha256, patient, cell, stem, count, confident, detector, resultPath, processedAt, processedDay,
            try StateJSON.text(warnings), nameStem, supersededBy)
    }

    static func fetch(_ tx: any StateTransaction, sha256: String) throws -> ResultIndexEntry? {
        try tx.row("SELECT * FROM result WHERE sha256 = ?", sha256).map(ResultIndexEntry.init(row:))
    }
}

/// A file refused before it could be queued (unreadable, too large, outside its watch root): it has no content
/// hash, so it is kept by path until that path is queued.
public struct RefusedFile: Sendable, Equatable, Codable {
    /// The path as found.
    public var path: String
    /// Why it was refused, naming the file and the cause.
    public var error: String
    public var refusedAt: Date

    enum CodingKeys: String, CodingKey {
        case path, error
        case refusedAt = "refused_at"
    }

}

extension RefusedFile {
    init(row: StateRow) throws {
        self.init(path: try row.string("path"), error: try row.string("error"), refusedAt: try row.date("refused_at"))
    }
}

/// What `enqueue` did with a file.
public enum EnqueueOutcome: Sendable, Equatable {
    /// A new job was queued.
    case queued(Job)
    /// A karyogram: recorded as skipped, never counted.
    case skipped(Job)
    /// The same content is already known (dropped twice, renamed, or copied); nothing new.
    case duplicate(Job)
    /// The same content already failed for good because the input itself is bad: the new file is bad for the same
    /// (permanent) failure.
    case sameAsFailed(Job, StageFailure)

    /// The job concerned.
    public var job: Job {
        switch self {
        case .queued(let j), .skipped(let j), .duplicate(let j), .sameAsFailed(let j, _): return j
        }
    }
}

/// What `fail` did with a job.
public enum FailureOutcome: Sendable, Equatable {
    /// Put back in the queue for another attempt.
    case requeued(Job)
    /// Failed for good (permanent error or attempts cap reached): quarantine it.
    case failed(Job)

    /// The job as stored after the failure.
    public var job: Job {
        switch self {
        case .requeued(let j), .failed(let j): return j
        }
    }
}

/// Queue depth and per-state counts, for `karyocount status` and systemd's STATUS line.
public struct QueueStatus: Sendable, Equatable {
    /// Jobs per state (every state present, zero when none).
    public var counts: [JobState: Int]
    /// The most recent failures, newest first.
    public var lastErrors: [Job]
    /// Files refused before they could be queued (their bad input is in the quarantine).
    public var refused: Int
    /// The most recent refusals, newest first.
    public var lastRefused: [RefusedFile]
    /// Jobs waiting or in hand.
    public var depth: Int { (counts[.queued] ?? 0) + (counts[.running] ?? 0) }
}

/// A patient's stored aggregate.
public struct PatientRow: Sendable, Equatable {
    public var patient: String
    public var report: PatientReport
    /// When the flag was first raised, nil if never.
    public var flagRaisedAt: Date?
    public var updatedAt: Date
}

/// What a process that uses the state does: watch folders and queue what arrives, count queued images, or both.
public struct NodeRoles: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let watch = NodeRoles(rawValue: 1)
    public static let count = NodeRoles(rawValue: 2)
    public static let all: NodeRoles = [.watch, .count]

    /// `watch`, `count` or `watch+count`.
    public var name: String {
        [(Self.watch, "watch"), (Self.count, "count")].filter { contains($0.0) }.map(\.1).joined(separator: "+")
    }

    /// The roles a name gives (`watch`, `count`, `watch+count`); nil for anything else.
    public init?(name: String) {
        var roles: NodeRoles = []
        for part in name.split(separator: "+") {
            switch part {
            case "watch": roles.insert(.watch)
            case "count": roles.insert(.count)
            default: return nil
            }
        }
        guard !roles.isEmpty else { return nil }
        self = roles
    }
}

/// A process that uses the state, as its last heartbeat left it, for `karyocount status`.
public struct NodeStatus: Sendable, Equatable {
    public var name: String
    public var roles: String
    public var pid: Int
    public var startedAt: Date
    public var heartbeatAt: Date
    /// Images it counted since it started.
    public var processed: Int
    /// The stems of the jobs it holds now.
    public var holding: [String]

    /// Images per minute between its start and its last heartbeat.
    public var imagesPerMinute: Double {
        let minutes = heartbeatAt.timeIntervalSince(startedAt) / 60
        return minutes > 0 ? Double(processed) / minutes : 0
    }
}
