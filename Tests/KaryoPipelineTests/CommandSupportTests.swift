import Foundation
import KaryoTestSupport
import Testing

@testable import KaryoPipeline

@Suite("Count, status and config output")
struct CommandSupportTests {
    let dir = TempDir()

    @Test("a folder scan takes every image name the decoder reads (TIFF, PNG, JPEG, BMP) and no sidecar file")
    func folderScanNames() throws {
        for name in ["a.tif", "b.TIFF", "c.png", "d.jpg", "e.JPEG", "f.bmp", "g.json", "h.txt", "i.jpg.part", ".j.bmp"]
        {
            dir.write("scan/\(name)", Data())
        }
        let inputs = try BatchCounter.inputs([dir.path("scan")], recursive: false)
        #expect(inputs.map(\.file.lastPathComponent) == ["a.tif", "b.TIFF", "c.png", "d.jpg", "e.JPEG", "f.bmp"])
    }

    @Test("count: a bad file gets <stem>.error.json, the others still succeed, karyograms are skipped")
    func batchCount() async throws {
        dir.write("in/A.001.O.png", codedPNG(count: 46))
        dir.write("in/sub/A.001.O.png", codedPNG(count: 47, salt: 1))
        dir.write("in/A.002.K.png", codedPNG(count: 46, salt: 2))
        dir.write("in/broken.png", Data("not an image".utf8))
        dir.write("in/notes.json", Data("{}".utf8))
        dir.write("in/.hidden.png", codedPNG(count: 46, salt: 3))
        dir.write("in/upload.png.part", Data())
        let inputs = try BatchCounter.inputs([dir.path("in")], recursive: true)
        #expect(inputs.map(\.file.lastPathComponent) == ["A.001.O.png", "A.002.K.png", "broken.png", "A.001.O.png"])
        let counter = BatchCounter(
            processor: ImageProcessor(detector: PixelCodeDetector(), options: ProcessingOptions()),
            outputFolder: dir.path("out"), mapper: try PatientMapper())
        let outcomes = await counter.run(inputs)
        var counted: [Int] = []
        var failed = 0
        var skipped = 0
        for outcome in outcomes {
            switch outcome {
            case .counted(_, let record, _): counted.append(record.count)
            case .failed(_, let failure, let report):
                failed += 1
                #expect(failure.stage == .decode)
                #expect(report?.lastPathComponent == "broken.error.json")
            case .skipped: skipped += 1
            }
        }
        #expect(counted == [46, 47] && failed == 1 && skipped == 1)
        #expect(
            dir.files().filter { $0.hasPrefix("out/") } == [
                "out/A.001.O-2.annotated.png", "out/A.001.O-2.json", "out/A.001.O.annotated.png", "out/A.001.O.json",
                "out/broken.error.json",
            ])
    }

    @Test("status text shows depth, per-state counts, flagged patients and the last errors")
    func statusText() async throws {
        var config = testConfig(dir)
        config.minImages = 2
        config.minDisagreeing = 2
        let pipeline = try openPipeline(config: config, detector: PixelCodeDetector(), logger: LogCapture().logger)
        for i in 1...2 {
            try pipeline.enqueue(
                dir.write("drop/P9.00\(i).O.png", codedPNG(count: 47, salt: i)), root: dir.path("drop"))
        }
        try pipeline.enqueue(dir.write("drop/bad.png", Data("junk".utf8)), root: dir.path("drop"))
        _ = await pipeline.processPending()
        try pipeline.enqueue(dir.write("drop/later.png", codedPNG(count: 46, salt: 9)), root: dir.path("drop"))
        let text = try StatusReport(queue: pipeline.queue).text
        #expect(text.contains("queue depth 1 (queued 1, running 0)"))
        #expect(text.contains("jobs: done 2, failed 1, skipped 0"))
        #expect(text.contains("P9: modal 47 (47x2; n=2)"))
        #expect(text.contains("2 of 2 images are not 46: 47 x 2"))
        #expect(text.contains("bad.png"))
        #expect(text.contains("decode stage"))
    }

    @Test("config show prints TOML that reads back to the same configuration")
    func showRoundTrip() throws {
        var c = KaryoConfig()
        c.watchRoots = [URL(filePath: "/a/drop"), URL(filePath: "/b/drop \"x\"")]
        c.patientPattern = #"^(?<patient>[A-Z]+\d+)_"#
        c.uncertainScoreBand = 0.25...0.75
        c.workers = 3
        #expect(try KaryoConfig.parse(c.tomlText) == c)
    }
}
