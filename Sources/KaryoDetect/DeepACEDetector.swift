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
            modelSHA256 = try sha256Hex(ofFileAt: weightsURL)
            modelName = directory.lastPathComponent
        } catch let error as KaryoNetError {
            throw DetectorError.invalidModel(error.description)
        } catch {
            throw DetectorError.modelUnavailable("cannot read \(weightsURL.path): \(error.localizedDescription)")
        }
    }

    /// Wraps an already-built network (random weights for `karyocount bench`, tests).
    public init(network: DeepACENetwork, modelName: String?, modelSHA256: String?) {
        self.network = network
        self.modelName = modelName
        self.modelSHA256 = modelSHA256
    }

    public func analyze(_ image: GrayImage, profile: StageProfile?) throws -> DetectorOutput {
        guard image.width > 0, image.height > 0 else {
            throw KaryoNetError(.invalidInput, "the image is empty (\(image.width)x\(image.height) pixels)")
        }
        let prepared = profile.time("normalize") {
            network.prepare(
                image.pixels.map { $0 * 255 }, width: image.width, height: image.height,
                givenWidth: givenChromosomeWidth)
        }
        let detections = network.detect(
            prepared.tensor, width: prepared.width, height: prepared.height, profile: profile)
        let (sx, sy) = (prepared.scaleX, prepared.scaleY)
        let mapped = detections.map { d in
            Detection(
                box: BoundingBox(
                    x1: Double(d.box.x1) / sx, y1: Double(d.box.y1) / sy, x2: Double(d.box.x2) / sx,
                    y2: Double(d.box.y2) / sy),
                score: Double(d.score), embedding: Double(d.embedding))
        }
        let (scale, intensity) = (prepared.scale, prepared.intensity)
        guard dropsDetectionsAtFrame else {
            return DetectorOutput(detections: mapped, workingScale: scale, intensity: intensity)
        }
        let kept = profile.time("nms") {
            Self.clearOfFrame(
                mapped, field: ClassicalPreprocessing.fieldOfView(image), width: image.width, height: image.height)
        }
        return DetectorOutput(detections: kept, workingScale: scale, intensity: intensity)
    }

    /// The detections that stay clear of every CytoVision frame line found in the image: a box reaching within
    /// `margin` px of a frame line is a neighbouring cell's chromosome cut by the frame, not one of this cell's.
    /// Sides without a frame line keep everything (Training/karyotrain/frame.py is the same rule).
    static func clearOfFrame(
        _ detections: [Detection], field: PixelRect, width: Int, height: Int, margin: Double = 1
    ) -> [Detection] {
        detections.filter { d in
            (field.x0 == 0 || d.box.x1 >= Double(field.x0) + margin)
                && (field.y0 == 0 || d.box.y1 >= Double(field.y0) + margin)
                && (field.x1 == width || d.box.x2 <= Double(field.x1) - margin)
                && (field.y1 == height || d.box.y2 <= Double(field.y1) - margin)
        }
    }

    /// The model's counting threshold (`postprocess.count_threshold`).
    public var countThreshold: Double { network.config.postprocess.count_threshold }
}
