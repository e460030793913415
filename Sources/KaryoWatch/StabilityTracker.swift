#if canImport(Glibc)
    import Glibc
#endif

/// Holds files until they are finished: unchanged (size, times, inode) between two looks and untouched for
/// `stabilitySeconds` by the inode change time. Remembers what it announced so a rescan does not repeat it.
struct StabilityTracker {
    let stabilitySeconds: Double
    private(set) var pending: [String: Candidate] = [:]
    private var announced: [String: FileStatus] = [:]

    init(stabilitySeconds: Double) {
        self.stabilitySeconds = stabilitySeconds
    }

    /// Starts tracking a file, unless it was already announced in exactly this state.
    mutating func observe(_ candidate: Candidate) {
        if announced[candidate.path] == candidate.status { return }
        announced[candidate.path] = nil
        if var existing = pending[candidate.path] {
            existing.relativePath = candidate.relativePath
            pending[candidate.path] = existing
        } else {
            pending[candidate.path] = candidate
        }
    }

    /// Drops a file that was deleted or moved away.
    mutating func forget(_ path: String) {
        pending[path] = nil
        announced[path] = nil
    }

    /// Drops announcement records of files not in `present` (after a full rescan), keeping memory bounded.
    mutating func retainAnnounced(_ present: Set<String>) {
        announced = announced.filter { present.contains($0.key) }
    }

    /// Looks at every pending file again and returns those that are now finished.
    mutating func tick(now: timespec) -> [ReadyFile] {
        var ready: [ReadyFile] = []
        for (path, candidate) in pending {
            // A symlink candidate is one pointing outside the roots: it is announced as the link, never followed.
            guard let status = FileStatus.of(path), status.kind == .regular || status.kind == .symlink else {
                pending[path] = nil
                continue
            }
            if status != candidate.status {
                var updated = candidate
                updated.status = status
                pending[path] = updated
            } else if status.secondsSinceChange(now: now) >= stabilitySeconds {
                pending[path] = nil
                announced[path] = status
                ready.append(candidate.ready(with: status))
            }
        }
        return ready.sorted { $0.path < $1.path }
    }
}
