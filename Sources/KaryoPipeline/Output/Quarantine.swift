import Foundation
import KaryoSupport

/// Keeps inputs that failed, with the reason, under `output_root/quarantine/`.
///
/// The input is COPIED, never moved: the drop folder may hold the lab's only copy of a capture, and removing it
/// there is the lab's decision. The job stays `failed` under its content hash, so a rescan does not retry the same
/// bytes; a fixed re-export has new bytes and is processed normally.
public struct Quarantine: Sendable {
    /// `output_root/quarantine`.
    public let folder: URL

    public init(folder: URL) {
        self.folder = folder
    }

    /// Copies `source` (read inside `root`, when given) to the quarantine and writes `<name>.error.json` beside
    /// it. When the input cannot be read, only the error JSON is written. Returns the error JSON's URL.
    @discardableResult
    public func add(
        source: URL, root: URL?, sha256: String?, failure: StageFailure, attempts: Int, now: Date = Date()
    ) throws(PipelineError) -> URL {
        try add(
            name: source.lastPathComponent, file: source.path, data: try? InputFile.read(source, root: root),
            sha256: sha256, failure: failure, attempts: attempts, now: now)
    }

    /// Keeps `data` (nil: it could not be read) of the input at `file` under a safe form of `name`, with its error
    /// JSON. Returns the error JSON's URL.
    @discardableResult
    public func add(
        name rawName: String, file: String, data: Data?, sha256: String?, failure: StageFailure, attempts: Int,
        now: Date = Date()
    ) throws(PipelineError) -> URL {
        let base = SafeName.component(rawName)
        let hash = sha256 ?? data.map { sha256Hex(of: $0) }
        // The first of `base`, `<hash prefix>-base`, `<hash prefix>-2-base`, ... that is free or holds these same
        // bytes: another input's record (its copy, or its error JSON alone when it could not be read) is never
        // overwritten.
        let prefix = hash.map { String($0.prefix(12)) } ?? "unreadable"
        var name = base
        var n = 1
        while !isFree(name, for: data) {
            n += 1
            name = prefix + (n == 2 ? "" : "-\(n)") + "-" + base
        }
        var copied: String?
        if let data {
            try AtomicFile.write(data, to: folder.appending(path: name))
            copied = name
        }
        let report = ErrorReport(
            file: file, sha256: hash, error: failure.error.description, stage: failure.stage.rawValue,
            attempts: attempts, time: KaryoJSON.timestamp(now), quarantinedCopy: copied)
        let url = folder.appending(path: name + ".error.json")
        try AtomicFile.write(try KaryoJSON.encode(report), to: url)
        return url
    }

    /// Whether a record named `name` may be written for an input with `data` (nil: unreadable): nothing is there
    /// yet, or the copy there holds the same bytes (the same bad input again, whose record is replaced).
    private func isFree(_ name: String, for data: Data?) -> Bool {
        if let existing = try? Data(contentsOf: folder.appending(path: name)) { return data == existing }
        return !FileManager.default.fileExists(atPath: folder.appending(path: name + ".error.json").path)
    }
}
