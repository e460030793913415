import Foundation
import KaryoDetect
import KaryoImage
import KaryoNet

/// One image's result: `results/<patient>/<stem>.json`, schema `karyocount.result/1` (README.md, "Input and output").
public struct ResultRecord: Sendable, Equatable, Codable {
    /// JSON schema identifier.
    public static let schemaID = "karyocount.result/1"

    /// The detector's model, when it has one.
    public struct Model: Sendable, Equatable, Codable {
        public var name: String
        public var sha256: String?
    }

    /// One detection: box `[x1, y1, x2, y2]` in source pixels, score, and the Template Module embedding if any.
    public struct Chromosome: Sendable, Equatable, Codable {
        public var box: BoundingBox
        public var score: Double
        public var embedding: Double?

        public init(_ d: Detection) {
            box = d.box
            score = d.score
            embedding = d.embedding
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(box, forKey: .box)
            try c.encode(score, forKey: .score)
            try c.encode(embedding, forKey: .embedding)
        }
    }

    public var schema = schemaID
    /// The input's path as it was found.
    public var source: String
    /// SHA-256 of the input file's bytes, lower-case hex.
    public var sha256: String
    public var width: Int
    public var height: Int
    public var patient: String
    public var cell: String?
    /// Detector name (`classical`, `deepace`).
    public var detector: String
    /// Model name and weights hash; nil for the classical detector.
    public var model: Model?
    /// The measured chromosome width and the resize factor the image was detected at; nil for a detector that works
    /// at the image's own scale (classical).
    public var workingScale: WorkingScaleUsed?
    /// The background and chromosome grey levels measured and the map that brought them into the model's intensity
    /// range (gain 1, offset 0: unchanged); nil for a detector or model without one.
    public var intensity: IntensityMap?
    public var scoreThreshold: Double
    /// Detections at or above the score threshold.
    public var count: Int
    /// The counted detections, by descending score.
    public var chromosomes: [Chromosome]
    /// Detections below the threshold (kept so the image can be re-thresholded or reviewed).
    public var belowThreshold: [Chromosome]
    /// Detections (either side of the threshold) scored inside the uncertain band.
    public var uncertainDetections: Int
    /// Milliseconds per stage (`read`, `decode`, `detect`, the detector's own stages, `write`, `total`).
    public var timingMs: [String: Double]
    /// ISO 8601 UTC.
    public var processedAt: String
    /// Things a reviewer should know (decoder warnings, low contrast, many uncertain detections).
    public var warnings: [String]
    /// The SHA-256 of a newer export of the same cell that replaced this result in the patient's tally; nil while
    /// this result counts.
    public var supersededBy: String?

    /// Whether no detection scored inside the uncertain band.
    public var isConfident: Bool { uncertainDetections == 0 }

    enum CodingKeys: String, CodingKey {
        case schema, source, sha256, width, height, patient, cell, detector, model, count, chromosomes, warnings
        case workingScale = "working_scale"
        case intensity = "intensity_range"
        case scoreThreshold = "score_threshold"
        case belowThreshold = "below_threshold"
        case uncertainDetections = "uncertain_detections"
        case timingMs = "timing_ms"
        case processedAt = "processed_at"
        case supersededBy = "superseded_by"
    }

    /// Encodes with explicit nulls for `cell` and `model`, so every schema field is always present.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema)
        try c.encode(source, forKey: .source)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(width, forKey: .width)
        try c.encode(height, forKey: .height)
        try c.encode(patient, forKey: .patient)
        try c.encode(cell, forKey: .cell)
        try c.encode(detector, forKey: .detector)
        try c.encode(model, forKey: .model)
        try c.encode(workingScale, forKey: .workingScale)
        try c.encode(intensity, forKey: .intensity)
        try c.encode(scoreThreshold, forKey: .scoreThreshold)
        try c.encode(count, forKey: .count)
        try c.encode(chromosomes, forKey: .chromosomes)
        try c.encode(belowThreshold, forKey: .belowThreshold)
        try c.encode(uncertainDetections, forKey: .uncertainDetections)
        try c.encode(timingMs, forKey: .timingMs)
        try c.encode(processedAt, forKey: .processedAt)
        try c.encode(warnings, forKey: .warnings)
        try c.encode(supersededBy, forKey: .supersededBy)
    }
}

/// The error report written beside a quarantined input, or as `<stem>.error.json` by `karyocount count`.
public struct ErrorReport: Sendable, Equatable, Codable {
    /// JSON schema identifier.
    public static let schemaID = "karyocount.error/1"
    public var schema = schemaID
    /// The input's path as it was found.
    public var file: String
    /// SHA-256 of the input, when it could be read.
    public var sha256: String?
    /// What went wrong, in words.
    public var error: String
    /// The stage that failed: `read`, `decode`, `detect`, `write`.
    public var stage: String
    /// How many times processing was tried.
    public var attempts: Int
    /// ISO 8601 UTC.
    public var time: String
    /// Where the copy of the input lies, relative to the quarantine folder; nil when it could not be copied.
    public var quarantinedCopy: String?

    enum CodingKeys: String, CodingKey {
        case schema, file, sha256, error, stage, attempts, time
        case quarantinedCopy = "quarantined_copy"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema)
        try c.encode(file, forKey: .file)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(error, forKey: .error)
        try c.encode(stage, forKey: .stage)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(time, forKey: .time)
        try c.encode(quarantinedCopy, forKey: .quarantinedCopy)
    }
}

/// The JSON conventions of every file KaryoCount writes: sorted keys, pretty-printed, ending with a newline.
public enum KaryoJSON {
    /// Encodes `value` the KaryoCount way.
    public static func encode(_ value: some Encodable) throws(PipelineError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            var data = try encoder.encode(value)
            data.append(0x0A)
            return data
        } catch {
            throw PipelineError(.writeFailed, file: "(json)", detail: "cannot encode: \(error)")
        }
    }

    /// Decodes a KaryoCount JSON file.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JSONDecoder().decode(type, from: data)
    }

    /// ISO 8601 UTC with milliseconds, e.g. `2026-11-27T04:25:52.123Z`.
    public static func timestamp(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}
