import Foundation
import KaryoDetect
import Logging

/// Picks the detector a configuration or a command line asks for.
public enum DetectorSelection {
    /// `classical` and `deepace` as asked (a `deepace` without a usable model is an error); `auto` runs DeepACEv2
    /// when `model` holds a config.json and the classical detector otherwise, saying why with a warning. A nil
    /// `model` is the shipped one (`ModelLocation`). `chromosomeWidth` is the lab's (`chromosome_width_px`).
    public static func make(
        _ choice: KaryoConfig.DetectorChoice, model: URL?, chromosomeWidth: Double? = nil, logger: Logger
    ) throws(PipelineError) -> any Detector {
        guard let model = model ?? ModelLocation.defaultDirectory() else {
            if choice == .classical { return ClassicalDetector() }
            let places = ModelLocation.searchedPlaces
            guard choice == .auto else {
                throw PipelineError(
                    .detectFailed, file: "model", detail: "no model given and none found in \(places); pass --model DIR"
                )
            }
            logger.warning(
                "no DeepACEv2 model found (looked in \(places)): using the classical detector (less accurate on touching chromosomes)"
            )
            return ClassicalDetector()
        }
        do {
            switch choice {
            case .classical:
                return try DetectorFactory.make(kind: .classical, model: nil)
            case .deepace:
                return try DetectorFactory.make(kind: .deepace, model: model, chromosomeWidth: chromosomeWidth)
            case .auto:
                guard FileManager.default.fileExists(atPath: model.appending(path: "config.json").path) else {
                    logger.warning(
                        "no DeepACEv2 model at \(model.path): using the classical detector (less accurate on touching chromosomes)"
                    )
                    return try DetectorFactory.make(kind: .classical, model: nil)
                }
                do {
                    return try DetectorFactory.make(kind: .deepace, model: model, chromosomeWidth: chromosomeWidth)
                } catch {
                    logger.warning("cannot load the model at \(model.path) (\(error)): using the classical detector")
                    return try DetectorFactory.make(kind: .classical, model: nil)
                }
            }
        } catch {
            throw PipelineError(.detectFailed, file: model.path, detail: "cannot make the \(choice) detector: \(error)")
        }
    }
}
