import CTIFF

/// The first directory's sample layout, validated before any pixel memory is allocated.
struct TIFFLayout {
    var width = 0
    var height = 0
    var bitsPerSample = 0
    var samplesPerPixel = 0
    var photometric = 0
    var separatePlanes = false
    var tiled = false
    /// Planes read: 3 for separate RGB, else 1.
    var planes = 1
    /// Samples per pixel inside one read plane.
    var samplesInPlane = 1
    var rowBytes = 0

    var colorModel: ColorModel {
        switch Int32(photometric) {
        case PHOTOMETRIC_MINISWHITE: return .greyMinIsWhite
        case PHOTOMETRIC_RGB: return samplesPerPixel > 3 ? .rgba : .rgb
        case PHOTOMETRIC_PALETTE: return .palette
        default: return samplesPerPixel > 1 ? .greyAlpha : .grey
        }
    }

    init(_ tif: OpaquePointer, name: String, limits: ImageLimits) throws(ImageError) {
        var w: UInt32 = 0, h: UInt32 = 0
        guard karyo_tiff_get_u32(tif, UInt32(TIFFTAG_IMAGEWIDTH), &w) == 1,
            karyo_tiff_get_u32(tif, UInt32(TIFFTAG_IMAGELENGTH), &h) == 1
        else { throw ImageError(path: name, cause: .corrupt("the TIFF directory has no image width or length")) }
        width = Int(w)
        height = Int(h)
        guard limits.accepts(width: width, height: height) else {
            throw ImageError(path: name, cause: .absurdDimensions(width: width, height: height, limits: limits))
        }
        var bps: UInt16 = 1, spp: UInt16 = 1, format: UInt16 = 1, planar: UInt16 = 1, photo: UInt16 = 0
        var compression: UInt16 = 1
        _ = karyo_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_BITSPERSAMPLE), &bps)
        _ = karyo_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), &spp)
        _ = karyo_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_SAMPLEFORMAT), &format)
        _ = karyo_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_PLANARCONFIG), &planar)
        _ = karyo_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_COMPRESSION), &compression)
        if karyo_tiff_get_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), &photo) != 1 {
            photo = UInt16(spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK)
        }
        bitsPerSample = Int(bps)
        samplesPerPixel = Int(spp)
        photometric = Int(photo)
        separatePlanes = Int32(planar) == PLANARCONFIG_SEPARATE && spp > 1
        tiled = TIFFIsTiled(tif) != 0

        func unsupported(_ what: String) -> ImageError { ImageError(path: name, cause: .unsupportedLayout(what)) }
        switch Int32(format) {
        case SAMPLEFORMAT_UINT: break
        case SAMPLEFORMAT_IEEEFP: throw unsupported("\(bps)-bit floating-point samples")
        case SAMPLEFORMAT_INT: throw unsupported("\(bps)-bit signed integer samples")
        default: throw unsupported("sample format \(format) with \(bps)-bit samples")
        }
        guard bps == 1 || bps == 8 || bps == 16 else {
            throw unsupported("\(bps)-bit samples (only 1, 8 and 16 bits are read)")
        }
        guard spp >= 1 && spp <= 16 else { throw unsupported("\(spp) samples per pixel") }
        switch Int32(photo) {
        case PHOTOMETRIC_MINISBLACK, PHOTOMETRIC_MINISWHITE:
            break
        case PHOTOMETRIC_RGB:
            guard spp >= 3 else { throw unsupported("RGB with \(spp) samples per pixel") }
            guard bps != 1 else { throw unsupported("1-bit RGB") }
        case PHOTOMETRIC_PALETTE:
            guard spp == 1 else { throw unsupported("palette image with \(spp) samples per pixel") }
        default:
            throw unsupported("photometric interpretation \(Self.photometricName(Int32(photo)))")
        }
        if bps == 1 && spp != 1 { throw unsupported("1-bit samples with \(spp) samples per pixel") }
        if TIFFIsCODECConfigured(compression) == 0 {
            throw unsupported("compression scheme \(compression), which this libtiff cannot decode")
        }
        planes = separatePlanes && Int32(photo) == PHOTOMETRIC_RGB ? 3 : 1
        samplesInPlane = separatePlanes ? 1 : samplesPerPixel
        rowBytes = (width * samplesInPlane * bitsPerSample + 7) / 8
    }

    static func photometricName(_ value: Int32) -> String {
        switch value {
        case PHOTOMETRIC_SEPARATED: return "CMYK (separated)"
        case PHOTOMETRIC_YCBCR: return "YCbCr"
        case PHOTOMETRIC_CIELAB, PHOTOMETRIC_ICCLAB, PHOTOMETRIC_ITULAB: return "CIE L*a*b*"
        case PHOTOMETRIC_MASK: return "transparency mask"
        default: return "\(value)"
        }
    }
}
