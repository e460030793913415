import KaryoImage

/// The summary's PNG: one bar chart panel per flagged or collecting patient, showing how many images had each
/// count; the expected count's bar in blue, other counts in orange (flagged) or grey.
public enum SummaryChart {
    static let width = 720
    static let panelHeight = 230
    static let scale = 2

    /// The chart of a day's summary (a short notice when no patient is flagged or collecting).
    public static func render(_ summary: DailySummary) -> RGBImage {
        let shown = summary.patients.filter { $0.flagged || $0.state == "collecting" }
        let header = 40
        let height = header + max(1, shown.count) * panelHeight
        var picture = RGBImage(width: width, height: height, color: .white)
        picture.drawText(
            "KaryoCount \(summary.date): flagged and collecting patients", x: 12, y: 12, scale: scale, color: .black)
        if shown.isEmpty {
            picture.drawText(
                "No patient is flagged or collecting today.", x: 12, y: header + 20, scale: scale, color: .black)
        }
        for (i, line) in shown.enumerated() {
            drawPanel(&picture, line, top: header + i * panelHeight, expected: line.expectedCount)
        }
        return picture
    }

    static func drawPanel(_ p: inout RGBImage, _ line: DailySummary.PatientLine, top: Int, expected: Int) {
        let s = scale
        p.fillRectangle(x: 0, y: top, width: width, height: 1, color: RGBColor(grey: 200))
        let status = line.flagged ? "FLAGGED" : line.state
        p.drawText("\(line.patient)  \(status)  n=\(line.imagesTotal)", x: 12, y: top + 8, scale: s, color: .black)
        p.drawText(
            line.distribution + "   (bars: images per chromosome count)", x: 12, y: top + 8 + 10 * s, scale: 1,
            color: RGBColor(grey: 60))
        if let reason = line.flagReason {
            p.drawText(
                "flag: " + reason, x: 12, y: top + 20 + 10 * s, scale: 1, color: RGBColor(red: 200, green: 0, blue: 0))
        }

        var histogram: [Int: Int] = [:]
        for (k, v) in line.histogram { if let c = Int(k) { histogram[c] = v } }
        let counts = Array(histogram.keys) + [expected]
        var low = counts.min()! - 1
        var high = counts.max()! + 1
        // Keep a readable bar width: at most 30 bars, centred on the expected count when the range is wider.
        if high - low + 1 > 30 {
            low = max(low, expected - 15)
            high = low + 29
        }
        let maxFrequency = max(1, histogram.values.max() ?? 1)
        let plotLeft = 40
        let plotRight = width - 20
        let plotTop = top + 60
        let plotBottom = top + panelHeight - 30
        let slot = (plotRight - plotLeft) / (high - low + 1)
        let barWidth = max(2, slot - 4)
        p.fillRectangle(x: plotLeft, y: plotBottom, width: plotRight - plotLeft, height: 1, color: .black)
        for count in low...high {
            let x = plotLeft + (count - low) * slot + (slot - barWidth) / 2
            let frequency = histogram[count] ?? 0
            if frequency > 0 {
                let h = max(1, (plotBottom - plotTop - 14) * frequency / maxFrequency)
                let color: RGBColor =
                    count == expected ? .blue : (line.flagged ? .orange : RGBColor(grey: 140))
                p.fillRectangle(x: x, y: plotBottom - h, width: barWidth, height: h, color: color)
                let label = String(frequency)
                let labelWidth = BitmapFont.size(of: label).width
                p.drawText(label, x: x + (barWidth - labelWidth) / 2, y: plotBottom - h - 10, color: .black)
            }
            let label = String(count)
            let labelWidth = BitmapFont.size(of: label).width
            p.drawText(
                label, x: x + (barWidth - labelWidth) / 2, y: plotBottom + 5,
                color: count == expected ? .blue : .black)
        }
    }
}
