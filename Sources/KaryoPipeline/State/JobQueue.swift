import Foundation
import GRDB

/// A job's state: `queued -> running -> done | failed`; karyograms are recorded as `skipped`.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case queued, running, done, failed, skipped
}

/// One image in the durable queue, identified by the SHA-256 of its content.
public struct Job: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "job"

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

    enum CodingKeys: String, CodingKey {
        case sha256, path, root, patient, cell, stem, state, attempts, failure
        case lastError = "last_error"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case notBefore = "not_before"
        case decodedAhead = "decoded_ahead"
        case suspect
    }
}

/// The result index: one row per done job, what the aggregator and the summaries read.
public struct ResultIndexEntry: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "result"

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

/// A file refused before it could be queued (unreadable, too large, outside its watch root): it has no content
/// hash, so it is kept by path until that path is queued.
public struct RefusedFile: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "refused_file"

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

/// The durable job queue, results index and patient aggregates in SQLite (GRDB `DatabasePool`, WAL).
///
/// Every state change is one transaction. `markDone` records the result and updates the patient's aggregate in
/// the same transaction, so a crash leaves either both or neither.
public final class JobQueue: Sendable {
    /// The underlying pool (WAL); readers never block the writer.
    public let pool: DatabasePool

    /// Opens (creating and migrating) the database at `url`.
    public init(url: URL) throws(PipelineError) {
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            pool = try DatabasePool(path: url.path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw PipelineError(.database, file: url.path, detail: "cannot open the queue: \(error)")
        }
    }

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
        m.registerMigration("review-ledger", migrate: ReviewLedger.createTables)
        m.registerMigration("result-supersede") { db in
            try db.alter(table: "result") { t in
                t.add(column: "name_stem", .text)
                t.add(column: "superseded_by", .text)
            }
        }
        return m
    }

    // MARK: - Enqueue

    /// The job of `path` when it was already hashed with this size and mtime (a rescan can then skip hashing).
    public func knownJob(path: String, size: Int, mtime: Double) throws(PipelineError) -> Job? {
        try read { db in
            try Job.fetchOne(
                db,
                sql: """
                    SELECT job.* FROM seen_path JOIN job ON job.sha256 = seen_path.sha256
                    WHERE seen_path.path = ? AND seen_path.size = ? AND seen_path.mtime = ?
                    """, arguments: [path, size, mtime])
        }
    }

    /// Records a file: a new job (queued, or skipped for a karyogram), or the existing job of the same content.
    /// A known job is queued again, at the new path, when the file arrives under a metaphase name and the job was
    /// skipped (first seen as a karyogram) or failed (dropped again: fresh attempts, no wait); a failure of the bytes
    /// themselves (a permanent one) is not retried but reported as `sameAsFailed`. A different image whose stem is
    /// already taken within the patient gets the stem `<stem>-<sha prefix>`.
    public func enqueue(
        sha256: String, path: String, root: String?, identity: ImageIdentity, size: Int, mtime: Double,
        now: Date = Date()
    ) throws(PipelineError) -> EnqueueOutcome {
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO seen_path (path, size, mtime, sha256) VALUES (?, ?, ?, ?)",
                arguments: [path, size, mtime, sha256])
            try db.execute(sql: "DELETE FROM refused_file WHERE path = ?", arguments: [path])
            if var existing = try Job.fetchOne(db, key: sha256) {
                guard identity.kind == .metaphase, [.skipped, .failed].contains(existing.state) else {
                    return .duplicate(existing)
                }
                if existing.state == .failed, let failure = existing.failure, failure.isPermanent {
                    return .sameAsFailed(existing, failure)
                }
                existing.attempts = 0
                existing.suspect = false
                existing.lastError = nil
                existing.failure = nil
                existing.notBefore = nil
                existing.path = path
                existing.root = root
                existing.patient = identity.patient
                existing.cell = identity.cell
                existing.stem = try Self.freeStem(db, identity, sha256: sha256)
                existing.state = .queued
                existing.updatedAt = now
                try existing.update(db)
                return .queued(existing)
            }
            let stem = try Self.freeStem(db, identity, sha256: sha256)
            let job = Job(
                sha256: sha256, path: path, root: root, patient: identity.patient, cell: identity.cell, stem: stem,
                state: identity.kind == .karyogram ? .skipped : .queued, attempts: 0, lastError: nil, createdAt: now,
                updatedAt: now)
            try job.insert(db)
            return job.state == .skipped ? .skipped(job) : .queued(job)
        }
    }

    /// Points a queued job at the place its content is found now (the file was moved or renamed before it was
    /// processed), with that place's patient, cell and stem. A job no longer queued is returned unchanged.
    public func move(
        _ job: Job, to path: String, root: String?, identity: ImageIdentity, now: Date = Date()
    ) throws(PipelineError) -> Job {
        try write { db in
            guard var current = try Job.fetchOne(db, key: job.sha256) else {
                throw PipelineError(.database, file: job.path, detail: "job vanished from the queue")
            }
            guard current.state == .queued else { return current }
            current.path = path
            current.root = root
            current.patient = identity.patient
            current.cell = identity.cell
            current.stem = try Self.freeStem(db, identity, sha256: current.sha256)
            current.updatedAt = now
            try current.update(db)
            return current
        }
    }

    /// The identity's stem, or `<stem>-<sha prefix>` when another image of the patient already has it.
    private static func freeStem(_ db: Database, _ identity: ImageIdentity, sha256: String) throws -> String {
        let taken = try Bool.fetchOne(
            db, sql: "SELECT 1 FROM job WHERE patient = ? AND stem = ? AND sha256 != ?",
            arguments: [identity.patient, identity.stem, sha256])
        guard taken ?? false else { return identity.stem }
        // Shortened so that the stem with its suffix is still a safe name (SafeName.maxBytes).
        let suffix = "-" + sha256.prefix(12)
        var base = identity.stem
        while base.utf8.count + suffix.utf8.count > SafeName.maxBytes { base.removeLast() }
        return base + suffix
    }

    /// Records that `path` was refused (it could not be queued) for `error`. Returns false when this very refusal
    /// is already recorded (a rescan found the file unchanged), so that it is reported and quarantined once.
    public func recordRefused(path: String, error: String, now: Date = Date()) throws(PipelineError) -> Bool {
        try write { db in
            if try RefusedFile.fetchOne(db, key: path)?.error == error { return false }
            try RefusedFile(path: path, error: error, refusedAt: now).save(db)
            return true
        }
    }

    // MARK: - Processing

    /// Re-queues jobs a crash left `running`; those that already used `maxAttempts` attempts are failed instead
    /// (a file that crashes the process must not crash it forever). A job that was only decoded ahead, waiting while
    /// another image was detected, gets its attempt back: the crash was not its doing. When two or more jobs were in
    /// hand beyond those (an image decoding beside the one in detection, or several workers), the crash cannot be
    /// pinned on one: each gets its attempt back and becomes a suspect that runs alone (see `claimNext`), so an innocent
    /// neighbour of a crashing file is never failed for it. Returns the jobs failed.
    public func recoverInterrupted(maxAttempts: Int, now: Date = Date()) throws(PipelineError) -> [Job] {
        try write { db in
            let inHand = try Job.filter(sql: "state = 'running' AND NOT decoded_ahead").fetchCount(db)
            if inHand >= 2 {
                try db.execute(
                    sql: """
                        UPDATE job SET attempts = MAX(attempts - 1, 0), suspect = 1
                        WHERE state = 'running' AND NOT decoded_ahead
                        """)
            }
            try db.execute(
                sql: """
                    UPDATE job SET attempts = MAX(attempts - 1, 0), decoded_ahead = 0
                    WHERE state = 'running' AND decoded_ahead
                    """)
            let failed = try Job.filter(sql: "state = 'running' AND attempts >= ?", arguments: [maxAttempts])
                .fetchAll(db)
            try db.execute(
                sql: """
                    UPDATE job SET state = 'failed', suspect = 0, updated_at = ?,
                        last_error = 'processing was interrupted ' || attempts || ' times (crash or kill)'
                    WHERE state = 'running' AND attempts >= ?
                    """, arguments: [now, maxAttempts])
            try db.execute(
                sql: "UPDATE job SET state = 'queued', updated_at = ? WHERE state = 'running'", arguments: [now])
            return try failed.map { job in try Job.fetchOne(db, key: job.sha256)! }
        }
    }

    /// Takes the oldest queued job whose retry wait is over: marks it running and counts the attempt. Nil when no
    /// job can be claimed at `now`: none is due, a suspect is running (it runs alone), or the oldest due job is a
    /// suspect and another job is still in hand (it waits until nothing is).
    public func claimNext(now: Date = Date()) throws(PipelineError) -> Job? {
        try write { db in
            let running = Job.filter(sql: "state = 'running'")
            if try running.filter(sql: "suspect").fetchCount(db) > 0 { return nil }
            guard
                var job = try Job.filter(
                    sql: "state = 'queued' AND (not_before IS NULL OR not_before <= ?)", arguments: [now]
                )
                .order(sql: "created_at, sha256").fetchOne(db)
            else { return nil }
            if job.suspect, try running.fetchCount(db) > 0 { return nil }
            job.state = .running
            job.attempts += 1
            job.notBefore = nil
            job.decodedAhead = false
            job.updatedAt = now
            try job.update(db)
            return job
        }
    }

    /// Records that a running job is decoded and waits for detection while another image is detected; a crash
    /// before `startDetection` then does not charge it an attempt.
    public func markDecodedAhead(_ job: Job) throws(PipelineError) {
        try setDecodedAhead(job, true)
    }

    /// Records that a job decoded ahead is now being detected: from here a crash charges it the attempt.
    public func startDetection(_ job: Job) throws(PipelineError) {
        try setDecodedAhead(job, false)
    }

    private func setDecodedAhead(_ job: Job, _ decodedAhead: Bool) throws(PipelineError) {
        try write { db in
            try db.execute(
                sql: "UPDATE job SET decoded_ahead = ? WHERE sha256 = ? AND state = 'running'",
                arguments: [decodedAhead, job.sha256])
        }
    }

    /// Puts a running job back without counting the attempt (graceful stop before it was processed).
    public func release(_ job: Job, now: Date = Date()) throws(PipelineError) {
        try write { db in
            try db.execute(
                sql: """
                    UPDATE job SET state = 'queued', attempts = MAX(attempts - 1, 0), decoded_ahead = 0, updated_at = ?
                    WHERE sha256 = ? AND state = 'running'
                    """, arguments: [now, job.sha256])
        }
    }

    /// Records a failure: while attempts remain and the failure is not permanent the job is re-queued, to be claimed
    /// no earlier than the policy's wait after this attempt; else it is failed.
    public func fail(
        _ job: Job, failure: StageFailure, policy: RetryPolicy, now: Date = Date()
    ) throws(PipelineError) -> FailureOutcome {
        try write { db in
            guard var current = try Job.fetchOne(db, key: job.sha256) else {
                throw PipelineError(.database, file: job.path, detail: "job vanished from the queue")
            }
            current.lastError = failure.description
            current.failure = failure
            current.updatedAt = now
            current.decodedAhead = false
            current.suspect = false
            if failure.isPermanent || current.attempts >= policy.maxAttempts {
                current.state = .failed
                current.notBefore = nil
            } else {
                current.state = .queued
                current.notBefore = now.addingTimeInterval(policy.delay(afterAttempt: current.attempts))
            }
            try current.update(db)
            return current.state == .failed ? .failed(current) : .requeued(current)
        }
    }

    /// What `markDone` changed: the patient's new report, whether it raised the flag for the first time, and the
    /// results of the same cell that a newer export now replaces in the tally.
    public struct Completion: Sendable {
        public var report: PatientReport
        public var flagRaised: Bool
        public var superseded: [ResultIndexEntry]
    }

    /// Marks a job done, records its result, lets the newest export of each cell (by the time it was first queued)
    /// stand for it in the tally, and recomputes the patient's aggregate, in one transaction.
    public func markDone(
        _ job: Job, result: ResultIndexEntry, settings: AggregatorSettings, now: Date = Date()
    ) throws(PipelineError) -> Completion {
        try write { db in
            try result.save(db)
            let superseded = try Self.supersedeOlderExports(db, of: result)
            try db.execute(
                sql: """
                    UPDATE job SET state = 'done', last_error = NULL, failure = NULL, decoded_ahead = 0, suspect = 0,
                        updated_at = ?
                    WHERE sha256 = ?
                    """,
                arguments: [now, job.sha256])
            let update = try Self.updatePatient(db, patient: result.patient, settings: settings, now: now)
            return Completion(report: update.report, flagRaised: update.flagRaised, superseded: superseded)
        }
    }

    /// Among the results of `result`'s cell (same patient and name stem), the one whose job was queued last stands;
    /// the others point at it. Returns the results newly superseded.
    private static func supersedeOlderExports(
        _ db: Database, of result: ResultIndexEntry
    ) throws -> [ResultIndexEntry] {
        let nameStem = result.nameStem ?? result.stem
        let exports = try ResultIndexEntry.fetchAll(
            db,
            sql: """
                SELECT result.* FROM result JOIN job ON job.sha256 = result.sha256
                WHERE result.patient = ? AND COALESCE(result.name_stem, result.stem) = ?
                ORDER BY job.created_at DESC, job.sha256 DESC
                """, arguments: [result.patient, nameStem])
        guard let newest = exports.first else { return [] }
        var changed: [ResultIndexEntry] = []
        for var older in exports.dropFirst() where older.supersededBy != newest.sha256 {
            older.supersededBy = newest.sha256
            try older.update(db)
            changed.append(older)
        }
        if newest.supersededBy != nil {
            try db.execute(sql: "UPDATE result SET superseded_by = NULL WHERE sha256 = ?", arguments: [newest.sha256])
        }
        return changed
    }

    /// Recomputes every patient's aggregate with `settings` (the thresholds may have changed since the results were
    /// counted) and stores those that differ, each as a new version for patient.json. Returns the changed ones.
    public func reevaluatePatients(
        settings: AggregatorSettings, now: Date = Date()
    ) throws(PipelineError) -> [(report: PatientReport, flagRaised: Bool)] {
        try write { db in
            var changed: [(report: PatientReport, flagRaised: Bool)] = []
            for row in try Row.fetchAll(db, sql: "SELECT * FROM patient ORDER BY patient") {
                let stored = try Self.patientRow(row)
                let report = try Self.computeReport(db, patient: stored.patient, settings: settings)
                if report != stored.report {
                    changed.append(try Self.storeReport(db, report, patient: stored.patient, now: now))
                }
            }
            return changed
        }
    }

    /// Recomputes a patient's aggregate from its results and stores it (used by `markDone`).
    static func updatePatient(
        _ db: Database, patient: String, settings: AggregatorSettings, now: Date
    ) throws -> (report: PatientReport, flagRaised: Bool) {
        try storeReport(db, try computeReport(db, patient: patient, settings: settings), patient: patient, now: now)
    }

    private static func computeReport(
        _ db: Database, patient: String, settings: AggregatorSettings
    ) throws -> PatientReport {
        let reviewed = try ReviewLedger.latestReviewedCounts(db, patient: patient)
        let images = try ResultIndexEntry.filter(sql: "patient = ? AND superseded_by IS NULL", arguments: [patient])
            .fetchAll(db).map { $0.imageCount(reviewedCount: reviewed[$0.sha256]) }
        return PatientAggregator.report(patient: patient, images: images, settings: settings)
    }

    /// Stores `report` as the patient's next version; says whether it raised the flag for the first time.
    private static func storeReport(
        _ db: Database, _ report: PatientReport, patient: String, now: Date
    ) throws -> (report: PatientReport, flagRaised: Bool) {
        let previous = try Row.fetchOne(
            db, sql: "SELECT flagged, flag_raised_at FROM patient WHERE patient = ?", arguments: [patient])
        let wasFlagged: Bool = previous?["flagged"] ?? false
        let raisedAt: Date? = previous?["flag_raised_at"]
        let flagRaised = report.isFlagged && !wasFlagged
        let json = String(decoding: try KaryoJSON.encode(report), as: UTF8.self)
        try db.execute(
            sql: """
                INSERT INTO patient (patient, report, flagged, flag_raised_at, updated_at, version)
                VALUES (?, ?, ?, ?, ?, 1)
                ON CONFLICT(patient) DO UPDATE SET report = excluded.report, flagged = excluded.flagged,
                    flag_raised_at = excluded.flag_raised_at, updated_at = excluded.updated_at,
                    version = version + 1
                """,
            arguments: [patient, json, report.isFlagged, flagRaised ? now : raisedAt, now])
        return (report, flagRaised)
    }

    /// Records that patient.json reflects `version` of the report.
    public func markWritten(patient: String, version: Int) throws(PipelineError) {
        try write { db in
            try db.execute(
                sql: "UPDATE patient SET written_version = MAX(written_version, ?) WHERE patient = ?",
                arguments: [version, patient])
        }
    }

    /// A patient's stored aggregate with its version, read together (for writing patient.json).
    public func patientForWriting(_ name: String) throws(PipelineError) -> (row: PatientRow, version: Int)? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM patient WHERE patient = ?", arguments: [name])
                .map { (try Self.patientRow($0), $0["version"]) }
        }
    }

    /// Patients whose patient.json lags behind the database (a crash between commit and file write).
    public func patientsNeedingWrite() throws(PipelineError) -> [(row: PatientRow, version: Int)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM patient WHERE version > written_version ORDER BY patient")
                .map { (try Self.patientRow($0), $0["version"]) }
        }
    }

    // MARK: - Reading

    /// Paths other than `path` where the same content was found (copies under other names), sorted.
    public func otherPaths(sha256: String, except path: String) throws(PipelineError) -> [String] {
        try read { db in
            try String.fetchAll(
                db, sql: "SELECT path FROM seen_path WHERE sha256 = ? AND path != ? ORDER BY path",
                arguments: [sha256, path])
        }
    }

    /// A job by its content hash.
    public func job(sha256: String) throws(PipelineError) -> Job? {
        try read { db in try Job.fetchOne(db, key: sha256) }
    }

    /// All jobs, oldest first (tests and tools).
    public func allJobs() throws(PipelineError) -> [Job] {
        try read { db in try Job.order(sql: "created_at, sha256").fetchAll(db) }
    }

    /// Per-state counts and the last `errorLimit` failures.
    public func status(errorLimit: Int = 5) throws(PipelineError) -> QueueStatus {
        try read { db in
            var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM job GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            let errors = try Job.filter(sql: "state = 'failed'").order(sql: "updated_at DESC").limit(errorLimit)
                .fetchAll(db)
            let refused = try RefusedFile.fetchCount(db)
            let lastRefused = try RefusedFile.order(sql: "refused_at DESC, path").limit(errorLimit).fetchAll(db)
            return QueueStatus(counts: counts, lastErrors: errors, refused: refused, lastRefused: lastRefused)
        }
    }

    /// Every patient's stored aggregate, sorted by name.
    public func patients() throws(PipelineError) -> [PatientRow] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM patient ORDER BY patient").map(Self.patientRow) }
    }

    /// One patient's stored aggregate.
    public func patient(_ name: String) throws(PipelineError) -> PatientRow? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM patient WHERE patient = ?", arguments: [name]).map(Self.patientRow)
        }
    }

    /// Results processed on `day` (`YYYY-MM-DD`, UTC), sorted by patient and stem.
    public func results(onDay day: String) throws(PipelineError) -> [ResultIndexEntry] {
        try read { db in
            try ResultIndexEntry.filter(sql: "processed_day = ?", arguments: [day]).order(sql: "patient, stem")
                .fetchAll(db)
        }
    }

    /// Jobs that failed on `day` (`YYYY-MM-DD`, UTC of their last update), sorted by path.
    public func failures(onDay day: String) throws(PipelineError) -> [Job] {
        try read { db in
            try Job.filter(sql: "state = 'failed'").order(sql: "path").fetchAll(db)
                .filter { Self.day(of: $0.updatedAt) == day }
        }
    }

    /// `YYYY-MM-DD` of a date in UTC.
    public static func day(of date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }

    static func patientRow(_ row: Row) throws -> PatientRow {
        let json: String = row["report"]
        return PatientRow(
            patient: row["patient"], report: try KaryoJSON.decode(PatientReport.self, from: Data(json.utf8)),
            flagRaisedAt: row["flag_raised_at"], updatedAt: row["updated_at"])
    }

    // MARK: - Typed-error wrappers

    private func read<T>(_ body: (Database) throws -> T) throws(PipelineError) -> T {
        do {
            return try pool.read(body)
        } catch let e as PipelineError {
            throw e
        } catch {
            throw PipelineError(.database, file: pool.path, detail: "\(error)")
        }
    }

    private func write<T>(_ body: (Database) throws -> T) throws(PipelineError) -> T {
        do {
            return try pool.write(body)
        } catch let e as PipelineError {
            throw e
        } catch {
            throw PipelineError(.database, file: pool.path, detail: "\(error)")
        }
    }
}
