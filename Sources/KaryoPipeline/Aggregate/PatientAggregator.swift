/// One counted image of a patient, as the aggregator sees it.
public struct ImageCount: Sendable, Equatable, Codable {
    /// Output stem of the image (unique within the patient).
    public var stem: String
    /// CytoVision cell number, when the name carries one.
    public var cell: String?
    /// The image's count: the cytologist's reviewed count when there is one, else the detector's.
    public var count: Int
    /// The detector's count (detections at or above the score threshold).
    public var detectorCount: Int
    /// Whether `count` is a cytologist's reviewed count.
    public var reviewed: Bool
    /// False when the count is the detector's and a detection scored inside the uncertain band; a reviewed count is
    /// confident.
    public var confident: Bool

    /// An image as the detector counted it, overridden by `reviewedCount` when a cytologist has reviewed it.
    public init(stem: String, cell: String?, count: Int, confident: Bool, reviewedCount: Int? = nil) {
        self.stem = stem
        self.cell = cell
        self.detectorCount = count
        self.count = reviewedCount ?? count
        self.reviewed = reviewedCount != nil
        self.confident = reviewedCount != nil || confident
    }

    /// The cell this image shows, for clone counting: the cell number, else the stem.
    var cellKey: String { cell ?? stem }

    enum CodingKeys: String, CodingKey {
        case stem, cell, count, confident, reviewed
        case detectorCount = "detector_count"
    }

    /// Reads reports stored before reviews existed: their counts are the detector's.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stem = try c.decode(String.self, forKey: .stem)
        cell = try c.decodeIfPresent(String.self, forKey: .cell)
        count = try c.decode(Int.self, forKey: .count)
        confident = try c.decode(Bool.self, forKey: .confident)
        detectorCount = try c.decodeIfPresent(Int.self, forKey: .detectorCount) ?? count
        reviewed = try c.decodeIfPresent(Bool.self, forKey: .reviewed) ?? false
    }
}

/// The aggregator's thresholds, all from the configuration.
public struct AggregatorSettings: Sendable, Equatable {
    /// A patient is `collecting` until this many images are counted.
    public var minImages: Int
    /// The flag is raised when at least this many images are not `expectedCount`.
    public var minDisagreeing: Int
    /// The normal count (46).
    public var expectedCount: Int

    public init(minImages: Int = 20, minDisagreeing: Int = 20, expectedCount: Int = 46) {
        self.minImages = minImages
        self.minDisagreeing = minDisagreeing
        self.expectedCount = expectedCount
    }

    /// The settings of a configuration.
    public init(_ config: KaryoConfig) {
        self.init(
            minImages: config.minImages, minDisagreeing: config.minDisagreeing, expectedCount: config.expectedCount)
    }
}

/// A patient's aggregate: what `results/<patient>/patient.json` holds.
public struct PatientReport: Sendable, Equatable, Codable {
    /// JSON schema identifier.
    public static let schemaID = "karyocount.patient/1"
    /// The one flag the aggregator raises.
    public static let flagName = "numerical-abnormality-suspected"
    /// Always part of the report: what a count cannot tell.
    public static let limitation =
        "A count-only tool cannot say which chromosome is gained or lost; karyotype the cells to identify it."

    /// `collecting` until `min_images` images are counted, then `assessed`.
    public enum State: String, Sendable, Codable {
        case collecting, assessed
    }

    /// The raised flag and why.
    public struct Flag: Sendable, Equatable, Codable {
        /// Always `numerical-abnormality-suspected`.
        public var name: String
        /// The reason in words, e.g. "23 of 41 images are not 46: 47 x 21, 45 x 2".
        public var reason: String
    }

    /// The same abnormal count in enough confident cells to meet the ISCN clone definition.
    public struct CloneEvidence: Sendable, Equatable, Codable {
        /// The count shared by the cells.
        public var count: Int
        /// The confident cells with that count, sorted.
        public var cells: [String]
    }

    public var schema = schemaID
    public var patient: String
    public var state: State
    public var imagesCounted: Int
    public var minImages: Int
    public var minDisagreeing: Int
    public var expectedCount: Int
    /// Images per count, keyed by the count written as a string (JSON object keys are strings).
    public var histogram: [String: Int]
    /// The most frequent count; nil with no images or when two or more counts are equally frequent.
    public var modalCount: Int?
    /// ISCN-style distribution, e.g. `modal 46 (45x2, 46x17, 47x1; n=20)`, or
    /// `no single mode: 44, 46 (44x1, 46x1; n=2)`.
    public var distribution: String
    /// Images whose count is not `expectedCount`.
    public var disagreeing: Int
    /// The flag, or nil when not raised.
    public var flag: Flag?
    /// What a cytologist should read, in words.
    public var reviewNotes: [String]
    /// Clone evidence among confident images.
    public var cloneEvidence: [CloneEvidence]
    /// Every counted image with its count (sorted by cell, then stem).
    public var cells: [ImageCount]
    /// Images whose count a cytologist has reviewed.
    public var imagesReviewed: Int {
        cells.filter(\.reviewed).count
    }
    /// Stems of images with a detection inside the uncertain band: worth a look.
    public var lowConfidenceImages: [String]
    /// What the tool cannot tell.
    public var limitation = PatientReport.limitation

    /// Whether the flag is raised.
    public var isFlagged: Bool { flag != nil }

    enum CodingKeys: String, CodingKey {
        case schema, patient, state, histogram, distribution, disagreeing, flag, cells, limitation
        case imagesCounted = "images_counted"
        case imagesReviewed = "images_reviewed"
        case minImages = "min_images"
        case minDisagreeing = "min_disagreeing"
        case expectedCount = "expected_count"
        case modalCount = "modal_count"
        case reviewNotes = "review_notes"
        case cloneEvidence = "clone_evidence"
        case lowConfidenceImages = "low_confidence_images"
    }
}

extension PatientReport {
    /// `images_reviewed` is written for readers of patient.json and derived from `cells` when read back.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schema = try c.decode(String.self, forKey: .schema)
        patient = try c.decode(String.self, forKey: .patient)
        state = try c.decode(State.self, forKey: .state)
        imagesCounted = try c.decode(Int.self, forKey: .imagesCounted)
        minImages = try c.decode(Int.self, forKey: .minImages)
        minDisagreeing = try c.decode(Int.self, forKey: .minDisagreeing)
        expectedCount = try c.decode(Int.self, forKey: .expectedCount)
        histogram = try c.decode([String: Int].self, forKey: .histogram)
        modalCount = try c.decodeIfPresent(Int.self, forKey: .modalCount)
        distribution = try c.decode(String.self, forKey: .distribution)
        disagreeing = try c.decode(Int.self, forKey: .disagreeing)
        flag = try c.decodeIfPresent(Flag.self, forKey: .flag)
        reviewNotes = try c.decode([String].self, forKey: .reviewNotes)
        cloneEvidence = try c.decode([CloneEvidence].self, forKey: .cloneEvidence)
        cells = try c.decode([ImageCount].self, forKey: .cells)
        lowConfidenceImages = try c.decode([String].self, forKey: .lowConfidenceImages)
        limitation = try c.decode(String.self, forKey: .limitation)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema)
        try c.encode(patient, forKey: .patient)
        try c.encode(state, forKey: .state)
        try c.encode(imagesCounted, forKey: .imagesCounted)
        try c.encode(imagesReviewed, forKey: .imagesReviewed)
        try c.encode(minImages, forKey: .minImages)
        try c.encode(minDisagreeing, forKey: .minDisagreeing)
        try c.encode(expectedCount, forKey: .expectedCount)
        try c.encode(histogram, forKey: .histogram)
        try c.encode(modalCount, forKey: .modalCount)
        try c.encode(distribution, forKey: .distribution)
        try c.encode(disagreeing, forKey: .disagreeing)
        try c.encode(flag, forKey: .flag)
        try c.encode(reviewNotes, forKey: .reviewNotes)
        try c.encode(cloneEvidence, forKey: .cloneEvidence)
        try c.encode(cells, forKey: .cells)
        try c.encode(lowConfidenceImages, forKey: .lowConfidenceImages)
        try c.encode(limitation, forKey: .limitation)
    }
}

/// Turns a patient's counted images into its report, exactly per README.md's patient tally rule ("Input and output").
public enum PatientAggregator {
    /// The same count above normal in this many confident cells is clone evidence (ISCN).
    public static let cloneCellsForGain = 2
    /// The same count below normal in this many confident cells is clone evidence (ISCN).
    public static let cloneCellsForLoss = 3

    /// Builds the report of `patient` from all its counted images.
    public static func report(patient: String, images: [ImageCount], settings: AggregatorSettings) -> PatientReport {
        let expected = settings.expectedCount
        let n = images.count
        var histogram: [Int: Int] = [:]
        for image in images { histogram[image.count, default: 0] += 1 }

        // A tie has no mode: no count is picked (in particular not the one nearest the expected count).
        let top = histogram.values.max() ?? 0
        let modes = histogram.filter { $0.value == top }.keys.sorted()
        let modal = modes.count == 1 ? modes[0] : nil
        let histogramText = histogram.keys.sorted().map { "\($0)x\(histogram[$0]!)" }.joined(separator: ", ")
        let distribution =
            if let modal {
                "modal \(modal) (\(histogramText); n=\(n))"
            } else if modes.isEmpty {
                "no images counted (n=0)"
            } else {
                "no single mode: \(modes.map(String.init).joined(separator: ", ")) (\(histogramText); n=\(n))"
            }

        let disagreeingCounts = histogram.filter { $0.key != expected }
        let disagreeing = disagreeingCounts.values.reduce(0, +)
        var flag: PatientReport.Flag?
        if disagreeing >= settings.minDisagreeing {
            let parts = disagreeingCounts.sorted { a, b in
                a.value != b.value ? a.value > b.value : a.key < b.key
            }.map { "\($0.key) x \($0.value)" }
            flag = PatientReport.Flag(
                name: PatientReport.flagName,
                reason: "\(disagreeing) of \(n) images are not \(expected): \(parts.joined(separator: ", "))")
        }

        let state: PatientReport.State = n >= settings.minImages ? .assessed : .collecting
        var notes: [String] = []
        if state == .collecting {
            notes.append("collecting: \(n) of \(settings.minImages) images counted")
        }
        let reviewed = images.filter(\.reviewed).count
        if reviewed > 0 {
            notes.append("\(reviewed) of \(n) counts reviewed by a cytologist")
        }
        if let flag {
            notes.append("flag \(flag.name): \(flag.reason); a call for review, not a diagnosis")
        }
        if state == .assessed, let modal, modal != expected {
            notes.append("modal count \(modal) is not \(expected) (n=\(n))")
        }
        if modes.count > 1 {
            notes.append("no single mode: \(modes.map(String.init).joined(separator: ", ")) are equally frequent")
        }

        let clones = cloneEvidence(images, expected: expected)
        for clone in clones {
            let kind = clone.count > expected ? "gain" : "loss"
            notes.append(
                "clone evidence (\(kind)): \(clone.count) in \(clone.cells.count) confident cells "
                    + "(\(clone.cells.joined(separator: ", ")))")
        }
        let lowConfidence = images.filter { !$0.confident }.map(\.stem).sorted()
        if !lowConfidence.isEmpty {
            notes.append(
                "\(lowConfidence.count) image\(lowConfidence.count == 1 ? "" : "s") with uncertain detections "
                    + "(not used as clone evidence): look at \(lowConfidence.joined(separator: ", "))")
        }
        notes.append(PatientReport.limitation)

        let cells = images.sorted { a, b in
            a.cellKey != b.cellKey ? a.cellKey < b.cellKey : a.stem < b.stem
        }
        return PatientReport(
            patient: patient, state: state, imagesCounted: n, minImages: settings.minImages,
            minDisagreeing: settings.minDisagreeing, expectedCount: expected,
            histogram: Dictionary(uniqueKeysWithValues: histogram.map { (String($0.key), $0.value) }),
            modalCount: modal, distribution: distribution, disagreeing: disagreeing, flag: flag, reviewNotes: notes,
            cloneEvidence: clones, cells: cells, lowConfidenceImages: lowConfidence)
    }

    /// ISCN clone definition over confident images: the same gain in >= 2 cells, the same loss in >= 3 cells.
    static func cloneEvidence(_ images: [ImageCount], expected: Int) -> [PatientReport.CloneEvidence] {
        var cellsByCount: [Int: Set<String>] = [:]
        for image in images where image.confident && image.count != expected {
            cellsByCount[image.count, default: []].insert(image.cellKey)
        }
        return cellsByCount.keys.sorted().compactMap { count in
            let cells = cellsByCount[count]!
            let needed = count > expected ? cloneCellsForGain : cloneCellsForLoss
            return cells.count >= needed ? PatientReport.CloneEvidence(count: count, cells: cells.sorted()) : nil
        }
    }
}
