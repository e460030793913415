/// A Float32 tensor in NCHW layout, contiguous, row-major (the last dimension varies fastest).
///
/// Feature maps are 4-d `[n, c, h, w]`; matrices (RoI features, FC outputs) are 2-d `[rows, cols]`.
public struct Tensor: Sendable, Equatable {
    /// The extent of each dimension.
    public var shape: [Int]
    /// `shape.reduce(1, *)` values, last dimension fastest.
    public var data: [Float]

    /// Creates a tensor from its shape and contiguous data; `data.count` must equal the product of `shape`.
    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "data count \(data.count) does not match shape \(shape)")
        self.shape = shape
        self.data = data
    }

    /// Creates a tensor filled with one value.
    public init(shape: [Int], value: Float = 0) {
        self.shape = shape
        self.data = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// Creates a tensor without initialising its values (the caller writes every element).
    init(uninitializedShape shape: [Int]) {
        self.shape = shape
        let count = shape.reduce(1, *)
        self.data = [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// Number of elements.
    public var count: Int { data.count }
    /// Channels of an NCHW tensor.
    public var channels: Int { shape[1] }
    /// Height of an NCHW tensor.
    public var height: Int { shape[2] }
    /// Width of an NCHW tensor.
    public var width: Int { shape[3] }
}

extension Tensor {
    /// The largest absolute difference to `other` divided by the largest magnitude in `other` (plus `eps`):
    /// the relative error the golden tests bound.
    public func relativeError(to other: Tensor, eps: Float = 1e-6) -> Float {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        var maxDiff: Float = 0
        var maxRef: Float = 0
        for i in 0..<data.count {
            maxDiff = max(maxDiff, abs(data[i] - other.data[i]))
            maxRef = max(maxRef, abs(other.data[i]))
        }
        return maxDiff / (maxRef + eps)
    }
}

/// Runs `body` with a pointer to `tensor`'s values, or with `nil` when there is no tensor.
func withOptionalPointer<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
    guard let tensor else { return try body(nil) }
    return try tensor.data.withUnsafeBufferPointer { try body($0.baseAddress) }
}
