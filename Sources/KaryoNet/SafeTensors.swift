import Foundation

/// A read-only safetensors file: an 8-byte little-endian header length, a JSON header mapping each tensor's
/// name to its dtype, shape and byte range, then the raw little-endian data.
///
/// The file is memory-mapped once; `tensor(_:shape:)` converts F32, F16 and BF16 to Float32.
public struct SafeTensorsFile: Sendable {
    /// One entry of the header.
    public struct Entry: Sendable, Equatable {
        /// `F32`, `F16`, `BF16`, ...
        public let dtype: String
        /// The tensor's shape.
        public let shape: [Int]
        /// Byte range within the data section.
        public let range: Range<Int>
    }

    /// The file path, for error messages.
    public let path: String
    /// Every tensor in the file, by name.
    public let entries: [String: Entry]
    /// The `__metadata__` string map, if present.
    public let metadata: [String: String]
    private let source: Source
    /// Byte offset of the data section from the start of the file.
    private let dataStart: Int

    /// Opens the file at `url` and parses its header; tensors are read from the file on demand (`pread`), so the
    /// weights are never resident twice.
    public init(url: URL) throws {
        let path = url.path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw KaryoNetError(
                .unreadable, "cannot open the weights file: \(String(cString: strerror(errno)))", file: path)
        }
        defer { close(fd) }
        var prefix = [UInt8](repeating: 0, count: 8)
        guard pread(fd, &prefix, 8, 0) == 8 else {
            throw KaryoNetError(.malformed, "not a safetensors file: shorter than its 8-byte header length", file: path)
        }
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(prefix[i]) << (8 * i) }
        let fileSize = Int(lseek(fd, 0, SEEK_END))
        guard headerLength >= 0, headerLength <= fileSize - 8 else {
            throw KaryoNetError(
                .malformed, "not a safetensors file: header length \(headerLength) exceeds the file size", file: path)
        }
        var header = [UInt8](repeating: 0, count: 8 + headerLength)
        guard Self.readFully(fd, into: &header, count: header.count, offset: 0) else {
            throw KaryoNetError(.unreadable, "cannot read the safetensors header", file: path)
        }
        try self.init(header: Data(header), fileSize: fileSize, path: path, source: .file(path))
    }

    /// Parses safetensors bytes already in memory; `path` names them in errors.
    public init(data: Data, path: String) throws {
        try self.init(header: data, fileSize: data.count, path: path, source: .memory(data))
    }

    /// Where tensor bytes are read from.
    private enum Source: @unchecked Sendable {
        case memory(Data)
        case file(String)
    }

    /// Parses the header at the start of `data` (which may hold only the header when reading from a file).
    private init(header data: Data, fileSize: Int, path: String, source: Source) throws {
        self.path = path
        self.source = source
        guard data.count >= 8 else {
            throw KaryoNetError(.malformed, "not a safetensors file: shorter than its 8-byte header length", file: path)
        }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw KaryoNetError(
                .malformed, "not a safetensors file: header length \(headerLength) exceeds the file size", file: path)
        }
        let start = data.startIndex + 8
        let end = start + Int(headerLength)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data[start..<end])
        } catch {
            throw KaryoNetError(.malformed, "the safetensors header is not valid JSON", file: path)
        }
        guard let header = json as? [String: Any] else {
            throw KaryoNetError(.malformed, "the safetensors header is not a JSON object", file: path)
        }
        let dataSize = fileSize - 8 - Int(headerLength)
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                let shape = (info["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                let offsets = (info["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                offsets.count == 2, offsets[0] <= offsets[1], offsets[1] <= dataSize
            else {
                throw KaryoNetError(.malformed, "tensor '\(name)' has a malformed header entry", file: path)
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        self.entries = entries
        self.metadata = metadata
        self.dataStart = 8 + Int(headerLength)
    }

    /// The tensor `name` as Float32, checked against `shape` when given. F32, F16 and BF16 are the weight dtypes;
    /// F64, I64, I32 and U8 (golden files' sizes, indices, images) are converted too.
    public func tensor(_ name: String, shape expected: [Int]? = nil) throws -> Tensor {
        if let entry = entries[name], entry.dtype == "F32", expected == nil || expected == entry.shape,
            entry.range.count == 4 * entry.shape.reduce(1, *)
        {
            // Little-endian F32 is already the in-memory layout: copy the bytes straight into the tensor.
            let count = entry.shape.reduce(1, *)
            let start = dataStart + entry.range.lowerBound
            let values = try withBytes(start..<(start + 4 * count)) { src in
                [Float](unsafeUninitializedCapacity: count) { out, initialized in
                    UnsafeMutableRawBufferPointer(out).copyMemory(from: src)
                    initialized = count
                }
            }
            return Tensor(shape: entry.shape, data: values)
        }
        let (entry, values) = try read(name, shape: expected) { Float($0) }
        return Tensor(shape: entry.shape, data: values)
    }

    /// Calls `body` with the bytes at `range` of the file (read with `pread`) or of the in-memory data.
    private func withBytes<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        switch source {
        case .memory(let data):
            return try data.withUnsafeBytes { raw in
                try body(UnsafeRawBufferPointer(rebasing: raw[range]))
            }
        case .file(let path):
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else {
                throw KaryoNetError(
                    .unreadable, "cannot reopen the weights file: \(String(cString: strerror(errno)))", file: path)
            }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: range.count)
            guard Self.readFully(fd, into: &buffer, count: range.count, offset: range.lowerBound) else {
                throw KaryoNetError(.unreadable, "the weights file ended early or could not be read", file: path)
            }
            return try buffer.withUnsafeBytes { try body($0) }
        }
    }

    /// `pread` until `count` bytes arrived; false on error or end of file.
    private static func readFully(_ fd: Int32, into buffer: inout [UInt8], count: Int, offset: Int) -> Bool {
        var done = 0
        return buffer.withUnsafeMutableBytes { raw in
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
                if n <= 0 { return false }
                done += n
            }
            return true
        }
    }

    /// The values of tensor `name` as Float64 (exact for F64 and for integers below 2^53).
    public func doubles(_ name: String) throws -> [Double] {
        try read(name, shape: nil) { $0 }.1
    }

    private func read<T>(_ name: String, shape expected: [Int]?, convert: (Double) -> T) throws -> (Entry, [T]) {
        guard let entry = entries[name] else {
            let shapeText = expected.map { " of shape \($0)" } ?? ""
            throw KaryoNetError(
                .missingTensor,
                "tensor '\(name)'\(shapeText) is missing from the weights; the model does not match its config.json",
                file: path)
        }
        if let expected, expected != entry.shape {
            throw KaryoNetError(
                .shapeMismatch, "tensor '\(name)' has shape \(entry.shape), expected \(expected)", file: path)
        }
        let count = entry.shape.reduce(1, *)
        let widths = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1]
        guard let width = widths[entry.dtype] else {
            throw KaryoNetError(
                .unsupportedDType,
                "tensor '\(name)' has dtype \(entry.dtype); only F32, F16, BF16, F64, I64, I32 and U8 are read",
                file: path)
        }
        guard entry.range.count == count * width else {
            throw KaryoNetError(
                .malformed,
                "tensor '\(name)' spans \(entry.range.count) bytes, but shape \(entry.shape) of \(entry.dtype) "
                    + "needs \(count * width)", file: path)
        }
        let start = dataStart + entry.range.lowerBound
        let values = try withBytes(start..<(start + count * width)) { src in
            [T](unsafeUninitializedCapacity: count) { out, initialized in
                let o = out.baseAddress!
                func convertAll<I: FixedWidthInteger>(_: I.Type, _ f: (I) -> Double) {
                    for i in 0..<count {
                        let bits = I(
                            littleEndian: src.loadUnaligned(fromByteOffset: i * MemoryLayout<I>.size, as: I.self))
                        (o + i).initialize(to: convert(f(bits)))
                    }
                }
                switch entry.dtype {
                case "F32": convertAll(UInt32.self) { Double(Float(bitPattern: $0)) }
                case "F16": convertAll(UInt16.self) { Double(Float(Float16(bitPattern: $0))) }
                case "BF16": convertAll(UInt16.self) { Double(Float(bitPattern: UInt32($0) << 16)) }
                case "F64": convertAll(UInt64.self) { Double(bitPattern: $0) }
                case "I64": convertAll(Int64.self) { Double($0) }
                case "I32": convertAll(Int32.self) { Double($0) }
                default: convertAll(UInt8.self) { Double($0) }
                }
                initialized = count
            }
        }
        return (entry, values)
    }

    /// Whether the file holds a tensor called `name`.
    public func contains(_ name: String) -> Bool { entries[name] != nil }
}

/// Writes Float32 tensors as a safetensors file (used by the tests and `karyocount bench` for random weights).
public func safeTensorsData(_ tensors: [String: Tensor]) -> Data {
    var header: [String: Any] = [:]
    var offset = 0
    let names = tensors.keys.sorted()
    for name in names {
        let t = tensors[name]!
        header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]]
        offset += 4 * t.count
    }
    var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while (json.count + 8) % 8 != 0 { json.append(0x20) }
    var out = Data()
    var length = UInt64(json.count).littleEndian
    withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
    out.append(json)
    out.reserveCapacity(out.count + offset)
    for name in names {
        tensors[name]!.data.withUnsafeBytes { out.append(contentsOf: $0) }
    }
    return out
}
