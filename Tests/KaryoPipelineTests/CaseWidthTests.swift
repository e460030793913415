import Foundation
import KaryoDetect
import KaryoImage
import KaryoNet
import KaryoSupport
import KaryoTestSupport
import Testing

@testable import KaryoPipeline

@Suite("count: the cells of one case at one working scale")
struct CaseWidthTests {
    private let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("a case's cells share the median of their widths; a lone cell keeps its own, and all do without case widths")
    func caseMedian() async throws {
        let detector = try DeepACEDetector(modelDirectory: repository.appending(path: "Models/default"))
        let spread = try ImageDecoder.decode(
            contentsOf: repository.appending(path: "Tests/Fixtures/real/18-Y2087.145.O.png")
        ).image
        func restyled(_ transform: (Float) -> Float) -> GrayImage {
            GrayImage(width: spread.width, height: spread.height, pixels: spread.pixels.map(transform))
        }
        let dir = TempDir()
        // Case CASE1: three cells whose own widths differ (the spread, and two other tone curves: the measured
        // width is 16, 17 and 15.2 px). Case CASE2: one cell.
        dir.write("in/CASE1.001.A.png", try PNGEncoder.encode(spread))
        dir.write("in/CASE1.002.A.png", try PNGEncoder.encode(restyled { $0 * $0 }))
        dir.write("in/CASE1.003.A.png", try PNGEncoder.encode(restyled { pow($0, 0.3) }))
        dir.write("in/CASE2.001.A.png", try PNGEncoder.encode(spread))
        let inputs = try BatchCounter.inputs([dir.path("in")], recursive: false)
        let own = inputs.map { WidthCalibration.measure($0).width! }
        #expect(Set(own[0..<3]).count == 3, "the three restyled cells measure three widths: \(own)")
        let median = try #require(Array(own[0..<3]).quantile(0.5))

        for caseWidths in [true, false] {
            let counter = BatchCounter(
                processor: ImageProcessor(detector: detector, options: ProcessingOptions()),
                outputFolder: dir.path("out-\(caseWidths)"), mapper: try PatientMapper(), caseWidths: caseWidths)
            let scales = await counter.run(inputs).compactMap { outcome -> WorkingScaleUsed? in
                guard case .counted(_, let record, _) = outcome else { return nil }
                return record.workingScale
            }
            #expect(scales.count == 4)
            for (i, scale) in scales.enumerated() {
                if caseWidths && i < 3 {
                    #expect(scale.rule == "case-chromosome-width" && scale.measuredWidth == median)
                } else {
                    #expect(scale.rule == "chromosome-width" && scale.measuredWidth == own[i])
                }
            }
        }
    }
}

@Suite("daemon: a case's cells at the median width of the cells counted so far")
struct DaemonCaseWidthTests {
    private let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("each cell is scaled by the median of its own width and its case's earlier ones; a first cell by its own")
    func runningCaseMedian() async throws {
        let detector = try DeepACEDetector(modelDirectory: repository.appending(path: "Models/default"))
        let spread = try ImageDecoder.decode(
            contentsOf: repository.appending(path: "Tests/Fixtures/real/18-Y2087.145.O.png")
        ).image
        func restyled(_ transform: (Float) -> Float) -> GrayImage {
            GrayImage(width: spread.width, height: spread.height, pixels: spread.pixels.map(transform))
        }
        // Three cells of CASE1 whose own widths differ (16, 17 and 15.2 px: tone curves), counted in this order,
        // then one cell of CASE2 (another content, so not a copy of a CASE1 cell).
        let cells = [
            ("CASE1.001.A.png", spread), ("CASE1.002.A.png", restyled { $0 * $0 }),
            ("CASE1.003.A.png", restyled { pow($0, 0.3) }), ("CASE2.001.A.png", restyled { $0 * 0.98 }),
        ]
        let own = cells.map { CaseWidth.measure($0.1)! }
        #expect(Set(own[0..<3]).count == 3, "three different widths: \(own)")

        for caseWidths in [true, false] {
            let dir = TempDir()
            var config = testConfig(dir)
            config.caseChromosomeWidth = caseWidths
            let pipeline = try openPipeline(config: config, detector: detector, logger: LogCapture().logger)
            var scales: [WorkingScaleUsed] = []
            for (name, image) in cells {
                dir.write("drop/\(name)", try PNGEncoder.encode(image))
                try pipeline.enqueue(dir.path("drop/\(name)"), root: dir.path("drop"))
                #expect(await pipeline.processPending().done == 1)
                let json = dir.path("out/results/\(name.prefix(5))/\(name.dropLast(4)).json")
                let record = try KaryoJSON.decode(ResultRecord.self, from: Data(contentsOf: json))
                scales.append(try #require(record.workingScale))
            }
            for (i, scale) in scales.enumerated() {
                #expect(scale.imageWidth == own[i], "cell \(i) records its own width")
            }
            if caseWidths {
                let median3 = try #require([own[0], own[1], own[2]].quantile(0.5))
                #expect(scales[0].rule == "chromosome-width" && scales[0].measuredWidth == own[0])
                #expect(scales[1].rule == "case-chromosome-width" && scales[1].measuredWidth == (own[0] + own[1]) / 2)
                #expect(scales[2].rule == "case-chromosome-width" && scales[2].measuredWidth == median3)
                #expect(scales[3].rule == "chromosome-width" && scales[3].measuredWidth == own[3])
                let target = try #require(scales[2].targetWidth)
                #expect(scales[2].factor == target / median3 && !scales[2].clamped)
            } else {
                for (i, scale) in scales.enumerated() {
                    #expect(scale.rule == "chromosome-width" && scale.measuredWidth == own[i])
                }
            }
        }
    }
}
