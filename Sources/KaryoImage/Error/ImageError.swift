import Glibc

/// Why an image could not be read or written, on which file, and what the user can do about it.
///
/// A decoder never returns a partly filled image: it either returns every pixel or throws this.
public struct ImageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file (or the name given to in-memory data) the error concerns.
    public var path: String
    /// What went wrong.
    public var cause: Cause

    /// What went wrong, with the detail needed to explain it.
    public enum Cause: Sendable, Equatable {
        /// The file has zero bytes.
        case emptyFile
        /// The data ends before the image does (an interrupted copy or transfer).
        case truncated(detail: String)
        /// The first bytes are neither PNG nor TIFF; `magic` says what they look like (e.g. "JPEG data").
        case unrecognizedFormat(magic: String)
        /// A valid file whose sample layout this reader does not handle (e.g. 32-bit float samples).
        case unsupportedLayout(String)
        /// The decoder library rejected the data; its message is kept.
        case corrupt(String)
        /// Width or height exceed the limits, checked before any pixel memory is allocated.
        case absurdDimensions(width: Int, height: Int, limits: ImageLimits)
        /// The file could not be read (`errno` from the system).
        case unreadable(errno: Int32)
        /// The file could not be written (`errno` from the system).
        case unwritable(errno: Int32)
        /// The encoder failed; its message is kept.
        case encodingFailed(String)
    }

    /// Creates an error for `path`.
    public init(path: String, cause: Cause) {
        self.path = path
        self.cause = cause
    }

    /// One sentence naming the file and the cause, then what the user can do.
    public var description: String {
        "\(path): \(causeDescription)"
    }

    private var causeDescription: String {
        switch cause {
        case .emptyFile:
            return "the file is empty (0 bytes). Re-export or re-copy the image; a copy may have been interrupted."
        case .truncated(let detail):
            return
                "the image data is truncated (\(detail)). The file was probably cut off while being copied: copy it again."
        case .unrecognizedFormat(let magic):
            return
                "not a PNG or TIFF image: the content starts with \(magic). Export the image as TIFF or PNG "
                + "(the file extension is ignored; only the content counts)."
        case .unsupportedLayout(let what):
            return
                "unsupported sample layout: \(what). Re-export as 8- or 16-bit grey, RGB or palette TIFF/PNG."
        case .corrupt(let message):
            return "the image data is corrupt (\(message)). Re-export the image from the capture software."
        case .absurdDimensions(let width, let height, let limits):
            return
                "implausible image size \(width)x\(height) (limits: \(limits.maxSide) px per side, "
                + "\(limits.maxPixels / 1_000_000) megapixels). The header is probably damaged; re-export the image."
        case .unreadable(let code):
            return
                "cannot read the file: \(Self.errnoText(code)). Check that it exists and that the service may read it."
        case .unwritable(let code):
            return
                "cannot write the file: \(Self.errnoText(code)). Check that the folder exists, is writable and has space."
        case .encodingFailed(let message):
            return "PNG encoding failed (\(message))."
        }
    }

    private static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: text)) (errno \(code))"
    }
}
