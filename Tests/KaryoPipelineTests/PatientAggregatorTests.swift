import Foundation
import KaryoTestSupport
import Testing

@testable import KaryoPipeline

/// Images with the given counts, one cell each, numbered from `start`.
private func images(_ counts: [(count: Int, times: Int)], confident: Bool = true, start: Int = 1) -> [ImageCount] {
    var out: [ImageCount] = []
    var cell = start
    for (count, times) in counts {
        for _ in 0..<times {
            let c = String(format: "%03d", cell)
            out.append(ImageCount(stem: "P1.\(c).O", cell: c, count: count, confident: confident))
            cell += 1
        }
    }
    return out
}

private let defaults = AggregatorSettings()

@Suite("Patient aggregator")
struct PatientAggregatorTests {
    @Test("19 images at 47: still collecting, no flag")
    func nineteenAt47() {
        let r = PatientAggregator.report(patient: "P1", images: images([(47, 19)]), settings: defaults)
        #expect(r.state == .collecting)
        #expect(r.flag == nil)
        #expect(r.disagreeing == 19)
        #expect(r.distribution == "modal 47 (47x19; n=19)")
        #expect(!r.reviewNotes.contains { $0.hasPrefix("modal count") })
    }

    @Test("20 images at 47: flag raised with the reason in words")
    func twentyAt47() {
        let r = PatientAggregator.report(patient: "P1", images: images([(47, 20)]), settings: defaults)
        #expect(r.state == .assessed)
        #expect(r.flag?.name == "numerical-abnormality-suspected")
        #expect(r.flag?.reason == "20 of 20 images are not 46: 47 x 20")
        #expect(r.modalCount == 47)
        #expect(r.reviewNotes.contains("modal count 47 is not 46 (n=20)"))
        #expect(r.cloneEvidence.map(\.count) == [47])
        #expect(r.cloneEvidence.first?.cells.count == 20)
    }

    @Test("30 images with 19 disagreeing: no flag")
    func thirtyWithNineteenDisagreeing() {
        let r = PatientAggregator.report(
            patient: "P1", images: images([(46, 11), (47, 10), (45, 9)]), settings: defaults)
        #expect(r.state == .assessed)
        #expect(r.disagreeing == 19)
        #expect(r.flag == nil)
        #expect(r.modalCount == 46)
        #expect(r.distribution == "modal 46 (45x9, 46x11, 47x10; n=30)")
        #expect(r.histogram == ["45": 9, "46": 11, "47": 10])
    }

    @Test("41 images, 21 at 47 and 2 at 45: the design's example reason, modal 47")
    func mixedFlagged() {
        let r = PatientAggregator.report(
            patient: "P1", images: images([(46, 18), (47, 21), (45, 2)]), settings: defaults)
        #expect(r.flag?.reason == "23 of 41 images are not 46: 47 x 21, 45 x 2")
        #expect(r.modalCount == 47)
        #expect(r.distribution == "modal 47 (45x2, 46x18, 47x21; n=41)")
        #expect(r.reviewNotes.contains("modal count 47 is not 46 (n=41)"))
    }

    @Test("the ISCN example distribution: modal 46, no flag, no clone from 2 losses or 1 gain")
    func iscnExample() {
        let r = PatientAggregator.report(
            patient: "P1", images: images([(45, 2), (46, 17), (47, 1)]), settings: defaults)
        #expect(r.distribution == "modal 46 (45x2, 46x17, 47x1; n=20)")
        #expect(r.flag == nil)
        #expect(r.cloneEvidence.isEmpty)
        #expect(r.state == .assessed)
    }

    @Test("clone evidence: the same gain in 2 confident cells, the same loss in 3")
    func cloneEvidenceConfident() {
        let r = PatientAggregator.report(
            patient: "P1", images: images([(46, 10), (47, 2), (45, 3), (44, 2)]), settings: defaults)
        #expect(r.cloneEvidence.map(\.count) == [45, 47])
        #expect(r.cloneEvidence.last?.cells == ["011", "012"])
        #expect(r.reviewNotes.contains("clone evidence (gain): 47 in 2 confident cells (011, 012)"))
        #expect(r.reviewNotes.contains("clone evidence (loss): 45 in 3 confident cells (013, 014, 015)"))
    }

    @Test("clone evidence ignores images with uncertain detections")
    func cloneEvidenceUncertain() {
        var list = images([(46, 10), (47, 2), (45, 3)])
        list[10].confident = false  // one of the two 47s
        list[14].confident = false  // one of the three 45s
        let r = PatientAggregator.report(patient: "P1", images: list, settings: defaults)
        #expect(r.cloneEvidence.isEmpty)
        #expect(r.lowConfidenceImages == ["P1.011.O", "P1.015.O"])
        #expect(r.reviewNotes.contains { $0.hasPrefix("2 images with uncertain detections") })
    }

    @Test("two images of the same cell are one cell for clone evidence")
    func sameCellTwice() {
        let list = [
            ImageCount(stem: "P1.013.A", cell: "013", count: 47, confident: true),
            ImageCount(stem: "P1.013.O", cell: "013", count: 47, confident: true),
        ]
        let r = PatientAggregator.report(patient: "P1", images: list, settings: defaults)
        #expect(r.cloneEvidence.isEmpty)
    }

    @Test("a tie between counts has no modal count (none is picked, not the one nearest 46), and says so")
    func tiedModes() {
        let r = PatientAggregator.report(patient: "P1", images: images([(45, 5), (48, 5)]), settings: defaults)
        #expect(r.modalCount == nil)
        #expect(r.distribution == "no single mode: 45, 48 (45x5, 48x5; n=10)")
        let r2 = PatientAggregator.report(patient: "P1", images: images([(44, 1), (46, 1)]), settings: defaults)
        #expect(r2.modalCount == nil)
        #expect(r2.distribution == "no single mode: 44, 46 (44x1, 46x1; n=2)")
        #expect(!r2.distribution.contains("modal"))
        #expect(r2.reviewNotes.contains("no single mode: 44, 46 are equally frequent"))
        let r3 = PatientAggregator.report(
            patient: "P1", images: images([(45, 10), (47, 10), (46, 1)]), settings: defaults)
        #expect(r3.modalCount == nil && r3.state == .assessed)
        #expect(!r3.reviewNotes.contains { $0.hasPrefix("modal count") })
        #expect(r3.flag?.reason == "20 of 21 images are not 46: 45 x 10, 47 x 10")
    }

    @Test("thresholds come from the settings")
    func configurableThresholds() {
        let s = AggregatorSettings(minImages: 5, minDisagreeing: 3, expectedCount: 46)
        let r = PatientAggregator.report(patient: "P1", images: images([(46, 2), (47, 3)]), settings: s)
        #expect(r.state == .assessed)
        #expect(r.flag?.reason == "3 of 5 images are not 46: 47 x 3")
    }

    @Test("every report says what a count cannot tell")
    func limitationNote() {
        let r = PatientAggregator.report(patient: "P1", images: [], settings: defaults)
        #expect(r.reviewNotes.last == PatientReport.limitation)
        #expect(r.modalCount == nil)
        #expect(r.distribution == "no images counted (n=0)")
    }
}
