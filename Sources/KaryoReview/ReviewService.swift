import Foundation
import KaryoImage
import KaryoPipeline

/// What the review station reads and changes, independent of HTTP: the patients, their cells, reviews and
/// sign-offs, over the daemon's queue and its writer of patient.json.
public struct ReviewService: Sendable {
    let queue: JobQueue
    let config: KaryoConfig
    /// Rewrites a patient's patient.json after its tally changed.
    let writePatientFile: @Sendable (String) -> Void

    /// The service of the running daemon's pipeline.
    public init(pipeline: Pipeline) {
        self.init(queue: pipeline.queue, config: pipeline.config, writePatientFile: pipeline.writePatientFile)
    }

    /// A service over `queue`; tools that only read (`export-labels`) pass a `writePatientFile` that does nothing.
    public init(queue: JobQueue, config: KaryoConfig, writePatientFile: @escaping @Sendable (String) -> Void) {
        self.queue = queue
        self.config = config
        self.writePatientFile = writePatientFile
    }

    var settings: AggregatorSettings { AggregatorSettings(config) }

    // MARK: - Reading

    /// Every patient, flagged first, then those with unreviewed counts, then by name.
    public func patients() throws -> [PatientSummary] {
        let signedOff = try queue.signedOff()
        return try queue.patients().map { PatientSummary($0.report, signOff: signedOff[$0.patient]) }
            .sorted { a, b in
                if a.flagged != b.flagged { return a.flagged }
                let aOpen = a.imagesReviewed < a.imagesCounted, bOpen = b.imagesReviewed < b.imagesCounted
                if aOpen != bOpen { return aOpen }
                return a.patient < b.patient
            }
    }

    /// One patient with every counted cell and its sign-off history; nil for an unknown patient.
    public func patient(_ name: String) throws -> PatientDetail? {
        guard let row = try queue.patient(name) else { return nil }
        let events = try queue.signOffEvents(patient: name)
        let current = events.last.flatMap { $0.action == .signOff ? $0 : nil }
        let reviews = Dictionary(grouping: try queue.reviews(patient: name), by: \.sha256)
        let cells = try queue.results(patient: name).map { CellSummary($0, reviews: reviews[$0.sha256] ?? []) }
        return PatientDetail(
            summary: PatientSummary(row.report, signOff: current), report: row.report, cells: cells,
            signOffs: events)
    }

    /// One cell with its detections, current boxes, review history and neighbours; nil for an unknown id.
    public func cell(_ id: String) throws -> CellDetail? {
        guard Self.isResultID(id), let entry = try queue.result(sha256: id) else { return nil }
        let record = try readRecord(entry)
        let reviews = try queue.reviews(sha256: id)
        let siblings = try queue.results(patient: entry.patient).map(\.sha256)
        let index = siblings.firstIndex(of: id)
        let signedOff = try queue.signedOff()[entry.patient]
        return CellDetail(
            entry: entry, record: record, reviews: reviews,
            previous: index.flatMap { $0 > 0 ? siblings[$0 - 1] : nil },
            next: index.flatMap { $0 + 1 < siblings.count ? siblings[$0 + 1] : nil }, signedOffBy: signedOff?.by)
    }

    /// The printable report of a patient: the frozen report while signed off, else the live one.
    public func report(_ name: String) throws -> PatientReportPage? {
        guard let detail = try patient(name) else { return nil }
        let frozen = detail.signOffs.last.flatMap { $0.action == .signOff ? $0 : nil }
        let report = frozen?.report ?? detail.report
        let reviewers = Set(try queue.reviews(patient: name).map(\.reviewer)).sorted()
        return PatientReportPage(
            report: report, cells: detail.cells, signOff: frozen, reviewers: reviewers,
            cellsSinceSignOff: frozen.map { _ in max(0, detail.report.imagesCounted - report.imagesCounted) } ?? 0)
    }

    /// The file of one of a result's pictures, inside the results folder; nil when the id or file is unknown.
    /// A result written before the review station existed has only its annotated picture, served for all three.
    public func picture(_ id: String, _ kind: PictureKind) throws -> URL? {
        guard Self.isResultID(id), let entry = try queue.result(sha256: id) else { return nil }
        let json = URL(filePath: entry.resultPath)
        let folder = json.deletingLastPathComponent()
        let stem = json.deletingPathExtension().lastPathComponent
        let root = config.resultsRoot.standardizedFileURL.path + "/"
        let candidates =
            switch kind {
            case .view: [".view.png", ".annotated.png"]
            case .thumbnail: [".thumb.png", ".view.png", ".annotated.png"]
            case .annotated: [".annotated.png"]
            }
        for suffix in candidates {
            let url = folder.appending(path: stem + suffix).standardizedFileURL
            guard url.path.hasPrefix(root) else { return nil }
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        return nil
    }

    // MARK: - Changing

    /// Records a review of cell `id`, recomputes the patient's tally and rewrites its patient.json.
    public func review(_ id: String, _ submission: ReviewSubmission) throws -> CellDetail {
        guard Self.isResultID(id), let entry = try queue.result(sha256: id) else {
            throw ReviewRefusal(.notFound, "no counted image \(id)")
        }
        let record = try readRecord(entry)
        _ = try queue.recordReview(
            sha256: id, submission, detectorBoxes: record.chromosomes.map(\.box), settings: settings)
        writePatientFile(entry.patient)
        guard let detail = try cell(id) else { throw ReviewRefusal(.notFound, "no counted image \(id)") }
        return detail
    }

    /// Signs a patient off, freezing its report.
    public func signOff(_ patient: String, by: String) throws -> SignOffEvent {
        try queue.signOff(patient: patient, by: by)
    }

    /// Reopens a signed-off patient.
    public func reopen(_ patient: String, by: String, reason: String) throws -> SignOffEvent {
        try queue.reopen(patient: patient, by: by, reason: reason)
    }

    // MARK: - Helpers

    /// A result id is the image's SHA-256: 64 lower-case hex digits, nothing else.
    static func isResultID(_ id: String) -> Bool {
        id.utf8.count == 64 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    private func readRecord(_ entry: ResultIndexEntry) throws -> ResultRecord {
        let url = URL(filePath: entry.resultPath)
        do {
            return try KaryoJSON.decode(ResultRecord.self, from: try Data(contentsOf: url))
        } catch {
            throw PipelineError(.database, file: url.path, detail: "cannot read the result: \(error)")
        }
    }
}

/// Which of a result's pictures.
public enum PictureKind: String, Sendable, CaseIterable {
    /// The grey image the boxes are drawn over.
    case view
    /// The small grey image of the patient page.
    case thumbnail = "thumb"
    /// The annotated PNG the daemon wrote.
    case annotated
}

/// A patient as the patient list shows it (`GET /api/patients`).
public struct PatientSummary: Sendable, Equatable, Codable {
    public var patient: String
    public var state: String
    public var flagged: Bool
    /// The flag's reason in words.
    public var flagReason: String?
    public var modalCount: Int?
    public var distribution: String
    public var imagesCounted: Int
    public var imagesReviewed: Int
    public var signedOffBy: String?
    public var signedOffAt: Date?

    init(_ report: PatientReport, signOff: SignOffEvent?) {
        patient = report.patient
        state = report.state.rawValue
        flagged = report.isFlagged
        flagReason = report.flag?.reason
        modalCount = report.modalCount
        distribution = report.distribution
        imagesCounted = report.imagesCounted
        imagesReviewed = report.imagesReviewed
        signedOffBy = signOff?.by
        signedOffAt = signOff?.at
    }

    enum CodingKeys: String, CodingKey {
        case patient, state, flagged, distribution
        case flagReason = "flag_reason"
        case modalCount = "modal_count"
        case imagesCounted = "images_counted"
        case imagesReviewed = "images_reviewed"
        case signedOffBy = "signed_off_by"
        case signedOffAt = "signed_off_at"
    }
}

/// A cell as the patient page lists it.
public struct CellSummary: Sendable, Equatable, Codable {
    /// The result id (the image's SHA-256).
    public var id: String
    public var stem: String
    public var cell: String?
    public var detectorCount: Int
    /// The count the tally uses: the latest reviewed count, else the detector's.
    public var count: Int
    public var reviewed: Bool
    public var reviewedBy: String?
    public var reviewedAt: Date?
    /// No detection inside the uncertain band.
    public var confident: Bool
    public var warnings: [String]

    init(_ entry: ResultIndexEntry, reviews: [CellReview]) {
        id = entry.sha256
        stem = entry.stem
        cell = entry.cell
        detectorCount = entry.count
        count = reviews.last?.count ?? entry.count
        reviewed = !reviews.isEmpty
        reviewedBy = reviews.last?.reviewer
        reviewedAt = reviews.last?.reviewedAt
        confident = entry.confident
        warnings = entry.warnings
    }

    enum CodingKeys: String, CodingKey {
        case id, stem, cell, count, reviewed, confident, warnings
        case detectorCount = "detector_count"
        case reviewedBy = "reviewed_by"
        case reviewedAt = "reviewed_at"
    }
}

/// A patient with its cells (`GET /api/patients/{id}`).
public struct PatientDetail: Sendable, Equatable, Codable {
    public var summary: PatientSummary
    /// The live aggregate, as patient.json holds it.
    public var report: PatientReport
    public var cells: [CellSummary]
    public var signOffs: [SignOffEvent]

    enum CodingKeys: String, CodingKey {
        case summary, report, cells
        case signOffs = "sign_offs"
    }
}

/// One detection as the cell page draws it.
public struct ScoredBox: Sendable, Equatable, Codable {
    public var box: BoundingBox
    public var score: Double
}

/// A cell with everything its page needs (`GET /api/cells/{id}`).
public struct CellDetail: Sendable, Equatable, Codable {
    public var id: String
    public var patient: String
    public var stem: String
    public var cell: String?
    public var width: Int
    public var height: Int
    public var detector: String
    public var model: String?
    public var scoreThreshold: Double
    public var detectorCount: Int
    /// The count the tally uses.
    public var count: Int
    public var reviewed: Bool
    /// The boxes to show: the latest review's when it drew them, else the detector's counted ones.
    public var boxes: [BoundingBox]
    /// The detector's counted detections.
    public var detections: [ScoredBox]
    /// The detector's detections below the threshold.
    public var belowThreshold: [ScoredBox]
    public var warnings: [String]
    /// Every review of the cell, oldest first: the audit trail.
    public var reviews: [CellReview]
    public var previousID: String?
    public var nextID: String?
    /// Who signed the patient off; nil while reviews are open.
    public var signedOffBy: String?

    init(
        entry: ResultIndexEntry, record: ResultRecord, reviews: [CellReview], previous: String?, next: String?,
        signedOffBy: String?
    ) {
        id = entry.sha256
        patient = entry.patient
        stem = entry.stem
        cell = entry.cell
        width = record.width
        height = record.height
        detector = record.detector
        model = record.model?.name
        scoreThreshold = record.scoreThreshold
        detectorCount = record.count
        count = reviews.last?.count ?? record.count
        reviewed = !reviews.isEmpty
        let detected = record.chromosomes.map(\.box)
        boxes = reviews.last(where: { $0.boxes != nil })?.boxes ?? detected
        detections = record.chromosomes.map { ScoredBox(box: $0.box, score: $0.score) }
        belowThreshold = record.belowThreshold.map { ScoredBox(box: $0.box, score: $0.score) }
        warnings = record.warnings
        self.reviews = reviews
        previousID = previous
        nextID = next
        self.signedOffBy = signedOffBy
    }

    enum CodingKeys: String, CodingKey {
        case id, patient, stem, cell, width, height, detector, model, count, reviewed, boxes, detections, warnings
        case reviews
        case scoreThreshold = "score_threshold"
        case detectorCount = "detector_count"
        case belowThreshold = "below_threshold"
        case previousID = "previous_id"
        case nextID = "next_id"
        case signedOffBy = "signed_off_by"
    }
}

/// What the printable patient report shows.
public struct PatientReportPage: Sendable, Equatable {
    /// The frozen report while signed off, else the live one.
    public var report: PatientReport
    public var cells: [CellSummary]
    public var signOff: SignOffEvent?
    /// Everyone who reviewed a count of the patient.
    public var reviewers: [String]
    /// Cells counted after the sign-off (not in the frozen report).
    public var cellsSinceSignOff: Int
}
