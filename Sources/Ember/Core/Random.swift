import Foundation

/// A seedable random generator. Ember's generators are counter-based: the numbers drawn for
/// a tensor depend only on the seed and how many numbers were drawn before it — never on the
/// thread count — and the whole state is two integers (`state`), easy to checkpoint.
///
/// PyTorch: `torch.Generator`.
public final class Generator: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var seed: UInt64
    private var offset: UInt64 = 0

    /// The generator used when none is given (PyTorch's default generator).
    public static let `default` = Generator(seed: 0)

    /// A generator at position 0 of `seed`'s stream (PyTorch: `torch.Generator().manual_seed(seed)`).
    public init(seed: UInt64) {
        self.seed = seed
        pthread_mutex_init(&lock, nil)
    }

    /// Restarts the sequence from `seed`.
    ///
    /// PyTorch: `torch.manual_seed(seed)`.
    public func manualSeed(_ seed: UInt64) {
        pthread_mutex_lock(&lock)
        self.seed = seed
        offset = 0
        pthread_mutex_unlock(&lock)
    }

    /// (seed, numbers drawn so far): save and restore it to replay a run.
    public var state: (seed: UInt64, offset: UInt64) {
        get {
            pthread_mutex_lock(&lock)
            defer { pthread_mutex_unlock(&lock) }
            return (seed, offset)
        }
        set {
            pthread_mutex_lock(&lock)
            seed = newValue.seed
            offset = newValue.offset
            pthread_mutex_unlock(&lock)
        }
    }

    /// Reserves `n` counters and returns where they start.
    func reserve(_ n: Int) -> (seed: UInt64, offset: UInt64) {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        let start = offset
        offset &+= UInt64(n)
        return (seed, start)
    }

    /// A uniform Double in [0, 1).
    public func nextUniform() -> Double {
        let (s, o) = reserve(1)
        return Double(Kernels.uniform01(s, o))
    }

    /// A uniform Int in 0..<bound.
    public func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt: bound must be positive")
        let (s, o) = reserve(1)
        return Int(Kernels.mix64(s &+ 0x9E37_79B9_7F4A_7C15 &* (o &+ 1)) % UInt64(bound))
    }

    /// A random permutation of 0..<n (Fisher–Yates).
    ///
    /// PyTorch: `torch.randperm(n, generator=g)`.
    public func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        let (s, o) = reserve(n)
        for i in stride(from: n - 1, to: 0, by: -1) {
            let r = Kernels.mix64(s &+ 0x9E37_79B9_7F4A_7C15 &* (o &+ UInt64(i) &+ 1))
            p.swapAt(i, Int(r % UInt64(i + 1)))
        }
        return p
    }
}

/// Seeds the default generator (PyTorch's `torch.manual_seed`).
public func manualSeed(_ seed: UInt64) {
    Generator.default.manualSeed(seed)
}
