import Foundation
import KaryoImage

/// One cytologist's review of a cell: the reviewed count (and boxes, when drawn), who, when and what changed.
/// The detector's result stays untouched; reviews are an audit trail, never updated or deleted (the database
/// refuses both).
public struct CellReview: Sendable, Equatable, Codable {
    /// Row id: the order reviews were recorded in.
    public var id: Int64?
    /// The reviewed image's result (its content SHA-256).
    public var sha256: String
    public var patient: String
    public var reviewer: String
    public var reviewedAt: Date
    /// The reviewed count: what the patient's tally uses from now on.
    public var count: Int
    /// The detector's count of the image.
    public var detectorCount: Int
    /// The corrected boxes in source pixels; nil when only the count was typed.
    public var boxes: [BoundingBox]?
    /// What changed against the cell's previous state, in words.
    public var changes: String

    enum CodingKeys: String, CodingKey {
        case id, sha256, patient, reviewer, count, boxes, changes
        case reviewedAt = "reviewed_at"
        case detectorCount = "detector_count"
    }

}

extension CellReview {
    init(row: StateRow) throws {
        self.init(
            id: Int64(try row.int("id")), sha256: try row.string("sha256"), patient: try row.string("patient"),
            reviewer: try row.string("reviewer"), reviewedAt: try row.date("reviewed_at"), count: try row.int("count"),
            detectorCount: try row.int("detector_count"), boxes: try row.optionalJSON([BoundingBox].self, "boxes"),
            changes: try row.string("changes"))
    }

    /// Appends the review to the ledger and takes the id it was given.
    mutating func insert(_ tx: any StateTransaction) throws {
        let row = try tx.row(
            """
            INSERT INTO review (sha256, patient, reviewer, reviewed_at, count, detector_count, boxes, changes)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
            """, sha256, patient, reviewer, reviewedAt, count, detectorCount, try StateJSON.optionalText(boxes), changes
        )
        id = try row.map { Int64(try $0.int("id")) }
    }
}

/// A patient's sign-off or reopening; the latest event says whether the patient is signed off. Never updated or
/// deleted.
public struct SignOffEvent: Sendable, Equatable, Codable {
    public enum Action: String, Sendable, Codable {
        case signOff = "sign-off"
        case reopen
    }

    public var id: Int64?
    public var patient: String
    public var action: Action
    public var by: String
    public var at: Date
    /// Why a patient was reopened; empty for a sign-off.
    public var reason: String
    /// The patient's report as signed off: frozen until the patient is reopened. Nil for a reopening.
    public var report: PatientReport?

}

extension SignOffEvent {
    init(row: StateRow) throws {
        guard let action = Action(rawValue: try row.string("action")) else {
            throw StateDecodingError(column: "action", problem: "unknown action \(try row.string("action"))")
        }
        self.init(
            id: Int64(try row.int("id")), patient: try row.string("patient"), action: action, by: try row.string("by"),
            at: try row.date("at"), reason: try row.string("reason"),
            report: try row.optionalJSON(PatientReport.self, "report"))
    }

    /// Appends the event to the ledger and takes the id it was given.
    mutating func insert(_ tx: any StateTransaction) throws {
        let row = try tx.row(
            "INSERT INTO sign_off (patient, action, \"by\", \"at\", reason, report) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            patient, action.rawValue, by, at, reason, try StateJSON.optionalText(report))
        id = try row.map { Int64(try $0.int("id")) }
    }
}

/// Why a review or sign-off was refused; `kind` maps to the HTTP status the review station answers with.
public struct ReviewRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No such cell or patient.
        case notFound
        /// The request contradicts the state (a signed-off patient, a sign-off twice).
        case conflict
        /// The request itself is malformed.
        case invalid
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// What a cytologist submits for one cell.
public struct ReviewSubmission: Sendable, Equatable {
    /// The typed count; nil: the number of `boxes`.
    public var count: Int?
    /// Every chromosome's box after the cytologist's corrections; nil when only a count is typed.
    public var boxes: [BoundingBox]?
    public var reviewer: String

    public init(count: Int?, boxes: [BoundingBox]?, reviewer: String) {
        self.count = count
        self.boxes = boxes
        self.reviewer = reviewer
    }

    /// The most chromosomes a reviewed count may hold (well above near-octaploid cells).
    public static let maximumCount = 500

    /// The count and the reviewer's name the review records, or why the submission cannot be recorded.
    func validated() throws(ReviewRefusal) -> (count: Int, reviewer: String) {
        let who = try ReviewLedger.personName(reviewer, needed: "a review needs the reviewer's name")
        if let boxes {
            for box in boxes
            where ![box.x1, box.y1, box.x2, box.y2].allSatisfy(\.isFinite) || box.width <= 0 || box.height <= 0 {
                throw ReviewRefusal(.invalid, "box [\(box.x1), \(box.y1), \(box.x2), \(box.y2)] has no area")
            }
        }
        guard let count = count ?? boxes?.count else {
            throw ReviewRefusal(.invalid, "a review needs a count or the corrected boxes")
        }
        guard (0...Self.maximumCount).contains(count) else {
            throw ReviewRefusal(.invalid, "count \(count) is not within 0...\(Self.maximumCount)")
        }
        if let boxes, boxes.count != count {
            throw ReviewRefusal(
                .invalid, "count \(count) disagrees with the \(boxes.count) boxes drawn: send one or make them agree")
        }
        return (count, who)
    }
}

/// The reviews and sign-offs stored beside the queue, and the rules that bind them to the patient tallies.
public enum ReviewLedger {
    /// `name` trimmed, or the refusal `needed` says when it is empty or longer than 100 characters.
    static func personName(_ name: String, needed: String) throws(ReviewRefusal) -> String {
        let who = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !who.isEmpty, who.count <= 100 else { throw ReviewRefusal(.invalid, "\(needed) (1 to 100 characters)") }
        return who
    }

    /// The latest reviewed count of each reviewed image of `patient`, by SHA-256.
    static func latestReviewedCounts(_ tx: any StateTransaction, patient: String) throws -> [String: Int] {
        let rows = try tx.rows(
            """
            SELECT sha256, count FROM review
            WHERE id IN (SELECT MAX(id) FROM review WHERE patient = ? GROUP BY sha256)
            """, patient)
        return Dictionary(uniqueKeysWithValues: try rows.map { (try $0.string("sha256"), try $0.int("count")) })
    }

    /// The change from `before` to `after` in words: the count, and boxes removed and added (a box moved by less
    /// than half a pixel is the same box).
    static func describeChange(
        fromCount before: Int, boxes beforeBoxes: [BoundingBox], toCount after: Int, boxes afterBoxes: [BoundingBox]?
    ) -> String {
        var parts = [before == after ? "count \(after) confirmed" : "count \(before) -> \(after)"]
        if let afterBoxes {
            func same(_ a: BoundingBox, _ b: BoundingBox) -> Bool {
                abs(a.x1 - b.x1) < 0.5 && abs(a.y1 - b.y1) < 0.5 && abs(a.x2 - b.x2) < 0.5 && abs(a.y2 - b.y2) < 0.5
            }
            let removed = beforeBoxes.filter { b in !afterBoxes.contains { same($0, b) } }.count
            let added = afterBoxes.filter { a in !beforeBoxes.contains { same($0, a) } }.count
            if removed > 0 { parts.append("\(removed) box\(removed == 1 ? "" : "es") removed") }
            if added > 0 { parts.append("\(added) box\(added == 1 ? "" : "es") drawn") }
        } else {
            parts.append("count typed, boxes not corrected")
        }
        return parts.joined(separator: "; ")
    }
}

extension JobQueue {
    /// Records a review of the image `sha256` and recomputes its patient's tally from the reviewed counts, in one
    /// transaction. `detectorBoxes` are the result's counted boxes, what the first review is compared with.
    /// Refused for an unknown image or a signed-off patient.
    public func recordReview(
        sha256: String, _ submission: ReviewSubmission, detectorBoxes: [BoundingBox], settings: AggregatorSettings,
        now: Date = Date()
    ) throws -> (review: CellReview, report: PatientReport) {
        let (count, reviewer) = try submission.validated()
        return try ledgerWrite { tx in
            guard let patient = try tx.row("SELECT patient FROM result WHERE sha256 = ?", sha256)?.string("patient")
            else { throw ReviewRefusal(.notFound, "no counted image \(sha256)") }
            try tx.lock(Self.patientLock(patient))
            guard let result = try ResultIndexEntry.fetch(tx, sha256: sha256) else {
                throw ReviewRefusal(.notFound, "no counted image \(sha256)")
            }
            if let newer = result.supersededBy {
                throw ReviewRefusal(
                    .conflict, "\(result.stem) was replaced in the tally by a newer export of the cell (\(newer))")
            }
            if let event = try Self.latestSignOff(tx, patient: result.patient), event.action == .signOff {
                throw ReviewRefusal(
                    .conflict, "patient \(result.patient) was signed off by \(event.by); reopen it to change a count")
            }
            let previous = try tx.row("SELECT * FROM review WHERE sha256 = ? ORDER BY id DESC LIMIT 1", sha256)
                .map(CellReview.init(row:))
            let changes = ReviewLedger.describeChange(
                fromCount: previous?.count ?? result.count, boxes: previous?.boxes ?? detectorBoxes, toCount: count,
                boxes: submission.boxes)
            var review = CellReview(
                sha256: sha256, patient: result.patient, reviewer: reviewer, reviewedAt: now, count: count,
                detectorCount: result.count, boxes: submission.boxes, changes: changes)
            try review.insert(tx)
            let update = try Self.updatePatient(tx, patient: result.patient, settings: settings, now: now)
            return (review, update.report)
        }
    }

    /// Every review of one image, oldest first.
    public func reviews(sha256: String) throws -> [CellReview] {
        try ledgerRead { tx in
            try tx.rows("SELECT * FROM review WHERE sha256 = ? ORDER BY id", sha256).map(CellReview.init(row:))
        }
    }

    /// Every review of a patient's images, oldest first.
    public func reviews(patient: String) throws -> [CellReview] {
        try ledgerRead { tx in
            try tx.rows("SELECT * FROM review WHERE patient = ? ORDER BY id", patient).map(CellReview.init(row:))
        }
    }

    /// The latest review of each reviewed image, reviewed since `since` (all when nil), oldest first.
    public func latestReviews(since: Date? = nil) throws -> [CellReview] {
        try ledgerRead { tx in
            try tx.rows(
                """
                SELECT * FROM review WHERE id IN (SELECT MAX(id) FROM review GROUP BY sha256)
                    AND reviewed_at >= ? ORDER BY id
                """, since ?? Date(timeIntervalSince1970: 0)
            ).map(CellReview.init(row:))
        }
    }

    /// The result index row of one image.
    public func result(sha256: String) throws -> ResultIndexEntry? {
        try ledgerRead { tx in try ResultIndexEntry.fetch(tx, sha256: sha256) }
    }

    /// A patient's counted images that stand in the tally (no newer export replaced them), by stem.
    public func results(patient: String) throws -> [ResultIndexEntry] {
        try ledgerRead { tx in
            try tx.rows("SELECT * FROM result WHERE patient = ? AND superseded_by IS NULL ORDER BY stem", patient)
                .map(ResultIndexEntry.init(row:))
        }
    }

    /// Signs a patient off: its current report is frozen in the event. Refused when already signed off.
    public func signOff(patient: String, by: String, now: Date = Date()) throws -> SignOffEvent {
        let who = try ReviewLedger.personName(by, needed: "a sign-off needs the cytologist's name")
        return try ledgerWrite { tx in
            try tx.lock(Self.patientLock(patient))
            guard let row = try tx.row("SELECT * FROM patient WHERE patient = ?", patient) else {
                throw ReviewRefusal(.notFound, "no patient \(patient)")
            }
            if let event = try Self.latestSignOff(tx, patient: patient), event.action == .signOff {
                throw ReviewRefusal(.conflict, "patient \(patient) is already signed off by \(event.by)")
            }
            var event = SignOffEvent(
                patient: patient, action: .signOff, by: who, at: now, reason: "",
                report: try Self.patientRow(row).report)
            try event.insert(tx)
            return event
        }
    }

    /// Reopens a signed-off patient so its counts can change again; the reason is kept.
    public func reopen(patient: String, by: String, reason: String, now: Date = Date()) throws -> SignOffEvent {
        let who = try ReviewLedger.personName(by, needed: "a sign-off needs the cytologist's name")
        let why = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !why.isEmpty else { throw ReviewRefusal(.invalid, "reopening a signed-off patient needs a reason") }
        return try ledgerWrite { tx in
            try tx.lock(Self.patientLock(patient))
            guard let event = try Self.latestSignOff(tx, patient: patient), event.action == .signOff else {
                throw ReviewRefusal(.conflict, "patient \(patient) is not signed off")
            }
            var reopened = SignOffEvent(patient: patient, action: .reopen, by: who, at: now, reason: why, report: nil)
            try reopened.insert(tx)
            return reopened
        }
    }

    /// Every sign-off and reopening of a patient, oldest first.
    public func signOffEvents(patient: String) throws -> [SignOffEvent] {
        try ledgerRead { tx in
            try tx.rows("SELECT * FROM sign_off WHERE patient = ? ORDER BY id", patient).map(SignOffEvent.init(row:))
        }
    }

    /// The sign-off in force for each signed-off patient.
    public func signedOff() throws -> [String: SignOffEvent] {
        try ledgerRead { tx in
            let events = try tx.rows(
                "SELECT * FROM sign_off WHERE id IN (SELECT MAX(id) FROM sign_off GROUP BY patient)"
            ).map(SignOffEvent.init(row:))
            return Dictionary(uniqueKeysWithValues: events.filter { $0.action == .signOff }.map { ($0.patient, $0) })
        }
    }

    private static func latestSignOff(_ tx: any StateTransaction, patient: String) throws -> SignOffEvent? {
        try tx.row("SELECT * FROM sign_off WHERE patient = ? ORDER BY id DESC LIMIT 1", patient)
            .map(SignOffEvent.init(row:))
    }

    private func ledgerRead<T>(_ body: (any StateTransaction) throws -> T) throws -> T {
        try mapLedgerErrors { try database.read(body) }
    }

    private func ledgerWrite<T>(_ body: (any StateTransaction) throws -> T) throws -> T {
        try mapLedgerErrors { try database.write(body) }
    }

    /// Refusals and pipeline errors pass as they are; anything else is a database error naming the database.
    private func mapLedgerErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let refusal as ReviewRefusal {
            throw refusal
        } catch let error as PipelineError {
            throw error
        } catch {
            throw PipelineError(.database, file: database.location, detail: "\(error)")
        }
    }
}
