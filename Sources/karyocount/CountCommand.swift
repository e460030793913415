import ArgumentParser
import Foundation
import KaryoDetect
import KaryoPipeline
import Logging

/// `karyocount count FILE_OR_DIR... --out DIR`: counts images without the daemon, through the same code path.
struct CountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "count",
        abstract: "Count chromosomes in TIFF, PNG, JPEG or BMP images; write <stem>.json and <stem>.annotated.png.",
        discussion: """
            Each image gets <stem>.json (schema karyocount.result/1) and <stem>.annotated.png in --out; a file that \
            cannot be counted gets <stem>.error.json and a message on stderr, and the exit status is 1. Folders are \
            scanned for .tif/.tiff/.png/.jpg/.jpeg/.bmp names; karyograms (CytoVision type K) are skipped.
            """)

    @Argument(help: "Image files or folders.")
    var paths: [String]

    @Option(help: "Output folder (created if missing).")
    var out: String

    @Option(help: "Detector: auto (DeepACEv2 if a model is installed, else classical), classical or deepace.")
    var detector: DetectorChoice = .auto

    @Option(help: "Model folder (config.json + model.safetensors); default: the shipped Models/default.")
    var model: String?

    @Option(help: "Detections at or above this score are counted (default: the model's own count threshold).")
    var scoreThreshold: Double?

    @Option(
        help: """
            The lab's chromosome width in px (`karyocount calibrate`): every image is brought to the working scale \
            by it (default: measured on each image).
            """)
    var chromosomeWidth: Double?

    @Flag(
        help: """
            Bring each image to the working scale by the chromosome width measured on it alone. By default the \
            cells of one case (patient) are all brought by the median of their widths.
            """)
    var ownWidth = false

    @Flag(help: "Scan folders recursively.")
    var recursive = false

    func validate() throws {
        guard scoreThreshold.map({ (0...1).contains($0) }) ?? true else {
            throw ValidationError("--score-threshold must be within 0...1")
        }
        guard chromosomeWidth.map({ (1...500).contains($0) }) ?? true else {
            throw ValidationError("--chromosome-width must be within 1...500 px")
        }
    }

    func run() async throws {
        let logger = cliLogger(level: .info)
        let det = try DetectorFactory.make(
            detector, model: model.map { URL(filePath: $0) }, chromosomeWidth: chromosomeWidth,
            warn: { logger.warning("\($0)") })
        let inputs = try BatchCounter.inputs(paths.map { URL(filePath: $0) }, recursive: recursive)
        let outURL = URL(filePath: out)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        var options = ProcessingOptions()
        options.scoreThreshold = scoreThreshold ?? det.countThreshold
        let counter = BatchCounter(
            processor: ImageProcessor(detector: det, options: options), outputFolder: outURL,
            mapper: try PatientMapper(), caseWidths: chromosomeWidth == nil && !ownWidth)
        let start = ContinuousClock.now
        let outcomes = await counter.run(inputs) { outcome in
            switch outcome {
            case .counted(let input, let record, _):
                let ms = Int((record.timingMs["total"] ?? 0).rounded())
                let warn =
                    record.warnings.isEmpty
                    ? "" : "  (\(record.warnings.count) warning\(record.warnings.count == 1 ? "" : "s"))"
                print("\(input.file.path)  count \(record.count)  \(ms) ms\(warn)")
            case .skipped(let input, let reason):
                print("\(input.file.path)  skipped: \(reason)")
            case .failed(let input, let failure, let report):
                printError("error: \(input.file.path): \(failure)")
                if let report { printError("       details in \(report.path)") }
            }
        }
        var counted = 0
        var skipped = 0
        var failed = 0
        for outcome in outcomes {
            switch outcome {
            case .counted: counted += 1
            case .skipped: skipped += 1
            case .failed: failed += 1
            }
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "\(outcomes.count) image\(outcomes.count == 1 ? "" : "s"): \(counted) counted, \(skipped) skipped, "
                + "\(failed) failed in \(String(format: "%.1f", seconds)) s with \(det.name); results in \(out)")
        if failed > 0 { throw ExitCode(1) }
    }
}

extension DetectorChoice: ExpressibleByArgument {}
