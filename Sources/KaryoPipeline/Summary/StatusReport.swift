import Foundation

/// What `karyocount status` prints: queue depth, per-state counts, the nodes that use the state, the last errors,
/// flagged and collecting patients.
public struct StatusReport: Sendable {
    public var queue: QueueStatus
    public var patients: [PatientRow]
    public var nodes: [NodeStatus]
    /// A node whose last heartbeat is older than this has stopped or lost the state (its lease length).
    public var silentAfter: TimeInterval
    public var now: Date

    /// Reads the queue's state now.
    public init(queue: JobQueue, errorLimit: Int = 5, now: Date = Date()) throws(PipelineError) {
        self.queue = try queue.status(errorLimit: errorLimit)
        self.patients = try queue.patients()
        self.nodes = try queue.nodes()
        self.silentAfter = queue.leaseDuration
        self.now = now
    }

    /// Plain text for a terminal.
    public var text: String {
        var lines: [String] = []
        let c = queue.counts
        lines.append("queue depth \(queue.depth) (queued \(c[.queued] ?? 0), running \(c[.running] ?? 0))")
        lines.append(
            "jobs: done \(c[.done] ?? 0), failed \(c[.failed] ?? 0), skipped \(c[.skipped] ?? 0) (karyograms); "
                + "files refused before queueing \(queue.refused)")
        if !nodes.isEmpty {
            lines.append("")
            lines.append("nodes:")
            for node in nodes { lines.append("  " + nodeLine(node)) }
        }
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

    private func nodeLine(_ node: NodeStatus) -> String {
        let age = max(0, now.timeIntervalSince(node.heartbeatAt))
        let heartbeat =
            age > silentAfter
            ? "silent since \(Self.minute(node.heartbeatAt)) (stopped, or cut off from the state)"
            : "heartbeat \(Int(age.rounded())) s ago"
        let held = node.holding.prefix(3).joined(separator: ", ") + (node.holding.count > 3 ? ", ..." : "")
        let holding = node.holding.isEmpty ? "holds nothing" : "holds \(node.holding.count) (\(held))"
        let rate = String(format: "%.1f", node.imagesPerMinute)
        return "\(node.name) (\(node.roles), pid \(node.pid)): \(heartbeat); \(holding); "
            + "\(node.processed) counted since \(Self.minute(node.startedAt)), \(rate) images/min"
    }

    static func minute(_ date: Date) -> String {
        let stamp = KaryoJSON.timestamp(date)
        return String(stamp.prefix(16)).replacingOccurrences(of: "T", with: " ") + " UTC"
    }
}
