import Foundation
import KaryoDetect
import KaryoImage
import KaryoTestSupport
import Testing

@testable import KaryoPipeline

@Suite("Annotated picture")
struct AnnotatorTests {
    static let fixtures = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "Fixtures/real")

    /// The real spread's 46 annotated chromosomes as detections (bounding boxes of the labelme polygons), the last
    /// six with scores below the threshold.
    static func annotatedDetections() throws -> [Detection] {
        let data = try Data(contentsOf: fixtures.appending(path: "18-Y2087.145.O.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let shapes = try #require(object["shapes"] as? [[String: Any]])
        return shapes.enumerated().map { i, shape in
            let points = (shape["points"] as? [[Double]]) ?? []
            let box = BoundingBox(
                x1: points.map { $0[0] }.min()!, y1: points.map { $0[1] }.min()!, x2: points.map { $0[0] }.max()!,
                y2: points.map { $0[1] }.max()!)
            return Detection(box: box, score: i < 40 ? 0.99 - Double(i) * 0.005 : 0.45 - Double(i - 40) * 0.05)
        }
    }

    @Test("counted boxes thin and green with their numbers, below-threshold boxes only when asked for, a banner")
    func realSpread() throws {
        let decoded = try ImageDecoder.decode(contentsOf: Self.fixtures.appending(path: "18-Y2087.145.O.png"))
        let detections = try Self.annotatedDetections()
        let processor = ImageProcessor(detector: PixelCodeDetector(), options: ProcessingOptions())
        let loaded = LoadedImage(
            source: URL(filePath: "/drop/18-Y2087.145.O.png"), sha256: "00", decoded: decoded, timings: [:])
        let placement = ResultPlacement(folder: URL(filePath: "/tmp"), patient: "18-Y2087", cell: "145", stem: "x")
        let record = processor.makeRecord(
            loaded, output: DetectorOutput(detections: detections), placement: placement, now: Date())
        #expect(record.count == 40 && record.belowThreshold.count == 6)
        let picture = Annotator.render(decoded.image, record: record, options: ProcessingOptions())
        // Right edge of each counted box (the label may cover its top-left corner): green.
        for c in record.chromosomes {
            let x = Int(c.box.x2.rounded()) - 1
            let y = Int(((c.box.y1 + c.box.y2) / 2).rounded())
            #expect(picture[x, y] == Annotator.countedColor || picture[x, y] == Annotator.belowColor)
        }
        #expect(picture[2, 2] == .black)  // banner background
        func orangePixels(_ p: RGBImage) -> Int {
            (0..<p.height).reduce(0) { n, y in n + (0..<p.width).filter { p[$0, y] == Annotator.belowColor }.count }
        }
        #expect(orangePixels(picture) == 0, "below-threshold boxes are hidden unless asked for")
        let withBelow = Annotator.render(
            decoded.image, record: record, options: ProcessingOptions(drawBelowThreshold: true))
        #expect(orangePixels(withBelow) > 100)
        // Lines are thin: where a right edge crosses no other box or number, it is 1 px wide at 1024x870.
        let widths = record.chromosomes.map { c in
            let x = Int(c.box.x2.rounded()) - 1
            let y = Int(((c.box.y1 + c.box.y2) / 2).rounded())
            return (x - 4...x + 4).filter { picture[$0, y] == Annotator.countedColor }.count
        }
        #expect(widths.min() == 1)
        #expect(widths.filter { $0 == 1 }.count >= record.chromosomes.count / 2)
        // Kept for a look: the preview of the annotated output.
        try PNGEncoder.write(
            picture, to: FileManager.default.temporaryDirectory.appending(path: "karyocount-annotated-preview.png"))
    }

    @Test("the thumbnail of a 1600x1200 export is 240x180, halved step by step")
    func thumbnail() {
        let small = ImageProcessor.thumbnail(GrayImage(width: 1600, height: 1200, value: 0.5))
        #expect(small.width == ResultPlacement.thumbnailWidth && small.height == 180)
        #expect(ImageProcessor.thumbnail(GrayImage(width: 100, height: 64, value: 0.5)).width == 100)
    }
}
