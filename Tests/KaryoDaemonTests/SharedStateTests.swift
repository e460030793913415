import Foundation
import KaryoPipeline
import KaryoSupport
import KaryoTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `karyocount watch` processes sharing one state, as the nodes of a lab do: on PostgreSQL three processes (one
/// watching and counting, two only counting) on one queue; on SQLite, which one process holds, one process with
/// three lanes. Each test drops 300 images of six patients and checks that every image ends with exactly one
/// result and one place in its patient's tally, whatever happened to the processes or the server.
@Suite("Several worker processes on one state", .serialized)
struct SharedStateTests {
    static let imageCount = 300
    static let patients = ["PA", "PB", "PC", "PD", "PE", "PF"]

    /// The workspace (drop folder and outputs every node shares), the state, and one configuration per node.
    struct Lab {
        let ws: Workspace
        let state: TestState
        let configs: [String]
        var nodes: [String] { configs.indices.map { "worker-\($0)" } }

        /// The queue, as a tool outside the nodes reads it.
        func queue() throws -> JobQueue { try state.queue(node: "test") }

        func done() -> Int { (try? queue().status().counts[.done]) ?? 0 }
    }

    /// On `backend` (on `server` when given, a PostgreSQL server of the test's own): a workspace with the 300
    /// images dropped, and the nodes' configurations.
    private func makeLab(_ label: String, _ backend: TestStateBackend, server: PrivatePostgresServer? = nil) throws
        -> Lab
    {
        let shared = backend == .postgres
        let ws = try Workspace(label, workers: shared ? 1 : 3, extraConfig: "max_attempts = 20")
        for index in 0..<Self.imageCount {
            let patient = Self.patients[index % Self.patients.count]
            try ws.mkdir(patient)
            try SyntheticImage.png(seed: UInt64(50_000 + index)).write(
                to: URL(fileURLWithPath: ws.path("\(patient)/\(patient).\(String(format: "%03d", index)).A.png")))
        }
        let state =
            shared
            ? try server?.freshState() ?? backend.freshState(in: TempDir())
            : TestState(location: .sqlite(URL(filePath: ws.state + "/karyocount.sqlite")))
        let configs = try (0..<(shared ? 3 : 1)).map { n in
            let table = state.configTable(
                node: "worker-\(n)", roles: n == 0 ? "watch+count" : "count", leaseSeconds: 5)
            return try ws.writeConfig(ws.base + "/worker-\(n).toml", extra: table)
        }
        return Lab(ws: ws, state: state, configs: configs)
    }

    /// Waits until at least `target` images are done (or 180 s pass), then a random 0-300 ms more.
    private func waitForDone(_ lab: Lab, _ target: Int, _ rng: inout SplitMix64) async throws {
        _ = await lab.ws.wait(timeout: 180) { lab.done() >= target }
        try await Task.sleep(for: .milliseconds(Int(rng.next() % 300)))
    }

    /// Every image has one complete result, the quarantine is empty, every job is done and each patient's tally, in
    /// the state and in its patient.json, counts its 50 images once.
    private func verify(_ lab: Lab) throws {
        let ws = lab.ws
        let expected = (0..<Self.imageCount).map { index in
            let patient = Self.patients[index % Self.patients.count]
            return "\(patient)/\(patient).\(String(format: "%03d", index)).A.json"
        }
        #expect(ws.resultJSONs() == expected.sorted(), "\(ws.log().suffix(3000))")
        try ws.checkResultsComplete()
        #expect(ws.files(under: ws.output + "/quarantine").isEmpty, "\(ws.log().suffix(3000))")
        let queue = try lab.queue()
        #expect(try queue.status().counts[.done] == Self.imageCount)
        let perPatient = Self.imageCount / Self.patients.count
        for row in try queue.patients() {
            #expect(row.report.imagesCounted == perPatient, "patient \(row.patient) in the state")
            let file = try ws.json(ws.output + "/results/\(row.patient)/patient.json")
            #expect(file["images_counted"] as? Int == perPatient, "patient \(row.patient) in patient.json")
        }
        #expect(try queue.patients().count == Self.patients.count)
        #expect(try queue.patientsNeedingWrite().isEmpty)
        #expect(ws.files(under: ws.output).filter { ws.isHidden($0) }.isEmpty, "temp files left behind")
    }

    /// Stops the workers still running with SIGTERM; each must exit cleanly.
    private func stopAll(_ workers: [DaemonProcess?], _ lab: Lab) async {
        let running = workers.compactMap { $0 }.filter { $0.process.isRunning }
        for worker in running { worker.signal(SIGTERM) }
        for worker in running {
            let status = await worker.waitForExit(timeout: 60)
            #expect(status == 0, "worker pid \(worker.pid) exited \(status): \(lab.ws.log().suffix(20000))")
        }
    }

    @Test(
        "300 images on one queue: every image one result and one tally entry, none counted twice",
        .enabled(if: Binary.exists), arguments: TestStateBackend.allCases)
    func sharedQueue(_ backend: TestStateBackend) async throws {
        let lab = try makeLab("shared", backend)
        defer { lab.ws.cleanup() }
        let workers = try lab.configs.map { try DaemonProcess(lab.ws, config: $0) }
        #expect(await lab.ws.wait(timeout: 240) { lab.done() == Self.imageCount }, "\(lab.ws.log().suffix(3000))")
        await stopAll(workers, lab)
        try verify(lab)
        let nodes = try lab.queue().nodes().filter { lab.nodes.contains($0.name) }
        #expect(nodes.map(\.processed).reduce(0, +) == Self.imageCount, "an image was counted twice: \(nodes)")
        print("shared queue (\(backend)): counted per node \(nodes.map { "\($0.name) \($0.processed)" })")
        if backend == .postgres {
            #expect(nodes.filter { $0.processed > 0 }.count >= 2, "one node did all the work: \(nodes)")
            #expect(nodes.first { $0.name == "worker-1" }?.roles == "count")
        }
    }

    @Test(
        "a worker killed with SIGKILL twice mid-run: no image lost or doubled; the second, never restarted, loses its images to the others when its lease runs out",
        .enabled(if: Binary.exists), arguments: TestStateBackend.allCases)
    func killedWorkers(_ backend: TestStateBackend) async throws {
        let lab = try makeLab("kill", backend)
        defer { lab.ws.cleanup() }
        var rng = SplitMix64(seed: 11 &+ 0x9E37_79B9_7F4A_7C15)
        var workers: [DaemonProcess?] = try lab.configs.map { try DaemonProcess(lab.ws, config: $0) }
        let victim = workers.count - 1
        try await waitForDone(lab, 80, &rng)
        // What a node killed mid-write leaves: a temp file no live node is writing (the kills below may or may not
        // land in a write). No node restarts on PostgreSQL: the others must remove it.
        let planted = lab.ws.output + "/results/\(Self.patients[0])/\(AtomicFile.tempPrefix)planted-patient.json"
        try FileManager.default.createDirectory(
            atPath: (planted as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: URL(filePath: planted))
        try FileManager.default.setAttributes(
            [.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: planted)
        workers[victim]?.signal(SIGKILL)
        await workers[victim]?.waitForExit()
        try lab.ws.checkResultsComplete()
        workers[victim] = try DaemonProcess(lab.ws, config: lab.configs[victim])
        try await waitForDone(lab, 170, &rng)
        workers[victim]?.signal(SIGKILL)
        await workers[victim]?.waitForExit()
        let progress = lab.done()
        let orphaned = try lab.queue().allJobs().filter { $0.state == .running && $0.leaseOwner == lab.nodes[victim] }
        print("kill (\(backend)): done at the second kill \(progress); held by the dead worker \(orphaned.map(\.stem))")
        #expect(progress < Self.imageCount, "the kills came too late to interrupt anything")
        if backend == .postgres {
            #expect(await lab.ws.wait(timeout: 240) { lab.done() == Self.imageCount }, "\(lab.ws.log().suffix(3000))")
            for job in orphaned {
                #expect(try lab.queue().job(sha256: job.sha256)?.state == .done, "\(job.stem) was never taken over")
            }
        } else {
            workers[victim] = try DaemonProcess(lab.ws, config: lab.configs[victim])
            #expect(await lab.ws.wait(timeout: 240) { lab.done() == Self.imageCount }, "\(lab.ws.log().suffix(3000))")
        }
        await stopAll(workers, lab)
        try verify(lab)
    }

    @Test(
        "a worker that stalls (SIGSTOP) holding images loses them to the others after its lease; when it runs again nothing is doubled",
        .enabled(if: Binary.exists && TestStateBackend.postgresServer != nil))
    func stalledWorker() async throws {
        let lab = try makeLab("stall", .postgres)
        defer { lab.ws.cleanup() }
        var rng = SplitMix64(seed: 13 &+ 0x9E37_79B9_7F4A_7C15)
        let workers = try lab.configs.map { try DaemonProcess(lab.ws, config: $0) }
        try await waitForDone(lab, 60, &rng)
        var held: [Job] = []
        for _ in 0..<20 where held.isEmpty {
            workers[1].signal(SIGSTOP)
            held = try lab.queue().allJobs().filter { $0.state == .running && $0.leaseOwner == "worker-1" }
            if held.isEmpty {
                workers[1].signal(SIGCONT)
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        try #require(!held.isEmpty, "worker-1 never held an image")
        let handedOver = await lab.ws.wait(timeout: 60) {
            held.allSatisfy { (try? lab.queue().job(sha256: $0.sha256))??.state == .done }
        }
        #expect(handedOver, "the stalled worker's images \(held.map(\.stem)) were not taken over")
        workers[1].signal(SIGCONT)
        #expect(await lab.ws.wait(timeout: 240) { lab.done() == Self.imageCount }, "\(lab.ws.log().suffix(3000))")
        await stopAll(workers, lab)
        try verify(lab)
    }

    @Test(
        "the server restarted mid-run (every connection cut): the workers reconnect, no image lost or doubled",
        .enabled(if: Binary.exists && TestStateBackend.postgresServer != nil))
    func serverRestart() async throws {
        let server = try PrivatePostgresServer()
        defer { server.stop() }
        let lab = try makeLab("restart", .postgres, server: server)
        defer { lab.ws.cleanup() }
        var rng = SplitMix64(seed: 17 &+ 0x9E37_79B9_7F4A_7C15)
        let workers = try lab.configs.map { try DaemonProcess(lab.ws, config: $0) }
        try await waitForDone(lab, 100, &rng)
        try server.restart()
        let progress = lab.done()
        print("server restart: done when the server was back \(progress)")
        #expect(progress < Self.imageCount, "the restart came too late to interrupt anything")
        #expect(await lab.ws.wait(timeout: 240) { lab.done() == Self.imageCount }, "\(lab.ws.log().suffix(3000))")
        for worker in workers {
            #expect(
                worker.process.isRunning,
                "worker pid \(worker.pid) gave up (\(worker.exitDescription)): \(lab.ws.log().suffix(6000))")
        }
        await stopAll(workers, lab)
        try verify(lab)
    }

    @Test(
        "images dropped while the database is away are queued and counted once it is back, none lost",
        .enabled(if: Binary.exists && TestStateBackend.postgresServer != nil))
    func databaseAwayAtIntake() async throws {
        let server = try PrivatePostgresServer()
        defer { server.stop() }
        let ws = try Workspace("away", workers: 1)
        defer { ws.cleanup() }
        let state = try server.freshState()
        let config = try ws.writeConfig(
            ws.base + "/node.toml", extra: state.configTable(node: "worker-0", leaseSeconds: 5))
        let worker = try DaemonProcess(ws, config: config)
        let queue = { try state.queue(node: "test") }
        #expect(await ws.wait(timeout: 60) { ws.log().contains("ready") }, "\(ws.log().suffix(3000))")
        try server.pause()
        try ws.mkdir("PA")
        for index in 0..<3 {
            try SyntheticImage.png(seed: UInt64(70_000 + index)).write(
                to: URL(fileURLWithPath: ws.path("PA/PA.\(String(format: "%03d", index)).A.png")))
        }
        // A transaction keeps trying for 30 s before it fails, and the node's other transactions take turns with it.
        #expect(
            await ws.wait(timeout: 180) { ws.log().contains("cannot queue a file") },
            "the intake never met the missing database: \(ws.log().suffix(3000))")
        try server.start()
        #expect(
            await ws.wait(timeout: 120) { ((try? queue().status().counts[.done]) ?? 0) == 3 },
            "\(ws.log().suffix(3000))")
        await stopAll([worker], Lab(ws: ws, state: state, configs: [config]))
        #expect(ws.resultJSONs() == ["PA/PA.000.A.json", "PA/PA.001.A.json", "PA/PA.002.A.json"])
        try ws.checkResultsComplete()
    }
}
