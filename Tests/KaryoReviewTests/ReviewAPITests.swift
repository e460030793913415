import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KaryoImage
import KaryoPipeline
import KaryoTestSupport
import Testing

@testable import KaryoReview

/// A daemon's pipeline with counted patients, and its review station's routes.
final class Station: @unchecked Sendable {
    let dir = TempDir()
    let pipeline: Pipeline
    let server: ReviewServer

    /// Counts `images` (file name, count) with the pixel-code detector; `minImages` and `minDisagreeing` as given.
    init(
        _ images: [(String, Int)], minImages: Int = 3, minDisagreeing: Int = 2,
        review: (inout ReviewSettings) -> Void = { _ in }
    ) async throws {
        var config = testConfig(dir)
        config.minImages = minImages
        config.minDisagreeing = minDisagreeing
        review(&config.review)
        pipeline = try openPipeline(config: config, detector: PixelCodeDetector(), logger: LogCapture().logger)
        for (i, (name, count)) in images.enumerated() {
            let file = dir.write("drop/\(name)", codedPNG(count: count, salt: i))
            try pipeline.enqueue(file, root: dir.path("drop"))
        }
        _ = await pipeline.processPending()
        server = try ReviewServer(pipeline: pipeline)
    }

    var token: String { server.access.csrfToken }

    func test<T>(_ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        try await Application(router: server.router()).test(.router, body)
    }

    func patientFile(_ patient: String) throws -> PatientReport {
        try KaryoJSON.decode(
            PatientReport.self, from: Data(contentsOf: dir.path("out/results/\(patient)/patient.json")))
    }

    func cellID(_ patient: String, stem: String) throws -> String {
        try #require(try pipeline.queue.results(patient: patient).first { $0.stem == stem }).sha256
    }
}

func json(_ value: [String: Any]) -> ByteBuffer {
    ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: value))
}

func decode<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) throws -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return try decoder.decode(type, from: Data(buffer.readableBytesView))
}

/// The headers the station's own pages send with a change.
func changeHeaders(_ token: String) -> HTTPFields {
    [.contentType: "application/json", ReviewServer.csrfHeader: token]
}

@Suite("Review station API")
struct ReviewAPITests {
    @Test("patients and cells: counts, the flagged patient listed first")
    func listing() async throws {
        let station = try await Station([
            ("A1.001.A.png", 46), ("A1.002.A.png", 46), ("A1.003.A.png", 46),
            ("B2.001.A.png", 47), ("B2.002.A.png", 47), ("B2.003.A.png", 46),
        ])
        try await station.test { client in
            try await client.execute(uri: "/api/patients", method: .get) { response in
                #expect(response.status == .ok)
                let patients = try decode([PatientSummary].self, response.body)
                #expect(patients.map(\.patient) == ["B2", "A1"])
                #expect(patients[0].flagged && patients[0].flagReason == "2 of 3 images are not 46: 47 x 2")
                #expect(patients[1].modalCount == 46 && patients[1].imagesCounted == 3)
            }
            try await client.execute(uri: "/api/patients/B2", method: .get) { response in
                let detail = try decode(PatientDetail.self, response.body)
                #expect(detail.cells.map(\.stem) == ["B2.001.A", "B2.002.A", "B2.003.A"])
                #expect(detail.cells.map(\.count) == [47, 47, 46])
                #expect(detail.cells.allSatisfy { !$0.reviewed })
            }
            try await client.execute(uri: "/api/patients/NOPE", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("a corrected count recomputes the flag, in the API and in patient.json; the detector's result is untouched")
    func correctionRecomputesFlag() async throws {
        let station = try await Station([("B2.001.A.png", 47), ("B2.002.A.png", 47), ("B2.003.A.png", 46)])
        let id = try station.cellID("B2", stem: "B2.002.A")
        let resultBefore = try Data(contentsOf: station.dir.path("out/results/B2/B2.002.A.json"))
        #expect(try station.patientFile("B2").isFlagged)
        let token = station.token
        try await station.test { client in
            try await client.execute(
                uri: "/api/cells/\(id)/review", method: .post, headers: changeHeaders(token),
                body: json(["count": 46, "reviewer": "Dr. Ada"])
            ) { response in
                #expect(response.status == .ok)
                let cell = try decode(CellDetail.self, response.body)
                #expect(cell.count == 46 && cell.detectorCount == 47 && cell.reviewed)
                #expect(cell.reviews.map(\.changes) == ["count 47 -> 46; count typed, boxes not corrected"])
                #expect(cell.reviews.map(\.reviewer) == ["Dr. Ada"])
            }
            try await client.execute(uri: "/api/patients/B2", method: .get) { response in
                let detail = try decode(PatientDetail.self, response.body)
                #expect(!detail.summary.flagged)
                #expect(detail.summary.imagesReviewed == 1)
                #expect(detail.report.distribution == "modal 46 (46x2, 47x1; n=3)")
            }
        }
        let report = try station.patientFile("B2")
        #expect(!report.isFlagged && report.disagreeing == 1)
        #expect(report.imagesReviewed == 1)
        #expect(report.reviewNotes.contains("1 of 3 counts reviewed by a cytologist"))
        let cell = try #require(report.cells.first { $0.stem == "B2.002.A" })
        #expect(cell.count == 46 && cell.detectorCount == 47 && cell.reviewed && cell.confident)
        #expect(try Data(contentsOf: station.dir.path("out/results/B2/B2.002.A.json")) == resultBefore)
    }

    @Test("boxes: one removed and one drawn give the count and say what changed")
    func boxesCorrected() async throws {
        let station = try await Station([("C3.001.A.png", 3)], minImages: 1, minDisagreeing: 1)
        let id = try station.cellID("C3", stem: "C3.001.A")
        let token = station.token
        try await station.test { client in
            let cell = try await client.execute(uri: "/api/cells/\(id)", method: .get) { response in
                try decode(CellDetail.self, response.body)
            }
            #expect(cell.boxes.count == 3)
            let kept = cell.boxes.dropFirst().map { [$0.x1, $0.y1, $0.x2, $0.y2] }
            let boxes = kept + [[60.0, 40.0, 70.5, 52.0], [80.0, 40.0, 90.0, 50.0]]
            try await client.execute(
                uri: "/api/cells/\(id)/review", method: .post, headers: changeHeaders(token),
                body: json(["boxes": boxes, "reviewer": "Dr. Ada"])
            ) { response in
                #expect(response.status == .ok)
                let after = try decode(CellDetail.self, response.body)
                #expect(after.count == 4 && after.boxes.count == 4)
                #expect(after.boxes[2] == BoundingBox(x1: 60, y1: 40, x2: 70.5, y2: 52))
                #expect(after.reviews.last?.changes == "count 3 -> 4; 1 box removed; 2 boxes drawn")
            }
            try await client.execute(
                uri: "/api/cells/\(id)/review", method: .post, headers: changeHeaders(token),
                body: json(["boxes": [[1, 1, 5, 5]], "count": 2, "reviewer": "Dr. Ada"])
            ) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("count 2 disagrees with the 1 boxes drawn"))
            }
            try await client.execute(
                uri: "/api/cells/\(id)/review", method: .post, headers: changeHeaders(token),
                body: json(["count": 46])
            ) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("reviewer"))
            }
        }
    }

    @Test("sign-off freezes the patient's counts and report until it is reopened with a reason")
    func signOffFreezes() async throws {
        let station = try await Station([("D4.001.A.png", 47), ("D4.002.A.png", 47), ("D4.003.A.png", 46)])
        let id = try station.cellID("D4", stem: "D4.001.A")
        let token = station.token
        try await station.test { client in
            try await client.execute(
                uri: "/api/patients/D4/sign-off", method: .post, headers: changeHeaders(token),
                body: json(["by": "Dr. Lee"])
            ) { response in #expect(response.status == .ok) }
            try await client.execute(
                uri: "/api/patients/D4/sign-off", method: .post, headers: changeHeaders(token),
                body: json(["by": "Dr. Lee"])
            ) { response in #expect(response.status == .conflict) }
            try await client.execute(
                uri: "/api/cells/\(id)/review", method: .post, headers: changeHeaders(token),
                body: json(["count": 46, "reviewer": "Dr. Ada"])
            ) { response in
                #expect(response.status == .conflict)
                #expect(String(buffer: response.body).contains("signed off by Dr. Lee"))
            }
            try await client.execute(uri: "/patients/D4/report", method: .get) { response in
                let html = String(buffer: response.body)
                #expect(html.contains("by Dr. Lee at"))
                #expect(html.contains("2 of 3 images are not 46: 47 x 2"))
            }
            try await client.execute(
                uri: "/api/patients/D4/reopen", method: .post, headers: changeHeaders(token),
                body: json(["by": "Dr. Lee", "reason": ""])
            ) { response in #expect(response.status == .badRequest) }
            try await client.execute(
                uri: "/api/patients/D4/reopen", method: .post, headers: changeHeaders(token),
                body: json(["by": "Dr. Lee", "reason": "cell 001 recounted"])
            ) { response in #expect(response.status == .ok) }
            try await client.execute(
                uri: "/api/cells/\(id)/review", method: .post, headers: changeHeaders(token),
                body: json(["count": 46, "reviewer": "Dr. Ada"])
            ) { response in #expect(response.status == .ok) }
            try await client.execute(uri: "/api/patients/D4", method: .get) { response in
                let detail = try decode(PatientDetail.self, response.body)
                #expect(detail.signOffs.map(\.action) == [.signOff, .reopen])
                #expect(detail.signOffs.last?.reason == "cell 001 recounted")
                #expect(detail.summary.signedOffBy == nil)
                #expect(!detail.summary.flagged)
            }
        }
    }

    @Test("audit rows are never lost: every review is kept, and the database refuses to change or remove one")
    func auditTrail() async throws {
        let station = try await Station([("E5.001.A.png", 45)], minImages: 1, minDisagreeing: 1)
        let id = try station.cellID("E5", stem: "E5.001.A")
        let settings = AggregatorSettings(station.pipeline.config)
        for (count, who) in [(46, "Dr. Ada"), (45, "Dr. Lee"), (46, "Dr. Ada")] {
            _ = try station.pipeline.queue.recordReview(
                sha256: id, ReviewSubmission(count: count, boxes: nil, reviewer: who), detectorBoxes: [],
                settings: settings)
        }
        let reviews = try station.pipeline.queue.reviews(sha256: id)
        #expect(reviews.map(\.count) == [46, 45, 46])
        #expect(
            reviews.map(\.changes).prefix(2) == [
                "count 45 -> 46; count typed, boxes not corrected",
                "count 46 -> 45; count typed, boxes not corrected",
            ])
        let pool = station.pipeline.queue.sqlitePool
        #expect(throws: (any Error).self) { try pool.write { try $0.execute(sql: "UPDATE review SET count = 1") } }
        #expect(throws: (any Error).self) { try pool.write { try $0.execute(sql: "DELETE FROM review") } }
        _ = try station.pipeline.queue.signOff(patient: "E5", by: "Dr. Lee")
        #expect(throws: (any Error).self) { try pool.write { try $0.execute(sql: "DELETE FROM sign_off") } }
        #expect(throws: (any Error).self) { try pool.write { try $0.execute(sql: "UPDATE sign_off SET by = 'x'") } }
        #expect(try station.pipeline.queue.reviews(sha256: id).count == 3)
    }

    @Test("a crafted file name is escaped on every page")
    func crafted() async throws {
        let station = try await Station(
            [("<script>alert(1)<script>.001.A.png", 46), ("\"><img src=x onerror=alert(2)>.001.A.png", 46)],
            minImages: 1, minDisagreeing: 1)
        let patients = try station.pipeline.queue.patients().map(\.patient)
        #expect(patients.count == 2)
        try await station.test { client in
            var pages = ["/"]
            for patient in patients {
                let path = ReviewPages.patientPath(patient)
                pages += [path, path + "/report"]
                let id = try #require(try station.pipeline.queue.results(patient: patient).first).sha256
                pages.append("/cells/\(id)")
            }
            for page in pages {
                try await client.execute(uri: page, method: .get) { response in
                    #expect(response.status == .ok, "\(page)")
                    let html = String(buffer: response.body)
                    #expect(!html.contains("<script>alert"), "\(page)")
                    #expect(!html.contains("<img src=x"), "\(page)")
                    #expect(html.contains("&lt;script&gt;alert(1)") || html.contains("&lt;img src=x"), "\(page)")
                }
            }
        }
    }

    @Test("changes need the station's token, JSON, and no cross-site origin; pages answer to this machine's name only")
    func crossSiteRefused() async throws {
        let station = try await Station([("F6.001.A.png", 46)], minImages: 1, minDisagreeing: 1)
        let id = try station.cellID("F6", stem: "F6.001.A")
        let token = station.token
        let body = json(["count": 45, "reviewer": "Mallory"])
        try await station.test { client in
            let refused: [(HTTPFields, HTTPResponse.Status)] = [
                ([.contentType: "application/json"], .forbidden),
                ([.contentType: "application/json", ReviewServer.csrfHeader: "0000"], .forbidden),
                (changeHeaders(token) + [HTTPField(name: .origin, value: "http://evil.example")], .forbidden),
                (
                    changeHeaders(token) + [HTTPField(name: HTTPField.Name("Sec-Fetch-Site")!, value: "cross-site")],
                    .forbidden
                ),
                ([.contentType: "text/plain", ReviewServer.csrfHeader: token], .unsupportedMediaType),
            ]
            for (headers, status) in refused {
                try await client.execute(
                    uri: "/api/cells/\(id)/review", method: .post, headers: headers, body: body
                ) { response in #expect(response.status == status, "\(headers)") }
            }
            try await client.execute(
                uri: "/api/cells/\(id)/review", method: .post,
                headers: changeHeaders(token) + [HTTPField(name: .origin, value: "http://localhost")], body: body
            ) { response in #expect(response.status == .ok) }
            try await client.execute(uri: "/api/session", method: .get) { response in
                #expect(String(buffer: response.body).contains(token))
            }
        }
        #expect(try station.pipeline.queue.reviews(sha256: id).count == 1)
        let guardOnly = station.server.access
        #expect(guardOnly.isThisMachine("127.0.0.1:8470") && guardOnly.isThisMachine("localhost:8470"))
        #expect(!guardOnly.isThisMachine("evil.example:8470") && !guardOnly.isThisMachine("127.0.0.1:9999"))
    }

    @Test("beyond loopback: no users file refuses to start; with one, only signed-in users get in")
    func signIn() async throws {
        await #expect(throws: ReviewRefusal.self) {
            _ = try await Station([("G7.001.A.png", 46)], review: { $0.listen = "0.0.0.0:8470" })
        }
        var config = KaryoConfig()
        config.review.listen = "0.0.0.0:8470"
        #expect(config.validationProblems().map(\.key) == ["review.users_file"])

        let users = TempDir()
        let file = users.write("users", Data((UserFile.line(name: "ada", password: "s3cret") + "\n").utf8))
        let station = try await Station(
            [("G7.001.A.png", 46)], minImages: 1, minDisagreeing: 1,
            review: {
                $0.listen = "0.0.0.0:8470"
                $0.usersFile = file
            })
        let id = try station.cellID("G7", stem: "G7.001.A")
        let token = station.token
        @Sendable func basic(_ user: String, _ password: String) -> HTTPField {
            HTTPField(name: .authorization, value: "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
        }
        try await station.test { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true)
            }
            try await client.execute(uri: "/", method: .get, headers: HTTPFields([basic("ada", "wrong")])) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/", method: .get, headers: HTTPFields([basic("ada", "s3cret")])) {
                response in
                #expect(response.status == .ok)
            }
            try await client.execute(
                uri: "/api/cells/\(id)/review", method: .post, headers: changeHeaders(token) + [basic("ada", "s3cret")],
                body: json(["count": 45, "reviewer": "someone else"])
            ) { response in
                #expect(response.status == .ok)
                let cell = try decode(CellDetail.self, response.body)
                #expect(cell.reviews.last?.reviewer == "ada")
            }
        }
    }

    @Test("pictures are served by result id from the results folder only")
    func pictures() async throws {
        let station = try await Station([("H8.001.A.png", 46)], minImages: 1, minDisagreeing: 1)
        let id = try station.cellID("H8", stem: "H8.001.A")
        try await station.test { client in
            for kind in PictureKind.allCases {
                try await client.execute(uri: "/pictures/\(id)/\(kind.rawValue)", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "image/png")
                    let image = try ImageDecoder.decode(Data(response.body.readableBytesView), name: kind.rawValue)
                    // The 100x64 test image is narrower than a thumbnail, which never upscales.
                    #expect(image.image.width == 100 && image.image.height == 64, "\(kind)")
                }
            }
            for uri in ["/pictures/\(id)/json", "/pictures/..%2F..%2Fstate/view", "/pictures/\(id.uppercased())/view"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .notFound, "\(uri)")
                }
            }
        }
    }

    @Test("export-labels writes the reviewed boxes as Pascal VOC (inclusive pixel edges) and skips typed counts")
    func exportLabels() async throws {
        let station = try await Station(
            [("J9.001.A.png", 2), ("J9.002.A.png", 2)], minImages: 1, minDisagreeing: 1)
        let settings = AggregatorSettings(station.pipeline.config)
        let queue = station.pipeline.queue
        _ = try queue.recordReview(
            sha256: try station.cellID("J9", stem: "J9.001.A"),
            ReviewSubmission(
                count: nil,
                boxes: [BoundingBox(x1: 10, y1: 12, x2: 20, y2: 30), BoundingBox(x1: 40, y1: 5, x2: 48, y2: 9)],
                reviewer: "Dr. Ada"), detectorBoxes: [], settings: settings)
        _ = try queue.recordReview(
            sha256: try station.cellID("J9", stem: "J9.002.A"),
            ReviewSubmission(count: 3, boxes: nil, reviewer: "Dr. Ada"), detectorBoxes: [], settings: settings)
        let out = TempDir()
        let outcome = try LabelExport.run(
            service: ReviewService(pipeline: station.pipeline), to: out.url, since: nil)
        #expect(outcome.written == ["J9__J9.001.A"])
        #expect(outcome.skipped == ["J9/J9.002.A: only the count was typed (3), no boxes to train on"])
        #expect(out.files() == ["annotations/J9__J9.001.A.xml", "images/J9__J9.001.A.png", "train.txt"])
        let xml = try String(contentsOf: out.path("annotations/J9__J9.001.A.xml"), encoding: .utf8)
        #expect(xml.contains("<xmin>10</xmin><ymin>12</ymin><xmax>19</xmax><ymax>29</ymax>"))
        #expect(xml.contains("<xmin>40</xmin><ymin>5</ymin><xmax>47</xmax><ymax>8</ymax>"))
        #expect(xml.contains("<width>100</width><height>64</height>"))
        #expect(try String(contentsOf: out.path("train.txt"), encoding: .utf8) == "J9__J9.001.A\n")
    }
}
