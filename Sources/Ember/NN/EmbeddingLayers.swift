/// A lookup table of `numEmbeddings` vectors of size `embeddingDim` (PyTorch's
/// `nn.Embedding`): int64 indices of any shape in, `indices.shape + [embeddingDim]` out.
///
/// The weight is initialised from N(0, 1), as PyTorch's `reset_parameters`; the `paddingIdx`
/// row (negative counts from the end) is then zeroed and never gets a gradient, so it stays
/// zero under training (a padding token's vector).
///
/// - Parameters:
///   - numEmbeddings: the size of the table (the vocabulary).
///   - embeddingDim: the size of each vector.
///   - paddingIdx: the row that is zero and gets no gradient.
///   - maxNorm: each looked-up row with a larger `normType`-norm is rescaled to this norm, in
///     place in the weight, before the lookup (see `embedding(_:weight:…)`).
///   - normType: the p of that norm (default 2).
///   - scaleGradByFreq: divide each row's gradient by its index's count in the batch.
///   - generator: where the initial values are drawn from.
///
/// ```swift
/// let tokens = Embedding(50257, 768)
/// let x = tokens(Tensor([15496, 11, 995] as [Int], shape: [1, 3]))   // [1, 3, 768]
/// ```
open class Embedding: Module {
    /// The number of rows (the vocabulary size).
    public let numEmbeddings: Int
    /// The size of each vector.
    public let embeddingDim: Int
    /// The padding row, non-negative (a negative `paddingIdx` is resolved at init), or nil.
    public let paddingIdx: Int?
    /// Rows looked up with a larger `normType`-norm are rescaled to this norm in place, or nil.
    public let maxNorm: Double?
    /// The p of the norm `maxNorm` bounds.
    public let normType: Double
    /// Whether each row's gradient is divided by its index's count in the batch.
    public let scaleGradByFreq: Bool
    /// (numEmbeddings, embeddingDim).
    public var weight: Tensor

    /// PyTorch: `nn.Embedding(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type, scale_grad_by_freq)`.
    public init(_ numEmbeddings: Int, _ embeddingDim: Int, paddingIdx: Int? = nil, maxNorm: Double? = nil,
                normType: Double = 2, scaleGradByFreq: Bool = false, generator: Generator = .default) {
        precondition(numEmbeddings >= 0 && embeddingDim >= 0,
                     "Embedding: sizes must be non-negative, got \(numEmbeddings) and \(embeddingDim)")
        if let p = paddingIdx {
            precondition(p >= -numEmbeddings && p < numEmbeddings,
                         "Embedding: Padding_idx must be within num_embeddings (\(p) for \(numEmbeddings) rows)")
        }
        self.numEmbeddings = numEmbeddings
        self.embeddingDim = embeddingDim
        self.paddingIdx = paddingIdx.map { $0 < 0 ? $0 + numEmbeddings : $0 }
        self.maxNorm = maxNorm
        self.normType = normType
        self.scaleGradByFreq = scaleGradByFreq
        weight = Tensor.randn([numEmbeddings, embeddingDim], generator: generator)
        if let p = self.paddingIdx { weight[p].fill_(0) }
        weight.requiresGrad = true
        super.init()
    }

    /// The labelled spelling, as in PyTorch's keywords.
    public convenience init(numEmbeddings: Int, embeddingDim: Int, paddingIdx: Int? = nil, maxNorm: Double? = nil,
                            normType: Double = 2, scaleGradByFreq: Bool = false, generator: Generator = .default) {
        self.init(numEmbeddings, embeddingDim, paddingIdx: paddingIdx, maxNorm: maxNorm, normType: normType,
                  scaleGradByFreq: scaleGradByFreq, generator: generator)
    }

    /// A layer around a given table (PyTorch's `Embedding.from_pretrained`): the weight is a
    /// copy of `embeddings` (2-D), frozen unless `freeze` is false. The padding row keeps its
    /// values (as in PyTorch) but gets no gradient.
    public static func fromPretrained(_ embeddings: Tensor, freeze: Bool = true, paddingIdx: Int? = nil,
                                      maxNorm: Double? = nil, normType: Double = 2, scaleGradByFreq: Bool = false) -> Embedding {
        precondition(embeddings.ndim == 2, "Embeddings parameter is expected to be 2-dimensional, got \(embeddings.shape)")
        // The throwaway initial draw comes from its own generator: the default one does not advance.
        let layer = Embedding(embeddings.shape[0], embeddings.shape[1], paddingIdx: paddingIdx, maxNorm: maxNorm,
                              normType: normType, scaleGradByFreq: scaleGradByFreq, generator: Generator(seed: 0))
        layer.weight = embeddings.detach().clone().type(.float32).requiringGrad(!freeze)
        return layer
    }

    /// The rows of `weight` named by int64 indices `x`: `x.shape + [embeddingDim]`.
    open override func forward(_ x: Tensor) -> Tensor {
        embedding(x, weight: weight, paddingIdx: paddingIdx, maxNorm: maxNorm, normType: normType,
                  scaleGradByFreq: scaleGradByFreq)
    }

    /// The text inside `Embedding(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        var s = "\(numEmbeddings), \(embeddingDim)"
        if let paddingIdx { s += ", padding_idx=\(paddingIdx)" }
        if let maxNorm { s += ", max_norm=\(maxNorm)" }
        if normType != 2 { s += ", norm_type=\(normType)" }
        if scaleGradByFreq { s += ", scale_grad_by_freq=True" }
        return s
    }
}
