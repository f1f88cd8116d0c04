import Ember
import Foundation

extension GPT {
    /// AdamW over nanoGPT's two parameter groups: weight decay on the matrices and embeddings,
    /// none on the biases and LayerNorm gains; betas (0.9, 0.99) as the `gpt` example trains.
    ///
    /// ```swift
    /// let optimizer = model.nanoGPTAdamW(lr: 1e-3, weightDecay: 0.1)
    /// ```
    public func nanoGPTAdamW(lr: Double, weightDecay: Double) -> AdamW {
        let named = namedParameters()
        return AdamW([ParamGroup(named.filter { $0.tensor.ndim >= 2 }.map(\.tensor), weightDecay: weightDecay),
                      ParamGroup(named.filter { $0.tensor.ndim < 2 }.map(\.tensor), weightDecay: 0)],
                     lr: lr, betas: (0.9, 0.99))
    }
}

/// A few training steps of a GPT written down so that PyTorch can replay them from the same
/// start: the model's configuration, its seed, the batches of token ids, the optimizer's
/// settings and the loss of each step. `gpt --record-steps DIR` writes one (steps.json, beside
/// the initial weights in init.safetensors); bench/gpt_from_ember.py loads both into
/// bench/pytorch_gpt.py's model, runs the same steps and compares the losses.
///
/// JSON keys are snake_case (`weight_decay`, `grad_clip`, `pytorch_losses`); the config's
/// names are scripts/make_gpt_fixture.py's (`vocab`, `block`, `layers`, `nh`, `c`).
///
/// ```swift
/// let model = GPT(config)
/// let losses = GPTStepRecord.train(model, on: batches, lr: 1e-3, weightDecay: 0.1, gradClip: 1)
/// ```
public struct GPTStepRecord: Codable, Sendable, Equatable {
    /// The model's shape, in bench/pytorch_gpt.py's argument names.
    public struct Config: Codable, Sendable, Equatable {
        /// Vocabulary size.
        public var vocab: Int
        /// Block size (context length).
        public var block: Int
        /// Transformer blocks.
        public var layers: Int
        /// Attention heads.
        public var nh: Int
        /// Embedding width.
        public var c: Int
        /// Whether the linear layers and LayerNorms have biases.
        public var bias: Bool
        /// Whether the head is the token embedding's tensor.
        public var tied: Bool

        /// The record's config of a GPT's.
        public init(_ config: GPT.Config) {
            (vocab, block, layers, nh, c) = (config.vocabSize, config.blockSize, config.nLayer, config.nHead, config.nEmbd)
            (bias, tied) = (config.bias, config.tiedHead)
        }

        /// The GPT configuration it describes (no dropout: a replay must be deterministic).
        public var gptConfig: GPT.Config {
            GPT.Config(vocabSize: vocab, blockSize: block, nLayer: layers, nHead: nh, nEmbd: c, dropout: 0, bias: bias,
                       tiedHead: tied)
        }
    }

    /// One batch of token ids, (batch, block) each, flattened row-major.
    public struct Batch: Codable, Sendable, Equatable {
        /// Inputs.
        public var x: [Int]
        /// Targets (the inputs shifted by one character).
        public var y: [Int]

        /// A batch of inputs and targets.
        public init(x: [Int], y: [Int]) { (self.x, self.y) = (x, y) }
    }

    /// The model's shape.
    public var config: Config
    /// The seed of the default generator when the model was built (its initial weights).
    public var seed: UInt64
    /// Sequences per batch.
    public var batch: Int
    /// AdamW's learning rate (constant over the steps).
    public var lr: Double
    /// AdamW's weight decay on the matrices and embeddings (`GPT.nanoGPTAdamW`).
    public var weightDecay: Double
    /// The global 2-norm the gradients are clipped to before each step (0: none).
    public var gradClip: Double
    /// The batches, one per step.
    public var batches: [Batch]
    /// Ember's loss at each step (before that step's update).
    public var losses: [Double]
    /// PyTorch's losses for the same steps, when bench/gpt_from_ember.py --store has added them.
    public var pytorchLosses: [Double]?

    /// A record of the steps `losses` came from.
    public init(config: Config, seed: UInt64, batch: Int, lr: Double, weightDecay: Double, gradClip: Double,
                batches: [Batch], losses: [Double], pytorchLosses: [Double]? = nil) {
        (self.config, self.seed, self.batch, self.lr) = (config, seed, batch, lr)
        (self.weightDecay, self.gradClip, self.batches, self.losses, self.pytorchLosses) =
            (weightDecay, gradClip, batches, losses, pytorchLosses)
    }

    /// The batches as (x, y) tensors of shape (batch, block).
    public var tensors: [(x: Tensor, y: Tensor)] {
        batches.map { (Tensor($0.x, shape: [batch, config.block]), Tensor($0.y, shape: [batch, config.block])) }
    }

    /// Trains `model` one step per batch (cross-entropy, backward, clipping at `gradClip`
    /// when > 0, `nanoGPTAdamW` at a constant `lr`) and returns each step's loss, as
    /// bench/pytorch_gpt.py's `train_step` does.
    public static func train(_ model: GPT, on batches: [(x: Tensor, y: Tensor)], lr: Double, weightDecay: Double,
                             gradClip: Double) -> [Double] {
        let optimizer = model.nanoGPTAdamW(lr: lr, weightDecay: weightDecay)
        let parameters = model.parameters()
        return batches.map { x, y in
            let loss = crossEntropy(model(x).flattened(endDim: 1), y.flattened())
            optimizer.zeroGrad()
            loss.backward()
            if gradClip > 0 { clipGradNorm_(parameters, maxNorm: gradClip) }
            optimizer.step()
            return loss.item()
        }
    }

    /// The record as JSON (sorted keys, snake_case).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    /// A record read from JSON written by `encoded()` (or by bench/gpt_from_ember.py --store).
    public static func decoded(from data: Data) throws -> GPTStepRecord {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(GPTStepRecord.self, from: data)
    }
}
