/// The feed-forward activation of the Transformer layers (PyTorch's `activation="relu"` or
/// `"gelu"`).
public enum TransformerActivation: String, Sendable {
    /// PyTorch's `F.relu` and `F.gelu` (exact, erf-based).
    case relu, gelu

    func callAsFunction(_ x: Tensor) -> Tensor { self == .relu ? x.relu() : x.gelu() }
}

/// One encoder block (PyTorch's `nn.TransformerEncoderLayer`): self-attention, then a
/// feed-forward network (Linear → activation → Linear), each with dropout, a residual
/// connection and a LayerNorm — after the residual (`normFirst: false`, the original
/// Transformer) or before the sublayer (`normFirst: true`, pre-norm).
///
/// Submodules and state-dict keys are PyTorch's: `self_attn.in_proj_weight`, `linear1.weight`,
/// `linear2.weight`, `norm1.weight`, `norm2.weight` (and their biases).
///
/// ```swift
/// let layer = TransformerEncoderLayer(dModel: 64, nhead: 4, dimFeedforward: 256, batchFirst: true)
/// let y = layer(Tensor.randn([8, 10, 64]))   // [8, 10, 64]
/// ```
open class TransformerEncoderLayer: Module {
    /// Self-attention over the source (PyTorch: `self_attn`).
    public let selfAttn: MultiheadAttention
    /// The first feed-forward projection, dModel → dimFeedforward (PyTorch: `linear1`).
    public let linear1: Linear
    /// Dropout after the activation inside the feed-forward block.
    public let dropout: Dropout
    /// The second feed-forward projection, dimFeedforward → dModel (PyTorch: `linear2`).
    public let linear2: Linear
    /// The LayerNorm of the self-attention sublayer.
    public let norm1: LayerNorm
    /// The LayerNorm of the feed-forward sublayer.
    public let norm2: LayerNorm
    /// Dropout on the self-attention output before the residual add.
    public let dropout1: Dropout
    /// Dropout on the feed-forward output before the residual add.
    public let dropout2: Dropout
    /// Pre-norm (LayerNorm before each sublayer) when true, post-norm when false (PyTorch: `norm_first`).
    public let normFirst: Bool
    /// The feed-forward activation.
    public let activation: TransformerActivation
    let config: (dModel: Int, nhead: Int, dimFeedforward: Int, dropout: Double, layerNormEps: Double,
                 batchFirst: Bool, bias: Bool)

    /// PyTorch: `nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias)`.
    public init(dModel: Int, nhead: Int, dimFeedforward: Int = 2048, dropout: Double = 0.1,
                activation: TransformerActivation = .relu, layerNormEps: Double = 1e-5, batchFirst: Bool = false,
                normFirst: Bool = false, bias: Bool = true, generator: Generator = .default) {
        selfAttn = MultiheadAttention(embedDim: dModel, numHeads: nhead, dropout: dropout, bias: bias,
                                      batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, dimFeedforward, bias: bias, generator: generator)
        self.dropout = Dropout(p: dropout, generator: generator)
        linear2 = Linear(dimFeedforward, dModel, bias: bias, generator: generator)
        norm1 = LayerNorm(dModel, eps: layerNormEps, bias: bias)
        norm2 = LayerNorm(dModel, eps: layerNormEps, bias: bias)
        dropout1 = Dropout(p: dropout, generator: generator)
        dropout2 = Dropout(p: dropout, generator: generator)
        (self.normFirst, self.activation) = (normFirst, activation)
        config = (dModel, nhead, dimFeedforward, dropout, layerNormEps, batchFirst, bias)
        super.init()
    }

    /// The layer on `src` without masks.
    open override func forward(_ src: Tensor) -> Tensor { forward(src, srcMask: nil) }

    /// - Parameters:
    ///   - src: (S, N, E), or (N, S, E) with `batchFirst`.
    ///   - srcMask: (S, S) or (N·nhead, S, S), MultiheadAttention's `attnMask`.
    ///   - srcKeyPaddingMask: (N, S), true where a position is padding.
    ///   - isCausal: a hint that `srcMask` is the causal mask.
    ///
    /// PyTorch: `TransformerEncoderLayer.forward(src, src_mask, src_key_padding_mask, is_causal)`.
    open func forward(_ src: Tensor, srcMask: Tensor?, srcKeyPaddingMask: Tensor? = nil, isCausal: Bool = false) -> Tensor {
        func sa(_ x: Tensor) -> Tensor {
            dropout1(selfAttn.forward(query: x, key: x, value: x, keyPaddingMask: srcKeyPaddingMask, needWeights: false,
                                      attnMask: srcMask, isCausal: isCausal).output)
        }
        func ff(_ x: Tensor) -> Tensor { dropout2(linear2(dropout(activation(linear1(x))))) }
        if normFirst {
            let x = src + sa(norm1(src))
            return x + ff(norm2(x))
        }
        let x = norm1(src + sa(src))
        return norm2(x + ff(x))
    }

    /// Runs `forward(_:srcMask:srcKeyPaddingMask:isCausal:)`.
    public func callAsFunction(_ src: Tensor, srcMask: Tensor?, srcKeyPaddingMask: Tensor? = nil,
                               isCausal: Bool = false) -> Tensor {
        forward(src, srcMask: srcMask, srcKeyPaddingMask: srcKeyPaddingMask, isCausal: isCausal)
    }

    /// A new layer with the same configuration and copies of the parameters (PyTorch's
    /// `copy.deepcopy`, as TransformerEncoder makes its layers).
    open func deepCopy() -> TransformerEncoderLayer {
        let c = config
        let copy = TransformerEncoderLayer(dModel: c.dModel, nhead: c.nhead, dimFeedforward: c.dimFeedforward,
                                           dropout: c.dropout, activation: activation, layerNormEps: c.layerNormEps,
                                           batchFirst: c.batchFirst, normFirst: normFirst, bias: c.bias,
                                           generator: selfAttn.generator)
        copyState(from: self, to: copy)
        return copy
    }
}

/// One decoder block (PyTorch's `nn.TransformerDecoderLayer`): self-attention over the
/// target, cross-attention over the encoder's output (`memory`), then the feed-forward
/// network, each with dropout, a residual connection and a LayerNorm (after, or before with
/// `normFirst`). State-dict keys are PyTorch's (`self_attn.…`, `multihead_attn.…`,
/// `linear1.…`, `linear2.…`, `norm1.…` to `norm3.…`).
///
/// ```swift
/// let layer = TransformerDecoderLayer(dModel: 64, nhead: 4, batchFirst: true)
/// let y = layer(Tensor.randn([8, 10, 64]), memory: Tensor.randn([8, 12, 64]),
///               tgtMask: Transformer.generateSquareSubsequentMask(10))
/// ```
open class TransformerDecoderLayer: Module {
    /// Self-attention over the target (PyTorch: `self_attn`).
    public let selfAttn: MultiheadAttention
    /// Cross-attention of the target over the memory (PyTorch: `multihead_attn`).
    public let multiheadAttn: MultiheadAttention
    /// The first feed-forward projection, dModel → dimFeedforward (PyTorch: `linear1`).
    public let linear1: Linear
    /// Dropout after the activation inside the feed-forward block.
    public let dropout: Dropout
    /// The second feed-forward projection, dimFeedforward → dModel (PyTorch: `linear2`).
    public let linear2: Linear
    /// The LayerNorm of the self-attention sublayer.
    public let norm1: LayerNorm
    /// The LayerNorm of the cross-attention sublayer.
    public let norm2: LayerNorm
    /// The LayerNorm of the feed-forward sublayer.
    public let norm3: LayerNorm
    /// Dropout on the self-attention output before the residual add.
    public let dropout1: Dropout
    /// Dropout on the cross-attention output before the residual add.
    public let dropout2: Dropout
    /// Dropout on the feed-forward output before the residual add.
    public let dropout3: Dropout
    /// Pre-norm (LayerNorm before each sublayer) when true, post-norm when false (PyTorch: `norm_first`).
    public let normFirst: Bool
    /// The feed-forward activation.
    public let activation: TransformerActivation
    let config: (dModel: Int, nhead: Int, dimFeedforward: Int, dropout: Double, layerNormEps: Double,
                 batchFirst: Bool, bias: Bool)

    /// PyTorch: `nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias)`.
    public init(dModel: Int, nhead: Int, dimFeedforward: Int = 2048, dropout: Double = 0.1,
                activation: TransformerActivation = .relu, layerNormEps: Double = 1e-5, batchFirst: Bool = false,
                normFirst: Bool = false, bias: Bool = true, generator: Generator = .default) {
        selfAttn = MultiheadAttention(embedDim: dModel, numHeads: nhead, dropout: dropout, bias: bias,
                                      batchFirst: batchFirst, generator: generator)
        multiheadAttn = MultiheadAttention(embedDim: dModel, numHeads: nhead, dropout: dropout, bias: bias,
                                           batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, dimFeedforward, bias: bias, generator: generator)
        self.dropout = Dropout(p: dropout, generator: generator)
        linear2 = Linear(dimFeedforward, dModel, bias: bias, generator: generator)
        norm1 = LayerNorm(dModel, eps: layerNormEps, bias: bias)
        norm2 = LayerNorm(dModel, eps: layerNormEps, bias: bias)
        norm3 = LayerNorm(dModel, eps: layerNormEps, bias: bias)
        dropout1 = Dropout(p: dropout, generator: generator)
        dropout2 = Dropout(p: dropout, generator: generator)
        dropout3 = Dropout(p: dropout, generator: generator)
        (self.normFirst, self.activation) = (normFirst, activation)
        config = (dModel, nhead, dimFeedforward, dropout, layerNormEps, batchFirst, bias)
        super.init()
    }

    /// Decoding `x` against itself as memory (for a single-input pipeline); use
    /// `forward(_:memory:…)`.
    open override func forward(_ x: Tensor) -> Tensor { forward(x, memory: x) }

    /// - Parameters:
    ///   - tgt: (T, N, E), or (N, T, E) with `batchFirst`.
    ///   - memory: (S, N, E) likewise: the encoder's output.
    ///   - tgtMask: (T, T) mask of the self-attention (usually the causal one).
    ///   - memoryMask: (T, S) mask of the cross-attention.
    ///   - tgtKeyPaddingMask: (N, T), true marks padding.
    ///   - memoryKeyPaddingMask: (N, S), true marks padding.
    ///   - tgtIsCausal: a hint that `tgtMask` is the causal mask.
    ///   - memoryIsCausal: a hint that `memoryMask` is the causal mask.
    ///
    /// PyTorch: `TransformerDecoderLayer.forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal, memory_is_causal)`.
    open func forward(_ tgt: Tensor, memory: Tensor, tgtMask: Tensor? = nil, memoryMask: Tensor? = nil,
                      tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil,
                      tgtIsCausal: Bool = false, memoryIsCausal: Bool = false) -> Tensor {
        func sa(_ x: Tensor) -> Tensor {
            dropout1(selfAttn.forward(query: x, key: x, value: x, keyPaddingMask: tgtKeyPaddingMask, needWeights: false,
                                      attnMask: tgtMask, isCausal: tgtIsCausal).output)
        }
        func mha(_ x: Tensor) -> Tensor {
            dropout2(multiheadAttn.forward(query: x, key: memory, value: memory, keyPaddingMask: memoryKeyPaddingMask,
                                           needWeights: false, attnMask: memoryMask, isCausal: memoryIsCausal).output)
        }
        func ff(_ x: Tensor) -> Tensor { dropout3(linear2(dropout(activation(linear1(x))))) }
        if normFirst {
            var x = tgt + sa(norm1(tgt))
            x = x + mha(norm2(x))
            return x + ff(norm3(x))
        }
        var x = norm1(tgt + sa(tgt))
        x = norm2(x + mha(x))
        return norm3(x + ff(x))
    }

    /// Runs `forward(_:memory:tgtMask:memoryMask:tgtKeyPaddingMask:memoryKeyPaddingMask:tgtIsCausal:memoryIsCausal:)`.
    public func callAsFunction(_ tgt: Tensor, memory: Tensor, tgtMask: Tensor? = nil, memoryMask: Tensor? = nil,
                               tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil,
                               tgtIsCausal: Bool = false, memoryIsCausal: Bool = false) -> Tensor {
        forward(tgt, memory: memory, tgtMask: tgtMask, memoryMask: memoryMask, tgtKeyPaddingMask: tgtKeyPaddingMask,
                memoryKeyPaddingMask: memoryKeyPaddingMask, tgtIsCausal: tgtIsCausal, memoryIsCausal: memoryIsCausal)
    }

    /// A new layer with the same configuration and copies of the parameters.
    open func deepCopy() -> TransformerDecoderLayer {
        let c = config
        let copy = TransformerDecoderLayer(dModel: c.dModel, nhead: c.nhead, dimFeedforward: c.dimFeedforward,
                                           dropout: c.dropout, activation: activation, layerNormEps: c.layerNormEps,
                                           batchFirst: c.batchFirst, normFirst: normFirst, bias: c.bias,
                                           generator: selfAttn.generator)
        copyState(from: self, to: copy)
        return copy
    }
}

/// Copies every parameter's and buffer's values (and the training mode) from one module to
/// another of the same structure.
private func copyState(from source: Module, to target: Module) {
    noGrad {
        for ((_, a), (_, b)) in zip(source.collectState(), target.collectState()) { b.copy_(a) }
    }
    target.train(source.isTraining)
}

/// A stack of `numLayers` copies of an encoder layer (PyTorch's `nn.TransformerEncoder`),
/// then an optional final norm. The copies start with the given layer's values and are
/// independent of it and of each other. State-dict keys are PyTorch's: `layers.0.self_attn.…`,
/// …, `norm.weight`.
///
/// ```swift
/// let layer = TransformerEncoderLayer(dModel: 64, nhead: 4, batchFirst: true)
/// let encoder = TransformerEncoder(layer, numLayers: 6, norm: LayerNorm(64))
/// let y = encoder(Tensor.randn([8, 10, 64]))
/// ```
open class TransformerEncoder: Module {
    /// The layers, named `layers.0`, `layers.1`, … in the state dict, as PyTorch's ModuleList.
    public let layers: ModuleList<TransformerEncoderLayer>
    /// The final normalization after the last layer, if any.
    public let norm: Module?
    /// The number of layers.
    public var numLayers: Int { layers.count }

    /// `numLayers` independent copies of `encoderLayer` (PyTorch: `nn.TransformerEncoder(encoder_layer, num_layers, norm)`).
    public init(_ encoderLayer: TransformerEncoderLayer, numLayers: Int, norm: Module? = nil) {
        precondition(numLayers >= 0, "TransformerEncoder: num_layers must be non-negative, got \(numLayers)")
        layers = ModuleList((0..<numLayers).map { _ in encoderLayer.deepCopy() })
        self.norm = norm
        super.init()
    }

    /// The stack on `src` without masks.
    open override func forward(_ src: Tensor) -> Tensor { forward(src, mask: nil) }

    /// Each layer in turn with the same masks (see `TransformerEncoderLayer.forward`), then `norm`.
    ///
    /// PyTorch: `TransformerEncoder.forward(src, mask, src_key_padding_mask, is_causal)`.
    open func forward(_ src: Tensor, mask: Tensor?, srcKeyPaddingMask: Tensor? = nil, isCausal: Bool = false) -> Tensor {
        var x = src
        for layer in layers { x = layer.forward(x, srcMask: mask, srcKeyPaddingMask: srcKeyPaddingMask, isCausal: isCausal) }
        return norm.map { $0(x) } ?? x
    }

    /// Runs `forward(_:mask:srcKeyPaddingMask:isCausal:)`.
    public func callAsFunction(_ src: Tensor, mask: Tensor?, srcKeyPaddingMask: Tensor? = nil, isCausal: Bool = false) -> Tensor {
        forward(src, mask: mask, srcKeyPaddingMask: srcKeyPaddingMask, isCausal: isCausal)
    }
}

/// A stack of `numLayers` copies of a decoder layer (PyTorch's `nn.TransformerDecoder`), then
/// an optional final norm; keys `layers.0.self_attn.…`, …, `norm.weight`.
open class TransformerDecoder: Module {
    /// The layers, named `layers.0`, `layers.1`, … in the state dict, as PyTorch's ModuleList.
    public let layers: ModuleList<TransformerDecoderLayer>
    /// The final normalization after the last layer, if any.
    public let norm: Module?
    /// The number of layers.
    public var numLayers: Int { layers.count }

    /// `numLayers` independent copies of `decoderLayer` (PyTorch: `nn.TransformerDecoder(decoder_layer, num_layers, norm)`).
    public init(_ decoderLayer: TransformerDecoderLayer, numLayers: Int, norm: Module? = nil) {
        precondition(numLayers >= 0, "TransformerDecoder: num_layers must be non-negative, got \(numLayers)")
        layers = ModuleList((0..<numLayers).map { _ in decoderLayer.deepCopy() })
        self.norm = norm
        super.init()
    }

    /// Decoding `x` against itself as memory (for a single-input pipeline).
    open override func forward(_ x: Tensor) -> Tensor { forward(x, memory: x) }

    /// Each layer in turn on the same memory and masks (see `TransformerDecoderLayer.forward`), then `norm`.
    ///
    /// PyTorch: `TransformerDecoder.forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal, memory_is_causal)`.
    open func forward(_ tgt: Tensor, memory: Tensor, tgtMask: Tensor? = nil, memoryMask: Tensor? = nil,
                      tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil,
                      tgtIsCausal: Bool = false, memoryIsCausal: Bool = false) -> Tensor {
        var x = tgt
        for layer in layers {
            x = layer.forward(x, memory: memory, tgtMask: tgtMask, memoryMask: memoryMask, tgtKeyPaddingMask: tgtKeyPaddingMask,
                              memoryKeyPaddingMask: memoryKeyPaddingMask, tgtIsCausal: tgtIsCausal,
                              memoryIsCausal: memoryIsCausal)
        }
        return norm.map { $0(x) } ?? x
    }

    /// Runs `forward(_:memory:tgtMask:memoryMask:tgtKeyPaddingMask:memoryKeyPaddingMask:tgtIsCausal:memoryIsCausal:)`.
    public func callAsFunction(_ tgt: Tensor, memory: Tensor, tgtMask: Tensor? = nil, memoryMask: Tensor? = nil,
                               tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil,
                               tgtIsCausal: Bool = false, memoryIsCausal: Bool = false) -> Tensor {
        forward(tgt, memory: memory, tgtMask: tgtMask, memoryMask: memoryMask, tgtKeyPaddingMask: tgtKeyPaddingMask,
                memoryKeyPaddingMask: memoryKeyPaddingMask, tgtIsCausal: tgtIsCausal, memoryIsCausal: memoryIsCausal)
    }
}

/// The encoder–decoder Transformer of "Attention Is All You Need" (PyTorch's
/// `nn.Transformer`): a `TransformerEncoder` of `numEncoderLayers` layers and a
/// `TransformerDecoder` of `numDecoderLayers`, each ending in a LayerNorm. Every parameter
/// with more than one dim is re-drawn from xavier-uniform, as PyTorch's `_reset_parameters`
/// does. State-dict keys are PyTorch's (`encoder.layers.0.self_attn.in_proj_weight`, …,
/// `decoder.norm.bias`).
///
/// ```swift
/// let model = Transformer(dModel: 64, nhead: 4, numEncoderLayers: 2, numDecoderLayers: 2, batchFirst: true)
/// let tgtMask = Transformer.generateSquareSubsequentMask(12)
/// let y = model(Tensor.randn([8, 10, 64]), Tensor.randn([8, 12, 64]), tgtMask: tgtMask)   // [8, 12, 64]
/// ```
open class Transformer: Module {
    /// The encoder stack, with its final LayerNorm.
    public let encoder: TransformerEncoder
    /// The decoder stack, with its final LayerNorm.
    public let decoder: TransformerDecoder
    /// The model width (PyTorch: `d_model`).
    public let dModel: Int
    /// Attention heads per layer (PyTorch: `nhead`).
    public let nhead: Int
    /// Whether inputs are (N, S, E) rather than (S, N, E) (PyTorch: `batch_first`).
    public let batchFirst: Bool

    /// PyTorch: `nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias)`.
    public init(dModel: Int = 512, nhead: Int = 8, numEncoderLayers: Int = 6, numDecoderLayers: Int = 6,
                dimFeedforward: Int = 2048, dropout: Double = 0.1, activation: TransformerActivation = .relu,
                layerNormEps: Double = 1e-5, batchFirst: Bool = false, normFirst: Bool = false, bias: Bool = true,
                generator: Generator = .default) {
        let encoderLayer = TransformerEncoderLayer(dModel: dModel, nhead: nhead, dimFeedforward: dimFeedforward,
                                                   dropout: dropout, activation: activation, layerNormEps: layerNormEps,
                                                   batchFirst: batchFirst, normFirst: normFirst, bias: bias,
                                                   generator: generator)
        encoder = TransformerEncoder(encoderLayer, numLayers: numEncoderLayers,
                                     norm: LayerNorm(dModel, eps: layerNormEps, bias: bias))
        let decoderLayer = TransformerDecoderLayer(dModel: dModel, nhead: nhead, dimFeedforward: dimFeedforward,
                                                   dropout: dropout, activation: activation, layerNormEps: layerNormEps,
                                                   batchFirst: batchFirst, normFirst: normFirst, bias: bias,
                                                   generator: generator)
        decoder = TransformerDecoder(decoderLayer, numLayers: numDecoderLayers,
                                     norm: LayerNorm(dModel, eps: layerNormEps, bias: bias))
        (self.dModel, self.nhead, self.batchFirst) = (dModel, nhead, batchFirst)
        super.init()
        noGrad {
            for p in parameters() where p.ndim > 1 { _ = Init.xavierUniform_(p, generator: generator) }
        }
    }

    /// Self-decoding is not meaningful: use `forward(_:_:…)` with a source and a target.
    open override func forward(_ x: Tensor) -> Tensor { forward(x, x) }

    /// Encodes `src`, then decodes `tgt` against it.
    ///
    /// - Parameters:
    ///   - src: (S, N, E), or (N, S, E) with `batchFirst`.
    ///   - tgt: (T, N, E), or (N, T, E) with `batchFirst`.
    ///   - srcMask: (S, S) mask of the encoder's self-attention.
    ///   - tgtMask: (T, T) mask of the decoder's self-attention.
    ///   - memoryMask: (T, S) mask of the cross-attention.
    ///   - srcKeyPaddingMask: (N, S), true marks padding.
    ///   - tgtKeyPaddingMask: (N, T), true marks padding.
    ///   - memoryKeyPaddingMask: (N, S), true marks padding.
    ///   - srcIsCausal: a hint that `srcMask` is the causal mask.
    ///   - tgtIsCausal: a hint that `tgtMask` is the causal mask.
    ///   - memoryIsCausal: a hint that `memoryMask` is the causal mask.
    ///
    /// PyTorch: `nn.Transformer.forward(src, tgt, src_mask, tgt_mask, memory_mask, …)`.
    open func forward(_ src: Tensor, _ tgt: Tensor, srcMask: Tensor? = nil, tgtMask: Tensor? = nil,
                      memoryMask: Tensor? = nil, srcKeyPaddingMask: Tensor? = nil, tgtKeyPaddingMask: Tensor? = nil,
                      memoryKeyPaddingMask: Tensor? = nil, srcIsCausal: Bool = false, tgtIsCausal: Bool = false,
                      memoryIsCausal: Bool = false) -> Tensor {
        check {
            let batchDim = batchFirst ? 0 : 1
            if src.ndim == 3, tgt.ndim == 3, src.shape[batchDim] != tgt.shape[batchDim] {
                throw EmberError.shapeMismatch(op: "Transformer", message:
                    "the batch number of src and tgt must be equal, got src \(src.shape) and tgt \(tgt.shape)")
            }
            if src.shape.last != dModel || tgt.shape.last != dModel {
                throw EmberError.shapeMismatch(op: "Transformer", message:
                    "the feature number of src and tgt must be equal to d_model (\(dModel)), got src \(src.shape) and tgt \(tgt.shape)")
            }
        }
        let memory = encoder.forward(src, mask: srcMask, srcKeyPaddingMask: srcKeyPaddingMask, isCausal: srcIsCausal)
        return decoder.forward(tgt, memory: memory, tgtMask: tgtMask, memoryMask: memoryMask,
                               tgtKeyPaddingMask: tgtKeyPaddingMask, memoryKeyPaddingMask: memoryKeyPaddingMask,
                               tgtIsCausal: tgtIsCausal, memoryIsCausal: memoryIsCausal)
    }

    /// Runs `forward(_:_:srcMask:tgtMask:memoryMask:srcKeyPaddingMask:tgtKeyPaddingMask:memoryKeyPaddingMask:srcIsCausal:tgtIsCausal:memoryIsCausal:)`.
    public func callAsFunction(_ src: Tensor, _ tgt: Tensor, srcMask: Tensor? = nil, tgtMask: Tensor? = nil,
                               memoryMask: Tensor? = nil, srcKeyPaddingMask: Tensor? = nil,
                               tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil,
                               srcIsCausal: Bool = false, tgtIsCausal: Bool = false, memoryIsCausal: Bool = false) -> Tensor {
        forward(src, tgt, srcMask: srcMask, tgtMask: tgtMask, memoryMask: memoryMask, srcKeyPaddingMask: srcKeyPaddingMask,
                tgtKeyPaddingMask: tgtKeyPaddingMask, memoryKeyPaddingMask: memoryKeyPaddingMask,
                srcIsCausal: srcIsCausal, tgtIsCausal: tgtIsCausal, memoryIsCausal: memoryIsCausal)
    }

    /// The causal mask for a sequence of `size` (PyTorch's
    /// `Transformer.generate_square_subsequent_mask`): a float (size, size) tensor, 0 on and
    /// below the diagonal and −inf above it, to pass as `attnMask`/`tgtMask`.
    public static func generateSquareSubsequentMask(_ size: Int) -> Tensor {
        precondition(size >= 0, "generate_square_subsequent_mask: size must be non-negative, got \(size)")
        let mask = Tensor.zeros([size, size])
        let p = mask.f32
        for i in 0..<size {
            for j in (i + 1)..<max(size, i + 1) { p[i * size + j] = -Float.infinity }
        }
        return mask
    }
}
