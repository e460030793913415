import Foundation

/// What a file name says about an image: whose it is, which cell, and whether it is counted at all.
public struct ImageIdentity: Sendable, Equatable {
    /// Whether the file is a metaphase to count or a karyogram to skip.
    public enum Kind: String, Sendable, Codable {
        /// A metaphase capture (CytoVision type A or O, or any other name): counted.
        case metaphase
        /// A CytoVision karyogram (type K): never counted, recorded as skipped.
        case karyogram
    }

    /// Safe patient name (a single path component).
    public var patient: String
    /// Cell number from a CytoVision name, else nil.
    public var cell: String?
    /// Safe file stem used for the output names (a single path component, never `patient`).
    public var stem: String
    /// Counted or skipped.
    public var kind: Kind

    public init(patient: String, cell: String?, stem: String, kind: Kind) {
        self.patient = patient
        self.cell = cell
        self.stem = stem
        self.kind = kind
    }
}

/// Maps an image path to its patient per README.md ("Input and output"): CytoVision names `CASE.CELL.TYPE.ext` first (or the configured
/// `patient_pattern`), else the first folder under the watch root, else the file stem.
public struct PatientMapper: Sendable {
    private let custom: NSRegularExpressionBox?

    /// `pattern`: the configured regex with a named group `patient` (and optionally `cell`), or empty for none.
    public init(pattern: String = "") throws(PipelineError) {
        if pattern.isEmpty {
            custom = nil
        } else {
            do {
                custom = NSRegularExpressionBox(try Self.compile(pattern))
            } catch {
                throw PipelineError(.unsafePath, file: "patient_pattern", detail: error.reason)
            }
        }
    }

    /// Why a `patient_pattern` cannot be used, in words.
    public struct PatternError: Error, Sendable {
        public var reason: String
    }

    /// A `patient_pattern` as a regex (ICU syntax; Python's named groups `(?P<name>...)` are read as
    /// `(?<name>...)`). Throws the reason when it does not compile or has no named group `patient`.
    public static func compile(_ pattern: String) throws(PatternError) -> NSRegularExpression {
        let icu = pattern.replacingOccurrences(of: "(?P<", with: "(?<")
        let regex: NSRegularExpression
        do {
            regex = try NSRegularExpression(pattern: icu)
        } catch {
            throw PatternError(
                reason: "`\(pattern)` is not a valid regular expression (ICU syntax: named groups are written "
                    + "`(?<patient>...)`; check brackets and escapes)")
        }
        guard icu.contains("(?<patient>") else {
            throw PatternError(
                reason: "`\(pattern)` needs a named group `(?<patient>...)` that captures the patient id")
        }
        return regex
    }

    private static let cytoVision = NSRegularExpressionBox(
        try! NSRegularExpression(pattern: #"^(?<case>.+)\.(?<cell>[0-9]+)\.(?<type>[AaOoKk])\.[A-Za-z0-9]+$"#))

    /// The identity of `file`; `root` is the watch root (or the folder given to `count`) it was found under.
    public func identify(_ file: URL, root: URL?) -> ImageIdentity {
        let name = file.lastPathComponent
        let rawStem = file.deletingPathExtension().lastPathComponent
        var stem = SafeName.component(rawStem)
        if stem == "patient" { stem = "patient_" }

        var patient: String?
        var cell: String?
        var kind = ImageIdentity.Kind.metaphase
        if let m = Self.cytoVision.firstMatch(name) {
            patient = m["case"]
            cell = m["cell"]
            if m["type"]?.uppercased() == "K" { kind = .karyogram }
        }
        if let custom, let m = custom.firstMatch(name), let p = m["patient"], !p.isEmpty {
            patient = p
            cell = m["cell"] ?? cell
        }
        if patient == nil, let root, let first = Self.firstFolder(of: file, under: root) {
            patient = first
        }
        return ImageIdentity(
            patient: SafeName.component(patient ?? rawStem), cell: cell.map(SafeName.component), stem: stem,
            kind: kind)
    }

    /// The first path component of `file` below `root`, when `file` is inside a subfolder of `root`.
    static func firstFolder(of file: URL, under root: URL) -> String? {
        let rootParts = root.standardizedFileURL.pathComponents
        let parts = file.standardizedFileURL.pathComponents
        guard parts.count > rootParts.count + 1, Array(parts.prefix(rootParts.count)) == rootParts else { return nil }
        return parts[rootParts.count]
    }
}

/// NSRegularExpression is immutable and thread-safe; this box states that to the compiler.
private struct NSRegularExpressionBox: @unchecked Sendable {
    let regex: NSRegularExpression
    /// Named groups the pattern defines; asking for another name is an error in Foundation.
    let groups: Set<String>
    init(_ regex: NSRegularExpression) {
        self.regex = regex
        let finder = try! NSRegularExpression(pattern: #"\(\?<([A-Za-z][A-Za-z0-9]*)>"#)
        let p = regex.pattern as NSString
        groups = Set(
            finder.matches(in: regex.pattern, range: NSRange(location: 0, length: p.length)).map {
                p.substring(with: $0.range(at: 1))
            })
    }

    struct Match {
        let result: NSTextCheckingResult
        let text: NSString
        let groups: Set<String>
        subscript(group: String) -> String? {
            guard groups.contains(group) else { return nil }
            let r = result.range(withName: group)
            return r.location == NSNotFound ? nil : text.substring(with: r)
        }
    }

    func firstMatch(_ s: String) -> Match? {
        let ns = s as NSString
        guard let r = regex.firstMatch(in: s, range: NSRange(location: 0, length: ns.length)) else { return nil }
        return Match(result: r, text: ns, groups: groups)
    }
}
