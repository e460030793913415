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
    private let bytes: Data
    private let dataStart: Int

    /// Opens and parses the header of the file at `url`.
    public init(url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw KaryoNetError(
                .unreadable, "cannot read the weights file: \(error.localizedDescription)", file: url.path)
        }
        try self.init(data: data, path: url.path)
    }

    /// Parses safetensors bytes already in memory; `path` names them in errors.
    public init(data: Data, path: String) throws {
        self.path = path
        self.bytes = data
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
        let dataSize = data.count - 8 - Int(headerLength)
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
        self.dataStart = end
    }

    /// The tensor `name` as Float32, checked against `shape` when given. F32, F16 and BF16 are the weight dtypes;
    /// F64, I64, I32 and U8 (golden files' sizes, indices, images) are converted too.
    public func tensor(_ name: String, shape expected: [Int]? = nil) throws -> Tensor {
        let (entry, values) = try read(name, shape: expected) { Float($0) }
        return Tensor(shape: entry.shape, data: values)
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
        let start = dataStart - bytes.startIndex + entry.range.lowerBound
        let values = [T](unsafeUninitializedCapacity: count) { out, initialized in
            bytes.withUnsafeBytes { raw in
                let src = UnsafeRawBufferPointer(rebasing: raw[start..<(start + count * width)])
                func load<I: FixedWidthInteger>(_ i: Int, _: I.Type) -> I {
                    I(littleEndian: src.loadUnaligned(fromByteOffset: i * MemoryLayout<I>.size, as: I.self))
                }
                for i in 0..<count {
                    let v: Double
                    switch entry.dtype {
                    case "F32": v = Double(Float(bitPattern: load(i, UInt32.self)))
                    case "F16": v = Double(Float(Float16(bitPattern: load(i, UInt16.self))))
                    case "BF16": v = Double(Float(bitPattern: UInt32(load(i, UInt16.self)) << 16))
                    case "F64": v = Double(bitPattern: load(i, UInt64.self))
                    case "I64": v = Double(load(i, Int64.self))
                    case "I32": v = Double(load(i, Int32.self))
                    default: v = Double(src[i])
                    }
                    (out.baseAddress! + i).initialize(to: convert(v))
                }
            }
            initialized = count
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
