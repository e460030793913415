// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "KaryoCount",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "karyocount", targets: ["karyocount"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Thin system-library targets: module maps over Debian's -dev packages, nothing else.
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CTIFF", pkgConfig: "libtiff-4",
            providers: [.apt(["libtiff-dev"])]),
        .systemLibrary(
            name: "CTurboJPEG", pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"])]),
        // libpng's classic API longjmps on errors; its calls live in this small C target (Debian: libpng-dev).
        .target(
            name: "CPNG",
            linkerSettings: [.linkedLibrary("png16")]),
        // glibc's malloc.h (mallopt), part of libc: nothing to link.
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(
            name: "CInotifyTools",
            providers: [.apt(["libinotifytools0-dev"])]),

        // Hashing and the seeded generator, for every floor that needs them without the neural engine.
        .target(name: "KaryoSupport"),
        .target(
            name: "KaryoImage",
            dependencies: ["CTIFF", "CPNG", "CTurboJPEG"]),
        .target(
            name: "KaryoNet",
            dependencies: ["COpenBLAS", "CMalloc", "KaryoImage", "KaryoSupport"]),
        .target(
            name: "KaryoDetect",
            dependencies: ["KaryoImage", "KaryoNet", "KaryoSupport"]),
        .target(
            name: "KaryoEval",
            dependencies: ["KaryoImage", "KaryoDetect"]),
        .target(
            name: "KaryoPipeline",
            dependencies: [
                "KaryoImage", "KaryoNet", "KaryoDetect", "KaryoSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "KaryoWatch",
            dependencies: [
                "CInotifyTools", "KaryoSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The review station: the web pages and JSON API a cytologist checks and corrects counts with.
        .target(
            name: "KaryoReview",
            dependencies: [
                "KaryoPipeline", "KaryoImage", "KaryoSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The daemon `karyocount watch` runs: intake, counting, review station and systemd health as services.
        .target(
            name: "KaryoDaemon",
            dependencies: [
                "KaryoPipeline", "KaryoDetect", "KaryoWatch", "KaryoReview",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "karyocount",
            dependencies: [
                "KaryoImage", "KaryoNet", "KaryoDetect", "KaryoEval", "KaryoPipeline", "KaryoWatch", "KaryoReview",
                "KaryoDaemon", "KaryoSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        .testTarget(
            name: "KaryoImageTests", dependencies: ["KaryoImage", "KaryoSupport", "CTIFF", "CPNG", "CTurboJPEG"]),
        .testTarget(name: "KaryoSupportTests", dependencies: ["KaryoSupport"]),
        .testTarget(
            name: "KaryoNetTests", dependencies: ["KaryoNet", "KaryoImage", "KaryoSupport"], exclude: ["Golden"]),
        .testTarget(
            name: "KaryoDetectTests", dependencies: ["KaryoDetect", "KaryoImage", "KaryoEval", "KaryoSupport"]),
        .testTarget(name: "KaryoEvalTests", dependencies: ["KaryoEval", "KaryoSupport"]),
        // Helpers shared by the test targets (log capture, temp folders, pipeline fixtures); linked by tests only.
        .target(
            name: "KaryoTestSupport",
            dependencies: [
                "KaryoPipeline", "KaryoDetect", "KaryoImage", "KaryoSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/KaryoTestSupport"),
        .testTarget(
            name: "KaryoPipelineTests",
            dependencies: [
                "KaryoPipeline", "KaryoWatch", "KaryoImage", "KaryoNet", "KaryoDetect", "KaryoSupport",
                "KaryoTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "KaryoReviewTests",
            dependencies: [
                "KaryoReview", "KaryoPipeline", "KaryoDetect", "KaryoImage", "KaryoSupport", "KaryoTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(name: "KaryoWatchTests", dependencies: ["KaryoWatch", "KaryoSupport", "KaryoTestSupport"]),
        // Runs the daemon in this process, and the built `karyocount` binary as a daemon, against temp drop folders.
        .testTarget(
            name: "KaryoDaemonTests",
            dependencies: [
                "KaryoDaemon", "KaryoDetect", "KaryoPipeline", "KaryoWatch", "KaryoImage", "KaryoSupport",
                "KaryoTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
    ]
)
