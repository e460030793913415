import Foundation
import KaryoImage
import KaryoNet

/// DeepACEv2 (the paper's detector) on the Swift engine: loads `Models/NAME` (config.json + model.safetensors),
/// brings the image to the model's working scale, normalizes and pads it, runs the network, and maps the boxes back
/// to source pixels (Training/MODEL.md steps 1-16).
public struct DeepACEDetector: Detector {
    public let name = "deepace"
    public let modelName: String?
    public let modelSHA256: String?
    /// The loaded network (weights prepared once).
    public let network: DeepACENetwork

    /// Loads the model in directory `directory` (config.json + model.safetensors).
    public init(modelDirectory directory: URL) throws {
        let configURL = directory.appendingPathComponent("config.json")
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        for url in [configURL, weightsURL] where !FileManager.default.fileExists(atPath: url.path) {
            throw DetectorError.modelUnavailable(
                "\(url.path) does not exist; a model directory holds config.json and model.safetensors "
                    + "(train one with Training/ or pass --model DIR)")
        }
        do {
            let config = try ModelConfig.load(from: configURL)
            let weights = try SafeTensorsFile(url: weightsURL)
            network = try DeepACENetwork(config: config, weights: weights)
            modelSHA256 = sha256Hex(of: try Data(contentsOf: weightsURL, options: .alwaysMapped))
            modelName = directory.lastPathComponent
        } catch let error as KaryoNetError {
            throw DetectorError.invalidModel(error.description)
        }
    }

    /// Wraps an already-built network (random weights for `karyocount bench`, tests).
    public init(network: DeepACENetwork, modelName: String?, modelSHA256: String?) {
        self.network = network
        self.modelName = modelName
        self.modelSHA256 = modelSHA256
    }

    /// Where `--model` defaults to: `Models/default` under the current directory, else next to the installed
    /// binary (`<prefix>/share/karyocount/Models/default` for `<prefix>/bin/karyocount`), else in the package
    /// root when run from `.build/<config>/karyocount`.
    public static func defaultModelDirectory() -> URL? {
        let fm = FileManager.default
        var candidates = [URL(fileURLWithPath: fm.currentDirectoryPath).appendingPathComponent("Models/default")]
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        let binDir = executable.deletingLastPathComponent()
        candidates.append(binDir.deletingLastPathComponent().appendingPathComponent("share/karyocount/Models/default"))
        candidates.append(
            binDir.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Models/default"))
        return candidates.first { fm.fileExists(atPath: $0.appendingPathComponent("config.json").path) }
    }

    /// The scale factor of the working-scale rule for an image of 0...255 values (MODEL.md step 2).
    public func workingScaleFactor(_ pixels: [Float], width: Int, height: Int) -> Double {
        let input = network.config.input
        guard input.working_scale == "chromosome-width", let target = input.target_chromosome_width,
            let measured = DeepACEWorkingScale.estimateChromosomeWidth(pixels, width: width, height: height)
        else { return input.scale }
        let factor = min(max(target / measured, input.min_factor ?? 0.5), input.max_factor ?? 3.0)
        return factor * input.scale
    }

    /// The padded, normalized network input `[1, 1, Hp, Wp]` for a working-scale image of `w` x `h` values 0...255
    /// (MODEL.md steps 3-4).
    public func networkInput(_ pixels: [Float], width w: Int, height h: Int) -> Tensor {
        let input = network.config.input
        let m = input.pad_multiple
        let (hp, wp) = ((h + m - 1) / m * m, (w + m - 1) / m * m)
        let padded = (input.pad_value - input.mean) / input.std
        var x = Tensor(shape: [1, network.config.backbone.in_channels, hp, wp], value: padded)
        for c in 0..<x.shape[1] {
            for y in 0..<h {
                for xx in 0..<w { x.data[(c * hp + y) * wp + xx] = (pixels[y * w + xx] - input.mean) / input.std }
            }
        }
        return x
    }

    public func detect(_ image: GrayImage, stageTimings: inout [String: Double]) throws -> [Detection] {
        var flops: [String: Double] = [:]
        return try detect(image, stageTimings: &stageTimings, flops: &flops)
    }

    /// `detect`, also adding the network's FLOP count to `flops` (for `karyocount bench`).
    public func detect(_ image: GrayImage, stageTimings: inout [String: Double], flops: inout [String: Double]) throws
        -> [Detection]
    {
        guard image.width > 0, image.height > 0 else {
            throw DetectorError.invalidModel("the image is empty (\(image.width)x\(image.height))")
        }
        var clock = StageClock()
        let (w0, h0) = (image.width, image.height)
        let source = image.pixels.map { $0 * 255 }
        let f = workingScaleFactor(source, width: w0, height: h0)
        let h1 = max(1, Int((Double(h0) * f + 0.5).rounded(.down)))
        let w1 = max(1, Int((Double(w0) * f + 0.5).rounded(.down)))
        let working =
            (h1, w1) == (h0, w0)
            ? source : DeepACEWorkingScale.resizeBilinear(source, width: w0, height: h0, toWidth: w1, height: h1)
        let x = networkInput(working, width: w1, height: h1)
        stageTimings["normalize", default: 0] += clock.lap()
        let detections = network.detect(x, width: w1, height: h1, timings: &stageTimings, flops: &flops)
        let sx = Double(w1) / Double(w0)
        let sy = Double(h1) / Double(h0)
        return detections.map { d in
            Detection(
                box: BoundingBox(
                    x1: Double(d.box.x1) / sx, y1: Double(d.box.y1) / sy, x2: Double(d.box.x2) / sx,
                    y2: Double(d.box.y2) / sy),
                score: Double(d.score), embedding: Double(d.embedding))
        }
    }

    /// The model's counting threshold (`postprocess.count_threshold`).
    public var countThreshold: Double { Double(network.config.postprocess.count_threshold) }
}
