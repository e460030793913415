import ArgumentParser
import Foundation
import KaryoDetect
import KaryoEval
import KaryoPipeline

/// `karyocount eval`: scores predictions against ground truth with the DeepACEv2 paper's metrics.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Scores detections against annotated images with the DeepACEv2 paper's metrics.",
        discussion: """
            Prints WCR, AER, Acc, F1, mAP, MR^-2 (as in the paper's Table 2) and CountExact, the Table 5 figures on \
            overlapping chromosomes, and the images that are not whole-correct, worst first. Ground truth is labelme \
            JSON, COCO JSON or Pascal VOC XML; predictions are karyocount result JSON, paired by image file stem. \
            With --images and --detector the detector runs first (and writes its results to --pred when given).
            """)

    @Option(help: "Ground truth: a labelme, COCO or Pascal VOC file, or a folder searched recursively.")
    var truth: String

    @Option(help: "Folder (or file) of karyocount result JSON; with --images, where new results are written.")
    var pred: String?

    @Option(help: "Folder of TIFF, PNG, JPEG or BMP images to run the detector on instead of reading --pred.")
    var images: String?

    @Option(help: "Detector to run on --images: auto, classical or deepace.")
    var detector: DetectorChoice?

    @Option(help: "Model folder (config.json + model.safetensors) for --detector deepace.")
    var model: String?

    @Option(
        name: .customLong("score-threshold"),
        help:
            "Detections at or above this score are counted (default: the detector's own count threshold; with --pred, the one the results were counted with)."
    )
    var scoreThreshold: Double?

    @Option(help: "IoU at or above which a detection can match a chromosome.")
    var iou: Double = 0.5

    @Option(name: .customLong("overlap-tau"), help: "tau of the overlapping-chromosome subset (Eq. 14).")
    var overlapTau: Double = 0.5

    @Option(name: .customLong("label"), help: "Only annotations with this label count (repeatable; default: all).")
    var labels: [String] = []

    @Option(help: "Write the figures as JSON (percent) to this file.")
    var json: String?

    @Option(help: "Write precision-recall, miss-rate-vs-FPPI and count-error PNG charts into this folder.")
    var plots: String?

    @Option(help: "With --images: draw each image that is not whole-correct, its TP, FP and missed boxes, here.")
    var overlays: String?

    func validate() throws {
        if images == nil && pred == nil {
            throw ValidationError("give --pred (result JSON) or --images with --detector")
        }
        if (images == nil) != (detector == nil) {
            throw ValidationError("--images and --detector go together")
        }
        if overlays != nil && images == nil {
            throw ValidationError("--overlays needs --images (the pictures to draw on)")
        }
        try EvalOptions(scoreThreshold: scoreThreshold ?? 0.5, iouThreshold: iou, overlapTau: overlapTau).validate()
    }

    func run() async throws {
        let truthSet = try TruthReader.read(at: URL(fileURLWithPath: truth), labels: labels.isEmpty ? nil : Set(labels))
        let predictions: PredictionSet
        let threshold: Double
        if let images, let detector {
            let made = try DetectorFactory.make(
                detector, model: model.map { URL(fileURLWithPath: $0) },
                warn: { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) })
            threshold = scoreThreshold ?? made.countThreshold
            predictions = try await Self.count(
                URL(fileURLWithPath: images), detector: made, scoreThreshold: threshold,
                into: pred.map { URL(fileURLWithPath: $0) })
        } else {
            predictions = try PredictionReader.read(at: URL(fileURLWithPath: pred ?? "."))
            let recorded = Set(predictions.images.compactMap(\.scoreThreshold))
            threshold = scoreThreshold ?? (recorded.count == 1 ? recorded.first! : 0.5)
            if scoreThreshold == nil && recorded.count > 1 {
                FileHandle.standardError.write(
                    Data(
                        "warning: the results were counted at different thresholds (\(recorded.sorted())); scoring at 0.5\n"
                            .utf8))
            }
        }
        let options = EvalOptions(scoreThreshold: threshold, iouThreshold: iou, overlapTau: overlapTau)
        let evaluation = try EvalRun.run(truth: truthSet, predictions: predictions, options: options)
        print(evaluation.table())
        for warning in evaluation.warnings {
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        if let json {
            let url = URL(fileURLWithPath: json)
            do {
                try evaluation.jsonData().write(to: url, options: .atomic)
            } catch {
                throw EvalError(.unwritableFile, file: url.path, error.localizedDescription)
            }
        }
        if let plots {
            for url in try EvalPlots.write(evaluation.report, to: URL(fileURLWithPath: plots)) {
                FileHandle.standardError.write(Data("wrote \(url.path)\n".utf8))
            }
        }
        if let overlays {
            for url in try EvalPlots.writeJudgementOverlays(evaluation.report, to: URL(fileURLWithPath: overlays)) {
                FileHandle.standardError.write(Data("wrote \(url.path)\n".utf8))
            }
        }
    }

    /// Counts the images under `folder` as `karyocount count --recursive` does (the same runner and case widths;
    /// results and annotated PNGs in `into`, a temporary folder when nil) and returns each counted image's
    /// detections; images that fail or are skipped are listed in `skipped`.
    static func count(
        _ folder: URL, detector: any Detector, scoreThreshold: Double, into: URL?
    ) async throws -> PredictionSet {
        let output = into ?? FileManager.default.temporaryDirectory.appending(path: "karyocount-eval-\(UUID())")
        defer { if into == nil { try? FileManager.default.removeItem(at: output) } }
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        var options = ProcessingOptions()
        options.scoreThreshold = scoreThreshold
        let counter = BatchCounter(
            processor: ImageProcessor(detector: detector, options: options), outputFolder: output,
            mapper: try PatientMapper(), caseWidths: true)
        let inputs = try BatchCounter.inputs([folder], recursive: true)
        let done = Counter()
        let outcomes = await counter.run(inputs) { outcome in
            let n = done.next()
            FileHandle.standardError.write(Data("counted \(n)/\(inputs.count): \(outcome.input.file.path)\n".utf8))
        }
        var set = PredictionSet(images: [])
        for outcome in outcomes {
            switch outcome {
            case .counted(let input, let record, _):
                let detections = (record.chromosomes + record.belowThreshold).map {
                    Detection(box: $0.box, score: $0.score, embedding: $0.embedding)
                }
                set.images.append(
                    PredictionImage(
                        stem: imageStem(of: input.file.path), detections: detections, file: input.file.path,
                        scoreThreshold: record.scoreThreshold))
            case .skipped(let input, let reason):
                set.skipped.append("\(input.file.path): \(reason)")
            case .failed(let input, let failure, _):
                set.skipped.append("\(input.file.path): \(failure)")
            }
        }
        return set
    }
}

/// A progress counter for the batch runner's `@Sendable` report callback.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next() -> Int {
        lock.withLock {
            value += 1
            return value
        }
    }
}
