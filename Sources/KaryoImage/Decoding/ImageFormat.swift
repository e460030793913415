/// The container formats the decoder reads, recognized by their first bytes.
public enum ImageFormat: String, Sendable, Equatable, Hashable, Codable {
    case png
    case tiff
    case jpeg
    case bmp

    /// The format whose signature `bytes` start with, or nil.
    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if bytes.count >= 8 && bytes.prefix(8).elementsEqual(png) { return .png }
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF { return .jpeg }
        // "BM", then a DIB header whose size field is one of the known headers' (12, 40, 52, 56, 64, 108, 124).
        if bytes.count >= 18 && bytes[0] == 0x42 && bytes[1] == 0x4D
            && [12, 40, 52, 56, 64, 108, 124].contains(Int(bytes[14]) | Int(bytes[15]) << 8)
            && bytes[16] == 0 && bytes[17] == 0
        {
            return .bmp
        }
        if bytes.count >= 4 {
            let b = Array(bytes.prefix(4))
            // Classic TIFF (42) and BigTIFF (43), little- and big-endian.
            if b[0] == 0x49 && b[1] == 0x49 && (b[2] == 42 || b[2] == 43) && b[3] == 0 { return .tiff }
            if b[0] == 0x4D && b[1] == 0x4D && b[2] == 0 && (b[3] == 42 || b[3] == 43) { return .tiff }
        }
        return nil
    }

    /// What unrecognized leading bytes look like, in words, for error messages ("JPEG data", "bytes 00 01 ...").
    public static func describeMagic(_ bytes: UnsafeRawBufferPointer) -> String {
        let b = Array(bytes.prefix(16))
        func starts(_ prefix: [UInt8]) -> Bool {
            b.count >= prefix.count && b.prefix(prefix.count).elementsEqual(prefix)
        }
        let ascii = { (s: String) in starts(Array(s.utf8)) }
        if starts([0x89, 0x50, 0x4E, 0x47]) { return "a damaged PNG signature (\(hex(b.prefix(8))))" }
        if ascii("GIF87a") || ascii("GIF89a") { return "GIF data" }
        if ascii("BM") && b.count >= 14 { return "a damaged BMP header (\"BM\")" }
        if ascii("%PDF") { return "a PDF document (\"%PDF\")" }
        if starts([0x50, 0x4B, 0x03, 0x04]) { return "a ZIP archive (\"PK\")" }
        if ascii("RIFF") && b.count >= 12 && Array(b[8..<12]) == Array("WEBP".utf8) { return "WebP data" }
        if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) {
            return "JPEG 2000 data"
        }
        if starts([0x1F, 0x8B]) { return "gzip-compressed data (1F 8B)" }
        if bytes.count > 132 && Array(bytes[128..<132]) == Array("DICM".utf8) { return "a DICOM file (\"DICM\")" }
        if !b.isEmpty && b.allSatisfy({ $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20..<0x7F).contains($0) }) {
            let text = String(decoding: b, as: UTF8.self).replacingControlCharacters()
            return "text (\"\(text)\")"
        }
        return "bytes \(hex(b.prefix(8)))"
    }

    private static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { byte in
            let digits = String(byte, radix: 16, uppercase: true)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: " ")
    }
}

extension String {
    fileprivate func replacingControlCharacters() -> String {
        String(map { $0.isNewline || $0 == "\t" ? " " : $0 })
    }
}
