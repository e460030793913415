import Foundation
import KaryoImage
import KaryoTestSupport
import Testing

@testable import KaryoPipeline

#if canImport(Glibc)
    import Glibc
#endif

/// `karyocount state migrate`: a workstation's SQLite state moved into PostgreSQL without loss.
@Suite("State migration", .enabled(if: TestStateBackend.postgresServer != nil))
struct StateMigrationTests {
    let dir = TempDir()

    /// A SQLite state with counted, failed and refused images, a flag, a review, a sign-off and a reopening.
    private func workstationState() async throws -> KaryoConfig {
        var config = testConfig(dir)
        config.minImages = 2
        config.minDisagreeing = 2
        let pipeline = try openPipeline(config: config, detector: PixelCodeDetector(), logger: LogCapture().logger)
        for (i, count) in [47, 47, 46].enumerated() {
            try pipeline.enqueue(
                dir.write("drop/P1/P1.00\(i).A.png", codedPNG(count: count, salt: i)), root: dir.path("drop"))
        }
        try pipeline.enqueue(dir.write("drop/P2/P2.001.A.png", codedPNG(count: 45)), root: dir.path("drop"))
        _ = try? pipeline.enqueue(dir.write("drop/P2/P2.002.A.png", Data("not an image".utf8)), root: dir.path("drop"))
        _ = await pipeline.processPending()
        try pipeline.enqueue(dir.write("drop/P2/P2.003.A.png", codedPNG(count: 46, salt: 9)), root: dir.path("drop"))
        let queue = pipeline.queue
        let settings = AggregatorSettings(config)
        let reviewed = try #require(try queue.results(patient: "P1").first)
        _ = try queue.recordReview(
            sha256: reviewed.sha256,
            ReviewSubmission(count: nil, boxes: [BoundingBox(x1: 1, y1: 2, x2: 10, y2: 20)], reviewer: "Dr. Ada"),
            detectorBoxes: [], settings: settings)
        _ = try queue.signOff(patient: "P2", by: "Dr. Ada")
        _ = try queue.reopen(patient: "P2", by: "Dr. Lin", reason: "a cell was missed")
        return config
    }

    /// Waits (at most 10 s) until no pipeline holds the state's lock: the workstation's pipeline has gone once its
    /// lanes' last tasks have ended.
    private func waitForRelease(_ config: KaryoConfig) async throws {
        let fd = open(config.stateDir.appending(path: "karyocount.lock").path, O_RDWR)
        defer { close(fd) }
        for _ in 0..<100 where flock(fd, LOCK_EX | LOCK_NB) != 0 { try await Task.sleep(for: .milliseconds(100)) }
        flock(fd, LOCK_UN)
    }

    /// What a user of each state sees: jobs, results, tallies, reviews, sign-offs, status.
    private struct Snapshot: Equatable {
        var jobs: [Job]
        var patients: [PatientRow]
        var results: [ResultIndexEntry]
        var reviews: [CellReview]
        var signOffs: [SignOffEvent]
        var counts: [JobState: Int]
        var lastErrors: [Job]
        var refused: Int

        init(_ queue: JobQueue) throws {
            jobs = try queue.allJobs()
            patients = try queue.patients()
            results = try patients.flatMap { try queue.results(patient: $0.patient) }
            reviews = try patients.flatMap { try queue.reviews(patient: $0.patient) }
            signOffs = try patients.flatMap { try queue.signOffEvents(patient: $0.patient) }
            let status = try queue.status()
            counts = status.counts
            lastErrors = status.lastErrors
            refused = status.refused
        }
    }

    @Test(
        "every job, result, tally, review and sign-off arrives; the migrated state goes on counting; a second run, a used target and a state still in use are refused"
    )
    func migrate() async throws {
        let config = try await workstationState()
        try await waitForRelease(config)
        let source = JobQueue(database: try SQLiteStateDatabase(url: config.databaseURL), node: "test")
        let before = try Snapshot(source)
        #expect(before.signOffs.count == 2 && before.reviews.count == 1 && before.counts[.failed] == 1)
        let target = try TestStateBackend.postgres.freshState(in: dir)
        guard case .postgres(let settings) = target.location else { return }

        let copied = try StateMigration.copy(fromSQLite: config.databaseURL, to: settings)
        #expect(copied.map(\.table) == StateMigration.tables)
        #expect(copied.first { $0.table == "job" }?.rows == 6)
        #expect(copied.first { $0.table == "review" }?.rows == 1)
        #expect(copied.first { $0.table == "sign_off" }?.rows == 2)
        let migrated = try target.queue(node: "test")
        let after = try Snapshot(migrated)
        #expect(after.jobs == before.jobs)
        #expect(after.patients == before.patients)
        #expect(after.results == before.results)
        #expect(after.reviews == before.reviews)
        #expect(after.signOffs == before.signOffs)
        #expect(after.counts == before.counts && after.lastErrors == before.lastErrors)
        #expect(after.refused == before.refused)

        #expect(throws: PipelineError.self) { try StateMigration.copy(fromSQLite: config.databaseURL, to: settings) }
        _ = try migrated.signOff(patient: "P2", by: "Dr. Lin")
        #expect(try migrated.signOffEvents(patient: "P2").map(\.action) == [.signOff, .reopen, .signOff])
        #expect(try migrated.claimNext()?.stem == "P2.003.A")

        let inUse = try openPipeline(config: config, detector: PixelCodeDetector(), logger: LogCapture().logger)
        let other = try TestStateBackend.postgres.freshState(in: dir)
        guard case .postgres(let otherSettings) = other.location else { return }
        #expect(throws: PipelineError.self) {
            try StateMigration.copy(fromSQLite: config.databaseURL, to: otherSettings)
        }
        withExtendedLifetime(inUse) {}
    }
}
