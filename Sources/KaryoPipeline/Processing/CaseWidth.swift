import KaryoDetect
import KaryoImage
import KaryoNet
import KaryoSupport

/// The working scale of a case's cells: the median of the chromosome widths measured on them, so that the cells of
/// one microscope are processed at one scale (a width measured on one cell alone strays on a blurred, pale or
/// crowded cell). A case is taken to be one microscope and one export setting.
enum CaseWidth {
    /// Whether `processor`'s detector brings images to its working scale by a width measured on each image: a
    /// DeepACE model with the chromosome-width rule and no lab width.
    static func applies(to processor: ImageProcessor) -> Bool {
        guard let detector = processor.detector as? DeepACEDetector else { return false }
        return detector.givenChromosomeWidth == nil && detector.network.config.input.working_scale == .chromosomeWidth
    }

    /// `processor` bringing an image to the working scale by the median of `caseWidths` (the image's own width among
    /// them), recording `imageWidth` as the image's own; `processor` itself where the rule does not apply or there is
    /// no width.
    static func processor(_ processor: ImageProcessor, caseWidths: [Double], imageWidth: Double?) -> ImageProcessor {
        guard applies(to: processor), var detector = processor.detector as? DeepACEDetector,
            let median = caseWidths.quantile(0.5)
        else { return processor }
        detector.givenChromosomeWidth = GivenChromosomeWidth(median, source: .patient, imageWidth: imageWidth)
        return ImageProcessor(detector: detector, options: processor.options)
    }

    /// The chromosome width measured on `image` (0...1 grey) alone, px; nil when unmeasurable.
    static func measure(_ image: GrayImage) -> Double? {
        WorkingScale.estimateChromosomeWidth(image.pixels.map { $0 * 255 }, width: image.width, height: image.height)
    }
}
