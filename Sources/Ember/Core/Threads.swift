/// The thread budget shared by every parallel kernel (OpenMP). OpenBLAS is kept
/// single-threaded and driven by Ember's own OpenMP loops, so there is one pool, and results
/// are bit-identical for any thread count. Default: the cores available to the process.
///
/// PyTorch: `torch.set_num_threads(n)`.
public func setNumThreads(_ n: Int) {
    precondition(n >= 1, "setNumThreads: need at least 1 thread, got \(n)")
    Kernels.setNumThreads(n)
}

/// Threads used by Ember's kernels.
///
/// PyTorch: `torch.get_num_threads()`.
public func numThreads() -> Int { Kernels.numThreads() }

/// Cores available to this process.
public func numCores() -> Int { Kernels.numCores() }

/// Elementwise kernels on fewer elements than this run on one thread (a fork/join costs
/// more than the work). The default was measured with `ember-bench threshold`.
public var parallelThreshold: Int {
    get { Kernels.parallelThreshold() }
    set { Kernels.setParallelThreshold(newValue) }
}
