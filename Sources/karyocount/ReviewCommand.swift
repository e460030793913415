import ArgumentParser
import Foundation
import KaryoPipeline
import KaryoReview

/// `karyocount review`: tools around the review station the daemon serves.
struct ReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Tools for the review station (the daemon serves it on [review] listen).",
        subcommands: [HashPassword.self, ExportLabels.self])

    struct HashPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hash-password",
            abstract: "Print a users_file line (name:bcrypt-hash) for NAME; the password is read from stdin.")

        @Argument(help: "The cytologist's sign-in name (no colon).")
        var name: String

        func validate() throws {
            guard !name.isEmpty, !name.contains(":"), !name.contains("\n") else {
                throw ValidationError("NAME must be non-empty and hold no colon or newline")
            }
        }

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                printError("no password on stdin")
                throw ExitCode(1)
            }
            print(UserFile.line(name: name, password: password))
        }
    }

    struct ExportLabels: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-labels",
            abstract: "Write every reviewed cell's image and corrected boxes as Pascal VOC for Training/.",
            discussion: """
                Writes OUT/images/<patient>__<stem>.png, OUT/annotations/<patient>__<stem>.xml and OUT/train.txt \
                from the latest review of each cell. A review that only typed a count has no boxes and is listed \
                as skipped. Train on it with `"real": {"voc": "OUT", "list": "train.txt"}` in a Training config.
                """)

        @Option(help: "Configuration file (default: \(KaryoConfig.defaultPath) if it exists, else the defaults).")
        var config: String?

        @Option(help: "Output folder.")
        var out: String

        @Option(help: "Only cells reviewed on or after this day (YYYY-MM-DD, UTC).")
        var since: String?

        func run() async throws {
            let (settings, queue) = try openExistingQueue(configPath: config)
            var sinceDate: Date?
            if let since {
                let f = DateFormatter()
                f.dateFormat = "yyyy-MM-dd"
                f.timeZone = TimeZone(identifier: "UTC")
                f.locale = Locale(identifier: "en_US_POSIX")
                guard let d = f.date(from: since) else {
                    printError("--since \(since) is not a day YYYY-MM-DD")
                    throw ExitCode(1)
                }
                sinceDate = d
            }
            let service = ReviewService(queue: queue, config: settings, writePatientFile: { _ in })
            let outcome = try LabelExport.run(service: service, to: URL(filePath: out), since: sinceDate)
            print("wrote \(outcome.written.count) reviewed cells to \(out)")
            for line in outcome.skipped { print("skipped \(line)") }
        }
    }
}
