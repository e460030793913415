import KaryoImage

/// One detected chromosome: its box in source pixels, the detector's confidence, and (DeepACEv2 only)
/// the Template Module's 1-d embedding.
public struct Detection: Sendable, Equatable, Codable {
    public var box: BoundingBox
    public var score: Double
    public var embedding: Double?

    public init(box: BoundingBox, score: Double, embedding: Double? = nil) {
        self.box = box
        self.score = score
        self.embedding = embedding
    }
}

/// Finds every chromosome in a grey metaphase image.
///
/// Implementations return all detections above their own internal floor, sorted by descending score,
/// with boxes in the input image's pixel coordinates; counting applies the score threshold afterwards.
public protocol Detector: Sendable {
    /// Short name written to result files, e.g. `classical` or `deepace`.
    var name: String { get }
    /// The model's name (e.g. `default`), or nil for a detector without weights.
    var modelName: String? { get }
    /// SHA-256 of the model weights file, or nil for a detector without weights.
    var modelSHA256: String? { get }
    /// Detects chromosomes; `stageTimings` receives per-stage milliseconds keyed by stage name.
    func detect(_ image: GrayImage, stageTimings: inout [String: Double]) throws -> [Detection]
}
