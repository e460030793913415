import Foundation
import KaryoSupport
import Testing

@testable import KaryoWatch

/// One libinotifytools instance per process: these tests run one at a time.
@Suite("Drop-folder watcher", .serialized)
struct DropFolderWatcherTests {
    @Test("the start-up rescan finds files that existed before start, nested ones too, then reports the backlog done")
    func startupRescan() async throws {
        let root = try TempFolder()
        defer { root.cleanup() }
        try root.mkdir("caseA/sub")
        try root.write("top.png")
        try root.write("caseA/8129A.001.A.TIF")
        try root.write("caseA/sub/deep.png")
        try root.write(".hidden.png")
        let recorder = try WatchRecorder(roots: [root.path], stability: 0.3)
        #expect(await recorder.wait { $0.events.contains(.initialScanComplete) })
        await recorder.stop()
        let expected = ["top.png", "caseA/8129A.001.A.TIF", "caseA/sub/deep.png"].map { canonical(root.file($0)) }
        #expect(Set(recorder.readyPaths) == Set(expected))
        #expect(recorder.readyPaths.count == 3)
        let last = try #require(recorder.events.last)
        #expect(last == .initialScanComplete)
        let nested = try #require(recorder.readyFiles.first { $0.path.hasSuffix("deep.png") })
        #expect(nested.relativePath == "caseA/sub/deep.png")
        #expect(nested.root == canonical(root.path))
    }

    @Test("a file written slowly in place is not announced until it has stopped changing")
    func slowInPlaceWrite() async throws {
        let root = try TempFolder()
        defer { root.cleanup() }
        // Stability 3 s against 300 ms between chunks: a ten-fold margin, so a loaded machine that oversleeps the
        // test's pauses does not make the writer look finished.
        let recorder = try WatchRecorder(roots: [root.path], stability: 3.0)
        await recorder.wait { $0.events.contains(.initialScanComplete) }
        let path = root.file("slow.png")
        // Open, write, close and reopen repeatedly, as a writer that flushes in chunks does: CLOSE_WRITE each time.
        for chunk in 0..<8 {
            let handle: FileHandle
            if chunk == 0 {
                #expect(FileManager.default.createFile(atPath: path, contents: nil))
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(repeating: UInt8(chunk), count: 4096))
            try handle.close()
            try await Task.sleep(for: .milliseconds(300))
            #expect(recorder.readyPaths.isEmpty, "announced while still being written (chunk \(chunk))")
        }
        #expect(await recorder.wait { !$0.readyPaths.isEmpty })
        try await Task.sleep(for: .milliseconds(1500))
        await recorder.stop()
        #expect(recorder.readyPaths == [canonical(path)])
        #expect(try #require(recorder.readyFiles.first).size == 8 * 4096)
    }

    @Test("Latin-1 file and folder names, present at start or dropped later, are reported with their bytes, never lost")
    func undecodableNames() async throws {
        let root = try TempFolder()
        defer { root.cleanup() }
        /// Creates `name` (raw bytes) in the root: a file with `content`, or a folder.
        func create(_ name: [UInt8], content: [UInt8]?) {
            let path = Array(canonical(root.path).utf8) + [UInt8(ascii: "/")] + name + [0]
            path.withUnsafeBufferPointer { p in
                p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: path.count) { c in
                    if let content {
                        let fd = open(c, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                        _ = content.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                        close(fd)
                    } else {
                        mkdir(c, 0o755)
                    }
                }
            }
        }
        create(Array("M".utf8) + [0xFC] + Array("ller.001.A.png".utf8), content: [1, 2, 3])
        let recorder = try WatchRecorder(roots: [root.path], stability: 0.3)
        #expect(await recorder.wait { $0.events.contains(.initialScanComplete) })
        create(Array("Gr".utf8) + [0xE4] + Array("f".utf8), content: nil)
        create([0xC9] + Array("tienne.002.A.png".utf8), content: [4, 5])
        #expect(await recorder.wait { $0.undecodable.count >= 3 })
        await recorder.stop()
        let byPath = Dictionary(recorder.undecodable.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let base = canonical(root.path)
        #expect(
            Set(byPath.keys) == ["\(base)/M\\xFCller.001.A.png", "\(base)/Gr\\xE4f", "\(base)/\\xC9tienne.002.A.png"])
        #expect(byPath["\(base)/M\\xFCller.001.A.png"]?.read(maxBytes: 100) == [1, 2, 3])
        #expect(byPath["\(base)/\\xC9tienne.002.A.png"]?.read(maxBytes: 1) == nil, "over the size limit")
        #expect(byPath["\(base)/Gr\\xE4f"]?.isFolder == true)
        #expect(recorder.readyPaths.isEmpty)
    }

    @Test("a temp file renamed to its final name is announced once, under the final name")
    func tempThenRename() async throws {
        let root = try TempFolder()
        defer { root.cleanup() }
        try root.mkdir("case1")
        let recorder = try WatchRecorder(roots: [root.path], stability: 0.3)
        await recorder.wait { $0.events.contains(.initialScanComplete) }
        try root.write("case1/img.png.tmp", bytes: 5000)
        try await Task.sleep(for: .milliseconds(800))
        try FileManager.default.moveItem(atPath: root.file("case1/img.png.tmp"), toPath: root.file("case1/img.png"))
        #expect(await recorder.wait { !$0.readyPaths.isEmpty })
        try await Task.sleep(for: .milliseconds(1200))
        await recorder.stop()
        #expect(recorder.readyPaths == [canonical(root.file("case1/img.png"))])
    }

    @Test(
        "folders created after start, nested at once, have their files announced, also files written before the watch")
    func nestedNewFolders() async throws {
        let root = try TempFolder()
        let outside = try TempFolder("outside")
        defer {
            root.cleanup()
            outside.cleanup()
        }
        let recorder = try WatchRecorder(roots: [root.path], stability: 0.3)
        await recorder.wait { $0.events.contains(.initialScanComplete) }
        // Created in one go: the file lands before the watch on c/ can exist.
        try root.mkdir("p1/a/b/c")
        try root.write("p1/a/b/c/x.png")
        try root.write("p1/a/y.png")
        // A whole folder moved in from outside the root.
        try outside.mkdir("p2/cells")
        try outside.write("p2/cells/z.png")
        try FileManager.default.moveItem(atPath: outside.file("p2"), toPath: root.file("p2"))
        try await Task.sleep(for: .milliseconds(300))
        try root.write("p2/cells/later.png")
        let expected = Set(
            ["p1/a/b/c/x.png", "p1/a/y.png", "p2/cells/z.png", "p2/cells/later.png"].map { canonical(root.file($0)) })
        #expect(await recorder.wait { Set($0.readyPaths) == expected })
        try await Task.sleep(for: .milliseconds(800))
        await recorder.stop()
        #expect(recorder.readyPaths.count == expected.count, "announced twice: \(recorder.readyPaths)")
    }

    @Test("hidden and temporary names, and files inside hidden folders, are never announced")
    func ignoredNames() async throws {
        let root = try TempFolder()
        defer { root.cleanup() }
        let recorder = try WatchRecorder(roots: [root.path], stability: 0.3)
        await recorder.wait { $0.events.contains(.initialScanComplete) }
        try root.mkdir(".sync")
        for name in [".hidden.png", "x.tmp", "y.PART", "~lock.png", ".sync/inside.png", "z.png.part"] {
            try root.write(name)
        }
        try root.write("sentinel.png")
        #expect(await recorder.wait { !$0.readyPaths.isEmpty })
        try await Task.sleep(for: .milliseconds(800))
        await recorder.stop()
        #expect(recorder.readyPaths == [canonical(root.file("sentinel.png"))])
    }

    @Test("a link made with link() and no close (sftp's rename) is announced from IN_CREATE")
    func hardLinkCreate() async throws {
        let root = try TempFolder()
        defer { root.cleanup() }
        try root.mkdir("in")
        try root.write(".upload.png", bytes: 3000)
        let recorder = try WatchRecorder(roots: [root.path], stability: 0.3)
        await recorder.wait { $0.events.contains(.initialScanComplete) }
        #expect(link(root.file(".upload.png"), root.file("in/final.png")) == 0)
        #expect(unlink(root.file(".upload.png")) == 0)
        #expect(await recorder.wait { !$0.readyPaths.isEmpty })
        await recorder.stop()
        #expect(recorder.readyPaths == [canonical(root.file("in/final.png"))])
    }

    @Test(
        "a symlink to a file outside the roots is announced as the link, never followed; one inside is read at its target"
    )
    func symlinks() async throws {
        let root = try TempFolder()
        let outside = try TempFolder("secret")
        defer {
            root.cleanup()
            outside.cleanup()
        }
        try outside.write("secret.png")
        try outside.mkdir("dir")
        try outside.write("dir/other.png")
        try root.mkdir("store")
        try root.write("store/real.png")
        try FileManager.default.createSymbolicLink(
            atPath: root.file("pre-start-link.png"), withDestinationPath: outside.file("secret.png"))
        try FileManager.default.createSymbolicLink(
            atPath: root.file("linkdir"), withDestinationPath: outside.file("dir"))
        let recorder = try WatchRecorder(roots: [root.path], stability: 0.3)
        await recorder.wait { $0.events.contains(.initialScanComplete) }
        try FileManager.default.createSymbolicLink(
            atPath: root.file("evil.png"), withDestinationPath: outside.file("secret.png"))
        try FileManager.default.createSymbolicLink(
            atPath: root.file("../\(URL(fileURLWithPath: root.path).lastPathComponent)/inside.png"),
            withDestinationPath: root.file("store/real.png"))
        try await Task.sleep(for: .milliseconds(1500))
        await recorder.stop()
        let paths = recorder.readyPaths
        #expect(!paths.contains { $0.hasPrefix(canonical(outside.path)) }, "read outside the roots: \(paths)")
        let links = ["pre-start-link.png", "evil.png"].map { canonical(root.path) + "/" + $0 }
        #expect(Set(paths) == Set([canonical(root.file("store/real.png"))] + links))
        #expect(links.allSatisfy { FileStatus.of($0)?.kind == .symlink })
        let viaLink = recorder.readyFiles.filter { $0.relativePath == "inside.png" }
        #expect(viaLink.allSatisfy { $0.path == canonical(root.file("store/real.png")) })
    }

    @Test("after the kernel queue overflows, a full rescan announces every file that was missed")
    func overflowRescan() async throws {
        let root = try TempFolder()
        defer { root.cleanup() }
        let recorder = try WatchRecorder(roots: [root.path], stability: 0.2)
        await recorder.wait { $0.events.contains(.initialScanComplete) }
        recorder.watcher.setPausedForTesting(true)
        // Each file gives IN_CREATE + IN_CLOSE_WRITE: 9000 files overflow a 16384-event queue.
        let limit =
            (try? String(contentsOfFile: "/proc/sys/fs/inotify/max_queued_events", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 16384
        let count = limit / 2 + 800
        try root.mkdir("burst")
        for index in 0..<count {
            let fd = open(root.file("burst/f\(index).png"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            #expect(fd >= 0)
            _ = write(fd, "abc", 3)
            close(fd)
        }
        recorder.watcher.setPausedForTesting(false)
        #expect(await recorder.wait { $0.readyPaths.count >= count })
        try await Task.sleep(for: .milliseconds(500))
        await recorder.stop()
        #expect(Set(recorder.readyPaths).count == count)
        #expect(recorder.readyPaths.count == count, "some files were announced twice")
    }

    @Test("a second watcher in the same process is refused while the first runs")
    func oneWatcherPerProcess() async throws {
        let root = try TempFolder()
        defer { root.cleanup() }
        let recorder = try WatchRecorder(roots: [root.path])
        let second = DropFolderWatcher(configuration: WatchConfiguration(roots: [root.path]), logger: .init(label: "t"))
        #expect(throws: WatchError.self) { try second.start() }
        await recorder.stop()
        let third = DropFolderWatcher(configuration: WatchConfiguration(roots: [root.path]), logger: .init(label: "t"))
        try third.start()
        third.stop()
    }

    @Test("a subfolder that cannot be watched is skipped with a warning naming it and the cause; the rest is taken")
    func unwatchableSubfolder() async throws {
        let root = try TempFolder()
        defer { root.cleanup() }
        for folder in ["a", "locked", "locked/inner", "z"] { try root.mkdir(folder) }
        for file in ["a/1.png", "locked/2.png", "locked/inner/3.png", "z/4.png"] { try root.write(file) }
        let locked = canonical(root.file("locked"))
        let recorder = try WatchRecorder(roots: [root.path], stability: 0.3) {
            $0.failWatchesForTesting([locked: EACCES])
        }
        #expect(await recorder.wait { $0.events.contains(.initialScanComplete) })
        await recorder.stop()
        #expect(Set(recorder.readyPaths) == Set(["a/1.png", "z/4.png"].map { canonical(root.file($0)) }))
        let warning = recorder.warnings.all.filter { $0.contains("skipping a folder") }
        #expect(warning.count == 1)
        #expect(warning.first?.contains(locked) == true && warning.first?.contains("Permission denied") == true)
    }

    @Test(
        "a subfolder made unreadable (chmod 000) does not stop the start-up scan",
        .enabled(if: getuid() != 0, "root reads every folder"))
    func unreadableSubfolder() async throws {
        let root = try TempFolder()
        defer {
            chmod(root.file("locked"), 0o755)
            root.cleanup()
        }
        try root.mkdir("locked")
        try root.write("locked/2.png")
        try root.write("ok.png")
        #expect(chmod(root.file("locked"), 0) == 0)
        let recorder = try WatchRecorder(roots: [root.path], stability: 0.3)
        #expect(await recorder.wait { $0.events.contains(.initialScanComplete) })
        await recorder.stop()
        #expect(recorder.readyPaths == [canonical(root.file("ok.png"))])
        #expect(recorder.warnings.all.contains { $0.contains("skipping a folder") })
    }

    @Test("a missing watch root is a clear error naming the folder")
    func missingRoot() async throws {
        let watcher = DropFolderWatcher(
            configuration: WatchConfiguration(roots: ["/nonexistent/karyo-drop"]), logger: .init(label: "t"))
        let error = try #require(throws: WatchError.self) { try watcher.start() }
        #expect(error.code == .rootUnavailable)
        #expect(error.path == "/nonexistent/karyo-drop")
        watcher.stop()  // returns at once: nothing runs
        for await _ in watcher.events { Issue.record("a failed watcher must not report events") }
    }
}

@Suite("Watch errors and ignore rules")
struct WatchRulesTests {
    @Test("running out of inotify watches names the limit and the sysctl that raises it")
    func watchLimitMessage() {
        let error = WatchError.addWatch(
            path: "/srv/drop/c1", errno: ENOSPC, maxUserWatches: 8192, maxUserInstances: 128)
        #expect(error.code == .watchLimitReached)
        #expect(error.description.contains("fs.inotify.max_user_watches (8192)"))
        #expect(error.description.contains("sysctl -w fs.inotify.max_user_watches="))
        #expect(error.description.contains("/srv/drop/c1"))
    }

    @Test("hidden, temporary, and lock names are ignored; ordinary exports are not")
    func ignoreRules() {
        let rules = IgnoreRules.standard
        for name in [".x.png", "a.tmp", "a.TMP", "b.part", "~c.png", ""] {
            #expect(rules.ignores(name: name), "\(name)")
        }
        for name in ["8129A.001.A.TIF", "18-Y2087.145.O.png", "a.tmp.png", "x~.png"] {
            #expect(!rules.ignores(name: name), "\(name)")
        }
        #expect(rules.ignores(relativePath: "case/.partial/x.png"))
        #expect(!rules.ignores(relativePath: "case/cells/x.png"))
    }
}
