import KaryoSupport
import Testing

@Suite("Quantiles")
struct QuantileTests {
    @Test("quantiles interpolate between order statistics")
    func quantiles() {
        #expect([Double]().quantile(0.5) == nil)
        #expect([3.0].quantile(0.25) == 3)
        #expect([4.0, 1, 3, 2].quantile(0.5) == 2.5)
        #expect([1.0, 2, 3, 4, 5].quantile(0.25) == 2)
    }

    @Test("the median is the middle value, or the mean of the two middle ones")
    func medians() {
        #expect([Double]().median == nil)
        #expect([5.0, 1, 3].median == 3)
        #expect([4.0, 1, 3, 2].median == 2.5)
    }
}
