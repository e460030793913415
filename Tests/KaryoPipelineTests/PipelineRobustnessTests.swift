import Foundation
import KaryoTestSupport
import Testing

@testable import KaryoPipeline

@Suite("Pipeline robustness")
struct PipelineRobustnessTests {
    let dir = TempDir()

    private func errorReport(_ name: String) throws -> ErrorReport {
        try KaryoJSON.decode(ErrorReport.self, from: Data(contentsOf: dir.path("out/quarantine/\(name).error.json")))
    }

    @Test("two names with the same broken bytes, both queued before either failed, each get their own error record")
    func copiesOfBrokenInputEachQuarantined() async throws {
        let pipeline = try openPipeline(
            config: testConfig(dir), detector: FailingDetector(), logger: LogCapture().logger)
        let broken = codedPNG(count: 46)
        let a = dir.write("drop/P/P.001.A.png", broken)
        let b = dir.write("drop/P/P.001.A copy.png", broken)
        try pipeline.enqueue(a, root: dir.path("drop"))
        #expect(
            try pipeline.enqueue(b, root: dir.path("drop")) == .duplicate(try #require(pipeline.queue.allJobs().first)))
        for _ in 0..<10 where try pipeline.queue.allJobs().first?.state != .failed {
            _ = await pipeline.processPending()
            try await pipeline.queue.sqlitePool.write { try $0.execute(sql: "UPDATE job SET not_before = NULL") }
        }
        let first = try errorReport("P.001.A.png")
        let copy = try errorReport("P.001.A copy.png")
        #expect(first.file == a.path && copy.file == b.path)
        #expect(copy.error.contains("the same content as \(a.path)"))
        #expect(copy.quarantinedCopy == "P.001.A copy.png")
        #expect(try pipeline.status().refused == 1)
    }

    @Test("a name that is not UTF-8 is quarantined once with its bytes and the cause, and listed by status")
    func undecodableNameRefused() async throws {
        let log = LogCapture()
        let pipeline = try openPipeline(config: testConfig(dir), detector: PixelCodeDetector(), logger: log.logger)
        let path = dir.path("drop").path + "/M\\xFCller.001.A.png"
        pipeline.refuseUndecodable(path: path, isFolder: false, content: Data([1, 2, 3]))
        pipeline.refuseUndecodable(path: path, isFolder: false, content: Data([1, 2, 3]))  // the next rescan
        let report = try errorReport("M_xFCller.001.A.png")
        #expect(report.file == path && report.stage == "read")
        #expect(report.error.contains("not valid UTF-8") && report.error.contains("iocharset=utf8"))
        #expect(try Data(contentsOf: dir.path("out/quarantine/M_xFCller.001.A.png")) == Data([1, 2, 3]))
        #expect(try pipeline.status().refused == 1)
        #expect(log.all.filter { $0.contains("input refused and quarantined") }.count == 1)
    }

    @Test("a quarantined input with a very long name keeps its extension")
    func longNameKeepsExtension() async throws {
        let pipeline = try openPipeline(
            config: testConfig(dir), detector: PixelCodeDetector(), logger: LogCapture().logger)
        let name = String(repeating: "Müller-", count: 30) + "001.A.png"
        try? pipeline.enqueue(dir.write("drop/\(name)", Data("not an image".utf8)), root: dir.path("drop"))
        _ = await pipeline.processPending()
        let quarantined = dir.files().filter { $0.hasPrefix("out/quarantine/") }
        #expect(quarantined.count == 2, "\(quarantined)")
        let copy = try #require(quarantined.first { !$0.hasSuffix(".error.json") })
        #expect(copy.hasSuffix(".png") && copy.utf8.count - "out/quarantine/".count == SafeName.maxBytes)
        #expect(quarantined.contains(copy + ".error.json"))
        #expect(SafeName.component(String(repeating: "x", count: 300) + ".tif").hasSuffix("xx.tif"))
        #expect(SafeName.component(String(repeating: "x", count: 300)).utf8.count == SafeName.maxBytes)
    }

    @Test("a failed detection waits before its retry instead of spending every attempt at once")
    func retryWaits() async throws {
        var config = testConfig(dir)
        config.retryDelaysSeconds = [30]
        let pipeline = try openPipeline(config: config, detector: FailingDetector(), logger: LogCapture().logger)
        try pipeline.enqueue(dir.write("drop/P/a.png", codedPNG(count: 46)), root: dir.path("drop"))
        let started = Date()
        let summary = await pipeline.processPending()
        #expect(summary.retried == 1 && summary.failed == 0)
        let job = try #require(try pipeline.queue.allJobs().first)
        #expect(job.state == .queued && job.attempts == 1)
        #expect(try #require(job.notBefore) >= started.addingTimeInterval(29))
        #expect(!dir.files().contains { $0.hasPrefix("out/quarantine/") })
    }

    @Test(
        "quarantine records of different inputs with one name never overwrite each other; the same bytes reuse theirs")
    func quarantineNamesDoNotCollide() throws {
        let quarantine = Quarantine(folder: dir.path("q"))
        try FileManager.default.createDirectory(at: quarantine.folder, withIntermediateDirectories: true)
        let failure = StageFailure(stage: .decode, error: PipelineError(.decodeFailed, file: "x", detail: "bad"))
        // An unreadable a.png (no copy, error JSON only), then two readable but different a.png, then the first of
        // those again.
        let missing = dir.path("gone/a.png")
        let first = try quarantine.add(source: missing, root: nil, sha256: nil, failure: failure, attempts: 0)
        let one = dir.write("x/a.png", Data("one".utf8))
        let second = try quarantine.add(source: one, root: nil, sha256: nil, failure: failure, attempts: 0)
        let two = dir.write("y/a.png", Data("two".utf8))
        let third = try quarantine.add(source: two, root: nil, sha256: nil, failure: failure, attempts: 0)
        let again = try quarantine.add(source: one, root: nil, sha256: nil, failure: failure, attempts: 1)
        #expect(Set([first, second, third].map(\.lastPathComponent)).count == 3)
        #expect(again == second)
        let files = dir.files().filter { $0.hasPrefix("q/") }
        #expect(files.count == 5)  // three error JSONs, two copies
        for (url, source) in [(first, missing), (second, one), (third, two)] {
            let report = try KaryoJSON.decode(ErrorReport.self, from: Data(contentsOf: url))
            #expect(report.file == source.path)
        }
    }

    @Test("a second pipeline on the same state stops at start-up, naming the process; it may start once the first ends")
    func secondPipelineRefused() throws {
        let config = testConfig(dir)
        var first: Pipeline? = try openPipeline(
            config: config, detector: PixelCodeDetector(), logger: LogCapture().logger)
        try first!.enqueue(dir.write("drop/P/a.png", codedPNG(count: 46)), root: dir.path("drop"))
        _ = try first!.queue.claimNext()  // in hand in the first pipeline
        #expect {
            _ = try Pipeline(config: config, detector: PixelCodeDetector(), logger: LogCapture().logger)
        } throws: { error in
            "\(error)".contains("another karyocount process (pid \(getpid()))")
        }
        #expect(try first!.queue.allJobs().first?.state == .running)  // not re-queued by the refused one
        first = nil
        let second = try openPipeline(config: config, detector: PixelCodeDetector(), logger: LogCapture().logger)
        #expect(try second.queue.allJobs().first?.state == .queued)  // now recovered
    }

    @Test("a file too large to read is quarantined with an error naming it and the cause, and status lists it once")
    func refusedAtIntake() throws {
        let log = LogCapture()
        let pipeline = try openPipeline(config: testConfig(dir), detector: PixelCodeDetector(), logger: log.logger)
        let big = dir.write("drop/P/huge.001.O.png", Data())
        let handle = try FileHandle(forWritingTo: big)
        try handle.truncate(atOffset: UInt64(InputFile.maxBytes) + 1)  // sparse: no disk used
        try handle.close()
        for _ in 0..<2 {  // the second time as the rescan after a restart finds it again
            #expect(throws: PipelineError.self) { try pipeline.enqueue(big, root: dir.path("drop")) }
        }
        let report = try errorReport("huge.001.O.png")
        #expect(report.file == big.path && report.stage == "read")
        #expect(report.error.hasPrefix(big.path) && report.error.contains("larger than any export"))
        #expect(report.quarantinedCopy == nil && !dir.files().contains("out/quarantine/huge.001.O.png"))
        let status = try pipeline.status()
        #expect(status.refused == 1 && status.lastRefused.map(\.path) == [big.path])
        #expect(try StatusReport(queue: pipeline.queue).text.contains(big.path))
        #expect(log.all.filter { $0.contains("refused and quarantined") }.count == 1)

        // Replaced by a readable export: queued, and no longer listed as refused.
        try codedPNG(count: 46).write(to: big)
        #expect(try pipeline.enqueue(big, root: dir.path("drop")).job.state == .queued)
        #expect(try pipeline.status().refused == 0)
    }

    @Test("a symlink to a file outside the watch root is quarantined as an error only; the target is never copied")
    func symlinkOutsideRootQuarantined() throws {
        let pipeline = try openPipeline(
            config: testConfig(dir), detector: PixelCodeDetector(), logger: LogCapture().logger)
        let secret = dir.write("secret/P.001.O.png", codedPNG(count: 46))
        let link = dir.path("drop/P.001.O.png")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: secret)
        #expect(throws: PipelineError.self) { try pipeline.enqueue(link, root: dir.path("drop")) }
        let report = try errorReport("P.001.O.png")
        #expect(report.file == link.path && report.error.contains("outside the watch root"))
        #expect(report.quarantinedCopy == nil && report.sha256 == nil)
        #expect(!dir.files().contains("out/quarantine/P.001.O.png"))
        #expect(try pipeline.status().lastRefused.map(\.path) == [link.path])
    }

    @Test("a file whose open landed outside the watch root (a parent folder swapped for a symlink) is not read")
    func openedOutsideTheRoot() throws {
        let inside = dir.write("drop/P/a.png", Data("in".utf8))
        let outside = dir.write("elsewhere/P/a.png", Data("out".utf8))
        // What `read` checks after its open: the kernel's name for the open file against the root.
        for (file, expectInside) in [(inside, true), (outside, false)] {
            let fd = open(file.path, O_RDONLY | O_CLOEXEC)
            #expect(fd >= 0)
            defer { close(fd) }
            let check = { () throws(PipelineError) in
                try InputFile.checkOpened(fd, file: inside, isInside: self.dir.path("drop"))
            }
            if expectInside {
                #expect(throws: Never.self) { try check() }
            } else {
                #expect { try check() } throws: { ($0 as? PipelineError)?.code == .outsideRoot }
            }
        }
    }

    @Test("a second file with the content of a known bad input is quarantined with the same cause, naming it")
    func secondIdenticalBadFile() async throws {
        let pipeline = try openPipeline(
            config: testConfig(dir), detector: PixelCodeDetector(), logger: LogCapture().logger)
        let first = dir.write("drop/P/empty.001.O.png", Data())
        try pipeline.enqueue(first, root: dir.path("drop"))
        #expect(await pipeline.processPending().failed == 1)
        let second = dir.write("drop/P/empty.002.O.png", Data())
        let outcome = try pipeline.enqueue(second, root: dir.path("drop"))
        guard case .sameAsFailed = outcome else {
            Issue.record("expected sameAsFailed, got \(outcome)")
            return
        }
        let earlier = try errorReport("empty.001.O.png")
        let report = try errorReport("empty.002.O.png")
        #expect(report.file == second.path && report.stage == earlier.stage && report.stage == "decode")
        #expect(report.error.hasPrefix(second.path + ": decode failed: ") && report.error.contains(first.path))
        #expect(report.quarantinedCopy == "empty.002.O.png")
        #expect(try pipeline.status().lastRefused.map(\.path) == [second.path])
        #expect(await pipeline.processPending().failed == 0)
    }

    @Test("changed thresholds re-evaluate patients whose images are all counted, at the next start")
    func thresholdsChanged() async throws {
        var config = testConfig(dir)
        config.minImages = 10
        config.minDisagreeing = 20
        do {
            let pipeline = try openPipeline(config: config, detector: PixelCodeDetector(), logger: LogCapture().logger)
            for i in 1...12 {
                let src = dir.write("drop/CASE7/CASE7.\(String(format: "%03d", i)).O.png", codedPNG(count: 47, salt: i))
                try pipeline.enqueue(src, root: dir.path("drop"))
            }
            #expect(await pipeline.processPending().done == 12)
            #expect(try pipeline.queue.patient("CASE7")?.report.isFlagged == false)
        }
        config.minDisagreeing = 10
        let log = LogCapture()
        let queue: JobQueue
        do {
            let restarted = try openPipeline(config: config, detector: PixelCodeDetector(), logger: log.logger)
            let onDisk = try KaryoJSON.decode(
                PatientReport.self, from: Data(contentsOf: dir.path("out/results/CASE7/patient.json")))
            #expect(onDisk.flag?.reason == "12 of 12 images are not 46: 47 x 12")
            #expect(onDisk.minDisagreeing == 10)
            #expect(try restarted.queue.patient("CASE7")?.report == onDisk)
            #expect(try restarted.status().depth == 0)
            #expect(log.all.filter { $0.contains("patient flagged") }.count == 1)
            queue = restarted.queue
        }

        // The same settings again: nothing to rewrite.
        let stored = try #require(try queue.patient("CASE7"))
        _ = try openPipeline(config: config, detector: PixelCodeDetector(), logger: LogCapture().logger)
        #expect(try queue.patient("CASE7") == stored)
        #expect(try queue.patientsNeedingWrite().isEmpty)
    }

    @Test("an image moved to another patient's folder before it was processed is read and filed where it is now")
    func movedBeforeProcessing() async throws {
        let pipeline = try openPipeline(
            config: testConfig(dir), detector: PixelCodeDetector(), logger: LogCapture().logger)
        let first = dir.write("drop/WRONG/WRONG.001.O.png", codedPNG(count: 46))
        try pipeline.enqueue(first, root: dir.path("drop"))
        let moved = dir.path("drop/RIGHT/RIGHT.001.O.png")
        try FileManager.default.createDirectory(
            at: moved.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: first, to: moved)
        let outcome = try pipeline.enqueue(moved, root: dir.path("drop"))
        #expect(outcome.job.path == moved.path && outcome.job.patient == "RIGHT" && outcome.job.state == .queued)
        let summary = await pipeline.processPending()
        #expect(summary.done == 1 && summary.retried == 0)
        #expect(dir.files().contains("out/results/RIGHT/RIGHT.001.O.json"))
        #expect(try pipeline.queue.patient("WRONG") == nil)
    }

    @Test("a copy of a queued image elsewhere leaves the job where it was first found")
    func copiedBeforeProcessing() throws {
        let pipeline = try openPipeline(
            config: testConfig(dir), detector: PixelCodeDetector(), logger: LogCapture().logger)
        let first = dir.write("drop/P/P.001.O.png", codedPNG(count: 46))
        try pipeline.enqueue(first, root: dir.path("drop"))
        let copy = dir.write("drop/Q/Q.001.O.png", codedPNG(count: 46))
        #expect(try pipeline.enqueue(copy, root: dir.path("drop")).job.path == first.path)
    }
}
