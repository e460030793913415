import CInotifyTools
import Foundation
import KaryoSupport
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What the watcher reports.
public enum WatchEvent: Sendable, Hashable {
    /// A file is finished and may be read.
    case ready(ReadyFile)
    /// Every file present at start-up has been announced (or has gone away): the backlog is handed over.
    case initialScanComplete
    /// A file or folder whose name is not UTF-8: it cannot be taken, and must be reported (at every scan that
    /// finds it; the consumer reports each once).
    case undecodableName(UndecodableName)
}

/// How the drop folders are watched.
public struct WatchConfiguration: Sendable {
    /// The folders to watch, recursively.
    public var roots: [String]
    /// How long a file must stay unchanged before it is announced.
    public var stabilitySeconds: Double
    /// A full rescan every this many seconds (for network folders, where inotify sees nothing); nil: never.
    public var rescanIntervalSeconds: Double?
    /// Hidden and temporary names never taken.
    public var ignore: IgnoreRules

    /// Makes a configuration; the defaults are README.md's ("Input and output").
    public init(
        roots: [String], stabilitySeconds: Double = 2, rescanIntervalSeconds: Double? = nil,
        ignore: IgnoreRules = .standard
    ) {
        self.roots = roots
        self.stabilitySeconds = stabilitySeconds
        self.rescanIntervalSeconds = rescanIntervalSeconds
        self.ignore = ignore
    }
}

/// Watches drop folders with libinotifytools on a thread of its own and announces finished files.
///
/// Recursive watches are added folder by folder (symlinked folders are never followed); a new subfolder gets a
/// watch and is then rescanned, because files created before the watch are missed. Files are taken on
/// IN_CLOSE_WRITE, IN_MOVED_TO, and IN_CREATE of a non-empty regular file (sftp's link-and-unlink), then held until
/// stable. The roots are rescanned fully at start and after IN_Q_OVERFLOW. libinotifytools keeps global state, so
/// only one watcher may run per process.
public final class DropFolderWatcher: Sendable {
    /// Finished files and the end of the start-up backlog, in order.
    public let events: AsyncStream<WatchEvent>

    private let configuration: WatchConfiguration
    private let logger: Logger
    private let continuation: AsyncStream<WatchEvent>.Continuation
    private let control = Mutex(Control())
    private let finished = DispatchSemaphore(value: 0)

    private struct Control {
        var started = false
        var running = false
        var stopRequested = false
        var heartbeat = ContinuousClock.now
        var pauseForTesting = false
        var watchFailuresForTesting: [String: Int32] = [:]
    }

    private static let processWide = Mutex(false)

    /// Makes a watcher; nothing happens until `start()`.
    public init(configuration: WatchConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: WatchEvent.self, bufferingPolicy: .unbounded)
    }

    /// Adds the watches, runs the start-up rescan, and starts the event thread.
    ///
    /// Throws `WatchError` when a root is unusable, the watch limit is too low, or another watcher runs.
    public func start() throws {
        try control.withLock { state in
            guard !state.started else { throw WatchError(.alreadyRunning, path: nil, message: "already started") }
            state.started = true
        }
        try Self.processWide.withLock { busy in
            guard !busy else {
                throw WatchError(
                    .alreadyRunning, path: nil,
                    message: "another drop-folder watcher runs in this process (libinotifytools is process-wide)")
            }
            busy = true
        }
        let loop: WatchLoop
        do {
            loop = try WatchLoop(
                configuration: configuration, logger: logger,
                watchFailures: control.withLock { $0.watchFailuresForTesting })
            try loop.startupScan()
        } catch {
            inotifytools_cleanup()
            Self.processWide.withLock { $0 = false }
            continuation.finish()
            throw error
        }
        let thread = Thread { [self] in
            loop.run(
                emit: { self.continuation.yield($0) },
                keepRunning: {
                    self.control.withLock { state in
                        state.heartbeat = .now
                        return !state.stopRequested
                    }
                },
                paused: { self.control.withLock { $0.pauseForTesting } })
            inotifytools_cleanup()
            Self.processWide.withLock { $0 = false }
            self.continuation.finish()
            self.finished.signal()
        }
        thread.name = "karyocount.watch"
        control.withLock { $0.running = true }
        thread.start()
    }

    /// Stops the event thread, waits for it (at most about a second), and ends `events`.
    public func stop() {
        let wasRunning = control.withLock { state in
            defer { state.stopRequested = true }
            return state.running && !state.stopRequested
        }
        if wasRunning { finished.wait() }
    }

    /// The last time the event thread was seen alive; a watchdog pings only while this is recent.
    public var lastHeartbeat: ContinuousClock.Instant { control.withLock { $0.heartbeat } }

    /// Tests only: stops reading events (so the kernel queue can overflow) until set back to false.
    func setPausedForTesting(_ paused: Bool) {
        control.withLock { $0.pauseForTesting = paused }
    }

    /// Tests only, before `start()`: adding a watch on these folders fails with the given errno, as it does for an
    /// unreadable folder (tests may run as root, which reads every folder).
    func failWatchesForTesting(_ errnoByFolder: [String: Int32]) {
        control.withLock { $0.watchFailuresForTesting = errnoByFolder }
    }
}

/// The watcher's state, confined to the event thread after `startupScan()`.
private final class WatchLoop: @unchecked Sendable {
    private static let directoryMask =
        UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF)
        | UInt32(IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

    private let layout: DropFolderLayout
    private let configuration: WatchConfiguration
    private let logger: Logger
    private var tracker: StabilityTracker
    private var directories: [Int32: String] = [:]
    private var wdByPath: [String: Int32] = [:]
    private var startupBacklog: Set<String>? = nil
    /// Undecodable names found since the last tick, emitted with the next one.
    private var undecodable: [UndecodableName] = []
    private var lastTick = ContinuousClock.now
    private var lastFullRescan = ContinuousClock.now
    private let watchFailures: [String: Int32]

    init(configuration: WatchConfiguration, logger: Logger, watchFailures: [String: Int32]) throws {
        self.watchFailures = watchFailures
        var roots: [String] = []
        for root in configuration.roots {
            guard let canonical = FileSystem.realPath(root), FileStatus.of(canonical)?.kind == .directory else {
                throw WatchError(
                    .rootUnavailable, path: root,
                    message: "the watch root does not exist or is not a folder; create it or fix `watch_roots`")
            }
            roots.append(canonical)
        }
        self.layout = DropFolderLayout(roots: roots, ignore: configuration.ignore)
        self.configuration = configuration
        self.logger = logger
        self.tracker = StabilityTracker(stabilitySeconds: configuration.stabilitySeconds)
        guard inotifytools_initialize() != 0 else {
            let code = inotifytools_error()
            throw WatchError(
                code == EMFILE ? .instanceLimitReached : .initializationFailed, path: nil,
                message: "cannot initialise inotify: \(String(cString: strerror(code)))")
        }
    }

    func startupScan() throws {
        try fullRescan(reason: "start-up")
        startupBacklog = Set(tracker.pending.keys)
    }

    func run(
        emit: (WatchEvent) -> Void, keepRunning: () -> Bool, paused: () -> Bool
    ) {
        tick(emit: emit)
        while keepRunning() {
            if paused() {
                usleep(50_000)
                continue
            }
            if let event = inotifytools_next_event(1) {
                handle(event)
            } else if inotifytools_error() != 0 && inotifytools_error() != EINTR {
                logger.error("reading inotify events failed: \(String(cString: strerror(inotifytools_error())))")
                usleep(200_000)
            }
            if let interval = configuration.rescanIntervalSeconds,
                ContinuousClock.now - lastFullRescan >= .seconds(interval)
            {
                rescanLogging(reason: "periodic")
            }
            if ContinuousClock.now - lastTick >= .milliseconds(250) { tick(emit: emit) }
        }
    }

    private func tick(emit: (WatchEvent) -> Void) {
        lastTick = .now
        for name in undecodable { emit(.undecodableName(name)) }
        undecodable.removeAll()
        for file in tracker.tick(now: FileSystem.now()) {
            logger.debug("file ready", metadata: ["path": "\(file.path)", "size": "\(file.size)"])
            emit(.ready(file))
        }
        if let backlog = startupBacklog, backlog.allSatisfy({ tracker.pending[$0] == nil }) {
            startupBacklog = nil
            emit(.initialScanComplete)
        }
    }

    private func handle(_ event: UnsafeMutablePointer<inotify_event>) {
        let mask = event.pointee.mask
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            logger.warning("the inotify event queue overflowed; rescanning every watch root")
            rescanLogging(reason: "overflow")
            return
        }
        let wd = event.pointee.wd
        if mask & UInt32(IN_IGNORED) != 0 {
            if let path = directories.removeValue(forKey: wd) { wdByPath[path] = nil }
            return
        }
        guard let directory = directories[wd], let root = layout.root(containing: directory) else { return }
        guard let cName = karyo_inotify_event_name(event) else { return }
        guard let name = String(validatingCString: cName) else {
            if mask & UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) != 0 {
                undecodable.append(
                    UndecodableName(
                        folder: directory, bytes: FileSystem.bytes(ofCString: cName), root: root,
                        isFolder: mask & UInt32(IN_ISDIR) != 0))
            }
            return
        }
        guard !name.isEmpty else { return }
        let path = FileSystem.join(directory, name)
        if mask & UInt32(IN_ISDIR) != 0 {
            if mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0, !layout.isIgnored(path, under: root) {
                do {
                    for candidate in try watchTree(path, under: root) { tracker.observe(candidate) }
                } catch {
                    logger.error("\(error)")
                }
            } else if mask & UInt32(IN_MOVED_FROM | IN_DELETE) != 0 {
                unwatchTree(path)
            }
            return
        }
        if mask & UInt32(IN_DELETE | IN_MOVED_FROM) != 0 {
            tracker.forget(path)
            return
        }
        let takes: Bool
        if mask & UInt32(IN_CLOSE_WRITE | IN_MOVED_TO) != 0 {
            takes = true
        } else if mask & UInt32(IN_CREATE) != 0, let status = FileStatus.of(path) {
            takes = (status.kind == .regular && status.size > 0) || status.kind == .symlink
        } else {
            takes = false
        }
        if takes, let candidate = layout.candidate(at: path, under: root, logger: logger) {
            tracker.observe(candidate)
        }
    }

    /// Adds watches on `directory` and every folder below it (parents first, then listing), returning the files.
    /// A folder below a root that is gone or unreadable is skipped with a warning, and the walk goes on; a root that
    /// cannot be watched, or a full watch table, fails the walk.
    private func watchTree(_ directory: String, under root: String) throws -> [Candidate] {
        try layout.walk(directory, under: root, logger: logger, undecodable: { self.undecodable.append($0) }) { dir in
            let injected = watchFailures[dir]
            let wd = injected == nil ? inotifytools_watch_file(dir, Int32(bitPattern: Self.directoryMask)) : 0
            guard wd != 0 else {
                let error = WatchError.addWatch(
                    path: dir, errno: injected ?? inotifytools_error(),
                    maxUserWatches: Int(inotifytools_get_max_user_watches()),
                    maxUserInstances: Int(inotifytools_get_max_user_instances()))
                guard error.code == .folderUnavailable, !layout.roots.contains(dir) else { throw error }
                logger.warning(
                    "skipping a folder: \(error.message); its files are taken once it can be watched (rescan or restart)",
                    metadata: ["folder": "\(dir)"])
                return false
            }
            // libinotifytools files folders under a name ending in "/".
            let id = max(inotifytools_wd_from_filename(dir + "/"), inotifytools_wd_from_filename(dir))
            if id > 0 {
                if let old = wdByPath[dir], old != id { directories[old] = nil }
                if let oldPath = directories[id], oldPath != dir { wdByPath[oldPath] = nil }
                directories[id] = dir
                wdByPath[dir] = id
            }
            return true
        }
    }

    private func unwatchTree(_ directory: String) {
        for (wd, path) in directories where FileSystem.isWithin(path, root: directory) {
            inotifytools_remove_watch_by_wd(wd)
            directories[wd] = nil
            wdByPath[path] = nil
        }
        tracker.pending.keys.filter { FileSystem.isWithin($0, root: directory) }.forEach { tracker.forget($0) }
    }

    private func fullRescan(reason: String) throws {
        lastFullRescan = .now
        var present = Set<String>()
        var count = 0
        for root in layout.roots {
            for candidate in try watchTree(root, under: root) {
                present.insert(candidate.path)
                tracker.observe(candidate)
                count += 1
            }
        }
        tracker.retainAnnounced(present)
        logger.info(
            "rescanned the watch roots",
            metadata: ["reason": "\(reason)", "files": "\(count)", "folders": "\(directories.count)"])
    }

    private func rescanLogging(reason: String) {
        do {
            try fullRescan(reason: reason)
        } catch {
            logger.error("rescan failed: \(error)")
        }
    }
}
