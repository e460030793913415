extension Array where Element == Double {
    /// The q-quantile with linear interpolation between order statistics; nil for an empty array.
    public func quantile(_ q: Double) -> Double? {
        guard !isEmpty else { return nil }
        let sorted = self.sorted()
        let position = q * Double(sorted.count - 1)
        let low = Int(position.rounded(.down))
        let high = Swift.min(low + 1, sorted.count - 1)
        return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
    }

    /// The median (the mean of the two middle values for an even count); nil for an empty array.
    public var median: Double? {
        guard !isEmpty else { return nil }
        let sorted = self.sorted()
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}
