import Foundation
import HTTPTypes
import Hummingbird
import KaryoImage
import KaryoPipeline
import Logging

/// The request context of the review station: who is signed in, when the station requires it.
public struct ReviewRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The signed-in user; nil without sign-in (loopback only).
    public var user: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        user = nil
    }

    /// A review carries no image: 64 KiB holds any box list.
    public var maxUploadSize: Int { 64 * 1024 }
}

/// The review station over HTTP: the pages, the JSON API and the pictures, behind the access rules
/// (`AccessGuard`).
public struct ReviewServer: Sendable {
    /// The header every state-changing request carries, with the station's token (`GET /api/session`).
    public static let csrfHeader = HTTPField.Name("X-KaryoCount-CSRF")!

    let service: ReviewService
    let access: AccessGuard
    let pages: ReviewPages
    let settings: ReviewSettings

    /// The station for `pipeline`, with the config's `[review]` settings; throws when the users file cannot be
    /// read or a non-loopback address has no users (the same rule `config check` reports).
    public init(pipeline: Pipeline) throws {
        settings = pipeline.config.review
        if let problem = settings.validationProblems().first { throw ReviewRefusal(.invalid, "\(problem)") }
        service = ReviewService(pipeline: pipeline)
        access = AccessGuard(
            settings: settings, users: try settings.usersFile.map { try UserFile.read($0) },
            csrfToken: Self.randomToken())
        pages = try ReviewPages()
    }

    /// The routes, behind the access rules.
    public func router() -> Router<ReviewRequestContext> {
        let router = Router(context: ReviewRequestContext.self)
        router.add(middleware: access)
        let service = service
        let pages = pages
        let token = access.csrfToken

        router.get("/") { _, _ in try pages.patientList(service.patients(), csrfToken: token) }
        router.get("/patients/:id") { _, context in
            let id = try Self.patientID(context)
            guard let detail = try service.patient(id) else { throw HTTPError(.notFound, message: "no patient \(id)") }
            return try pages.patient(detail, csrfToken: token)
        }
        router.get("/patients/:id/report") { _, context in
            let id = try Self.patientID(context)
            guard let report = try service.report(id) else { throw HTTPError(.notFound, message: "no patient \(id)") }
            return try pages.report(report)
        }
        router.get("/cells/:id") { _, context in
            let id = try context.parameters.require("id")
            guard let cell = try service.cell(id) else { throw HTTPError(.notFound, message: "no cell \(id)") }
            return try pages.cell(cell, csrfToken: token, user: context.user)
        }
        router.get("/pictures/:id/:kind") { _, context in
            let id = try context.parameters.require("id")
            guard let kind = PictureKind(rawValue: try context.parameters.require("kind")),
                let url = try service.picture(id, kind)
            else { throw HTTPError(.notFound, message: "no such picture") }
            return try Self.png(url)
        }

        router.get("/static/cell.js") { _, _ in ReviewPages.script(ReviewTemplates.cellScript) }
        router.get("/static/patient.js") { _, _ in ReviewPages.script(ReviewTemplates.patientScript) }
        router.get("/api/session") { _, context in Session(csrfToken: token, user: context.user) }
        router.get("/api/patients") { _, _ in try service.patients() }
        router.get("/api/patients/:id") { _, context in
            let id = try Self.patientID(context)
            guard let detail = try service.patient(id) else { throw HTTPError(.notFound, message: "no patient \(id)") }
            return detail
        }
        router.get("/api/cells/:id") { _, context in
            let id = try context.parameters.require("id")
            guard let cell = try service.cell(id) else { throw HTTPError(.notFound, message: "no cell \(id)") }
            return cell
        }
        router.post("/api/cells/:id/review") { request, context in
            let body = try await request.decode(as: ReviewBody.self, context: context)
            let submission = ReviewSubmission(
                count: body.count, boxes: body.boxes, reviewer: context.user ?? body.reviewer ?? "")
            return try Self.answer { try service.review(try context.parameters.require("id"), submission) }
        }
        router.post("/api/patients/:id/sign-off") { request, context in
            let body = try await request.decode(as: SignOffBody.self, context: context)
            let id = try Self.patientID(context)
            return try Self.answer { try service.signOff(id, by: context.user ?? body.by ?? "") }
        }
        router.post("/api/patients/:id/reopen") { request, context in
            let body = try await request.decode(as: SignOffBody.self, context: context)
            let id = try Self.patientID(context)
            return try Self.answer {
                try service.reopen(id, by: context.user ?? body.by ?? "", reason: body.reason ?? "")
            }
        }
        return router
    }

    /// Serves on `[review] listen` until the service group it runs in shuts down gracefully (or the calling task is
    /// cancelled); `onRunning` gets the address once it accepts connections. Throws when it cannot listen (the port
    /// taken, the address not this machine's).
    public func serve(logger: Logger, onRunning: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        guard let (host, port) = settings.endpoint else {
            throw ReviewRefusal(.invalid, "review.listen `\(settings.listen)` is not host:port")
        }
        let address = settings.baseURL ?? settings.listen
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "KaryoCount"),
            onServerRunning: { _ in onRunning(address) }, logger: logger)
        try await app.run()
    }

    /// A patient id from the path, percent-decoded (patient names may hold spaces and other letters).
    static func patientID(_ context: ReviewRequestContext) throws -> String {
        let raw = try context.parameters.require("id")
        return raw.removingPercentEncoding ?? raw
    }

    /// Runs a change; a refusal becomes the HTTP status it stands for, with its message.
    static func answer<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let refusal as ReviewRefusal {
            let status: HTTPResponse.Status =
                switch refusal.kind {
                case .notFound: .notFound
                case .conflict: .conflict
                case .invalid: .badRequest
                }
            throw HTTPError(status, message: refusal.message)
        }
    }

    static func png(_ url: URL) throws -> Response {
        let data = try Data(contentsOf: url)
        return Response(
            status: .ok, headers: [.contentType: "image/png", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
    }
}

/// `POST /api/cells/{id}/review`: a count, the corrected boxes, or both (they must agree); `reviewer` without
/// sign-in.
struct ReviewBody: Decodable {
    var count: Int?
    var boxes: [BoundingBox]?
    var reviewer: String?
}

/// `POST /api/patients/{id}/sign-off` and `/reopen`.
struct SignOffBody: Decodable {
    var by: String?
    var reason: String?
}

/// `GET /api/session`: the token state-changing requests carry, and the signed-in user.
struct Session: ResponseEncodable {
    var csrfToken: String
    var user: String?

    enum CodingKeys: String, CodingKey {
        case user
        case csrfToken = "csrf_token"
    }
}

extension PatientSummary: ResponseEncodable {}
extension PatientDetail: ResponseEncodable {}
extension CellDetail: ResponseEncodable {}
extension SignOffEvent: ResponseEncodable {}
