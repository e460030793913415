import Foundation
import KaryoNet

/// Which detector to run, as the configuration's `detector` key and the commands' `--detector` name it.
public enum DetectorChoice: String, Sendable, CaseIterable {
    /// DeepACEv2 when the model folder holds a model, else the classical detector (with a warning).
    case auto
    /// The classical detector (threshold, components, watershed splitting).
    case classical
    /// DeepACEv2; a missing or broken model is an error.
    case deepace
}

/// Builds the detector a command or the daemon asked for: the one rule for `auto`, models and fallbacks.
public enum DetectorFactory {
    /// Makes the detector `choice` names. `model` is the model directory (config.json + model.safetensors), nil for
    /// the shipped one (`ModelLocation`); `chromosomeWidth` the lab's chromosome width in px for the working scale
    /// (nil: measured on each image). `auto` falls back to the classical detector when there is no usable model and
    /// says why through `warn`; `deepace` without a usable model throws.
    public static func make(
        _ choice: DetectorChoice, model: URL?, chromosomeWidth: Double? = nil, warn: (String) -> Void = { _ in }
    ) throws(DetectorError) -> any Detector {
        if choice == .classical { return ClassicalDetector() }
        guard let directory = model ?? ModelLocation.defaultDirectory() else {
            let why = "no model given and none found in \(ModelLocation.searchedPlaces)"
            guard choice == .auto else { throw .modelUnavailable("\(why); pass --model DIR") }
            warn(
                "no DeepACEv2 model found (\(why)): using the classical detector (less accurate on touching chromosomes)"
            )
            return ClassicalDetector()
        }
        if choice == .auto && !FileManager.default.fileExists(atPath: directory.appending(path: "config.json").path) {
            warn(
                "no DeepACEv2 model at \(directory.path): using the classical detector (less accurate on touching chromosomes)"
            )
            return ClassicalDetector()
        }
        do {
            var detector = try DeepACEDetector(modelDirectory: directory)
            detector.givenChromosomeWidth = chromosomeWidth.map { GivenChromosomeWidth($0, source: .lab) }
            return detector
        } catch {
            guard choice == .auto else { throw error }
            warn("cannot load the model at \(directory.path) (\(error)): using the classical detector")
            return ClassicalDetector()
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
