/// The instruction-set path Ember's GEMM engine runs (csrc/gemm/). Every path gives the same
/// bits (include/ember.h states the rule); they differ only in speed.
public enum CPUCapability: Int, CaseIterable, CustomStringConvertible, Sendable {
    /// Portable C (fmaf), for machines with neither AVX2 nor AVX-512.
    case generic = 0
    /// AVX2 + FMA, 256-bit.
    case avx2 = 1
    /// AVX-512 (F, VL, DQ), 512-bit.
    case avx512 = 2

    /// The path's name: `generic`, `avx2` or `avx512`.
    public var description: String { String(cString: Kernels.cpuPathName(rawValue)) }
}

/// The path the GEMMs run: the best the machine has, capped by the environment variable
/// `EMBER_CPU=avx512|avx2|generic`.
public var cpuCapability: CPUCapability { CPUCapability(rawValue: Kernels.gemmPath()) ?? .generic }

/// The best path this machine's CPU supports (cpuid), whatever `EMBER_CPU` says.
public var hardwareCPUCapability: CPUCapability {
    CPUCapability(rawValue: Kernels.hardwarePath()) ?? .generic
}

/// Caps the GEMM path in-process (tests and benchmarks); returns the path that will run,
/// never above the hardware's. Not safe while other threads run GEMMs.
@discardableResult
func setCPUCapability(_ cap: CPUCapability) -> CPUCapability {
    CPUCapability(rawValue: Kernels.setGemmPath(cap.rawValue)) ?? .generic
}

/// Whether Ember's GEMMs go through OpenBLAS instead (`EMBER_GEMM=openblas`): for
/// comparison only; OpenBLAS rounds differently per machine.
var gemmUsesOpenBLAS: Bool {
    get { Kernels.gemmBackendIsOpenBLAS }
    set { Kernels.gemmBackendIsOpenBLAS = newValue }
}
