import Foundation
import KaryoTestSupport
import Logging
import Synchronization

@testable import KaryoWatch

/// A fresh temporary folder, removed by `cleanup()`.
struct TempFolder {
    let path: String

    init(_ label: String = "watch") throws {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/karyo-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func url(_ relative: String) -> URL { URL(fileURLWithPath: path).appendingPathComponent(relative) }

    func file(_ relative: String) -> String { url(relative).path }

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: file(relative), withIntermediateDirectories: true)
    }

    /// Writes `bytes` bytes at once (an in-place write).
    func write(_ relative: String, bytes: Int = 1000) throws {
        try Data(repeating: 7, count: bytes).write(to: url(relative))
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a watcher over `roots` and records what it announces (and what it warns about).
final class WatchRecorder: Sendable {
    let watcher: DropFolderWatcher
    let warnings = LogCapture(level: .warning)
    private let seen = Mutex<[WatchEvent]>([])
    private let reader = Mutex<Task<Void, Never>?>(nil)

    /// `prepare` runs on the watcher before it starts.
    init(roots: [String], stability: Double = 0.5, prepare: (DropFolderWatcher) -> Void = { _ in }) throws {
        watcher = DropFolderWatcher(
            configuration: WatchConfiguration(roots: roots, stabilitySeconds: stability), logger: warnings.logger)
        prepare(watcher)
        try watcher.start()
        let task = Task { [self] in
            for await event in watcher.events { self.seen.withLock { $0.append(event) } }
        }
        reader.withLock { $0 = task }
    }

    var events: [WatchEvent] { seen.withLock { $0 } }

    /// Paths announced as ready, in order, with repeats.
    var readyPaths: [String] {
        events.compactMap {
            if case .ready(let file) = $0 { return file.path }
            return nil
        }
    }

    /// Names reported as not UTF-8, in order, with repeats.
    var undecodable: [UndecodableName] {
        events.compactMap {
            if case .undecodableName(let name) = $0 { return name }
            return nil
        }
    }

    var readyFiles: [ReadyFile] {
        events.compactMap {
            if case .ready(let file) = $0 { return file }
            return nil
        }
    }

    /// Waits until `condition` holds or `timeout` seconds pass; returns whether it held. The timeout only bounds a
    /// failure: a busy machine may take long to schedule the watcher, so it is generous.
    @discardableResult
    func wait(timeout: Double = 60, until condition: (WatchRecorder) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition(self)
    }

    func stop() async {
        watcher.stop()
        await reader.withLock { $0 }?.value
    }
}

/// The canonical form of a temp path (the temp folder may sit behind a symlink).
func canonical(_ path: String) -> String { FileSystem.realPath(path) ?? path }
