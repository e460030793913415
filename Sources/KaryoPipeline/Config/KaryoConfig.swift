import Foundation
import KaryoDetect
import TOMLKit

/// The daemon's and the tools' settings, read from a TOML file (default `/etc/karyocount/config.toml`).
///
/// Every key has a default, so an empty file is a valid configuration. `KaryoConfig.load(from:)` reports every
/// problem of a file at once, each with its key; `environmentProblems()` adds what only the machine can tell
/// (missing folders, a missing model).
public struct KaryoConfig: Sendable, Equatable {
    /// Where the daemon and the tools look for the configuration when `--config` is not given.
    public static let defaultPath = "/etc/karyocount/config.toml"

    /// Which detector to run: `auto` uses DeepACEv2 when `model` holds a model and the classical detector otherwise.
    public enum DetectorChoice: String, Sendable, CaseIterable {
        case auto, classical, deepace
    }

    /// Folders the daemon watches for exported images (recursively). Key `watch_roots`.
    public var watchRoots: [URL] = [URL(filePath: "/srv/karyocount/drop")]
    /// Where `results/`, `quarantine/` and `summaries/` are written. Key `output_root`.
    public var outputRoot = URL(filePath: "/srv/karyocount/output")
    /// Where the SQLite queue (`karyocount.sqlite`) lives. Key `state_dir`.
    public var stateDir = URL(filePath: "/var/lib/karyocount")
    /// Detector to run. Key `detector`: `auto`, `classical` or `deepace`.
    public var detector: DetectorChoice = .auto
    /// Model directory (config.json + model.safetensors) for `deepace`. Key `model`.
    /// Default: the shipped model next to this binary (`ModelLocation`), else the installed location.
    public var model = KaryoConfig.shippedModel
    /// Detections at or above this score are counted; nil: the detector's own count threshold (a model's calibrated
    /// one). Key `score_threshold`.
    public var scoreThreshold: Double?
    /// The typical chromosome width of this lab's exports in source pixels, as `karyocount calibrate` measures it on
    /// a folder of them; every image is then brought to the model's working scale by this one width. nil: the width
    /// is measured on each image. Key `chromosome_width_px`.
    public var chromosomeWidthPx: Double?
    /// Optional regex on the file name with a named group `patient` (and optionally `cell`); empty for the
    /// built-in CytoVision rule. Key `patient_pattern`.
    public var patientPattern = ""
    /// A patient stays `collecting` until this many images are counted. Key `min_images`.
    public var minImages = 20
    /// The flag is raised when at least this many images are not `expected_count`. Key `min_disagreeing`.
    public var minDisagreeing = 20
    /// The normal chromosome count. Key `expected_count`.
    public var expectedCount = 46
    /// A detection scored inside this closed band makes its image's count not confident.
    /// Key `uncertain_score_band` (two numbers).
    public var uncertainScoreBand: ClosedRange<Double> = 0.3...0.7
    /// Images processed in parallel (each worker overlaps decoding the next image with detecting the current).
    /// Key `workers`.
    public var workers = 1
    /// A file must keep its size and mtime this long before it is taken. Key `stability_seconds`.
    public var stabilitySeconds = 2.0
    /// A job that failed this many times (including crashes while it was running) is quarantined.
    /// Key `max_attempts`.
    public var maxAttempts = 3
    /// Seconds a failed image waits before its 1st, 2nd, ... retry (the last entry repeats), so that a transient
    /// cause can clear. Key `retry_delays_seconds`.
    public var retryDelaysSeconds = RetryPolicy.defaultDelaysSeconds
    /// Also draw detections below the score threshold (thin, unlabelled, in a second colour) on annotated images.
    /// Key `draw_below_threshold`.
    public var drawBelowThreshold = false
    /// Full rescan of the roots every this many seconds (0 = only at start and after an overflow); set it for
    /// network mounts, which inotify cannot see. Key `rescan_interval_seconds`.
    public var rescanIntervalSeconds = 0.0
    /// swift-log level: trace, debug, info, notice, warning, error, critical. Key `log_level`.
    public var logLevel = "info"
    /// The review station the daemon serves. Table `[review]`.
    public var review = ReviewSettings()

    /// The defaults of every key.
    public init() {}

    /// The SQLite database file under `stateDir`.
    public var databaseURL: URL { stateDir.appending(path: "karyocount.sqlite") }
    /// `output_root/results`.
    public var resultsRoot: URL { outputRoot.appending(path: "results") }
    /// `output_root/quarantine`.
    public var quarantineRoot: URL { outputRoot.appending(path: "quarantine") }
    /// `output_root/summaries`.
    public var summariesRoot: URL { outputRoot.appending(path: "summaries") }

    /// The `model` default, looked up once per process.
    private static let shippedModel = ModelLocation.defaultDirectory() ?? ModelLocation.installedDefault

    /// Every key this version understands, with its meaning and default, in file order.
    public static let keys: [(key: String, meaning: String)] = [
        ("watch_roots", "folders watched recursively for exported images"),
        ("output_root", "where results/, quarantine/ and summaries/ are written"),
        ("state_dir", "where the SQLite queue lives"),
        ("detector", "auto, classical or deepace"),
        ("model", "model directory for deepace"),
        (
            "score_threshold",
            "detections at or above this score are counted (0...1); unset: the model's own count threshold"
        ),
        (
            "chromosome_width_px",
            "chromosome width of this lab's exports in px (`karyocount calibrate DIR`); unset: measured on each image"
        ),
        ("patient_pattern", "regex on the file name with a named group `patient`; empty: CytoVision rule"),
        ("min_images", "a patient is collecting until this many images are counted"),
        ("min_disagreeing", "flag when at least this many images are not expected_count"),
        ("expected_count", "the normal chromosome count"),
        ("uncertain_score_band", "[low, high]: a score inside makes an image's count not confident"),
        ("workers", "images processed in parallel"),
        ("stability_seconds", "size and mtime must stay unchanged this long before a file is taken"),
        ("max_attempts", "failures (crashes included) before a job is quarantined"),
        ("retry_delays_seconds", "[s, ...]: wait before the 1st, 2nd, ... retry of a failed image (the last repeats)"),
        ("draw_below_threshold", "draw detections below the threshold in a second colour"),
        ("rescan_interval_seconds", "periodic full rescan of the roots (0 = off)"),
        ("log_level", "trace, debug, info, notice, warning, error or critical"),
    ]

    /// The keys of the `[review]` table, in file order.
    public static let reviewKeys: [(key: String, meaning: String)] = [
        ("enabled", "serve the review station from the daemon"),
        ("listen", "host:port of the review station; anything but loopback needs users_file"),
        ("users_file", "file of `name:bcrypt-hash` lines (`karyocount review hash-password`); empty: no sign-in"),
    ]
}

/// Where and how the daemon serves the review station (`[review]` in the configuration).
public struct ReviewSettings: Sendable, Equatable {
    /// Serve the review station. Key `review.enabled`.
    public var enabled = true
    /// `host:port` to listen on (`[::1]:8470` for IPv6). Key `review.listen`.
    public var listen = "127.0.0.1:8470"
    /// The users who may sign in, one `name:bcrypt-hash` per line; nil: no sign-in (loopback only).
    /// Key `review.users_file`.
    public var usersFile: URL?

    public init() {}

    /// `listen` split into host and port; nil when it is not `host:port` with a port in 1...65535.
    public var endpoint: (host: String, port: Int)? {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    /// The station's address, e.g. `http://127.0.0.1:8470`; nil when `listen` is not `host:port`.
    public var baseURL: String? {
        endpoint.map { "http://\($0.host.contains(":") ? "[\($0.host)]" : $0.host):\($0.port)" }
    }

    /// `/patients/<name>`, the name percent-encoded as one path segment.
    public static func patientPath(_ name: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#%;")
        return "/patients/" + (name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name)
    }

    /// The printable report of a patient, where the nightly summary links to; nil when the station is off.
    public func reportURL(patient: String) -> String? {
        guard enabled, let baseURL else { return nil }
        return baseURL + Self.patientPath(patient) + "/report"
    }

    /// Whether `listen` binds to this machine only, where the lab's operating-system login is the sign-in.
    public var isLoopback: Bool {
        guard let host = endpoint?.host else { return false }
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Problems of the values alone, each with its key.
    public func validationProblems() -> [ConfigProblem] {
        guard enabled else { return [] }
        if endpoint == nil {
            return [ConfigProblem(key: "review.listen", message: "`\(listen)` is not host:port (e.g. 127.0.0.1:8470)")]
        }
        if !isLoopback && usersFile == nil {
            return [
                ConfigProblem(
                    key: "review.users_file",
                    message: "the review station listens on \(listen), beyond this machine: name a users_file so "
                        + "that only signed-in cytologists can change counts")
            ]
        }
        return []
    }
}

/// One thing wrong with a configuration, tied to the key it concerns.
public struct ConfigProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// The TOML key (or `(file)` for problems of the file as a whole).
    public var key: String
    /// What is wrong and what to write instead.
    public var message: String

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "\(key): \(message)" }
}

/// Why a configuration could not be used.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// The configuration file.
    public var path: String
    /// Every problem found, each with its key.
    public var problems: [ConfigProblem]

    public init(path: String, problems: [ConfigProblem]) {
        self.path = path
        self.problems = problems
    }

    public var description: String {
        "configuration \(path) has \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n"
            + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

extension KaryoConfig {
    /// Reads and validates a TOML file; throws a `ConfigError` listing every problem at once.
    public static func load(from url: URL) throws(ConfigError) -> KaryoConfig {
        let text: String
        do {
            text = try readText(url)
        } catch {
            throw ConfigError(path: url.path, problems: [error])
        }
        return try parse(text, path: url.path, base: url.deletingLastPathComponent())
    }

    /// The file's text, or the problem in plain words (missing, unreadable, not UTF-8).
    private static func readText(_ url: URL) throws(ConfigProblem) -> String {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            let why =
                FileManager.default.fileExists(atPath: url.path) ? "cannot be read (permissions?)" : "does not exist"
            throw ConfigProblem(key: "(file)", message: "\(url.path) \(why)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigProblem(key: "(file)", message: "\(url.path) is not UTF-8 text")
        }
        return text
    }

    /// Reads the file at `path`, or the default file, or (when `path` is nil and the default file does not exist)
    /// the built-in defaults.
    public static func loadOrDefault(path: String?) throws(ConfigError) -> KaryoConfig {
        if let path { return try load(from: URL(filePath: path)) }
        if FileManager.default.fileExists(atPath: defaultPath) { return try load(from: URL(filePath: defaultPath)) }
        return KaryoConfig()
    }

    /// Parses TOML text; `path` is only used in messages. Relative paths in the file are resolved against `base`
    /// (the config file's folder when loaded from a file, else the current folder).
    public static func parse(
        _ text: String, path: String = "(string)", base: URL? = nil
    ) throws(ConfigError) -> KaryoConfig {
        let (config, problems) = read(text, base: base)
        guard let config, problems.isEmpty else { throw ConfigError(path: path, problems: problems) }
        return config
    }

    /// Every problem of a configuration file at once: syntax, types, values, and (when the file parses) what the
    /// machine reveals, such as missing folders. Empty when the file is fine. What `karyocount config check` prints.
    public static func check(_ url: URL) -> [ConfigProblem] {
        let text: String
        do {
            text = try readText(url)
        } catch {
            return [error]
        }
        let (config, problems) = read(text, base: url.deletingLastPathComponent())
        return problems + (config?.environmentProblems() ?? [])
    }

    /// The configuration read so far (keys with problems keep their defaults) and the problems; nil on a syntax
    /// error.
    private static func read(_ text: String, base: URL?) -> (KaryoConfig?, [ConfigProblem]) {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let message =
                "TOML syntax error at line \(error.source.begin.line), column \(error.source.begin.column): "
                + error.description
            return (nil, [ConfigProblem(key: "(file)", message: message)])
        } catch {
            return (nil, [ConfigProblem(key: "(file)", message: "\(error)")])
        }
        let baseURL = base ?? URL(filePath: FileManager.default.currentDirectoryPath, directoryHint: .isDirectory)
        var reader = TableReader(table: table, base: baseURL)
        var config = KaryoConfig()
        config.read(with: &reader)
        var problems = reader.problems
        let known = Set(keys.map(\.key) + ["review"])
        for key in table.keys.sorted() where !known.contains(key) {
            problems.append(
                ConfigProblem(key: key, message: "unknown key (`karyocount config keys` lists the known ones)"))
        }
        if let review = table["review"]?.table {
            let knownReview = Set(reviewKeys.map(\.key))
            for key in review.keys.sorted() where !knownReview.contains(key) {
                problems.append(
                    ConfigProblem(
                        key: "review.\(key)", message: "unknown key (`karyocount config keys` lists the known ones)"))
            }
        }
        problems += config.validationProblems()
        return (config, problems)
    }

    private mutating func read(with r: inout TableReader) {
        if let roots = r.stringArray("watch_roots") { watchRoots = roots.map(r.resolve) }
        if let s = r.string("output_root") { outputRoot = r.resolve(s) }
        if let s = r.string("state_dir") { stateDir = r.resolve(s) }
        if let s = r.string("detector") {
            if let choice = DetectorChoice(rawValue: s) {
                detector = choice
            } else {
                r.problems.append(
                    ConfigProblem(key: "detector", message: "`\(s)` is not one of auto, classical, deepace"))
            }
        }
        if let s = r.string("model") { model = r.resolve(s) }
        if let d = r.number("score_threshold") { scoreThreshold = d }
        if let d = r.number("chromosome_width_px") { chromosomeWidthPx = d }
        if let s = r.string("patient_pattern") { patientPattern = s }
        if let i = r.int("min_images") { minImages = i }
        if let i = r.int("min_disagreeing") { minDisagreeing = i }
        if let i = r.int("expected_count") { expectedCount = i }
        if let band = r.numberArray("uncertain_score_band") {
            if band.count == 2, band[0] <= band[1] {
                uncertainScoreBand = band[0]...band[1]
            } else {
                r.problems.append(
                    ConfigProblem(
                        key: "uncertain_score_band", message: "must be two numbers [low, high] with low <= high"))
            }
        }
        if let i = r.int("workers") { workers = i }
        if let d = r.number("stability_seconds") { stabilitySeconds = d }
        if let i = r.int("max_attempts") { maxAttempts = i }
        if let delays = r.numberArray("retry_delays_seconds") { retryDelaysSeconds = delays }
        if let b = r.bool("draw_below_threshold") { drawBelowThreshold = b }
        if let d = r.number("rescan_interval_seconds") { rescanIntervalSeconds = d }
        if let s = r.string("log_level") { logLevel = s }
        guard let v = r.table["review"] else { return }
        guard let table = v.table else {
            r.problems.append(ConfigProblem(key: "review", message: "must be a table `[review]` (got \(v.type))"))
            return
        }
        var sub = TableReader(table: table, base: r.base, prefix: "review.")
        if let b = sub.bool("enabled") { review.enabled = b }
        if let s = sub.string("listen") { review.listen = s }
        if let s = sub.string("users_file") { review.usersFile = s.isEmpty ? nil : sub.resolve(s) }
        r.problems += sub.problems
    }

    /// Problems that the values alone reveal (ranges, paths, the pattern); no filesystem access.
    public func validationProblems() -> [ConfigProblem] {
        var p: [ConfigProblem] = []
        func add(_ key: String, _ message: String) { p.append(ConfigProblem(key: key, message: message)) }
        if watchRoots.isEmpty { add("watch_roots", "needs at least one folder") }
        for root in watchRoots {
            if Self.isSameOrInside(outputRoot, root) {
                add("output_root", "is inside watch root `\(root.path)`: the daemon would count its own outputs")
            }
            if Self.isSameOrInside(root, outputRoot) {
                add("watch_roots", "`\(root.path)` is inside output_root; keep drop folders and outputs apart")
            }
            if Self.isSameOrInside(stateDir, root) {
                add("state_dir", "is inside watch root `\(root.path)`")
            }
        }
        if let scoreThreshold, !(0...1).contains(scoreThreshold) {
            add("score_threshold", "\(scoreThreshold) is not within 0...1")
        }
        if let chromosomeWidthPx, !(1...500).contains(chromosomeWidthPx) {
            add("chromosome_width_px", "\(chromosomeWidthPx) is not within 1...500 px")
        }
        if uncertainScoreBand.lowerBound < 0 || uncertainScoreBand.upperBound > 1 {
            add("uncertain_score_band", "must lie within 0...1")
        }
        if !patientPattern.isEmpty {
            do {
                _ = try PatientMapper.compile(patientPattern)
            } catch {
                add("patient_pattern", error.reason)
            }
        }
        if minImages < 1 { add("min_images", "must be at least 1 (got \(minImages))") }
        if minDisagreeing < 1 { add("min_disagreeing", "must be at least 1 (got \(minDisagreeing))") }
        if !(1...500).contains(expectedCount) { add("expected_count", "must be within 1...500 (got \(expectedCount))") }
        if !(1...64).contains(workers) { add("workers", "must be within 1...64 (got \(workers))") }
        if stabilitySeconds < 0 { add("stability_seconds", "must not be negative") }
        if maxAttempts < 1 { add("max_attempts", "must be at least 1 (got \(maxAttempts))") }
        if retryDelaysSeconds.isEmpty || retryDelaysSeconds.contains(where: { $0 < 0 }) {
            add("retry_delays_seconds", "must be a non-empty array of seconds, none negative")
        }
        if rescanIntervalSeconds < 0 { add("rescan_interval_seconds", "must not be negative") }
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        if !levels.contains(logLevel) {
            add("log_level", "`\(logLevel)` is not one of \(levels.joined(separator: ", "))")
        }
        return p + review.validationProblems()
    }

    /// Problems only the machine reveals: missing or unreadable watch roots, an output or state folder that cannot
    /// be created, a `deepace` detector without a model.
    public func environmentProblems() -> [ConfigProblem] {
        var p: [ConfigProblem] = []
        let fm = FileManager.default
        for root in watchRoots {
            var isDir: ObjCBool = false
            if !fm.fileExists(atPath: root.path, isDirectory: &isDir) || !isDir.boolValue {
                p.append(ConfigProblem(key: "watch_roots", message: "`\(root.path)` is not an existing folder"))
            } else if !fm.isReadableFile(atPath: root.path) {
                p.append(ConfigProblem(key: "watch_roots", message: "`\(root.path)` is not readable by this user"))
            }
        }
        for (key, dir) in [("output_root", outputRoot), ("state_dir", stateDir)] {
            let existing = Self.nearestExistingAncestor(dir)
            if !fm.isWritableFile(atPath: existing.path) {
                p.append(ConfigProblem(key: key, message: "`\(existing.path)` is not writable by this user"))
            }
        }
        if review.enabled, let users = review.usersFile, !fm.isReadableFile(atPath: users.path) {
            p.append(ConfigProblem(key: "review.users_file", message: "`\(users.path)` cannot be read"))
        }
        let modelConfig = model.appending(path: "config.json")
        if detector == .deepace && !fm.fileExists(atPath: modelConfig.path) {
            p.append(ConfigProblem(key: "model", message: "detector is deepace but `\(modelConfig.path)` is missing"))
        }
        return p
    }

    static func isSameOrInside(_ child: URL, _ parent: URL) -> Bool {
        let c = child.standardizedFileURL.path
        let pp = parent.standardizedFileURL.path
        let prefix = pp.hasSuffix("/") ? pp : pp + "/"
        return c == pp || c.hasPrefix(prefix)
    }

    private static func nearestExistingAncestor(_ url: URL) -> URL {
        var u = url.standardizedFileURL
        while !FileManager.default.fileExists(atPath: u.path) && u.path != "/" {
            u = u.deletingLastPathComponent()
        }
        return u
    }
}

/// Reads typed values from a TOML table and records a problem for each value of the wrong type.
private struct TableReader {
    let table: TOMLTable
    let base: URL
    /// Prepended to keys in problems (`review.` inside `[review]`).
    var prefix = ""
    var problems: [ConfigProblem] = []

    /// An absolute path as is; a relative one against the config file's folder.
    func resolve(_ path: String) -> URL {
        let url = path.hasPrefix("/") ? URL(filePath: path) : base.appending(path: path)
        return url.standardizedFileURL
    }

    mutating func string(_ key: String) -> String? {
        guard let v = table[key] else { return nil }
        if let s = v.string { return s }
        problems.append(ConfigProblem(key: prefix + key, message: "must be a string (got \(v.type))"))
        return nil
    }

    mutating func int(_ key: String) -> Int? {
        guard let v = table[key] else { return nil }
        if let i = v.int { return i }
        problems.append(ConfigProblem(key: prefix + key, message: "must be an integer (got \(v.type))"))
        return nil
    }

    mutating func number(_ key: String) -> Double? {
        guard let v = table[key] else { return nil }
        if let d = v.double { return d }
        if let i = v.int { return Double(i) }
        problems.append(ConfigProblem(key: prefix + key, message: "must be a number (got \(v.type))"))
        return nil
    }

    mutating func bool(_ key: String) -> Bool? {
        guard let v = table[key] else { return nil }
        if let b = v.bool { return b }
        problems.append(ConfigProblem(key: prefix + key, message: "must be true or false (got \(v.type))"))
        return nil
    }

    mutating func stringArray(_ key: String) -> [String]? {
        guard let v = table[key] else { return nil }
        guard let array = v.array else {
            problems.append(ConfigProblem(key: prefix + key, message: "must be an array of strings (got \(v.type))"))
            return nil
        }
        var out: [String] = []
        for element in array {
            guard let s = element.string else {
                problems.append(ConfigProblem(key: prefix + key, message: "must be an array of strings"))
                return nil
            }
            out.append(s)
        }
        return out
    }

    mutating func numberArray(_ key: String) -> [Double]? {
        guard let v = table[key] else { return nil }
        guard let array = v.array else {
            problems.append(ConfigProblem(key: prefix + key, message: "must be an array of numbers (got \(v.type))"))
            return nil
        }
        var out: [Double] = []
        for element in array {
            if let d = element.double {
                out.append(d)
            } else if let i = element.int {
                out.append(Double(i))
            } else {
                problems.append(ConfigProblem(key: prefix + key, message: "must be an array of numbers"))
                return nil
            }
        }
        return out
    }
}

extension KaryoConfig {
    /// The configuration as TOML, every key in `keys` order (what `karyocount config show` prints).
    public var tomlText: String {
        func q(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        let values: [String: String] = [
            "watch_roots": "[" + watchRoots.map { q($0.path) }.joined(separator: ", ") + "]",
            "output_root": q(outputRoot.path),
            "state_dir": q(stateDir.path),
            "detector": q(detector.rawValue),
            "model": q(model.path),
            "score_threshold": scoreThreshold.map { "\($0)" } ?? "",
            "chromosome_width_px": chromosomeWidthPx.map { "\($0)" } ?? "",
            "patient_pattern": q(patientPattern),
            "min_images": "\(minImages)",
            "min_disagreeing": "\(minDisagreeing)",
            "expected_count": "\(expectedCount)",
            "uncertain_score_band": "[\(uncertainScoreBand.lowerBound), \(uncertainScoreBand.upperBound)]",
            "workers": "\(workers)",
            "stability_seconds": "\(stabilitySeconds)",
            "max_attempts": "\(maxAttempts)",
            "retry_delays_seconds": "[" + retryDelaysSeconds.map { "\($0)" }.joined(separator: ", ") + "]",
            "draw_below_threshold": "\(drawBelowThreshold)",
            "rescan_interval_seconds": "\(rescanIntervalSeconds)",
            "log_level": q(logLevel),
        ]
        let reviewValues: [String: String] = [
            "enabled": "\(review.enabled)", "listen": q(review.listen), "users_file": q(review.usersFile?.path ?? ""),
        ]
        func line(_ entry: (key: String, meaning: String), _ value: String) -> String {
            value.isEmpty
                ? "# \(entry.meaning)\n# \(entry.key) = (unset)" : "# \(entry.meaning)\n\(entry.key) = \(value)"
        }
        return
            (Self.keys.map { line($0, values[$0.key]!) } + ["\n[review]"]
            + Self.reviewKeys.map { line($0, reviewValues[$0.key]!) }).joined(separator: "\n")
    }
}
