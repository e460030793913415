import Foundation
import KaryoDetect
import KaryoImage

/// Predictions read from `karyocount.result/1` files, with the files that were passed over.
public struct PredictionSet: Sendable, Equatable {
    /// One entry per result file.
    public var images: [PredictionImage]
    /// Files passed over and why (error files, `patient.json` and other JSON that is not a result).
    public var skipped: [String]

    public init(images: [PredictionImage], skipped: [String] = []) {
        self.images = images
        self.skipped = skipped
    }
}

/// The part of a `karyocount.result/1` file (README.md, "Input and output"; written by `ResultRecord`) that
/// evaluation reads. Unknown keys are ignored.
public struct ResultFile: Decodable, Sendable, Equatable {
    /// The schema tag every result file carries.
    public static let schemaTag = "karyocount.result/1"

    /// One detected chromosome.
    public struct Chromosome: Decodable, Sendable, Equatable {
        public var box: BoundingBox
        public var score: Double
        public var embedding: Double?
    }

    public var schema: String
    /// The input image's path.
    public var source: String?
    public var width: Int?
    public var height: Int?
    /// The detector's name (`classical`, `deepace`).
    public var detector: String?
    /// The model's name, when the detector has weights (written as `{"name", "sha256"}`; a bare name is read too).
    public var model: String?
    /// The score at or above which a detection is counted.
    public var scoreThreshold: Double?
    /// Detections at or above `scoreThreshold`.
    public var count: Int?
    /// The counted detections, each with its score.
    public var chromosomes: [Chromosome]
    /// The detections below the count threshold, which the daemon and `karyocount count` write apart.
    public var belowThreshold: [Chromosome]
    /// When the image was processed (ISO 8601 UTC).
    public var processedAt: String?

    enum CodingKeys: String, CodingKey {
        case schema, source, width, height, detector, model, count, chromosomes
        case scoreThreshold = "score_threshold"
        case belowThreshold = "below_threshold"
        case processedAt = "processed_at"
    }

    private struct NamedModel: Decodable {
        var name: String
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schema = try c.decode(String.self, forKey: .schema)
        source = try c.decodeIfPresent(String.self, forKey: .source)
        width = try c.decodeIfPresent(Int.self, forKey: .width)
        height = try c.decodeIfPresent(Int.self, forKey: .height)
        detector = try c.decodeIfPresent(String.self, forKey: .detector)
        if let named = try? c.decodeIfPresent(NamedModel.self, forKey: .model) {
            model = named.name
        } else {
            model = try c.decodeIfPresent(String.self, forKey: .model)
        }
        scoreThreshold = try c.decodeIfPresent(Double.self, forKey: .scoreThreshold)
        count = try c.decodeIfPresent(Int.self, forKey: .count)
        chromosomes = try c.decode([Chromosome].self, forKey: .chromosomes)
        belowThreshold = try c.decodeIfPresent([Chromosome].self, forKey: .belowThreshold) ?? []
        processedAt = try c.decodeIfPresent(String.self, forKey: .processedAt)
    }

    /// Every detection, counted or not, as `Detection` values by descending score.
    public var detections: [Detection] {
        (chromosomes + belowThreshold).sorted { $0.score > $1.score }.map {
            Detection(box: $0.box, score: $0.score, embedding: $0.embedding)
        }
    }
}

/// Reads predictions from `karyocount.result/1` files.
public enum PredictionReader {
    /// Reads `url`: one result file, or a folder searched recursively for `<stem>.json` result files. Error files
    /// (`*.error.json`) and JSON without the result schema (e.g. `patient.json`) are listed in `skipped`. The stem
    /// of a file is its name without `.json`; the stem of its `source` is kept as an alias.
    ///
    /// - Throws: `EvalError` naming a result file that does not decode or whose stem repeats another's.
    public static func read(at url: URL) throws -> PredictionSet {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw EvalError(.unreadableFile, file: url.path, "no such file or folder")
        }
        let files = isDirectory.boolValue ? try annotationFiles(under: url, extensions: ["json"]) : [url]
        var set = PredictionSet(images: [])
        var seen: [String: String] = [:]
        for file in files {
            if file.lastPathComponent.hasSuffix(".error.json") {
                set.skipped.append("\(file.path): an error record, not a result")
                continue
            }
            guard let image = try readFile(file) else {
                set.skipped.append("\(file.path): not a \(ResultFile.schemaTag) file")
                continue
            }
            if let earlier = seen[image.stem] {
                throw EvalError(
                    .duplicateImage, file: file.path,
                    "image '\(image.stem)' also has predictions in \(earlier); keep one result per image")
            }
            seen[image.stem] = file.path
            set.images.append(image)
        }
        return set
    }

    /// Reads one result file; nil when the file is JSON of another kind (no `"schema": "karyocount.result/1"`).
    public static func readFile(_ file: URL) throws -> PredictionImage? {
        let data = try readData(file)
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            object["schema"] as? String == ResultFile.schemaTag
        else { return nil }
        let result: ResultFile
        do {
            result = try JSONDecoder().decode(ResultFile.self, from: data)
        } catch {
            throw EvalError(.malformedAnnotation, file: file.path, "result JSON: \(describe(error))")
        }
        for (n, c) in (result.chromosomes + result.belowThreshold).enumerated() {
            let b = c.box
            guard [b.x1, b.y1, b.x2, b.y2, c.score].allSatisfy(\.isFinite) else {
                throw EvalError(.malformedAnnotation, file: file.path, "chromosome \(n) has a non-finite box or score")
            }
        }
        let stem = imageStem(of: file.path)
        var aliases: [String] = []
        if let source = result.source, !source.isEmpty, imageStem(of: source) != stem {
            aliases.append(imageStem(of: source))
        }
        return PredictionImage(
            stem: stem, aliases: aliases, detections: result.detections, file: file.path,
            scoreThreshold: result.scoreThreshold)
    }
}
