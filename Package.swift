// swift-tools-version:6.2
//
// Ember: PyTorch-style deep learning for Swift on Linux, with a C core.
//
// Build notes
// - tools-version 6.2 is the lowest that lets a package with `unsafeFlags` (here `-fopenmp`)
//   be consumed by version (`.package(url:…, from:)`); older tools reject it.
// - The C core (`CEmber`) is an internal detail: no stable API. It links Debian's OpenBLAS
//   (`libopenblas-dev`), LLVM's OpenMP runtime (`libomp-dev`, which installs it as
//   `libomp5.so`, not `libomp.so`), zlib (`zlib1g-dev`) and libarchive (`libarchive-dev`,
//   zip and tar readers for checkpoints and dataset archives).
// - The C core is always compiled with -O3, also in debug builds: the debug test suite runs
//   real training steps and must stay fast.
import PackageDescription

let package = Package(
    name: "Ember",
    products: [
        .library(name: "Ember", targets: ["Ember"]),
        .library(name: "EmberModels", targets: ["EmberModels"]),
        .executable(name: "quickstart", targets: ["quickstart"]),
        .executable(name: "cnn", targets: ["cnn"]),
        .executable(name: "gpt", targets: ["gpt"]),
        .executable(name: "ember-bench", targets: ["ember-bench"]),
        // Data-parallel training over MPI; a separate product so that plain Ember needs no MPI.
        .library(name: "EmberDistributed", targets: ["EmberDistributed"]),
        .executable(name: "quickstart-distributed", targets: ["quickstart-distributed"]),
        // `ember convert IN.pth OUT.safetensors` (Sources/EmberCLI).
        .executable(name: "ember", targets: ["EmberCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation` (the DocC catalog in Sources/Ember/Ember.docc);
        // a command plugin only: nothing of it is linked into Ember or its users.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // MARK: C core
        .target(
            name: "CEmber",
            path: ".",
            sources: ["csrc"],
            publicHeadersPath: "include",
            cSettings: [
                // -ffp-contract=off: the compiler may not fuse a*b+c into an FMA on its own.
                // Ember's bits must not depend on the machine (include/ember.h): the GEMM
                // kernels' FMAs are explicit (intrinsics, fmaf), and every other a*b+c rounds
                // twice on every path, also in functions compiled for FMA targets.
                .unsafeFlags(["-fopenmp", "-O3", "-fno-math-errno", "-ffp-contract=off"]),
            ],
            linkerSettings: [
                .linkedLibrary("openblas"),
                .linkedLibrary("omp5"),
                .linkedLibrary("z"),
                .linkedLibrary("archive"),
                // Image decoding (csrc/image.c): libpng-dev, libjpeg62-turbo-dev.
                .linkedLibrary("png"),
                .linkedLibrary("jpeg"),
            ]
        ),

        // MARK: Library
        .target(
            name: "Ember",
            dependencies: ["CEmber"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),

        // Models with torchvision's and pytorch/examples' state-dict keys (ResNet-18, the
        // MNIST CNN), for the examples, the benchmarks and users.
        .target(
            name: "EmberModels",
            dependencies: ["Ember"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),

        // MARK: Distributed (MPI)
        // The system's MPI through pkg-config `mpi` (Debian's default MPI: Open MPI from
        // libopenmpi-dev, or MPICH). Only CEmberMPI includes mpi.h; EmberDistributed sees
        // plain C types. Only targets that depend on EmberDistributed build or link MPI.
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "mpi",
            providers: [.apt(["libopenmpi-dev"])]
        ),
        .target(
            name: "CEmberMPI",
            dependencies: ["CMPI"],
            cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]
        ),
        .target(
            name: "EmberDistributed",
            dependencies: ["Ember", "CEmberMPI"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),

        // MARK: Executables
        // What the examples share that is not the library's business (the SVG learning curve).
        .target(
            name: "ExampleSupport",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "quickstart",
            dependencies: [
                "Ember",
                "ExampleSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "cnn",
            dependencies: [
                "Ember",
                "EmberModels",
                "ExampleSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "gpt",
            dependencies: [
                "Ember",
                "EmberModels",
                "ExampleSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "ember-bench",
            dependencies: [
                "Ember",
                "EmberModels",
                "CEmber",
                "EmberDistributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),

        // The quickstart under mpirun: a separate executable, so that `quickstart` (and its
        // users) need no MPI.
        .executableTarget(
            name: "quickstart-distributed",
            dependencies: [
                "Ember",
                "EmberDistributed",
                "ExampleSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The `ember` command-line tool (convert). Not `Sources/ember`: it would clash with
        // `Sources/Ember` on case-insensitive file systems.
        .executableTarget(
            name: "EmberCLI",
            dependencies: [
                "Ember",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Multi-rank checks that scripts/mpi-test.sh runs under mpirun.
        .executableTarget(
            name: "ember-mpi-check",
            dependencies: ["Ember", "EmberDistributed"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),

        // MARK: Tests
        .testTarget(
            name: "EmberTests",
            dependencies: ["Ember", "EmberModels"],
            resources: [.copy("Fixtures")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The DocC articles' code, verbatim (scripts/check_docs_snippets.py checks that it is).
        .testTarget(
            name: "DocsTests",
            dependencies: ["Ember", "EmberDistributed"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "EmberDistributedTests",
            dependencies: ["Ember", "EmberDistributed"],
            resources: [.copy("Fixtures")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
