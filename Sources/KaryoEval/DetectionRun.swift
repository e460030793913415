import Foundation
import KaryoDetect
import KaryoImage

/// Makes predictions by running a detector over a folder of images, so that one `karyocount eval` gives a model's
/// row without a separate counting run.
public enum DetectionRun {
    /// Runs `detector` on every TIFF or PNG under `folder` (recursively; found by content; hidden files and files
    /// such as annotations are passed over, but a file named as an image that is not one is listed) and keeps all of its detections. Files that fail to decode or to detect are listed in
    /// `skipped` with the reason, so their annotations show up as not predicted.
    ///
    /// - Parameters:
    ///   - writeTo: when given, each image's predictions are also written there as `<stem>.json`
    ///     (`karyocount.result/1`, the fields evaluation needs).
    ///   - progress: called after each image with (done, total, stem).
    /// - Throws: `EvalError` when the folder cannot be listed or a result cannot be written.
    public static func predict(
        imagesIn folder: URL, detector: any Detector, scoreThreshold: Double, writeTo: URL? = nil,
        progress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws -> PredictionSet {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) else {
            throw EvalError(.unreadableFile, file: folder.path, "no such file or folder")
        }
        let files = isDirectory.boolValue ? try regularFiles(under: folder) : [folder]
        var set = PredictionSet(images: [])
        var seen: [String: String] = [:]
        var candidates: [(URL, Data)] = []
        for file in files {
            guard let data = try? Data(contentsOf: file) else {
                set.skipped.append("\(file.path): cannot be read")
                continue
            }
            if data.withUnsafeBytes({ ImageFormat.sniff($0) }) != nil {
                candidates.append((file, data))
            } else if imageExtensions.contains(file.pathExtension.lowercased()) {
                let magic = data.prefix(16).withUnsafeBytes { ImageFormat.describeMagic($0) }
                set.skipped.append("\(file.path): named as an image but not TIFF or PNG (starts \(magic))")
            }
        }
        for (n, (file, data)) in candidates.enumerated() {
            let stem = imageStem(of: file.path)
            defer { progress(n + 1, candidates.count, stem) }
            if let earlier = seen[stem] {
                throw EvalError(.duplicateImage, file: file.path, "image stem '\(stem)' repeats \(earlier)")
            }
            seen[stem] = file.path
            let decoded: DecodedImage
            do {
                decoded = try ImageDecoder.decode(data, name: file.path)
            } catch {
                set.skipped.append("\(file.path): \(error)")
                continue
            }
            var timings: [String: Double] = [:]
            let detections: [Detection]
            do {
                detections = try detector.detect(decoded.image, stageTimings: &timings)
            } catch {
                set.skipped.append("\(file.path): detection failed: \(error)")
                continue
            }
            if let writeTo {
                let result = ResultFile(
                    source: file.path, width: decoded.image.width, height: decoded.image.height,
                    detector: detector.name, model: detector.modelName, scoreThreshold: scoreThreshold,
                    detections: detections)
                try PredictionReader.write(result, stem: stem, to: writeTo)
            }
            set.images.append(PredictionImage(stem: stem, detections: detections, file: file.path))
        }
        return set
    }

    /// Extensions whose files are expected to be images; one that is not TIFF or PNG is reported, not ignored.
    private static let imageExtensions: Set<String> = ["png", "tif", "tiff", "jpg", "jpeg"]

    /// Every regular, non-hidden file under `folder`, sorted by path.
    private static func regularFiles(under folder: URL) throws -> [URL] {
        guard
            let enumerator = FileManager.default.enumerator(
                at: folder, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
        else {
            throw EvalError(.unreadableFile, file: folder.path, "the folder cannot be listed")
        }
        var files: [URL] = []
        for case let url as URL in enumerator
        where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            files.append(url)
        }
        return files.sorted { $0.path < $1.path }
    }
}
