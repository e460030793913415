import Dispatch
import Foundation
import KaryoDetect
import KaryoNet
import KaryoSupport

/// Which file names are inputs: hidden and temporary names are never taken; folder scans take image names.
public enum InputNames {
    /// Hidden and temporary names (`IgnoreRules.standard`: `.*`, `*.tmp`, `*.part`, `~*`), never taken, by the
    /// daemon's watcher and folder scans alike.
    public static func isIgnored(_ name: String) -> Bool { IgnoreRules.standard.ignores(name: name) }

    /// Whether a folder scan takes `name`: not ignored, and named `.tif`, `.tiff`, `.png`, `.jpg`, `.jpeg` or `.bmp`
    /// (any case). The content decides the format; the name only keeps sidecar files (JSON, notes) out of folder
    /// scans.
    public static func isCandidate(_ name: String) -> Bool {
        guard !isIgnored(name) else { return false }
        let ext = (name as NSString).pathExtension.lowercased()
        return ["tif", "tiff", "png", "jpg", "jpeg", "bmp"].contains(ext)
    }
}

/// `karyocount count`: counts named files and folders without a queue, through the same `ImageProcessor` as the
/// daemon, writing `<stem>.json`, `<stem>.annotated.png` or `<stem>.error.json` into one output folder. Decoding of
/// the next image overlaps detection of the current one.
public struct BatchCounter: Sendable {
    /// One input: the file and the folder it was found in (nil for a file named directly).
    public struct Input: Sendable, Equatable {
        public var file: URL
        public var root: URL?

        public init(file: URL, root: URL?) {
            self.file = file
            self.root = root
        }
    }

    /// What happened to one input.
    public enum Outcome: Sendable {
        case counted(Input, ResultRecord, json: URL)
        case skipped(Input, reason: String)
        case failed(Input, StageFailure, errorReport: URL?)

        /// The input this outcome is for.
        public var input: Input {
            switch self {
            case .counted(let input, _, _), .skipped(let input, _), .failed(let input, _, _): return input
            }
        }
    }

    public let processor: ImageProcessor
    public let outputFolder: URL
    public let mapper: PatientMapper
    /// Whether the cells of one case (patient), two or more of them, are brought to the working scale by the median
    /// of the chromosome widths measured on them, instead of each by its own width; only for a DeepACEv2 detector
    /// that measures widths (no lab width given).
    public var caseWidths: Bool

    public init(processor: ImageProcessor, outputFolder: URL, mapper: PatientMapper, caseWidths: Bool = false) {
        self.processor = processor
        self.outputFolder = outputFolder
        self.mapper = mapper
        self.caseWidths = caseWidths
    }

    /// Expands paths into inputs: files as given; folders listed (recursively when asked), taking
    /// `InputNames.isCandidate` names, sorted by path.
    public static func inputs(_ paths: [URL], recursive: Bool) throws(PipelineError) -> [Input] {
        var out: [Input] = []
        let fm = FileManager.default
        for path in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path.path, isDirectory: &isDir) else {
                throw PipelineError(.unreadableInput, file: path.path, detail: "no such file or folder")
            }
            if !isDir.boolValue {
                out.append(Input(file: path, root: nil))
                continue
            }
            var found: [URL] = []
            if recursive {
                let e = fm.enumerator(
                    at: path, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
                while let u = e?.nextObject() as? URL {
                    if InputNames.isIgnored(u.lastPathComponent) {
                        e?.skipDescendants()
                        continue
                    }
                    if InputNames.isCandidate(u.lastPathComponent),
                        (try? u.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
                    {
                        found.append(u)
                    }
                }
            } else {
                let names = (try? fm.contentsOfDirectory(atPath: path.path)) ?? []
                for name in names where InputNames.isCandidate(name) {
                    let u = path.appending(path: name)
                    if (try? u.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { found.append(u) }
                }
            }
            out += found.sorted { $0.path < $1.path }.map { Input(file: $0, root: path) }
        }
        return out
    }

    /// Counts every input in order, calling `report` as each finishes; returns all outcomes.
    public func run(_ inputs: [Input], report: @Sendable (Outcome) -> Void = { _ in }) async -> [Outcome] {
        var stems = Set<String>()
        var work: [(input: Input, identity: ImageIdentity)] = []
        var outcomes: [Outcome] = []
        for input in inputs {
            var identity = mapper.identify(input.file, root: input.root)
            if identity.kind == .karyogram {
                let outcome = Outcome.skipped(input, reason: "karyogram (CytoVision type K): never counted")
                report(outcome)
                outcomes.append(outcome)
                continue
            }
            let base = identity.stem
            var n = 2
            while stems.contains(identity.stem) {
                identity.stem = "\(base)-\(n)"
                n += 1
            }
            stems.insert(identity.stem)
            work.append((input, identity))
        }

        let byCase = caseWidths ? await caseProcessors(work) : [:]
        var next: Task<Result<LoadedImage, StageFailure>, Never>? = work.isEmpty ? nil : load(work[0].input)
        for (i, item) in work.enumerated() {
            let loaded = await next!.value
            next = i + 1 < work.count ? load(work[i + 1].input) : nil
            let cellProcessor = byCase[item.input.file] ?? processor
            let outcome = await runBlocking { finish(item.input, item.identity, loaded, with: cellProcessor) }
            report(outcome)
            outcomes.append(outcome)
        }
        return outcomes
    }

    private func load(_ input: Input) -> Task<Result<LoadedImage, StageFailure>, Never> {
        Task.detached {
            await runBlocking {
                Result { () throws(StageFailure) -> LoadedImage in try processor.load(input.file, root: input.root) }
            }
        }
    }

    /// For each input of a case with two or more measured images, a processor whose detector brings it to the
    /// working scale by the median of the chromosome widths measured on the case's images. A case is taken to be
    /// one microscope and one export setting (cropped exports keep the magnification; resized ones do not).
    private func caseProcessors(_ work: [(input: Input, identity: ImageIdentity)]) async -> [URL: ImageProcessor] {
        guard CaseWidth.applies(to: processor) else { return [:] }
        var processors: [URL: ImageProcessor] = [:]
        for items in Dictionary(grouping: work, by: \.identity.patient).values where items.count >= 2 {
            let measured = await runBlocking {
                WidthCalibration.measure(items.map(\.input)).measurements.filter { $0.width != nil }
            }
            guard measured.count >= 2 else { continue }
            for m in measured {
                processors[m.file] = CaseWidth.processor(
                    processor, caseWidths: measured.compactMap(\.width), imageWidth: m.width)
            }
        }
        return processors
    }

    private func finish(
        _ input: Input, _ identity: ImageIdentity, _ loaded: Result<LoadedImage, StageFailure>,
        with processor: ImageProcessor
    ) -> Outcome {
        let placement = ResultPlacement(
            folder: outputFolder, patient: identity.patient, cell: identity.cell, stem: identity.stem)
        do throws(StageFailure) {
            let record = try processor.finish(try loaded.get(), placement: placement)
            return .counted(input, record, json: placement.jsonURL)
        } catch {
            let url = outputFolder.appending(path: identity.stem + ".error.json")
            let report = ErrorReport(
                file: input.file.path, sha256: try? loaded.get().sha256, error: error.error.description,
                stage: error.stage.rawValue, attempts: 1, time: KaryoJSON.timestamp(Date()), quarantinedCopy: nil)
            do {
                try AtomicFile.write(try KaryoJSON.encode(report), to: url)
                return .failed(input, error, errorReport: url)
            } catch {
                return .failed(input, StageFailure(stage: .write, error: error), errorReport: nil)
            }
        }
    }
}
