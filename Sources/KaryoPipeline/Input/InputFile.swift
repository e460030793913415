import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads input images safely: only regular files, only inside their watch root (symlinks resolved first), with a
/// size cap, in one read so that the hash and the decoded pixels come from the same bytes.
public enum InputFile {
    /// Files larger than this are refused before reading (no export is anywhere near it).
    public static let maxBytes = 1 << 30

    /// Size and modification time of a regular file, without reading it.
    public struct Fingerprint: Sendable, Equatable {
        public var size: Int
        /// Seconds since 1970, with sub-second precision.
        public var mtime: Double
    }

    /// The file's real path after resolving symlinks, checked to be a regular file inside `root` (when given).
    public static func resolve(_ file: URL, root: URL?) throws(PipelineError) -> URL {
        let real = file.resolvingSymlinksInPath().standardizedFileURL
        if let root {
            let realRoot = root.resolvingSymlinksInPath().standardizedFileURL
            guard KaryoConfig.isSameOrInside(real, realRoot), real != realRoot else {
                throw PipelineError(
                    .outsideRoot, file: file.path,
                    detail: "resolves to \(real.path), outside the watch root \(realRoot.path); not read")
            }
        }
        var st = stat()
        guard lstat(real.path, &st) == 0 else { throw openError(file, errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw PipelineError(.notRegularFile, file: file.path, detail: "not a regular file; not read")
        }
        return real
    }

    /// Size and mtime of the (resolved) file.
    public static func fingerprint(_ file: URL, root: URL?) throws(PipelineError) -> Fingerprint {
        let real = try resolve(file, root: root)
        var st = stat()
        guard stat(real.path, &st) == 0 else { throw openError(file, errno) }
        let mtime = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
        return Fingerprint(size: Int(st.st_size), mtime: mtime)
    }

    /// The file's bytes (after the root and regular-file checks).
    public static func read(_ file: URL, root: URL?) throws(PipelineError) -> Data {
        let real = try resolve(file, root: root)
        let fd = open(real.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw openError(file, errno) }
        defer { close(fd) }
        if let root { try checkOpened(fd, file: file, isInside: root) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw PipelineError(.notRegularFile, file: file.path, detail: "not a regular file; not read")
        }
        let size = Int(st.st_size)
        guard size <= maxBytes else {
            throw PipelineError(
                .unreadableInput, file: file.path, detail: "\(size) bytes is larger than any export (limit 1 GiB)")
        }
        var data = Data(count: size)
        var total = 0
        let failure: Int32? = data.withUnsafeMutableBytes { buffer in
            while total < size {
                let n = Glibc.read(fd, buffer.baseAddress! + total, size - total)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { break }
                total += n
            }
            return nil
        }
        if let failure {
            throw PipelineError(.unreadableInput, file: file.path, detail: String(cString: strerror(failure)))
        }
        data.count = total
        return data
    }

    /// Checks that the file open on `fd` lies inside `root`, by the kernel's own name for it: a parent folder
    /// swapped for a symlink between `resolve` and `open` (which `O_NOFOLLOW` does not guard) is caught here.
    /// Where the kernel offers no name (no `/proc`), the `resolve` check stands alone.
    static func checkOpened(_ fd: Int32, file: URL, isInside root: URL) throws(PipelineError) {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard n > 0 else { return }
        let opened = URL(fileURLWithPath: String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        let realRoot = root.resolvingSymlinksInPath().standardizedFileURL
        guard KaryoConfig.isSameOrInside(opened, realRoot), opened != realRoot else {
            throw PipelineError(
                .outsideRoot, file: file.path,
                detail: "opened \(opened.path), outside the watch root \(realRoot.path) (a folder on the way was "
                    + "replaced while it was opened); not read")
        }
    }

    /// `missingInput` for a file that is gone, else `unreadableInput` with the system's words for `code`.
    private static func openError(_ file: URL, _ code: Int32) -> PipelineError {
        PipelineError(
            code == ENOENT ? .missingInput : .unreadableInput, file: file.path, detail: String(cString: strerror(code)))
    }
}
