import Foundation
import KaryoImage
import Testing

@testable import KaryoDetect

@Test(.enabled(if: ProcessInfo.processInfo.environment["KARYO_DEV_RAW"] != nil))
func devHarness() throws {
    for path in ProcessInfo.processInfo.environment["KARYO_DEV_RAW"]!.split(separator: ",") {
        let data = try Data(contentsOf: URL(fileURLWithPath: String(path)))
        let w = Int(data.withUnsafeBytes { $0.load(fromByteOffset: 0, as: Int32.self) })
        let h = Int(data.withUnsafeBytes { $0.load(fromByteOffset: 4, as: Int32.self) })
        var px = [Float](repeating: 0, count: w * h)
        _ = px.withUnsafeMutableBytes { data.copyBytes(to: $0, from: 8..<(8 + 4 * w * h)) }
        let image = GrayImage(width: w, height: h, pixels: px)
        var timings: [String: Double] = [:]
        let det = ClassicalDetector()
        let start = Date()
        var dets: [Detection] = []
        for _ in 0..<3 { dets = try det.detect(image, stageTimings: &timings) }
        let ms = Date().timeIntervalSince(start) * 1000 / 3
        let out = try JSONEncoder().encode(dets)
        try out.write(to: URL(fileURLWithPath: String(path) + ".json"))
        print("DEV \(path) count=\(dets.count) ms=\(ms) timings=\(timings)")
    }
}
