import Foundation
import KaryoImage

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Ground truth read from one or more annotation files, with notes on what was skipped.
public struct TruthSet: Sendable, Equatable {
    /// One entry per annotated image.
    public var images: [TruthImage]
    /// Things read but not used (e.g. a labelme `point` shape), one line each.
    public var warnings: [String]

    public init(images: [TruthImage], warnings: [String] = []) {
        self.images = images
        self.warnings = warnings
    }
}

/// Reads ground-truth annotations: labelme JSON, COCO JSON and Pascal VOC XML.
public enum TruthReader {
    /// Reads `url`: one annotation file, or a folder searched recursively for `.json` and `.xml` files (other files,
    /// such as the images beside labelme files, are ignored). Each JSON file's format is found from its keys.
    ///
    /// - Parameter labels: when given, only shapes, categories or objects with one of these labels count.
    /// - Throws: `EvalError` naming the file that cannot be read, is not a known format, or repeats an image stem.
    public static func read(at url: URL, labels: Set<String>? = nil) throws -> TruthSet {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw EvalError(.unreadableFile, file: url.path, "no such file or folder")
        }
        let files: [URL]
        if isDirectory.boolValue {
            files = try annotationFiles(under: url, extensions: ["json", "xml"])
        } else {
            files = [url]
        }
        var set = TruthSet(images: [])
        var seen: [String: String] = [:]
        for file in files {
            let part = try readFile(file, labels: labels)
            for image in part.images {
                if let earlier = seen[image.stem] {
                    throw EvalError(
                        .duplicateImage, file: image.file,
                        "image '\(image.stem)' is also annotated in \(earlier); keep one annotation per image")
                }
                seen[image.stem] = image.file
                set.images.append(image)
            }
            set.warnings += part.warnings
        }
        return set
    }

    /// Reads one annotation file, choosing the reader from the extension (`.xml`) or the JSON keys.
    public static func readFile(_ file: URL, labels: Set<String>? = nil) throws -> TruthSet {
        let data = try readData(file)
        if file.pathExtension.lowercased() == "xml" {
            return try readVOC(data, file: file.path, labels: labels)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw EvalError(.unrecognizedFormat, file: file.path, "not a JSON object")
        }
        if object["shapes"] != nil {
            return try readLabelme(data, file: file.path, labels: labels)
        }
        if object["images"] != nil && object["annotations"] != nil {
            return try readCOCO(data, file: file.path, labels: labels)
        }
        throw EvalError(
            .unrecognizedFormat, file: file.path,
            "expected labelme (`shapes`) or COCO (`images` and `annotations`) ground truth")
    }

    // MARK: labelme

    private struct LabelmeFile: Decodable {
        var shapes: [LabelmeShape]
        var imagePath: String?
        var imageWidth: Int?
        var imageHeight: Int?
    }

    private struct LabelmeShape: Decodable {
        var label: String?
        var points: [[Double]]
        var shape_type: String?
    }

    /// Reads a labelme file: each `polygon`, `rectangle`, `mask` or `circle` shape becomes the box of its extent
    /// (a circle's from its centre and rim point); `point`, `line` and `linestrip` shapes mark no extent and are
    /// skipped with a warning. The image's stem is the file's own stem; the stem of `imagePath` (a Windows or POSIX
    /// path) is kept as an alias.
    public static func readLabelme(_ data: Data, file: String, labels: Set<String>? = nil) throws -> TruthSet {
        let doc: LabelmeFile
        do {
            doc = try JSONDecoder().decode(LabelmeFile.self, from: data)
        } catch {
            throw EvalError(.malformedAnnotation, file: file, "labelme JSON: \(describe(error))")
        }
        var boxes: [BoundingBox] = []
        var warnings: [String] = []
        for (index, shape) in doc.shapes.enumerated() {
            if let labels, !labels.contains(shape.label ?? "") { continue }
            let type = shape.shape_type ?? "polygon"
            let points = shape.points
            guard points.allSatisfy({ $0.count == 2 && $0[0].isFinite && $0[1].isFinite }) else {
                throw EvalError(.malformedAnnotation, file: file, "shape \(index): points must be finite [x, y] pairs")
            }
            switch type {
            case "polygon", "rectangle", "mask":
                guard points.count >= 2 else {
                    throw EvalError(
                        .malformedAnnotation, file: file, "shape \(index) (\(type)) has fewer than 2 points")
                }
                let xs = points.map { $0[0] }
                let ys = points.map { $0[1] }
                boxes.append(BoundingBox(x1: xs.min()!, y1: ys.min()!, x2: xs.max()!, y2: ys.max()!))
            case "circle":
                guard points.count == 2 else {
                    throw EvalError(.malformedAnnotation, file: file, "shape \(index) (circle) needs centre and rim")
                }
                let r = hypot(points[1][0] - points[0][0], points[1][1] - points[0][1])
                boxes.append(
                    BoundingBox(x1: points[0][0] - r, y1: points[0][1] - r, x2: points[0][0] + r, y2: points[0][1] + r))
            default:
                warnings.append("\(file): shape \(index) of type '\(type)' has no extent and was skipped")
            }
        }
        let stem = imageStem(of: file)
        var aliases: [String] = []
        if let path = doc.imagePath, !path.isEmpty, imageStem(of: path) != stem {
            aliases.append(imageStem(of: path))
        }
        let image = TruthImage(
            stem: stem, aliases: aliases, boxes: boxes, width: doc.imageWidth, height: doc.imageHeight, file: file)
        return TruthSet(images: [image], warnings: warnings)
    }

    // MARK: COCO

    /// A COCO id, which some exporters write as a string.
    private enum CocoID: Decodable, Hashable {
        case int(Int)
        case string(String)

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) {
                self = .int(i)
            } else {
                self = .string(try c.decode(String.self))
            }
        }
    }

    private struct CocoFile: Decodable {
        var images: [CocoImage]
        var annotations: [CocoAnnotation]
        var categories: [CocoCategory]?
    }

    private struct CocoImage: Decodable {
        var id: CocoID
        var file_name: String
        var width: Int?
        var height: Int?
    }

    private struct CocoAnnotation: Decodable {
        var image_id: CocoID
        var bbox: [Double]
        var category_id: CocoID?
    }

    private struct CocoCategory: Decodable {
        var id: CocoID
        var name: String
    }

    /// Reads a COCO file: each annotation's `bbox` `[x, y, w, h]` becomes `[x, y, x + w, y + h]`. Every listed image
    /// is kept, so an image without annotations is an image with no chromosomes. Stems come from `file_name`.
    public static func readCOCO(_ data: Data, file: String, labels: Set<String>? = nil) throws -> TruthSet {
        let doc: CocoFile
        do {
            doc = try JSONDecoder().decode(CocoFile.self, from: data)
        } catch {
            throw EvalError(.malformedAnnotation, file: file, "COCO JSON: \(describe(error))")
        }
        var allowedCategories: Set<CocoID>?
        if let labels {
            allowedCategories = Set((doc.categories ?? []).filter { labels.contains($0.name) }.map(\.id))
        }
        var indexByID: [CocoID: Int] = [:]
        var images: [TruthImage] = []
        for image in doc.images {
            guard indexByID[image.id] == nil else {
                throw EvalError(.malformedAnnotation, file: file, "image id \(image.id) is listed twice")
            }
            indexByID[image.id] = images.count
            images.append(
                TruthImage(
                    stem: imageStem(of: image.file_name), boxes: [], width: image.width, height: image.height,
                    file: file))
        }
        for (n, annotation) in doc.annotations.enumerated() {
            if let allowedCategories {
                guard let category = annotation.category_id, allowedCategories.contains(category) else { continue }
            }
            guard let index = indexByID[annotation.image_id] else {
                throw EvalError(
                    .malformedAnnotation, file: file,
                    "annotation \(n) refers to image id \(annotation.image_id), which is not in `images`")
            }
            let b = annotation.bbox
            guard b.count == 4, b.allSatisfy(\.isFinite), b[2] >= 0, b[3] >= 0 else {
                throw EvalError(
                    .malformedAnnotation, file: file, "annotation \(n): bbox must be [x, y, w, h], w, h >= 0")
            }
            images[index].boxes.append(BoundingBox(x1: b[0], y1: b[1], x2: b[0] + b[2], y2: b[1] + b[3]))
        }
        return TruthSet(images: images)
    }

    // MARK: Pascal VOC

    /// Reads a Pascal VOC file (`<annotation>` with `<filename>`, `<size>` and `<object><bndbox>`). VOC boxes are
    /// 1-based inclusive pixel indices, so `xmin..xmax` becomes `[xmin - 1, ymin - 1, xmax, ymax]` in this project's
    /// 0-based, exclusive-edge convention. `difficult` objects are counted like any other: the paper has no such class.
    /// The stem comes from `<filename>`, else from the XML file's own name.
    public static func readVOC(_ data: Data, file: String, labels: Set<String>? = nil) throws -> TruthSet {
        let collector = VOCCollector()
        let parser = XMLParser(data: data)
        parser.delegate = collector
        // On Linux `parse()` can return true after libxml2 reported an error, so `parserError` is checked as well.
        let parsed = parser.parse()
        if !parsed || parser.parserError != nil {
            let code = parser.parserError.map { " (XMLParser error \(($0 as NSError).code))" } ?? ""
            throw EvalError(
                .malformedAnnotation, file: file,
                "Pascal VOC XML is not well-formed near line \(parser.lineNumber)\(code)")
        }
        guard collector.sawAnnotation else {
            throw EvalError(.unrecognizedFormat, file: file, "XML without an <annotation> root is not Pascal VOC")
        }
        var boxes: [BoundingBox] = []
        for (n, object) in collector.objects.enumerated() {
            if let labels, !labels.contains(object.name) { continue }
            guard let xmin = object.xmin, let ymin = object.ymin, let xmax = object.xmax, let ymax = object.ymax,
                xmax >= xmin, ymax >= ymin
            else {
                throw EvalError(
                    .malformedAnnotation, file: file,
                    "object \(n) needs a <bndbox> with numeric xmin <= xmax and ymin <= ymax")
            }
            boxes.append(BoundingBox(x1: xmin - 1, y1: ymin - 1, x2: xmax, y2: ymax))
        }
        let filename = collector.filename.trimmingCharacters(in: .whitespacesAndNewlines)
        let fileStem = imageStem(of: file)
        let stem = filename.isEmpty ? fileStem : imageStem(of: filename)
        let image = TruthImage(
            stem: stem, aliases: stem == fileStem ? [] : [fileStem], boxes: boxes, width: collector.width,
            height: collector.height, file: file)
        return TruthSet(images: [image])
    }

    /// Collects the parts of a VOC document that the reader needs.
    private final class VOCCollector: NSObject, XMLParserDelegate {
        struct Object {
            var name = ""
            var xmin: Double?
            var ymin: Double?
            var xmax: Double?
            var ymax: Double?
        }

        var sawAnnotation = false
        var filename = ""
        var width: Int?
        var height: Int?
        var objects: [Object] = []
        private var path: [String] = []
        private var text = ""

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
            qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]
        ) {
            if path.isEmpty && elementName == "annotation" { sawAnnotation = true }
            if path == ["annotation"] && elementName == "object" { objects.append(Object()) }
            path.append(elementName)
            text = ""
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            text += string
        }

        func parser(
            _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?
        ) {
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            switch path {
            case ["annotation", "filename"]: filename = value
            case ["annotation", "size", "width"]: width = Int(value)
            case ["annotation", "size", "height"]: height = Int(value)
            case ["annotation", "object", "name"]: objects[objects.count - 1].name = value
            case ["annotation", "object", "bndbox", "xmin"]: objects[objects.count - 1].xmin = Double(value)
            case ["annotation", "object", "bndbox", "ymin"]: objects[objects.count - 1].ymin = Double(value)
            case ["annotation", "object", "bndbox", "xmax"]: objects[objects.count - 1].xmax = Double(value)
            case ["annotation", "object", "bndbox", "ymax"]: objects[objects.count - 1].ymax = Double(value)
            default: break
            }
            path.removeLast()
            text = ""
        }
    }
}

/// Files under `folder` (recursively, hidden ones skipped) whose extension is one of `extensions`, sorted by path.
func annotationFiles(under folder: URL, extensions: Set<String>) throws -> [URL] {
    guard
        let enumerator = FileManager.default.enumerator(
            at: folder, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
    else {
        throw EvalError(.unreadableFile, file: folder.path, "the folder cannot be listed")
    }
    var files: [URL] = []
    for case let url as URL in enumerator where extensions.contains(url.pathExtension.lowercased()) {
        if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            files.append(url)
        }
    }
    return files.sorted { $0.path < $1.path }
}

/// The bytes of `file`, or an `EvalError` naming it.
func readData(_ file: URL) throws -> Data {
    do {
        return try Data(contentsOf: file)
    } catch {
        throw EvalError(.unreadableFile, file: file.path, error.localizedDescription)
    }
}

/// A decoding error in words a user can act on (the failing key path and the reason).
func describe(_ error: any Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return keys.isEmpty ? "top level" : keys
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing key '\(key.stringValue)' at \(path(context))"
    case .typeMismatch(_, let context): return "wrong type at \(path(context)): \(context.debugDescription)"
    case .valueNotFound(_, let context): return "missing value at \(path(context))"
    case .dataCorrupted(let context): return "invalid data at \(path(context)): \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
}
