import Foundation
import KaryoImage

/// Draws the annotated picture of a result: every counted box with its score, boxes below the threshold in a
/// second colour (optional), and a corner banner with the count, patient/cell and detector.
public enum Annotator {
    /// Colour of counted boxes.
    public static let countedColor = RGBColor.green
    /// Colour of boxes below the score threshold.
    public static let belowColor = RGBColor.orange

    /// The annotated picture of `record` over its grey image.
    public static func render(_ image: GrayImage, record: ResultRecord, options: ProcessingOptions) -> RGBImage {
        var picture = RGBImage(image)
        // Text scale grows with the image so labels stay legible on 1600x1200 exports.
        let s = max(1, min(image.width, image.height) / 400)
        if options.drawBelowThreshold {
            for c in record.belowThreshold {
                picture.drawBox(c.box, color: belowColor, thickness: s)
            }
        }
        for c in record.chromosomes {
            picture.drawBox(c.box, color: countedColor, thickness: s + 1)
        }
        // Score labels after all boxes, so no box line crosses a label.
        if options.drawBelowThreshold {
            for c in record.belowThreshold { label(&picture, c, color: belowColor, scale: s) }
        }
        for c in record.chromosomes { label(&picture, c, color: countedColor, scale: s) }

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

    private static func label(_ picture: inout RGBImage, _ c: ResultRecord.Chromosome, color: RGBColor, scale: Int) {
        let text = String(format: "%.2f", c.score)
        let height = BitmapFont.size(of: text, scale: scale).height + 2 * scale
        picture.drawLabel(
            text, x: Int(c.box.x1.rounded()), y: Int(c.box.y1.rounded()) - height, scale: scale, color: .black,
            background: color)
    }
}
