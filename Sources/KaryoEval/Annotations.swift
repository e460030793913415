import Foundation
import KaryoDetect
import KaryoImage

/// The ground truth of one image: every annotated chromosome as a box in source pixels.
public struct TruthImage: Sendable, Equatable {
    /// The image's stem (its file name without the extension), the key used to pair it with predictions.
    public var stem: String
    /// Other stems this image is known by (e.g. a labelme file's `imagePath`), tried when `stem` finds no partner.
    public var aliases: [String]
    /// One box per annotated chromosome.
    public var boxes: [BoundingBox]
    /// Image size in pixels when the annotation states it.
    public var width: Int?
    /// Image size in pixels when the annotation states it.
    public var height: Int?
    /// The annotation file it was read from.
    public var file: String

    public init(
        stem: String, aliases: [String] = [], boxes: [BoundingBox], width: Int? = nil, height: Int? = nil,
        file: String = ""
    ) {
        self.stem = stem
        self.aliases = aliases
        self.boxes = boxes
        self.width = width
        self.height = height
        self.file = file
    }
}

/// A detector's output for one image: all its detections, including those below the counting threshold.
public struct PredictionImage: Sendable, Equatable {
    /// The image's stem, the key used to pair it with the ground truth.
    public var stem: String
    /// Other stems this image is known by (e.g. the stem of a result file's `source`).
    public var aliases: [String]
    /// Every detection with its score.
    public var detections: [Detection]
    /// The file the predictions were read from, or the image they were made from.
    public var file: String
    /// The count threshold the result was written with, when known.
    public var scoreThreshold: Double?

    public init(
        stem: String, aliases: [String] = [], detections: [Detection], file: String = "", scoreThreshold: Double? = nil
    ) {
        self.stem = stem
        self.aliases = aliases
        self.detections = detections
        self.file = file
        self.scoreThreshold = scoreThreshold
    }
}

/// One image ready for scoring: its ground truth and its predictions.
public struct EvalImage: Sendable, Equatable {
    /// The image's stem, used in reports.
    public var stem: String
    /// The annotated chromosomes.
    public var truth: [BoundingBox]
    /// The detector's output, at any score.
    public var predictions: [Detection]
    /// Where the predictions came from: a result file, or the image itself when the detector ran in `eval`.
    public var predictionFile: String

    public init(stem: String, truth: [BoundingBox], predictions: [Detection], predictionFile: String = "") {
        self.stem = stem
        self.truth = truth
        self.predictions = predictions
        self.predictionFile = predictionFile
    }
}

/// The stem of a path: its last component (after `/` or `\`, so Windows paths in labelme files work) without the
/// final extension; `..\first_chromos\18-Y2087.145.O.JPG` gives `18-Y2087.145.O`.
public func imageStem(of path: String) -> String {
    let name = path.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? path
    guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
    return String(name[..<dot])
}
