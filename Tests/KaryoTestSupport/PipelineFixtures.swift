import Foundation
import KaryoDetect
import KaryoImage
import KaryoPipeline
import KaryoSupport
import Logging

/// A `Pipeline` on `config`'s state, as a restarted daemon would open it. In a test, the pipeline of a simulated
/// earlier run may still be deallocating on another thread (a finished task can release its last reference a moment
/// after `processPending` returns), holding the state lock that a real process would have dropped at exit: wait for
/// that, up to 60 s (its tasks wait for a turn on busy cores), rather than fail.
public func openPipeline(config: KaryoConfig, detector: any Detector, logger: Logger) throws -> Pipeline {
    let deadline = Date().addingTimeInterval(60)
    while true {
        do {
            return try Pipeline(config: config, detector: detector, logger: logger)
        } catch {
            guard error.detail.contains("(pid \(getpid()))"), Date() < deadline else { throw error }
            usleep(10_000)
        }
    }
}

/// A detector for tests: the first pixel's 8-bit level is the number of chromosomes; when the second pixel is
/// bright, one more detection is added with an uncertain score (0.5). Boxes are laid out on a grid.
public struct PixelCodeDetector: Detector {
    public let name = "pixelcode"
    public let modelName: String? = nil
    public let modelSHA256: String? = nil
    public var delay: Duration = .zero
    public var countThreshold = 0.5

    public init(delay: Duration = .zero, countThreshold: Double = 0.5) {
        self.delay = delay
        self.countThreshold = countThreshold
    }

    public func analyze(_ image: GrayImage, profile: StageProfile?) throws -> DetectorOutput {
        if delay > .zero {
            Thread.sleep(
                forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
        }
        let n = Int((image[0, 0] * 255).rounded())
        var out: [Detection] = []
        for i in 0..<n {
            let x = Double(4 + (i % 10) * 9)
            let y = Double(4 + (i / 10) * 9)
            out.append(Detection(box: BoundingBox(x1: x, y1: y, x2: x + 6, y2: y + 7), score: 0.95 - Double(i) * 0.001))
        }
        if image[1, 0] > 0.5 {
            out.append(Detection(box: BoundingBox(x1: 2, y1: 50, x2: 8, y2: 58), score: 0.5))
        }
        profile?.add(milliseconds: 0.01, to: "pixelcode")
        return DetectorOutput(detections: out)
    }
}

/// The pixel-code detector, reporting a model's name and weights hash as DeepACEv2 does.
public struct ModelledDetector: Detector {
    public let name = "deepace"
    public let modelName: String?
    public let modelSHA256: String?

    public init(modelName: String, modelSHA256: String) {
        self.modelName = modelName
        self.modelSHA256 = modelSHA256
    }

    public func analyze(_ image: GrayImage, profile: StageProfile?) throws -> DetectorOutput {
        try PixelCodeDetector().analyze(image, profile: profile)
    }
}

/// A detector that always fails.
public struct FailingDetector: Detector {
    public let name = "failing"
    public let modelName: String? = nil
    public let modelSHA256: String? = nil
    public struct Boom: Error {}
    public init() {}
    public func analyze(_ image: GrayImage, profile: StageProfile?) throws -> DetectorOutput {
        throw Boom()
    }
}

/// PNG bytes of a 100x64 image whose first pixel encodes `count` (see `PixelCodeDetector`); `salt` makes
/// otherwise equal images differ.
public func codedPNG(count: Int, uncertain: Bool = false, salt: Int = 0) -> Data {
    var image = GrayImage(width: 100, height: 64, value: 0.2)
    for y in 0..<64 {
        for x in 0..<100 where (x / 9 + y / 9).isMultiple(of: 2) { image[x, y] = 0.8 }
    }
    image[0, 0] = Float(count) / 255
    image[1, 0] = uncertain ? 1 : 0
    image[2, 0] = Float(salt % 256) / 255
    image[3, 0] = Float(salt / 256) / 255
    return try! PNGEncoder.encode(image)
}

/// The broken inputs every pipeline must survive.
public func brokenInputs() -> [(name: String, data: Data)] {
    let good = codedPNG(count: 46)
    return [
        ("truncated.001.O.png", good.prefix(good.count / 2)),
        ("empty.001.O.png", Data()),
        ("wrongmagic.001.O.tif", Data("GIF89a not really an image".utf8)),
        ("notes.001.O.png", Data("Patient notes: nothing to see here\n".utf8)),
    ]
}

/// A config rooted in a temp folder, with a single drop root.
public func testConfig(_ dir: TempDir, maxAttempts: Int = 3, workers: Int = 1) -> KaryoConfig {
    var c = KaryoConfig()
    c.watchRoots = [dir.path("drop")]
    c.outputRoot = dir.path("out")
    c.stateDir = dir.path("state")
    c.maxAttempts = maxAttempts
    c.retryDelaysSeconds = [0]
    c.workers = workers
    try! FileManager.default.createDirectory(at: dir.path("drop"), withIntermediateDirectories: true)
    return c
}
