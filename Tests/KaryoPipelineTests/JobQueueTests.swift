import Foundation
import GRDB
import KaryoTestSupport
import Synchronization
import Testing

@testable import KaryoPipeline

@Suite("Job queue")
struct JobQueueTests {
    let dir = TempDir()
    var db: URL { dir.path("state/karyocount.sqlite") }

    /// Retries without a wait, for tests about the attempts cap.
    private static func noWait(_ maxAttempts: Int) -> RetryPolicy {
        RetryPolicy(maxAttempts: maxAttempts, delaysSeconds: [0])
    }

    private func failure(_ detail: String, _ code: PipelineError.Code = .writeFailed, stage: Stage = .write)
        -> StageFailure
    {
        StageFailure(stage: stage, error: PipelineError(code, file: "/a.png", detail: detail))
    }

    private func identity(_ patient: String = "P1", _ stem: String = "P1.001.O", kind: ImageIdentity.Kind = .metaphase)
        -> ImageIdentity
    {
        ImageIdentity(patient: patient, cell: "001", stem: stem, kind: kind)
    }

    @Test("the same bytes dropped twice make one job", arguments: TestStateBackend.allCases)
    func sameBytesTwice(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        let first = try q.enqueue(
            sha256: "aa", path: "/drop/a.png", root: "/drop", identity: identity(), size: 1, mtime: 1)
        let second = try q.enqueue(
            sha256: "aa", path: "/drop/a.png", root: "/drop", identity: identity(), size: 1, mtime: 2)
        guard case .queued = first, case .duplicate = second else {
            Issue.record("expected queued then duplicate, got \(first), \(second)")
            return
        }
        #expect(try q.allJobs().count == 1)
    }

    @Test("a renamed copy of a known image is the same job", arguments: TestStateBackend.allCases)
    func renamed(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        _ = try q.enqueue(sha256: "aa", path: "/drop/a.png", root: "/drop", identity: identity(), size: 1, mtime: 1)
        let again = try q.enqueue(
            sha256: "aa", path: "/drop/b/renamed.png", root: "/drop", identity: identity("b", "renamed"), size: 1,
            mtime: 1)
        guard case .duplicate(let job) = again else {
            Issue.record("expected duplicate, got \(again)")
            return
        }
        #expect(job.path == "/drop/a.png")
        #expect(try q.allJobs().map(\.path) == ["/drop/a.png"])
        #expect(try q.knownJob(path: "/drop/b/renamed.png", size: 1, mtime: 1)?.sha256 == "aa")
        #expect(try q.knownJob(path: "/drop/b/renamed.png", size: 2, mtime: 1) == nil)
    }

    @Test("karyograms are recorded as skipped and never claimed", arguments: TestStateBackend.allCases)
    func karyogramSkipped(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        let outcome = try q.enqueue(
            sha256: "kk", path: "/drop/P1.001.K.tif", root: nil, identity: identity(kind: .karyogram), size: 1,
            mtime: 1)
        guard case .skipped(let job) = outcome else {
            Issue.record("expected skipped, got \(outcome)")
            return
        }
        #expect(job.state == .skipped)
        #expect(try q.claimNext() == nil)
    }

    @Test(
        "bytes first seen under a karyogram name are counted when they arrive under a metaphase name",
        arguments: TestStateBackend.allCases)
    func karyogramThenMetaphase(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        _ = try q.enqueue(
            sha256: "kk", path: "/drop/P1.001.K.png", root: nil, identity: identity(kind: .karyogram), size: 1,
            mtime: 1)
        let again = try q.enqueue(
            sha256: "kk", path: "/drop/P1.001.O.png", root: nil, identity: identity(), size: 1, mtime: 1)
        #expect(again.job.state == .queued && again.job.path == "/drop/P1.001.O.png")
        #expect(try q.claimNext()?.sha256 == "kk")
    }

    @Test("a different image with a taken stem gets a distinct stem", arguments: TestStateBackend.allCases)
    func stemCollision(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        _ = try q.enqueue(sha256: "aa", path: "/drop/x/a.png", root: nil, identity: identity(), size: 1, mtime: 1)
        let b = try q.enqueue(
            sha256: "bbbbbbbbbbbbbbbbbbbb", path: "/drop/y/a.png", root: nil, identity: identity(), size: 1, mtime: 1)
        guard case .queued(let job) = b else {
            Issue.record("expected queued")
            return
        }
        #expect(job.stem == "P1.001.O-bbbbbbbbbbbb")
    }

    @Test(
        "a taken stem of the longest safe length gets a distinct stem that is still a safe name",
        arguments: TestStateBackend.allCases)
    func longStemCollision(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        let long = String(repeating: "é", count: 55) + "P1.001.O.x"  // 120 UTF-8 bytes
        #expect(long.utf8.count == SafeName.maxBytes && SafeName.component(long) == long)
        _ = try q.enqueue(sha256: "aa", path: "/x/a.png", root: nil, identity: identity("P1", long), size: 1, mtime: 1)
        let b = try q.enqueue(
            sha256: "bbbbbbbbbbbbbbbbbbbb", path: "/y/a.png", root: nil, identity: identity("P1", long), size: 1,
            mtime: 1)
        guard case .queued(let job) = b else {
            Issue.record("expected queued")
            return
        }
        #expect(job.stem != long && job.stem.hasSuffix("-bbbbbbbbbbbb"))
        #expect(job.stem.utf8.count <= SafeName.maxBytes && SafeName.component(job.stem) == job.stem)
        #expect(throws: Never.self) { try SafeName.join(dir.url, "P1", job.stem) }
    }

    @Test("a job left running by a crash is queued again when the queue reopens", arguments: TestStateBackend.allCases)
    func crashRecovery(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        do {
            let q = try state.queue()
            _ = try q.enqueue(sha256: "aa", path: "/a.png", root: nil, identity: identity(), size: 1, mtime: 1)
            let claimed = try q.claimNext()
            #expect(claimed?.state == .running)
        }
        let reopened = try state.queue()
        #expect(try reopened.job(sha256: "aa")?.state == .running)
        let failed = try reopened.recoverInterrupted(maxAttempts: 3)
        #expect(failed.isEmpty)
        let job = try reopened.job(sha256: "aa")
        #expect(job?.state == .queued)
        #expect(job?.attempts == 1)
    }

    @Test(
        "a job that keeps crashing the process is failed once it used its attempts",
        arguments: TestStateBackend.allCases)
    func crashLoopFails(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        _ = try q.enqueue(sha256: "aa", path: "/a.png", root: nil, identity: identity(), size: 1, mtime: 1)
        _ = try q.claimNext()
        #expect(try q.recoverInterrupted(maxAttempts: 2).isEmpty)
        _ = try q.claimNext()
        let failed = try q.recoverInterrupted(maxAttempts: 2)
        #expect(failed.map(\.state) == [.failed])
        #expect(failed.first?.lastError?.contains("interrupted") == true)
    }

    @Test(
        "failures are retried until the attempts cap, permanent ones fail at once", arguments: TestStateBackend.allCases
    )
    func attemptsCap(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        _ = try q.enqueue(sha256: "aa", path: "/a.png", root: nil, identity: identity(), size: 1, mtime: 1)
        for attempt in 1...3 {
            let job = try #require(try q.claimNext())
            #expect(job.attempts == attempt)
            let outcome = try q.fail(job, failure: failure("disk full"), policy: Self.noWait(3))
            #expect(outcome.job.state == (attempt < 3 ? .queued : .failed))
            #expect(outcome.job.lastError == "write stage: write failed: disk full")
        }
        _ = try q.enqueue(sha256: "bb", path: "/b.png", root: nil, identity: identity("P2"), size: 1, mtime: 1)
        let b = try #require(try q.claimNext())
        let badMagic = failure("bad magic", .decodeFailed, stage: .decode)
        #expect(try q.fail(b, failure: badMagic, policy: Self.noWait(3)).job.state == .failed)
        let status = try q.status()
        #expect(status.counts[.failed] == 2)
        #expect(status.depth == 0)
        #expect(status.lastErrors.count == 2)
    }

    @Test("a graceful stop puts the job back without spending an attempt", arguments: TestStateBackend.allCases)
    func release(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        _ = try q.enqueue(sha256: "aa", path: "/a.png", root: nil, identity: identity(), size: 1, mtime: 1)
        let job = try #require(try q.claimNext())
        try q.release(job)
        let after = try q.job(sha256: "aa")
        #expect(after?.state == .queued && after?.attempts == 0)
    }

    @Test(
        "marking done updates the patient aggregate in the same transaction, and the flag is raised once",
        arguments: TestStateBackend.allCases)
    func doneUpdatesPatient(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        let settings = AggregatorSettings(minImages: 2, minDisagreeing: 2, expectedCount: 46)
        var raised: [Bool] = []
        for i in 1...3 {
            let sha = "s\(i)"
            let id = ImageIdentity(patient: "P1", cell: "00\(i)", stem: "P1.00\(i).O", kind: .metaphase)
            _ = try q.enqueue(sha256: sha, path: "/\(i).png", root: nil, identity: id, size: 1, mtime: 1)
            let job = try #require(try q.claimNext())
            let entry = ResultIndexEntry(
                sha256: sha, patient: "P1", cell: id.cell, stem: id.stem, count: 47, confident: true,
                detector: "classical", resultPath: "/out/\(i).json", processedAt: Date())
            let done = try q.markDone(job, result: entry, settings: settings)
            #expect(done.report.imagesCounted == i)
            raised.append(done.flagRaised)
        }
        #expect(raised == [false, true, false])
        let row = try #require(try q.patient("P1"))
        #expect(row.report.flag?.reason == "3 of 3 images are not 46: 47 x 3")
        #expect(row.flagRaisedAt != nil)
        #expect(try q.patientsNeedingWrite().map(\.version) == [3])
        var written: [PatientReport] = []
        try q.writePatient("P1") { written.append($0.report) }
        #expect(written == [row.report])
        #expect(try q.patientsNeedingWrite().isEmpty)
        #expect(try q.results(onDay: JobQueue.day(of: Date())).count == 3)
        #expect(try q.status().counts[.done] == 3)
    }
}

@Suite("Job queue robustness")
struct JobQueueRobustnessTests {
    let dir = TempDir()
    var db: URL { dir.path("state/karyocount.sqlite") }
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    private func identity(_ stem: String = "P1.001.O") -> ImageIdentity {
        ImageIdentity(patient: "P1", cell: "001", stem: stem, kind: .metaphase)
    }

    private func result(for job: Job) -> ResultIndexEntry {
        ResultIndexEntry(
            sha256: job.sha256, patient: job.patient, cell: job.cell, stem: job.stem, count: 46, confident: true,
            detector: "classical", resultPath: "/out/\(job.stem).json", processedAt: Date())
    }

    private func diskFull() -> StageFailure {
        StageFailure(stage: .write, error: PipelineError(.writeFailed, file: "/a.png", detail: "disk full"))
    }

    @Test(
        "a failed attempt is not claimed again before its wait is over, and the wait grows with each failure",
        arguments: TestStateBackend.allCases)
    func retryBackoff(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        let policy = RetryPolicy(maxAttempts: 4, delaysSeconds: [30, 120])
        _ = try q.enqueue(sha256: "aa", path: "/a.png", root: nil, identity: identity(), size: 1, mtime: 1, now: t0)
        var now = t0
        for wait in [30.0, 120, 120] {
            let job = try #require(try q.claimNext(now: now))
            let outcome = try q.fail(job, failure: diskFull(), policy: policy, now: now)
            #expect(outcome.job.state == .queued && outcome.job.notBefore == now.addingTimeInterval(wait))
            #expect(try q.claimNext(now: now.addingTimeInterval(wait - 1)) == nil, "claimed \(wait - 1) s early")
            now = now.addingTimeInterval(wait)
        }
        let last = try #require(try q.claimNext(now: now))
        #expect(last.attempts == 4)
        #expect(try q.fail(last, failure: diskFull(), policy: policy, now: now).job.state == .failed)
    }

    @Test(
        "the same content dropped again after its job failed is queued afresh, read from the new path",
        arguments: TestStateBackend.allCases)
    func failedThenDroppedAgain(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        _ = try q.enqueue(sha256: "aa", path: "/drop/a.png", root: "/drop", identity: identity(), size: 1, mtime: 1)
        let job = try #require(try q.claimNext())
        let failed = try q.fail(job, failure: diskFull(), policy: RetryPolicy(maxAttempts: 1))
        #expect(failed.job.state == .failed)
        let again = try q.enqueue(
            sha256: "aa", path: "/drop/again/a.png", root: "/drop", identity: identity(), size: 1, mtime: 2)
        guard case .queued(let requeued) = again else {
            Issue.record("expected queued, got \(again)")
            return
        }
        #expect(requeued.path == "/drop/again/a.png" && requeued.attempts == 0 && requeued.lastError == nil)
        #expect(try q.claimNext()?.path == "/drop/again/a.png")
    }

    @Test(
        "the same content dropped again after it failed as bad input is reported with the earlier failure",
        arguments: TestStateBackend.allCases)
    func badInputDroppedAgain(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        _ = try q.enqueue(sha256: "ee", path: "/drop/a.png", root: "/drop", identity: identity(), size: 0, mtime: 1)
        let job = try #require(try q.claimNext())
        let empty = StageFailure(stage: .decode, error: PipelineError(.decodeFailed, file: job.path, detail: "empty"))
        _ = try q.fail(job, failure: empty, policy: RetryPolicy(maxAttempts: 3))
        let again = try q.enqueue(
            sha256: "ee", path: "/drop/b.png", root: "/drop", identity: identity("b"), size: 0, mtime: 1)
        #expect(again == .sameAsFailed(try #require(try q.job(sha256: "ee")), empty))
        #expect(try q.job(sha256: "ee")?.state == .failed)
    }

    @Test(
        "a crash charges the image being detected, not the one decoded ahead and waiting",
        arguments: TestStateBackend.allCases)
    func crashChargesOnlyTheDetectedImage(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        do {
            let q = try state.queue()
            _ = try q.enqueue(sha256: "aa", path: "/a.png", root: nil, identity: identity("a"), size: 1, mtime: 1)
            _ = try q.enqueue(sha256: "bb", path: "/b.png", root: nil, identity: identity("b"), size: 1, mtime: 1)
            let detecting = try #require(try q.claimNext())
            let ahead = try #require(try q.claimNext())
            try q.markDecodedAhead(ahead)
            #expect(detecting.sha256 == "aa" && ahead.sha256 == "bb")
        }
        let reopened = try state.queue()
        let failed = try reopened.recoverInterrupted(maxAttempts: 1)
        #expect(failed.map(\.sha256) == ["aa"])
        let waiting = try #require(try reopened.job(sha256: "bb"))
        #expect(waiting.state == .queued && waiting.attempts == 0)
    }

    @Test(
        "a crash while one image decodes beside the one in detection charges neither; they then run alone",
        arguments: TestStateBackend.allCases)
    func crashDuringDecodeAheadMakesSuspects(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        do {
            let q = try state.queue()
            for name in ["aa", "bb", "cc"] {
                _ = try q.enqueue(
                    sha256: name, path: "/\(name).png", root: nil, identity: identity(name), size: 1, mtime: 1)
            }
            _ = try #require(try q.claimNext())  // aa: in detection
            _ = try #require(try q.claimNext())  // bb: claimed ahead, still decoding when the process dies
        }
        let q = try state.queue()
        #expect(try q.recoverInterrupted(maxAttempts: 1).isEmpty)
        for name in ["aa", "bb"] {
            let job = try #require(try q.job(sha256: name))
            #expect(job.state == .queued && job.attempts == 0 && job.suspect, "\(name)")
        }
        // The oldest suspect runs alone: nothing is claimed beside it.
        let first = try #require(try q.claimNext())
        #expect(first.sha256 == "aa")
        #expect(try q.claimNext() == nil)
        _ = try q.markDone(first, result: result(for: first), settings: AggregatorSettings())
        #expect(try q.job(sha256: "aa")?.suspect == false)
        // The next suspect crashes again, alone this time: it alone is charged and, out of attempts, failed.
        let second = try #require(try q.claimNext())
        #expect(second.sha256 == "bb")
        #expect(try q.claimNext() == nil)
        #expect(try q.recoverInterrupted(maxAttempts: 1).map(\.sha256) == ["bb"])
        #expect(try q.job(sha256: "cc")?.state == .queued)
        #expect(try q.claimNext()?.sha256 == "cc")
    }

    @Test("a suspect waits until no other image is in hand", arguments: TestStateBackend.allCases)
    func suspectWaitsForAnEmptyHand(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        for name in ["aa", "bb"] {
            _ = try q.enqueue(
                sha256: name, path: "/\(name).png", root: nil, identity: identity(name), size: 1, mtime: 1)
        }
        _ = try q.claimNext()
        _ = try q.claimNext()
        _ = try q.recoverInterrupted(maxAttempts: 3)  // both suspects now
        _ = try q.enqueue(sha256: "zz", path: "/zz.png", root: nil, identity: identity("zz"), size: 1, mtime: 1)
        let aa = try #require(try q.claimNext())
        _ = try q.fail(
            aa,
            failure: StageFailure(stage: .detect, error: PipelineError(.detectFailed, file: "/aa.png", detail: "x")),
            policy: RetryPolicy(maxAttempts: 3, delaysSeconds: [0]))
        #expect(try q.job(sha256: "aa")?.suspect == false)
        let next = try #require(try q.claimNext())
        #expect(next.sha256 == "aa")  // requeued, oldest, no longer a suspect
        #expect(try q.claimNext() == nil)  // bb is a suspect and aa is in hand
    }

    @Test("a job decoded ahead whose detection had started is charged the crash", arguments: TestStateBackend.allCases)
    func crashAfterDetectionStarted(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let q = try state.queue()
        _ = try q.enqueue(sha256: "bb", path: "/b.png", root: nil, identity: identity("b"), size: 1, mtime: 1)
        let job = try #require(try q.claimNext())
        try q.markDecodedAhead(job)
        try q.startDetection(job)
        #expect(try q.recoverInterrupted(maxAttempts: 1).map(\.sha256) == ["bb"])
    }

    @Test("a database written before retry waits and failure records is upgraded in place")
    func upgradesAnOlderDatabase() throws {
        do {
            try FileManager.default.createDirectory(
                at: db.deletingLastPathComponent(), withIntermediateDirectories: true)
            let pool = try DatabasePool(path: db.path)
            try SQLiteStateDatabase.migrator.migrate(pool, upTo: "v1")
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO job (sha256, path, patient, stem, state, attempts, created_at, updated_at)
                        VALUES ('aa', '/a.png', 'P1', 'a', 'failed', 3, '2026-01-01 00:00:00', '2026-01-01 00:00:00')
                        """)
            }
        }
        let q = try JobQueue(url: db)
        let job = try #require(try q.job(sha256: "aa"))
        #expect(job.state == .failed && job.notBefore == nil && job.failure == nil && !job.decodedAhead)
        let again = try q.enqueue(sha256: "aa", path: "/b.png", root: nil, identity: identity(), size: 1, mtime: 1)
        #expect(again.job.state == .queued)
    }

    @Test("processes opening a new state file at once all open it (one of them migrates it)")
    func concurrentFirstOpen() async throws {
        for round in 0..<20 {
            let file = dir.path("race-\(round)/karyocount.sqlite")
            let opened = await withTaskGroup(of: String?.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        do {
                            _ = try SQLiteStateDatabase(url: file)
                            return nil
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                return await group.reduce(into: [String]()) { errors, error in if let error { errors.append(error) } }
            }
            #expect(opened.isEmpty, "round \(round): \(opened)")
            let pool = try DatabasePool(path: file.path)
            #expect(try await pool.read(SQLiteStateDatabase.migrator.hasCompletedMigrations))
        }
    }

    @Test(
        "a job whose node stopped renewing its lease is taken by another node; the first node's late word changes nothing",
        arguments: TestStateBackend.allCases)
    func leaseExpiry(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let a = try state.queue(node: "scope-a", leaseDuration: 5)
        let b = try state.queue(node: "scope-b", leaseDuration: 5)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try a.enqueue(
            sha256: "aa", path: "/drop/a.png", root: nil, identity: identity(), size: 1, mtime: 1, now: t0)
        let claimed = try #require(try a.claimNext(now: t0))
        #expect(claimed.leaseOwner == "scope-a" && claimed.attempts == 1)
        #expect(try b.claimNext(now: t0.addingTimeInterval(1)) == nil)
        #expect(try b.recoverInterrupted(maxAttempts: 3, atStartup: false, now: t0.addingTimeInterval(4)).isEmpty)
        #expect(try b.job(sha256: "aa")?.state == .running)
        _ = try b.recoverInterrupted(maxAttempts: 3, atStartup: false, now: t0.addingTimeInterval(6))
        let taken = try #require(try b.claimNext(now: t0.addingTimeInterval(6)))
        #expect(taken.leaseOwner == "scope-b" && taken.attempts == 2)
        _ = try a.fail(claimed, failure: diskFull(), policy: RetryPolicy(maxAttempts: 3), now: t0.addingTimeInterval(7))
        try a.release(claimed, now: t0.addingTimeInterval(7))
        let after = try #require(try b.job(sha256: "aa"))
        #expect(after.state == .running && after.leaseOwner == "scope-b" && after.failure == nil)
        try b.renewLeases(["aa"], now: t0.addingTimeInterval(10))
        #expect(try a.recoverInterrupted(maxAttempts: 3, atStartup: false, now: t0.addingTimeInterval(14)).isEmpty)
        #expect(try a.recoverInterrupted(maxAttempts: 3, atStartup: false, now: t0.addingTimeInterval(16)).isEmpty)
        #expect(try a.job(sha256: "aa")?.state == .queued)
    }

    @Test(
        "three nodes claiming and finishing at once take every job exactly once", arguments: TestStateBackend.allCases)
    func concurrentNodes(_ backend: TestStateBackend) async throws {
        let state = try backend.freshState(in: dir)
        let seed = try state.queue(node: "intake")
        for i in 0..<60 {
            _ = try seed.enqueue(
                sha256: String(format: "%064x", i), path: "/drop/P\(i % 4).\(i).O.png", root: nil,
                identity: ImageIdentity(patient: "P\(i % 4)", cell: "\(i)", stem: "P\(i % 4).\(i).O", kind: .metaphase),
                size: 1, mtime: 1)
        }
        let settings = AggregatorSettings(minImages: 1, minDisagreeing: 1, expectedCount: 46)
        let claims = try await withThrowingTaskGroup(of: [String].self) { group in
            for n in 0..<3 {
                let queue = try state.queue(node: "node-\(n)")
                group.addTask {
                    var mine: [String] = []
                    while let job = try queue.claimNext() {
                        mine.append(job.sha256)
                        let entry = ResultIndexEntry(
                            sha256: job.sha256, patient: job.patient, cell: job.cell, stem: job.stem, count: 46,
                            confident: true, detector: "classical", resultPath: "/out/\(job.stem).json",
                            processedAt: Date())
                        _ = try queue.markDone(job, result: entry, settings: settings)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(claims.count == 60 && Set(claims).count == 60)
        let tallied = try seed.patients().map(\.report.imagesCounted).reduce(0, +)
        #expect(tallied == 60)
        #expect(try seed.status().counts[.done] == 60)
    }
    @Test(
        "status lists every node with its roles, heartbeat, what it holds and its rate; a silent one is called so",
        arguments: TestStateBackend.allCases)
    func statusListsNodes(_ backend: TestStateBackend) throws {
        let state = try backend.freshState(in: dir)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let counter = try state.queue(node: "scope-1", leaseDuration: 30)
        let watcher = try state.queue(node: "intake-1", leaseDuration: 30)
        try counter.registerNode(roles: .count, now: t0)
        try watcher.registerNode(roles: .watch, now: t0)
        _ = try watcher.enqueue(
            sha256: "aa", path: "/drop/P1.001.O.png", root: nil, identity: identity(), size: 1, mtime: 1, now: t0)
        let job = try #require(try counter.claimNext(now: t0.addingTimeInterval(60)))
        for minute in 1...2 {
            _ = try counter.enqueue(
                sha256: "b\(minute)", path: "/drop/P1.00\(minute + 1).O.png", root: nil,
                identity: identity("P1.00\(minute + 1).O"), size: 1, mtime: 1, now: t0)
        }
        for _ in 1...2 {
            let claimed = try #require(try counter.claimNext(now: t0))
            let entry = ResultIndexEntry(
                sha256: claimed.sha256, patient: "P1", cell: claimed.cell, stem: claimed.stem, count: 46,
                confident: true, detector: "classical", resultPath: "/out/\(claimed.stem).json", processedAt: t0)
            _ = try counter.markDone(
                claimed, result: entry, settings: AggregatorSettings(minImages: 5, minDisagreeing: 5, expectedCount: 46)
            )
        }
        try counter.renewLeases([job.sha256], now: t0.addingTimeInterval(120))
        let text = try StatusReport(queue: counter, now: t0.addingTimeInterval(125)).text
        #expect(
            text.contains(
                "scope-1 (count, pid \(getpid())): heartbeat 5 s ago; holds 1 (P1.001.O); 2 counted since "
                    + StatusReport.minute(t0) + ", 1.0 images/min"), "\(text)")
        #expect(
            text.contains(
                "intake-1 (watch, pid \(getpid())): silent since \(StatusReport.minute(t0)) (stopped, or cut off from "
                    + "the state); holds nothing; 0 counted"), "\(text)")
    }

    @Test(
        "two nodes writing one patient's file at once: whichever writes last writes the latest version",
        arguments: TestStateBackend.allCases)
    func patientFileWriters(_ backend: TestStateBackend) async throws {
        let state = try backend.freshState(in: dir)
        let settings = AggregatorSettings(minImages: 1, minDisagreeing: 1, expectedCount: 46)
        let seed = try state.queue(node: "intake")
        for i in 0..<40 {
            _ = try seed.enqueue(
                sha256: String(format: "%064x", i), path: "/drop/P1.\(i).O.png", root: nil,
                identity: ImageIdentity(patient: "P1", cell: "\(i)", stem: "P1.\(i).O", kind: .metaphase),
                size: 1, mtime: 1)
        }
        /// What the writers wrote, in the order they wrote it.
        final class Written: Sendable {
            let counts = Mutex<[Int]>([])
        }
        let written = Written()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<2 {
                let queue = try state.queue(node: "node-\(n)")
                group.addTask {
                    while let job = try queue.claimNext() {
                        let entry = ResultIndexEntry(
                            sha256: job.sha256, patient: "P1", cell: job.cell, stem: job.stem, count: 46,
                            confident: true, detector: "classical", resultPath: "/out/\(job.stem).json",
                            processedAt: Date())
                        _ = try queue.markDone(job, result: entry, settings: settings)
                        try queue.writePatient("P1") { row in
                            written.counts.withLock { $0.append(row.report.imagesCounted) }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let counts = written.counts.withLock { $0 }
        #expect(counts == counts.sorted(), "a file write went back to an older aggregate: \(counts)")
        #expect(counts.count == 40 && counts.last == 40)
        #expect(try seed.patientsNeedingWrite().isEmpty)
    }
}
