import Foundation
import KaryoImage
import KaryoSupport

/// What `karyocount calibrate` measures on a folder of one lab's exports: the chromosome width of each image and
/// the lab's width, their median. One width for every cell of a microscope keeps the cells of a case at one working
/// scale, where a width measured on each image alone can stray on a blurred, pale or crowded cell.
public struct WidthCalibration: Sendable {
    /// One image's measurement.
    public struct Measurement: Sendable, Equatable {
        public var file: URL
        /// The chromosome width measured on the image, px; nil when it could not be measured or read.
        public var width: Double?
        /// Why the image gave no width (unreadable, undecodable, nothing dark enough to measure).
        public var problem: String?
    }

    /// Every image, in input order.
    public var measurements: [Measurement]

    /// The images that gave a width.
    public var widths: [Double] { measurements.compactMap(\.width) }

    /// The lab's chromosome width: the median of the images' widths; nil when none gave one.
    public var width: Double? { widths.quantile(0.5) }

    /// The 25th and 75th percentiles of the images' widths.
    public var interquartileRange: ClosedRange<Double>? {
        guard let low = widths.quantile(0.25), let high = widths.quantile(0.75) else { return nil }
        return low...high
    }

    /// The images whose own width differs from the lab's by more than `tolerance` (a share, 0.2 = 20%): the cells a
    /// per-image working scale would have processed at a different scale from the rest.
    public func outliers(tolerance: Double = 0.2) -> [Measurement] {
        guard let width else { return [] }
        return measurements.filter { m in m.width.map { abs($0 / width - 1) > tolerance } ?? false }
    }

    /// Measures every input (`BatchCounter.inputs` lists a folder's images).
    public static func measure(_ inputs: [BatchCounter.Input]) -> WidthCalibration {
        WidthCalibration(measurements: inputs.map(measure))
    }

    /// One image's width, or why there is none.
    public static func measure(_ input: BatchCounter.Input) -> Measurement {
        let decoded: DecodedImage
        do {
            decoded = try ImageDecoder.decode(try InputFile.read(input.file, root: input.root), name: input.file.path)
        } catch {
            return Measurement(file: input.file, width: nil, problem: "\(error)")
        }
        let width = CaseWidth.measure(decoded.image)
        return Measurement(
            file: input.file, width: width, problem: width == nil ? "no chromosome width could be measured" : nil)
    }
}
