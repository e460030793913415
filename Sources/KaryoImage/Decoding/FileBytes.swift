import Foundation
import Glibc

/// Whole-file reads and writes through POSIX calls, so that failures keep their `errno`.
enum FileBytes {
    /// The complete content of the file at `path`.
    static func read(path: String) throws(ImageError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ImageError(path: path, cause: .unreadable(errno: errno)) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw ImageError(path: path, cause: .unreadable(errno: errno)) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw ImageError(path: path, cause: .unreadable(errno: EISDIR)) }
        var data = Data(count: Int(info.st_size))
        var filled = 0
        let failure: Int32? = data.withUnsafeMutableBytes { buffer in
            while filled < buffer.count {
                let n = Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { break }  // The file shrank while being read.
                filled += n
            }
            return nil
        }
        if let failure { throw ImageError(path: path, cause: .unreadable(errno: failure)) }
        if filled < data.count { data.removeSubrange(filled...) }
        return data
    }

    /// Writes `data` to `path`, replacing the file (not atomically: the pipeline renames temp files itself).
    static func write(_ data: Data, to path: String) throws(ImageError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw ImageError(path: path, cause: .unwritable(errno: errno)) }
        var written = 0
        let failure: Int32? = data.withUnsafeBytes { buffer in
            while written < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + written, buffer.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return nil
        }
        let closeFailed = close(fd) != 0 ? errno : nil
        if let failure = failure ?? closeFailed { throw ImageError(path: path, cause: .unwritable(errno: failure)) }
    }
}
