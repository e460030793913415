/// An 8-bit colour, e.g. for box outlines and label text.
public struct RGBColor: Sendable, Equatable, Hashable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    /// Creates a colour from its three 8-bit components.
    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// A grey level.
    public init(grey: UInt8) {
        self.init(red: grey, green: grey, blue: grey)
    }

    // Named colours for annotations: strong enough to read on grey spreads.
    public static let black = RGBColor(grey: 0)
    public static let white = RGBColor(grey: 255)
    public static let red = RGBColor(red: 230, green: 25, blue: 25)
    public static let green = RGBColor(red: 20, green: 200, blue: 60)
    public static let blue = RGBColor(red: 30, green: 90, blue: 240)
    public static let yellow = RGBColor(red: 255, green: 210, blue: 0)
    public static let orange = RGBColor(red: 255, green: 140, blue: 0)
    public static let cyan = RGBColor(red: 0, green: 200, blue: 230)
    public static let magenta = RGBColor(red: 220, green: 40, blue: 220)
}

/// An 8-bit RGB image, row-major and interleaved (R, G, B per pixel): the form of annotated output.
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `width * height * 3` samples, row after row.
    public var samples: [UInt8]

    /// Creates an image from interleaved samples; `samples.count` must equal `width * height * 3`.
    public init(width: Int, height: Int, samples: [UInt8]) {
        precondition(width >= 0 && height >= 0 && samples.count == width * height * 3, "sample count must be w*h*3")
        self.width = width
        self.height = height
        self.samples = samples
    }

    /// Creates an image filled with one colour.
    public init(width: Int, height: Int, color: RGBColor = .black) {
        precondition(width >= 0 && height >= 0, "dimensions must not be negative")
        self.width = width
        self.height = height
        var samples = [UInt8](repeating: 0, count: width * height * 3)
        if color != .black {
            for i in 0..<(width * height) {
                samples[3 * i] = color.red
                samples[3 * i + 1] = color.green
                samples[3 * i + 2] = color.blue
            }
        }
        self.samples = samples
    }

    /// The grey image as colour: each intensity clamped to 0...1 and rounded to 8 bits in all three channels.
    public init(_ grey: GrayImage) {
        let count = grey.width * grey.height
        let samples = [UInt8](unsafeUninitializedCapacity: count * 3) { buffer, initialized in
            grey.pixels.withUnsafeBufferPointer { src in
                for i in 0..<count {
                    let v = UInt8(quantizing: src[i])
                    buffer[3 * i] = v
                    buffer[3 * i + 1] = v
                    buffer[3 * i + 2] = v
                }
            }
            initialized = count * 3
        }
        self.init(width: grey.width, height: grey.height, samples: samples)
    }

    /// The colour at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> RGBColor {
        get {
            let i = (y * width + x) * 3
            return RGBColor(red: samples[i], green: samples[i + 1], blue: samples[i + 2])
        }
        set {
            let i = (y * width + x) * 3
            samples[i] = newValue.red
            samples[i + 1] = newValue.green
            samples[i + 2] = newValue.blue
        }
    }
}

extension UInt8 {
    /// An intensity in 0...1 as an 8-bit level: clamped, scaled by 255 and rounded; NaN becomes 0.
    init(quantizing value: Float) {
        let scaled = value * 255 + 0.5
        self = scaled >= 255 ? 255 : (scaled >= 0 ? UInt8(scaled) : 0)
    }
}
