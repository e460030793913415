import Foundation
import TOMLKit

/// One configuration key of a table of settings: its name, its documentation, how it is read from TOML, which values
/// it accepts and how it is written back. Reading, validation, `config show`, `config keys` and the example file
/// (`Samples/config.example.toml`) all come from the lists `KaryoConfig.keyTable` and `ReviewSettings.keyTable`.
struct ConfigKey<Settings> {
    /// The TOML key inside its table.
    let name: String
    /// What the key means, the comment above it in a written file (line breaks in it do not matter); its first
    /// sentence is what `config keys` prints.
    let doc: String
    /// A blank line goes before this key in the written file.
    var startsGroup = false
    /// The value the example file shows, commented out, for a key that is unset by default.
    var sample: String?
    /// Reads the key's value into the settings, recording a problem for a value of the wrong type.
    let read: (inout Settings, inout TableReader) -> Void
    /// What is wrong with the settings' value, if anything.
    var check: (Settings) -> String? = { _ in nil }
    /// The value as a TOML literal; nil when unset.
    let value: (Settings) -> String?

    /// The one-line summary: the doc's first sentence (up to a full stop before a capital letter).
    var summary: String {
        let flat = doc.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
        guard let end = flat.firstRange(of: /\. (?=[A-Z])/) else {
            return flat.hasSuffix(".") ? String(flat.dropLast()) : flat
        }
        return String(flat[..<end.lowerBound])
    }

    /// The key as it appears in a file: its doc as comments wrapped at 116 columns, then `name = value` (commented
    /// out when unset: the sample with `example`, else `(unset)`).
    func lines(_ settings: Settings, example: Bool) -> [String] {
        var comments: [String] = []
        for word in doc.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if let last = comments.last, last.count + 1 + word.count <= 116 {
                comments[comments.count - 1] = last + " " + word
            } else {
                comments.append("# " + word)
            }
        }
        let assignment: String
        if let value = value(settings) {
            assignment = "\(name) = \(value)"
        } else {
            assignment = "# \(name) = \(example ? sample ?? "" : "(unset)")"
        }
        return (startsGroup ? [""] : []) + comments + [assignment]
    }
}

/// Constructors for the common kinds of key.
extension ConfigKey {
    static func integer(
        _ name: String, _ doc: String, _ path: WritableKeyPath<Settings, Int>, within range: ClosedRange<Int>,
        startsGroup: Bool = false
    ) -> ConfigKey {
        ConfigKey(
            name: name, doc: doc, startsGroup: startsGroup,
            read: { s, r in if let v = r.int(name) { s[keyPath: path] = v } },
            check: { s in
                let v = s[keyPath: path]
                guard !range.contains(v) else { return nil }
                return range.upperBound == .max
                    ? "must be at least \(range.lowerBound) (got \(v))"
                    : "must be within \(range.lowerBound)...\(range.upperBound) (got \(v))"
            },
            value: { "\($0[keyPath: path])" })
    }

    static func seconds(
        _ name: String, _ doc: String, _ path: WritableKeyPath<Settings, Double>, startsGroup: Bool = false
    ) -> ConfigKey {
        ConfigKey(
            name: name, doc: doc, startsGroup: startsGroup,
            read: { s, r in if let v = r.number(name) { s[keyPath: path] = v } },
            check: { s in s[keyPath: path] < 0 ? "must not be negative" : nil },
            value: { tomlNumber($0[keyPath: path]) })
    }

    static func optionalNumber(
        _ name: String, _ doc: String, _ path: WritableKeyPath<Settings, Double?>, within range: ClosedRange<Double>,
        unit: String = "", sample: String
    ) -> ConfigKey {
        ConfigKey(
            name: name, doc: doc, sample: sample,
            read: { s, r in if let v = r.number(name) { s[keyPath: path] = v } },
            check: { s in
                guard let v = s[keyPath: path], !range.contains(v) else { return nil }
                return "\(v) is not within \(tomlNumber(range.lowerBound))...\(tomlNumber(range.upperBound))\(unit)"
            },
            value: { $0[keyPath: path].map(tomlNumber) })
    }

    static func flag(
        _ name: String, _ doc: String, _ path: WritableKeyPath<Settings, Bool>, startsGroup: Bool = false
    ) -> ConfigKey {
        ConfigKey(
            name: name, doc: doc, startsGroup: startsGroup,
            read: { s, r in if let v = r.bool(name) { s[keyPath: path] = v } },
            value: { "\($0[keyPath: path])" })
    }

    static func text(
        _ name: String, _ doc: String, _ path: WritableKeyPath<Settings, String>, oneOf choices: [String]? = nil,
        startsGroup: Bool = false
    ) -> ConfigKey {
        ConfigKey(
            name: name, doc: doc, startsGroup: startsGroup,
            read: { s, r in if let v = r.string(name) { s[keyPath: path] = v } },
            check: { s in
                guard let choices, !choices.contains(s[keyPath: path]) else { return nil }
                return "`\(s[keyPath: path])` is not one of \(choices.joined(separator: ", "))"
            },
            value: { tomlString($0[keyPath: path]) })
    }

    static func folder(
        _ name: String, _ doc: String, _ path: WritableKeyPath<Settings, URL>, startsGroup: Bool = false
    ) -> ConfigKey {
        ConfigKey(
            name: name, doc: doc, startsGroup: startsGroup,
            read: { s, r in if let v = r.string(name) { s[keyPath: path] = r.resolve(v) } },
            value: { tomlString($0[keyPath: path].path) })
    }
}

/// A TOML number: integral values without a fraction (`30`, not `30.0`).
func tomlNumber(_ d: Double) -> String {
    d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : "\(d)"
}

/// A TOML basic string.
func tomlString(_ s: String) -> String {
    "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

/// Reads typed values from a TOML table and records a problem for each value of the wrong type.
struct TableReader {
    let table: TOMLTable
    let base: URL
    /// Prepended to keys in problems (`review.` inside `[review]`).
    var prefix = ""
    var problems: [ConfigProblem] = []

    /// An absolute path as is; a relative one against the config file's folder.
    func resolve(_ path: String) -> URL {
        let url = path.hasPrefix("/") ? URL(filePath: path) : base.appending(path: path)
        return url.standardizedFileURL
    }

    mutating func problem(_ key: String, _ message: String) {
        problems.append(ConfigProblem(key: prefix + key, message: message))
    }

    mutating func string(_ key: String) -> String? { value(key, "a string") { $0.string } }

    mutating func int(_ key: String) -> Int? { value(key, "an integer") { $0.int } }

    mutating func number(_ key: String) -> Double? { value(key, "a number", Self.number) }

    mutating func bool(_ key: String) -> Bool? { value(key, "true or false") { $0.bool } }

    mutating func stringArray(_ key: String) -> [String]? { array(key, "strings") { $0.string } }

    mutating func numberArray(_ key: String) -> [Double]? { array(key, "numbers", Self.number) }

    /// A float, or an integer read as one.
    private static func number(_ v: any TOMLValueConvertible) -> Double? { v.double ?? v.int.map(Double.init) }

    /// The value at `key` converted, nil when absent; a value of another type is a problem ("must be `expected`").
    private mutating func value<T>(
        _ key: String, _ expected: String, _ convert: (any TOMLValueConvertible) -> T?
    ) -> T? {
        guard let v = table[key] else { return nil }
        if let converted = convert(v) { return converted }
        problem(key, "must be \(expected) (got \(v.type))")
        return nil
    }

    /// The array at `key` with every element converted, nil when absent; anything else is a problem.
    private mutating func array<T>(
        _ key: String, _ elements: String, _ convert: (any TOMLValueConvertible) -> T?
    ) -> [T]? {
        guard let v = table[key] else { return nil }
        guard let array = v.array else {
            problem(key, "must be an array of \(elements) (got \(v.type))")
            return nil
        }
        var out: [T] = []
        for element in array {
            guard let converted = convert(element) else {
                problem(key, "must be an array of \(elements)")
                return nil
            }
            out.append(converted)
        }
        return out
    }
}
