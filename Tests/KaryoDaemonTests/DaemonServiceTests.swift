import Foundation
import KaryoDaemon
import KaryoPipeline
import KaryoTestSupport
import KaryoWatch
import Logging
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon as a library: run in this process (no binary, no systemd), stopped through its own API.
@Suite("Daemon services", .serialized, .timeLimit(.minutes(2)))
struct DaemonServiceTests {
    let dir = TempDir()

    private func daemon(
        once: Bool = false, delay: Duration = .zero, reviewOn: Bool = false, log: LogCapture = LogCapture(),
        environment: [String: String] = [:]
    ) throws -> Daemon {
        var config = testConfig(dir)
        config.stabilitySeconds = 0.2
        config.review.enabled = reviewOn
        return try Daemon(
            settings: config, detector: PixelCodeDetector(delay: delay), once: once,
            notifier: ServiceNotifier(environment: environment, logger: log.logger), logger: log.logger)
    }

    /// Runs `daemon` while `body` runs, then stops it (also when `body` throws, so that no watcher outlives the test)
    /// and returns what it counted.
    private func run(_ daemon: Daemon, while body: () async throws -> Void) async throws -> RunSummary {
        let running = Task { try await daemon.run() }
        do {
            try await body()
        } catch {
            daemon.requestStop()
            _ = try? await running.value
            throw error
        }
        daemon.requestStop()
        return try await running.value
    }

    /// A daemon on the state an earlier one in this process used: its last reference may still be dropping on another
    /// thread, holding the state lock that a real process would have released at exit; wait for that, up to 5 s.
    private func reopened(once: Bool) async throws -> Daemon {
        let deadline = Date().addingTimeInterval(5)
        while true {
            do {
                return try daemon(once: once)
            } catch  where "\(error)".contains("(pid \(getpid()))") && Date() < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// Drops a finished file the way an export does: written beside the drop folder, renamed in.
    private func drop(_ name: String, count: Int, salt: Int = 0) throws {
        let staged = dir.write("staging/\(name)", codedPNG(count: count, salt: salt))
        try FileManager.default.createDirectory(at: dir.path("drop"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: staged, to: dir.path("drop/\(name)"))
    }

    private func waitUntil(_ seconds: Double = 30, _ condition: () throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try !condition() {
            guard Date() < deadline else { throw TimedOut() }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    private struct TimedOut: Error {}

    private func count(_ stem: String) throws -> Int {
        let url = dir.path("out/results/\(stem.prefix { $0 != "." })/\(stem).json")
        return try KaryoJSON.decode(ResultRecord.self, from: Data(contentsOf: url)).count
    }

    @Test("files dropped while it runs are counted; a stop request returns what was counted")
    func countsWhileWatching() async throws {
        let log = LogCapture()
        let daemon = try daemon(log: log)
        let summary = try await run(daemon) {
            try await waitUntil { log.all.contains { $0.contains("start-up backlog queued; ready") } }
            try drop("P1.001.A.png", count: 46)
            try drop("P1.002.A.png", count: 45)
            try drop("P2.001.A.png", count: 47)
            try await waitUntil { try daemon.pipeline.status().counts[.done] == 3 }
        }
        #expect(summary.done == 3 && summary.failed == 0)
        #expect(try count("P1.001.A") == 46 && count("P1.002.A") == 45 && count("P2.001.A") == 47)
        #expect(try daemon.pipeline.queue.patient("P1")?.report.histogram == ["45": 1, "46": 1])
        #expect(log.all.contains { $0.contains("stopped") })
    }

    @Test("a review station that cannot listen is logged; counting goes on and the daemon still stops cleanly")
    func reviewStationCannotListen() async throws {
        let log = LogCapture()
        let taken = try TakenPort()
        defer { close(taken.socket) }
        var config = testConfig(dir)
        config.review.listen = "127.0.0.1:\(taken.port)"
        let daemon = try Daemon(
            settings: config, detector: PixelCodeDetector(),
            notifier: ServiceNotifier(environment: [:], logger: log.logger),
            logger: log.logger)
        let summary = try await run(daemon) {
            try await waitUntil {
                log.all.contains { $0.contains("the review station cannot serve 127.0.0.1:\(taken.port)") }
            }
            try drop("P6.001.A.png", count: 47)
            try await waitUntil { try daemon.pipeline.status().counts[.done] == 1 }
        }
        #expect(summary.done == 1)
        #expect(try count("P6.001.A") == 47)
    }

    @Test("after a stop request systemd hears STOPPING=1 and then no READY, STATUS or watchdog ping")
    func quietAfterStop() async throws {
        let listener = try NotifyListener(in: dir.url.path)
        defer { listener.close() }
        let daemon = try daemon(
            delay: .seconds(6), environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "200000"])
        var heard: [String] = []
        _ = try await run(daemon) {
            try await waitUntil {
                heard += listener.receive(timeout: 0) { _ in true }
                return heard.contains { $0.contains("READY=1") }
            }
            try drop("P7.001.A.png", count: 46)
            try await waitUntil { try daemon.pipeline.status().counts[.running, default: 0] > 0 }
        }
        // The image in hand took 6 s after the stop: a STATUS tick (every 5 s) fell in that window.
        heard += listener.receive(timeout: 0.3) { _ in false }
        let stop = try #require(heard.firstIndex { $0.contains("STOPPING=1") }, "\(heard)")
        #expect(heard.prefix(stop).contains { $0.contains("WATCHDOG=1") }, "the watchdog was armed")
        let after = heard.suffix(from: stop + 1)
        #expect(
            !after.contains { $0.contains("READY=1") || $0.contains("WATCHDOG=1") || $0.contains("STATUS=watching") },
            "\(Array(after))")
        #expect(try count("P7.001.A") == 46, "the image in hand was finished")
    }

    @Test("a stop while --once is still queueing its backlog ends the run cleanly; the next run counts the rest once")
    func stopDuringOnce() async throws {
        for i in 1...12 { try drop("P8.0\(10 + i).A.png", count: 30 + i) }
        var first: Daemon? = try daemon(once: true, delay: .milliseconds(200))
        let running = Task { [first] in try await first!.run() }
        try await Task.sleep(for: .milliseconds(100))
        first!.requestStop()
        let summary = try await running.value
        #expect(summary.done < 12, "\(summary)")
        first = nil
        let second = try await reopened(once: true).run()
        #expect(summary.done + second.done == 12)
        #expect(try (1...12).map { try count("P8.0\(10 + $0).A") } == Array(31...42))
    }

    @Test("once: the start-up backlog is counted and run returns without a stop request")
    func onceCountsBacklog() async throws {
        for (i, n) in [44, 46, 46, 69].enumerated() { try drop("P3.00\(i + 1).A.png", count: n, salt: i) }
        let summary = try await daemon(once: true).run()
        #expect(summary.done == 4)
        #expect(try (1...4).map { try count("P3.00\($0).A") } == [44, 46, 46, 69])
    }

    @Test("a stop finishes the image in hand and leaves the rest queued; the next start counts them, none twice")
    func stopKeepsQueue() async throws {
        for i in 1...5 { try drop("P4.00\(i).A.png", count: 40 + i) }
        var first: Daemon? = try daemon(delay: .milliseconds(400))
        let summary = try await run(first!) { [first] in
            try await waitUntil { try first!.pipeline.status().counts[.running, default: 0] > 0 }
        }
        #expect(summary.done >= 1 && summary.done < 5, "\(summary)")
        let status = try first!.pipeline.status()
        #expect(status.counts[.running, default: 0] == 0, "no job left claimed")
        #expect(status.counts[.done] == summary.done && status.depth == 5 - summary.done)
        first = nil
        let next = try await reopened(once: true)
        let second = try await next.run()
        #expect(summary.done + second.done == 5)
        #expect(try (1...5).map { try count("P4.00\($0).A") } == [41, 42, 43, 44, 45])
        #expect(try next.pipeline.queue.patient("P4")?.report.imagesCounted == 5)
    }

    @Test("a stop requested before run starts counts nothing; the next start counts what was dropped")
    func stopBeforeRun() async throws {
        try drop("P5.001.A.png", count: 46)
        var early: Daemon? = try daemon()
        early!.requestStop()
        #expect(try await early!.run().done == 0)
        #expect(!FileManager.default.fileExists(atPath: dir.path("out/results/P5/P5.001.A.json").path))
        early = nil
        #expect(try await reopened(once: true).run().done == 1)
        #expect(try count("P5.001.A") == 46)
    }
}

/// A loopback TCP port this process listens on, so that nothing else can.
private struct TakenPort {
    let socket: Int32
    let port: UInt16

    struct Refused: Error {}

    init() throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(socket, sa, length) == 0 && listen(socket, 1) == 0 && getsockname(socket, sa, &length) == 0
            }
        }
        guard socket >= 0, bound else { throw Refused() }
        self.socket = socket
        port = UInt16(bigEndian: address.sin_port)
    }
}
