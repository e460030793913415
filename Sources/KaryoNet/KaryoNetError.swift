/// Why the engine could not load or run a model: what failed, on which file, and what to do about it.
public struct KaryoNetError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure, for callers that branch on it.
    public enum Code: String, Sendable {
        /// The weights or config file could not be read.
        case unreadable
        /// The file is not valid safetensors / config JSON.
        case malformed
        /// A tensor the architecture needs is absent.
        case missingTensor
        /// A tensor is present with the wrong shape.
        case shapeMismatch
        /// A tensor's dtype is not one the engine reads.
        case unsupportedDType
        /// The config asks for something the engine does not implement.
        case unsupportedConfig
        /// The input does not fit the network (e.g. wrong channel count, empty image).
        case invalidInput
    }

    /// The kind of failure.
    public let code: Code
    /// A sentence saying what failed and what the user can do.
    public let message: String
    /// The file concerned, if any.
    public let file: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, file: String? = nil) {
        self.code = code
        self.message = message
        self.file = file
    }

    public var description: String {
        if let file { return "\(message) (file: \(file))" }
        return message
    }
}
