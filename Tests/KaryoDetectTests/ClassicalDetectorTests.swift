import Foundation
import KaryoImage
import Testing

@testable import KaryoDetect

/// Counted detections: the pipeline's default score threshold.
private func counted(_ detections: [Detection], threshold: Double = 0.5) -> [Detection] {
    detections.filter { $0.score >= threshold }
}

private func detect(_ image: GrayImage, _ detector: ClassicalDetector = ClassicalDetector()) throws -> [Detection] {
    return try detector.detect(image)
}

/// Largest difference between two boxes' edges, in pixels.
private func edgeError(_ a: BoundingBox, _ b: BoundingBox) -> Double {
    max(abs(a.x1 - b.x1), abs(a.y1 - b.y1), abs(a.x2 - b.x2), abs(a.y2 - b.y2))
}

/// For each expected box, the detection with the highest IoU (nil when none overlaps).
private func bestMatches(_ expected: [BoundingBox], in detections: [Detection]) -> [BoundingBox?] {
    expected.map { e in detections.max { $0.box.iou(e) < $1.box.iou(e) }.map(\.box).flatMap { $0.iou(e) > 0 ? $0 : nil }
    }
}

/// Eight separate rods of different lengths and angles, well apart, in a 1000 x 800 field.
private let separateRods: [SyntheticSpread.Rod] = [
    .init(x1: 150, y1: 150, x2: 230, y2: 150, r: 9),
    .init(x1: 400, y1: 120, x2: 400, y2: 200, r: 9),
    .init(x1: 600, y1: 140, x2: 660, y2: 190, r: 8),
    .init(x1: 820, y1: 130, x2: 790, y2: 210, r: 9),
    .init(x1: 160, y1: 420, x2: 200, y2: 470, r: 8),
    .init(x1: 380, y1: 400, x2: 470, y2: 430, r: 10),
    .init(x1: 640, y1: 420, x2: 650, y2: 470, r: 8),
    .init(x1: 820, y1: 400, x2: 870, y2: 480, r: 9),
]

@Suite("Classical detector on synthetic spreads")
struct ClassicalSyntheticTests {
    @Test("separate dark rods on an unevenly lit background are each boxed to within 2 px")
    func separateRodsAreBoxed() throws {
        let spread = SyntheticSpread(width: 1000, height: 800, rods: separateRods, unevenness: 0.15)
        let found = counted(try detect(spread.render()))
        #expect(found.count == separateRods.count)
        for (rod, match) in zip(separateRods, bestMatches(separateRods.map(\.expectedBox), in: found)) {
            let box = try #require(match, "rod \(rod) not found")
            #expect(edgeError(box, rod.expectedBox) <= 2, "rod \(rod.expectedBox) boxed as \(box)")
        }
    }

    @Test("detections are sorted by descending score and scores lie in 0...1")
    func detectionsAreSortedAndBounded() throws {
        let spread = SyntheticSpread(width: 1000, height: 800, rods: separateRods)
        let all = try detect(spread.render())
        #expect(!all.isEmpty)
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.score >= $1.score })
        #expect(all.allSatisfy { (0...1).contains($0.score) })
    }

    /// The tips overlap by about 3 px, as touching chromosomes do.
    @Test("two rods touching tip to tip at an angle are split into two boxes")
    func touchingRodsAreSplit() throws {
        let pair: [SyntheticSpread.Rod] = [
            .init(x1: 300, y1: 620, x2: 370, y2: 620, r: 9),
            .init(x1: 384, y1: 624, x2: 420, y2: 690, r: 9),
        ]
        let spread = SyntheticSpread(width: 1000, height: 800, rods: separateRods + pair)
        let found = counted(try detect(spread.render()))
        #expect(found.count == separateRods.count + 2)
        for (rod, match) in zip(pair, bestMatches(pair.map(\.expectedBox), in: found)) {
            let box = try #require(match)
            #expect(box.iou(rod.expectedBox) >= 0.7, "rod \(rod.expectedBox) boxed as \(box)")
        }
    }

    @Test("a long rod with a centromere constriction is one chromosome, not two")
    func centromereIsNotACut() throws {
        let long = SyntheticSpread.Rod(x1: 300, y1: 560, x2: 420, y2: 700, r: 10, waist: 0.6)
        let spread = SyntheticSpread(width: 1000, height: 800, rods: separateRods + [long])
        let found = counted(try detect(spread.render()))
        #expect(found.count == separateRods.count + 1)
        let box = try #require(bestMatches([long.expectedBox], in: found)[0])
        #expect(edgeError(box, long.expectedBox) <= 2)
    }

    @Test("an interphase nucleus, dust specks and a faint smudge are not counted")
    func nucleusAndDustAreNotCounted() throws {
        var disks: [SyntheticSpread.Disk] = [.init(cx: 500, cy: 640, r: 80, darkness: 0.4)]
        for i in 0..<8 { disks.append(.init(cx: 120 + Double(i) * 100, cy: 300, r: 2, darkness: 0.5)) }
        disks.append(.init(cx: 160, cy: 650, r: 12, darkness: 0.06))
        let spread = SyntheticSpread(width: 1000, height: 800, rods: separateRods, disks: disks)
        let found = counted(try detect(spread.render()))
        #expect(found.count == separateRods.count)
        #expect(!found.contains { $0.box.iou(BoundingBox(x1: 420, y1: 560, x2: 580, y2: 720)) > 0.1 })
    }

    @Test("an empty image and a noise-only image give no detections")
    func emptyImagesGiveNothing() throws {
        #expect(try detect(GrayImage(width: 640, height: 480, value: 0.9)).isEmpty)
        #expect(try detect(GrayImage(width: 640, height: 480, value: 0)).isEmpty)
        let noise = SyntheticSpread(width: 640, height: 480, unevenness: 0.1, noise: 0.03)
        #expect(counted(try detect(noise.render())).isEmpty)
        #expect(try detect(GrayImage(width: 3, height: 2, value: 0.5)).isEmpty)
    }

    @Test("a frame line around the field of view is neither counted nor shifts the boxes")
    func frameLineIsIgnored() throws {
        let spread = SyntheticSpread(width: 1000, height: 800, rods: separateRods, frameInset: 40)
        let found = counted(try detect(spread.render()))
        #expect(found.count == separateRods.count)
        for (rod, match) in zip(separateRods, bestMatches(separateRods.map(\.expectedBox), in: found)) {
            let box = try #require(match)
            #expect(edgeError(box, rod.expectedBox) <= 2, "rod \(rod.expectedBox) boxed as \(box)")
        }
    }

    @Test("the same spread exported at 0.7x and 1.6x gives the same count", arguments: [0.7, 1.6])
    func countDoesNotDependOnExportSize(scale: Double) throws {
        let rods = separateRods.map { $0.scaled(scale) }
        let spread = SyntheticSpread(
            width: Int(1000 * scale), height: Int(800 * scale), rods: rods)
        let found = counted(try detect(spread.render()))
        #expect(found.count == rods.count)
        for (rod, match) in zip(rods, bestMatches(rods.map(\.expectedBox), in: found)) {
            let box = try #require(match)
            #expect(box.iou(rod.expectedBox) >= 0.8)
        }
    }
}
