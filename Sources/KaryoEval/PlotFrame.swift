import Foundation
import KaryoImage

/// A chart drawn on an `RGBImage`: a white page with a plot area, data-to-pixel mapping (linear or log10 on x),
/// axes with ticks, grid lines and labels in the 5x7 bitmap font, lines, dots, bars and a legend.
struct PlotFrame {
    var image: RGBImage
    let xRange: ClosedRange<Double>
    let yRange: ClosedRange<Double>
    let logX: Bool
    let left = 100
    let top = 70
    let rightMargin = 40
    let bottomMargin = 90
    static let textScale = 2
    static let grid = RGBColor(grey: 225)
    static let ink = RGBColor(grey: 30)

    init(
        width: Int = 900, height: Int = 640, xRange: ClosedRange<Double>, yRange: ClosedRange<Double>,
        logX: Bool = false
    ) {
        image = RGBImage(width: width, height: height, color: .white)
        self.xRange = xRange
        self.yRange = yRange
        self.logX = logX
    }

    var right: Int { image.width - rightMargin }
    var bottom: Int { image.height - bottomMargin }

    /// The pixel column of data `x`, clamped to the plot area.
    func px(_ x: Double) -> Double {
        let (lo, hi, v) =
            logX
            ? (log10(xRange.lowerBound), log10(xRange.upperBound), log10(max(x, xRange.lowerBound)))
            : (xRange.lowerBound, xRange.upperBound, x)
        let t = min(max((v - lo) / (hi - lo), 0), 1)
        return Double(left) + t * Double(right - left)
    }

    /// The pixel row of data `y`, clamped to the plot area.
    func py(_ y: Double) -> Double {
        let t = min(max((y - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound), 0), 1)
        return Double(bottom) - t * Double(bottom - top)
    }

    /// A straight line between two pixel positions, `thickness` pixels wide.
    mutating func pixelLine(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, color: RGBColor, thickness: Int = 2)
    {
        let steps = max(1, Int(max(abs(x1 - x0), abs(y1 - y0)).rounded(.up)))
        let half = thickness / 2
        for i in 0...steps {
            let t = Double(i) / Double(steps)
            let x = Int((x0 + (x1 - x0) * t).rounded()) - half
            let y = Int((y0 + (y1 - y0) * t).rounded()) - half
            image.fillRectangle(x: x, y: y, width: thickness, height: thickness, color: color)
        }
    }

    /// A line between two data points.
    mutating func line(_ a: (Double, Double), _ b: (Double, Double), color: RGBColor, thickness: Int = 2) {
        pixelLine(px(a.0), py(a.1), px(b.0), py(b.1), color: color, thickness: thickness)
    }

    /// A filled square dot at a data point.
    mutating func dot(_ p: (Double, Double), color: RGBColor, radius: Int = 4) {
        let x = Int(px(p.0).rounded())
        let y = Int(py(p.1).rounded())
        image.fillRectangle(x: x - radius, y: y - radius, width: 2 * radius + 1, height: 2 * radius + 1, color: color)
    }

    /// A filled bar between data `x0..x1` from the x axis up to `y`.
    mutating func bar(x0: Double, x1: Double, y: Double, color: RGBColor) {
        let a = Int(px(x0).rounded())
        let b = Int(px(x1).rounded())
        let top = Int(py(y).rounded())
        image.fillRectangle(x: a, y: top, width: b - a, height: bottom - top, color: color)
    }

    /// Text at a pixel position; `anchor` 0 puts its left edge there, 0.5 its centre, 1 its right edge.
    mutating func text(_ s: String, x: Int, y: Int, anchor: Double = 0, scale: Int = textScale, color: RGBColor = ink) {
        let size = BitmapFont.size(of: s, scale: scale)
        image.drawText(s, x: x - Int(Double(size.width) * anchor), y: y, scale: scale, color: color)
    }

    /// Grid, axes, ticks with labels, the axis titles and the chart title.
    mutating func axes(
        xTicks: [(Double, String)], yTicks: [(Double, String)], xLabel: String, yLabel: String, title: String
    ) {
        let charHeight = BitmapFont.glyphHeight * Self.textScale
        for (v, label) in xTicks {
            let x = Int(px(v).rounded())
            image.fillRectangle(x: x, y: top, width: 1, height: bottom - top, color: Self.grid)
            image.fillRectangle(x: x, y: bottom, width: 2, height: 8, color: Self.ink)
            text(label, x: x, y: bottom + 14, anchor: 0.5)
        }
        for (v, label) in yTicks {
            let y = Int(py(v).rounded())
            image.fillRectangle(x: left, y: y, width: right - left, height: 1, color: Self.grid)
            image.fillRectangle(x: left - 8, y: y, width: 8, height: 2, color: Self.ink)
            text(label, x: left - 14, y: y - charHeight / 2, anchor: 1)
        }
        image.fillRectangle(x: left, y: top, width: 2, height: bottom - top + 2, color: Self.ink)
        image.fillRectangle(x: left, y: bottom, width: right - left, height: 2, color: Self.ink)
        text(xLabel, x: (left + right) / 2, y: bottom + 50, anchor: 0.5)
        text(yLabel, x: left, y: top - charHeight - 10, anchor: 0.5)
        text(title, x: image.width / 2, y: 16, anchor: 0.5, scale: Self.textScale)
    }

    /// A legend box at the plot area's corner (`topRight` or bottom right): a colour swatch and text per entry.
    mutating func legend(_ entries: [(String, RGBColor)], topRight: Bool) {
        let scale = Self.textScale
        let lineHeight = BitmapFont.lineHeight * scale + 6
        let textWidth = entries.map { BitmapFont.size(of: $0.0, scale: scale).width }.max() ?? 0
        let width = textWidth + 56
        let height = entries.count * lineHeight + 12
        let x = right - width - 12
        let y = topRight ? top + 12 : bottom - height - 12
        image.fillRectangle(x: x - 1, y: y - 1, width: width + 2, height: height + 2, color: Self.ink)
        image.fillRectangle(x: x, y: y, width: width, height: height, color: .white)
        for (i, (label, color)) in entries.enumerated() {
            let rowY = y + 8 + i * lineHeight
            image.fillRectangle(x: x + 10, y: rowY + 4, width: 28, height: 6, color: color)
            image.drawText(label, x: x + 46, y: rowY, scale: scale, color: Self.ink)
        }
    }
}

/// A number for a tick label: no trailing zeros, at most `digits` decimals.
func tickLabel(_ v: Double, digits: Int = 2) -> String {
    var s = String(format: "%.\(digits)f", v)
    if s.contains(".") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s
}
