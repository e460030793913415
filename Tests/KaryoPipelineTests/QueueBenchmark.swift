import Foundation
import KaryoTestSupport
import Synchronization
import Testing

@testable import KaryoPipeline

/// A benchmark, not a test: run with `KARYOCOUNT_BENCH=1 swift test --filter "Queue claims"` (and a PostgreSQL
/// test server named, as `make swift-test` does). Workers on their own threads and connections claim jobs, hold
/// each for a fixed sleep standing in for detection, and commit its result and patient tally in one transaction;
/// prints claims per second and the median and 95th-percentile milliseconds one claim and one commit take.
@Suite("Queue claims benchmark")
struct QueueBenchmark {
    /// The stand-in detector's time per image (`KARYOCOUNT_BENCH_SLEEP_MS`, default 20).
    static let holdMilliseconds = Int(ProcessInfo.processInfo.environment["KARYOCOUNT_BENCH_SLEEP_MS"] ?? "") ?? 20
    /// Jobs per worker (`KARYOCOUNT_BENCH_JOBS_PER_WORKER`, default 100).
    static let jobsPerWorker = Int(ProcessInfo.processInfo.environment["KARYOCOUNT_BENCH_JOBS_PER_WORKER"] ?? "") ?? 100

    static let runs: [(TestStateBackend, Int)] =
        [(.sqlite, 1)]
        + (TestStateBackend.postgresServer == nil ? [] : [(.postgres, 1), (.postgres, 4), (.postgres, 16)])

    @Test(
        "claims per second", .enabled(if: ProcessInfo.processInfo.environment["KARYOCOUNT_BENCH"] != nil),
        arguments: runs)
    func claims(_ backend: TestStateBackend, _ workers: Int) throws {
        let dir = TempDir()
        let state = try backend.freshState(in: dir)
        let seed = try state.queue(node: "intake")
        let total = workers * Self.jobsPerWorker
        for i in 0..<total {
            let patient = "P\(i % 20)"
            _ = try seed.enqueue(
                sha256: String(format: "%064x", i), path: "/drop/\(patient).\(i).O.png", root: nil,
                identity: ImageIdentity(patient: patient, cell: "\(i)", stem: "\(patient).\(i).O", kind: .metaphase),
                size: 1, mtime: 1)
        }
        let settings = AggregatorSettings(minImages: 20, minDisagreeing: 20, expectedCount: 46)
        let queues = try (0..<workers).map { try state.queue(node: "bench-\($0)") }
        /// Each claim's and each commit's seconds, and the first error, across the worker threads.
        let claimSeconds = Mutex<[Double]>([])
        let commitSeconds = Mutex<[Double]>([])
        let failure = Mutex<String?>(nil)
        let finished = DispatchGroup()
        let clock = ContinuousClock()
        let start = clock.now
        for queue in queues {
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                do {
                    while true {
                        let claimStart = clock.now
                        guard let job = try queue.claimNext() else { break }
                        let claimed = clock.now
                        Thread.sleep(forTimeInterval: Double(Self.holdMilliseconds) / 1000)
                        let commitStart = clock.now
                        let entry = ResultIndexEntry(
                            sha256: job.sha256, patient: job.patient, cell: job.cell, stem: job.stem, count: 46,
                            confident: true, detector: "sleep", resultPath: "/out/\(job.stem).json",
                            processedAt: Date())
                        _ = try queue.markDone(job, result: entry, settings: settings)
                        let committed = clock.now
                        claimSeconds.withLock { $0.append(Self.seconds(claimed - claimStart)) }
                        commitSeconds.withLock { $0.append(Self.seconds(committed - commitStart)) }
                    }
                } catch {
                    failure.withLock { $0 = $0 ?? "\(error)" }
                }
            }
        }
        finished.wait()
        let elapsed = Self.seconds(clock.now - start)
        #expect(failure.withLock { $0 } == nil, "\(failure.withLock { $0 } ?? "")")
        #expect(try seed.status().counts[.done] == total)
        let claims = claimSeconds.withLock { $0 }
        let commits = commitSeconds.withLock { $0 }
        let ideal = Double(workers) * 1000 / Double(Self.holdMilliseconds)
        print(
            """
            queue claims: \(backend), \(workers) worker(s), \(total) jobs held \(Self.holdMilliseconds) ms each: \
            \(String(format: "%.1f", Double(total) / elapsed)) claims/s (a free queue: \(String(format: "%.0f", ideal))); \
            claim ms median \(Self.ms(claims, 0.5)), p95 \(Self.ms(claims, 0.95)); \
            result+tally commit ms median \(Self.ms(commits, 0.5)), p95 \(Self.ms(commits, 0.95))
            """)
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func ms(_ values: [Double], _ quantile: Double) -> String {
        guard !values.isEmpty else { return "-" }
        let sorted = values.sorted()
        return String(format: "%.2f", sorted[min(sorted.count - 1, Int(Double(sorted.count) * quantile))] * 1000)
    }
}
