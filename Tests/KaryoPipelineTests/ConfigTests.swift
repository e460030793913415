import Foundation
import KaryoDetect
import KaryoTestSupport
import Testing

@testable import KaryoPipeline

@Suite("Configuration")
struct ConfigTests {
    @Test("an empty file gives every documented default")
    func defaults() throws {
        let c = try KaryoConfig.parse("")
        #expect(c == KaryoConfig())
        #expect(c.minImages == 20 && c.minDisagreeing == 20 && c.expectedCount == 46)
        #expect(c.scoreThreshold == nil)
        #expect(c.uncertainScoreBand == 0.3...0.7)
        #expect(c.chromosomeWidthPx == nil && c.caseChromosomeWidth)
        #expect(c.watchRoots.map(\.path) == ["/srv/karyocount/drop"])
    }

    @Test("every key is read")
    func allKeys() throws {
        let c = try KaryoConfig.parse(
            """
            watch_roots = ["/data/drop", "/data/drop2"]
            output_root = "/data/out"
            state_dir = "/data/state"
            detector = "classical"
            model = "/models/m1"
            score_threshold = 0.6
            chromosome_width_px = 15.5
            case_chromosome_width = false
            patient_pattern = '^(?<patient>[A-Z0-9]+)_'
            min_images = 30
            min_disagreeing = 10
            expected_count = 46
            uncertain_score_band = [0.2, 0.8]
            workers = 2
            stability_seconds = 5
            max_attempts = 4
            retry_delays_seconds = [5, 60]
            draw_below_threshold = false
            rescan_interval_seconds = 300
            log_level = "debug"
            """)
        #expect(c.watchRoots.map(\.path) == ["/data/drop", "/data/drop2"])
        #expect(c.outputRoot.path == "/data/out")
        #expect(c.detector == .classical)
        #expect(c.scoreThreshold == 0.6 && c.chromosomeWidthPx == 15.5 && !c.caseChromosomeWidth)
        #expect(c.minImages == 30 && c.minDisagreeing == 10)
        #expect(c.uncertainScoreBand == 0.2...0.8)
        #expect(c.workers == 2 && c.stabilitySeconds == 5 && c.maxAttempts == 4)
        #expect(c.retryDelaysSeconds == [5, 60])
        #expect(!c.drawBelowThreshold)
        #expect(c.logLevel == "debug")
        #expect(KaryoConfig.keys.count == 29)  // 20 top-level keys, 3 of [review] and 6 of [state]
    }

    @Test("every problem is reported at once, each with its key")
    func everyProblem() {
        do {
            _ = try KaryoConfig.parse(
                """
                watch_roots = "/not/an/array"
                output_root = 42
                detector = "magic"
                score_threshold = 1.5
                chromosome_width_px = 0
                patient_pattern = "(unclosed"
                min_images = "twenty"
                uncertain_score_band = [0.9, 0.1]
                workers = 0
                colour = "blue"
                """)
            Issue.record("expected a ConfigError")
        } catch {
            let keys = Set(error.problems.map(\.key))
            #expect(
                keys == [
                    "watch_roots", "output_root", "detector", "score_threshold", "chromosome_width_px",
                    "patient_pattern", "min_images", "uncertain_score_band", "workers", "colour",
                ])
            #expect(error.description.contains("min_images: must be an integer"))
        }
    }

    @Test("[state] names a shared PostgreSQL state, its password file relative to the config file")
    func sharedState() throws {
        let c = try KaryoConfig.parse(
            """
            [state]
            backend = "postgres"
            url = "postgresql://karyo@db.lab:5433/karyocount"
            password_file = "pg.password"
            node = "scope-2"
            roles = "count"
            lease_seconds = 30
            """, base: URL(filePath: "/etc/karyo/"))
        #expect(c.state.isShared && c.state.nodeName == "scope-2" && c.state.nodeRoles == .count)
        #expect(c.state.passwordFile?.path == "/etc/karyo/pg.password" && c.state.leaseSeconds == 30)
        let server = try PostgresSettings(url: c.state.url, passwordFile: nil, environment: ["PGPASSWORD": "pw"])
        #expect(server.host == "db.lab" && server.port == 5433 && server.user == "karyo")
        #expect(server.database == "karyocount" && server.password == "pw")
        #expect(try KaryoConfig.parse("").state == StateSettings())
        #expect(c.tomlText.contains("[state]") && c.tomlText.contains("roles = \"count\""))
    }

    @Test("a password in the URL, a shared role on SQLite, a missing URL and an unknown [state] key are refused")
    func sharedStateProblems() {
        func keys(_ text: String) -> Set<String> {
            do {
                _ = try KaryoConfig.parse(text)
                return []
            } catch {
                return Set(error.problems.map(\.key))
            }
        }
        #expect(keys("[state]\nbackend = \"postgres\"\nurl = \"postgresql://u:secret@h/db\"") == ["state.url"])
        #expect(keys("[state]\nbackend = \"postgres\"") == ["state.url"])
        #expect(keys("[state]\nroles = \"watch\"") == ["state.roles"])
        #expect(
            keys("[state]\nbackend = \"mysql\"\ncolour = 1\nlease_seconds = 1") == [
                "state.backend", "state.colour", "state.lease_seconds",
            ])
    }

    @Test("the PostgreSQL password comes from a matching ~/.pgpass line when no file or PGPASSWORD names it")
    func pgpass() throws {
        let dir = TempDir()
        dir.write("pgpass", Data("# comment\nother:5432:*:karyo:wrong\ndb.lab:*:karyocount:karyo:right\n".utf8))
        let server = try PostgresSettings(
            url: "postgresql://karyo@db.lab/karyocount", environment: ["PGPASSFILE": dir.path("pgpass").path])
        #expect(server.password == "right" && server.port == 5432)
    }

    @Test("relative paths are taken from the config file's folder")
    func relativePaths() throws {
        let c = try KaryoConfig.parse(
            "watch_roots = [\"drop\"]\noutput_root = \"../out\"", base: URL(filePath: "/etc/karyo/"))
        #expect(c.watchRoots.map(\.path) == ["/etc/karyo/drop"])
        #expect(c.outputRoot.path == "/etc/out")
    }

    @Test("a TOML syntax error names the line")
    func syntaxError() {
        do {
            _ = try KaryoConfig.parse("min_images = 20\nworkers = = 2\n")
            Issue.record("expected a ConfigError")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems[0].message.contains("line 2"))
        }
    }

    @Test("an output root inside a watch root is refused: the daemon would count its own outputs")
    func outputInsideWatchRoot() {
        do {
            _ = try KaryoConfig.parse("watch_roots = [\"/data/drop\"]\noutput_root = \"/data/drop/out\"")
            Issue.record("expected a ConfigError")
        } catch {
            #expect(error.problems.map(\.key) == ["output_root"])
        }
    }

    @Test("a pattern without a patient group is refused")
    func patternNeedsPatientGroup() {
        do {
            _ = try KaryoConfig.parse("patient_pattern = '^([A-Z]+)_'")
            Issue.record("expected a ConfigError")
        } catch {
            #expect(error.problems.map(\.key) == ["patient_pattern"])
        }
    }

    @Test("a Python-style named group (?P<patient>...) is read as (?<patient>...); a broken one says why, by key")
    func pythonNamedGroup() throws {
        let config = try KaryoConfig.parse(#"patient_pattern = '^(?P<patient>[A-Z]+\d+)_(?P<cell>\d+)'"#)
        let mapper = try PatientMapper(pattern: config.patientPattern)
        let identity = mapper.identify(URL(filePath: "/drop/AB12_007_x.png"), root: URL(filePath: "/drop"))
        #expect(identity.patient == "AB12" && identity.cell == "007")
        do {
            _ = try KaryoConfig.parse("patient_pattern = '^(?P<patient>[A-Z]+'")
            Issue.record("expected a ConfigError")
        } catch {
            #expect(error.problems.map(\.key) == ["patient_pattern"])
            let message = error.problems.map(\.message).joined()
            #expect(message.contains("not a valid regular expression") && !message.contains("could not be completed"))
        }
    }

    @Test("environment checks name missing folders and a missing model")
    func environment() {
        var c = KaryoConfig()
        c.watchRoots = [URL(filePath: "/nonexistent/karyo-drop")]
        c.detector = .deepace
        c.model = URL(filePath: "/nonexistent/model")
        let keys = c.environmentProblems().map(\.key)
        #expect(keys.contains("watch_roots"))
        #expect(keys.contains("model"))
    }

    @Test("check reports value problems and missing folders together")
    func checkAll() throws {
        let dir = TempDir()
        let file = dir.write("c.toml", Data("watch_roots = [\"missing\"]\nworkers = 0\n".utf8))
        let problems = KaryoConfig.check(file)
        #expect(problems.map(\.key) == ["workers", "watch_roots"])
        #expect(problems[1].message.contains("is not an existing folder"))
    }

    @Test(
        "the count threshold: the configured score_threshold wins, else the detector's own (a model's calibrated one)")
    func countThresholdRule() throws {
        var calibrated = PixelCodeDetector()
        calibrated.countThreshold = 0.42
        let unset = try KaryoConfig.parse("")
        #expect(ProcessingOptions(unset, detector: calibrated).scoreThreshold == 0.42)
        #expect(ProcessingOptions(unset, detector: PixelCodeDetector()).scoreThreshold == 0.5)
        let set = try KaryoConfig.parse("score_threshold = 0.6")
        #expect(ProcessingOptions(set, detector: calibrated).scoreThreshold == 0.6)
        #expect(unset.tomlText.contains("# score_threshold = (unset)"))
        #expect(try KaryoConfig.parse(unset.tomlText).scoreThreshold == nil)
        #expect(try KaryoConfig.parse(set.tomlText).scoreThreshold == 0.6)
    }

    @Test("[review]: loopback by default; beyond loopback only with a users file; unknown keys named")
    func reviewTable() throws {
        let defaults = try KaryoConfig.parse("")
        #expect(defaults.review.listen == "127.0.0.1:8470" && defaults.review.isLoopback && defaults.review.enabled)
        let problems = { (text: String) -> [String] in
            do throws(ConfigError) {
                _ = try KaryoConfig.parse(text)
                return []
            } catch {
                return error.problems.map(\.key)
            }
        }
        #expect(problems("[review]\nlisten = \"0.0.0.0:8470\"") == ["review.users_file"])
        #expect(problems("[review]\nlisten = \"0.0.0.0:8470\"\nusers_file = \"/etc/karyocount/users\"") == [])
        #expect(problems("[review]\nlisten = \"127.0.0.1\"") == ["review.listen"])
        #expect(problems("[review]\nlisten = 8470") == ["review.listen"])
        #expect(problems("[review]\nport = 1") == ["review.port"])
        #expect(problems("review = 1") == ["review"])
        #expect(problems("[review]\nenabled = false\nlisten = \"0.0.0.0:1\"") == [])
        var ipv6 = KaryoConfig()
        ipv6.review.listen = "[::1]:9000"
        #expect(ipv6.review.endpoint?.host == "::1" && ipv6.review.endpoint?.port == 9000 && ipv6.review.isLoopback)
        #expect(try KaryoConfig.parse(ipv6.tomlText).review == ipv6.review)
    }

    @Test("the shipped example config is the one the key table writes, and it reads back as the defaults")
    func exampleConfig() throws {
        let url = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appending(path: "Samples/config.example.toml")
        #expect(
            try String(contentsOf: url, encoding: .utf8) == KaryoConfig.exampleText,
            "Samples/config.example.toml is stale: write it with `karyocount config example`")
        let c = try KaryoConfig.load(from: url)
        var defaults = KaryoConfig()
        defaults.model = ModelLocation.installedDefault
        #expect(c == defaults)
        #expect(c.minImages == 20)
        #expect(c.scoreThreshold == nil)
        #expect(c.chromosomeWidthPx == nil)
    }

    @Test("a lab's calibrated chromosome width is read, printed back and checked for a sane range")
    func chromosomeWidth() throws {
        let c = try KaryoConfig.parse("chromosome_width_px = 15.62")
        #expect(c.chromosomeWidthPx == 15.62)
        #expect(try KaryoConfig.parse(c.tomlText).chromosomeWidthPx == 15.62)
        #expect(try KaryoConfig.parse("chromosome_width_px = 12").chromosomeWidthPx == 12)
        #expect(KaryoConfig().tomlText.contains("# chromosome_width_px = (unset)"))
        #expect(throws: ConfigError.self) { try KaryoConfig.parse("chromosome_width_px = 900") }
        #expect(throws: ConfigError.self) { try KaryoConfig.parse("chromosome_width_px = \"wide\"") }
    }
}
