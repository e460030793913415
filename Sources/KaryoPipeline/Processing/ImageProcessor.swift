import Foundation
import KaryoDetect
import KaryoImage
import KaryoSupport

/// The stages an image goes through; a failure names the stage it happened in.
public enum Stage: String, Sendable, Codable {
    case read, decode, detect, write
    /// The process died (crash, kill) while the image was in hand.
    case interrupted
}

/// A failure of one image at one stage (stored with its job, so a later file of the same content can be told why).
public struct StageFailure: Error, Sendable, CustomStringConvertible, Equatable, Codable {
    public var stage: Stage
    public var error: PipelineError
    /// Whether another attempt cannot help.
    public var isPermanent: Bool { error.isPermanent }

    public init(stage: Stage, error: PipelineError) {
        self.stage = stage
        self.error = error
    }

    /// The stage, the kind of failure and its detail (the file is named by whoever reports it).
    public var description: String { "\(stage) stage: \(error.code): \(error.detail)" }
}

/// An image read, hashed and decoded, waiting for detection.
public struct LoadedImage: Sendable {
    /// The input path as found.
    public var source: URL
    /// SHA-256 of the bytes that were decoded.
    public var sha256: String
    /// Decoded grey pixels and decoder warnings.
    public var decoded: DecodedImage
    /// `read`, `hash` and `decode` milliseconds.
    public var timings: [String: Double]
}

/// Where and under which names an image's results go.
public struct ResultPlacement: Sendable, Equatable {
    /// The folder receiving `<stem>.json` and `<stem>.annotated.png`.
    public var folder: URL
    public var patient: String
    public var cell: String?
    /// Safe output stem.
    public var stem: String

    public init(folder: URL, patient: String, cell: String?, stem: String) {
        self.folder = folder
        self.patient = patient
        self.cell = cell
        self.stem = stem
    }

    /// `<folder>/<stem>.json`.
    public var jsonURL: URL { folder.appending(path: stem + ".json") }
    /// `<folder>/<stem>.annotated.png`.
    public var pngURL: URL { folder.appending(path: stem + ".annotated.png") }
    /// `<folder>/<stem>.view.png`: the image as decoded, 8-bit grey, what the review station draws boxes over.
    public var viewURL: URL { folder.appending(path: stem + ".view.png") }
    /// `<folder>/<stem>.thumb.png`: the image at `thumbnailWidth`, for the review station's patient page.
    public var thumbnailURL: URL { folder.appending(path: stem + ".thumb.png") }

    /// Width of `<stem>.thumb.png` in pixels.
    public static let thumbnailWidth = 240
}

/// Counting settings shared by the daemon and `karyocount count`.
public struct ProcessingOptions: Sendable, Equatable {
    public var scoreThreshold: Double
    public var uncertainBand: ClosedRange<Double>
    public var drawBelowThreshold: Bool
    public var expectedCount: Int

    public init(
        scoreThreshold: Double = 0.5, uncertainBand: ClosedRange<Double> = 0.3...0.7, drawBelowThreshold: Bool = false,
        expectedCount: Int = 46
    ) {
        self.scoreThreshold = scoreThreshold
        self.uncertainBand = uncertainBand
        self.drawBelowThreshold = drawBelowThreshold
        self.expectedCount = expectedCount
    }

    /// The options of a configuration for `detector`: the configured score threshold, else the detector's own.
    public init(_ config: KaryoConfig, detector: any Detector) {
        self.init(
            scoreThreshold: config.scoreThreshold ?? detector.countThreshold, uncertainBand: config.uncertainScoreBand,
            drawBelowThreshold: config.drawBelowThreshold, expectedCount: config.expectedCount)
    }
}

/// The stages of one image: `load` (read, hash, decode) and `finish` (detect, write JSON + annotated PNG).
/// The daemon and `karyocount count` both use it, so they cannot disagree.
public struct ImageProcessor: Sendable {
    public let detector: any Detector
    public let options: ProcessingOptions

    public init(detector: any Detector, options: ProcessingOptions) {
        self.detector = detector
        self.options = options
    }

    /// Reads (inside `root`, if given), hashes and decodes an image. With `expectedSHA256`, content that changed
    /// since it was queued is refused.
    public func load(_ source: URL, root: URL?, expectedSHA256: String? = nil) throws(StageFailure) -> LoadedImage {
        let profile = StageProfile()
        let data: Data
        do {
            data = try profile.time("read") { () throws(PipelineError) in try InputFile.read(source, root: root) }
        } catch {
            throw StageFailure(stage: .read, error: error)
        }
        let sha = profile.time("hash") { sha256Hex(of: data) }
        if let expectedSHA256, sha != expectedSHA256 {
            throw StageFailure(
                stage: .read,
                error: PipelineError(
                    .inputChanged, file: source.path, detail: "content changed since it was queued (now \(sha))"))
        }
        let decoded: DecodedImage
        do {
            decoded = try profile.time("decode") { () throws(ImageError) in
                try ImageDecoder.decode(data, name: source.path)
            }
        } catch {
            // ImageError's text starts with the path; the PipelineError names the file already.
            let text = error.description
            let detail = text.hasPrefix(source.path + ": ") ? String(text.dropFirst(source.path.count + 2)) : text
            throw StageFailure(stage: .decode, error: PipelineError(.decodeFailed, file: source.path, detail: detail))
        }
        return LoadedImage(source: source, sha256: sha, decoded: decoded, timings: profile.milliseconds)
    }

    /// Detects, then writes `<stem>.annotated.png`, with `reviewImages` also `<stem>.view.png` and
    /// `<stem>.thumb.png` (what the review station shows), and last `<stem>.json`, each atomically, so a JSON always
    /// has its pictures. Returns the record written.
    public func finish(
        _ loaded: LoadedImage, placement: ResultPlacement, reviewImages: Bool = false, now: Date = Date()
    ) throws(StageFailure) -> ResultRecord {
        let profile = StageProfile()
        var output: DetectorOutput
        do {
            output = try profile.time("detect") { try detector.analyze(loaded.decoded.image, profile: profile) }
        } catch {
            throw StageFailure(
                stage: .detect, error: PipelineError(.detectFailed, file: loaded.source.path, detail: "\(error)"))
        }
        output.detections.sort { $0.score > $1.score }

        var record = profile.time("write") { makeRecord(loaded, output: output, placement: placement, now: now) }
        let picture = profile.time("write") { Annotator.render(loaded.decoded.image, record: record, options: options) }
        do {
            try profile.time("write") {
                try AtomicFile.write(try PNGEncoder.encode(picture), to: placement.pngURL)
                if reviewImages {
                    try AtomicFile.write(try PNGEncoder.encode(loaded.decoded.image), to: placement.viewURL)
                    try AtomicFile.write(
                        try PNGEncoder.encode(Self.thumbnail(loaded.decoded.image)), to: placement.thumbnailURL)
                }
            }
            var timings = loaded.timings.merging(profile.milliseconds, uniquingKeysWith: +)
            timings["total"] = timings.filter { ["read", "hash", "decode", "detect", "write"].contains($0.key) }
                .values.reduce(0, +)
            record.timingMs = timings.mapValues { ($0 * 1000).rounded() / 1000 }
            try AtomicFile.write(try KaryoJSON.encode(record), to: placement.jsonURL)
        } catch let error as PipelineError {
            throw StageFailure(stage: .write, error: error)
        } catch {
            throw StageFailure(
                stage: .write, error: PipelineError(.writeFailed, file: placement.pngURL.path, detail: "\(error)"))
        }
        return record
    }

    /// The image at `ResultPlacement.thumbnailWidth`, halved step by step so that no pixel is skipped.
    static func thumbnail(_ image: GrayImage) -> GrayImage {
        var small = image
        let target = Double(ResultPlacement.thumbnailWidth)
        while Double(small.width) / 2 >= target && small.height >= 4 { small = small.resized(scale: 0.5) }
        let factor = target / Double(small.width)
        return factor < 1 && Int(Double(small.height) * factor) > 0 ? small.resized(scale: factor) : small
    }

    func makeRecord(
        _ loaded: LoadedImage, output: DetectorOutput, placement: ResultPlacement, now: Date
    ) -> ResultRecord {
        let detections = output.detections
        let counted = detections.filter { $0.score >= options.scoreThreshold }
        let below = detections.filter { $0.score < options.scoreThreshold }
        let uncertain = detections.filter { options.uncertainBand.contains($0.score) }.count
        var warnings = loaded.decoded.warnings
        warnings += Self.qualityWarnings(
            loaded.decoded.image, count: counted.count, uncertain: uncertain, total: detections.count,
            options: options)
        let model = detector.modelName.map { ResultRecord.Model(name: $0, sha256: detector.modelSHA256) }
        return ResultRecord(
            source: loaded.source.path, sha256: loaded.sha256, width: loaded.decoded.image.width,
            height: loaded.decoded.image.height, patient: placement.patient, cell: placement.cell,
            detector: detector.name, model: model, workingScale: output.workingScale, intensity: output.intensity,
            scoreThreshold: options.scoreThreshold, count: counted.count,
            chromosomes: counted.map(ResultRecord.Chromosome.init),
            belowThreshold: below.map(ResultRecord.Chromosome.init),
            uncertainDetections: uncertain, timingMs: [:], processedAt: KaryoJSON.timestamp(now), warnings: warnings)
    }

    /// Warnings a reviewer should see: low contrast, many uncertain detections, an implausible count.
    static func qualityWarnings(
        _ image: GrayImage, count: Int, uncertain: Int, total: Int, options: ProcessingOptions
    ) -> [String] {
        var warnings: [String] = []
        let (p1, p99) = percentiles(image)
        if p99 - p1 < 0.2 {
            warnings.append(
                String(
                    format: "low contrast: 98%% of pixels lie within %.2f...%.2f of the 0...1 range; counts may be "
                        + "unreliable", p1, p99))
        }
        if uncertain >= max(3, total / 10) {
            warnings.append(
                "many uncertain detections: \(uncertain) of \(total) scored within "
                    + "\(options.uncertainBand.lowerBound)...\(options.uncertainBand.upperBound); look at the image")
        }
        if count == 0 {
            warnings.append("no chromosomes found: is this a metaphase image?")
        } else if abs(count - options.expectedCount) > options.expectedCount / 3 {
            warnings.append(
                "count \(count) is far from \(options.expectedCount): is this a single, complete metaphase?")
        }
        return warnings
    }

    /// 1st and 99th percentile of the intensities, from a 256-bin histogram.
    static func percentiles(_ image: GrayImage) -> (Float, Float) {
        guard !image.pixels.isEmpty else { return (0, 0) }
        var bins = [Int](repeating: 0, count: 256)
        for v in image.pixels { bins[Int(UInt8(quantizing: v))] += 1 }
        let n = image.pixels.count
        func level(_ fraction: Double) -> Float {
            let target = Int(Double(n) * fraction)
            var acc = 0
            for (i, c) in bins.enumerated() {
                acc += c
                if acc > target { return Float(i) / 255 }
            }
            return 1
        }
        return (level(0.01), level(0.99))
    }

}

extension UInt8 {
    /// An intensity in 0...1 as an 8-bit level (clamped; NaN becomes 0).
    init(quantizing value: Float) {
        let scaled = value * 255 + 0.5
        self = scaled >= 255 ? 255 : (scaled >= 0 ? UInt8(scaled) : 0)
    }
}
