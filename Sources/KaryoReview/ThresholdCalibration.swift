import Foundation
import KaryoPipeline

/// The score threshold a lab's own reviewed cells choose. A result JSON keeps every detection down to the detector's
/// floor with its score (`chromosomes` and `below_threshold`), so the count at any threshold above that floor is
/// known without counting the image again; the cytologist's reviewed count is the truth it is compared with.
///
/// The rule, the same as `karyotrain evaluate`'s on annotated spreads: the lowest mean abs(count - reviewed count),
/// ties by the higher exact-count rate, then the lower threshold. Nothing in it looks at 46: a cell reviewed as 45
/// or 47 pulls the threshold towards counting 45 or 47.
public struct ThresholdCalibration: Sendable {
    /// One reviewed cell: its reviewed count and the scores of all its detections.
    public struct Cell: Sendable, Equatable {
        public var name: String
        public var reviewedCount: Int
        public var scores: [Double]

        public init(name: String, reviewedCount: Int, scores: [Double]) {
            self.name = name
            self.reviewedCount = reviewedCount
            self.scores = scores
        }

        /// The count at `threshold`: the detections scoring at or above it, as the daemon counts.
        public func count(at threshold: Double) -> Int { scores.count { $0 >= threshold } }
    }

    /// The reviewed cells' figures at one threshold.
    public struct Row: Sendable, Equatable {
        public var threshold: Double
        /// Cells whose count equals the reviewed count.
        public var exact: Int
        public var cells: Int
        /// Mean abs(count - reviewed count).
        public var meanAbsError: Double
        /// Mean (count - reviewed count): negative when the threshold under-counts.
        public var meanError: Double

        /// The exact-count rate in percent.
        public var exactPercent: Double { cells == 0 ? 0 : 100 * Double(exact) / Double(cells) }
    }

    /// The thresholds tried: 0.10 to 0.90 in steps of 0.01 (each the nearest double to its two-decimal value, as a
    /// `score_threshold` in the configuration reads).
    public static let thresholds: [Double] = (10...90).map { Double($0) / 100 }

    public let cells: [Cell]

    public init(cells: [Cell]) { self.cells = cells }

    /// The figures at `threshold`.
    public func row(at threshold: Double) -> Row {
        let errors = cells.map { $0.count(at: threshold) - $0.reviewedCount }
        let n = Double(max(cells.count, 1))
        return Row(
            threshold: threshold, exact: errors.count { $0 == 0 }, cells: cells.count,
            meanAbsError: Double(errors.map { abs($0) }.reduce(0, +)) / n,
            meanError: Double(errors.reduce(0, +)) / n)
    }

    /// The figures at every threshold tried.
    public var rows: [Row] { Self.thresholds.map(row(at:)) }

    /// The threshold the rule chooses among `thresholds`; nil without cells.
    public var chosen: Row? {
        guard !cells.isEmpty else { return nil }
        return Self.chosen(rows)
    }

    /// The rule on given rows: the lowest mean abs error, then the higher exact rate, then the lower threshold.
    static func chosen(_ rows: [Row]) -> Row? {
        rows.min { a, b in
            (a.meanAbsError, -a.exactPercent, a.threshold) < (b.meanAbsError, -b.exactPercent, b.threshold)
        }
    }

    /// The mean abs error of the rule on cells it did not choose from: each cell counted at the threshold the rule
    /// chooses from all the other cells (leave-one-out). The chosen row's own figure is flattered by the choice;
    /// this one is what the lab's next cells can expect. Nil with fewer than two cells.
    public var leaveOneOutMeanAbsError: Double? {
        guard cells.count >= 2 else { return nil }
        let errors = cells.map { cell in Self.thresholds.map { cell.count(at: $0) - cell.reviewedCount } }
        var absSums = [Int](repeating: 0, count: Self.thresholds.count)
        var signedSums = absSums
        var exactSums = absSums
        for cellErrors in errors {
            for (k, e) in cellErrors.enumerated() {
                absSums[k] += abs(e)
                signedSums[k] += e
                exactSums[k] += e == 0 ? 1 : 0
            }
        }
        let others = Double(cells.count - 1)
        var total = 0
        for cellErrors in errors {
            let rows = Self.thresholds.indices.map { k in
                let e = cellErrors[k]
                return Row(
                    threshold: Self.thresholds[k], exact: exactSums[k] - (e == 0 ? 1 : 0), cells: cells.count - 1,
                    meanAbsError: Double(absSums[k] - abs(e)) / others, meanError: Double(signedSums[k] - e) / others)
            }
            guard let choice = Self.chosen(rows), let k = Self.thresholds.firstIndex(of: choice.threshold) else {
                continue
            }
            total += abs(cellErrors[k])
        }
        return Double(total) / Double(cells.count)
    }

    /// What to tell the lab, against the threshold the cells were counted at.
    public enum Advice: Equatable, Sendable {
        /// Count at `threshold`: the rule's choice counts cells it did not see better than the current threshold.
        case change(to: Double)
        /// Keep the current threshold: the rule's choice is the current one, or does not count unseen cells better.
        case keep
    }

    /// Change to the chosen threshold only when its leave-one-out mean abs error is below the current threshold's.
    public func advice(current: Double) -> Advice {
        guard let chosen, let unseen = leaveOneOutMeanAbsError, chosen.threshold != current,
            unseen < row(at: current).meanAbsError
        else { return .keep }
        return .change(to: chosen.threshold)
    }
}

extension ThresholdCalibration {
    /// What `reviewedCells` found: the cells to calibrate on, those left out and why, and the thresholds the cells
    /// were counted at.
    public struct Collected: Sendable {
        public var cells: [Cell]
        public var skipped: [String]
        /// How many of the cells were counted at each threshold.
        public var countedAt: [Double: Int]
    }

    /// The latest review of each cell reviewed since `since` (all when nil) whose result the model with weights
    /// `modelSHA256` counted (any model when nil): a threshold fits the scores of one model only.
    public static func reviewedCells(queue: JobQueue, modelSHA256: String?, since: Date? = nil) throws -> Collected {
        var collected = Collected(cells: [], skipped: [], countedAt: [:])
        for review in try queue.latestReviews(since: since) {
            guard let entry = try queue.result(sha256: review.sha256) else { continue }
            let name = "\(entry.patient)/\(entry.stem)"
            let record: ResultRecord
            do {
                record = try KaryoJSON.decode(
                    ResultRecord.self, from: Data(contentsOf: URL(filePath: entry.resultPath)))
            } catch {
                collected.skipped.append("\(name): cannot read its result \(entry.resultPath) (\(error))")
                continue
            }
            if let modelSHA256, record.model?.sha256 != modelSHA256 {
                let by = record.model.map { "model \($0.name)" } ?? "the \(record.detector) detector"
                collected.skipped.append("\(name): counted by \(by), not the configured model")
                continue
            }
            collected.cells.append(
                Cell(
                    name: name, reviewedCount: review.count,
                    scores: (record.chromosomes + record.belowThreshold).map(\.score)))
            collected.countedAt[record.scoreThreshold, default: 0] += 1
        }
        collected.cells.sort { $0.name < $1.name }
        return collected
    }
}
