import Foundation
import KaryoSupport
import Logging

/// A file the watcher has announced: finished (stable for the configured time) and inside a watch root.
public struct ReadyFile: Sendable, Hashable {
    /// The canonical absolute path to read, inside one of the watch roots (a symlink is resolved first). A symlink
    /// pointing outside the roots is announced under its own path, never resolved, so that the reader refuses it
    /// and reports it as bad input.
    public let path: String
    /// The canonical watch root the file was dropped under.
    public let root: String
    /// Where the file was dropped, relative to `root` (for a symlink, the link's own place).
    public let relativePath: String
    /// The size in bytes when it was announced.
    public let size: Int64
    /// The device and inode when it was announced, so a reader can check it opened the same file.
    public let device: UInt64
    /// See `device`.
    public let inode: UInt64
}

/// A file or folder in a drop folder whose name is not valid UTF-8 (a Latin-1 name from a Windows or CIFS share):
/// it cannot be opened by a String path, so it is reported instead of taken.
public struct UndecodableName: Sendable, Hashable {
    /// The folder holding it (canonical).
    public let folder: String
    /// The name's bytes.
    public let bytes: [UInt8]
    /// The watch root it lies under.
    public let root: String
    /// Whether it is a folder (nothing under it can be taken).
    public let isFolder: Bool

    public init(folder: String, bytes: [UInt8], root: String, isFolder: Bool) {
        self.folder = folder
        self.bytes = bytes
        self.root = root
        self.isFolder = isFolder
    }

    /// The name found in a folder listing, a folder when `lstat` says so.
    init(listedIn folder: String, bytes: [UInt8], root: String) {
        var st = stat()
        let found = Self.withRawPath(folder: folder, bytes: bytes) { lstat($0, &st) == 0 }
        self.init(folder: folder, bytes: bytes, root: root, isFolder: found && st.st_mode & S_IFMT == S_IFDIR)
    }

    /// Calls `body` with the NUL-terminated raw path of `bytes` in `folder`, the only way to reach such a file.
    private static func withRawPath<T>(
        folder: String, bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> T
    ) -> T {
        let raw = Array(folder.utf8) + [UInt8(ascii: "/")] + bytes + [0]
        return raw.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: raw.count, body)
        }
    }

    /// The path with each byte that is not UTF-8 written `\xNN`, e.g. `/drop/M\xFCller.001.A.png`.
    public var path: String {
        var name = ""
        var rest = bytes[...]
        while !rest.isEmpty {
            var valid = rest.count
            while valid > 0, String(validating: rest.prefix(valid), as: UTF8.self) == nil { valid -= 1 }
            if valid > 0 {
                name += String(decoding: rest.prefix(valid), as: UTF8.self)
                rest = rest.dropFirst(valid)
            } else {
                name += String(format: "\\x%02X", rest.first!)
                rest = rest.dropFirst()
            }
        }
        return FileSystem.join(folder, name)
    }

    /// The file's bytes, opened by its raw name (no symlink followed), when it is a regular file of at most
    /// `maxBytes`; nil otherwise.
    public func read(maxBytes: Int) -> [UInt8]? {
        guard !isFolder else { return nil }
        let fd = Self.withRawPath(folder: folder, bytes: bytes) { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int(st.st_size) <= maxBytes else { return nil }
        var data = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < data.count {
            let n = data.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if n <= 0 { return nil }
            done += n
        }
        return data
    }
}

/// A file seen in a drop folder, not yet known to be finished.
struct Candidate: Sendable {
    var path: String
    var root: String
    var relativePath: String
    var status: FileStatus

    func ready(with status: FileStatus) -> ReadyFile {
        ReadyFile(
            path: path, root: root, relativePath: relativePath, size: status.size, device: status.device,
            inode: status.inode)
    }
}

/// The watch roots (canonical) and the rules deciding which names under them are taken.
struct DropFolderLayout: Sendable {
    let roots: [String]
    let ignore: IgnoreRules

    /// The root that holds `path` (canonical), if any; the longest match wins for nested roots.
    func root(containing path: String) -> String? {
        roots.filter { FileSystem.isWithin(path, root: $0) }.max { $0.count < $1.count }
    }

    func relativePath(of path: String, under root: String) -> String {
        path == root ? "" : String(path.dropFirst(root.hasSuffix("/") ? root.count : root.count + 1))
    }

    /// Whether `path` (as seen under `root`) is a name the watcher never takes.
    func isIgnored(_ path: String, under root: String) -> Bool {
        ignore.ignores(relativePath: relativePath(of: path, under: root))
    }

    /// The file behind `path` if it may be taken: a regular file, or a symlink to a regular file inside the roots.
    /// A symlink to a file outside the roots is taken as the link itself (for the reader to refuse and report).
    func candidate(at path: String, under root: String, logger: Logger) -> Candidate? {
        let relative = relativePath(of: path, under: root)
        guard !ignore.ignores(relativePath: relative), let status = FileStatus.of(path) else { return nil }
        switch status.kind {
        case .regular:
            return Candidate(path: path, root: root, relativePath: relative, status: status)
        case .symlink:
            guard let target = FileSystem.realPath(path), let targetStatus = FileStatus.of(target),
                targetStatus.kind != .directory
            else {
                logger.warning(
                    "ignoring a symlink that points to a folder or to nothing", metadata: ["path": "\(path)"])
                return nil
            }
            guard self.root(containing: target) != nil else {
                // Never followed: announced as the link itself, which the reader refuses and reports as bad input.
                return Candidate(path: path, root: root, relativePath: relative, status: status)
            }
            return Candidate(path: target, root: root, relativePath: relative, status: targetStatus)
        case .directory, .other:
            return nil
        }
    }

    /// Walks `directory` (canonical, under `root`) without following symlinked folders: calls `visitDirectory` on
    /// every folder, parents before children (so a watch can be added before the folder is listed), lists the
    /// folders it returns true for, and returns the candidate files found.
    func walk(
        _ directory: String, under root: String, logger: Logger, undecodable: (UndecodableName) -> Void,
        visitDirectory: (String) throws -> Bool
    ) rethrows -> [Candidate] {
        var files: [Candidate] = []
        var stack = [directory]
        while let dir = stack.popLast() {
            guard try visitDirectory(dir) else { continue }
            let entries = FileSystem.entries(of: dir)
            for bytes in entries.undecodable {
                undecodable(UndecodableName(listedIn: dir, bytes: bytes, root: root))
            }
            for name in entries.names {
                let path = FileSystem.join(dir, name)
                if ignore.ignores(name: name) { continue }
                guard let status = FileStatus.of(path) else { continue }
                if status.kind == .directory {
                    stack.append(path)
                } else if let candidate = candidate(at: path, under: root, logger: logger) {
                    files.append(candidate)
                }
            }
        }
        return files
    }
}
