import Ember

/// A GPT in nanoGPT's shape (karpathy/nanoGPT `model.py`): token and learned position
/// embeddings, `nLayer` pre-norm blocks of causal self-attention and a GELU MLP with
/// residuals, a final LayerNorm and a linear head, tied to the token embedding or not.
///
/// State-dict keys follow nanoGPT's module names (`wte.weight`, `wpe.weight`,
/// `h.0.ln_1.weight`, `h.0.attn.c_attn.weight`, `h.0.mlp.c_fc.weight`, `ln_f.weight`,
/// `lm_head.weight`; nanoGPT nests the first ones under `transformer.`), so
/// bench/pytorch_gpt.py loads Ember's weights as they are. Initialisation is nanoGPT's:
/// N(0, 0.02) for linear and embedding weights, zero biases, and the residual projections
/// (`c_proj`) scaled by 1/√(2·nLayer).
///
/// ```swift
/// let model = GPT(.init(vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128))
/// let logits = model(tokens)                           // (B, T) int64 → (B, T, vocab)
/// let loss = crossEntropy(logits.flattened(endDim: 1), targets.flattened())
/// ```
public final class GPT: Module {
    public struct Config: Sendable, Equatable {
        public var vocabSize: Int
        public var blockSize: Int
        public var nLayer: Int
        public var nHead: Int
        public var nEmbd: Int
        public var dropout: Double
        public var bias: Bool
        public var tiedHead: Bool

        public init(vocabSize: Int, blockSize: Int, nLayer: Int = 4, nHead: Int = 4, nEmbd: Int = 128,
                    dropout: Double = 0, bias: Bool = true, tiedHead: Bool = true) {
            self.vocabSize = vocabSize
            self.blockSize = blockSize
            self.nLayer = nLayer
            self.nHead = nHead
            self.nEmbd = nEmbd
            self.dropout = dropout
            self.bias = bias
            self.tiedHead = tiedHead
        }
    }

    public let config: Config
    let wte: Embedding
    let wpe: Embedding
    let drop: Dropout
    let h: ModuleList<GPTBlock>
    let lnF: LayerNorm
    let lmHead: Linear

    public init(_ config: Config, generator: Generator = .default) {
        precondition(config.nEmbd % config.nHead == 0,
                     "GPT: nEmbd (\(config.nEmbd)) must be a multiple of nHead (\(config.nHead))")
        self.config = config
        wte = Embedding(config.vocabSize, config.nEmbd)
        wpe = Embedding(config.blockSize, config.nEmbd)
        drop = Dropout(p: config.dropout)
        h = ModuleList((0..<config.nLayer).map { _ in GPTBlock(config) })
        lnF = LayerNorm([config.nEmbd], bias: config.bias)
        lmHead = Linear(config.nEmbd, config.vocabSize, bias: false)
        super.init()
        noGrad {
            for (name, p) in namedParameters() {
                if name.hasSuffix("bias") {
                    Init.zeros_(p)
                } else if p.ndim == 2 {
                    let std = name.hasSuffix("cProj.weight") ? 0.02 / (2 * Double(config.nLayer)).squareRoot() : 0.02
                    Init.normal_(p, mean: 0, std: std, generator: generator)
                }
            }
        }
        if config.tiedHead { lmHead.weight = wte.weight }
    }

    public override func stateDictName(for propertyName: String) -> String {
        switch propertyName {
        case "lnF": "ln_f"
        default: Module.snakeCased(propertyName)
        }
    }

    /// Logits (B, T, vocabSize) for int64 token ids (B, T), T ≤ blockSize.
    public override func forward(_ idx: Tensor) -> Tensor {
        precondition(idx.ndim == 2, "GPT: expected token ids of shape (B, T), got \(idx.shape)")
        let t = idx.shape[1]
        precondition(t <= config.blockSize, "GPT: sequence of length \(t) is longer than the block size \(config.blockSize)")
        let pos = Tensor.arange(0, t)
        var x = drop(wte(idx) + wpe(pos))
        for block in h { x = block(x) }
        return lmHead(lnF(x))
    }

    /// The number of parameters, without the position embedding (nanoGPT's count) when asked.
    public func parameterCount(nonEmbedding: Bool = true) -> Int {
        let n = parameters().reduce(0) { $0 + $1.count }
        return nonEmbedding ? n - wpe.weight.count : n
    }
}

/// One pre-norm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
public final class GPTBlock: Module {
    let ln1: LayerNorm
    let attn: CausalSelfAttention
    let ln2: LayerNorm
    let mlp: GPTMLP

    init(_ config: GPT.Config) {
        ln1 = LayerNorm([config.nEmbd], bias: config.bias)
        attn = CausalSelfAttention(config)
        ln2 = LayerNorm([config.nEmbd], bias: config.bias)
        mlp = GPTMLP(config)
        super.init()
    }

    public override func stateDictName(for propertyName: String) -> String {
        switch propertyName {
        case "ln1": "ln_1"
        case "ln2": "ln_2"
        default: Module.snakeCased(propertyName)
        }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let x = x + attn(ln1(x))
        return x + mlp(ln2(x))
    }
}

/// Multi-head causal self-attention with one fused q/k/v projection (`c_attn`), Ember's fused
/// attention kernel, and an output projection (`c_proj`).
public final class CausalSelfAttention: Module {
    let cAttn: Linear
    let cProj: Linear
    let residDropout: Dropout
    let nHead: Int
    let attnDropout: Double

    init(_ config: GPT.Config) {
        cAttn = Linear(config.nEmbd, 3 * config.nEmbd, bias: config.bias)
        cProj = Linear(config.nEmbd, config.nEmbd, bias: config.bias)
        residDropout = Dropout(p: config.dropout)
        nHead = config.nHead
        attnDropout = config.dropout
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
        let qkv = cAttn(x).split(c, dim: 2)
        // (B, T, C) → (B, nh, T, hs): views the attention kernel reads in place. Its output is laid
        // out (B, T, nh, hs), so the transpose and reshape back are views too.
        func heads(_ y: Tensor) -> Tensor { y.reshaped([b, t, nHead, c / nHead]).transposed(1, 2) }
        let y = scaledDotProductAttention(query: heads(qkv[0]), key: heads(qkv[1]), value: heads(qkv[2]),
                                          dropoutP: isTraining ? attnDropout : 0, isCausal: true)
        return residDropout(cProj(y.transposed(1, 2).reshaped([b, t, c])))
    }
}

/// The block's MLP: Linear(C, 4C), exact GELU, Linear(4C, C).
public final class GPTMLP: Module {
    let cFc: Linear
    let cProj: Linear
    let dropout: Dropout

    init(_ config: GPT.Config) {
        cFc = Linear(config.nEmbd, 4 * config.nEmbd, bias: config.bias)
        cProj = Linear(4 * config.nEmbd, config.nEmbd, bias: config.bias)
        dropout = Dropout(p: config.dropout)
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor { dropout(cProj(cFc(x).gelu())) }
}
