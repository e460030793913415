extension RGBImage {
    /// Fills the pixels of columns `x..<x+width`, rows `y..<y+height`, clipped to the image.
    public mutating func fillRectangle(x: Int, y: Int, width: Int, height: Int, color: RGBColor) {
        let left = max(0, x), right = min(self.width, x + width)
        let top = max(0, y), bottom = min(self.height, y + height)
        guard left < right, top < bottom else { return }
        let rowLength = self.width
        samples.withUnsafeMutableBufferPointer { buffer in
            for row in top..<bottom {
                var i = (row * rowLength + left) * 3
                for _ in left..<right {
                    buffer[i] = color.red
                    buffer[i + 1] = color.green
                    buffer[i + 2] = color.blue
                    i += 3
                }
            }
        }
    }

    /// Outlines `box` with lines `thickness` pixels wide drawn just inside its edges (the box's coordinates are
    /// rounded to whole pixels; `x2`/`y2` are exclusive), clipped to the image.
    public mutating func drawBox(_ box: BoundingBox, color: RGBColor, thickness: Int = 2) {
        let left = Int(box.x1.rounded()), top = Int(box.y1.rounded())
        let right = Int(box.x2.rounded()), bottom = Int(box.y2.rounded())
        let width = right - left, height = bottom - top
        guard width > 0, height > 0, thickness > 0 else { return }
        let t = min(thickness, (min(width, height) + 1) / 2)
        fillRectangle(x: left, y: top, width: width, height: t, color: color)
        fillRectangle(x: left, y: bottom - t, width: width, height: t, color: color)
        fillRectangle(x: left, y: top, width: t, height: height, color: color)
        fillRectangle(x: right - t, y: top, width: t, height: height, color: color)
    }

    /// Draws `text` with its top-left corner at (`x`, `y`), each font pixel a `scale` x `scale` square,
    /// clipped to the image; "\n" starts a new line.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int = 1, color: RGBColor) {
        let s = max(1, scale)
        var penX = x, penY = y
        for character in text {
            if character == "\n" {
                penX = x
                penY += BitmapFont.lineHeight * s
                continue
            }
            for (column, bits) in BitmapFont.columnBits(character).enumerated() {
                for row in 0..<BitmapFont.glyphHeight where (bits >> UInt8(row)) & 1 == 1 {
                    fillRectangle(x: penX + column * s, y: penY + row * s, width: s, height: s, color: color)
                }
            }
            penX += BitmapFont.advance * s
        }
    }

    /// Draws `text` on a filled background with `padding` font pixels around it, moved as needed so that the
    /// whole label stays inside the image. Returns the label's rectangle.
    @discardableResult
    public mutating func drawLabel(
        _ text: String, x: Int, y: Int, scale: Int = 1, color: RGBColor, background: RGBColor, padding: Int = 1
    ) -> (x: Int, y: Int, width: Int, height: Int) {
        let s = max(1, scale)
        let size = BitmapFont.size(of: text, scale: s)
        let width = size.width + 2 * padding * s, height = size.height + 2 * padding * s
        let left = max(0, min(x, self.width - width)), top = max(0, min(y, self.height - height))
        fillRectangle(x: left, y: top, width: width, height: height, color: background)
        drawText(text, x: left + padding * s, y: top + padding * s, scale: s, color: color)
        return (left, top, width, height)
    }
}
