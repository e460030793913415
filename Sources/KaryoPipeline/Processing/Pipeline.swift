import Dispatch
import Foundation
import KaryoDetect
import KaryoImage
import KaryoNet
import KaryoSupport
import Logging
import Synchronization

/// Tells workers to stop: the image being detected is finished, an image decoded ahead is put back in the queue.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    /// Requests a graceful stop (safe from any thread or signal-handling task).
    public func stop() { flag.store(true, ordering: .sequentiallyConsistent) }

    /// Whether a stop was requested.
    public var isStopped: Bool { flag.load(ordering: .sequentiallyConsistent) }
}

/// What a processing run did.
public struct RunSummary: Sendable, Equatable {
    /// Images counted, results written.
    public var done = 0
    /// Images failed for good (quarantined).
    public var failed = 0
    /// Failures put back for another attempt.
    public var retried = 0
    /// Jobs put back unprocessed because of a stop.
    public var released = 0

    public init() {}

    static func + (a: RunSummary, b: RunSummary) -> RunSummary {
        var s = a
        s.done += b.done
        s.failed += b.failed
        s.retried += b.retried
        s.released += b.released
        return s
    }
}

/// The daemon's processing core: queue files, process them (decode of the next image overlapping detection of the
/// current one), write results, keep patient aggregates, quarantine failures.
///
/// Typical use by `karyocount watch`:
/// ```swift
/// let pipeline = try Pipeline(config: config, detector: detector, logger: logger)  // recovers after a crash
/// try pipeline.enqueue(file, root: root)          // from the watcher, any thread
/// await pipeline.run(until: stop)                  // workers; returns after stop.stop()
/// ```
public final class Pipeline: Sendable {
    public let config: KaryoConfig
    public let queue: JobQueue
    public let processor: ImageProcessor
    let mapper: PatientMapper
    let quarantine: Quarantine
    let logger: Logger
    private let patientFileLock = Mutex(())
    /// Held on a SQLite state, which one process uses at a time; a shared state needs none.
    private let stateLock: StateLock?
    /// The jobs this process's lanes hold now: their leases are renewed until they are done, failed or put back.
    private let inHand = Mutex(Set<String>())
    private let lastBeat = Mutex(ContinuousClock.now)
    /// The chromosome width measured on each counted image (by content), read once from its result JSON.
    private let imageWidths = Mutex([String: Double]())

    /// Opens the queue under `state_dir`, re-queues jobs a crash left running (quarantining those that used all
    /// attempts), removes temp files interrupted writes left under results/ and quarantine/, re-evaluates every
    /// patient with the configured thresholds, and rewrites any patient.json that lags behind the database (a crash,
    /// or thresholds changed since). On SQLite, one Pipeline per `state_dir` at a time: a second one throws
    /// (`StateLock`); on a shared state, each node recovers only what it held itself or what nobody holds any more.
    public init(config: KaryoConfig, detector: any Detector, logger: Logger) throws(PipelineError) {
        self.config = config
        self.logger = logger
        stateLock = config.state.isShared ? nil : try StateLock(directory: config.stateDir)
        queue = try config.openQueue()
        processor = ImageProcessor(detector: detector, options: ProcessingOptions(config, detector: detector))
        mapper = try PatientMapper(pattern: config.patientPattern)
        quarantine = Quarantine(folder: config.quarantineRoot)
        try queue.registerNode(roles: config.state.nodeRoles)
        try recover()
    }

    private func recover() throws(PipelineError) {
        removeInterruptedWrites()
        quarantineInterrupted(try queue.recoverInterrupted(maxAttempts: config.maxAttempts))
        for (report, flagRaised) in try queue.reevaluatePatients(settings: AggregatorSettings(config)) {
            logger.notice(
                "patient re-evaluated with the configured thresholds",
                metadata: ["patient": "\(report.patient)", "distribution": "\(report.distribution)"])
            if flagRaised, let flag = report.flag {
                logger.warning(
                    "patient flagged \(flag.name): \(flag.reason)",
                    metadata: ["patient": "\(report.patient)", "distribution": "\(report.distribution)"])
            }
        }
        for (row, _) in try queue.patientsNeedingWrite() {
            writePatientFile(row.patient)
        }
    }

    /// Removes the temp files of writes a kill interrupted under results/ and quarantine/ (never visible under a
    /// final name, but not to be left lying around): every one on a state this process has alone; on a shared state
    /// those older than half the lease, as another node's write in flight is younger and a dead node's writes are
    /// older by the time its lease has run out.
    private func removeInterruptedWrites() {
        let age = config.state.isShared ? queue.leaseDuration / 2 : 0
        AtomicFile.removeStaleTemps(in: config.quarantineRoot, olderThan: age)
        let patientFolders = (try? FileManager.default.contentsOfDirectory(atPath: config.resultsRoot.path)) ?? []
        for name in patientFolders {
            AtomicFile.removeStaleTemps(in: config.resultsRoot.appending(path: name), olderThan: age)
        }
    }

    /// Quarantines the jobs recovery failed: each was in hand at every one of its interruptions.
    private func quarantineInterrupted(_ jobs: [Job]) {
        for job in jobs {
            let failure = StageFailure(
                stage: .interrupted,
                error: PipelineError(
                    .detectFailed, file: job.path, detail: job.lastError ?? "processing was interrupted"))
            logger.error(
                "input failed: it was in hand at every crash",
                metadata: ["file": "\(job.path)", "attempts": "\(job.attempts)"])
            do {
                try quarantine.add(
                    source: URL(filePath: job.path), root: job.root.map { URL(filePath: $0) }, sha256: job.sha256,
                    failure: failure, attempts: job.attempts)
            } catch {
                logger.error("cannot write to the quarantine", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: - Enqueue

    /// Records `file`, found under watch root `root` (the daemon always passes the root; nil skips the check and is
    /// meant for files a person named explicitly):
    /// hashes it, maps its patient, and queues it, records a karyogram as skipped, or returns the existing job of the
    /// same content. A path already hashed with the same size and mtime is not read again.
    ///
    /// Bad input is quarantined (an error JSON naming the file and the cause, beside a copy when it can be read),
    /// logged, and listed by `status`: a file that cannot be queued (outside the root once symlinks are resolved, not
    /// a regular file, unreadable, too large), whose error is then thrown (`concernsInput`), and a file whose content
    /// already failed as bad input (`sameAsFailed`). A file gone since it was announced is only logged and thrown.
    @discardableResult
    public func enqueue(_ file: URL, root: URL?) throws(PipelineError) -> EnqueueOutcome {
        let fp: InputFile.Fingerprint
        let data: Data
        do {
            fp = try InputFile.fingerprint(file, root: root)
            if let job = try queue.knownJob(path: file.path, size: fp.size, mtime: fp.mtime) { return .duplicate(job) }
            data = try InputFile.read(file, root: root)
        } catch {
            if error.concernsInput {
                refuse(file, root: root, sha256: nil, failure: StageFailure(stage: .read, error: error))
            }
            throw error
        }
        let sha = sha256Hex(of: data)
        let identity = mapper.identify(file, root: root)
        let outcome = try queue.enqueue(
            sha256: sha, path: file.path, root: root?.path, identity: identity, size: fp.size, mtime: fp.mtime)
        if case .duplicate(let job) = outcome, job.state == .queued, job.path != file.path,
            identity.kind == .metaphase, !FileManager.default.fileExists(atPath: job.path)
        {
            // Moved or renamed before it was processed: read it, and file it, where it is now.
            let moved = try queue.move(job, to: file.path, root: root?.path, identity: identity)
            logger.info(
                "moved before it was processed; taken from its new place",
                metadata: ["file": "\(file.path)", "was": "\(job.path)", "patient": "\(moved.patient)"])
            return .duplicate(moved)
        }
        switch outcome {
        case .queued(let job):
            logger.debug("queued", metadata: ["file": "\(file.path)", "patient": "\(job.patient)"])
        case .skipped:
            logger.info("karyogram skipped, not counted", metadata: ["file": "\(file.path)"])
        case .duplicate(let job) where identity.kind == .metaphase && job.patient != identity.patient:
            // The same cell filed under two patients: one of the two is misfiled. It counts once, for the patient it
            // was first filed under; counting it for both would put a cell into the wrong patient's count.
            logger.warning(
                "same image already known under another patient, not counted for this one: check the filing",
                metadata: [
                    "file": "\(file.path)", "patient": "\(identity.patient)", "counted_for": "\(job.patient)",
                    "first_seen_as": "\(job.path)",
                ])
        case .duplicate(let job):
            logger.info(
                "same image already known, not counted again",
                metadata: ["file": "\(file.path)", "first_seen_as": "\(job.path)", "state": "\(job.state.rawValue)"])
        case .sameAsFailed(let job, let known):
            let failure = StageFailure(
                stage: known.stage,
                error: PipelineError(
                    known.error.code, file: file.path,
                    detail: "\(known.error.detail) (the same content as \(job.path), quarantined before)"))
            refuse(file, root: root, sha256: sha, failure: failure)
        }
        return outcome
    }

    /// Reports a file, or a folder, whose name is not valid UTF-8 (`path` shows such bytes as `\xNN`): it cannot be
    /// opened by name, so it is never counted; it is logged, listed by `status`, and quarantined with `content`
    /// (what the watcher could read by the raw name) once per path.
    public func refuseUndecodable(path: String, isFolder: Bool, content: Data?) {
        let what = isFolder ? "the folder name" : "the file name"
        let consequence = isFolder ? "nothing under it can be counted" : "it cannot be counted"
        let failure = StageFailure(
            stage: .read,
            error: PipelineError(
                .undecodableName, file: path,
                detail: "\(what) is not valid UTF-8 (bytes shown as \\xNN; a Latin-1 name from a Windows or CIFS "
                    + "share?): \(consequence); rename it in UTF-8, or mount the share with iocharset=utf8"))
        refuse(path: path, sha256: nil, failure: failure) { content }
    }

    /// Quarantines bad input that was not queued and records it for `status`, once per file and cause; a file that
    /// is gone (moved or deleted since it was announced) is not bad input and is only logged.
    private func refuse(_ file: URL, root: URL?, sha256: String?, failure: StageFailure) {
        refuse(path: file.path, sha256: sha256, failure: failure) { try? InputFile.read(file, root: root) }
    }

    /// `refuse` for the input at `path`, whose bytes `content` gives when they can be read.
    private func refuse(
        path: String, sha256: String?, failure: StageFailure, attempts: Int = 0, content: () -> Data?
    ) {
        guard failure.error.code != .missingInput else {
            logger.info("file gone before it could be queued", metadata: ["file": "\(path)"])
            return
        }
        do {
            guard try queue.recordRefused(path: path, error: failure.error.description) else {
                logger.debug("input still refused: \(failure)", metadata: ["file": "\(path)"])
                return
            }
            try quarantine.add(
                name: URL(filePath: path).lastPathComponent, file: path, data: content(), sha256: sha256,
                failure: failure, attempts: attempts)
            logger.error("input refused and quarantined: \(failure)", metadata: ["file": "\(path)"])
        } catch {
            logger.error("cannot quarantine a refused input", metadata: ["file": "\(path)", "error": "\(error)"])
        }
    }

    /// Queue depth, per-state counts and the last failures.
    public func status() throws(PipelineError) -> QueueStatus {
        try queue.status()
    }

    // MARK: - Processing

    /// Processes queued jobs with `workers` lanes until the queue is empty or `stop` is signalled.
    public func processPending(stop: StopSignal = StopSignal()) async -> RunSummary {
        await lanes(stop: stop, idlePoll: nil)
    }

    /// Processes jobs as they arrive until `stop` is signalled; polls the queue every `idlePoll` when idle.
    /// On stop, images being detected are finished and images decoded ahead are put back in the queue.
    public func run(until stop: StopSignal, idlePoll: Duration = .milliseconds(250)) async -> RunSummary {
        await lanes(stop: stop, idlePoll: idlePoll)
    }

    private func lanes(stop: StopSignal, idlePoll: Duration?) async -> RunSummary {
        let heartbeat = Task.detached { await self.heartbeat() }
        defer { heartbeat.cancel() }
        return await withTaskGroup(of: RunSummary.self) { group in
            for _ in 0..<max(1, config.workers) {
                group.addTask { await self.lane(stop: stop, idlePoll: idlePoll) }
            }
            return await group.reduce(RunSummary(), +)
        }
    }

    /// Until cancelled, three times per lease: records this node's heartbeat, renews the leases of the jobs in hand
    /// and, on a shared state, takes back the jobs of nodes whose leases ran out and once a lease removes the temp
    /// files of their interrupted writes. The counting lanes run it; a node that only watches runs it on its own.
    public func heartbeat() async {
        var beats = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(max(queue.leaseDuration / 3, 0.2)))
            if Task.isCancelled { return }
            lastBeat.withLock { $0 = .now }
            beats += 1
            let sweep = beats.isMultiple(of: 3)
            await runBlocking {
                do {
                    try self.queue.renewLeases(Array(self.inHand.withLock { $0 }))
                    if self.config.state.isShared {
                        self.quarantineInterrupted(
                            try self.queue.recoverInterrupted(maxAttempts: self.config.maxAttempts, atStartup: false))
                        // Once a lease: a node that died mid-write never comes back to remove its temp files.
                        if sweep { self.removeInterruptedWrites() }
                    }
                } catch {
                    self.logger.error("cannot renew the leases of the images in hand", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// When the heartbeat last ran (the daemon's watchdog checks it on a node that does not watch).
    public var lastHeartbeat: ContinuousClock.Instant { lastBeat.withLock { $0 } }

    /// A claimed job with its load (read, hash, decode) outcome.
    private struct Claimed: Sendable {
        var job: Job
        var loaded: Result<LoadedImage, StageFailure>
        /// Loaded while another image was detected, and so marked in the queue.
        var decodedAhead: Bool
    }

    /// One worker: while the current image is detected and written, the next is claimed and decoded.
    private func lane(stop: StopSignal, idlePoll: Duration?) async -> RunSummary {
        var summary = RunSummary()
        var pending: Task<Claimed?, Never>? = prefetch(ahead: false)
        // Set after a large image; acted on once its buffers are out of scope (the next turn of the loop).
        var releaseMemory = false
        defer { if releaseMemory { MemoryPolicy.releaseFreedMemory() } }
        while let task = pending {
            if releaseMemory {
                MemoryPolicy.releaseFreedMemory()
                releaseMemory = false
            }
            guard let claimed = await task.value else {
                pending = nil
                if stop.isStopped { break }
                guard let idlePoll else {
                    // The queue looked empty while the previous image was in hand; a failure of that image may have
                    // put it back since. Look once more now that nothing is in hand.
                    if let retry = await prefetch(ahead: false).value {
                        pending = Task { retry }
                        continue
                    }
                    break
                }
                try? await Task.sleep(for: idlePoll)
                if !stop.isStopped { pending = prefetch(ahead: false) }
                continue
            }
            if stop.isStopped {
                defer { inHand.withLock { _ = $0.remove(claimed.job.sha256) } }
                do {
                    try queue.release(claimed.job)
                    summary.released += 1
                } catch {
                    logger.error(
                        "cannot put a job back; it is re-queued at the next start", metadata: ["error": "\(error)"])
                }
                break
            }
            pending = prefetch(ahead: true)
            if case .success(let loaded) = claimed.loaded {
                releaseMemory = loaded.decoded.image.width * loaded.decoded.image.height > MemoryPolicy.largeImagePixels
            }
            summary = summary + (await runBlocking { self.complete(claimed) })
        }
        return summary
    }

    /// Claims and loads the next job; `ahead`: while another image is detected, so a crash in that detection does
    /// not charge this job an attempt once it is loaded.
    private func prefetch(ahead: Bool) -> Task<Claimed?, Never> {
        Task.detached {
            await runBlocking { () -> Claimed? in
                let job: Job
                do {
                    guard let next = try self.queue.claimNext() else { return nil }
                    job = next
                    self.inHand.withLock { _ = $0.insert(next.sha256) }
                } catch {
                    self.logger.error("cannot read the queue", metadata: ["error": "\(error)"])
                    return nil
                }
                let loaded = Result { () throws(StageFailure) -> LoadedImage in
                    try self.processor.load(
                        URL(filePath: job.path), root: job.root.map { URL(filePath: $0) }, expectedSHA256: job.sha256)
                }
                if ahead {
                    do {
                        try self.queue.markDecodedAhead(job)
                    } catch {
                        self.logger.error("cannot record a decoded-ahead job", metadata: ["error": "\(error)"])
                    }
                }
                return Claimed(job: job, loaded: loaded, decodedAhead: ahead)
            }
        }
    }

    /// Detects, writes, marks done and updates the patient; or records the failure.
    private func complete(_ claimed: Claimed) -> RunSummary {
        let job = claimed.job
        defer { inHand.withLock { _ = $0.remove(job.sha256) } }
        var summary = RunSummary()
        if claimed.decodedAhead {
            do {
                try queue.startDetection(job)
            } catch {
                logger.error("cannot record the start of a detection", metadata: ["error": "\(error)"])
            }
        }
        do throws(StageFailure) {
            let loaded = try claimed.loaded.get()
            let placement: ResultPlacement
            do {
                placement = try resultPlacement(for: job)
            } catch {
                throw StageFailure(stage: .write, error: error)
            }
            let record = try caseScaled(job, loaded.decoded.image).finish(
                loaded, placement: placement, reviewImages: true)
            let nameStem = mapper.identify(URL(filePath: job.path), root: job.root.map { URL(filePath: $0) }).stem
            let entry = ResultIndexEntry(
                sha256: job.sha256, patient: job.patient, cell: job.cell, stem: job.stem, count: record.count,
                confident: record.isConfident, detector: record.detector, resultPath: placement.jsonURL.path,
                processedAt: Date(), warnings: record.warnings, nameStem: nameStem)
            do {
                let update = try queue.markDone(job, result: entry, settings: AggregatorSettings(config))
                logger.info(
                    "counted",
                    metadata: [
                        "file": "\(job.path)", "patient": "\(job.patient)", "count": "\(record.count)",
                        "ms": "\(Int(record.timingMs["total"] ?? 0))",
                    ])
                if update.flagRaised, let flag = update.report.flag {
                    logger.warning(
                        "patient flagged \(flag.name): \(flag.reason)",
                        metadata: ["patient": "\(job.patient)", "distribution": "\(update.report.distribution)"])
                }
                for older in update.superseded { markSuperseded(older) }
                writePatientFile(job.patient)
                summary.done = 1
            } catch {
                throw StageFailure(stage: .write, error: error)
            }
        } catch {
            summary = recordFailure(job, failure: error)
        }
        return summary
    }

    /// The processor for `job`'s image: with `case_chromosome_width` (and no lab width), one that brings it to the
    /// working scale by the median of its own chromosome width and those of its patient's images counted before it;
    /// the first image of a patient keeps its own.
    private func caseScaled(_ job: Job, _ image: GrayImage) -> ImageProcessor {
        guard config.caseChromosomeWidth, CaseWidth.applies(to: processor) else { return processor }
        let earlier: [Double]
        do {
            earlier = try queue.results(patient: job.patient).filter { $0.sha256 != job.sha256 }.compactMap(imageWidth)
        } catch {
            logger.warning(
                "cannot read the patient's earlier widths; the image is scaled by its own",
                metadata: ["patient": "\(job.patient)", "error": "\(error)"])
            return processor
        }
        guard !earlier.isEmpty else { return processor }
        let own = CaseWidth.measure(image)
        return CaseWidth.processor(processor, caseWidths: earlier + (own.map { [$0] } ?? []), imageWidth: own)
    }

    /// The chromosome width measured on a counted image alone, from its result JSON; nil when it has none.
    private func imageWidth(_ entry: ResultIndexEntry) -> Double? {
        if let known = imageWidths.withLock({ $0[entry.sha256] }) { return known }
        let record = try? KaryoJSON.decode(ResultRecord.self, from: Data(contentsOf: URL(filePath: entry.resultPath)))
        guard let width = record?.workingScale?.imageWidth else { return nil }
        imageWidths.withLock { $0[entry.sha256] = width }
        return width
    }

    /// Quarantines first when the failure is final (a crash in between then only repeats the quarantine), then
    /// records it in the queue.
    private func recordFailure(_ job: Job, failure: StageFailure) -> RunSummary {
        var summary = RunSummary()
        let final = failure.isPermanent || job.attempts >= config.maxAttempts
        if final {
            do {
                try quarantine.add(
                    source: URL(filePath: job.path), root: job.root.map { URL(filePath: $0) }, sha256: job.sha256,
                    failure: failure, attempts: job.attempts)
            } catch {
                logger.error("cannot write to the quarantine", metadata: ["error": "\(error)"])
            }
            quarantineCopies(of: job, failure: failure)
        }
        do {
            switch try queue.fail(job, failure: failure, policy: RetryPolicy(config)) {
            case .failed:
                summary.failed = 1
                logger.error(
                    "input quarantined: \(failure)", metadata: ["file": "\(job.path)", "attempts": "\(job.attempts)"])
            case .requeued(let requeued):
                summary.retried = 1
                logger.warning(
                    "processing failed, will retry: \(failure)",
                    metadata: [
                        "file": "\(job.path)", "attempts": "\(job.attempts)",
                        "not_before": "\(requeued.notBefore.map(KaryoJSON.timestamp) ?? "now")",
                    ])
            }
        } catch {
            logger.error("cannot record a failure in the queue", metadata: ["error": "\(error)"])
        }
        return summary
    }

    /// Marks an older export's result JSON as replaced in the tally (the file stays, with `superseded_by`) and says so.
    private func markSuperseded(_ older: ResultIndexEntry) {
        let url = URL(filePath: older.resultPath)
        logger.notice(
            "a newer export of this cell replaces the earlier one in the tally",
            metadata: [
                "patient": "\(older.patient)", "cell": "\(older.nameStem ?? older.stem)",
                "replaced": "\(older.stem)", "by": "\(older.supersededBy ?? "")",
            ])
        do {
            var record = try KaryoJSON.decode(ResultRecord.self, from: try Data(contentsOf: url))
            record.supersededBy = older.supersededBy
            try AtomicFile.write(try KaryoJSON.encode(record), to: url)
        } catch {
            logger.error("cannot mark a replaced result", metadata: ["file": "\(url.path)", "error": "\(error)"])
        }
    }

    /// Copies of a failed job's content found under other names while it was queued: each gets its own record in
    /// the quarantine, so no dropped file is left without a word.
    private func quarantineCopies(of job: Job, failure: StageFailure) {
        let others: [String]
        do {
            others = try queue.otherPaths(sha256: job.sha256, except: job.path)
        } catch {
            logger.error("cannot look up copies of a failed input", metadata: ["error": "\(error)"])
            return
        }
        for path in others where FileManager.default.fileExists(atPath: path) {
            let url = URL(filePath: path)
            let copyFailure = StageFailure(
                stage: failure.stage,
                error: PipelineError(
                    failure.error.code, file: path,
                    detail: "\(failure.error.detail) (the same content as \(job.path))"))
            let root = config.watchRoots.first { KaryoConfig.isSameOrInside(url, $0) }
            refuse(path: path, sha256: job.sha256, failure: copyFailure, attempts: job.attempts) {
                try? InputFile.read(url, root: root)
            }
        }
    }

    /// `results/<patient>/` names for a job.
    public func resultPlacement(for job: Job) throws(PipelineError) -> ResultPlacement {
        let folder = try SafeName.join(config.resultsRoot, job.patient)
        _ = try SafeName.join(folder, job.stem)
        return ResultPlacement(folder: folder, patient: job.patient, cell: job.cell, stem: job.stem)
    }

    /// Writes the latest stored aggregate to `results/<patient>/patient.json` (atomically, one writer at a time, on
    /// a shared state across nodes too).
    public func writePatientFile(_ patient: String) {
        patientFileLock.withLock { _ in
            do {
                let url = try SafeName.join(config.resultsRoot, patient, "patient.json")
                try queue.writePatient(patient) { row in try AtomicFile.write(try KaryoJSON.encode(row.report), to: url)
                }
            } catch {
                logger.error(
                    "cannot write patient.json; it is rewritten at the next start",
                    metadata: ["patient": "\(patient)", "error": "\(error)"])
            }
        }
    }
}

/// Runs blocking work (decoding, detection, SQLite) on a dispatch thread, keeping Swift's cooperative pool free.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: body()) }
    }
}
