import COpenBLAS
import Foundation
import KaryoImage
import KaryoSupport

/// The DeepACEv2 network (Training/MODEL.md steps 5-15): ResNet + FPN (P3 only), RPN with proposal filtering,
/// RoIAlign, the two-FC box head, the Template Module, and the post-processing (EG-NMS, Soft-NMS or NMS).
///
/// Weights are loaded and prepared (batch norm folded, Winograd filters transformed) once; `detect` only reads
/// them, so one network can serve many images. A host process should apply `MemoryPolicy.retainFreedMemory()`
/// at start-up (the `karyocount` command does).
public struct DeepACENetwork: Sendable {
    /// The model's config.
    public let config: ModelConfig
    let backbone: ResNet
    let inner3: Conv2d
    let inner4: Conv2d
    let inner5: Conv2d
    let fpnOut: Conv2d
    let rpnConv: Conv2d
    let rpnLogits: Conv2d
    let rpnDeltas: Conv2d
    let fc6: Linear
    let fc7: Linear
    let clsScore: Linear
    let bboxPred: Linear
    let templateConv: Linear?
    let templateFC: Linear?
    /// The five template masks `T_D, T_TD, T_H, T_V, T_C`, 49 values each (Eq. 1).
    public let templateMasks: [Float]
    /// The base anchors from the config.
    let baseAnchors: [Box]

    /// Number of anchors per feature-map cell.
    public var anchorsPerCell: Int { baseAnchors.count }

    /// Loads every tensor the config's architecture needs from `weights`.
    public init(config: ModelConfig, weights: some TensorSource) throws {
        try config.validate()
        self.config = config
        let f = config.fpn.channels
        backbone = try ResNet(
            depth: config.backbone.depth, width: config.backbone.width ?? 64, inChannels: config.backbone.in_channels,
            eps: config.backbone.bn_eps,
            weights: weights, prefix: "backbone")
        let cs = backbone.featureChannels
        inner3 = try weights.conv("fpn.inner3", out: f, in: cs[0], kernel: 1)
        inner4 = try weights.conv("fpn.inner4", out: f, in: cs[1], kernel: 1)
        inner5 = try weights.conv("fpn.inner5", out: f, in: cs[2], kernel: 1)
        fpnOut = try weights.conv("fpn.layer3", out: f, in: f, kernel: 3, padding: 1)
        let a = config.anchors.base.count
        rpnConv = try weights.conv("rpn.conv", out: f, in: f, kernel: 3, padding: 1)
        rpnLogits = try weights.conv("rpn.cls_logits", out: a, in: f, kernel: 1)
        rpnDeltas = try weights.conv("rpn.bbox_pred", out: 4 * a, in: f, kernel: 1)
        let r = config.box_head.representation_size
        let roiFeatures = f * config.roi.output_size * config.roi.output_size
        fc6 = try weights.linear("roi_heads.fc6", out: r, in: roiFeatures)
        fc7 = try weights.linear("roi_heads.fc7", out: r, in: r)
        clsScore = try weights.linear("roi_heads.cls_score", out: 2, in: r)
        bboxPred = try weights.linear("roi_heads.bbox_pred", out: 8, in: r)
        if config.template.enabled {
            let w = try weights.tensor("roi_heads.template.conv.weight", shape: [1, f, 1, 1])
            templateConv = Linear(
                weight: Tensor(shape: [1, f], data: w.data),
                bias: try weights.tensor("roi_heads.template.conv.bias", shape: [1]))
            templateFC = try weights.linear("roi_heads.template.fc", out: 1, in: 245)
        } else {
            templateConv = nil
            templateFC = nil
        }
        templateMasks = DeepACENetwork.templateMasks()
        baseAnchors = config.anchors.base.map { Box($0[0], $0[1], $0[2], $0[3]) }
    }

    /// The five fixed 7x7 Gaussian template masks of Eq. 1, in the order T_D, T_TD, T_H, T_V, T_C, each row-major
    /// (row r, column c, `xr = r - 3`, `yc = c - 3`).
    public static func templateMasks() -> [Float] {
        var masks: [Float] = []
        let formulas: [(Float, Float) -> Float] = [
            { xr, yc in expf(-(xr - yc) * (xr - yc) / 3) },
            { xr, yc in expf(-(xr + yc) * (xr + yc) / 3) },
            { _, yc in expf(-yc * yc / 3) },
            { xr, _ in expf(-xr * xr / 3) },
            { xr, yc in expf(-abs(xr * xr + yc * yc - 5) / 3) },
        ]
        for formula in formulas {
            for r in 0..<7 {
                for c in 0..<7 { masks.append(formula(Float(r - 3), Float(c - 3))) }
            }
        }
        return masks
    }

    // MARK: - Input preparation

    /// The input of the network for a grey image of `w0` x `h0` values 0...255 (MODEL.md steps 2-4).
    public struct PreparedInput: Sendable {
        /// The normalized, padded `[1, C, Hp, Wp]` tensor.
        public var tensor: Tensor
        /// The working-scale image size before padding.
        public var width: Int
        public var height: Int
        /// The working-scale factor f and how it was chosen.
        public var scale: WorkingScaleUsed
        /// The linear map of grey levels that brought the image into the model's intensity range (step 2a); nil
        /// for a model without one.
        public var intensity: IntensityMap?
        /// The working-scale factor f.
        public var factor: Double { scale.factor }
        /// Multiply source coordinates by these to get working-scale coordinates (`W1 / W0`, `H1 / H0`).
        public var scaleX: Double
        public var scaleY: Double
    }

    /// The working-scale factor for an image of 0...255 values (MODEL.md step 2), with the width it was measured
    /// from. With `given` (the lab's `chromosome_width_px`, or the median over the image's case) the image is
    /// brought to the working scale by that width instead of by its own measurement.
    public func workingScale(
        _ pixels: [Float], width: Int, height: Int, given: GivenChromosomeWidth? = nil
    ) -> WorkingScaleUsed {
        let input = config.input
        let byWidth = input.working_scale == .chromosomeWidth
        let targetWidth = byWidth ? input.target_chromosome_width : nil
        let rule = given?.source.rawValue ?? input.working_scale.rawValue
        let own =
            byWidth && given == nil
            ? WorkingScale.estimateChromosomeWidth(pixels, width: width, height: height) : given?.imageWidth
        guard byWidth, let target = targetWidth, let measured = given?.width ?? own else {
            return WorkingScaleUsed(
                rule: input.working_scale.rawValue, measuredWidth: nil, imageWidth: nil, targetWidth: targetWidth,
                factor: input.scale, clamped: false)
        }
        let raw = target / measured
        let held = min(max(raw, input.min_factor ?? 0.5), input.max_factor ?? 3.0)
        return WorkingScaleUsed(
            rule: rule, measuredWidth: measured, imageWidth: own, targetWidth: target, factor: held * input.scale,
            clamped: held != raw)
    }

    /// Resizes to the working scale, maps the grey levels into the model's intensity range, pads to `pad_multiple`
    /// with `pad_value`, and normalizes (MODEL.md steps 2-4).
    /// `factor` overrides the working-scale rule when given; `givenWidth` is `workingScale`'s `given`.
    public func prepare(
        _ pixels: [Float], width w0: Int, height h0: Int, factor: Double? = nil, givenWidth: GivenChromosomeWidth? = nil
    ) -> PreparedInput {
        let scale =
            factor.map {
                WorkingScaleUsed(
                    rule: WorkingScaleRule.fixed.rawValue, measuredWidth: nil, imageWidth: nil, targetWidth: nil,
                    factor: $0, clamped: false)
            }
            ?? workingScale(pixels, width: w0, height: h0, given: givenWidth)
        let f = scale.factor
        let h1 = max(1, Int((Double(h0) * f + 0.5).rounded(.down)))
        let w1 = max(1, Int((Double(w0) * f + 0.5).rounded(.down)))
        let working =
            (h1, w1) == (h0, w0)
            ? pixels : GrayImage(width: w0, height: h0, pixels: pixels).resized(width: w1, height: h1).pixels
        let input = config.input
        let intensity = input.intensity_range.map { IntensityMap.measure(pixels, range: $0) }
        let (gain, offset) = (Float(intensity?.gain ?? 1), Float(intensity?.offset ?? 0))
        let m = input.pad_multiple
        let (hp, wp) = ((h1 + m - 1) / m * m, (w1 + m - 1) / m * m)
        var x = Tensor(
            shape: [1, config.backbone.in_channels, hp, wp], value: (input.pad_value - input.mean) / input.std)
        x.data.withUnsafeMutableBufferPointer { xp in
            working.withUnsafeBufferPointer { src in
                let (dst, s) = (xp.baseAddress!, src.baseAddress!)
                parallelFor(h1) { y in
                    for c in 0..<config.backbone.in_channels {
                        let row = dst + (c * hp + y) * wp
                        for xx in 0..<w1 { row[xx] = (s[y * w1 + xx] * gain + offset - input.mean) / input.std }
                    }
                }
            }
        }
        return PreparedInput(
            tensor: x, width: w1, height: h1, scale: scale, intensity: intensity, scaleX: Double(w1) / Double(w0),
            scaleY: Double(h1) / Double(h0))
    }

    // MARK: - Stages

    /// ResNet trunk: C3, C4, C5; its FLOPs go to `profile`'s `backbone`.
    public func backboneFeatures(_ x: Tensor, profile: StageProfile? = nil) -> (c3: Tensor, c4: Tensor, c5: Tensor) {
        backbone(x, profile: profile)
    }

    /// FPN top-down pathway emitting P3 only (MODEL.md step 6); its FLOPs go to `profile`'s `fpn`.
    public func pyramidP3(c3: Tensor, c4: Tensor, c5: Tensor, profile: StageProfile? = nil) -> Tensor {
        profile.add(
            flops: inner5.flops(h: c5.height, w: c5.width) + inner4.flops(h: c4.height, w: c4.width)
                + inner3.flops(h: c3.height, w: c3.width) + fpnOut.flops(h: c3.height, w: c3.width),
            to: "fpn")
        let l5 = inner5(c5)
        let l4 = inner4(c4, residual: upsampleNearest(l5, height: c4.height, width: c4.width))
        let l3 = inner3(c3, residual: upsampleNearest(l4, height: c3.height, width: c3.width))
        return fpnOut(l3)
    }

    /// RPN head (MODEL.md step 7): objectness logits `[1, A, Hf, Wf]` and deltas `[1, 4A, Hf, Wf]`; its FLOPs go
    /// to `profile`'s `rpn`.
    public func rpnHead(_ p3: Tensor, profile: StageProfile? = nil) -> (logits: Tensor, deltas: Tensor) {
        profile.add(
            flops: rpnConv.flops(h: p3.height, w: p3.width) + rpnLogits.flops(h: p3.height, w: p3.width)
                + rpnDeltas.flops(h: p3.height, w: p3.width),
            to: "rpn")
        let t = rpnConv(p3, relu: true)
        return (rpnLogits(t), rpnDeltas(t))
    }

    /// Proposals (MODEL.md steps 8-9): top `pre_nms_top_n` logits, decoded against their anchors, clipped to the
    /// unpadded image (`width` x `height`), small boxes dropped, NMS, first `post_nms_top_n`; descending score.
    public func proposals(logits: Tensor, deltas: Tensor, width: Int, height: Int) -> (boxes: [Box], scores: [Float]) {
        let a = anchorsPerCell
        let (hf, wf) = (logits.shape[2], logits.shape[3])
        let plane = hf * wf
        let total = plane * a
        let k = min(config.rpn.pre_nms_top_n, total)
        // Flattened index i = (y * Wf + x) * A + a reads logits[a, y, x].
        let top = logits.data.withUnsafeBufferPointer { lp in
            topK(count: total, k: k) { i in lp[(i % a) * plane + i / a] }
        }
        let stride = Float(config.anchors.stride)
        var boxes: [Box] = []
        var scores: [Float] = []
        boxes.reserveCapacity(k)
        scores.reserveCapacity(k)
        let minSize = config.rpn.min_size
        deltas.data.withUnsafeBufferPointer { dp in
            for (i, logit) in top {
                let anchorIndex = i % a
                let cell = i / a
                let (y, x) = (cell / wf, cell % wf)
                let base = baseAnchors[anchorIndex]
                let sx = Float(x) * stride
                let sy = Float(y) * stride
                let anchor = Box(base.x1 + sx, base.y1 + sy, base.x2 + sx, base.y2 + sy)
                let d = anchorIndex * 4 * plane + cell
                let box = decodeBox(
                    anchor, dp[d], dp[d + plane], dp[d + 2 * plane], dp[d + 3 * plane],
                    weights: config.rpn.bbox_weights,
                    clip: config.rpn.bbox_clip
                ).clipped(width: Float(width), height: Float(height))
                if box.x2 - box.x1 < minSize || box.y2 - box.y1 < minSize { continue }
                boxes.append(box)
                scores.append(1 / (1 + expf(-logit)))
            }
        }
        let keep = nonMaximumSuppression(
            boxes: boxes, scores: scores, threshold: config.rpn.nms_thresh, limit: config.rpn.post_nms_top_n)
        return (keep.map { boxes[$0] }, keep.map { scores[$0] })
    }

    /// RoIAlign of the proposals on P3 (MODEL.md step 12): `[K, 256, 7, 7]`.
    public func roiFeatures(_ p3: Tensor, proposals: [Box]) -> Tensor {
        roiAlign(
            p3, boxes: proposals, outputSize: config.roi.output_size, samplingRatio: config.roi.sampling_ratio,
            spatialScale: config.roi.spatial_scale)
    }

    /// Box head (MODEL.md step 13): chromosome score and the refined, clipped box for each proposal; its FLOPs go
    /// to `profile`'s `roi_head`.
    public func boxHead(_ roi: Tensor, proposals: [Box], width: Int, height: Int, profile: StageProfile? = nil)
        -> (boxes: [Box], scores: [Float])
    {
        let k = proposals.count
        guard k > 0 else { return ([], []) }
        let flat = Tensor(shape: [k, roi.count / k], data: roi.data)
        profile.add(
            flops: 2 * Double(k) * Double(fc6.inFeatures * fc6.outFeatures + fc7.inFeatures * fc7.outFeatures),
            to: "roi_head")
        let h7 = fc7(fc6(flat, relu: true), relu: true)
        let cls = clsScore(h7)
        let reg = bboxPred(h7)
        var boxes: [Box] = []
        var scores: [Float] = []
        for i in 0..<k {
            let (l0, l1) = (cls.data[2 * i], cls.data[2 * i + 1])
            let m = max(l0, l1)
            let e0 = expf(l0 - m)
            let e1 = expf(l1 - m)
            scores.append(e1 / (e0 + e1))
            let d = 8 * i + 4
            boxes.append(
                decodeBox(
                    proposals[i], reg.data[d], reg.data[d + 1], reg.data[d + 2], reg.data[d + 3],
                    weights: config.box_head.bbox_weights, clip: config.box_head.bbox_clip
                ).clipped(width: Float(width), height: Float(height)))
        }
        return (boxes, scores)
    }

    /// The Template Module (Section 2.3, Eq. 1; MODEL.md step 14): `relu(conv1x1(roi))` -> 7x7, times the five
    /// masks -> 245-d, FC -> one embedding per RoI. Zeros when the model has no template branch.
    public func templateModule(_ roi: Tensor) -> [Float] {
        let k = roi.shape[0]
        guard let templateConv, let templateFC, k > 0 else { return [Float](repeating: 0, count: k) }
        let c = roi.shape[1]
        let bins = roi.shape[2] * roi.shape[3]
        var fused = [Float](repeating: 0, count: k * bins)
        roi.data.withUnsafeBufferPointer { rp in
            templateConv.weight.withUnsafeBufferPointer { wp in
                fused.withUnsafeMutableBufferPointer { fp in
                    // fused[k, p] = sum_c w[c] * roi[k, c, p]: a [1 x C] x [C x 49] product per RoI.
                    for i in 0..<k {
                        cblas_sgemv(
                            CblasRowMajor, CblasTrans, Int32(c), Int32(bins), 1, rp.baseAddress! + i * c * bins,
                            Int32(bins), wp.baseAddress!, 1, 0, fp.baseAddress! + i * bins, 1)
                    }
                }
            }
        }
        let b = templateConv.bias[0]
        var masked = [Float](repeating: 0, count: k * 5 * bins)
        for i in 0..<k {
            for t in 0..<5 {
                for p in 0..<bins {
                    masked[(i * 5 + t) * bins + p] = max(fused[i * bins + p] + b, 0) * templateMasks[t * bins + p]
                }
            }
        }
        return templateFC(Tensor(shape: [k, 5 * bins], data: masked)).data
    }

    /// Detections before the score threshold (MODEL.md step 15): candidates with `score > score_thresh` and sides
    /// `>= min_size`, then the configured post-processing; at most `detections_per_img`.
    public func postprocess(boxes: [Box], scores: [Float], embeddings: [Float], method: PostProcessMethod? = nil)
        -> [NetworkDetection]
    {
        var candidates: [Int] = []
        for i in 0..<boxes.count {
            let b = boxes[i]
            if scores[i] > config.box_head.score_thresh && b.x2 - b.x1 >= config.box_head.min_size
                && b.y2 - b.y1 >= config.box_head.min_size
            {
                candidates.append(i)
            }
        }
        let cb = candidates.map { boxes[$0] }
        let cs = candidates.map { scores[$0] }
        let ce = candidates.map { embeddings[$0] }
        let limit = config.box_head.detections_per_img
        let p = config.postprocess
        let picks: [RescoredDetection]
        switch method ?? p.method {
        case .nms:
            picks = nonMaximumSuppression(boxes: cb, scores: cs, threshold: p.nms_thresh, limit: limit).map {
                RescoredDetection(index: $0, score: cs[$0])
            }
        case .softNMS:
            picks = softNMS(boxes: cb, scores: cs, sigma: p.sigma, limit: limit)
        case .egNMS:
            picks = embeddingGuidedNMS(
                boxes: cb, scores: cs, embeddings: ce, delta: p.delta, sigma: p.sigma, limit: limit)
        }
        return picks.map {
            NetworkDetection(box: cb[$0.index], score: $0.score, embedding: ce[$0.index], networkScore: cs[$0.index])
        }
    }

    // MARK: - Whole network

    /// Runs the network on a normalized, padded `[1, C, Hp, Wp]` input whose unpadded part is `width` x `height`.
    /// `profile` receives per-stage milliseconds (backbone, fpn, rpn, roi_head, nms) and the FLOPs of the stages
    /// that multiply (backbone, fpn, rpn, roi_head).
    public func detect(_ x: Tensor, width: Int, height: Int, profile: StageProfile? = nil) -> [NetworkDetection] {
        let (c3, c4, c5) = profile.time("backbone") { backboneFeatures(x, profile: profile) }
        let p3 = profile.time("fpn") { pyramidP3(c3: c3, c4: c4, c5: c5, profile: profile) }
        let proposalBoxes = profile.time("rpn") {
            let (logits, deltas) = rpnHead(p3, profile: profile)
            return proposals(logits: logits, deltas: deltas, width: width, height: height).boxes
        }
        let (boxes, scores, embeddings) = profile.time("roi_head") {
            let roi = roiFeatures(p3, proposals: proposalBoxes)
            let (boxes, scores) = boxHead(roi, proposals: proposalBoxes, width: width, height: height, profile: profile)
            return (boxes, scores, templateModule(roi))
        }
        return profile.time("nms") { postprocess(boxes: boxes, scores: scores, embeddings: embeddings) }
    }
}

/// A detection in the network's input pixels (before mapping back to source pixels).
public struct NetworkDetection: Sendable, Equatable {
    public var box: Box
    /// Post-processing's score.
    public var score: Float
    public var embedding: Float
    /// The box head's score, before post-processing lowered it.
    public var networkScore: Float
}

/// The `k` largest of `count` values (read through `value`), sorted descending (ties: lower index first),
/// as `(index, value)`. Finds the k-th value by selection, then sorts only the survivors.
func topK(count: Int, k: Int, value: (Int) -> Float) -> [(Int, Float)] {
    guard k > 0 else { return [] }
    var values = [Float](unsafeUninitializedCapacity: count) { buf, n in
        for i in 0..<count { buf[i] = value(i) }
        n = count
    }
    var picked: [(Int, Float)] = []
    if k < count {
        var scratch = values
        let threshold = quickSelect(&scratch, k - 1)
        var above = 0
        for v in values where v > threshold { above += 1 }
        var equalNeeded = k - above
        picked.reserveCapacity(k)
        for i in 0..<count {
            let v = values[i]
            if v > threshold {
                picked.append((i, v))
            } else if v == threshold && equalNeeded > 0 {
                picked.append((i, v))
                equalNeeded -= 1
            }
        }
    } else {
        picked = values.enumerated().map { ($0.offset, $0.element) }
    }
    values = []
    picked.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
    return picked
}

/// The value that would be at position `n` if `a` were sorted descending (Hoare selection; reorders `a`).
private func quickSelect(_ a: inout [Float], _ n: Int) -> Float {
    var lo = 0
    var hi = a.count - 1
    while lo < hi {
        let pivot = a[(lo + hi) / 2]
        var i = lo
        var j = hi
        while i <= j {
            while a[i] > pivot { i += 1 }
            while a[j] < pivot { j -= 1 }
            if i <= j {
                a.swapAt(i, j)
                i += 1
                j -= 1
            }
        }
        if n <= j {
            hi = j
        } else if n >= i {
            lo = i
        } else {
            return a[n]
        }
    }
    return a[n]
}
