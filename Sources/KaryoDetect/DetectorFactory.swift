import Foundation

/// Builds the detector a command or the daemon asked for.
public enum DetectorFactory {
    /// The detectors that can be named with `--detector`.
    public enum Kind: String, CaseIterable, Sendable {
        case classical
        case deepace
    }

    /// Makes a detector of `kind`; `model` is the model directory (config.json + model.safetensors) for `deepace`,
    /// `chromosomeWidth` the lab's chromosome width in px for its working scale (nil: measured on each image).
    public static func make(kind: Kind, model: URL?, chromosomeWidth: Double? = nil) throws -> any Detector {
        switch kind {
        case .classical:
            return ClassicalDetector()
        case .deepace:
            guard let directory = model ?? ModelLocation.defaultDirectory() else {
                throw DetectorError.modelUnavailable(
                    "no model given and none found in \(ModelLocation.searchedPlaces); pass --model DIR")
            }
            var detector = try DeepACEDetector(modelDirectory: directory)
            detector.labChromosomeWidth = chromosomeWidth
            return detector
        }
    }
}

/// Why a detector could not be made or run.
public enum DetectorError: Error, CustomStringConvertible, Sendable {
    case modelUnavailable(String)
    case invalidModel(String)

    public var description: String {
        switch self {
        case .modelUnavailable(let why): return "model unavailable: \(why)"
        case .invalidModel(let why): return "invalid model: \(why)"
        }
    }
}
