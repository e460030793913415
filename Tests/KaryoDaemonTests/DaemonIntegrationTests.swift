import Foundation
import KaryoSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// End-to-end tests of `karyocount watch`: the real binary, real files, real signals. One daemon at a time (the
/// machine has two cores), each against its own temp drop folder with the classical detector and small images.
@Suite(
    "Daemon end to end", .serialized,
    .enabled(if: Binary.exists, "no karyocount binary next to the tests; run `swift build` first"))
struct DaemonIntegrationTests {
    @Test(
        "60 images arriving slowly, in bursts, by rename, by link and in new nested folders each get exactly one result; karyograms are skipped; nothing is read early"
    )
    func deliveryModes() async throws {
        // stability_seconds 2 against 0.3 s pauses: a margin a loaded test machine's oversleeping cannot eat.
        let ws = try Workspace("delivery", stability: 2.0)
        defer { ws.cleanup() }
        let staging = ws.base + "/staging"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let listener = try NotifyListener(in: ws.base)
        defer { listener.close() }
        let daemon = try DaemonProcess(ws, environment: ["NOTIFY_SOCKET": listener.path])
        let startup = listener.receive(timeout: 30) { $0.contains("READY=1") }
        #expect(startup.contains { $0.hasPrefix("READY=1") && $0.contains("STATUS=") }, "\(startup)\n\(ws.log())")

        var expected: [String] = []
        // 15 written slowly in place: half keep the file open, half close and reopen between chunks (a
        // CLOSE_WRITE each time). Pauses (0.3 s) stay well under stability_seconds (2 s); reading early would
        // fail to decode and quarantine the file.
        try ws.mkdir("slow")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<15 {
                let name = "SLOW.\(String(format: "%03d", index)).A.png"
                expected.append("SLOW/SLOW.\(String(format: "%03d", index)).A.json")
                let data = try SyntheticImage.png(seed: UInt64(1000 + index))
                let path = ws.path("slow/" + name)
                group.addTask {
                    if index % 2 == 0 {
                        try await writeSlowly(data, to: path, chunks: 4, pause: .milliseconds(300))
                    } else {
                        try await onOwnThread {
                            _ = FileManager.default.createFile(atPath: path, contents: nil)
                            let step = (data.count + 3) / 4
                            for offset in stride(from: 0, to: data.count, by: step) {
                                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                                try handle.seekToEnd()
                                try handle.write(contentsOf: data[offset..<min(offset + step, data.count)])
                                try handle.close()
                                sleep(for: .milliseconds(300))
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        // 15 in a burst through temp names renamed into place.
        try ws.mkdir("renamed")
        for index in 0..<15 {
            let name = "REN.\(String(format: "%03d", index)).A.png"
            expected.append("REN/\(name.dropLast(4)).json")
            try SyntheticImage.png(seed: UInt64(2000 + index)).write(
                to: URL(fileURLWithPath: ws.path("renamed/\(name).part")))
            try FileManager.default.moveItem(
                atPath: ws.path("renamed/\(name).part"), toPath: ws.path("renamed/\(name)"))
        }
        // 15 in case folders created on the fly, nested three deep, written directly.
        for index in 0..<15 {
            let patient = "NEST\(index % 3)"
            let name = "\(patient).\(String(format: "%03d", index)).A.png"
            expected.append("\(patient)/\(name.dropLast(4)).json")
            try ws.mkdir("cases/\(patient)/slide\(index % 2)")
            try SyntheticImage.png(seed: UInt64(3000 + index)).write(
                to: URL(fileURLWithPath: ws.path("cases/\(patient)/slide\(index % 2)/\(name)")))
        }
        // 15 linked in from a staging folder (sftp's link-and-unlink rename), in two bursts.
        try ws.mkdir("sftp")
        for index in 0..<15 {
            let name = "SFTP.\(String(format: "%03d", index)).O.png"
            expected.append("SFTP/\(name.dropLast(4)).json")
            try SyntheticImage.png(seed: UInt64(4000 + index)).write(to: URL(fileURLWithPath: staging + "/" + name))
            #expect(link(staging + "/" + name, ws.path("sftp/" + name)) == 0)
            unlink(staging + "/" + name)
            if index == 7 { try await Task.sleep(for: .seconds(1)) }
        }
        // Karyograms: recorded as skipped, never counted.
        try ws.mkdir("karyograms")
        for index in 0..<3 {
            try SyntheticImage.png(seed: UInt64(5000 + index)).write(
                to: URL(fileURLWithPath: ws.path("karyograms/KAR.\(String(format: "%03d", index)).K.png")))
        }

        let all = await ws.wait(timeout: 150) { ws.resultJSONs().count >= 60 }
        #expect(all, "only \(ws.resultJSONs().count) results\n\(ws.log().suffix(3000))")
        try await Task.sleep(for: .seconds(2))
        daemon.signal(SIGTERM)
        let status = await daemon.waitForExit(timeout: 60)
        #expect(status == 0, "\(ws.log().suffix(30000))")
        let stopping = listener.receive(timeout: 1) { $0.contains("STOPPING=1") }
        #expect(stopping.contains { $0.contains("STOPPING=1") })

        let results = ws.resultJSONs()
        #expect(results == expected.sorted(), "unexpected or missing results")
        #expect(ws.files(under: ws.output + "/quarantine").isEmpty, "a partial file was read early: \(ws.log())")
        #expect(!results.contains { $0.contains("KAR") })
        for result in results {
            let json = try ws.json(ws.output + "/results/" + result)
            #expect(json["schema"] as? String == "karyocount.result/1")
            #expect(json["count"] is Int)
            let png = try Data(
                contentsOf: URL(fileURLWithPath: ws.output + "/results/" + result.dropLast(5) + ".annotated.png"))
            #expect(isCompletePNG(png), "\(result)")
        }
        #expect(ws.log().components(separatedBy: "karyogram skipped").count - 1 == 3)
    }

    @Test(
        "stopped by SIGTERM once and killed with SIGKILL at random points four times while 100 images are processed, every image ends with exactly one complete result and the patient aggregates equal an uninterrupted run's"
    )
    func crashSafety() async throws {
        let patients = ["PA", "PB", "PC", "PD"]
        func populate(_ ws: Workspace) throws {
            for index in 0..<100 {
                let patient = patients[index % 4]
                try ws.mkdir(patient)
                try SyntheticImage.png(seed: UInt64(10_000 + index)).write(
                    to: URL(fileURLWithPath: ws.path("\(patient)/\(patient).\(String(format: "%03d", index)).A.png")))
            }
        }
        let ws = try Workspace("crash", extraConfig: "max_attempts = 20")
        defer { ws.cleanup() }
        try populate(ws)
        var rng = SplitMix64(seed: 7 &+ 0x9E37_79B9_7F4A_7C15)
        var progress: [Int] = []
        for round in 0..<5 {
            let daemon = try DaemonProcess(ws)
            // Stop when the work is under way, whatever the machine's speed: once 15, 30, 45, 60 and 75 results
            // exist, plus a random 0-300 ms, so the stop lands at a random point inside an image's processing (on a
            // quiet machine the last 10 images took less than that: the last stop leaves 25).
            let target = 15 * (round + 1)
            let deadline = ContinuousClock.now + .seconds(120)
            while ws.resultJSONs().count < target && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: .milliseconds(Int(rng.next() % 300)))
            if round == 0 {
                // The first stop is graceful: the image in hand is finished, the rest re-queued, exit status 0.
                daemon.signal(SIGTERM)
                #expect(await daemon.waitForExit(timeout: 30) == 0, "\(ws.log().suffix(2000))")
            } else {
                daemon.signal(SIGKILL)
                await daemon.waitForExit()
            }
            progress.append(ws.resultJSONs().count)
            // Between crashes every visible result must already be complete.
            try ws.checkResultsComplete()
        }
        let leftovers = ws.files(under: ws.output).filter { ws.isHidden($0) }
        print(
            "crash safety: results after each stop \(progress); hidden temp files left by the kills: \(leftovers.count)"
        )
        let final = try DaemonProcess(ws, once: true)
        #expect(await final.waitForExit(timeout: 120) == 0, "\(ws.log().suffix(2000))")
        let remaining = ws.files(under: ws.output).filter { ws.isHidden($0) }
        #expect(remaining.isEmpty, "temp files a crash left were not cleaned up at the next start: \(remaining)")
        let results = ws.resultJSONs()
        #expect(results.count == 100, "results after each crash: \(progress); \(ws.log().suffix(2000))")
        #expect(Set(results).count == 100)
        #expect(ws.files(under: ws.output + "/quarantine").isEmpty)
        try ws.checkResultsComplete()
        #expect(progress.last ?? 100 < 100, "the kills came too late to interrupt anything: \(progress)")

        let reference = try Workspace("reference")
        defer { reference.cleanup() }
        try populate(reference)
        #expect(await (try DaemonProcess(reference, once: true)).waitForExit(timeout: 120) == 0)
        for patient in patients {
            let crashed = try normalizedPatient(ws, patient)
            let clean = try normalizedPatient(reference, patient)
            #expect(crashed == clean, "patient \(patient) differs after crashes")
            #expect((crashed["images_counted"] as? Int) == 25)
        }
    }

    @Test("broken inputs are quarantined with an error JSON while the good images are counted")
    func badInput() async throws {
        let ws = try Workspace("bad")
        defer { ws.cleanup() }
        try ws.mkdir("P9")
        for index in 0..<4 {
            try SyntheticImage.png(seed: UInt64(20_000 + index)).write(
                to: URL(fileURLWithPath: ws.path("P9/P9.00\(index).A.png")))
        }
        let good = try SyntheticImage.png(seed: 20_100)
        let broken: [String: Data] = [
            "P9.100.A.png": good.prefix(good.count / 2),  // truncated
            "P9.101.A.png": Data(),  // empty
            "P9.102.A.tif": Data((0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }),  // wrong magic
            "P9.103.A.png": Data("Not an image, just a note.\n".utf8),  // text
            // TIFF magic, then garbage.
            "P9.104.A.tif": Data([0x49, 0x49, 0x2A, 0x00, 0x08, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 64)),
            "P9.105.A.png": good.prefix(33),  // PNG signature and IHDR only
        ]
        for (name, data) in broken { try data.write(to: URL(fileURLWithPath: ws.path("P9/" + name))) }
        let daemon = try DaemonProcess(ws, once: true)
        #expect(await daemon.waitForExit(timeout: 120) == 0, "\(ws.log().suffix(2000))")
        #expect(ws.resultJSONs().count == 4)
        let quarantine = ws.files(under: ws.output + "/quarantine")
        for name in broken.keys {
            let errorFile = try #require(
                quarantine.first { $0.hasSuffix(name + ".error.json") }, "\(name) not quarantined: \(quarantine)")
            let json = try ws.json(ws.output + "/quarantine/" + errorFile)
            #expect(json["stage"] is String && json["error"] is String, "\(json)")
        }
    }

    @Test(
        "names with ../, control characters and symlinks out of the root never write outside the output root nor read outside the watch root"
    )
    func security() async throws {
        let ws = try Workspace("security", extraConfig: #"patient_pattern = "^x(?<patient>.*)__""#)
        defer { ws.cleanup() }
        let outside = ws.base + "/outside"
        try FileManager.default.createDirectory(atPath: outside + "/dir", withIntermediateDirectories: true)
        let secret = try SyntheticImage.png(seed: 30_000)
        try secret.write(to: URL(fileURLWithPath: outside + "/secret.png"))
        try SyntheticImage.png(seed: 30_001).write(to: URL(fileURLWithPath: outside + "/dir/other.png"))
        let names = ["x..__1.png", "x../y..__2.png", "x\u{1}ctl\u{7f}__3.png", "x%2e%2e%2f__4.png", "x\t__5.png"]
        try ws.mkdir("x..")
        for (index, name) in names.enumerated() {
            try SyntheticImage.png(seed: UInt64(30_100 + index)).write(to: URL(fileURLWithPath: ws.path(name)))
        }
        try ws.mkdir("case\u{1b}[31m")
        try SyntheticImage.png(seed: 30_200).write(to: URL(fileURLWithPath: ws.path("case\u{1b}[31m/plain.png")))
        try FileManager.default.createSymbolicLink(
            atPath: ws.path("link.png"), withDestinationPath: outside + "/secret.png")
        try FileManager.default.createSymbolicLink(atPath: ws.path("linkdir"), withDestinationPath: outside + "/dir")
        try FileManager.default.createSymbolicLink(
            atPath: ws.path("up.png"), withDestinationPath: "../outside/secret.png")
        let before = Set(FileManager.default.subpaths(atPath: ws.base) ?? [])

        let daemon = try DaemonProcess(ws, once: true)
        #expect(await daemon.waitForExit(timeout: 120) == 0, "\(ws.log().suffix(2000))")

        let outputRoot = try #require(realpath(ws.output, nil).map { String(cString: $0) })
        let dropRoot = try #require(realpath(ws.drop, nil).map { String(cString: $0) })
        let after = Set(FileManager.default.subpaths(atPath: ws.base) ?? [])
        let created = after.subtracting(before).filter {
            !$0.hasPrefix("out") && !$0.hasPrefix("state") && $0 != "daemon.log"
        }
        #expect(created.isEmpty, "written outside the output root: \(created)")
        for file in ws.files(under: ws.output) {
            let real = try #require(realpath(ws.output + "/" + file, nil).map { String(cString: $0) })
            #expect(real.hasPrefix(outputRoot + "/"), "\(real) escapes the output root")
        }
        let secretHashes = try ws.resultJSONs().map { try ws.json(ws.output + "/results/" + $0) }
        for result in secretHashes {
            let source = try #require(result["source"] as? String)
            #expect(
                source.hasPrefix(dropRoot + "/") || source.hasPrefix(ws.drop + "/"), "read outside the root: \(source)")
        }
        #expect(ws.resultJSONs().count == names.count + 1, "\(ws.resultJSONs())\n\(ws.log().suffix(2000))")
        #expect(Set(FileManager.default.subpaths(atPath: outside) ?? []) == ["secret.png", "dir", "dir/other.png"])
    }

    @Test("a service manager that stops reading notifications (its queue full of watchdog pings) does not stop SIGTERM")
    func unreadNotifySocket() async throws {
        let ws = try Workspace("unread")
        defer { ws.cleanup() }
        let deaf = try NotifyListener(in: ws.base, reading: false)
        defer { deaf.close() }
        let daemon = try DaemonProcess(ws, environment: ["NOTIFY_SOCKET": deaf.path, "WATCHDOG_USEC": "20000"])
        let full = await ws.wait(timeout: 60) { ws.log().contains("queue is full") }
        #expect(full, "\(ws.log().suffix(2000))")
        try await Task.sleep(for: .seconds(6))  // a STATUS report on top of the pings
        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit(timeout: 60) == 0, "\(ws.log().suffix(30000))")
    }

    @Test("a missing watch root stops the daemon at start with exit status 1 and a message naming the key")
    func missingRootFailsFast() async throws {
        let ws = try Workspace("noroot")
        defer { ws.cleanup() }
        try FileManager.default.removeItem(atPath: ws.drop)
        let daemon = try DaemonProcess(ws)
        #expect(await daemon.waitForExit(timeout: 30) == 1)
        #expect(ws.log().contains("watch_roots"), "\(ws.log())")
    }

    /// A patient.json without the fields that record when things happened.
    private func normalizedPatient(_ ws: Workspace, _ patient: String) throws -> NSDictionary {
        var json = try ws.json(ws.output + "/results/\(patient)/patient.json")
        for key in json.keys where key.contains("_at") || key.contains("time") || key.contains("updated") {
            json[key] = nil
        }
        return json as NSDictionary
    }
}
