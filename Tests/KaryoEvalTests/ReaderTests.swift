import Foundation
import KaryoDetect
import KaryoEval
import KaryoImage
import Testing

/// A fresh empty folder under the system temporary folder.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("karyoeval-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Writes `text` to `folder/name`, creating subfolders.
@discardableResult
func write(_ text: String, to name: String, in folder: URL) throws -> URL {
    let url = folder.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
    return url
}

/// The project's `Tests/Fixtures` folder.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

@Suite("Ground-truth readers")
struct TruthReaderTests {
    @Test("labelme polygons, rectangles and circles become their extents; points are skipped with a warning")
    func labelme() throws {
        let json = """
            {"version": "5.2.1", "imagePath": "..\\\\captures\\\\8129A.013.A.TIF", "imageData": null,
             "imageWidth": 693, "imageHeight": 553, "shapes": [
              {"label": "chromos", "shape_type": "polygon", "points": [[10, 20], [30, 5], [25, 40]]},
              {"label": "chromos", "shape_type": "rectangle", "points": [[50.5, 60], [40, 70]]},
              {"label": "chromos", "shape_type": "circle", "points": [[100, 100], [103, 104]]},
              {"label": "chromos", "shape_type": "point", "points": [[1, 1]]},
              {"label": "nucleus", "shape_type": "polygon", "points": [[0, 0], [9, 9]]},
              {"label": "chromos", "points": [[0, 0], [2, 3]]}
            ]}
            """
        let set = try TruthReader.readLabelme(Data(json.utf8), file: "/data/cell13.json")
        let image = try #require(set.images.first)
        #expect(image.stem == "cell13")
        #expect(image.aliases == ["8129A.013.A"])
        #expect(image.width == 693 && image.height == 553)
        #expect(
            image.boxes == [
                BoundingBox(x1: 10, y1: 5, x2: 30, y2: 40), BoundingBox(x1: 40, y1: 60, x2: 50.5, y2: 70),
                BoundingBox(x1: 95, y1: 95, x2: 105, y2: 105), BoundingBox(x1: 0, y1: 0, x2: 9, y2: 9),
                BoundingBox(x1: 0, y1: 0, x2: 2, y2: 3),
            ])
        #expect(set.warnings.count == 1 && set.warnings[0].contains("point"))
        let chromosOnly = try TruthReader.readLabelme(Data(json.utf8), file: "cell13.json", labels: ["chromos"])
        #expect(chromosOnly.images[0].boxes.count == 4)
    }

    @Test("a labelme shape with a broken point list is an error naming the file")
    func labelmeMalformed() {
        let json = #"{"shapes": [{"label": "c", "shape_type": "polygon", "points": [[1, 2, 3]]}]}"#
        #expect(throws: EvalError.self) { try TruthReader.readLabelme(Data(json.utf8), file: "bad.json") }
        do {
            _ = try TruthReader.readLabelme(Data(#"{"shapes": 3}"#.utf8), file: "bad.json")
            Issue.record("expected an error")
        } catch let error as EvalError {
            #expect(error.code == .malformedAnnotation)
            #expect(error.description.contains("bad.json"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("the real spread's labelme file gives its 46 chromosomes")
    func realFixture() throws {
        let set = try TruthReader.read(at: fixtures.appendingPathComponent("real/18-Y2087.145.O.json"))
        #expect(set.images.count == 1)
        let image = try #require(set.images.first)
        #expect(image.stem == "18-Y2087.145.O")
        #expect(image.boxes.count == 46)
        #expect(image.width == 1017 && image.height == 896)
        // The first polygon runs over x 300...333, y 596...616.
        #expect(image.boxes[0] == BoundingBox(x1: 300, y1: 596, x2: 333, y2: 616))
        #expect(image.boxes.allSatisfy { $0.x1 >= 0 && $0.y1 >= 0 && $0.x2 <= 1017 && $0.y2 <= 896 && $0.area > 0 })
    }

    @Test("COCO boxes convert from x, y, w, h, and an image without annotations has no chromosomes")
    func coco() throws {
        let json = """
            {"images": [{"id": 1, "file_name": "a/18-Y1.001.O.png", "width": 100, "height": 80},
                        {"id": "two", "file_name": "18-Y1.002.O.tif"}],
             "annotations": [{"id": 1, "image_id": 1, "bbox": [10, 20, 5, 6], "category_id": 1},
                             {"id": 2, "image_id": 1, "bbox": [0, 0, 1, 1], "category_id": 2}],
             "categories": [{"id": 1, "name": "chromosome"}, {"id": 2, "name": "debris"}]}
            """
        let set = try TruthReader.readCOCO(Data(json.utf8), file: "coco.json")
        #expect(set.images.map(\.stem) == ["18-Y1.001.O", "18-Y1.002.O"])
        #expect(
            set.images[0].boxes == [
                BoundingBox(x1: 10, y1: 20, x2: 15, y2: 26), BoundingBox(x1: 0, y1: 0, x2: 1, y2: 1),
            ])
        #expect(set.images[1].boxes.isEmpty)
        let filtered = try TruthReader.readCOCO(Data(json.utf8), file: "coco.json", labels: ["chromosome"])
        #expect(filtered.images[0].boxes.count == 1)
        let orphan = #"{"images": [], "annotations": [{"image_id": 9, "bbox": [0, 0, 1, 1]}]}"#
        #expect(throws: EvalError.self) { try TruthReader.readCOCO(Data(orphan.utf8), file: "coco.json") }
    }

    @Test("Pascal VOC boxes move from 1-based inclusive pixels to 0-based exclusive edges")
    func voc() throws {
        let xml = """
            <?xml version="1.0"?>
            <annotation>
              <folder>spreads</folder>
              <filename>8129A.013.A.TIF</filename>
              <size><width>693</width><height>553</height><depth>1</depth></size>
              <object><name>chromosome</name><difficult>1</difficult>
                <bndbox><xmin>11</xmin><ymin>21</ymin><xmax>30</xmax><ymax>50</ymax></bndbox></object>
              <object><name>nucleus</name>
                <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5.5</xmax><ymax>6</ymax></bndbox></object>
            </annotation>
            """
        let set = try TruthReader.readVOC(Data(xml.utf8), file: "/x/cell13.xml")
        let image = try #require(set.images.first)
        #expect(image.stem == "8129A.013.A" && image.aliases == ["cell13"])
        #expect(image.width == 693 && image.height == 553)
        #expect(
            image.boxes == [BoundingBox(x1: 10, y1: 20, x2: 30, y2: 50), BoundingBox(x1: 0, y1: 0, x2: 5.5, y2: 6)])
        let chromosomes = try TruthReader.readVOC(Data(xml.utf8), file: "cell13.xml", labels: ["chromosome"])
        #expect(chromosomes.images[0].boxes.count == 1)
        let broken = "<annotation><object><bndbox><xmin>3</xmin></bndbox></object></annotation>"
        #expect(throws: EvalError.self) { try TruthReader.readVOC(Data(broken.utf8), file: "b.xml") }
        #expect(throws: EvalError.self) {
            try TruthReader.readVOC(Data("<annotation><a></annotation>".utf8), file: "b.xml")
        }
        #expect(throws: EvalError.self) { try TruthReader.readVOC(Data("<svg/>".utf8), file: "b.xml") }
    }

    @Test("a folder of mixed annotation files is read recursively, images and unknown extensions ignored")
    func folder() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(#"{"shapes": [{"label": "c", "points": [[0, 0], [4, 4]]}]}"#, to: "a/one.json", in: dir)
        try write("<annotation><filename>two.png</filename></annotation>", to: "b/two.xml", in: dir)
        try write("not an image", to: "one.png", in: dir)
        let set = try TruthReader.read(at: dir)
        #expect(set.images.map(\.stem) == ["one", "two"])
        #expect(set.images[1].boxes.isEmpty)
        try write(#"{"shapes": []}"#, to: "c/one.json", in: dir)
        #expect(throws: EvalError.self) { try TruthReader.read(at: dir) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("c"))
        try write(#"{"hello": 1}"#, to: "other.json", in: dir)
        do {
            _ = try TruthReader.read(at: dir)
            Issue.record("expected an error")
        } catch let error as EvalError {
            #expect(error.code == .unrecognizedFormat)
            #expect(error.file?.hasSuffix("other.json") == true)
        }
        #expect(throws: EvalError.self) { try TruthReader.read(at: dir.appendingPathComponent("missing")) }
    }

    @Test("a stem is the last path component, Windows or POSIX, without its final extension")
    func stems() {
        #expect(imageStem(of: #"..\first_chromos\18-Y2087.145.O.JPG"#) == "18-Y2087.145.O")
        #expect(imageStem(of: "/a/b/8129A.001.A.TIF") == "8129A.001.A")
        #expect(imageStem(of: "plain") == "plain")
        #expect(imageStem(of: ".hidden") == ".hidden")
    }
}

@Suite("Prediction files and pairing")
struct PredictionReaderTests {
    @Test("result files are read recursively; error records and other JSON are listed as skipped")
    func readsResults() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(
            #"""
            {"schema": "karyocount.result/1", "source": "/drop/P1/8129A.013.A.TIF", "width": 693, "height": 553,
             "detector": "classical", "score_threshold": 0.5, "count": 1,
             "chromosomes": [{"box": [1, 2, 4, 6], "score": 0.9, "embedding": null}],
             "below_threshold": [{"box": [5, 6, 12, 14], "score": 0.3, "embedding": null}]}
            """#, to: "P1/8129A.013.A.json", in: dir)
        try write(#"{"error": "decode failed"}"#, to: "P1/8129A.014.A.error.json", in: dir)
        try write(#"{"schema": "karyocount.patient/1"}"#, to: "P1/patient.json", in: dir)
        let set = try PredictionReader.read(at: dir)
        #expect(set.images.count == 1)
        #expect(set.images[0].stem == "8129A.013.A")
        #expect(set.images[0].detections == [det(box(1, 2, 3, 4), 0.9), det(box(5, 6, 7, 8), 0.3)])
        #expect(set.skipped.count == 2)
    }

    @Test("a result as the daemon and `count` write it (model object, below-threshold detections apart) is read whole")
    func pipelineResult() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try write(
            #"""
            {"schema": "karyocount.result/1", "source": "/drop/18-Y2087.145.O.png", "detector": "deepace",
             "model": {"name": "default", "sha256": "33"}, "score_threshold": 0.5, "count": 1,
             "working_scale": {"rule": "chromosome-width", "factor": 0.64},
             "chromosomes": [{"box": [1, 2, 3, 4], "score": 0.9, "embedding": 0.1}],
             "below_threshold": [{"box": [5, 6, 7, 8], "score": 0.3, "embedding": null}]}
            """#, to: "18-Y2087.145.O.json", in: dir)
        let image = try #require(try PredictionReader.readFile(file))
        #expect(image.detections.map(\.score) == [0.9, 0.3])
        #expect(image.detections[1].box == BoundingBox(x1: 5, y1: 6, x2: 7, y2: 8))
    }

    @Test("a result file with a broken chromosome list is an error naming it")
    func malformedResult() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try write(
            #"{"schema": "karyocount.result/1", "chromosomes": [{"box": [1, 2, 3], "score": 0.5}]}"#, to: "x.json",
            in: dir)
        #expect(throws: EvalError.self) { try PredictionReader.read(at: file) }
    }

    @Test("pairing uses stems first, then aliases, and reports images on one side only")
    func pairing() {
        let truth = [
            TruthImage(stem: "a", boxes: [box(0, 0, 1, 1)]),
            TruthImage(stem: "labelme-name", aliases: ["b"], boxes: []),
            TruthImage(stem: "c", boxes: []),
        ]
        let predictions = [
            PredictionImage(stem: "b", detections: []),
            PredictionImage(stem: "a", detections: [det(box(0, 0, 1, 1), 1)]),
            PredictionImage(stem: "z", detections: []),
        ]
        let paired = pairByStem(truth: truth, predictions: predictions)
        #expect(paired.images.map(\.stem) == ["a", "labelme-name"])
        #expect(paired.images[0].predictions.count == 1)
        #expect(paired.truthOnly == ["c"])
        #expect(paired.predictionOnly == ["z"])
    }

    @Test("an evaluation with nothing in common says which stems it saw")
    func nothingPaired() {
        let truth = TruthSet(images: [TruthImage(stem: "a", boxes: [])])
        let predictions = PredictionSet(images: [PredictionImage(stem: "b", detections: [])])
        do {
            _ = try EvalRun.run(truth: truth, predictions: predictions)
            Issue.record("expected an error")
        } catch let error as EvalError {
            #expect(error.code == .noImages)
            #expect(error.description.contains("a") && error.description.contains("b"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
