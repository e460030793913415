import Foundation
import HTTPTypes
import Hummingbird
import KaryoPipeline
import Mustache

/// The review station's HTML pages. Every value from a file name, patient id, config or result goes through
/// Mustache's `{{...}}`, which escapes it for HTML; the templates use no triple braces. Cell data reaches the page's
/// script as escaped JSON in a `data-` attribute, never inside a `<script>`.
struct ReviewPages: Sendable {
    let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        for (name, text) in ReviewTemplates.all { try library.register(text, named: name) }
        self.library = library
    }

    func patientList(_ patients: [PatientSummary], csrfToken: String) throws -> Response {
        let rows: [[String: Any]] = patients.map { p in
            [
                "name": p.patient, "url": Self.patientPath(p.patient), "state": p.state, "flagged": p.flagged,
                "flagReason": p.flagReason ?? "", "modal": p.modalCount.map(String.init) ?? "none",
                "distribution": p.distribution, "counted": p.imagesCounted, "reviewed": p.imagesReviewed,
                "allReviewed": p.imagesReviewed == p.imagesCounted, "signedOffBy": p.signedOffBy ?? "",
                "signedOff": p.signedOffBy != nil,
            ]
        }
        return try render(
            "patients",
            ["title": "Patients", "csrf": csrfToken, "patients": rows, "none": patients.isEmpty])
    }

    func patient(_ detail: PatientDetail, csrfToken: String) throws -> Response {
        let s = detail.summary
        let cells: [[String: Any]] = detail.cells.map { c in
            [
                "url": "/cells/\(c.id)", "thumb": "/pictures/\(c.id)/thumb", "stem": c.stem, "count": c.count,
                "detectorCount": c.detectorCount, "changed": c.count != c.detectorCount, "reviewed": c.reviewed,
                "reviewedBy": c.reviewedBy ?? "", "warnings": c.warnings, "uncertain": !c.confident,
                "abnormal": c.count != detail.report.expectedCount,
            ]
        }
        let events: [[String: Any]] = detail.signOffs.map { e in
            [
                "action": e.action == .signOff ? "signed off" : "reopened", "by": e.by,
                "at": KaryoJSON.timestamp(e.at), "reason": e.reason,
            ]
        }
        return try render(
            "patient",
            [
                "title": "Patient \(s.patient)", "csrf": csrfToken, "name": s.patient,
                "api": "/api" + Self.patientPath(s.patient), "report": Self.patientPath(s.patient) + "/report",
                "state": s.state, "flagged": s.flagged, "flagReason": s.flagReason ?? "",
                "distribution": s.distribution, "counted": s.imagesCounted, "reviewed": s.imagesReviewed,
                "notes": detail.report.reviewNotes, "cells": cells, "signedOff": s.signedOffBy != nil,
                "signedOffBy": s.signedOffBy ?? "", "events": events,
            ])
    }

    func cell(_ cell: CellDetail, csrfToken: String, user: String?) throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let json = String(decoding: try encoder.encode(CellPageData(cell: cell, user: user)), as: UTF8.self)
        return try render(
            "cell",
            [
                "title": "\(cell.patient) \(cell.stem)", "csrf": csrfToken, "patient": cell.patient,
                "patientURL": Self.patientPath(cell.patient), "stem": cell.stem, "data": json,
                "image": "/pictures/\(cell.id)/view", "width": cell.width, "height": cell.height,
                "warnings": cell.warnings, "signedOff": cell.signedOffBy != nil,
                "signedOffBy": cell.signedOffBy ?? "", "signedIn": user != nil, "user": user ?? "",
            ])
    }

    func report(_ page: PatientReportPage) throws -> Response {
        let r = page.report
        let disagreeing: [[String: Any]] = page.cells.filter { $0.count != r.expectedCount }.map { c in
            [
                "stem": c.stem, "count": c.count, "detectorCount": c.detectorCount,
                "reviewedBy": c.reviewedBy ?? "not reviewed",
            ]
        }
        return try render(
            "report",
            [
                "title": "Report \(r.patient)", "name": r.patient, "state": r.state.rawValue,
                "counted": r.imagesCounted, "reviewed": r.imagesReviewed, "expected": r.expectedCount,
                "modal": r.modalCount.map(String.init) ?? "none (no single mode)", "distribution": r.distribution,
                "flagged": r.isFlagged, "flagName": r.flag?.name ?? "", "flagReason": r.flag?.reason ?? "",
                "minDisagreeing": r.minDisagreeing, "notes": r.reviewNotes, "disagreeing": disagreeing,
                "anyDisagreeing": !disagreeing.isEmpty, "reviewers": page.reviewers.joined(separator: ", "),
                "anyReviewers": !page.reviewers.isEmpty, "signedOff": page.signOff != nil,
                "signedOffBy": page.signOff?.by ?? "",
                "signedOffAt": page.signOff.map { KaryoJSON.timestamp($0.at) } ?? "",
                "since": page.cellsSinceSignOff, "anySince": page.cellsSinceSignOff > 0,
                "limitation": PatientReport.limitation, "patientURL": Self.patientPath(r.patient),
            ])
    }

    /// One of the station's scripts.
    static func script(_ text: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func render(_ template: String, _ context: [String: Any]) throws -> Response {
        guard let html = library.render(context, withTemplate: template) else {
            throw HTTPError(.internalServerError, message: "no page template \(template)")
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                HTTPField.Name("Content-Security-Policy")!:
                    "default-src 'self'; img-src 'self'; style-src 'unsafe-inline'; script-src 'self'; "
                    + "frame-ancestors 'none'",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            ],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func patientPath(_ name: String) -> String { ReviewSettings.patientPath(name) }
}

/// What the cell page's script reads from its `data-cell` attribute.
struct CellPageData: Encodable {
    var cell: CellDetail
    var user: String?
    var previousURL: String?
    var nextURL: String?
    var reviewAPI: String

    init(cell: CellDetail, user: String?) {
        self.cell = cell
        self.user = user
        previousURL = cell.previousID.map { "/cells/\($0)" }
        nextURL = cell.nextID.map { "/cells/\($0)" }
        reviewAPI = "/api/cells/\(cell.id)/review"
    }

    enum CodingKeys: String, CodingKey {
        case cell, user
        case previousURL = "previous_url"
        case nextURL = "next_url"
        case reviewAPI = "review_api"
    }
}
