import Foundation

/// The durable job queue, results index and patient aggregates, on a `StateDatabase` (SQLite or PostgreSQL).
///
/// Every state change is one transaction. `markDone` records the result and updates the patient's aggregate in
/// the same transaction, so a crash leaves either both or neither. A claimed job carries a lease held by this
/// queue's `node`; the node renews it while it works (`renewLeases`), and a job whose lease ran out is taken back
/// by `recoverInterrupted`, on any node.
public final class JobQueue: Sendable {
    /// Where the state lives.
    public let database: any StateDatabase
    /// This process's name in leases and the node list: unique among the processes that share the state.
    public let node: String
    /// How long a claim holds without renewal.
    public let leaseDuration: TimeInterval

    /// Opens the state in `database` for the process called `node`.
    public init(database: any StateDatabase, node: String = JobQueue.defaultNodeName, leaseDuration: TimeInterval = 60)
    {
        self.database = database
        self.node = node
        self.leaseDuration = leaseDuration
    }

    /// Opens (creating and migrating) the SQLite database at `url`.
    public convenience init(url: URL) throws(PipelineError) {
        self.init(database: try SQLiteStateDatabase(url: url))
    }

    /// The host name: what a node is called unless its configuration names it.
    public static var defaultNodeName: String { ProcessInfo.processInfo.hostName }

    // MARK: - Enqueue

    /// The job of `path` when it was already hashed with this size and mtime (a rescan can then skip hashing).
    public func knownJob(path: String, size: Int, mtime: Double) throws(PipelineError) -> Job? {
        try read { tx in
            try tx.row(
                """
                SELECT job.* FROM seen_path JOIN job ON job.sha256 = seen_path.sha256
                WHERE seen_path.path = ? AND seen_path.size = ? AND seen_path.mtime = ?
                """, path, size, mtime
            ).map(Job.init(row:))
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
        try write { tx in
            try tx.lock(Self.patientLock(identity.patient))
            try tx.execute(
                """
                INSERT INTO seen_path (path, size, mtime, sha256) VALUES (?, ?, ?, ?)
                ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, sha256 = excluded.sha256
                """, path, size, mtime, sha256)
            try tx.execute("DELETE FROM refused_file WHERE path = ?", path)
            if var existing = try Job.fetch(tx, sha256: sha256) {
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
                existing.stem = try Self.freeStem(tx, identity, sha256: sha256)
                existing.state = .queued
                existing.updatedAt = now
                try existing.save(tx)
                return .queued(existing)
            }
            let stem = try Self.freeStem(tx, identity, sha256: sha256)
            let job = Job(
                sha256: sha256, path: path, root: root, patient: identity.patient, cell: identity.cell, stem: stem,
                state: identity.kind == .karyogram ? .skipped : .queued, attempts: 0, lastError: nil, createdAt: now,
                updatedAt: now)
            try job.save(tx)
            return job.state == .skipped ? .skipped(job) : .queued(job)
        }
    }

    /// Points a queued job at the place its content is found now (the file was moved or renamed before it was
    /// processed), with that place's patient, cell and stem. A job no longer queued is returned unchanged.
    public func move(
        _ job: Job, to path: String, root: String?, identity: ImageIdentity, now: Date = Date()
    ) throws(PipelineError) -> Job {
        try write { tx in
            try tx.lock(Self.patientLock(identity.patient))
            guard var current = try Job.fetch(tx, sha256: job.sha256) else {
                throw PipelineError(.database, file: job.path, detail: "job vanished from the queue")
            }
            guard current.state == .queued else { return current }
            current.path = path
            current.root = root
            current.patient = identity.patient
            current.cell = identity.cell
            current.stem = try Self.freeStem(tx, identity, sha256: current.sha256)
            current.updatedAt = now
            try current.save(tx)
            return current
        }
    }

    /// The identity's stem, or `<stem>-<sha prefix>` when another image of the patient already has it.
    private static func freeStem(
        _ tx: any StateTransaction, _ identity: ImageIdentity, sha256: String
    ) throws -> String {
        let taken = try tx.row(
            "SELECT 1 AS taken FROM job WHERE patient = ? AND stem = ? AND sha256 != ?", identity.patient,
            identity.stem, sha256)
        guard taken != nil else { return identity.stem }
        // Shortened so that the stem with its suffix is still a safe name (SafeName.maxBytes).
        let suffix = "-" + sha256.prefix(12)
        var base = identity.stem
        while base.utf8.count + suffix.utf8.count > SafeName.maxBytes { base.removeLast() }
        return base + suffix
    }

    /// Records that `path` was refused (it could not be queued) for `error`. Returns false when this very refusal
    /// is already recorded (a rescan found the file unchanged), so that it is reported and quarantined once.
    public func recordRefused(path: String, error: String, now: Date = Date()) throws(PipelineError) -> Bool {
        try write { tx in
            if try tx.row("SELECT error FROM refused_file WHERE path = ?", path)?.string("error") == error {
                return false
            }
            try tx.execute(
                """
                INSERT INTO refused_file (path, error, refused_at) VALUES (?, ?, ?)
                ON CONFLICT (path) DO UPDATE SET error = excluded.error, refused_at = excluded.refused_at
                """, path, error, now)
            return true
        }
    }

    // MARK: - Processing

    /// Re-queues jobs whose process died holding them. At start-up (`atStartup`): every running job when the state
    /// is this process's alone, else those held by this node (a restart under the same name) or whose lease ran
    /// out; later, on a shared state, those whose lease ran out. Those
    /// that already used `maxAttempts` attempts are failed instead (a file that crashes the process must not crash
    /// it forever). A job that was only decoded ahead, waiting while another image was detected, gets its attempt
    /// back: the crash was not its doing. When one node held two or more jobs beyond those (an image decoding beside
    /// the one in detection, or several lanes), the crash cannot be pinned on one: each gets its attempt back and
    /// becomes a suspect that runs alone (see `claimNext`), so an innocent neighbour of a crashing file is never
    /// failed for it. Returns the jobs failed.
    public func recoverInterrupted(
        maxAttempts: Int, atStartup: Bool = true, now: Date = Date()
    ) throws(PipelineError) -> [Job] {
        let everything = atStartup && !database.isShared
        return try write { tx in
            let interrupted =
                "state = 'running' AND (? OR (? AND lease_owner = ?) OR lease_until IS NULL OR lease_until < ?)"
            let scope: [StateValue] = [.bool(everything), .bool(atStartup), .text(node), .date(now)]
            guard try tx.row("SELECT 1 AS found FROM job WHERE \(interrupted)", scope) != nil else { return [] }
            try tx.lock("recovery")
            try tx.execute(
                """
                UPDATE job SET attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, suspect = TRUE
                WHERE \(interrupted) AND NOT decoded_ahead AND COALESCE(lease_owner, '') IN (
                    SELECT COALESCE(lease_owner, '') FROM job WHERE \(interrupted) AND NOT decoded_ahead
                    GROUP BY COALESCE(lease_owner, '') HAVING COUNT(*) >= 2)
                """, scope + scope)
            try tx.execute(
                """
                UPDATE job SET attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, decoded_ahead = FALSE
                WHERE \(interrupted) AND decoded_ahead
                """, scope)
            let failed = try tx.rows(
                "SELECT sha256 FROM job WHERE \(interrupted) AND attempts >= ?", scope + [.int(maxAttempts)]
            )
            .map { try $0.string("sha256") }
            try tx.execute(
                """
                UPDATE job SET state = 'failed', suspect = FALSE, updated_at = ?, lease_owner = NULL, lease_until = NULL,
                    last_error = 'processing was interrupted ' || attempts || ' times (crash or kill)'
                WHERE \(interrupted) AND attempts >= ?
                """, [.date(now)] + scope + [.int(maxAttempts)])
            try tx.execute(
                """
                UPDATE job SET state = 'queued', updated_at = ?, lease_owner = NULL, lease_until = NULL
                WHERE \(interrupted)
                """, [.date(now)] + scope)
            return try failed.map { sha in try Job.fetch(tx, sha256: sha)! }
        }
    }

    /// Takes the oldest queued job whose retry wait is over: marks it running under this node's lease and counts the
    /// attempt. Nil when no job can be claimed at `now`: none is due, a suspect is running on this node (it runs
    /// alone), or the oldest due job is a suspect and this node holds another job (it waits until it holds none).
    /// Jobs other nodes are claiming at the same moment are skipped, not waited for.
    public func claimNext(now: Date = Date()) throws(PipelineError) -> Job? {
        try write { tx in
            let held = try tx.rows(
                "SELECT suspect FROM job WHERE state = 'running' AND lease_owner = ?", node
            ).map { try $0.bool("suspect") }
            if held.contains(true) { return nil }
            guard
                var job = try tx.row(
                    """
                    SELECT * FROM job WHERE state = 'queued' AND (not_before IS NULL OR not_before <= ?)
                    ORDER BY created_at, sha256 LIMIT 1 \(tx.claimLock)
                    """, now
                ).map(Job.init(row:))
            else { return nil }
            if job.suspect, !held.isEmpty { return nil }
            job.state = .running
            job.attempts += 1
            job.notBefore = nil
            job.decodedAhead = false
            job.updatedAt = now
            job.leaseOwner = node
            job.leaseUntil = now.addingTimeInterval(leaseDuration)
            try job.save(tx)
            return job
        }
    }

    /// Extends this node's lease on the jobs it holds (`sha256s`); a job it no longer holds is left alone. Records
    /// the node's heartbeat in the same transaction.
    public func renewLeases(_ sha256s: [String], now: Date = Date()) throws(PipelineError) {
        try write { tx in
            for sha256 in sha256s {
                try tx.execute(
                    "UPDATE job SET lease_until = ? WHERE sha256 = ? AND state = 'running' AND lease_owner = ?",
                    now.addingTimeInterval(leaseDuration), sha256, node)
            }
            try tx.execute("UPDATE node SET heartbeat_at = ? WHERE name = ?", now, node)
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
        try write { tx in
            try tx.execute(
                "UPDATE job SET decoded_ahead = ? WHERE sha256 = ? AND state = 'running' AND lease_owner = ?",
                decodedAhead, job.sha256, node)
        }
    }

    /// Puts a running job back without counting the attempt (graceful stop before it was processed).
    public func release(_ job: Job, now: Date = Date()) throws(PipelineError) {
        try write { tx in
            try tx.execute(
                """
                UPDATE job SET state = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                    decoded_ahead = FALSE, updated_at = ?, lease_owner = NULL, lease_until = NULL
                WHERE sha256 = ? AND state = 'running' AND lease_owner = ?
                """, now, job.sha256, node)
        }
    }

    /// Records a failure: while attempts remain and the failure is not permanent the job is re-queued, to be claimed
    /// no earlier than the policy's wait after this attempt; else it is failed. A job this node no longer holds
    /// (its lease ran out and another node took it) is returned as it stands, unchanged.
    public func fail(
        _ job: Job, failure: StageFailure, policy: RetryPolicy, now: Date = Date()
    ) throws(PipelineError) -> FailureOutcome {
        try write { tx in
            guard var current = try Job.fetch(tx, sha256: job.sha256) else {
                throw PipelineError(.database, file: job.path, detail: "job vanished from the queue")
            }
            guard current.state == .running, current.leaseOwner == node else {
                return current.state == .failed ? .failed(current) : .requeued(current)
            }
            current.lastError = failure.description
            current.failure = failure
            current.updatedAt = now
            current.decodedAhead = false
            current.suspect = false
            current.leaseOwner = nil
            current.leaseUntil = nil
            if failure.isPermanent || current.attempts >= policy.maxAttempts {
                current.state = .failed
                current.notBefore = nil
            } else {
                current.state = .queued
                current.notBefore = now.addingTimeInterval(policy.delay(afterAttempt: current.attempts))
            }
            try current.save(tx)
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
    /// stand for it in the tally, and recomputes the patient's aggregate, in one transaction. The result is keyed by
    /// the image's content: an image counted twice (a lease that ran out while its node was still at work) has one
    /// result and one place in the tally.
    public func markDone(
        _ job: Job, result: ResultIndexEntry, settings: AggregatorSettings, now: Date = Date()
    ) throws(PipelineError) -> Completion {
        try write { tx in
            try tx.lock(Self.patientLock(result.patient))
            try result.save(tx)
            let superseded = try Self.supersedeOlderExports(tx, of: result)
            try tx.execute(
                """
                UPDATE job SET state = 'done', last_error = NULL, failure = NULL, decoded_ahead = FALSE,
                    suspect = FALSE, updated_at = ?, lease_owner = NULL, lease_until = NULL
                WHERE sha256 = ?
                """, now, job.sha256)
            try tx.execute("UPDATE node SET processed = processed + 1 WHERE name = ?", node)
            let update = try Self.updatePatient(tx, patient: result.patient, settings: settings, now: now)
            return Completion(report: update.report, flagRaised: update.flagRaised, superseded: superseded)
        }
    }

    /// Among the results of `result`'s cell (same patient and name stem), the one whose job was queued last stands;
    /// the others point at it. Returns the results newly superseded.
    private static func supersedeOlderExports(
        _ tx: any StateTransaction, of result: ResultIndexEntry
    ) throws -> [ResultIndexEntry] {
        let nameStem = result.nameStem ?? result.stem
        let exports = try tx.rows(
            """
            SELECT result.* FROM result JOIN job ON job.sha256 = result.sha256
            WHERE result.patient = ? AND COALESCE(result.name_stem, result.stem) = ?
            ORDER BY job.created_at DESC, job.sha256 DESC
            """, result.patient, nameStem
        ).map(ResultIndexEntry.init(row:))
        guard let newest = exports.first else { return [] }
        var changed: [ResultIndexEntry] = []
        for var older in exports.dropFirst() where older.supersededBy != newest.sha256 {
            older.supersededBy = newest.sha256
            try older.save(tx)
            changed.append(older)
        }
        if newest.supersededBy != nil {
            try tx.execute("UPDATE result SET superseded_by = NULL WHERE sha256 = ?", newest.sha256)
        }
        return changed
    }

    /// Recomputes every patient's aggregate with `settings` (the thresholds may have changed since the results were
    /// counted) and stores those that differ, each as a new version for patient.json. Returns the changed ones.
    public func reevaluatePatients(
        settings: AggregatorSettings, now: Date = Date()
    ) throws(PipelineError) -> [(report: PatientReport, flagRaised: Bool)] {
        try write { tx in
            var changed: [(report: PatientReport, flagRaised: Bool)] = []
            for name in try tx.rows("SELECT patient FROM patient ORDER BY patient").map({ try $0.string("patient") }) {
                try tx.lock(Self.patientLock(name))
                guard let row = try tx.row("SELECT * FROM patient WHERE patient = ?", name) else { continue }
                let stored = try Self.patientRow(row)
                let report = try Self.computeReport(tx, patient: name, settings: settings)
                if report != stored.report {
                    changed.append(try Self.storeReport(tx, report, patient: name, now: now))
                }
            }
            return changed
        }
    }

    /// Recomputes a patient's aggregate from its results and stores it; the caller holds the patient's lock.
    static func updatePatient(
        _ tx: any StateTransaction, patient: String, settings: AggregatorSettings, now: Date
    ) throws -> (report: PatientReport, flagRaised: Bool) {
        try storeReport(tx, try computeReport(tx, patient: patient, settings: settings), patient: patient, now: now)
    }

    private static func computeReport(
        _ tx: any StateTransaction, patient: String, settings: AggregatorSettings
    ) throws -> PatientReport {
        let reviewed = try ReviewLedger.latestReviewedCounts(tx, patient: patient)
        let images = try tx.rows("SELECT * FROM result WHERE patient = ? AND superseded_by IS NULL", patient)
            .map(ResultIndexEntry.init(row:))
            .map { $0.imageCount(reviewedCount: reviewed[$0.sha256]) }
        return PatientAggregator.report(patient: patient, images: images, settings: settings)
    }

    /// Stores `report` as the patient's next version; says whether it raised the flag for the first time.
    private static func storeReport(
        _ tx: any StateTransaction, _ report: PatientReport, patient: String, now: Date
    ) throws -> (report: PatientReport, flagRaised: Bool) {
        let previous = try tx.row("SELECT flagged, flag_raised_at FROM patient WHERE patient = ?", patient)
        let wasFlagged = try previous?.bool("flagged") ?? false
        let raisedAt = try previous?.optionalDate("flag_raised_at")
        let flagRaised = report.isFlagged && !wasFlagged
        let json = String(decoding: try KaryoJSON.encode(report), as: UTF8.self)
        try tx.execute(
            """
            INSERT INTO patient (patient, report, flagged, flag_raised_at, updated_at, version)
            VALUES (?, ?, ?, ?, ?, 1)
            ON CONFLICT (patient) DO UPDATE SET report = excluded.report, flagged = excluded.flagged,
                flag_raised_at = excluded.flag_raised_at, updated_at = excluded.updated_at,
                version = patient.version + 1
            """, patient, json, report.isFlagged, flagRaised ? now : raisedAt, now)
        return (report, flagRaised)
    }

    /// Hands a patient's stored aggregate to `write` (which writes patient.json) and records that version written,
    /// holding the patient's lock throughout: when two nodes write one patient's file, the later writer writes the
    /// later version. Nothing happens for a patient with no aggregate.
    public func writePatient(_ name: String, with write: (PatientRow) throws -> Void) throws(PipelineError) {
        try self.write { tx in
            try tx.lock(Self.patientLock(name))
            guard let row = try tx.row("SELECT * FROM patient WHERE patient = ?", name) else { return }
            try write(try Self.patientRow(row))
            try tx.execute("UPDATE patient SET written_version = version WHERE patient = ?", name)
        }
    }

    /// The lock a transaction holds while it changes, or writes the file of, one patient.
    static func patientLock(_ patient: String) -> String { "patient:" + patient }

    /// Patients whose patient.json lags behind the database (a crash between commit and file write).
    public func patientsNeedingWrite() throws(PipelineError) -> [(row: PatientRow, version: Int)] {
        try read { tx in
            try tx.rows("SELECT * FROM patient WHERE version > written_version ORDER BY patient")
                .map { (try Self.patientRow($0), try $0.int("version")) }
        }
    }

    // MARK: - Nodes

    /// Records this node as started now with `roles` (its count of processed images starts again at zero).
    public func registerNode(roles: NodeRoles, now: Date = Date()) throws(PipelineError) {
        try write { tx in
            try tx.execute(
                """
                INSERT INTO node (name, roles, pid, started_at, heartbeat_at, processed) VALUES (?, ?, ?, ?, ?, 0)
                ON CONFLICT (name) DO UPDATE SET roles = excluded.roles, pid = excluded.pid,
                    started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, processed = 0
                """, node, roles.name, Int(getpid()), now, now)
        }
    }

    /// Every node that registered, with what it holds now, by name.
    public func nodes() throws(PipelineError) -> [NodeStatus] {
        try read { tx in
            let held = try tx.rows(
                "SELECT lease_owner, stem FROM job WHERE state = 'running' AND lease_owner IS NOT NULL ORDER BY stem")
            var holding: [String: [String]] = [:]
            for row in held { holding[try row.string("lease_owner"), default: []].append(try row.string("stem")) }
            return try tx.rows("SELECT * FROM node ORDER BY name").map { row in
                let name = try row.string("name")
                return NodeStatus(
                    name: name, roles: try row.string("roles"), pid: try row.int("pid"),
                    startedAt: try row.date("started_at"), heartbeatAt: try row.date("heartbeat_at"),
                    processed: try row.int("processed"), holding: holding[name] ?? [])
            }
        }
    }

    // MARK: - Reading

    /// Paths other than `path` where the same content was found (copies under other names), sorted.
    public func otherPaths(sha256: String, except path: String) throws(PipelineError) -> [String] {
        try read { tx in
            try tx.rows("SELECT path FROM seen_path WHERE sha256 = ? AND path != ? ORDER BY path", sha256, path)
                .map { try $0.string("path") }
        }
    }

    /// A job by its content hash.
    public func job(sha256: String) throws(PipelineError) -> Job? {
        try read { tx in try Job.fetch(tx, sha256: sha256) }
    }

    /// All jobs, oldest first (tests and tools).
    public func allJobs() throws(PipelineError) -> [Job] {
        try read { tx in try tx.rows("SELECT * FROM job ORDER BY created_at, sha256").map(Job.init(row:)) }
    }

    /// Per-state counts and the last `errorLimit` failures.
    public func status(errorLimit: Int = 5) throws(PipelineError) -> QueueStatus {
        try read { tx in
            var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
            for row in try tx.rows("SELECT state, COUNT(*) AS n FROM job GROUP BY state") {
                if let state = JobState(rawValue: try row.string("state")) { counts[state] = try row.int("n") }
            }
            let errors = try tx.rows(
                "SELECT * FROM job WHERE state = 'failed' ORDER BY updated_at DESC LIMIT ?", errorLimit
            ).map(Job.init(row:))
            let refused = try tx.row("SELECT COUNT(*) AS n FROM refused_file")?.int("n") ?? 0
            let lastRefused = try tx.rows(
                "SELECT * FROM refused_file ORDER BY refused_at DESC, path LIMIT ?", errorLimit
            ).map(RefusedFile.init(row:))
            return QueueStatus(counts: counts, lastErrors: errors, refused: refused, lastRefused: lastRefused)
        }
    }

    /// Every patient's stored aggregate, sorted by name.
    public func patients() throws(PipelineError) -> [PatientRow] {
        try read { tx in try tx.rows("SELECT * FROM patient ORDER BY patient").map(Self.patientRow) }
    }

    /// One patient's stored aggregate.
    public func patient(_ name: String) throws(PipelineError) -> PatientRow? {
        try read { tx in try tx.row("SELECT * FROM patient WHERE patient = ?", name).map(Self.patientRow) }
    }

    /// Results processed on `day` (`YYYY-MM-DD`, UTC), sorted by patient and stem.
    public func results(onDay day: String) throws(PipelineError) -> [ResultIndexEntry] {
        try read { tx in
            try tx.rows("SELECT * FROM result WHERE processed_day = ? ORDER BY patient, stem", day)
                .map(ResultIndexEntry.init(row:))
        }
    }

    /// Jobs that failed on `day` (`YYYY-MM-DD`, UTC of their last update), sorted by path.
    public func failures(onDay day: String) throws(PipelineError) -> [Job] {
        try read { tx in
            try tx.rows("SELECT * FROM job WHERE state = 'failed' ORDER BY path").map(Job.init(row:))
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

    static func patientRow(_ row: StateRow) throws -> PatientRow {
        PatientRow(
            patient: try row.string("patient"),
            report: try KaryoJSON.decode(PatientReport.self, from: Data(try row.string("report").utf8)),
            flagRaisedAt: try row.optionalDate("flag_raised_at"), updatedAt: try row.date("updated_at"))
    }

    // MARK: - Typed-error wrappers

    func read<T>(_ body: (any StateTransaction) throws -> T) throws(PipelineError) -> T {
        try mapErrors { try database.read(body) }
    }

    @discardableResult
    func write<T>(_ body: (any StateTransaction) throws -> T) throws(PipelineError) -> T {
        try mapErrors { try database.write(body) }
    }

    private func mapErrors<T>(_ body: () throws -> T) throws(PipelineError) -> T {
        do {
            return try body()
        } catch let e as PipelineError {
            throw e
        } catch {
            throw PipelineError(.database, file: database.location, detail: "\(error)")
        }
    }
}
