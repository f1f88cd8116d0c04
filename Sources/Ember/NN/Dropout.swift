/// Zeroes each element with probability `p` during training and scales the survivors by
/// 1/(1−p), so evaluation needs no rescaling (PyTorch's `nn.Dropout`). In evaluation mode
/// (`model.eval()`) it passes its input through.
///
/// The mask comes from a counter-based generator: element i's draw depends only on the
/// generator's seed and position, so the same seed gives the same mask for any thread count,
/// and saving the generator's `state` in a checkpoint replays it exactly.
///
/// - Parameters:
///   - p: the probability of zeroing an element, in [0, 1] (default 0.5).
///   - generator: the random source (the default generator unless given).
open class Dropout: Module {
    /// The probability of zeroing an element.
    public let p: Double
    /// The random source of the masks.
    public let generator: Generator

    /// PyTorch: `nn.Dropout(p)`.
    public init(p: Double = 0.5, generator: Generator = .default) {
        precondition(p >= 0 && p <= 1, "Dropout: probability has to be between 0 and 1, but got \(p)")
        self.p = p
        self.generator = generator
        super.init()
    }

    /// `x` with dropout applied in training mode; `x` itself in evaluation mode or with `p == 0`.
    open override func forward(_ x: Tensor) -> Tensor {
        // p == 0 would still draw numbers; skipping keeps the generator's position unchanged.
        guard isTraining && p > 0 else { return x }
        return x.dropout(p: p, generator: generator)
    }

    /// The text inside `Dropout(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "p=\(p), inplace=False" }
}

/// Zeroes whole channels of (N, C, H, W) input with probability `p` in training (PyTorch's
/// `nn.Dropout2d`), scaling the rest by 1/(1−p); passes through in evaluation.
open class Dropout2d: Module {
    /// The probability of zeroing a channel.
    public let p: Double
    /// The random source of the masks.
    public let generator: Generator

    /// PyTorch: `nn.Dropout2d(p)`.
    public init(p: Double = 0.5, generator: Generator = .default) {
        precondition(p >= 0 && p <= 1, "Dropout2d: probability has to be between 0 and 1, but got \(p)")
        self.p = p
        self.generator = generator
        super.init()
    }

    /// `x` with whole channels dropped in training mode; `x` itself in evaluation mode or with `p == 0`.
    open override func forward(_ x: Tensor) -> Tensor {
        guard isTraining && p > 0 else { return x }
        return x.dropout2d(p: p, generator: generator)
    }

    /// The text inside `Dropout2d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "p=\(p), inplace=False" }
}
