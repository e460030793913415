/// A small seeded generator (SplitMix64): the same sequence on every machine, for random weights and for tests
/// whose failures must reproduce from their seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's state; the next value advances it.
    public var state: UInt64

    /// Starts the sequence at `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    public mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}
