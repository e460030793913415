/// Why an evaluation could not be run: what failed, on which file, and what the user can do.
public struct EvalError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure; new kinds may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unreadableFile = "unreadable file"
            case unwritableFile = "unwritable file"
            case malformedAnnotation = "malformed annotation"
            case unrecognizedFormat = "unrecognized format"
            case duplicateImage = "duplicate image"
            case noImages = "no images"
            case invalidOption = "invalid option"
            case plotFailed = "plot failed"
        }
        private let base: Base

        /// A file could not be read from disk.
        public static let unreadableFile = Code(base: .unreadableFile)
        /// A file could not be written.
        public static let unwritableFile = Code(base: .unwritableFile)
        /// A file was recognised but its content breaks its format's rules.
        public static let malformedAnnotation = Code(base: .malformedAnnotation)
        /// A file is neither labelme, COCO, Pascal VOC nor `karyocount.result/1`.
        public static let unrecognizedFormat = Code(base: .unrecognizedFormat)
        /// Two files name the same image stem on the same side.
        public static let duplicateImage = Code(base: .duplicateImage)
        /// Nothing to evaluate was found.
        public static let noImages = Code(base: .noImages)
        /// An option is out of range.
        public static let invalidOption = Code(base: .invalidOption)
        /// A plot could not be drawn or written.
        public static let plotFailed = Code(base: .plotFailed)

        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// The file concerned, when there is one.
    public let file: String?
    /// What went wrong and, where it helps, what to do about it.
    public let detail: String

    public init(_ code: Code, file: String? = nil, _ detail: String) {
        self.code = code
        self.file = file
        self.detail = detail
    }

    public var description: String {
        if let file { return "\(code) in \(file): \(detail)" }
        return "\(code): \(detail)"
    }
}
