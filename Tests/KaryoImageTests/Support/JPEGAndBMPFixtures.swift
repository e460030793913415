import CTurboJPEG
import Foundation

/// JPEG and BMP files of a smooth picture (JPEG is lossy; a gradient survives it within a few levels), made in
/// memory: JPEG by libjpeg-turbo's encoder, BMP byte by byte.
enum JPEGAndBMPFixtures {
    static let width = 67
    static let height = 45

    /// A smooth 8-bit picture with its full range: a diagonal gradient.
    static func level(_ x: Int, _ y: Int) -> UInt8 { UInt8((x * 255 / (width - 1) + y * 255 / (height - 1)) / 2) }

    static let levels: [UInt8] = (0..<height).flatMap { y in (0..<width).map { x in level(x, y) } }

    /// A baseline JPEG of the gradient: grey, or RGB with equal channels.
    static func jpeg(rgb: Bool = false, quality: Int32 = 95) -> Data {
        let handle = tjInitCompress()!
        defer { tjDestroy(handle) }
        let samples = rgb ? levels.flatMap { [$0, $0, $0] } : levels
        var out: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = samples.withUnsafeBufferPointer {
            tjCompress2(
                handle, $0.baseAddress, Int32(width), 0, Int32(height),
                Int32(rgb ? TJPF_RGB.rawValue : TJPF_GRAY.rawValue), &out, &size,
                Int32(rgb ? TJSAMP_444.rawValue : TJSAMP_GRAY.rawValue), quality, 0)
        }
        precondition(status == 0, String(cString: tjGetErrorStr2(handle)))
        defer { tjFree(out) }
        return Data(bytes: out!, count: Int(size))
    }

    /// A BMP of `levels` (row-major, top first): 8-bit with a grey palette, 24-bit or 32-bit BGR(X), 4-bit and
    /// 1-bit with a palette mapping index i to level i * 255 / (entries - 1); rows bottom-up unless `topDown`.
    static func bmp(
        levels: [UInt8], width: Int, height: Int, bitsPerPixel: Int, topDown: Bool = false, compression: Int = 0
    ) -> Data {
        let stride = (width * bitsPerPixel + 31) / 32 * 4
        let entries = bitsPerPixel <= 8 ? 1 << bitsPerPixel : 0
        let offset = 14 + 40 + entries * 4
        var d = Data()
        func u16(_ v: Int) { d.append(contentsOf: [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)]) }
        func u32(_ v: Int) { u16(v & 0xFFFF); u16(v >> 16 & 0xFFFF) }
        d.append(contentsOf: Array("BM".utf8))
        u32(offset + stride * height); u32(0); u32(offset)
        u32(40); u32(width); u32(topDown ? -height : height); u16(1); u16(bitsPerPixel); u32(compression)
        u32(stride * height); u32(2835); u32(2835); u32(entries); u32(0)
        for i in 0..<entries {
            let v = UInt8(i * 255 / (entries - 1))
            d.append(contentsOf: [v, v, v, 0])
        }
        for row in 0..<height {
            let y = topDown ? row : height - 1 - row
            var bytes = [UInt8](repeating: 0, count: stride)
            for x in 0..<width {
                let v = levels[y * width + x]
                switch bitsPerPixel {
                case 24, 32:
                    for c in 0..<3 { bytes[x * bitsPerPixel / 8 + c] = v }
                default:
                    let index = Int(v) * (entries - 1) / 255
                    let perByte = 8 / bitsPerPixel
                    bytes[x / perByte] |= UInt8(index << ((perByte - 1 - x % perByte) * bitsPerPixel))
                }
            }
            d.append(contentsOf: bytes)
        }
        return d
    }
}
