import ArgumentParser
import Foundation
import KaryoDetect
import KaryoImage
import KaryoNet
import KaryoSupport

/// `karyocount bench`: times the DeepACEv2 engine stage by stage on a generated image, beside the machine's own
/// sgemm rate measured in the same run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the DeepACEv2 engine per stage, with FLOPs, GFLOP/s, this machine's sgemm rate and peak RSS.")

    @Option(help: "Model directory (config.json + model.safetensors); random weights when omitted.")
    var model: String?

    @Option(help: "ResNet depth for random weights (18, 34, 50, 101); ignored with --model.")
    var depth: Int = 101

    @Option(help: "Image size WIDTHxHEIGHT.")
    var size: String = "1600x1200"

    @Option(help: "Timed runs (after one warm-up run).")
    var runs: Int = 3

    @Option(help: "Time decoding this file (e.g. a 1600x1200 16-bit TIFF, 21 runs) and run the engine on its pixels.")
    var decode: String?

    @Flag(help: "With --decode: time decoding only, not the engine.")
    var decodeOnly = false

    @Option(
        help: ArgumentHelp(
            "Time one 3x3 stride-1 convolution CHANNELSxHEIGHTxWIDTH (e.g. 256x75x100) with each algorithm instead of "
                + "the engine.", valueName: "CxHxW"))
    var conv: String?

    @Flag(help: "Print the results as JSON.")
    var json = false

    func run() async throws {
        let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] > 0 else {
            throw ValidationError("--size must be WIDTHxHEIGHT, e.g. 1600x1200")
        }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        if let conv {
            try benchConvolution(conv)
            return
        }
        var (width, height) = (parts[0], parts[1])
        var decodedImage: GrayImage?
        var decodeMs: Double?
        if let decode {
            let url = URL(fileURLWithPath: decode)
            var times: [Double] = []
            for run in 0...21 {
                var clock = Stopwatch()
                decodedImage = try ImageDecoder.decode(contentsOf: url).image
                let ms = clock.lap()
                if run > 0 { times.append(ms) }
            }
            decodeMs = times.median
            width = decodedImage!.width
            height = decodedImage!.height
            let line = String(
                format: "decode       %9.1f ms  (median of 21, %@, %dx%d)", decodeMs!, decode, width, height)
            if decodeOnly {
                print(line)
                return
            }
        } else if decodeOnly {
            throw ValidationError("--decode-only needs --decode FILE")
        }
        var clock = Stopwatch()
        let detector: DeepACEDetector
        if let model {
            detector = try DeepACEDetector(modelDirectory: URL(fileURLWithPath: model))
        } else {
            guard [18, 34, 50, 101].contains(depth) else { throw ValidationError("--depth must be 18, 34, 50 or 101") }
            let config = ModelConfig.standard(depth: depth)
            let network = try DeepACENetwork(config: config, weights: config.randomWeights(seed: 1))
            detector = DeepACEDetector(network: network, modelName: config.name, modelSHA256: nil)
        }
        let loadMs = clock.lap()
        let image = decodedImage ?? Self.syntheticSpread(width: width, height: height)
        var timings: [[String: Double]] = []
        var flops: [String: Double] = [:]
        var count = 0
        for run in 0...runs {
            let profile = StageProfile()
            let detections = try profile.time("total") { try detector.detect(image, profile: profile) }
            if run > 0 {
                timings.append(profile.milliseconds)
                flops = profile.flops
            }
            count = detections.filter { $0.score >= detector.countThreshold }.count
        }
        let sgemm = SgemmRate.measure(n: 2048, repeats: 3)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakRSSMB = Double(usage.ru_maxrss) / 1024
        let stages = ["normalize", "backbone", "fpn", "rpn", "roi_head", "nms", "rescore", "total"]
        var medians: [String: Double] = [:]
        for stage in stages { medians[stage] = timings.map { $0[stage] ?? 0 }.median ?? 0 }
        let convFlops = (flops["backbone"] ?? 0) + (flops["fpn"] ?? 0)
        let convMs = (medians["backbone"] ?? 0) + (medians["fpn"] ?? 0)
        let convRate = convFlops / (convMs / 1000) / 1e9
        let totalFlops = flops.values.reduce(0, +)
        var report: [String: Any] = [
            "model": detector.modelName ?? "", "depth": detector.network.config.backbone.depth,
            "size": [width, height], "runs": runs, "load_ms": loadMs,
            "median_ms": medians, "flops": flops, "total_gflop": totalFlops / 1e9,
            "conv_gflops_per_s": convRate, "sgemm_gflops_per_s": sgemm,
            "conv_fraction_of_sgemm": convRate / sgemm, "peak_rss_mb": peakRSSMB, "count": count,
            "openblas_threads": SgemmRate.threads,
        ]
        if let decodeMs { report["decode_median_ms"] = decodeMs }
        if json {
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(
            "DeepACEv2 bench: ResNet-\(detector.network.config.backbone.depth) P3, \(width)x\(height), "
                + "model \(detector.modelName ?? "?"), \(runs) runs (+1 warm-up), "
                + "OpenBLAS threads \(SgemmRate.threads)")
        if let decodeMs, let decode {
            print(String(format: "decode       %9.1f ms  (median of 21, %@)", decodeMs, decode))
        } else {
            print("decode       not timed (pass --decode FILE)")
        }
        for stage in stages {
            let ms = medians[stage] ?? 0
            var line = stage.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: "%9.1f ms", ms)
            if let f = flops[stage], f > 0 {
                line += String(format: "   %7.1f GFLOP  %6.1f GFLOP/s", f / 1e9, f / (ms / 1000) / 1e9)
            }
            print(line)
        }
        print(
            String(
                format: "total FLOPs  %.1f GFLOP (as direct convolution; Winograd layers multiply 2.25x less)",
                totalFlops / 1e9))
        print(
            String(
                format: "conv stages  %.1f GFLOP/s (backbone + FPN) = %.0f%% of sgemm %.1f GFLOP/s (2048^3, this run)",
                convRate, 100 * convRate / sgemm, sgemm))
        print(String(format: "peak RSS     %.0f MB", peakRSSMB))
        print(String(format: "load         %.0f ms; count at threshold: %d", loadMs, count))
    }

    /// Times a C->C 3x3 stride-1 padding-1 convolution on a random `[1, C, H, W]` input with each algorithm
    /// (median of `runs` after a warm-up) and prints ms, GFLOP/s of the direct FLOP count and their difference.
    private func benchConvolution(_ spec: String) throws {
        let dims = spec.lowercased().split(separator: "x").compactMap { Int($0) }
        guard dims.count == 3, dims.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--conv must be CHANNELSxHEIGHTxWIDTH, e.g. 256x75x100")
        }
        let (c, h, w) = (dims[0], dims[1], dims[2])
        var rng = SplitMix64(seed: 7)
        let x = Tensor(shape: [1, c, h, w], data: (0..<(c * h * w)).map { _ in rng.uniform() })
        let weight = Tensor(shape: [c, c, 3, 3], data: (0..<(c * c * 9)).map { _ in rng.uniform() * 0.05 })
        var outputs: [Tensor] = []
        for algorithm in Conv2d.Algorithm.allCases {
            let layer = Conv2d(weight: weight, padding: 1, algorithm: algorithm)
            var times: [Double] = []
            var y = layer(x, relu: true)
            for _ in 0..<runs {
                var clock = Stopwatch()
                y = layer(x, relu: true)
                times.append(clock.lap())
            }
            outputs.append(y)
            let ms = times.median ?? 0
            let gflop = layer.flops(h: h, w: w) / 1e9
            print(
                String(
                    format: "%-12@ %3dx%dx%d 3x3  %8.2f ms  %6.2f GFLOP (direct)  %6.1f GFLOP/s", algorithm.rawValue, c,
                    h,
                    w, ms, gflop, gflop / (ms / 1000)))
        }
        for (algorithm, y) in zip(Conv2d.Algorithm.allCases, outputs).dropFirst() {
            print(
                String(
                    format: "%@ vs im2col: relative difference %.2e", algorithm.rawValue,
                    y.relativeError(to: outputs[0])))
        }
    }

    /// The median of `values` (mean of the middle two for an even count).
    /// A light background with dark rod-like blobs, so the pipeline sees a spread-like image.
    static func syntheticSpread(width: Int, height: Int) -> GrayImage {
        var image = GrayImage(width: width, height: height, value: 0.9)
        var rng = SplitMix64(seed: 12345)
        func next() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        for _ in 0..<46 {
            let cx = next() * Double(width)
            let cy = next() * Double(height)
            let angle = next() * .pi
            let length = 32 + next() * 96
            let halfWidth = 4 + next() * 4
            let (dx, dy) = (cos(angle), sin(angle))
            let r = Int(length / 2 + halfWidth) + 1
            for y in max(0, Int(cy) - r)..<min(height, Int(cy) + r) {
                for x in max(0, Int(cx) - r)..<min(width, Int(cx) + r) {
                    let px = Double(x) - cx
                    let py = Double(y) - cy
                    let along = px * dx + py * dy
                    let across = -px * dy + py * dx
                    if abs(along) <= length / 2 && abs(across) <= halfWidth { image[x, y] = 0.25 }
                }
            }
        }
        return image
    }
}
