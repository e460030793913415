import KaryoSupport

/// A torchvision-layout ResNet trunk (MODEL.md step 5) with batch norm folded into its convs, producing
/// C3, C4 and C5 (strides 8, 16, 32).
public struct ResNet: Sendable {
    /// One residual block: basic (two 3x3) or bottleneck (1x1, 3x3 with the stride, 1x1; torchvision v1.5).
    struct Block: Sendable {
        var convs: [Conv2d]
        var downsample: Conv2d?

        func callAsFunction(_ x: Tensor, profile: StageProfile?) -> Tensor {
            var identity = x
            if let downsample {
                profile.add(flops: downsample.flops(h: x.height, w: x.width), to: ResNet.stage)
                identity = downsample(x)
            }
            var y = x
            for (i, conv) in convs.enumerated() {
                profile.add(flops: conv.flops(h: y.height, w: y.width), to: ResNet.stage)
                y = i == convs.count - 1 ? conv(y, relu: true, residual: identity) : conv(y, relu: true)
            }
            return y
        }
    }

    /// 18, 34, 50 or 101.
    public let depth: Int
    let stem: Conv2d
    let layers: [[Block]]

    /// Stem planes W (64 in real models).
    public let width: Int

    /// Channels of C3, C4, C5: 2W, 4W, 8W, times 4 for bottleneck blocks.
    public var featureChannels: [Int] { [2, 4, 8].map { $0 * width * (depth >= 50 ? 4 : 1) } }

    /// Blocks per layer for a depth.
    static func blockCounts(depth: Int) -> [Int] {
        switch depth {
        case 18: return [2, 2, 2, 2]
        case 34, 50: return [3, 4, 6, 3]
        default: return [3, 4, 23, 3]
        }
    }

    /// Loads the trunk's weights under `prefix` (e.g. `backbone`).
    public init(
        depth: Int, width base: Int = 64, inChannels: Int, eps: Float, weights: some TensorSource, prefix: String
    )
        throws
    {
        self.depth = depth
        self.width = base
        let bottleneck = depth >= 50
        let expansion = bottleneck ? 4 : 1
        stem = try weights.convBN(
            "\(prefix).conv1", "\(prefix).bn1", out: base, in: inChannels, kernel: 7, stride: 2, padding: 3, eps: eps)
        var layers: [[Block]] = []
        var inC = base
        for (li, count) in ResNet.blockCounts(depth: depth).enumerated() {
            let width = base << li
            var blocks: [Block] = []
            for bi in 0..<count {
                let stride = (bi == 0 && li > 0) ? 2 : 1
                let p = "\(prefix).layer\(li + 1).\(bi)"
                var convs: [Conv2d] = []
                if bottleneck {
                    convs.append(
                        try weights.convBN(
                            "\(p).conv1", "\(p).bn1", out: width, in: inC, kernel: 1, stride: 1, padding: 0, eps: eps))
                    convs.append(
                        try weights.convBN(
                            "\(p).conv2", "\(p).bn2", out: width, in: width, kernel: 3, stride: stride, padding: 1,
                            eps: eps))
                    convs.append(
                        try weights.convBN(
                            "\(p).conv3", "\(p).bn3", out: width * 4, in: width, kernel: 1, stride: 1, padding: 0,
                            eps: eps))
                } else {
                    convs.append(
                        try weights.convBN(
                            "\(p).conv1", "\(p).bn1", out: width, in: inC, kernel: 3, stride: stride, padding: 1,
                            eps: eps))
                    convs.append(
                        try weights.convBN(
                            "\(p).conv2", "\(p).bn2", out: width, in: width, kernel: 3, stride: 1, padding: 1, eps: eps)
                    )
                }
                var downsample: Conv2d?
                if bi == 0 && (stride != 1 || inC != width * expansion) {
                    downsample = try weights.convBN(
                        "\(p).downsample.0", "\(p).downsample.1", out: width * expansion, in: inC, kernel: 1,
                        stride: stride, padding: 0, eps: eps)
                }
                blocks.append(Block(convs: convs, downsample: downsample))
                inC = width * expansion
            }
            layers.append(blocks)
        }
        self.layers = layers
    }

    /// The profile stage the trunk's FLOPs are counted in.
    public static let stage = "backbone"

    /// Runs the trunk on `[1, inChannels, H, W]`; returns C3, C4, C5 and adds the convolution FLOPs to `profile`.
    public func callAsFunction(_ x: Tensor, profile: StageProfile? = nil) -> (c3: Tensor, c4: Tensor, c5: Tensor) {
        profile.add(flops: stem.flops(h: x.height, w: x.width), to: Self.stage)
        var y = maxPool2d(stem(x, relu: true))
        var outputs: [Tensor] = []
        for (index, layer) in layers.enumerated() {
            for block in layer { y = block(y, profile: profile) }
            if index > 0 { outputs.append(y) }
        }
        return (outputs[0], outputs[1], outputs[2])
    }
}
