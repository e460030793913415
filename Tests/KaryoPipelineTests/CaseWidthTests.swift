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
        // width is 14, 16.1 and 11.3 px). Case CASE2: one cell.
        dir.write("in/CASE1.001.A.png", try PNGEncoder.encode(spread))
        dir.write("in/CASE1.002.A.png", try PNGEncoder.encode(restyled { $0 * $0 }))
        dir.write("in/CASE1.003.A.png", try PNGEncoder.encode(restyled { $0.squareRoot() }))
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
