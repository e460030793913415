import Foundation

/// `config.json` of a model directory (`"format": "karyocount.model/1"`, Training/MODEL.md); unknown keys are
/// ignored.
public struct ModelConfig: Codable, Sendable, Equatable {
    /// The ResNet backbone.
    public struct Backbone: Codable, Sendable, Equatable {
        /// 18, 34 (basic blocks), 50 or 101 (bottleneck).
        public var depth: Int
        /// Stem and layer-1 planes W (64 in real models; layers use W, 2W, 4W, 8W). Absent means 64.
        public var width: Int?
        /// Only `"bn"` (folded into the convs at load).
        public var norm: String
        /// Batch-norm epsilon.
        public var bn_eps: Float
        /// Image channels (1: grey).
        public var in_channels: Int
    }

    /// The feature pyramid (P3 only).
    public struct FPN: Codable, Sendable, Equatable {
        /// Output channels (256).
        public var channels: Int
    }

    /// Anchor geometry.
    public struct Anchors: Codable, Sendable, Equatable {
        /// Feature stride (8 for P3).
        public var stride: Int
        /// Anchor sizes (sqrt of the area) in model-input pixels.
        public var sizes: [Float]
        /// Height / width ratios.
        public var aspect_ratios: [Float]
        /// The `sizes.count * aspect_ratios.count` base anchors `[x1, y1, x2, y2]`, ratio-major.
        public var base: [[Float]]
    }

    /// Region proposal settings.
    public struct RPN: Codable, Sendable, Equatable {
        public var pre_nms_top_n: Int
        public var post_nms_top_n: Int
        public var nms_thresh: Float
        public var min_size: Float
        public var bbox_weights: [Float]
        public var bbox_clip: Float
    }

    /// RoIAlign settings.
    public struct RoI: Codable, Sendable, Equatable {
        public var output_size: Int
        public var sampling_ratio: Int
        public var aligned: Bool
        public var spatial_scale: Float
    }

    /// The two-FC box head.
    public struct BoxHead: Codable, Sendable, Equatable {
        public var representation_size: Int
        public var num_classes: Int
        public var bbox_weights: [Float]
        public var bbox_clip: Float
        public var score_thresh: Float
        public var min_size: Float
        public var detections_per_img: Int
    }

    /// The Template Module branch.
    public struct Template: Codable, Sendable, Equatable {
        public var enabled: Bool
    }

    /// Post-processing of the box head's detections.
    public struct PostProcess: Codable, Sendable, Equatable {
        public var method: PostProcessMethod
        public var nms_thresh: Float
        public var sigma: Float
        public var delta: Float
        /// Decoded as a Double, so a result says 0.35, not 0.3499999940395355.
        public var count_threshold: Double
    }

    /// Input preparation.
    public struct Input: Codable, Sendable, Equatable {
        public var mean: Float
        public var std: Float
        public var pad_multiple: Int
        public var pad_value: Float
        public var working_scale: WorkingScaleRule
        public var scale: Double
        public var target_chromosome_width: Double?
        public var min_factor: Double?
        public var max_factor: Double?
        /// The background levels and chromosome contrasts of the training spreads (MODEL.md step 2a); nil leaves
        /// every image's grey levels as they are.
        public var intensity_range: IntensityRange?
    }

    /// `input.intensity_range`: `[low, high]` of the background level and of the contrast.
    public struct IntensityRange: Codable, Sendable, Equatable {
        public var background: [Double]
        public var contrast: [Double]
    }

    /// `rescore`: the context rescorer of MODEL.md step 18 (`rescore.safetensors`), valid for the weights whose
    /// SHA-256 it names.
    public struct Rescore: Codable, Sendable, Equatable {
        /// Units of its two hidden layers.
        public var hidden: Int
        /// Features per detection (16).
        public var features: Int
        /// SHA-256 of the `model.safetensors` it was fitted on.
        public var model_sha256: String
    }

    public var format: String
    public var name: String
    public var backbone: Backbone
    public var fpn: FPN
    public var anchors: Anchors
    public var rpn: RPN
    public var roi: RoI
    public var box_head: BoxHead
    public var template: Template
    public var postprocess: PostProcess
    public var input: Input
    /// nil: detections are counted by post-processing's scores.
    public var rescore: Rescore?

    /// Reads and validates `config.json`.
    public static func load(from url: URL) throws -> ModelConfig {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw KaryoNetError(
                .unreadable, "cannot read the model config: \(error.localizedDescription)", file: url.path)
        }
        let config: ModelConfig
        do {
            config = try JSONDecoder().decode(ModelConfig.self, from: data)
        } catch {
            throw KaryoNetError(
                .malformed, "the model config is not a karyocount.model/1 config: \(error)", file: url.path)
        }
        try config.validate(path: url.path)
        return config
    }

    /// Checks the values the engine depends on.
    public func validate(path: String? = nil) throws {
        func fail(_ why: String) -> KaryoNetError { KaryoNetError(.unsupportedConfig, why, file: path) }
        guard format == "karyocount.model/1" else { throw fail("format is '\(format)', expected 'karyocount.model/1'") }
        guard [18, 34, 50, 101].contains(backbone.depth) else {
            throw fail("backbone.depth \(backbone.depth) is not one of 18, 34, 50, 101")
        }
        guard (backbone.width ?? 64) > 0 else { throw fail("backbone.width must be positive") }
        guard backbone.norm == "bn" else { throw fail("backbone.norm '\(backbone.norm)' is not supported (only bn)") }
        guard anchors.base.count == anchors.sizes.count * anchors.aspect_ratios.count,
            anchors.base.allSatisfy({ $0.count == 4 })
        else { throw fail("anchors.base must list sizes x aspect_ratios boxes of 4 numbers") }
        guard rpn.bbox_weights.count == 4, box_head.bbox_weights.count == 4 else {
            throw fail("bbox_weights must have 4 entries")
        }
        guard box_head.num_classes == 2 else { throw fail("box_head.num_classes must be 2 (background, chromosome)") }
        guard roi.aligned, roi.output_size == 7 else { throw fail("only 7x7 RoIAlign with aligned=true is supported") }
        guard input.std != 0, input.pad_multiple > 0 else { throw fail("input.std must be non-zero, pad_multiple > 0") }
        if let range = input.intensity_range {
            guard [range.background, range.contrast].allSatisfy({ $0.count == 2 && $0[0] <= $0[1] }),
                range.contrast[0] >= 1
            else { throw fail("input.intensity_range needs background and contrast as [low, high], contrast >= 1") }
        }
        if let rescore {
            guard rescore.features == ContextRescorer.featureCount, rescore.hidden > 0 else {
                throw fail("rescore needs \(ContextRescorer.featureCount) features and hidden > 0")
            }
            guard input.working_scale == .chromosomeWidth, input.target_chromosome_width != nil else {
                throw fail("rescore needs input.working_scale chromosome-width with a target_chromosome_width")
            }
        }
    }
}

/// How overlapping detections are resolved (`postprocess.method`, Training/MODEL.md step 16).
public enum PostProcessMethod: String, Codable, Sendable, CaseIterable {
    /// Embedding-Guided NMS (the paper's).
    case egNMS = "eg-nms"
    /// Greedy NMS at `nms_thresh`.
    case nms
    /// Gaussian Soft-NMS.
    case softNMS = "soft-nms"

    public init(from decoder: any Decoder) throws {
        self = try decodeChoice(decoder, "postprocess.method")
    }
}

/// How an image is brought to the working scale (`input.working_scale`, Training/MODEL.md step 2).
public enum WorkingScaleRule: String, Codable, Sendable, CaseIterable {
    /// Resize by `input.scale`.
    case fixed
    /// Resize so the measured chromosome width becomes `input.target_chromosome_width`.
    case chromosomeWidth = "chromosome-width"

    public init(from decoder: any Decoder) throws {
        self = try decodeChoice(decoder, "input.working_scale")
    }
}

/// One of a string enum's raw values, or an error naming the key and the values it takes.
private func decodeChoice<Choice: RawRepresentable & CaseIterable>(_ decoder: any Decoder, _ key: String) throws
    -> Choice where Choice.RawValue == String
{
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    guard let choice = Choice(rawValue: text) else {
        let known = Choice.allCases.map(\.rawValue).joined(separator: ", ")
        throw DecodingError.dataCorruptedError(
            in: container, debugDescription: "\(key) '\(text)' is not one of \(known)")
    }
    return choice
}
