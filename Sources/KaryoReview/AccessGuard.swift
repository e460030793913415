import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import KaryoPipeline
import KaryoSupport
import Synchronization

/// The review station's access rules, checked before every route:
/// - on loopback, the `Host` header must name this machine (a page elsewhere cannot reach the station by
///   pointing its own name at 127.0.0.1);
/// - beyond loopback, every request signs in (HTTP Basic against the users file's bcrypt hashes);
/// - every state-changing request carries the station's token in `X-KaryoCount-CSRF`, a JSON body, and no
///   cross-site `Origin` or `Sec-Fetch-Site`: another site's page can neither set the header nor read the token.
struct AccessGuard: RouterMiddleware {
    typealias Context = ReviewRequestContext

    let settings: ReviewSettings
    /// Users and their bcrypt hashes; nil: no sign-in (loopback only).
    let users: [String: String]?
    let csrfToken: String
    /// Authorization headers already verified, by their SHA-256 (bcrypt is slow by design), and the user each signs
    /// in.
    private let verified = VerifiedSignIns()

    init(settings: ReviewSettings, users: [String: String]?, csrfToken: String) {
        self.settings = settings
        self.users = users
        self.csrfToken = csrfToken
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        if users == nil {
            guard let host = request.head.authority, isThisMachine(host) else {
                throw HTTPError(.misdirectedRequest, message: "this review station answers to its own address only")
            }
        } else {
            guard let user = signedInUser(request.headers[.authorization]) else {
                return Response(
                    status: .unauthorized,
                    headers: [.wwwAuthenticate: "Basic realm=\"KaryoCount review station\", charset=\"UTF-8\""])
            }
            context.user = user
        }
        if request.method != .get && request.method != .head {
            try checkStateChange(request)
        }
        return try await next(request, context)
    }

    /// Whether `authority` names the listening address or one of this machine's loopback names, with the
    /// station's port or none (a page elsewhere that rebinds its own name to 127.0.0.1 still sends its own name).
    func isThisMachine(_ authority: String) -> Bool {
        guard let (listenHost, port) = settings.endpoint else { return false }
        let names = Set([listenHost, "127.0.0.1", "localhost", "::1"])
        return names.contains { name in
            let host = name.contains(":") ? "[\(name)]" : name
            return authority == host || authority == "\(host):\(port)"
        }
    }

    private func checkStateChange(_ request: Request) throws {
        guard let token = request.headers[ReviewServer.csrfHeader], token == csrfToken else {
            throw HTTPError(
                .forbidden, message: "missing or wrong X-KaryoCount-CSRF token (GET /api/session gives it)")
        }
        if request.headers[HTTPField.Name("Sec-Fetch-Site")!] == "cross-site" {
            throw HTTPError(.forbidden, message: "cross-site requests cannot change the review station's state")
        }
        if let origin = request.headers[.origin], let host = request.head.authority,
            origin != "http://\(host)" && origin != "https://\(host)"
        {
            throw HTTPError(.forbidden, message: "requests from \(origin) cannot change the review station's state")
        }
        guard request.headers[.contentType]?.hasPrefix("application/json") == true else {
            throw HTTPError(.unsupportedMediaType, message: "send the request body as application/json")
        }
    }

    /// The user an `Authorization: Basic` header signs in, or nil.
    private func signedInUser(_ header: String?) -> String? {
        guard let users, let header, header.hasPrefix("Basic ") else { return nil }
        let key = sha256Hex(of: Data(header.utf8))
        if let user = verified.user(key) { return user }
        guard let decoded = Data(base64Encoded: String(header.dropFirst(6))),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        let name = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        guard let hash = users[name], Bcrypt.verify(password, hash: hash) else { return nil }
        verified.remember(key, name)
        return name
    }
}

/// Sign-ins already verified, shared by every request the guard handles.
private final class VerifiedSignIns: Sendable {
    private let users = Mutex<[String: String]>([:])

    func user(_ key: String) -> String? { users.withLock { $0[key] } }
    func remember(_ key: String, _ user: String) { users.withLock { $0[key] = user } }
}

/// The users file: one `name:bcrypt-hash` per line; blank lines and `#` comments are skipped.
public enum UserFile {
    /// The users of `url`, or why the file cannot be used (naming the file and the line).
    public static func read(_ url: URL) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: url.path),
            let text = String(data: data, encoding: .utf8)
        else { throw ReviewRefusal(.invalid, "review.users_file \(url.path) cannot be read as UTF-8 text") }
        var users: [String: String] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                line[line.index(after: colon)...].hasPrefix("$2")
            else {
                throw ReviewRefusal(
                    .invalid, "\(url.path) line \(n + 1): expected `name:bcrypt-hash` (karyocount review hash-password)"
                )
            }
            users[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        guard !users.isEmpty else { throw ReviewRefusal(.invalid, "\(url.path) names no users") }
        return users
    }

    /// A users-file line for `name` with `password`.
    public static func line(name: String, password: String) -> String {
        "\(name):\(Bcrypt.hash(password))"
    }
}
