import Foundation

/// A value bound into, or read out of, a state query: the few types the queue's tables hold.
public enum StateValue: Sendable, Equatable {
    case null
    case int(Int)
    case double(Double)
    case text(String)
    case bool(Bool)
    case date(Date)
}

/// Swift values that bind as a `StateValue`.
public protocol StateBindable {
    var stateValue: StateValue { get }
}

extension Int: StateBindable { public var stateValue: StateValue { .int(self) } }
extension Double: StateBindable { public var stateValue: StateValue { .double(self) } }
extension String: StateBindable { public var stateValue: StateValue { .text(self) } }
extension Bool: StateBindable { public var stateValue: StateValue { .bool(self) } }
extension Date: StateBindable { public var stateValue: StateValue { .date(self) } }
extension Optional: StateBindable where Wrapped: StateBindable {
    public var stateValue: StateValue { self?.stateValue ?? .null }
}

/// One row of a state query, by column name.
public struct StateRow: Sendable {
    private let values: [String: StateValue]

    public init(_ values: [String: StateValue]) { self.values = values }

    private func value(_ column: String) throws -> StateValue {
        guard let value = values[column] else { throw StateDecodingError(column: column, problem: "missing") }
        return value
    }

    /// Whether the column holds NULL.
    public func isNull(_ column: String) throws -> Bool { try value(column) == .null }

    public func optionalString(_ column: String) throws -> String? {
        switch try value(column) {
        case .null: return nil
        case .text(let s): return s
        case let other: throw StateDecodingError(column: column, problem: "text expected, got \(other)")
        }
    }

    public func string(_ column: String) throws -> String {
        guard let s = try optionalString(column) else { throw StateDecodingError(column: column, problem: "null") }
        return s
    }

    public func optionalInt(_ column: String) throws -> Int? {
        switch try value(column) {
        case .null: return nil
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case let other: throw StateDecodingError(column: column, problem: "integer expected, got \(other)")
        }
    }

    public func int(_ column: String) throws -> Int {
        guard let i = try optionalInt(column) else { throw StateDecodingError(column: column, problem: "null") }
        return i
    }

    public func double(_ column: String) throws -> Double {
        switch try value(column) {
        case .double(let d): return d
        case .int(let i): return Double(i)
        case let other: throw StateDecodingError(column: column, problem: "number expected, got \(other)")
        }
    }

    public func bool(_ column: String) throws -> Bool {
        switch try value(column) {
        case .bool(let b): return b
        case .int(let i): return i != 0
        case let other: throw StateDecodingError(column: column, problem: "boolean expected, got \(other)")
        }
    }

    public func optionalDate(_ column: String) throws -> Date? {
        switch try value(column) {
        case .null: return nil
        case .date(let d): return StateDates.milliseconds(d)
        case .text(let s):
            guard let d = StateDates.parse(s) else {
                throw StateDecodingError(column: column, problem: "not a date: \(s)")
            }
            return StateDates.milliseconds(d)
        case let other: throw StateDecodingError(column: column, problem: "date expected, got \(other)")
        }
    }

    public func date(_ column: String) throws -> Date {
        guard let d = try optionalDate(column) else { throw StateDecodingError(column: column, problem: "null") }
        return d
    }

    /// A JSON text column decoded as `T`; nil when the column is null.
    public func optionalJSON<T: Decodable>(_ type: T.Type, _ column: String) throws -> T? {
        guard let text = try optionalString(column) else { return nil }
        return try StateJSON.decoder.decode(T.self, from: Data(text.utf8))
    }

    public func json<T: Decodable>(_ type: T.Type, _ column: String) throws -> T {
        guard let value = try optionalJSON(type, column) else {
            throw StateDecodingError(column: column, problem: "null")
        }
        return value
    }
}

/// A column that does not hold what its reader expects (a schema mismatch, never user input).
public struct StateDecodingError: Error, CustomStringConvertible {
    public var column: String
    public var problem: String
    public var description: String { "column \(column): \(problem)" }
}

/// How structured columns (failures, warnings, boxes, reports) are stored: JSON text, keys sorted, dates in
/// milliseconds since 1970 (what GRDB wrote for SQLite databases that predate the shared backends).
enum StateJSON {
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .millisecondsSince1970
        e.outputFormatting = .sortedKeys
        return e
    }

    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .millisecondsSince1970
        return d
    }

    static func text<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func optionalText<T: Encodable>(_ value: T?) throws -> String? {
        try value.map { try text($0) }
    }
}

/// Dates as SQLite databases hold them: `yyyy-MM-dd HH:mm:ss.SSS` in UTC (GRDB's format).
enum StateDates {
    /// DateFormatter is thread-safe for parsing once configured.
    private static let formatters = [
        "yyyy-MM-dd HH:mm:ss.SSS", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.SSS",
    ].map { format in
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = format
        return f
    }

    /// `date` at the state's resolution, the millisecond, on every backend (a state moved from one backend to the
    /// other reads back the same dates).
    static func milliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    static func parse(_ text: String) -> Date? {
        formatters.lazy.compactMap { $0.date(from: text) }.first
    }
}

/// One transaction on the state: the queries the queue's rules are written in.
///
/// SQL uses `?` placeholders and the dialect both engines share (`ON CONFLICT ... DO UPDATE`, `RETURNING`, `TRUE`
/// and `FALSE`, `CASE` instead of two-argument `MAX`).
public protocol StateTransaction {
    /// Runs a statement; returns the rows it changed.
    @discardableResult func execute(_ sql: String, _ arguments: [StateValue]) throws -> Int
    /// Runs a query and returns its rows.
    func rows(_ sql: String, _ arguments: [StateValue]) throws -> [StateRow]
    /// Serialises this transaction with every other one that locks the same key (a patient's stems and tally, the
    /// recovery of expired leases) until it ends. A no-op where write transactions are serial already.
    func lock(_ key: String) throws
    /// `FOR UPDATE SKIP LOCKED` where other processes claim beside this one; empty where writes are serial.
    var claimLock: String { get }
}

extension StateTransaction {
    @discardableResult func execute(_ sql: String, _ arguments: StateBindable...) throws -> Int {
        try execute(sql, arguments.map(\.stateValue))
    }

    func rows(_ sql: String, _ arguments: StateBindable...) throws -> [StateRow] {
        try rows(sql, arguments.map(\.stateValue))
    }

    func row(_ sql: String, _ arguments: StateBindable...) throws -> StateRow? {
        try rows(sql, arguments.map(\.stateValue)).first
    }

    func row(_ sql: String, _ arguments: [StateValue]) throws -> StateRow? {
        try rows(sql, arguments).first
    }
}

/// Where the queue, results index, tallies and review ledger live: SQLite on one workstation, or PostgreSQL shared
/// by several.
public protocol StateDatabase: Sendable {
    /// Names the database in error messages (a file path or a URL without its password).
    var location: String { get }
    /// Whether other processes, on this machine or others, use the same state at once.
    var isShared: Bool { get }
    /// Runs `body` in one read-only transaction.
    func read<T>(_ body: (any StateTransaction) throws -> T) throws -> T
    /// Runs `body` in one write transaction: all of it commits, or none. It may run `body` again (a lost connection
    /// or a conflict with another process), so `body` must not have effects outside the transaction.
    func write<T>(_ body: (any StateTransaction) throws -> T) throws -> T
}
