import CTIFF

/// Turns decoded TIFF sample rows into grey intensities: RGB by luminance, grey and palette through a table.
struct TIFFSampleConverter {
    let layout: TIFFLayout
    /// Grey level of every sample value (palette, or 1- and 8-bit grey); empty for RGB and 16-bit grey.
    let table: [Float]

    init(_ tif: OpaquePointer, layout: TIFFLayout, name: String) throws(ImageError) {
        self.layout = layout
        let photometric = Int32(layout.photometric)
        if photometric == PHOTOMETRIC_PALETTE {
            table = try Self.paletteTable(tif, bits: layout.bitsPerSample, name: name)
        } else if photometric == PHOTOMETRIC_RGB || layout.bitsPerSample == 16 {
            table = []
        } else {
            table = SampleConversion.greyTable(
                bits: layout.bitsPerSample, inverted: photometric == PHOTOMETRIC_MINISWHITE)
        }
    }

    /// Converts `rows` rows held in `band` (planes `planeBytes` apart) into `out`.
    func convert(band: UnsafeMutableRawPointer, rows: Int, planeBytes: Int, into out: UnsafeMutablePointer<Float>) {
        let count = rows * layout.width
        if Int32(layout.photometric) == PHOTOMETRIC_RGB {
            let step = layout.separatePlanes ? 1 : layout.samplesPerPixel
            let sampleBytes = layout.bitsPerSample / 8
            let offsets = (0..<3).map { layout.separatePlanes ? $0 * planeBytes : $0 * sampleBytes }
            if layout.bitsPerSample == 16 {
                let r = UnsafePointer((band + offsets[0]).assumingMemoryBound(to: UInt16.self))
                let g = UnsafePointer((band + offsets[1]).assumingMemoryBound(to: UInt16.self))
                let b = UnsafePointer((band + offsets[2]).assumingMemoryBound(to: UInt16.self))
                SampleConversion.luminance(red: r, green: g, blue: b, stride: step, count: count, into: out)
            } else {
                let r = UnsafePointer((band + offsets[0]).assumingMemoryBound(to: UInt8.self))
                let g = UnsafePointer((band + offsets[1]).assumingMemoryBound(to: UInt8.self))
                let b = UnsafePointer((band + offsets[2]).assumingMemoryBound(to: UInt8.self))
                SampleConversion.luminance(red: r, green: g, blue: b, stride: step, count: count, into: out)
            }
            return
        }
        table.withUnsafeBufferPointer { lut in
            switch layout.bitsPerSample {
            case 16 where lut.isEmpty:
                let samples = UnsafePointer(band.assumingMemoryBound(to: UInt16.self))
                let inverted = Int32(layout.photometric) == PHOTOMETRIC_MINISWHITE
                SampleConversion.scale(
                    samples, stride: layout.samplesInPlane, count: count, inverted: inverted, into: out)
            case 16:
                let samples = UnsafePointer(band.assumingMemoryBound(to: UInt16.self))
                SampleConversion.lookup(samples, stride: layout.samplesInPlane, count: count, table: lut, into: out)
            case 8:
                let samples = UnsafePointer(band.assumingMemoryBound(to: UInt8.self))
                SampleConversion.lookup(samples, stride: layout.samplesInPlane, count: count, table: lut, into: out)
            default:
                for y in 0..<rows {
                    let row = UnsafePointer((band + y * layout.rowBytes).assumingMemoryBound(to: UInt8.self))
                    SampleConversion.lookupBits(
                        row, count: layout.width, zero: lut[0], one: lut[1], into: out + y * layout.width)
                }
            }
        }
    }

    /// Grey levels of the colour map's entries (16-bit per channel; maps holding only 8-bit values are
    /// read as 8-bit, as libtiff's own RGBA reader does).
    private static func paletteTable(_ tif: OpaquePointer, bits: Int, name: String) throws(ImageError) -> [Float] {
        var r: UnsafeMutablePointer<UInt16>?, g: UnsafeMutablePointer<UInt16>?, b: UnsafeMutablePointer<UInt16>?
        guard karyo_tiff_get_colormap(tif, &r, &g, &b) == 1, let r, let g, let b else {
            throw ImageError(path: name, cause: .corrupt("a palette image without a colour map"))
        }
        let entries = 1 << bits
        var maximum: UInt16 = 0
        for i in 0..<entries { maximum = max(maximum, r[i], g[i], b[i]) }
        let scale: Float = maximum < 256 ? 255 : 65535
        return (0..<entries).map { i in
            (SampleConversion.redWeight * Float(r[i]) + SampleConversion.greenWeight * Float(g[i])
                + SampleConversion.blueWeight * Float(b[i])) / scale
        }
    }
}
