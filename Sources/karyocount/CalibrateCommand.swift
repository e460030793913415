import ArgumentParser
import Foundation
import KaryoPipeline

/// `karyocount calibrate DIR...`: measures the chromosome width of a lab's exports, for `chromosome_width_px`.
struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Measure the chromosome width of one microscope's exported cells, for `chromosome_width_px`.",
        discussion: """
            Measures the chromosome width on every image (as the model's working-scale rule does) and prints each \
            one, their median and the configuration line that makes every later image use that width. Give it \
            cells of one microscope, objective and export size (20 or more of several cases); calibrate again when \
            one of them changes.
            """)

    @Argument(help: "Image files or folders of one lab's exports.")
    var paths: [String]

    @Flag(help: "Scan folders recursively.")
    var recursive = false

    func run() throws {
        let inputs = try BatchCounter.inputs(paths.map { URL(filePath: $0) }, recursive: recursive)
        guard !inputs.isEmpty else {
            printError("error: no TIFF, PNG, JPEG or BMP images in \(paths.joined(separator: ", "))")
            throw ExitCode(1)
        }
        let calibration = WidthCalibration.measure(inputs)
        for m in calibration.measurements {
            if let width = m.width {
                print("\(m.file.path)  width \(String(format: "%.2f", width)) px")
            } else {
                print("\(m.file.path)  no width: \(m.problem ?? "unknown")")
            }
        }
        guard let width = calibration.width, let range = calibration.interquartileRange else {
            printError("error: no image gave a chromosome width")
            throw ExitCode(1)
        }
        let measured = calibration.widths.count
        print(
            "\(inputs.count) image\(inputs.count == 1 ? "" : "s"), \(measured) measured: chromosome width "
                + String(format: "%.2f px (middle half %.2f-%.2f px)", width, range.lowerBound, range.upperBound))
        let outliers = calibration.outliers()
        if !outliers.isEmpty {
            print(
                "\(outliers.count) image\(outliers.count == 1 ? "" : "s") differ from it by more than 20%; "
                    + "with a width measured on each image they would be processed at another scale")
        }
        if measured < 10 {
            print("note: \(measured) images is few; 20 or more cells of several cases give a steadier width")
        }
        print("Add to the configuration (top level):\nchromosome_width_px = \(String(format: "%.2f", width))")
    }
}
