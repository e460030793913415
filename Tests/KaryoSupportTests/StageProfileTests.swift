import KaryoSupport
import Testing

@Suite("Stage profile")
struct StageProfileTests {
    @Test("a stage run twice holds the sum of both runs; FLOPs add up per stage; the body's value comes back")
    func sumsPerStage() {
        let profile = StageProfile()
        let first = profile.time("nms") { 7 }
        profile.add(milliseconds: 2.5, to: "nms")
        profile.add(milliseconds: 1, to: "write")
        profile.add(flops: 3e9, to: "backbone")
        profile.add(flops: 1e9, to: "backbone")
        #expect(first == 7)
        let nms = profile.milliseconds["nms"] ?? 0
        #expect(nms >= 2.5 && nms < 1000)
        #expect(profile.milliseconds["write"] == 1)
        #expect(profile.flops == ["backbone": 4e9])
    }

    @Test("without a profile the body still runs and no FLOP count is computed")
    func noProfile() {
        let none: StageProfile? = nil
        var ran = false
        var counted = false
        func flops() -> Double {
            counted = true
            return 1
        }
        none.time("detect") { ran = true }
        none.add(flops: flops(), to: "backbone")
        #expect(ran && !counted)
    }
}
