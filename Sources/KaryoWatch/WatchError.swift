import Foundation

/// Why the drop-folder watcher could not start or keep watching.
public struct WatchError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is; new kinds may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case watchLimitReached, instanceLimitReached, rootUnavailable, folderUnavailable, initializationFailed
            case addWatchFailed, alreadyRunning
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// `fs.inotify.max_user_watches` is too low for the folders to watch.
        public static let watchLimitReached = Code(.watchLimitReached)
        /// `fs.inotify.max_user_instances` is exhausted.
        public static let instanceLimitReached = Code(.instanceLimitReached)
        /// A watch root is missing, not a directory, or unreadable.
        public static let rootUnavailable = Code(.rootUnavailable)
        /// A folder is gone, not a folder any more, or unreadable by the service user.
        public static let folderUnavailable = Code(.folderUnavailable)
        /// libinotifytools could not be initialised.
        public static let initializationFailed = Code(.initializationFailed)
        /// `inotify_add_watch` failed for another reason.
        public static let addWatchFailed = Code(.addWatchFailed)
        /// A second watcher was started in this process (libinotifytools keeps global state).
        public static let alreadyRunning = Code(.alreadyRunning)

        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public let code: Code
    /// The folder concerned, when there is one.
    public let path: String?
    /// What happened and what the operator can do, in words.
    public let message: String

    /// Makes an error of `code` about `path`.
    public init(_ code: Code, path: String?, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String {
        if let path { return "watch error (\(code)) on \(path): \(message)" }
        return "watch error (\(code)): \(message)"
    }

    /// The error for a failed `inotify_add_watch` on `path` with `errno` `code`.
    static func addWatch(path: String, errno code: Int32, maxUserWatches: Int, maxUserInstances: Int) -> WatchError {
        switch code {
        case ENOSPC:
            return WatchError(
                .watchLimitReached, path: path,
                message: "the inotify watch limit fs.inotify.max_user_watches (\(maxUserWatches)) is reached; "
                    + "every folder under the watch roots needs one watch. Raise it, e.g. "
                    + "`sysctl -w fs.inotify.max_user_watches=524288`, and persist it in "
                    + "/etc/sysctl.d/90-karyocount.conf")
        case EMFILE:
            return WatchError(
                .instanceLimitReached, path: path,
                message: "the inotify instance limit fs.inotify.max_user_instances (\(maxUserInstances)) is reached; "
                    + "raise it with `sysctl -w fs.inotify.max_user_instances=1024`")
        case ENOENT, ENOTDIR, EACCES:
            return WatchError(
                .folderUnavailable, path: path,
                message: "cannot watch the folder: \(String(cString: strerror(code))); check that it exists and that "
                    + "the service user can read it")
        default:
            return WatchError(
                .addWatchFailed, path: path, message: "inotify_add_watch failed: \(String(cString: strerror(code)))")
        }
    }
}
