/// What went wrong in the pipeline, on which file, at which stage.
public struct PipelineError: Error, Sendable, CustomStringConvertible, Equatable, Codable {
    /// The kind of failure; new kinds can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible, Codable {
        private enum Base: String {
            case unsafePath = "unsafe path"
            case unreadableInput = "unreadable input"
            case missingInput = "missing input"
            case outsideRoot = "outside the watch roots"
            case notRegularFile = "not a regular file"
            case undecodableName = "name not UTF-8"
            case inputChanged = "input changed"
            case decodeFailed = "decode failed"
            case detectFailed = "detection failed"
            case writeFailed = "write failed"
            case database = "database error"
            case summary = "summary failed"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A name would lead outside the folder it belongs in.
        public static let unsafePath = Code(.unsafePath)
        /// The input file could not be read.
        public static let unreadableInput = Code(.unreadableInput)
        /// The input file is gone (moved or deleted since it was found).
        public static let missingInput = Code(.missingInput)
        /// The input (or a symlink's target) lies outside the watch roots.
        public static let outsideRoot = Code(.outsideRoot)
        /// The input is a folder, device or other non-regular file.
        public static let notRegularFile = Code(.notRegularFile)
        /// The input's name (or a folder's above it) is not valid UTF-8, so it cannot be opened by name.
        public static let undecodableName = Code(.undecodableName)
        /// The file's content changed between queueing and processing.
        public static let inputChanged = Code(.inputChanged)
        /// The image could not be decoded (broken, truncated or unsupported file).
        public static let decodeFailed = Code(.decodeFailed)
        /// The detector failed on the image.
        public static let detectFailed = Code(.detectFailed)
        /// A result, quarantine or summary file could not be written.
        public static let writeFailed = Code(.writeFailed)
        /// The SQLite state could not be read or written.
        public static let database = Code(.database)
        /// The nightly summary could not be built.
        public static let summary = Code(.summary)

        public var description: String { base.rawValue }

        /// Stored as its description (`"decode failed"`).
        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let base = Base(rawValue: text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "unknown pipeline error kind `\(text)`")
            }
            self.base = base
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(base.rawValue)
        }
    }

    /// The kind of failure.
    public var code: Code
    /// The file concerned (input, output or database).
    public var file: String
    /// Details, including the underlying error's message.
    public var detail: String

    public init(_ code: Code, file: String, detail: String) {
        self.code = code
        self.file = file
        self.detail = detail
    }

    /// Whether retrying cannot help (the input itself is bad), so the job is failed at once.
    public var isPermanent: Bool {
        [.decodeFailed, .outsideRoot, .notRegularFile, .unsafePath, .undecodableName].contains(code)
    }

    /// Whether the failure lies with the input file (missing, unreadable, outside the root, not a regular file,
    /// changed, undecodable) rather than with this machine's state.
    public var concernsInput: Bool {
        [
            .unreadableInput, .missingInput, .outsideRoot, .notRegularFile, .inputChanged, .decodeFailed,
            .undecodableName,
        ]
        .contains(code)
    }

    public var description: String { "\(file): \(code): \(detail)" }
}
