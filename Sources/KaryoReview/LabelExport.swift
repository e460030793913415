import Foundation
import KaryoImage
import KaryoPipeline

/// Writes every reviewed cell whose boxes a cytologist corrected or accepted as Pascal VOC, the layout Training/
/// reads: `images/<id>.png`, `annotations/<id>.xml` (one `chromosome` object per box, VOC's inclusive pixel
/// coordinates) and `train.txt` listing the ids.
public enum LabelExport {
    /// What an export wrote and what it left out, in words.
    public struct Outcome: Sendable, Equatable {
        /// Ids written, sorted.
        public var written: [String]
        /// Reviewed cells left out and why (a typed count has no boxes; an old result has no clean image).
        public var skipped: [String]
    }

    /// Exports the latest review of each cell reviewed since `since` (all when nil) into `folder`.
    public static func run(service: ReviewService, to folder: URL, since: Date?) throws -> Outcome {
        let images = folder.appending(path: "images")
        let annotations = folder.appending(path: "annotations")
        for dir in [images, annotations] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        var outcome = Outcome(written: [], skipped: [])
        for review in try service.queue.latestReviews(since: since) {
            guard let entry = try service.queue.result(sha256: review.sha256) else { continue }
            let name = "\(entry.patient)/\(entry.stem)"
            guard let boxes = review.boxes else {
                outcome.skipped.append("\(name): only the count was typed (\(review.count)), no boxes to train on")
                continue
            }
            guard let view = try service.picture(review.sha256, .view), view.lastPathComponent.hasSuffix(".view.png")
            else {
                outcome.skipped.append("\(name): counted before the review station existed, no clean image kept")
                continue
            }
            let id = "\(entry.patient)__\(entry.stem)"
            let decoded = try ImageDecoder.decode(contentsOf: view)
            try AtomicFile.write(try Data(contentsOf: view), to: images.appending(path: id + ".png"))
            try AtomicFile.write(
                Data(vocXML(id: id, width: decoded.image.width, height: decoded.image.height, boxes: boxes).utf8),
                to: annotations.appending(path: id + ".xml"))
            outcome.written.append(id)
        }
        outcome.written.sort()
        try AtomicFile.write(
            Data(outcome.written.map { $0 + "\n" }.joined().utf8), to: folder.appending(path: "train.txt"))
        return outcome
    }

    /// One VOC annotation; boxes are exclusive-edge source pixels, VOC's `xmax`/`ymax` are inclusive.
    static func vocXML(id: String, width: Int, height: Int, boxes: [BoundingBox]) -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;")
        }
        let objects = boxes.map { b in
            let x1 = max(0, Int(b.x1.rounded())), y1 = max(0, Int(b.y1.rounded()))
            let x2 = min(width, Int(b.x2.rounded())) - 1, y2 = min(height, Int(b.y2.rounded())) - 1
            return """
                 <object>
                  <name>chromosome</name>
                  <bndbox><xmin>\(x1)</xmin><ymin>\(y1)</ymin><xmax>\(max(x1, x2))</xmax><ymax>\(max(y1, y2))</ymax></bndbox>
                 </object>

                """
        }
        return """
            <annotation>
             <filename>\(esc(id)).png</filename>
             <size><width>\(width)</width><height>\(height)</height><depth>1</depth></size>
            \(objects.joined())</annotation>

            """
    }
}
