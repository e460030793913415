import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What `lstat`/`stat` says about a file, reduced to what the watcher compares.
struct FileStatus: Hashable, Sendable {
    enum Kind: Sendable { case regular, directory, symlink, other }
    var kind: Kind
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: timespec
    var changed: timespec

    static func == (lhs: FileStatus, rhs: FileStatus) -> Bool {
        lhs.kind == rhs.kind && lhs.device == rhs.device && lhs.inode == rhs.inode && lhs.size == rhs.size
            && lhs.modified.tv_sec == rhs.modified.tv_sec && lhs.modified.tv_nsec == rhs.modified.tv_nsec
            && lhs.changed.tv_sec == rhs.changed.tv_sec && lhs.changed.tv_nsec == rhs.changed.tv_nsec
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(device)
        hasher.combine(inode)
        hasher.combine(size)
        hasher.combine(modified.tv_sec)
        hasher.combine(modified.tv_nsec)
    }

    /// Seconds since the inode last changed (content or metadata), by the wall clock.
    func secondsSinceChange(now: timespec) -> Double {
        Double(now.tv_sec - changed.tv_sec) + Double(now.tv_nsec - changed.tv_nsec) / 1e9
    }

    /// `lstat` (`follow == false`) or `stat` of `path`; nil when it does not exist or cannot be read.
    static func of(_ path: String, follow: Bool = false) -> FileStatus? {
        var st = stat()
        let rc = follow ? stat(path, &st) : lstat(path, &st)
        guard rc == 0 else { return nil }
        let kind: Kind
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        default: kind = .other
        }
        return FileStatus(
            kind: kind, device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
            modified: st.st_mtim, changed: st.st_ctim)
    }
}

enum FileSystem {
    /// The canonical absolute path (symlinks resolved), or nil when it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The names in a directory (without `.` and `..`), and apart the raw bytes of names that are not valid
    /// UTF-8 (a String cannot name those files); both empty when it cannot be read.
    static func entries(of directory: String) -> (names: [String], undecodable: [[UInt8]]) {
        guard let dir = opendir(directory) else { return ([], []) }
        defer { closedir(dir) }
        var names: [String] = []
        var undecodable: [[UInt8]] = []
        while let entry = readdir(dir) {
            withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { c in
                    if let name = String(validatingCString: c) {
                        if name != "." && name != ".." { names.append(name) }
                    } else {
                        undecodable.append(bytes(ofCString: c))
                    }
                }
            }
        }
        return (names, undecodable)
    }

    /// The bytes of a NUL-terminated C name.
    static func bytes(ofCString c: UnsafePointer<CChar>) -> [UInt8] {
        Array(UnsafeBufferPointer(start: UnsafeRawPointer(c).assumingMemoryBound(to: UInt8.self), count: strlen(c)))
    }

    /// `parent/name` without doubled slashes.
    static func join(_ parent: String, _ name: String) -> String {
        parent.hasSuffix("/") ? parent + name : parent + "/" + name
    }

    /// Whether `path` (canonical) is `root` or lies below it.
    static func isWithin(_ path: String, root: String) -> Bool {
        if path == root { return true }
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return path.hasPrefix(prefix)
    }

    /// The wall clock now.
    static func now() -> timespec {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ts
    }
}
