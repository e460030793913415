import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `VmRSS` / `VmHWM` of a process in KiB, from /proc.
private func memoryKiB(_ pid: Int32, _ field: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") }
    return line?.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
}

/// A benchmark, not a test: run with `KARYOCOUNT_BENCH=1 KARYOCOUNT_BINARY=.build/release/karyocount
/// swift test --filter throughput`. Drops 1000 small images at once into a running daemon (classical detector)
/// and prints images per minute, peak RSS and RSS samples over the run (memory must stay flat).
@Suite("Daemon throughput")
struct ThroughputBenchmark {
    @Test(
        "1000 images dropped at once are all processed with flat memory",
        .enabled(if: ProcessInfo.processInfo.environment["KARYOCOUNT_BENCH"] != nil, "set KARYOCOUNT_BENCH=1"),
        .enabled(if: Binary.exists, "no karyocount binary"))
    func throughput() async throws {
        let total = Int(ProcessInfo.processInfo.environment["KARYOCOUNT_BENCH_IMAGES"] ?? "") ?? 1000
        let ws = try Workspace("bench", workers: 2, stability: 1)
        defer { ws.cleanup() }
        let staging = ws.base + "/staging"
        try FileManager.default.createDirectory(atPath: staging + "/B", withIntermediateDirectories: true)
        for index in 0..<total {
            try SyntheticImage.png(seed: UInt64(90_000 + index), width: 400, height: 300, rods: 46).write(
                to: URL(fileURLWithPath: staging + "/B/BENCH.\(String(format: "%04d", index)).A.png"))
        }
        let listener = try NotifyListener(in: ws.base)
        defer { listener.close() }
        let daemon = try DaemonProcess(ws, environment: ["NOTIFY_SOCKET": listener.path, "OPENBLAS_NUM_THREADS": "1"])
        _ = listener.receive(timeout: 30) { $0.contains("READY=1") }
        let idleRSS = memoryKiB(daemon.pid, "VmRSS") ?? 0
        let start = ContinuousClock.now
        // "Dropped at once": the whole folder renamed into the drop folder.
        try FileManager.default.moveItem(atPath: staging + "/B", toPath: ws.path("B"))
        var samples: [Int] = []
        var lastSample = ContinuousClock.now
        while ws.resultJSONs().count < total && ContinuousClock.now - start < .seconds(1800) {
            try await Task.sleep(for: .milliseconds(500))
            if ContinuousClock.now - lastSample >= .seconds(10) {
                samples.append(memoryKiB(daemon.pid, "VmRSS") ?? 0)
                lastSample = .now
            }
        }
        let elapsed = ContinuousClock.now - start
        let peak = memoryKiB(daemon.pid, "VmHWM") ?? 0
        daemon.signal(SIGTERM)
        await daemon.waitForExit()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let done = ws.resultJSONs().count
        print(
            """
            throughput: \(done)/\(total) images (400x300, classical, 2 workers) in \(String(format: "%.1f", seconds)) s \
            = \(String(format: "%.0f", Double(done) / seconds * 60)) images/minute; RSS idle \(idleRSS / 1024) MiB, \
            peak (VmHWM) \(peak / 1024) MiB, samples every 10 s (MiB): \(samples.map { $0 / 1024 })
            """)
        #expect(done == total)
    }
}
