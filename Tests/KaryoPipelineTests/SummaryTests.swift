import Foundation
import KaryoTestSupport
import Testing

@testable import KaryoPipeline

@Suite("Nightly summary")
struct SummaryTests {
    let dir = TempDir()

    private func processed() async throws -> Pipeline {
        let pipeline = try Pipeline(
            config: testConfig(dir), detector: PixelCodeDetector(), logger: LogCapture().logger)
        var salt = 0
        func add(_ patient: String, _ count: Int, _ times: Int, uncertain: Bool = false) throws {
            for _ in 0..<times {
                salt += 1
                let name = "\(patient).\(String(format: "%03d", salt)).O.png"
                let src = dir.write(
                    "drop/\(name)", codedPNG(count: uncertain ? count - 1 : count, uncertain: uncertain, salt: salt))
                try pipeline.enqueue(src, root: dir.path("drop"))
            }
        }
        try add("FLAGGED1", 47, 20)
        try add("FLAGGED1", 46, 3)
        try add("COLLECT2", 45, 1)
        try add("COLLECT2", 46, 3)
        try add("COLLECT2", 47, 1, uncertain: true)
        try add("NORMAL3", 46, 20)
        _ = await pipeline.processPending()
        return pipeline
    }

    @Test("every patient touched that day, with flag and distribution, in JSON and CSV")
    func content() async throws {
        let pipeline = try await processed()
        let day = JobQueue.day(of: Date())
        let summary = try DailySummary.build(from: pipeline.queue, day: day)
        #expect(summary.patients.map(\.patient) == ["COLLECT2", "FLAGGED1", "NORMAL3"])
        #expect(summary.imagesCounted == 48)
        #expect(summary.patientsFlagged == 1)
        let flagged = summary.patients[1]
        #expect(flagged.flagReason == "20 of 23 images are not 46: 47 x 20")
        #expect(flagged.distribution == "modal 47 (46x3, 47x20; n=23)")
        #expect(summary.patients[0].state == "collecting")
        #expect(summary.patients[0].lowConfidenceImages == 1)
        let csv = summary.csv.split(separator: "\n")
        #expect(csv.count == 4)
        #expect(csv[2].hasPrefix("\(day),FLAGGED1,assessed,yes,20 of 23 images are not 46: 47 x 20,23,23,47,"))
        #expect(csv[2].hasSuffix(",0,http://127.0.0.1:8470/patients/FLAGGED1/report"))
        #expect(flagged.reportURL == "http://127.0.0.1:8470/patients/FLAGGED1/report" && flagged.imagesReviewed == 0)
        var off = ReviewSettings()
        off.enabled = false
        #expect(try DailySummary.build(from: pipeline.queue, day: day, review: off).patients[1].reportURL == nil)
        #expect(try DailySummary.build(from: pipeline.queue, day: "1999-01-01").patients.isEmpty)
    }

    @Test("writing the same day twice gives the same bytes")
    func idempotent() async throws {
        let pipeline = try await processed()
        let day = JobQueue.day(of: Date())
        let folder = dir.path("out/summaries")
        let urls = try DailySummary.build(from: pipeline.queue, day: day).write(to: folder)
        let first = try urls.map { try Data(contentsOf: $0) }
        try DailySummary.build(from: pipeline.queue, day: day).write(to: folder)
        #expect(try urls.map { try Data(contentsOf: $0) } == first)
        #expect(urls.map(\.lastPathComponent) == ["\(day).json", "\(day).csv", "\(day).png"])
        // Kept for a look: the chart of this test's day.
        let preview = FileManager.default.temporaryDirectory.appending(path: "karyocount-summary-preview.png")
        try? FileManager.default.removeItem(at: preview)
        try FileManager.default.copyItem(at: urls[2], to: preview)
    }

    @Test("CSV fields with commas, quotes or formula characters are escaped")
    func csvEscaping() {
        #expect(DailySummary.csvField("a,b") == "\"a,b\"")
        #expect(DailySummary.csvField("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(DailySummary.csvField("=cmd()") == "'=cmd()")
        #expect(DailySummary.csvField("plain") == "plain")
    }
}
