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
        if options.drawBelowThreshold {
            for c in record.belowThreshold { picture.strokeBox(c.box, color: belowColor, thickness: 1) }
        }
        for c in record.chromosomes { picture.strokeBox(c.box, color: countedColor, thickness: 2) }
        return picture
    }
}

extension RGBImage {
    /// Outlines `box` (clipped to the image).
    mutating func strokeBox(_ box: BoundingBox, color: RGBColor, thickness: Int) {
        let x1 = max(0, Int(box.x1.rounded(.down)))
        let y1 = max(0, Int(box.y1.rounded(.down)))
        let x2 = min(width - 1, Int(box.x2.rounded(.up)) - 1)
        let y2 = min(height - 1, Int(box.y2.rounded(.up)) - 1)
        guard x1 <= x2, y1 <= y2 else { return }
        for t in 0..<thickness {
            for x in x1...x2 {
                if y1 + t <= y2 { self[x, y1 + t] = color }
                if y2 - t >= y1 { self[x, y2 - t] = color }
            }
            for y in y1...y2 {
                if x1 + t <= x2 { self[x1 + t, y] = color }
                if x2 - t >= x1 { self[x2 - t, y] = color }
            }
        }
    }
}
