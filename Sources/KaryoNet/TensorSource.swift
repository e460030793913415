/// Where a network's weights come from: a safetensors file or tensors in memory.
public protocol TensorSource: Sendable {
    /// The tensor `name`, checked against `shape`; throws `KaryoNetError` naming the tensor when it is missing or
    /// mis-shaped.
    func tensor(_ name: String, shape: [Int]?) throws -> Tensor
}

extension SafeTensorsFile: TensorSource {}

/// Tensors held in memory (random weights for `karyocount bench`, small hand-made cases in tests).
public struct InMemoryTensors: TensorSource {
    /// The tensors by name.
    public var tensors: [String: Tensor]

    /// Wraps a dictionary of tensors.
    public init(_ tensors: [String: Tensor]) { self.tensors = tensors }

    public func tensor(_ name: String, shape: [Int]?) throws -> Tensor {
        guard let t = tensors[name] else {
            throw KaryoNetError(.missingTensor, "tensor '\(name)' is missing from the weights")
        }
        if let shape, shape != t.shape {
            throw KaryoNetError(.shapeMismatch, "tensor '\(name)' has shape \(t.shape), expected \(shape)")
        }
        return t
    }
}

extension TensorSource {
    /// A conv (no bias) followed by a batch norm `bn`, folded into one convolution (MODEL.md: BN eps from config).
    func convBN(
        _ conv: String, _ bn: String, out: Int, in inChannels: Int, kernel: Int, stride: Int, padding: Int, eps: Float
    ) throws -> Conv2d {
        let w = try tensor("\(conv).weight", shape: [out, inChannels, kernel, kernel])
        let gamma = try tensor("\(bn).weight", shape: [out]).data
        let beta = try tensor("\(bn).bias", shape: [out]).data
        let mean = try tensor("\(bn).running_mean", shape: [out]).data
        let variance = try tensor("\(bn).running_var", shape: [out]).data
        // The filter is transformed for Winograd once, after folding.
        return Conv2d(weight: w, stride: stride, padding: padding, algorithm: .im2col)
            .foldingBatchNorm(gamma: gamma, beta: beta, mean: mean, variance: variance, eps: eps)
    }

    /// A conv with bias.
    func conv(_ name: String, out: Int, in inChannels: Int, kernel: Int, padding: Int = 0) throws -> Conv2d {
        Conv2d(
            weight: try tensor("\(name).weight", shape: [out, inChannels, kernel, kernel]),
            bias: try tensor("\(name).bias", shape: [out]), padding: padding)
    }

    /// A linear layer with bias.
    func linear(_ name: String, out: Int, in inFeatures: Int) throws -> Linear {
        Linear(
            weight: try tensor("\(name).weight", shape: [out, inFeatures]),
            bias: try tensor("\(name).bias", shape: [out]))
    }
}
