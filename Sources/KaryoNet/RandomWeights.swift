import Foundation
import KaryoSupport

extension ModelConfig {
    /// The MODEL.md defaults for a ResNet of `depth` (what `karyocount bench` uses without `--model`).
    public static func standard(depth: Int) -> ModelConfig {
        let sizes: [Float] = [32, 64, 96, 128]
        let ratios: [Float] = [0.2, 0.25, 1.0 / 3.0, 0.5, 1, 2, 3, 4, 5]
        return ModelConfig(
            format: "karyocount.model/1", name: "random-r\(depth)",
            backbone: Backbone(depth: depth, width: 64, norm: "bn", bn_eps: 1e-5, in_channels: 1),
            fpn: FPN(channels: 256),
            anchors: Anchors(
                stride: 8, sizes: sizes, aspect_ratios: ratios, base: baseAnchors(sizes: sizes, ratios: ratios)),
            rpn: RPN(
                pre_nms_top_n: 6000, post_nms_top_n: 300, nms_thresh: 0.7, min_size: 1e-3, bbox_weights: [1, 1, 1, 1],
                bbox_clip: Float(log(1000.0 / 16.0))),
            roi: RoI(output_size: 7, sampling_ratio: 2, aligned: true, spatial_scale: 0.125),
            box_head: BoxHead(
                representation_size: 1024, num_classes: 2, bbox_weights: [10, 10, 5, 5],
                bbox_clip: Float(log(1000.0 / 16.0)), score_thresh: 0.05, min_size: 1e-2, detections_per_img: 100),
            template: Template(enabled: true),
            postprocess: PostProcess(method: .egNMS, nms_thresh: 0.5, sigma: 0.5, delta: 0.3, count_threshold: 0.5),
            input: Input(
                mean: 128, std: 64, pad_multiple: 32, pad_value: 255, working_scale: .fixed, scale: 1,
                target_chromosome_width: nil, min_factor: 0.5, max_factor: 3.0))
    }

    /// torchvision's `AnchorGenerator.generate_anchors` in Float32: ratio-major, size-minor,
    /// `round([-w, -h, w, h] / 2)` with round-half-to-even.
    public static func baseAnchors(sizes: [Float], ratios: [Float]) -> [[Float]] {
        var out: [[Float]] = []
        for r in ratios {
            let hRatio = r.squareRoot()
            let wRatio = 1 / hRatio
            for s in sizes {
                let w = wRatio * s
                let h = hRatio * s
                out.append([-w / 2, -h / 2, w / 2, h / 2].map { $0.rounded(.toNearestOrEven) })
            }
        }
        return out
    }

    /// Every tensor name and shape the architecture needs (the safetensors contract of MODEL.md).
    public func tensorShapes() -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        func bn(_ name: String, _ c: Int) {
            for field in ["weight", "bias", "running_mean", "running_var"] { shapes["\(name).\(field)"] = [c] }
        }
        let base = backbone.width ?? 64
        shapes["backbone.conv1.weight"] = [base, backbone.in_channels, 7, 7]
        bn("backbone.bn1", base)
        let bottleneck = backbone.depth >= 50
        var inC = base
        for (li, count) in ResNet.blockCounts(depth: backbone.depth).enumerated() {
            let width = base << li
            let outC = bottleneck ? width * 4 : width
            for bi in 0..<count {
                let p = "backbone.layer\(li + 1).\(bi)"
                if bottleneck {
                    shapes["\(p).conv1.weight"] = [width, inC, 1, 1]
                    shapes["\(p).conv2.weight"] = [width, width, 3, 3]
                    shapes["\(p).conv3.weight"] = [outC, width, 1, 1]
                    bn("\(p).bn1", width)
                    bn("\(p).bn2", width)
                    bn("\(p).bn3", outC)
                } else {
                    shapes["\(p).conv1.weight"] = [width, inC, 3, 3]
                    shapes["\(p).conv2.weight"] = [width, width, 3, 3]
                    bn("\(p).bn1", width)
                    bn("\(p).bn2", width)
                }
                if bi == 0 && (li > 0 || inC != outC) {
                    shapes["\(p).downsample.0.weight"] = [outC, inC, 1, 1]
                    bn("\(p).downsample.1", outC)
                }
                inC = outC
            }
        }
        let f = fpn.channels
        let cs = [2, 4, 8].map { $0 * base * (bottleneck ? 4 : 1) }
        for (i, c) in cs.enumerated() {
            shapes["fpn.inner\(i + 3).weight"] = [f, c, 1, 1]
            shapes["fpn.inner\(i + 3).bias"] = [f]
        }
        shapes["fpn.layer3.weight"] = [f, f, 3, 3]
        shapes["fpn.layer3.bias"] = [f]
        let a = anchors.base.count
        shapes["rpn.conv.weight"] = [f, f, 3, 3]
        shapes["rpn.conv.bias"] = [f]
        shapes["rpn.cls_logits.weight"] = [a, f, 1, 1]
        shapes["rpn.cls_logits.bias"] = [a]
        shapes["rpn.bbox_pred.weight"] = [4 * a, f, 1, 1]
        shapes["rpn.bbox_pred.bias"] = [4 * a]
        let r = box_head.representation_size
        let s = roi.output_size
        shapes["roi_heads.fc6.weight"] = [r, f * s * s]
        shapes["roi_heads.fc6.bias"] = [r]
        shapes["roi_heads.fc7.weight"] = [r, r]
        shapes["roi_heads.fc7.bias"] = [r]
        shapes["roi_heads.cls_score.weight"] = [2, r]
        shapes["roi_heads.cls_score.bias"] = [2]
        shapes["roi_heads.bbox_pred.weight"] = [8, r]
        shapes["roi_heads.bbox_pred.bias"] = [8]
        if template.enabled {
            shapes["roi_heads.template.conv.weight"] = [1, f, 1, 1]
            shapes["roi_heads.template.conv.bias"] = [1]
            shapes["roi_heads.template.fc.weight"] = [1, 245]
            shapes["roi_heads.template.fc.bias"] = [1]
        }
        return shapes
    }

    /// Seeded random weights for every tensor (He-uniform convs and linears, identity batch norms with a damped last
    /// norm per block so activations stay finite): for speed measurements, never for counting.
    public func randomWeights(seed: UInt64 = 1) -> InMemoryTensors {
        var rng = SplitMix64(seed: seed)
        var tensors: [String: Tensor] = [:]
        for (name, shape) in tensorShapes().sorted(by: { $0.key < $1.key }) {
            let count = shape.reduce(1, *)
            var data = [Float](repeating: 0, count: count)
            if name.hasSuffix("running_var") {
                data = [Float](repeating: 1, count: count)
            } else if name.hasSuffix("running_mean") || (name.hasSuffix(".bias") && shape.count == 1) {
                data = [Float](repeating: 0, count: count)
                if !isNorm(name, in: shape) { for i in 0..<count { data[i] = 0.01 * rng.uniform() } }
            } else if isNorm(name, in: shape) {
                let damp: Float = name.contains(".bn3.") || name.contains(".bn2.") && backbone.depth < 50 ? 0.2 : 1
                data = [Float](repeating: damp, count: count)
            } else {
                let fanIn = shape.dropFirst().reduce(1, *)
                let bound = (6 / Float(fanIn)).squareRoot()
                for i in 0..<count { data[i] = bound * rng.uniform() }
            }
            tensors[name] = Tensor(shape: shape, data: data)
        }
        return InMemoryTensors(tensors)
    }

    private func isNorm(_ name: String, in shape: [Int]) -> Bool {
        shape.count == 1 && (name.contains(".bn") || name.contains("downsample.1"))
    }
}
