import Foundation
import KaryoImage
import KaryoTestSupport
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

/// A benchmark, not a test: run with `KARYOCOUNT_BENCH=1 KARYOCOUNT_BINARY=.build/release/karyocount swift test
/// --filter "counting processes"` and a PostgreSQL test server named. The shipped model counts the same images on
/// one shared PostgreSQL queue with one counting process (one lane, OpenBLAS on 2 threads) and with two (one lane
/// and one OpenBLAS thread each), and prints images per minute for each. Images: every PNG, JPEG or TIFF in
/// `KARYOCOUNT_BENCH_IMAGE_DIR` (at most `KARYOCOUNT_BENCH_IMAGES`, default 40), else the real sample spread
/// re-encoded with one pixel changed per copy (so each copy is a new image).
@Suite("Counting processes benchmark", .serialized)
struct CountingProcessesBenchmark {
    static let model = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appending(path: "Models/default").path

    /// Writes the benchmark's images into `folder` as one patient's cells; returns how many.
    static func dropImages(into folder: String) throws -> Int {
        let env = ProcessInfo.processInfo.environment
        let limit = Int(env["KARYOCOUNT_BENCH_IMAGES"] ?? "") ?? 40
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if let source = env["KARYOCOUNT_BENCH_IMAGE_DIR"] {
            let names = try FileManager.default.contentsOfDirectory(atPath: source).sorted()
                .filter {
                    ["png", "jpg", "jpeg", "tif", "tiff"].contains(URL(filePath: $0).pathExtension.lowercased())
                }
                .prefix(limit)
            for (index, name) in names.enumerated() {
                let ext = URL(filePath: name).pathExtension
                try FileManager.default.copyItem(
                    atPath: source + "/" + name, toPath: folder + "/BENCH.\(String(format: "%03d", index)).O.\(ext)")
            }
            return names.count
        }
        let sample = URL(filePath: model).deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "Samples/drop/18-Y2087/18-Y2087.145.O.png")
        var image = try ImageDecoder.decode(contentsOf: sample).image
        for index in 0..<limit {
            image[index % image.width, 0] = Float(index % 7) / 7
            try PNGEncoder.encode(image).write(
                to: URL(filePath: folder + "/BENCH.\(String(format: "%03d", index)).O.png"))
        }
        return limit
    }

    @Test(
        "images per minute with one and with two counting processes",
        .enabled(if: ProcessInfo.processInfo.environment["KARYOCOUNT_BENCH"] != nil, "set KARYOCOUNT_BENCH=1"),
        .enabled(if: Binary.exists && TestStateBackend.postgresServer != nil, "no binary or no PostgreSQL server"),
        arguments: [1, 2])
    func countingProcesses(_ processes: Int) async throws {
        let ws = try Workspace(
            "counting-\(processes)", workers: 1, stability: 1,
            detector: "detector = \"deepace\"\nmodel = \"\(Self.model)\"")
        defer { ws.cleanup() }
        let state = try TestStateBackend.postgres.freshState(in: TempDir())
        let configs = try (0..<processes).map { n in
            try ws.writeConfig(
                ws.base + "/node-\(n).toml",
                extra: state.configTable(node: "node-\(n)", roles: n == 0 ? "watch+count" : "count"))
        }
        let staging = ws.base + "/staging/BENCH"
        let total = try Self.dropImages(into: staging)
        let threads = processes == 1 ? "2" : "1"
        let nodes = try configs.map {
            try DaemonProcess(ws, config: $0, environment: ["OPENBLAS_NUM_THREADS": threads])
        }
        try await Task.sleep(for: .seconds(5))
        let start = ContinuousClock.now
        try FileManager.default.moveItem(atPath: staging, toPath: ws.path("BENCH"))
        let finished = await ws.wait(timeout: 3600) { ws.resultJSONs().count >= total }
        let elapsed = ContinuousClock.now - start
        for node in nodes { node.signal(SIGTERM) }
        for node in nodes { await node.waitForExit() }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let perNode = try state.queue(node: "bench").nodes().map { "\($0.name) \($0.processed)" }
        print(
            """
            counting processes: \(processes) (1 lane, OpenBLAS \(threads) thread(s) each), \(total) images, \
            Models/default: \(String(format: "%.1f", seconds)) s = \(String(format: "%.1f", Double(total) / seconds * 60)) \
            images/minute; per node \(perNode)
            """)
        #expect(finished, "\(ws.log().suffix(3000))")
    }
}
