import Foundation
import KaryoTestSupport
import Testing

@testable import KaryoPipeline

@Suite("Patient mapping and safe names")
struct PatientMapperTests {
    let root = URL(filePath: "/drop")

    @Test("CytoVision names give case and cell; A and O are counted")
    func cytoVision() throws {
        let m = try PatientMapper()
        let a = m.identify(URL(filePath: "/drop/x/8129A.013.A.TIF"), root: root)
        #expect(a == ImageIdentity(patient: "8129A", cell: "013", stem: "8129A.013.A", kind: .metaphase))
        let o = m.identify(URL(filePath: "/drop/18-Y2087.145.O.png"), root: root)
        #expect(o.patient == "18-Y2087" && o.cell == "145" && o.kind == .metaphase)
    }

    @Test("a karyogram file is never counted")
    func karyogram() throws {
        let k = try PatientMapper().identify(URL(filePath: "/drop/8129A.001.K.TIF"), root: root)
        #expect(k.kind == .karyogram)
        #expect(k.patient == "8129A")
    }

    @Test("other names take the first folder under the root, else the stem")
    func folderThenStem() throws {
        let m = try PatientMapper()
        #expect(m.identify(URL(filePath: "/drop/CASE-7/day2/img01.tif"), root: root).patient == "CASE-7")
        #expect(m.identify(URL(filePath: "/drop/img01.tif"), root: root).patient == "img01")
        #expect(m.identify(URL(filePath: "/elsewhere/img01.tif"), root: nil).patient == "img01")
    }

    @Test("a configured pattern with a patient group wins over the folder")
    func customPattern() throws {
        let m = try PatientMapper(pattern: #"^(?<patient>[A-Z]+[0-9]+)_(?<cell>[0-9]+)"#)
        let id = m.identify(URL(filePath: "/drop/CASEFOLDER/AB12_007.png"), root: root)
        #expect(id.patient == "AB12" && id.cell == "007")
        let noCell = try PatientMapper(pattern: #"^(?<patient>[A-Z]+[0-9]+)_"#)
        #expect(noCell.identify(URL(filePath: "/drop/F/AB12_007.png"), root: root).cell == nil)
        #expect(noCell.identify(URL(filePath: "/drop/F/other.png"), root: root).patient == "F")
    }

    @Test("names with ../, slashes, control characters and leading dots become one harmless component")
    func sanitization() throws {
        #expect(SafeName.component("../../etc/passwd") == "___.._etc_passwd")
        #expect(SafeName.component("..") == "__")
        #expect(SafeName.component(".") == "_")
        #expect(SafeName.component(".hidden") == "_hidden")
        #expect(SafeName.component("a\u{1}b\nc\u{7F}") == "a_b_c_")
        #expect(SafeName.component("a\\b") == "a_b")
        #expect(SafeName.component("") == "_")
        #expect(SafeName.component(String(repeating: "x", count: 500)).utf8.count == SafeName.maxBytes)
        let m = try PatientMapper(pattern: #"^(?<patient>.*)__"#)
        let id = m.identify(URL(filePath: "/drop/..__x.png"), root: root)
        #expect(id.patient == "__")
        #expect(m.identify(URL(filePath: "/drop/patient.png"), root: root).stem == "patient_")
    }

    @Test("joining refuses any component that is not already safe")
    func joinRefusesEscapes() throws {
        let out = URL(filePath: "/out/results")
        #expect(throws: PipelineError.self) { try SafeName.join(out, "..", "x.json") }
        #expect(throws: PipelineError.self) { try SafeName.join(out, "a/b") }
        #expect(try SafeName.join(out, "P1", "x.json").path == "/out/results/P1/x.json")
    }
}
