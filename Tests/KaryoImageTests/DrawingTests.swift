import KaryoImage
import Testing

@Suite("Drawing")
struct DrawingTests {
    @Test("a box outline lands on the requested pixels, drawn inside its edges")
    func boxPlacement() {
        var image = RGBImage(width: 60, height: 60, color: .white)
        image.drawBox(BoundingBox(x1: 10, y1: 20, x2: 30, y2: 40), color: .red, thickness: 2)
        // Left edge: columns 10 and 11; right edge: columns 28 and 29 (x2 is exclusive).
        for x in [10, 11, 28, 29] { #expect(image[x, 30] == .red) }
        for x in [9, 12, 27, 30] { #expect(image[x, 30] == .white) }
        for y in [20, 21, 38, 39] { #expect(image[20, y] == .red) }
        for y in [19, 22, 37, 40] { #expect(image[20, y] == .white) }
        let red = (0..<60).flatMap { y in (0..<60).map { x in image[x, y] } }.filter { $0 == .red }.count
        #expect(red == 20 * 20 - 16 * 16)
    }

    @Test("boxes partly outside the image are clipped, not a crash")
    func clipping() {
        var image = RGBImage(width: 10, height: 10, color: .black)
        image.drawBox(BoundingBox(x1: -5, y1: -5, x2: 5, y2: 15), color: .green, thickness: 1)
        image.drawBox(BoundingBox(x1: 100, y1: 100, x2: 200, y2: 200), color: .green)
        image.fillRectangle(x: 8, y: 8, width: 50, height: 50, color: .blue)
        #expect(image[4, 0] == .green)
        #expect(image[0, 0] == .black)
        #expect(image[9, 9] == .blue)
    }

    @Test("a filled rectangle covers exactly its area")
    func fill() {
        var image = RGBImage(width: 8, height: 8, color: .white)
        image.fillRectangle(x: 2, y: 3, width: 4, height: 2, color: .yellow)
        let covered = (0..<8).flatMap { y in (0..<8).map { x in (x, y) } }.filter { image[$0.0, $0.1] == .yellow }
        #expect(covered.count == 8)
        #expect(covered.allSatisfy { (2..<6).contains($0.0) && (3..<5).contains($0.1) })
    }

    @Test("text renders inside its measured box, and different glyphs differ")
    func text() {
        func render(_ text: String, scale: Int) -> RGBImage {
            var image = RGBImage(width: 100, height: 40, color: .white)
            image.drawText(text, x: 5, y: 5, scale: scale, color: .black)
            return image
        }
        let size = BitmapFont.size(of: "46", scale: 2)
        #expect(size.width == (2 * 6 - 1) * 2 && size.height == 14)
        let image = render("46", scale: 2)
        var inside = 0, outside = 0
        for y in 0..<40 {
            for x in 0..<100 where image[x, y] == .black {
                if (5..<(5 + size.width)).contains(x) && (5..<(5 + size.height)).contains(y) {
                    inside += 1
                } else {
                    outside += 1
                }
            }
        }
        #expect(inside > 20)
        #expect(outside == 0)
        #expect(render("46", scale: 2) != render("47", scale: 2))
        #expect(render("0.5", scale: 1) != render("0:5", scale: 1))
        let glyphs = "0123456789.:=/%-()ABCabc"
        let patterns = glyphs.map { render(String($0), scale: 1).samples }
        #expect(Set(patterns).count == glyphs.count)
    }

    @Test("a label stays inside the image even when asked to start outside it")
    func labelInside() {
        var image = RGBImage(width: 50, height: 30, color: .white)
        let rect = image.drawLabel("COUNT 46", x: 40, y: -10, scale: 1, color: .white, background: .black)
        #expect(rect.x >= 0 && rect.y == 0 && rect.x + rect.width <= 50)
        #expect(image[rect.x, rect.y] == .black)
    }

    @Test("an RGB image made from a grey one repeats the rounded level in every channel")
    func fromGrey() {
        let grey = GrayImage(width: 3, height: 1, pixels: [0, 0.5, 2])
        let rgb = RGBImage(grey)
        #expect(rgb.samples == [0, 0, 0, 128, 128, 128, 255, 255, 255])
    }
}
