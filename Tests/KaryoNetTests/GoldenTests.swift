import Foundation
import KaryoImage
import KaryoSupport
import Testing

@testable import KaryoNet

/// The golden files written by Training/karyotrain/golden.py (README in Golden/): a narrow ResNet-18 DeepACEv2 with
/// seeded random weights on a 256x192 crop, every stage's PyTorch output.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static func file(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(url: directory.appendingPathComponent(name))
    }

    static func network() throws -> DeepACENetwork {
        try DeepACENetwork(config: try config(), weights: try weights())
    }

    static func config() throws -> ModelConfig {
        try ModelConfig.load(from: directory.appending(path: "model/config.json"))
    }

    static func weights() throws -> SafeTensorsFile {
        try SafeTensorsFile(url: directory.appending(path: "model/model.safetensors"))
    }

    /// Boxes from a `[K, 4]` tensor.
    static func boxes(_ t: Tensor) -> [Box] {
        stride(from: 0, to: t.count, by: 4).map { Box(t.data[$0], t.data[$0 + 1], t.data[$0 + 2], t.data[$0 + 3]) }
    }

    static func tensor(_ boxes: [Box]) -> Tensor {
        Tensor(shape: [boxes.count, 4], data: boxes.flatMap { [$0.x1, $0.y1, $0.x2, $0.y2] })
    }
}

@Suite("golden files: the Swift engine reproduces the PyTorch reference stage by stage")
struct GoldenTests {
    let stages: SafeTensorsFile
    let network: DeepACENetwork

    init() throws {
        stages = try Golden.file("stages.safetensors")
        network = try Golden.network()
    }

    func expectClose(
        _ got: Tensor, _ name: String, tolerance: Float = 1e-4, sourceLocation: SourceLocation = #_sourceLocation
    )
        throws
    {
        let want = try stages.tensor(name)
        #expect(got.count == want.count, "\(name): \(got.shape) vs \(want.shape)", sourceLocation: sourceLocation)
        guard got.count == want.count else { return }
        let error = Tensor(shape: [got.count], data: got.data).relativeError(
            to: Tensor(shape: [want.count], data: want.data))
        #expect(error <= tolerance, "\(name): relative error \(error)", sourceLocation: sourceLocation)
    }

    @Test("the working scale (chromosome width, factor, size) and the resized, normalized input match")
    func workingScale() throws {
        let image = try stages.tensor("image")
        let (h, w) = (image.shape[0], image.shape[1])
        let measured = WorkingScale.measure(image.data, width: w, height: h)
        #expect(measured.width == (try stages.doubles("width"))[0])
        #expect(measured.threshold == Int(try stages.doubles("otsu_threshold")[0]))
        #expect(measured.ridgeCount == Int(try stages.doubles("ridge_count")[0]))
        let prepared = network.prepare(image.data, width: w, height: h)
        #expect(abs(prepared.factor - (try stages.doubles("factor"))[0]) < 1e-12)
        #expect([prepared.height, prepared.width] == (try stages.doubles("size")).map { Int($0) })
        try expectClose(prepared.tensor, "input")
        let resized = GrayImage(width: w, height: h, pixels: image.data)
            .resized(width: prepared.width, height: prepared.height).pixels
        try expectClose(Tensor(shape: [resized.count], data: resized), "resized")
    }

    @Test("the chromosome width of a real spread (at its own size) and of the golden crop (enlarged 2x) match exactly")
    func chromosomeWidths() throws {
        let scale = try Golden.file("scale.safetensors")
        let real = try ImageDecoder.decode(
            contentsOf: Golden.directory.deletingLastPathComponent().deletingLastPathComponent()
                .appending(path: "Fixtures/real/18-Y2087.145.O.png")
        ).image
        let crop = try stages.tensor("image")
        let cases = [
            ("real", real.pixels.map { $0 * 255 }, real.width, real.height),
            ("golden", crop.data, crop.shape[1], crop.shape[0]),
        ]
        for (name, pixels, w, h) in cases {
            let measured = WorkingScale.measure(pixels, width: w, height: h)
            #expect(measured.width == (try scale.doubles("\(name)_width"))[0], "\(name)")
            #expect(measured.threshold == Int(try scale.doubles("\(name)_otsu_threshold")[0]), "\(name)")
            #expect(measured.ridgeCount == Int(try scale.doubles("\(name)_ridge_count")[0]), "\(name)")
            #expect(measured.upsampled == (try scale.doubles("\(name)_upsampled")[0] == 1), "\(name)")
        }
    }

    @Test("C3, C4, C5 and P3 match the reference within 1e-4 relative")
    func backboneAndPyramid() throws {
        let x = try stages.tensor("input")
        let (c3, c4, c5) = network.backboneFeatures(x)
        try expectClose(c3, "c3")
        try expectClose(c4, "c4")
        try expectClose(c5, "c5")
        let p3 = network.pyramidP3(
            c3: try stages.tensor("c3"), c4: try stages.tensor("c4"), c5: try stages.tensor("c5"))
        try expectClose(p3, "p3")
    }

    @Test("RPN logits, deltas and the proposals match the reference")
    func regionProposals() throws {
        let (logits, deltas) = network.rpnHead(try stages.tensor("p3"))
        try expectClose(logits, "rpn_logits")
        try expectClose(deltas, "rpn_deltas")
        let size = try stages.doubles("size").map { Int($0) }
        let (boxes, scores) = network.proposals(
            logits: try stages.tensor("rpn_logits"), deltas: try stages.tensor("rpn_deltas"), width: size[1],
            height: size[0])
        try expectClose(Golden.tensor(boxes), "proposals")
        try expectClose(Tensor(shape: [scores.count], data: scores), "proposal_scores")
    }

    @Test("RoI features, box scores, refined boxes and Template Module embeddings match the reference")
    func roiHead() throws {
        let size = try stages.doubles("size").map { Int($0) }
        let proposals = Golden.boxes(try stages.tensor("proposals"))
        let roi = network.roiFeatures(try stages.tensor("p3"), proposals: proposals)
        let kept = try stages.tensor("roi_features")
        try expectClose(Tensor(shape: kept.shape, data: Array(roi.data.prefix(kept.count))), "roi_features")
        let (boxes, scores) = network.boxHead(roi, proposals: proposals, width: size[1], height: size[0])
        try expectClose(Tensor(shape: [scores.count], data: scores), "box_scores")
        try expectClose(Golden.tensor(boxes), "box_boxes")
        try expectClose(Tensor(shape: [proposals.count], data: network.templateModule(roi)), "embeddings")
    }

    @Test("EG-NMS on the reference scores keeps the same detections in the same order")
    func postprocessing() throws {
        let boxes = Golden.boxes(try stages.tensor("box_boxes"))
        let scores = try stages.tensor("box_scores").data
        let embeddings = try stages.tensor("embeddings").data
        let detections = network.postprocess(boxes: boxes, scores: scores, embeddings: embeddings)
        let candidates = try stages.doubles("candidates").map { Int($0) }
        let want = try stages.doubles("det_index").map { Int($0) }
        #expect(detections.count == want.count)
        // Map each detection back to its proposal through the candidate list.
        let picked = detections.map { d in candidates.first { boxes[$0] == d.box } ?? -1 }
        #expect(picked == want)
        try expectClose(Golden.tensor(detections.map(\.box)), "det_boxes")
        try expectClose(Tensor(shape: [detections.count], data: detections.map(\.score)), "det_scores")
    }

    @Test("the whole pipeline from the grey image gives the reference boxes and exactly the reference count")
    func endToEnd() throws {
        let image = try stages.tensor("image")
        let (h, w) = (image.shape[0], image.shape[1])
        let prepared = network.prepare(image.data, width: w, height: h)
        let profile = StageProfile()
        let detections = network.detect(
            prepared.tensor, width: prepared.width, height: prepared.height, profile: profile)
        let source = detections.map {
            Box(
                Float(Double($0.box.x1) / prepared.scaleX), Float(Double($0.box.y1) / prepared.scaleY),
                Float(Double($0.box.x2) / prepared.scaleX), Float(Double($0.box.y2) / prepared.scaleY))
        }
        try expectClose(Golden.tensor(source), "det_boxes_source")
        try expectClose(Tensor(shape: [detections.count], data: detections.map(\.embedding)), "det_embeddings")
        let count = detections.filter { Double($0.score) >= network.config.postprocess.count_threshold }.count
        #expect(count == Int(try stages.doubles("count")[0]))
        #expect(Set(profile.milliseconds.keys) == ["backbone", "fpn", "rpn", "roi_head", "nms"])
        #expect(Set(profile.flops.keys) == ["backbone", "fpn", "rpn", "roi_head"])
        #expect(profile.flops.values.allSatisfy { $0 > 0 })
    }

    @Test(
        "NMS, Soft-NMS and EG-NMS reproduce the reference on the hand-made and the random case",
        arguments: ["hand", "random"])
    func nmsCases(tag: String) throws {
        let cases = try Golden.file("nms.safetensors")
        let boxes = Golden.boxes(try cases.tensor("\(tag)_boxes"))
        let scores = try cases.tensor("\(tag)_scores").data
        let embeddings = try cases.tensor("\(tag)_embeddings").data
        let keep = nonMaximumSuppression(boxes: boxes, scores: scores, threshold: 0.5)
        #expect(keep == (try cases.doubles("\(tag)_nms_keep")).map { Int($0) })
        for limit in [1, 2, keep.count - 1, keep.count, keep.count + 5] where limit >= 1 {
            let limited = nonMaximumSuppression(boxes: boxes, scores: scores, threshold: 0.5, limit: limit)
            #expect(limited == Array(keep.prefix(limit)), "limit \(limit)")
        }
        let soft = softNMS(boxes: boxes, scores: scores, sigma: 0.5, limit: 100)
        #expect(soft.map(\.index) == (try cases.doubles("\(tag)_soft_index")).map { Int($0) })
        for (got, want) in zip(soft.map(\.score), try cases.tensor("\(tag)_soft_scores").data) {
            #expect(abs(got - want) <= 1e-6 * max(1, abs(want)))
        }
        let eg = embeddingGuidedNMS(boxes: boxes, scores: scores, embeddings: embeddings, delta: 0.3, sigma: 0.5)
        #expect(eg.map(\.index) == (try cases.doubles("\(tag)_eg_index")).map { Int($0) })
        for (got, want) in zip(eg.map(\.score), try cases.tensor("\(tag)_eg_scores").data) {
            #expect(abs(got - want) <= 1e-6 * max(1, abs(want)))
        }
    }
}
