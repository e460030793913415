import KaryoImage

/// The paper's non-learned comparison row (Gajendran et al. [13]); to be built.
public struct ClassicalDetector: Detector {
    public let name = "classical"
    public let modelName: String? = nil
    public let modelSHA256: String? = nil

    public init() {}

    public func detect(_ image: GrayImage, stageTimings: inout [String: Double]) throws -> [Detection] {
        []
    }
}
