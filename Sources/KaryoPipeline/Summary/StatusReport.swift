import Foundation

/// What `karyocount status` prints: queue depth, per-state counts, the last errors, flagged and collecting patients.
public struct StatusReport: Sendable {
    public var queue: QueueStatus
    public var patients: [PatientRow]

    /// Reads the queue's state now.
    public init(queue: JobQueue, errorLimit: Int = 5) throws(PipelineError) {
        self.queue = try queue.status(errorLimit: errorLimit)
        self.patients = try queue.patients()
    }

    /// Plain text for a terminal.
    public var text: String {
        var lines: [String] = []
        let c = queue.counts
        lines.append("queue depth \(queue.depth) (queued \(c[.queued] ?? 0), running \(c[.running] ?? 0))")
        lines.append(
            "jobs: done \(c[.done] ?? 0), failed \(c[.failed] ?? 0), skipped \(c[.skipped] ?? 0) (karyograms); "
                + "files refused before queueing \(queue.refused)")
        let flagged = patients.filter { $0.report.isFlagged }
        let collecting = patients.filter { $0.report.state == .collecting }
        let unflagged = patients.filter { !$0.report.isFlagged && $0.report.state == .assessed }
        lines.append(
            "patients: \(patients.count) (\(flagged.count) flagged, \(collecting.count) collecting, "
                + "\(unflagged.count) assessed without flag)")
        if !flagged.isEmpty {
            lines.append("")
            lines.append("flagged patients (a call for review, not a diagnosis):")
            for p in flagged {
                let when = p.flagRaisedAt.map { " since " + Self.minute($0) } ?? ""
                lines.append("  \(p.patient): \(p.report.distribution)\(when)")
                lines.append("    \(p.report.flag!.reason)")
            }
        }
        if !queue.lastErrors.isEmpty {
            lines.append("")
            lines.append("last errors:")
            for job in queue.lastErrors {
                lines.append("  \(Self.minute(job.updatedAt))  \(job.path)")
                lines.append("    \(job.lastError ?? "unknown error") (attempts \(job.attempts))")
            }
        }
        if !queue.lastRefused.isEmpty {
            lines.append("")
            lines.append("last files refused before queueing (see quarantine/):")
            for file in queue.lastRefused {
                lines.append("  \(Self.minute(file.refusedAt))  \(file.path)")
                lines.append("    \(file.error)")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func minute(_ date: Date) -> String {
        let stamp = KaryoJSON.timestamp(date)
        return String(stamp.prefix(16)).replacingOccurrences(of: "T", with: " ") + " UTC"
    }
}
