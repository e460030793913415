import Foundation
import Testing

/// The repository root, from this file's place in Tests/KaryoWatchTests/.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// Runs a program and returns its exit status and combined output.
@discardableResult
func runProgram(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (
    status: Int32, output: String
) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

private let systemdAnalyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

@Suite("systemd units and install scripts")
struct DeploymentTests {
    /// Copies the units into `folder` with ExecStart pointing at a binary that exists.
    private func stageUnits(in folder: TempFolder) throws -> [String] {
        try ["karyocount.service", "karyocount-summary.service", "karyocount-summary.timer"].map { name in
            let text = try String(contentsOfFile: "\(repositoryRoot)/systemd/\(name)", encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/karyocount", with: "/bin/true")
            try text.write(toFile: folder.file(name), atomically: true, encoding: .utf8)
            return folder.file(name)
        }
    }

    @Test(
        "systemd-analyze verify accepts the service, summary service and timer",
        .enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed (apt-get install systemd)"))
    func verifyUnits() throws {
        let folder = try TempFolder("units")
        defer { folder.cleanup() }
        let units = try stageUnits(in: folder)
        let result = try runProgram(systemdAnalyze!, ["verify", "--man=no"] + units)
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains("Unknown key"), "\(result.output)")
        let calendar = try runProgram(systemdAnalyze!, ["calendar", "*-*-* 23:55:00"])
        #expect(calendar.status == 0)
    }

    @Test(
        "the service's hardening scores SAFE (exposure below 2) in systemd-analyze security",
        .enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed (apt-get install systemd)"))
    func hardeningScore() throws {
        let folder = try TempFolder("units")
        defer { folder.cleanup() }
        let units = try stageUnits(in: folder)
        for unit in units where unit.hasSuffix(".service") {
            let result = try runProgram(systemdAnalyze!, ["security", "--offline=true", unit])
            let line = try #require(
                result.output.split(separator: "\n").first { $0.contains("Overall exposure level") })
            let score = try #require(
                line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
            #expect(score < 2.0, "\(line)")
        }
    }

    @Test(
        "the service keeps the daemon's required settings: notify, watchdog, restart, user, read-write paths, memory limits"
    )
    func serviceSettings() throws {
        let text = try String(contentsOfFile: "\(repositoryRoot)/systemd/karyocount.service", encoding: .utf8)
        for line in [
            "Type=notify", "WatchdogSec=", "Restart=on-failure", "User=karyocount", "Group=karyocount",
            "ProtectSystem=strict", "ReadWritePaths=/srv/karyocount/output", "StateDirectory=karyocount",
            "PrivateTmp=yes", "NoNewPrivileges=yes", "ProtectHome=yes", "Environment=OPENBLAS_NUM_THREADS=",
            "MemoryHigh=", "MemoryMax=",
        ] {
            #expect(text.contains("\n\(line)"), "missing \(line)")
        }
        let timer = try String(contentsOfFile: "\(repositoryRoot)/systemd/karyocount-summary.timer", encoding: .utf8)
        #expect(timer.contains("OnCalendar=") && timer.contains("Persistent=true"))
    }

    @Test("install and uninstall stage into DESTDIR, are idempotent, keep an edited config, and purge only on request")
    func installUninstall() throws {
        let root = try TempFolder("destdir")
        defer { root.cleanup() }
        let env = ["DESTDIR": root.path]
        let install = "\(repositoryRoot)/Deploy/install.sh"
        let uninstall = "\(repositoryRoot)/Deploy/uninstall.sh"
        let first = try runProgram(
            install, ["--binary", "/bin/true", "--prefix", "/opt/kc", "--drop-group", "microscope"], environment: env)
        #expect(first.status == 0, "\(first.output)")
        let fm = FileManager.default
        for path in [
            "etc/karyocount/config.toml", "opt/kc/bin/karyocount", "etc/systemd/system/karyocount.service",
            "etc/systemd/system/karyocount-summary.service", "etc/systemd/system/karyocount-summary.timer",
            "etc/systemd/system/karyocount.service.d/10-drop-group.conf", "srv/karyocount/drop",
            "srv/karyocount/output", "var/lib/karyocount",
        ] {
            #expect(fm.fileExists(atPath: root.file(path)), "missing \(path)")
        }
        let unit = try String(contentsOfFile: root.file("etc/systemd/system/karyocount.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/opt/kc/bin/karyocount watch --config /etc/karyocount/config.toml"))
        let dropIn = try String(
            contentsOfFile: root.file("etc/systemd/system/karyocount.service.d/10-drop-group.conf"), encoding: .utf8)
        #expect(dropIn.contains("SupplementaryGroups=microscope"))

        try "# edited by the lab\n".write(
            toFile: root.file("etc/karyocount/config.toml"), atomically: true, encoding: .utf8)
        let second = try runProgram(install, ["--binary", "/bin/true", "--prefix", "/opt/kc"], environment: env)
        #expect(second.status == 0, "\(second.output)")
        #expect(
            try String(contentsOfFile: root.file("etc/karyocount/config.toml"), encoding: .utf8)
                == "# edited by the lab\n")

        try "result".write(toFile: root.file("srv/karyocount/output/keep.json"), atomically: true, encoding: .utf8)
        #expect(try runProgram(uninstall, ["--prefix", "/opt/kc"], environment: env).status == 0)
        #expect(try runProgram(uninstall, ["--prefix", "/opt/kc"], environment: env).status == 0)
        #expect(!fm.fileExists(atPath: root.file("opt/kc/bin/karyocount")))
        #expect(!fm.fileExists(atPath: root.file("etc/systemd/system/karyocount.service")))
        #expect(fm.fileExists(atPath: root.file("etc/karyocount/config.toml")))
        #expect(fm.fileExists(atPath: root.file("srv/karyocount/output/keep.json")))

        #expect(try runProgram(uninstall, ["--prefix", "/opt/kc", "--purge"], environment: env).status == 0)
        #expect(!fm.fileExists(atPath: root.file("etc/karyocount")))
        #expect(!fm.fileExists(atPath: root.file("srv/karyocount")))
    }

    @Test("install refuses a missing binary with a message saying how to build one")
    func installNeedsBinary() throws {
        let root = try TempFolder("destdir")
        defer { root.cleanup() }
        let result = try runProgram(
            "\(repositoryRoot)/Deploy/install.sh", ["--binary", root.file("nope")], environment: ["DESTDIR": root.path])
        #expect(result.status != 0)
        #expect(result.output.contains("make release"))
    }
}
