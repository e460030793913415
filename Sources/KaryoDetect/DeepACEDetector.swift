import Foundation
import KaryoImage
import KaryoNet
import KaryoSupport

/// DeepACEv2 (the paper's detector) on the Swift engine: loads `Models/NAME` (config.json + model.safetensors),
/// brings the image to the model's working scale, normalizes and pads it, runs the network, and maps the boxes back
/// to source pixels (Training/MODEL.md steps 1-16).
public struct DeepACEDetector: Detector {
    public let name = "deepace"
    public let modelName: String?
    public let modelSHA256: String?
    /// The loaded network (weights prepared once).
    public let network: DeepACENetwork
    /// The model's context rescorer (MODEL.md step 18), nil for a model without one: counts then use
    /// post-processing's scores.
    public let rescorer: ContextRescorer?
    /// Whether detections reaching a CytoVision frame line are dropped (chromosomes of a neighbouring cell cut by
    /// the frame); on by default, off to see the network's raw output.
    public var dropsDetectionsAtFrame = true
    /// A chromosome width in source pixels given instead of the one measured on each image: the lab's
    /// (`chromosome_width_px`, measured by `karyocount calibrate`) or the median over an image's case, so that the
    /// cells of one microscope or one case are processed at one scale.
    public var givenChromosomeWidth: GivenChromosomeWidth?

    /// Loads the model in directory `directory` (config.json + model.safetensors).
    public init(modelDirectory directory: URL) throws(DetectorError) {
        let configURL = directory.appendingPathComponent("config.json")
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        for url in [configURL, weightsURL] where !FileManager.default.fileExists(atPath: url.path) {
            throw DetectorError.modelUnavailable(
                "\(url.path) does not exist; a model directory holds config.json and model.safetensors "
                    + "(train one with Training/ or pass --model DIR)")
        }
        do {
            let config = try ModelConfig.load(from: configURL)
            network = try DeepACENetwork(config: config, weights: try SafeTensorsFile(url: weightsURL))
            let sha = try sha256Hex(ofFileAt: weightsURL)
            modelSHA256 = try Self.modelSHA256(directory: directory, weightsSHA256: sha)
            modelName = directory.lastPathComponent
            if let section = config.rescore {
                guard section.model_sha256 == sha else {
                    throw DetectorError.invalidModel(
                        "\(directory.path)/rescore.safetensors was fitted on other weights (rescore.model_sha256 is "
                            + "not the SHA-256 of model.safetensors); fit it again with `karyotrain rescore`")
                }
                let url = directory.appendingPathComponent("rescore.safetensors")
                rescorer = try ContextRescorer(config: section, weights: try SafeTensorsFile(url: url))
            } else {
                rescorer = nil
            }
        } catch let error as KaryoNetError {
            throw DetectorError.invalidModel(error.description)
        } catch let error as DetectorError {
            throw error
        } catch {
            throw DetectorError.modelUnavailable("cannot read \(weightsURL.path): \(error.localizedDescription)")
        }
    }

    /// What results record as the model's SHA-256: that of `model.safetensors`; with a `rescore.safetensors` beside
    /// it, the SHA-256 of the two files' hex digests joined by a newline, so that cells counted with and without the
    /// rescorer (whose scores differ) are told apart.
    /// `weightsSHA256`: that of `model.safetensors` when already known.
    public static func modelSHA256(directory: URL, weightsSHA256: String? = nil) throws -> String {
        let weights = try weightsSHA256 ?? sha256Hex(ofFileAt: directory.appendingPathComponent("model.safetensors"))
        let rescoreURL = directory.appendingPathComponent("rescore.safetensors")
        guard FileManager.default.fileExists(atPath: rescoreURL.path) else { return weights }
        return sha256Hex(of: Data("\(weights)\n\(try sha256Hex(ofFileAt: rescoreURL))".utf8))
    }

    /// Wraps an already-built network (random weights for `karyocount bench`, tests).
    public init(
        network: DeepACENetwork, modelName: String?, modelSHA256: String?, rescorer: ContextRescorer? = nil
    ) {
        self.network = network
        self.rescorer = rescorer
        self.modelName = modelName
        self.modelSHA256 = modelSHA256
    }

    public func analyze(_ image: GrayImage, profile: StageProfile?) throws -> DetectorOutput {
        guard image.width > 0, image.height > 0 else {
            throw KaryoNetError(.invalidInput, "the image is empty (\(image.width)x\(image.height) pixels)")
        }
        let grey = image.pixels.map { $0 * 255 }
        let prepared = profile.time("normalize") {
            network.prepare(grey, width: image.width, height: image.height, givenWidth: givenChromosomeWidth)
        }
        let detections = network.detect(
            prepared.tensor, width: prepared.width, height: prepared.height, profile: profile)
        let (sx, sy) = (prepared.scaleX, prepared.scaleY)
        var mapped = detections.map { d in
            Detection(
                box: BoundingBox(
                    x1: Double(d.box.x1) / sx, y1: Double(d.box.y1) / sy, x2: Double(d.box.x2) / sx,
                    y2: Double(d.box.y2) / sy),
                score: Double(d.score), embedding: Double(d.embedding))
        }
        var networkScores = detections.map { Double($0.networkScore) }
        let (scale, intensity) = (prepared.scale, prepared.intensity)
        if dropsDetectionsAtFrame {
            let kept = profile.time("nms") {
                Self.indicesClearOfFrame(
                    mapped, field: ClassicalPreprocessing.fieldOfView(image), width: image.width,
                    height: image.height)
            }
            mapped = kept.map { mapped[$0] }
            networkScores = kept.map { networkScores[$0] }
        }
        if let rescorer, let target = network.config.input.target_chromosome_width {
            mapped = profile.time("rescore") {
                Self.rescored(
                    mapped, networkScores: networkScores, rescorer: rescorer, chromosomeWidth: target / scale.factor,
                    grey: grey, image: image)
            }
        }
        return DetectorOutput(detections: mapped, workingScale: scale, intensity: intensity)
    }

    /// The detections with the rescorer's probabilities as scores, by descending score (ties keep their rank);
    /// `grey` is the image's pixels as 0...255 values.
    static func rescored(
        _ detections: [Detection], networkScores: [Double], rescorer: ContextRescorer, chromosomeWidth: Double,
        grey: [Float], image: GrayImage
    ) -> [Detection] {
        let candidates = detections.indices.map { i in
            ContextRescorer.Candidate(
                box: detections[i].box, score: detections[i].score, networkScore: networkScores[i],
                embedding: detections[i].embedding ?? 0)
        }
        let features = ContextRescorer.features(
            candidates, chromosomeWidth: chromosomeWidth, grey: grey, imageWidth: image.width,
            imageHeight: image.height)
        let probabilities = rescorer.probabilities(features)
        let order = detections.indices.sorted {
            probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1)
        }
        return order.map { i in
            var d = detections[i]
            d.score = probabilities[i]
            return d
        }
    }

    /// The detections that stay clear of every CytoVision frame line found in the image: a box reaching within
    /// `margin` px of a frame line is a neighbouring cell's chromosome cut by the frame, not one of this cell's.
    /// Sides without a frame line keep everything (Training/karyotrain/frame.py is the same rule).
    static func clearOfFrame(
        _ detections: [Detection], field: PixelRect, width: Int, height: Int, margin: Double = 1
    ) -> [Detection] {
        indicesClearOfFrame(detections, field: field, width: width, height: height, margin: margin).map {
            detections[$0]
        }
    }

    /// The indices of `clearOfFrame`'s detections.
    static func indicesClearOfFrame(
        _ detections: [Detection], field: PixelRect, width: Int, height: Int, margin: Double = 1
    ) -> [Int] {
        detections.indices.filter { i in
            let d = detections[i]
            return (field.x0 == 0 || d.box.x1 >= Double(field.x0) + margin)
                && (field.y0 == 0 || d.box.y1 >= Double(field.y0) + margin)
                && (field.x1 == width || d.box.x2 <= Double(field.x1) - margin)
                && (field.y1 == height || d.box.y2 <= Double(field.y1) - margin)
        }
    }

    /// The model's counting threshold (`postprocess.count_threshold`).
    public var countThreshold: Double { network.config.postprocess.count_threshold }
}
