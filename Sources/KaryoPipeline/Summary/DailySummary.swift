import Foundation
import KaryoImage

/// The nightly summary of one day (UTC): every patient with an image counted that day, plus the day's failures.
/// Contains nothing time-dependent beyond the date, so the same state gives the same bytes.
public struct DailySummary: Sendable, Equatable, Codable {
    /// JSON schema identifier.
    public static let schemaID = "karyocount.summary/1"

    /// One patient touched that day.
    public struct PatientLine: Sendable, Equatable, Codable {
        public var patient: String
        /// `collecting` or `assessed`.
        public var state: String
        public var flagged: Bool
        /// The flag's reason in words, or nil.
        public var flagReason: String?
        /// Images of this patient counted that day.
        public var imagesToday: Int
        /// All images of this patient counted so far.
        public var imagesTotal: Int
        public var modalCount: Int?
        /// The normal count the patient was judged against.
        public var expectedCount: Int
        /// ISCN-style distribution of all images so far.
        public var distribution: String
        /// Count -> images, as in patient.json.
        public var histogram: [String: Int]
        public var cloneEvidence: [String]
        public var lowConfidenceImages: Int
        /// Images whose count a cytologist has reviewed.
        public var imagesReviewed: Int
        /// The patient's printable report on the review station; nil when the station is off.
        public var reportURL: String?

        enum CodingKeys: String, CodingKey {
            case patient, state, flagged, distribution, histogram
            case imagesReviewed = "images_reviewed"
            case reportURL = "report_url"
            case flagReason = "flag_reason"
            case imagesToday = "images_today"
            case imagesTotal = "images_total"
            case modalCount = "modal_count"
            case expectedCount = "expected_count"
            case cloneEvidence = "clone_evidence"
            case lowConfidenceImages = "low_confidence_images"
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(patient, forKey: .patient)
            try c.encode(state, forKey: .state)
            try c.encode(flagged, forKey: .flagged)
            try c.encode(flagReason, forKey: .flagReason)
            try c.encode(imagesToday, forKey: .imagesToday)
            try c.encode(imagesTotal, forKey: .imagesTotal)
            try c.encode(modalCount, forKey: .modalCount)
            try c.encode(expectedCount, forKey: .expectedCount)
            try c.encode(distribution, forKey: .distribution)
            try c.encode(histogram, forKey: .histogram)
            try c.encode(cloneEvidence, forKey: .cloneEvidence)
            try c.encode(lowConfidenceImages, forKey: .lowConfidenceImages)
            try c.encode(imagesReviewed, forKey: .imagesReviewed)
            try c.encode(reportURL, forKey: .reportURL)
        }
    }

    /// An input that failed for good that day.
    public struct Failure: Sendable, Equatable, Codable {
        public var file: String
        public var error: String
    }

    public var schema = schemaID
    /// `YYYY-MM-DD` (UTC).
    public var date: String
    public var imagesCounted: Int
    public var patientsFlagged: Int
    public var patients: [PatientLine]
    public var failures: [Failure]

    enum CodingKeys: String, CodingKey {
        case schema, date, patients, failures
        case imagesCounted = "images_counted"
        case patientsFlagged = "patients_flagged"
    }

    /// Builds the summary of `day` (`YYYY-MM-DD`, UTC) from the queue's results index and patient aggregates;
    /// each patient links to its report on the review station `review` describes.
    public static func build(
        from queue: JobQueue, day: String, review: ReviewSettings = ReviewSettings()
    ) throws(PipelineError) -> DailySummary {
        let results = try queue.results(onDay: day)
        var perPatient: [String: Int] = [:]
        for r in results { perPatient[r.patient, default: 0] += 1 }
        var lines: [PatientLine] = []
        for name in perPatient.keys.sorted() {
            guard let row = try queue.patient(name) else { continue }
            let r = row.report
            lines.append(
                PatientLine(
                    patient: name, state: r.state.rawValue, flagged: r.isFlagged, flagReason: r.flag?.reason,
                    imagesToday: perPatient[name]!, imagesTotal: r.imagesCounted, modalCount: r.modalCount,
                    expectedCount: r.expectedCount,
                    distribution: r.distribution, histogram: r.histogram,
                    cloneEvidence: r.cloneEvidence.map { "\($0.count) in \($0.cells.count) cells" },
                    lowConfidenceImages: r.lowConfidenceImages.count, imagesReviewed: r.imagesReviewed,
                    reportURL: review.reportURL(patient: name)))
        }
        let failures = try queue.failures(onDay: day).map { Failure(file: $0.path, error: $0.lastError ?? "") }
        return DailySummary(
            date: day, imagesCounted: results.count, patientsFlagged: lines.filter(\.flagged).count, patients: lines,
            failures: failures)
    }

    /// The CSV form: one row per patient.
    public var csv: String {
        var rows = [
            "date,patient,state,flagged,flag_reason,images_today,images_total,modal_count,distribution,"
                + "clone_evidence,low_confidence_images,images_reviewed,report_url"
        ]
        for p in patients {
            let fields = [
                date, p.patient, p.state, p.flagged ? "yes" : "no", p.flagReason ?? "", String(p.imagesToday),
                String(p.imagesTotal), p.modalCount.map(String.init) ?? "", p.distribution,
                p.cloneEvidence.joined(separator: "; "), String(p.lowConfidenceImages), String(p.imagesReviewed),
                p.reportURL ?? "",
            ]
            rows.append(fields.map(Self.csvField).joined(separator: ","))
        }
        return rows.joined(separator: "\n") + "\n"
    }

    static func csvField(_ s: String) -> String {
        var field = s
        // A leading =, +, - or @ would be run as a formula by spreadsheet programs.
        if let first = field.first, "=+-@".contains(first) { field = "'" + field }
        guard field.contains(where: { ",\"\n\r".contains($0) }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Writes `summaries/DATE.json`, `.csv` and `.png` atomically; returns their URLs.
    @discardableResult
    public func write(to folder: URL) throws(PipelineError) -> [URL] {
        let json = folder.appending(path: "\(date).json")
        let csvURL = folder.appending(path: "\(date).csv")
        let png = folder.appending(path: "\(date).png")
        try AtomicFile.write(try KaryoJSON.encode(self), to: json)
        try AtomicFile.write(Data(csv.utf8), to: csvURL)
        do {
            try AtomicFile.write(try PNGEncoder.encode(SummaryChart.render(self)), to: png)
        } catch let error as PipelineError {
            throw error
        } catch {
            throw PipelineError(.summary, file: png.path, detail: "\(error)")
        }
        return [json, csvURL, png]
    }
}
