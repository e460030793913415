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
    /// is measured on the images (`caseChromosomeWidth`). Key `chromosome_width_px`.
    public var chromosomeWidthPx: Double?
    /// Without `chromosome_width_px`: the daemon brings each image to the working scale by the median of the
    /// chromosome widths measured on it and on its patient's cells counted before it (true), or by its own alone
    /// (false, for drop folders whose cases mix magnifications). Key `case_chromosome_width`.
    public var caseChromosomeWidth = true
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
    /// Where the state lives and how this process shares it. Table `[state]`.
    public var state = StateSettings()

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

    /// Every top-level key this version understands, in file order: the one description of each key.
    static var keyTable: [ConfigKey<KaryoConfig>] {
        [
            ConfigKey(
                name: "watch_roots",
                doc: "Folders watched recursively for CytoVision exports (TIFF, PNG, JPEG or BMP).",
                read: { c, r in if let roots = r.stringArray("watch_roots") { c.watchRoots = roots.map(r.resolve) } },
                check: { c in c.watchRoots.isEmpty ? "needs at least one folder" : nil },
                value: { c in "[" + c.watchRoots.map { tomlString($0.path) }.joined(separator: ", ") + "]" }),
            .folder(
                "output_root",
                "results/<patient>/, quarantine/ and summaries/ are written here. Must not lie inside a watch root.",
                \.outputRoot),
            .folder("state_dir", "The SQLite queue (karyocount.sqlite, WAL) lives here.", \.stateDir),
            ConfigKey(
                name: "detector",
                doc: """
                    Which detector counts: auto, classical or deepace. auto: DeepACEv2 when `model` holds \
                    config.json + model.safetensors,
                    else the classical detector (with a warning).
                    """, startsGroup: true,
                read: { c, r in
                    guard let s = r.string("detector") else { return }
                    if let choice = DetectorChoice(rawValue: s) {
                        c.detector = choice
                    } else {
                        r.problem("detector", "`\(s)` is not one of auto, classical, deepace")
                    }
                },
                value: { c in tomlString(c.detector.rawValue) }),
            .folder(
                "model",
                "The DeepACEv2 model folder (config.json + model.safetensors). Default: the shipped Models/default.",
                \.model),
            .optionalNumber(
                "score_threshold",
                """
                Detections at or above this score are counted. Unset (the default): the model's own count \
                threshold, chosen
                when the model was trained (Models/README.md); the classical detector's is 0.5. To fit it to this \
                lab's exports,
                `karyocount review threshold` chooses one from the cells cytologists reviewed.
                """, \.scoreThreshold, within: 0...1, sample: "0.5"),
            .optionalNumber(
                "chromosome_width_px",
                """
                The typical chromosome width of this lab's exports in px, as `karyocount calibrate DROP_FOLDER` \
                measures it on
                exported cells; every image is then processed at the one scale this width gives. Unset: measured \
                on the images (case_chromosome_width).
                Set it again after a change of microscope, objective, camera or export size.
                """, \.chromosomeWidthPx, within: 1...500, unit: " px", sample: "15.6"),
            .flag(
                "case_chromosome_width",
                """
                Without chromosome_width_px: bring each image to the working scale by the median of the chromosome \
                widths measured on it
                and on its patient's cells counted before it (true), so that a blurred or crowded cell is not \
                processed at a scale of its own;
                false: by its own width alone (for drop folders whose cases mix magnifications).
                """, \.caseChromosomeWidth),
            ConfigKey(
                name: "patient_pattern",
                doc: """
                    Regex on the file name with a named group `patient` (and optionally `cell`). Empty: CytoVision \
                    names
                    CASE.CELL.TYPE.ext, else the first folder under the watch root, else the file stem.
                    """, startsGroup: true,
                read: { c, r in if let s = r.string("patient_pattern") { c.patientPattern = s } },
                check: { c in
                    guard !c.patientPattern.isEmpty else { return nil }
                    do throws(PatientMapper.PatternError) {
                        _ = try PatientMapper.compile(c.patientPattern)
                        return nil
                    } catch {
                        return error.reason
                    }
                },
                value: { c in tomlString(c.patientPattern) }),
            .integer(
                "min_images", "A patient is collecting until this many images are counted, then assessed.",
                \.minImages, within: 1...Int.max, startsGroup: true),
            .integer(
                "min_disagreeing",
                "The patient is flagged numerical-abnormality-suspected when at least this many images are not "
                    + "expected_count.",
                \.minDisagreeing, within: 1...Int.max),
            .integer("expected_count", "The normal chromosome count.", \.expectedCount, within: 1...500),
            ConfigKey(
                name: "uncertain_score_band",
                doc: "[low, high]: a detection scored inside this band makes its image's count not confident (not "
                    + "used as clone evidence).",
                read: { c, r in
                    guard let band = r.numberArray("uncertain_score_band") else { return }
                    if band.count == 2, band[0] <= band[1] {
                        c.uncertainScoreBand = band[0]...band[1]
                    } else {
                        r.problem("uncertain_score_band", "must be two numbers [low, high] with low <= high")
                    }
                },
                check: { c in
                    c.uncertainScoreBand.lowerBound < 0 || c.uncertainScoreBand.upperBound > 1
                        ? "must lie within 0...1" : nil
                },
                value: { c in
                    "[\(tomlNumber(c.uncertainScoreBand.lowerBound)), \(tomlNumber(c.uncertainScoreBand.upperBound))]"
                }),
            .integer(
                "workers",
                "Images processed in parallel; each worker decodes the next image while detecting the "
                    + "current one.",
                \.workers, within: 1...64, startsGroup: true),
            .seconds(
                "stability_seconds", "A file must keep its size and mtime this long (seconds) before it is taken.",
                \.stabilitySeconds),
            .integer(
                "max_attempts", "Failures (crashes included) before an input is quarantined.", \.maxAttempts,
                within: 1...Int.max),
            ConfigKey(
                name: "retry_delays_seconds",
                doc: """
                    Seconds a failed image waits before its 1st, 2nd, ... retry (the last entry repeats). A \
                    transient cause such as a
                    briefly unmounted network folder gets time to clear.
                    """,
                read: { c, r in if let delays = r.numberArray("retry_delays_seconds") { c.retryDelaysSeconds = delays }
                },
                check: { c in
                    c.retryDelaysSeconds.isEmpty || c.retryDelaysSeconds.contains(where: { $0 < 0 })
                        ? "must be a non-empty array of seconds, none negative" : nil
                },
                value: { c in "[" + c.retryDelaysSeconds.map(tomlNumber).joined(separator: ", ") + "]" }),
            .flag(
                "draw_below_threshold",
                "Also draw detections below the count threshold (thin, unlabelled, in a second colour) on annotated "
                    + "images.",
                \.drawBelowThreshold),
            .seconds(
                "rescan_interval_seconds",
                "Periodic full rescan in seconds (0 = only at start and after an inotify overflow). Set it for "
                    + "network mounts.",
                \.rescanIntervalSeconds),
            .text(
                "log_level", "Log level: trace, debug, info, notice, warning, error or critical.", \.logLevel,
                oneOf: ["trace", "debug", "info", "notice", "warning", "error", "critical"]),
        ]
    }

    /// Every key with its one-line meaning, `[review]` keys as `review.KEY`, in file order (`config keys`).
    public static var keys: [(key: String, meaning: String)] {
        keyTable.map { ($0.name, $0.summary) } + ReviewSettings.keyTable.map { ("review.\($0.name)", $0.summary) }
            + StateSettings.keyTable.map { ("state.\($0.name)", $0.summary) }
    }
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

    /// The keys of the `[review]` table, in file order.
    static var keyTable: [ConfigKey<ReviewSettings>] {
        [
            .flag(
                "enabled",
                "Serve the review station from the daemon.",
                \.enabled),
            .text(
                "listen",
                "host:port of the review station. Anything but loopback (127.0.0.1, ::1, localhost) needs "
                    + "users_file.", \.listen),
            ConfigKey(
                name: "users_file",
                doc: "The cytologists who may sign in, one `name:bcrypt-hash` line each (`karyocount review "
                    + "hash-password NAME` prints one). Empty: no sign-in, the reviewer types a name (loopback only).",
                read: { s, r in if let v = r.string("users_file") { s.usersFile = v.isEmpty ? nil : r.resolve(v) } },
                value: { s in tomlString(s.usersFile?.path ?? "") }),
        ]
    }

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
        let subTables = ["review": ReviewSettings.keyTable.map(\.name), "state": StateSettings.keyTable.map(\.name)]
        let unknown = "unknown key (`karyocount config keys` lists the known ones)"
        for key in table.keys.sorted() where !keyTable.contains(where: { $0.name == key }) && subTables[key] == nil {
            problems.append(ConfigProblem(key: key, message: unknown))
        }
        for (name, keys) in subTables.sorted(by: { $0.key < $1.key }) {
            for key in (table[name]?.table?.keys ?? []).sorted() where !keys.contains(key) {
                problems.append(ConfigProblem(key: "\(name).\(key)", message: unknown))
            }
        }
        problems += config.validationProblems()
        return (config, problems)
    }

    private mutating func read(with r: inout TableReader) {
        for key in Self.keyTable { key.read(&self, &r) }
        Self.readTable("review", ReviewSettings.keyTable, into: &review, with: &r)
        Self.readTable("state", StateSettings.keyTable, into: &state, with: &r)
    }

    /// Reads the sub-table `[name]`, if present, with its keys.
    private static func readTable<Settings>(
        _ name: String, _ keys: [ConfigKey<Settings>], into settings: inout Settings, with r: inout TableReader
    ) {
        guard let v = r.table[name] else { return }
        guard let table = v.table else {
            r.problem(name, "must be a table `[\(name)]` (got \(v.type))")
            return
        }
        var sub = TableReader(table: table, base: r.base, prefix: name + ".")
        for key in keys { key.read(&settings, &sub) }
        r.problems += sub.problems
    }

    /// Problems that the values alone reveal (ranges, paths, the pattern); no filesystem access.
    public func validationProblems() -> [ConfigProblem] {
        var p = Self.keyTable.compactMap { key in key.check(self).map { ConfigProblem(key: key.name, message: $0) } }
        func add(_ key: String, _ message: String) { p.append(ConfigProblem(key: key, message: message)) }
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
        return p + review.validationProblems() + state.validationProblems()
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
        p += state.environmentProblems()
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

extension KaryoConfig {
    /// The configuration as TOML, every key documented, in file order (what `karyocount config show` prints).
    public var tomlText: String { text(example: false) }

    /// The example configuration file (`Samples/config.example.toml`, installed as /etc/karyocount/config.toml):
    /// every key with its documentation and default, the model at its installed place, unset keys commented out
    /// with a sample value (`karyocount config example`).
    public static var exampleText: String {
        var defaults = KaryoConfig()
        defaults.model = ModelLocation.installedDefault
        return defaults.text(example: true)
    }

    private func text(example: Bool) -> String {
        let header = [
            "# KaryoCount configuration (/etc/karyocount/config.toml). Every key is optional; the values below are the",
            "# defaults. Check a file with `karyocount config check --config FILE`; `karyocount config show` prints the",
            "# effective values.",
            "",
        ]
        let top = Self.keyTable.flatMap { $0.lines(self, example: example) }
        let review = Self.tableLines(
            "review",
            "The review station the daemon serves: where a cytologist checks and corrects each count and signs a "
                + "patient off.", ReviewSettings.keyTable, self.review, example: example)
        let state = Self.tableLines(
            "state",
            "Where the queue, results index, tallies and reviews live: SQLite for one workstation, or PostgreSQL "
                + "shared by several.", StateSettings.keyTable, self.state, example: example)
        return (header + top + review + state).joined(separator: "\n") + "\n"
    }

    /// The sub-table `[name]` as it appears in a file: a blank line, its one-line comment, the header, its keys.
    private static func tableLines<Settings>(
        _ name: String, _ comment: String, _ keys: [ConfigKey<Settings>], _ settings: Settings, example: Bool
    ) -> [String] {
        ["", "# " + comment, "[\(name)]"] + keys.flatMap { $0.lines(settings, example: example) }
    }
}
