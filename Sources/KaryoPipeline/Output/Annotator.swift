import Foundation
import KaryoImage

/// Draws the annotated picture of a result, by the review station's drawing rules: every counted box thin and
/// numbered (the number of the box in the result's `chromosomes`, 1-based, as the review station shows it), boxes
/// below the threshold only when asked for (thinner, unlabelled, in a second colour, under the counted ones), and a
/// corner banner with the count, patient/cell and detector.
public enum Annotator {
    /// Colour of counted boxes.
    public static let countedColor = RGBColor.green
    /// Colour of boxes below the score threshold.
    public static let belowColor = RGBColor.orange

    /// The annotated picture of `record` over its grey image.
    public static func render(_ image: GrayImage, record: ResultRecord, options: ProcessingOptions) -> RGBImage {
        var picture = RGBImage(image)
        // Scale grows with the image so numbers stay legible on 1600x1200 exports; lines stay thin.
        let s = max(1, min(image.width, image.height) / 400)
        let line = max(1, s / 2)
        if options.drawBelowThreshold {
            for c in record.belowThreshold { picture.drawBox(c.box, color: belowColor, thickness: 1) }
        }
        for c in record.chromosomes { picture.drawBox(c.box, color: countedColor, thickness: line) }
        // Numbers after all boxes, so no box line crosses a number.
        for (i, c) in record.chromosomes.enumerated() {
            number(&picture, i + 1, box: c.box, scale: max(1, s - 1))
        }

        var lines = [
            "patient \(record.patient)" + (record.cell.map { "  cell \($0)" } ?? ""),
            "detector \(record.detector)" + (record.model.map { " (\($0.name))" } ?? "")
                + String(format: "  score >= %.2f", record.scoreThreshold),
        ]
        if options.drawBelowThreshold && !record.belowThreshold.isEmpty {
            lines.append("green: counted  orange: below threshold (\(record.belowThreshold.count))")
        }
        let title = "COUNT \(record.count)"
        let titleSize = BitmapFont.size(of: title, scale: 2 * s)
        let body = lines.joined(separator: "\n")
        let bodySize = BitmapFont.size(of: body, scale: s)
        let pad = 3 * s
        let width = max(titleSize.width, bodySize.width) + 2 * pad
        let height = titleSize.height + bodySize.height + 3 * pad
        picture.fillRectangle(x: 0, y: 0, width: width, height: height, color: .black)
        picture.drawText(title, x: pad, y: pad, scale: 2 * s, color: .yellow)
        picture.drawText(body, x: pad, y: 2 * pad + titleSize.height, scale: s, color: .white)
        return picture
    }

    /// The box's number just above its top-left corner (inside the box when the box touches the top edge).
    private static func number(_ picture: inout RGBImage, _ n: Int, box: BoundingBox, scale: Int) {
        let text = "\(n)"
        let height = BitmapFont.size(of: text, scale: scale).height + 2 * scale
        let top = Int(box.y1.rounded())
        picture.drawLabel(
            text, x: Int(box.x1.rounded()), y: top >= height ? top - height : top, scale: scale, color: .black,
            background: countedColor)
    }
}
