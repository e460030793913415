import KaryoImage
import KaryoSupport

/// The paper's non-learned comparison row (Gajendran et al. [13]): counts chromosomes by image analysis alone.
///
/// Steps, each a function named for what it does:
/// 1. find the field of view (the frame line of CytoVision exports) and work inside it;
/// 2. smooth lightly, estimate the illumination by a large grey closing, and turn the image into background-corrected
///    darkness;
/// 3. threshold by hysteresis: Otsu's threshold (at least 6 noise sigmas) seeds objects, which grow over pixels half
///    as dark, so the pale ends of chromosomes are kept;
/// 4. clean up: a small opening (removes specks and thin lines), filling of small holes;
/// 5. label 8-connected components and learn the typical chromosome width and area from the image itself; drop
///    debris, objects cut by the field's edge, and interphase nuclei;
/// 6. split touching chromosomes by a watershed on the distance transform with h-maxima markers, then rejoin
///    pieces that still form one straight rod (so a centromere is never a cut);
/// 7. score every region by its resemblance to a single chromosome and box it.
///
/// It is the detector the pipeline runs when no neural model is installed. Touching chromosomes that lie side by
/// side, and crossing ones, are its known weakness (the paper's reason for a learned detector).
public struct ClassicalDetector: Detector {
    public let name = "classical"
    public let modelName: String? = nil
    public let modelSHA256: String? = nil
    /// The tuning in use.
    public let configuration: Configuration

    /// Tuning of the classical detector. Lengths marked "at 1000 px" are for an image whose longer side is 1000 px
    /// and scale with the image; all other sizes are relative to the typical chromosome the detector finds.
    public struct Configuration: Sendable, Equatable {
        /// Gaussian smoothing sigma, px at 1000 px.
        public var smoothingSigma = 1.0
        /// Side of the closing that estimates the background, px at 1000 px; must exceed a chromosome's width, and
        /// should approach a nucleus's so that nuclei stay whole (and are then rejected) instead of becoming rings.
        public var backgroundWindow = 120.0
        /// Smallest darkness (fraction below the background) that can seed an object.
        public var minimumContrast: Float = 0.05
        /// Seeds must be at least this many background-noise sigmas dark.
        public var seedNoiseSigmas: Float = 6
        /// An object's extent threshold as a fraction of its seed threshold (hysteresis).
        public var extentFraction: Float = 0.5
        /// Radius of the square opening that removes specks and frame lines, px at 1000 px.
        public var openingRadius = 1.0
        /// Largest hole that is filled, px² at 1000 px.
        public var maximumHoleArea = 60.0
        /// Width of the band along the field of view's edge in which contact is measured, px.
        public var edgeBand = 3
        /// A component is debris if its area is below this many squared typical half-widths ...
        public var minimumAreaInHalfWidths = 1.0
        /// ... or below this fraction of the median component area ...
        public var minimumAreaOfMedian = 0.15
        /// ... or if its widest point is below this fraction of the typical half-width.
        public var minimumPeakOfTypical = 0.45
        /// A component touching the field's edge along more than this many typical widths is a clipped cell.
        public var edgeContactInWidths = 0.6
        /// A component touching the field's edge that is this much darker than chromosomes is dirt.
        public var edgeDebrisDarkness = 1.4
        /// A component wider than this many typical half-widths at its widest point is a nucleus.
        public var nucleusPeakOfTypical = 2.5
        /// Markers of the splitting watershed: minimum dynamic of a distance maximum, px.
        public var markerDynamic = 1.0
        /// ... and minimum dynamic as a fraction of the maximum's height.
        public var markerRelativeDynamic = 0.2
        /// Pieces whose neck is at least this fraction of the thinner piece's width are always rejoined.
        public var weakNeckRatio = 0.8
        /// Pieces whose neck is at least this fraction are rejoined when their union is a straight rod ...
        public var rodNeckRatio = 0.45
        /// ... filling this fraction of its moment rectangle ...
        public var rodMinimumFill = 0.8
        /// ... no wider than this many typical widths.
        public var rodMaximumWidth = 1.45
        /// Detections scoring below this are not reported at all.
        public var minimumScore = 0.05

        /// The default tuning (measured on two 1017 x 896 CytoVision exports).
        public init() {}
    }

    /// A detector with the default configuration.
    public init() { self.configuration = Configuration() }

    /// A detector with the given configuration.
    public init(configuration: Configuration) { self.configuration = configuration }

    public func analyze(_ image: GrayImage, profile: StageProfile?) throws -> DetectorOutput {
        DetectorOutput(detections: findChromosomes(image, profile: profile))
    }

    private func findChromosomes(_ image: GrayImage, profile: StageProfile?) -> [Detection] {
        var watch = Stopwatch()
        func lap(_ stage: String) {
            let ms = watch.lap()
            profile?.add(milliseconds: ms, to: "classical.\(stage)")
        }
        let k = configuration
        let scale = Double(max(image.width, image.height)) / 1000
        let field = ClassicalPreprocessing.fieldOfView(image)
        guard field.width >= 8, field.height >= 8 else { return [] }
        let (w, h) = (field.width, field.height)

        // Steps 1-2: darkness relative to the background.
        let darkness = backgroundCorrectedDarkness(image, field: field, scale: scale)
        lap("background")

        // Steps 3-4: foreground mask.
        let thresholds = ClassicalThreshold.choose(
            darkness, minimumContrast: k.minimumContrast, seedNoiseFactor: k.seedNoiseSigmas,
            lowFraction: k.extentFraction)
        var mask = ClassicalThreshold.hysteresisMask(
            darkness, width: w, height: h, low: thresholds.low, high: thresholds.high)
        mask = Morphology.open(mask, width: w, height: h, radius: max(1, Int((k.openingRadius * scale).rounded())))
        mask = MaskAnalysis.fillHoles(
            mask, width: w, height: h, maxArea: Int(k.maximumHoleArea * scale * scale))
        lap("threshold")

        // Step 5: components, typical size, and rejection of what is not chromosomes.
        let (labels, count) = MaskAnalysis.label(mask, width: w, height: h)
        let squaredDistance = MaskAnalysis.squaredDistanceToBackground(mask, width: w, height: h)
        let sizedArea = max(4, Int(30 * scale * scale))
        let stats = ClassicalComponents.measure(
            labels: labels, count: count, squaredDistance: squaredDistance, darkness: darkness, width: w, height: h,
            edgeBand: k.edgeBand, percentileMinimumArea: sizedArea)
        guard let typical = ClassicalComponents.typicalSize(stats, minimumArea: sizedArea) else {
            lap("components")
            return []
        }
        let kept = stats.map { ClassicalComponents.verdict($0, typical: typical, configuration: k) == .chromosomes }
        keepOnly(kept, labels: labels, mask: &mask)
        lap("components")

        // Step 6: split touching chromosomes.
        let typicalWidth = 2 * typical.halfWidth
        let split = SplitParameters(
            minimumDynamic: Float(k.markerDynamic * scale), relativeDynamic: Float(k.markerRelativeDynamic),
            minimumBasinArea: Int(0.5 * typical.halfWidth * typical.halfWidth), typicalWidth: typicalWidth,
            weakNeckRatio: k.weakNeckRatio, rodNeckRatio: k.rodNeckRatio, rodMinimumFill: k.rodMinimumFill,
            rodMaximumWidth: k.rodMaximumWidth, fragmentArea: Int(0.525 * typicalWidth * typicalWidth))
        let regions = ClassicalSplitting.splitTouching(
            mask: mask, components: labels, squaredDistance: squaredDistance, darkness: darkness, width: w,
            height: h, parameters: split)
        lap("split")

        // Step 7: boxes and confidences.
        let detections = scoredBoxes(regions, typicalWidth: typicalWidth, offsetX: field.x0, offsetY: field.y0)
        lap("score")
        return detections
    }

    /// Steps 1-2: crops to the field of view, smooths, divides by the estimated background and returns
    /// `1 - image / background` clamped to 0...1, on the field-of-view plane.
    func backgroundCorrectedDarkness(_ image: GrayImage, field: PixelRect, scale: Double) -> [Float] {
        let plane = ClassicalPreprocessing.crop(image, to: field)
        let smooth = ClassicalPreprocessing.gaussianBlur(
            plane, width: field.width, height: field.height, sigma: configuration.smoothingSigma * scale)
        let background = ClassicalPreprocessing.estimateBackground(
            smooth, width: field.width, height: field.height,
            window: max(8, Int((configuration.backgroundWindow * scale).rounded())))
        return ClassicalPreprocessing.darkness(smooth, background: background)
    }

    /// Clears the mask pixels of every component whose `kept` entry is false.
    private func keepOnly(_ kept: [Bool], labels: [Int32], mask: inout [UInt8]) {
        labels.withUnsafeBufferPointer { l in
            mask.withUnsafeMutableBufferPointer { m in
                for i in 0..<m.count where l[i] >= 0 && !kept[Int(l[i])] { m[i] = 0 }
            }
        }
    }

    /// Step 7: one box per region in source pixels (exclusive right/bottom edge), scored, best first.
    func scoredBoxes(_ regions: [RegionStats], typicalWidth: Double, offsetX: Int, offsetY: Int) -> [Detection] {
        guard let reference = ClassicalScoring.reference(regions, typicalWidth: typicalWidth) else { return [] }
        var detections: [Detection] = []
        for region in regions {
            let score = ClassicalScoring.score(region, reference: reference)
            guard score >= configuration.minimumScore else { continue }
            let box = BoundingBox(
                x1: Double(region.minX + offsetX), y1: Double(region.minY + offsetY),
                x2: Double(region.maxX + 1 + offsetX), y2: Double(region.maxY + 1 + offsetY))
            detections.append(Detection(box: box, score: score))
        }
        // Best first; equal scores in reading order so the output is deterministic.
        detections.sort {
            ($0.score, -$0.box.y1, -$0.box.x1) > ($1.score, -$1.box.y1, -$1.box.x1)
        }
        return detections
    }
}
