import Foundation
import KaryoNet

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
        var name = SafeName.component(source.lastPathComponent)
        let data = try? InputFile.read(source, root: root)
        let hash = sha256 ?? data.map { sha256Hex(of: $0) }
        if let existing = try? Data(contentsOf: folder.appending(path: name)), existing != data {
            name = (hash.map { String($0.prefix(12)) } ?? "unreadable") + "-" + name
        }
        var copied: String?
        if let data {
            try AtomicFile.write(data, to: folder.appending(path: name))
            copied = name
        }
        let report = ErrorReport(
            file: source.path, sha256: hash, error: failure.error.description, stage: failure.stage.rawValue,
            attempts: attempts, time: KaryoJSON.timestamp(now), quarantinedCopy: copied)
        let url = folder.appending(path: name + ".error.json")
        try AtomicFile.write(try KaryoJSON.encode(report), to: url)
        return url
    }
}
