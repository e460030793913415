import Foundation
import Testing

@testable import KaryoNet

@Suite("safetensors reader")
struct SafeTensorsTests {
    /// Builds a safetensors file by hand: header JSON, then raw little-endian bytes.
    func file(_ header: String, _ payload: [UInt8]) -> Data {
        var data = Data()
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        data.append(contentsOf: payload)
        return data
    }

    @Test("F32 and F16 tensors are read as Float32")
    func parsesF32AndF16() throws {
        let f32: [Float] = [1.5, -2, 0.25]
        var payload: [UInt8] = []
        for v in f32 { withUnsafeBytes(of: v.bitPattern.littleEndian) { payload += $0 } }
        let halves: [Float16] = [1, -0.5]
        for v in halves { withUnsafeBytes(of: v.bitPattern.littleEndian) { payload += $0 } }
        let header = """
            {"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},\
            "b":{"dtype":"F16","shape":[1,2],"data_offsets":[12,16]},"__metadata__":{"format":"pt"}}
            """
        let st = try SafeTensorsFile(data: file(header, payload), path: "mem.safetensors")
        #expect(try st.tensor("a", shape: [3]).data == f32)
        #expect(try st.tensor("b").data == [1, -0.5])
        #expect(st.metadata["format"] == "pt")
    }

    @Test("a missing tensor is reported by name with the file")
    func missingTensor() throws {
        let st = try SafeTensorsFile(data: safeTensorsData(["x": Tensor(shape: [2], value: 1)]), path: "w.safetensors")
        #expect(throws: KaryoNetError.self) { try st.tensor("fpn.inner3.weight", shape: [256, 128, 1, 1]) }
        do {
            _ = try st.tensor("fpn.inner3.weight", shape: [256, 128, 1, 1])
        } catch let error as KaryoNetError {
            #expect(error.code == .missingTensor)
            #expect(error.description.contains("fpn.inner3.weight"))
            #expect(error.description.contains("w.safetensors"))
        }
    }

    @Test("a mis-shaped tensor names the expected and the found shape")
    func misShapedTensor() throws {
        let st = try SafeTensorsFile(
            data: safeTensorsData(["x": Tensor(shape: [2, 3], value: 1)]), path: "w.safetensors")
        do {
            _ = try st.tensor("x", shape: [3, 2])
            Issue.record("expected a shape mismatch")
        } catch let error as KaryoNetError {
            #expect(error.code == .shapeMismatch)
            #expect(error.description.contains("[2, 3]") && error.description.contains("[3, 2]"))
        }
    }

    @Test("a truncated or garbage file is rejected as malformed")
    func malformed() {
        #expect(throws: KaryoNetError.self) { try SafeTensorsFile(data: Data([1, 2, 3]), path: "x") }
        #expect(throws: KaryoNetError.self) { try SafeTensorsFile(data: file("{not json", []), path: "x") }
        #expect(throws: KaryoNetError.self) {
            try SafeTensorsFile(
                data: file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, [0, 0]), path: "x")
        }
    }

    @Test("a network built from random weights round-trips through a safetensors file")
    func roundTrip() throws {
        var config = ModelConfig.standard(depth: 18)
        config.backbone.width = 8
        config.fpn.channels = 32
        config.box_head.representation_size = 64
        let weights = config.randomWeights(seed: 3)
        let st = try SafeTensorsFile(data: safeTensorsData(weights.tensors), path: "r18.safetensors")
        for (name, tensor) in weights.tensors.prefix(20) { #expect(try st.tensor(name, shape: tensor.shape) == tensor) }
        _ = try DeepACENetwork(config: config, weights: st)
        var missing = weights.tensors
        missing["rpn.conv.weight"] = nil
        #expect(throws: KaryoNetError.self) { try DeepACENetwork(config: config, weights: InMemoryTensors(missing)) }
    }
}

@Suite("Model config")
struct ModelConfigTests {
    private let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden/model/config.json")

    @Test("an unknown post-processing method or working-scale rule is refused, naming the key and the choices")
    func unknownChoices() throws {
        let text = try String(contentsOf: golden, encoding: .utf8)
        #expect(try ModelConfig.load(from: golden).postprocess.method == .egNMS)
        for (from, to, message) in [
            (
                #""method": "eg-nms""#, #""method": "magic""#,
                "postprocess.method 'magic' is not one of eg-nms, nms, soft-nms"
            ),
            (
                #""working_scale": "chromosome-width""#, #""working_scale": "auto""#,
                "input.working_scale 'auto' is not one of fixed, chromosome-width"
            ),
        ] {
            #expect(text.contains(from))
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString).json")
            defer { try? FileManager.default.removeItem(at: url) }
            try Data(text.replacingOccurrences(of: from, with: to).utf8).write(to: url)
            do {
                _ = try ModelConfig.load(from: url)
                Issue.record("\(to) was accepted")
            } catch let error as KaryoNetError {
                #expect(error.description.contains(message), "\(error)")
            }
        }
    }
}
