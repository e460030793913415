import KaryoImage
import KaryoNet
import KaryoSupport

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

/// What a detector found in one image.
public struct DetectorOutput: Sendable {
    /// Every detection above the detector's floor, by descending score, in source pixels.
    public var detections: [Detection]
    /// The working scale; nil for a detector that works at the image's own scale.
    public var workingScale: WorkingScaleUsed?
    /// The map of grey levels into the model's intensity range; nil for a detector or model without one.
    public var intensity: IntensityMap?

    public init(detections: [Detection], workingScale: WorkingScaleUsed? = nil, intensity: IntensityMap? = nil) {
        self.detections = detections
        self.workingScale = workingScale
        self.intensity = intensity
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
    /// SHA-256 of the model weights file (with a rescorer, of both files: `DeepACEDetector.modelSHA256`), or nil for
    /// a detector without weights.
    var modelSHA256: String? { get }
    /// The score at or above which a detection is counted, unless the lab's configuration sets one: a model's own
    /// calibrated `postprocess.count_threshold`, else `conventionalCountThreshold`.
    var countThreshold: Double { get }
    /// Detects chromosomes and says at which scale; with a `profile`, records each stage's milliseconds (and a
    /// network's FLOPs) under the stage's name.
    func analyze(_ image: GrayImage, profile: StageProfile?) throws -> DetectorOutput
}

extension Detector {
    /// The count threshold of a detector without a calibrated one.
    public static var conventionalCountThreshold: Double { 0.5 }

    public var countThreshold: Double { Self.conventionalCountThreshold }

    /// `analyze` without a profile.
    public func analyze(_ image: GrayImage) throws -> DetectorOutput {
        try analyze(image, profile: nil)
    }

    /// The detections of `analyze`.
    public func detect(_ image: GrayImage, profile: StageProfile? = nil) throws -> [Detection] {
        try analyze(image, profile: profile).detections
    }
}
