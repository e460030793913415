/// An axis-aligned box in image pixel coordinates: `x1, y1` top-left, `x2, y2` bottom-right (exclusive edge,
/// so a box covering pixel columns 10...19 has `x1 = 10, x2 = 20`).
public struct BoundingBox: Sendable, Equatable, Hashable, Codable {
    public var x1: Double
    public var y1: Double
    public var x2: Double
    public var y2: Double

    public init(x1: Double, y1: Double, x2: Double, y2: Double) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }

    /// Width, never negative.
    public var width: Double { max(0, x2 - x1) }
    /// Height, never negative.
    public var height: Double { max(0, y2 - y1) }
    /// Area, zero for an empty box.
    public var area: Double { width * height }

    /// The overlap of two boxes (empty box when they do not meet).
    public func intersection(_ other: BoundingBox) -> BoundingBox {
        BoundingBox(x1: max(x1, other.x1), y1: max(y1, other.y1), x2: min(x2, other.x2), y2: min(y2, other.y2))
    }

    /// Intersection over union; 0 when either box is empty.
    public func iou(_ other: BoundingBox) -> Double {
        let inter = intersection(other).area
        let union = area + other.area - inter
        return union > 0 ? inter / union : 0
    }

    /// The box scaled about the origin, e.g. to map working-scale pixels back to source pixels.
    public func scaled(by factor: Double) -> BoundingBox {
        BoundingBox(x1: x1 * factor, y1: y1 * factor, x2: x2 * factor, y2: y2 * factor)
    }

    /// Encodes as the JSON array `[x1, y1, x2, y2]` used in result files.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(x1)
        try c.encode(y1)
        try c.encode(x2)
        try c.encode(y2)
    }

    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        self.init(
            x1: try c.decode(Double.self), y1: try c.decode(Double.self), x2: try c.decode(Double.self),
            y2: try c.decode(Double.self))
    }
}
