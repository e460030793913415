import Foundation

/// An exclusive `flock` on a file, released when the value is freed or its holder exits (even by `kill -9`).
///
/// `StateLock(directory:)` locks `<state_dir>/karyocount.lock` while a `Pipeline` lives: a second pipeline on the
/// same state (a `watch --once` run beside the service, or a second service) would re-queue the first one's running
/// jobs as crashed and count them twice; it stops at start-up instead, naming the process that holds the lock.
final class StateLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock in `directory` (created if missing), or throws naming the process that holds it.
    convenience init(directory: URL) throws(PipelineError) {
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try self.init(file: directory.appending(path: "karyocount.lock"), waiting: false)
    }

    /// Locks `file` (created if missing); `waiting` blocks until the holder lets go instead of throwing.
    init(file: URL, waiting: Bool) throws(PipelineError) {
        let path = file.path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw PipelineError(
                .database, file: path, detail: "cannot open the lock file: \(String(cString: strerror(errno)))")
        }
        var status: Int32
        repeat { status = flock(fd, waiting ? LOCK_EX : LOCK_EX | LOCK_NB) } while status != 0 && errno == EINTR
        guard status == 0 else {
            let reason = errno
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw PipelineError(
                .database, file: path,
                detail: reason == EWOULDBLOCK
                    ? "another karyocount process (pid \(holder.flatMap { $0.isEmpty ? nil : $0 } ?? "unknown")) "
                        + "is using this state_dir; stop it first"
                    : "cannot lock: \(String(cString: strerror(reason)))")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        descriptor = fd
    }

    deinit { close(descriptor) }
}
