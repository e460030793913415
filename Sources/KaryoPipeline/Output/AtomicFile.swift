import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes files so that a reader sees either the old file or the complete new one, never a partial one, even
/// across a crash or power loss: temp file in the same folder, write, fsync, rename over the final name, fsync the
/// folder.
public enum AtomicFile {
    /// Prefix of temp names; they are hidden, so the watcher's ignore rules skip them.
    public static let tempPrefix = ".karyocount-tmp-"

    /// Atomically replaces (or creates) `url` with `data`, creating missing parent folders.
    public static func write(_ data: Data, to url: URL) throws(PipelineError) {
        let dir = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw PipelineError(.writeFailed, file: dir.path, detail: "cannot create folder: \(error)")
        }
        let temp = dir.appending(path: tempPrefix + UUID().uuidString + "-" + url.lastPathComponent)
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(url, "cannot create temp file", errno) }
        var ok = false
        defer {
            if !ok { unlink(temp.path) }
        }
        let written: Int = data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = posixWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return -1
                }
                offset += n
            }
            return offset
        }
        if written != data.count {
            let e = errno
            close(fd)
            throw failure(url, "write", e)
        }
        if fsync(fd) != 0 {
            let e = errno
            close(fd)
            throw failure(url, "fsync", e)
        }
        if close(fd) != 0 { throw failure(url, "close", errno) }
        if rename(temp.path, url.path) != 0 { throw failure(url, "rename", errno) }
        ok = true
        try syncFolder(dir)
    }

    /// fsyncs a folder so that a rename or new entry in it survives a power loss.
    public static func syncFolder(_ dir: URL) throws(PipelineError) {
        let dfd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw failure(dir, "open folder", errno) }
        defer { close(dfd) }
        if fsync(dfd) != 0 { throw failure(dir, "fsync folder", errno) }
    }

    /// Removes temp files a crash left in `dir` (not recursive): every one, or with `olderThan` only those last
    /// written at least that many seconds before `now` (the younger ones may be another process's writes in flight).
    public static func removeStaleTemps(in dir: URL, olderThan age: TimeInterval = 0, now: Date = Date()) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        for name in names where name.hasPrefix(tempPrefix) {
            let path = dir.appending(path: name).path
            if age > 0 {
                var info = stat()
                guard stat(path, &info) == 0,
                    now.timeIntervalSince1970 - TimeInterval(info.st_mtim.tv_sec) >= age
                else { continue }
            }
            unlink(path)
        }
    }

    private static func failure(_ url: URL, _ step: String, _ code: Int32) -> PipelineError {
        PipelineError(.writeFailed, file: url.path, detail: "\(step): \(String(cString: strerror(code)))")
    }
}

/// `write(2)`, reachable from inside `AtomicFile` whose own `write` shadows it.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
