import ArgumentParser
import Foundation
import KaryoDetect
import KaryoPipeline
import KaryoReview
import KaryoSupport

/// `karyocount review`: tools around the review station the daemon serves.
struct ReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Tools for the review station (the daemon serves it on [review] listen).",
        subcommands: [HashPassword.self, ExportLabels.self, Threshold.self])

    struct HashPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hash-password",
            abstract: "Print a users_file line (name:bcrypt-hash) for NAME; the password is read from stdin.")

        @Argument(help: "The cytologist's sign-in name (no colon).")
        var name: String

        func validate() throws {
            guard !name.isEmpty, !name.contains(":"), !name.contains("\n") else {
                throw ValidationError("NAME must be non-empty and hold no colon or newline")
            }
        }

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                printError("no password on stdin")
                throw ExitCode(1)
            }
            print(UserFile.line(name: name, password: password))
        }
    }

    struct ExportLabels: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-labels",
            abstract: "Write every reviewed cell's image and corrected boxes as Pascal VOC for Training/.",
            discussion: """
                Writes OUT/images/<patient>__<stem>.png, OUT/annotations/<patient>__<stem>.xml and OUT/train.txt \
                from the latest review of each cell. A review that only typed a count has no boxes and is listed \
                as skipped. Train on it with `"real": {"voc": "OUT", "list": "train.txt"}` in a Training config.
                """)

        @Option(help: "Configuration file (default: \(KaryoConfig.defaultPath) if it exists, else the defaults).")
        var config: String?

        @Option(help: "Output folder.")
        var out: String

        @Option(help: "Only cells reviewed on or after this day (YYYY-MM-DD, UTC).")
        var since: String?

        func run() async throws {
            let (settings, queue) = try openExistingQueue(configPath: config)
            let service = ReviewService(queue: queue, config: settings, writePatientFile: { _ in })
            let outcome = try LabelExport.run(service: service, to: URL(filePath: out), since: try day(since))
            print("wrote \(outcome.written.count) reviewed cells to \(out)")
            for line in outcome.skipped { print("skipped \(line)") }
        }
    }

    struct Threshold: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "threshold",
            abstract: "Choose the score threshold from the cells cytologists reviewed, for `score_threshold`.",
            discussion: """
                Recounts every reviewed cell at the thresholds 0.10 to 0.90 from the detection scores its result \
                keeps, compares each count with the reviewed count and chooses the threshold with the lowest mean \
                abs(count - reviewed count) (ties: the higher exact-count rate, then the lower threshold). Only \
                cells counted by the configured model are used. The figures stand for the lab's cells when the \
                reviewed cells were chosen regardless of their counts (review a random sample, not only flagged \
                patients). Nothing is changed: the configuration line to add is printed, and only when the rule's \
                choice counts cells it did not see better than the current threshold (each cell counted at the \
                threshold chosen from the others: leave-one-out).
                """)

        @Option(help: "Configuration file (default: \(KaryoConfig.defaultPath) if it exists, else the defaults).")
        var config: String?

        @Option(help: "Only cells reviewed on or after this day (YYYY-MM-DD, UTC).")
        var since: String?

        @Option(help: "The fewest reviewed cells a threshold is chosen from.")
        var minCells = 30

        func run() async throws {
            let (settings, queue) = try openExistingQueue(configPath: config)
            let modelSHA256 = try? DeepACEDetector.modelSHA256(directory: settings.model)
            if modelSHA256 == nil {
                print("note: no model weights in \(settings.model.path); the cells of every model are used")
            }
            let collected = try ThresholdCalibration.reviewedCells(
                queue: queue, modelSHA256: modelSHA256, since: try day(since))
            for line in collected.skipped { print("left out \(line)") }
            let calibration = ThresholdCalibration(cells: collected.cells)
            guard let chosen = calibration.chosen else {
                printError("error: no reviewed cell counted by the configured model")
                throw ExitCode(1)
            }
            print("\(calibration.cells.count) reviewed cells counted by the configured model")
            print("threshold  exact           mean abs error  mean error")
            let shown = Set(ThresholdCalibration.thresholds.filter { Int(($0 * 100).rounded()) % 5 == 0 })
                .union(collected.countedAt.keys).union([chosen.threshold])
            for threshold in shown.sorted() {
                let row = calibration.row(at: threshold)
                var notes: [String] = []
                if let n = collected.countedAt[threshold] { notes.append("current: \(n) cells counted at it") }
                if threshold == chosen.threshold { notes.append("chosen") }
                print(
                    String(
                        format: "%.2f       %3d/%-3d %5.1f%%  %5.2f           %+5.2f", row.threshold, row.exact,
                        row.cells,
                        row.exactPercent, row.meanAbsError, row.meanError)
                        + (notes.isEmpty ? "" : "   " + notes.joined(separator: ", ")))
            }
            guard calibration.cells.count >= minCells else {
                printError(
                    "error: \(calibration.cells.count) reviewed cells are too few to choose a threshold from "
                        + "(--min-cells \(minCells)); review more cells of several patients")
                throw ExitCode(1)
            }
            // The threshold most of the cells were counted at: the configuration's, or the model's own.
            guard let current = collected.countedAt.max(by: { ($0.value, -$0.key) < ($1.value, -$1.key) })?.key,
                let unseen = calibration.leaveOneOutMeanAbsError
            else { return }
            let f = { (value: Double) in String(format: "%.2f", value) }
            print(
                "Chosen from the other cells, each cell's count (leave-one-out) has a mean abs error of \(f(unseen)) "
                    + "against \(f(calibration.row(at: current).meanAbsError)) at the current \(f(current)).")
            switch calibration.advice(current: current) {
            case .change(let threshold):
                print("Add to the configuration (top level):\nscore_threshold = \(f(threshold))")
            case .keep where chosen.threshold == current:
                print("Keep the current threshold \(f(current)): the rule chooses it.")
            case .keep:
                print(
                    "Keep the current threshold \(f(current)): the rule's choice, \(f(chosen.threshold)), does not "
                        + "count unseen cells better.")
            }
        }
    }
}

/// The day `text` (YYYY-MM-DD, UTC) names, for `--since`; nil for nil.
private func day(_ text: String?) throws -> Date? {
    guard let text else { return nil }
    let f = DateFormatter()
    f.dateFormat = "yyyy-MM-dd"
    f.timeZone = TimeZone(identifier: "UTC")
    f.locale = Locale(identifier: "en_US_POSIX")
    guard let date = f.date(from: text) else {
        printError("--since \(text) is not a day YYYY-MM-DD")
        throw ExitCode(1)
    }
    return date
}
