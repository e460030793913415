import Foundation
import KaryoImage
import KaryoSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The `karyocount` binary built next to this test bundle (`.build/<config>/karyocount`).
enum Binary {
    static let path: String = {
        if let override = ProcessInfo.processInfo.environment["KARYOCOUNT_BINARY"] { return override }
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // The test runner may sit inside a .xctest bundle folder.
        while dir.path != "/"
            && !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("karyocount").path)
        {
            if dir.lastPathComponent == ".build" { break }
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("karyocount").path
    }()

    static var exists: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Runs `karyocount arguments` in `folder` (this process's own when nil) to its end: its exit status and its
    /// stdout and stderr together.
    static func run(_ arguments: [String], in folder: String? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}

/// Synthetic metaphase-like test images: dark rods on a light, slightly uneven background. Each seed gives
/// different content (so a different SHA-256) and a deterministic count.
enum SyntheticImage {
    static func png(seed: UInt64, width: Int = 200, height: Int = 150, rods: Int = 30) throws -> Data {
        var rng = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15)
        var image = GrayImage(width: width, height: height, value: 0.9)
        for y in 0..<height {
            for x in 0..<width { image[x, y] = 0.86 + 0.06 * Float(x) / Float(width) }
        }
        for _ in 0..<rods {
            let w = 3 + Int(rng.next() % 3)
            let h = 8 + Int(rng.next() % 14)
            let x0 = 4 + Int(rng.next() % UInt64(width - w - 8))
            let y0 = 4 + Int(rng.next() % UInt64(height - h - 8))
            for y in y0..<(y0 + h) {
                for x in x0..<(x0 + w) { image[x, y] = 0.15 + Float(rng.next() % 20) / 100 }
            }
        }
        return try PNGEncoder.encode(image)
    }
}

/// A temp drop folder, output and state folder, and config for one daemon.
final class Workspace: @unchecked Sendable {
    let base: String
    var drop: String { base + "/drop" }
    var output: String { base + "/out" }
    var state: String { base + "/state" }
    var configPath: String { base + "/config.toml" }
    var logPath: String { base + "/daemon.log" }

    /// The configuration every process of this workspace shares; `config.toml` is it plus `extraConfig`.
    let commonConfig: String

    /// `detector` is the configuration's detector lines (default: the classical detector, which needs no model).
    init(
        _ label: String, workers: Int = 2, stability: Double = 0.5, detector: String = "detector = \"classical\"",
        extraConfig: String = ""
    ) throws {
        let base =
            FileManager.default.temporaryDirectory.path
            + "/karyo-daemon-\(label)-\(getpid())-\(UUID().uuidString.prefix(6))"
        self.base = base
        commonConfig = """
            watch_roots = ["\(base)/drop"]
            output_root = "\(base)/out"
            state_dir = "\(base)/state"
            \(detector)
            workers = \(workers)
            stability_seconds = \(stability)
            log_level = "info"
            """
        for dir in [drop, output, state] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try writeConfig(configPath, extra: extraConfig)
    }

    /// Writes the common configuration plus `extra` (TOML appended at the end) to `path`; returns `path`.
    @discardableResult
    func writeConfig(_ path: String, extra: String) throws -> String {
        try (commonConfig + "\n" + extra + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: base) }

    func path(_ relative: String) -> String { drop + "/" + relative }

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
    }

    /// Every result JSON (not patient.json, not hidden temp files) under results/, relative to results/.
    func resultJSONs() -> [String] {
        files(under: output + "/results").filter {
            $0.hasSuffix(".json") && !$0.hasSuffix("/patient.json") && !isHidden($0)
        }
    }

    /// Every file under `folder`, relative to it.
    func files(under folder: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return [] }
        var found: [String] = []
        while let item = walker.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + item, isDirectory: &isDir), !isDir.boolValue {
                found.append(item)
            }
        }
        return found.sorted()
    }

    func isHidden(_ relative: String) -> Bool {
        relative.split(separator: "/").contains { $0.hasPrefix(".") }
    }

    func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Every non-hidden result JSON parses and every picture (annotated, view, thumbnail) is a complete PNG; nothing
    /// else sits under results/.
    func checkResultsComplete() throws {
        for file in files(under: output + "/results") where !isHidden(file) {
            let url = URL(fileURLWithPath: output + "/results/" + file)
            if file.hasSuffix(".json") {
                #expect((try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) != nil, "half-written \(file)")
            } else if [".annotated.png", ".view.png", ".thumb.png"].contains(where: { file.hasSuffix($0) }) {
                #expect(isCompletePNG(try Data(contentsOf: url)), "half-written \(file)")
            } else {
                Issue.record("unexpected file under results/: \(file)")
            }
        }
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until `condition` holds or `timeout` seconds pass; returns whether it held.
    @discardableResult
    func wait(timeout: Double, until condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return condition()
    }
}

/// A running `karyocount watch` process, its stderr appended to the workspace's log.
final class DaemonProcess: @unchecked Sendable {
    let process = Process()

    /// Starts `karyocount watch` on `workspace`'s configuration, or on `config` when given.
    init(
        _ workspace: Workspace, config: String? = nil, once: Bool = false, environment: [String: String] = [:]
    ) throws {
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = ["watch", "--config", config ?? workspace.configPath] + (once ? ["--once"] : [])
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = nil
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["SWIFT_BACKTRACE"] = "enable=yes,threads=all,interactive=no,color=no"
        process.environment = env.merging(environment) { $1 }
        // Appending, not writing from the end as it was at start: several processes share the log, and each would
        // overwrite what the others wrote after it started.
        let fd = open(workspace.logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let log = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        process.standardError = log
        process.standardOutput = log
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    func signal(_ number: Int32) { kill(pid, number) }

    /// How the process ended ("running" while it runs): its exit status or the signal that ended it.
    var exitDescription: String {
        guard !process.isRunning else { return "running" }
        let how = process.terminationReason == .uncaughtSignal ? "signal" : "exit status"
        return "\(how) \(process.terminationStatus)"
    }

    /// Waits for exit (at most `timeout` seconds, then SIGABRT, so the Swift runtime writes every thread's backtrace
    /// to the log, then SIGKILL); returns the exit status.
    @discardableResult
    func waitForExit(timeout: Double = 60) async -> Int32 {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            kill(pid, SIGABRT)
            let backtraceDeadline = ContinuousClock.now + .seconds(20)
            while process.isRunning && ContinuousClock.now < backtraceDeadline {
                try? await Task.sleep(for: .milliseconds(100))
            }
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return -1
        }
        return process.terminationStatus
    }
}

/// A datagram socket standing in for systemd's notify socket.
final class NotifyListener: @unchecked Sendable {
    let fd: Int32
    let path: String
    private let received = Mutex<[String]>([])
    private let closing = Atomic<Bool>(false)
    private let reader = DispatchSemaphore(value: 0)

    /// Binds `folder/notify.sock` and, when `reading`, reads it continuously as systemd does (an unread socket fills
    /// up).
    init(in folder: String, reading: Bool = true) throws {
        path = folder + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + 1)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EINVAL) }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard reading else {
            reader.signal()
            return
        }
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !closing.load(ordering: .relaxed) {
                let count = recv(fd, &buffer, buffer.count, 0)
                guard count > 0 else { continue }
                let message = String(decoding: buffer[..<count], as: UTF8.self)
                received.withLock { $0.append(message) }
            }
            reader.signal()
        }.start()
    }

    /// The datagrams not yet returned, once one matches `stopWhen` or `timeout` seconds pass.
    func receive(timeout: Double, stopWhen: (String) -> Bool) -> [String] {
        let deadline = ContinuousClock.now + .seconds(timeout)
        var messages: [String] = []
        while true {
            messages += received.withLock { taken in
                defer { taken.removeAll() }
                return taken
            }
            if messages.contains(where: stopWhen) || ContinuousClock.now >= deadline { return messages }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Stops the reader; call before the listener goes away.
    func close() {
        closing.store(true, ordering: .relaxed)
        reader.wait()
        Glibc.close(fd)
    }
}

/// Writes `data` to `path` in `chunks` pieces with `pause` between them, keeping the file open (an in-place write).
func writeSlowly(_ data: Data, to path: String, chunks: Int, pause: Duration) async throws {
    try await onOwnThread {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let step = (data.count + chunks - 1) / chunks
        var offset = 0
        while offset < data.count {
            try handle.write(contentsOf: data[offset..<min(offset + step, data.count)])
            offset += step
            if offset < data.count { sleep(for: pause) }
        }
        try handle.close()
    }
}

/// Runs `body` on a thread of its own: a writer's pauses must not stretch while CPU-bound suites hold Swift's
/// cooperative threads (a 0.3 s `Task.sleep` was seen to oversleep past a 2 s stability window on a loaded machine).
func onOwnThread(_ body: @escaping @Sendable () throws -> Void) async throws {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A blocking sleep of the calling thread.
func sleep(for duration: Duration) {
    let (seconds, attoseconds) = duration.components
    Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
}

/// Whether `data` is a complete PNG (signature, and an IEND chunk at the very end).
func isCompletePNG(_ data: Data) -> Bool {
    let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    let iend: [UInt8] = [0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]
    return data.count > 20 && Array(data.prefix(8)) == signature && Array(data.suffix(8)) == iend
}
