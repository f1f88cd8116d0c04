/// Recurrent layers (PyTorch's `nn.RNN`, `nn.LSTM`, `nn.GRU`): stacked, optionally
/// bidirectional, with PyTorch's parameter names (`weight_ih_l0`, `bias_hh_l1_reverse`, …) and
/// gate orders, so their state dicts load each other's. Composed of differentiable ops: each
/// layer multiplies all time steps' inputs by W_ih at once, then steps through time with W_hh.

func checkRecurrentInput(_ layer: RecurrentLayer, _ x: Tensor) throws {
    guard (x.ndim == 2 || x.ndim == 3), x.shape[x.ndim - 1] == layer.inputSize else {
        let n = layer.inputSize
        throw EmberError.shapeMismatch(op: layer.typeName, message:
            "expected input of shape \(layer.batchFirst ? "(N, L, \(n))" : "(L, N, \(n))"), or (L, \(n)) unbatched, got \(x.shape)")
    }
}

/// What a recurrent layer computes per step.
public enum RecurrentCell: Sendable {
    /// h' = tanh or relu(W_ih·x + b_ih + W_hh·h + b_hh).
    case rnnTanh, rnnRelu
    /// Gates i, f, g, o (in PyTorch's order): c' = f·c + i·g, h' = o·tanh(c').
    case lstm
    /// Gates r, z, n: n = tanh(W_in·x + b_in + r·(W_hn·h + b_hn)), h' = (1 − z)·n + z·h.
    case gru

    var gates: Int {
        switch self {
        case .rnnTanh, .rnnRelu: return 1
        case .lstm: return 4
        case .gru: return 3
        }
    }

    /// One time step from the input's projection `gx` (N, gates·hidden): the new h (and c).
    /// The layers and the cells (RecurrentCells.swift) both step through here.
    func step(_ gx: Tensor, _ h: Tensor, _ c: Tensor?, _ wHh: Tensor, _ bHh: Tensor?) -> (h: Tensor, c: Tensor?) {
        let gh = linear(h, wHh, bHh)
        switch self {
        case .rnnTanh: return ((gx + gh).tanh(), nil)
        case .rnnRelu: return ((gx + gh).relu(), nil)
        case .lstm:
            let g = (gx + gh).chunk(4, dim: -1)
            let newC = g[1].sigmoid() * c! + g[0].sigmoid() * g[2].tanh()
            return (g[3].sigmoid() * newC.tanh(), newC)
        case .gru:
            let i = gx.chunk(3, dim: -1), hh = gh.chunk(3, dim: -1)
            let r = (i[0] + hh[0]).sigmoid(), z = (i[1] + hh[1]).sigmoid()
            let n = (i[2] + r * hh[2]).tanh()
            return ((1 - z) * n + z * h, nil)
        }
    }
}

/// The common part of `RNN`, `LSTM` and `GRU` (PyTorch's `RNNBase`).
open class RecurrentLayer: Module {
    /// The per-step computation.
    public let cell: RecurrentCell
    /// Features of each input step.
    public let inputSize: Int
    /// Features of the hidden state.
    public let hiddenSize: Int
    /// Stacked layers, each reading the one below.
    public let numLayers: Int
    /// Whether the layers have the b_ih and b_hh biases.
    public let bias: Bool
    /// Input and output as (N, L, features) instead of (L, N, features).
    public let batchFirst: Bool
    /// Dropout on the outputs of every layer but the last, in training.
    public let dropout: Double
    /// Whether each layer also runs from the last step to the first (outputs concatenated).
    public let bidirectional: Bool
    /// The parameters by their PyTorch names, in PyTorch's order (layer, then direction).
    public private(set) var flatWeights: [(name: String, tensor: Tensor)] = []

    /// PyTorch: `RNNBase(mode, input_size, hidden_size, num_layers, bias, batch_first,
    /// dropout, bidirectional)`. Every weight and bias is U(−1/√hidden, 1/√hidden).
    public init(_ cell: RecurrentCell, inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true,
                batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false,
                generator: Generator = .default) {
        precondition(inputSize > 0 && hiddenSize > 0 && numLayers > 0,
                     "\(cell): inputSize, hiddenSize and numLayers must be positive")
        precondition(dropout >= 0 && dropout <= 1, "\(cell): dropout must be in [0, 1], got \(dropout)")
        (self.cell, self.inputSize, self.hiddenSize, self.numLayers) = (cell, inputSize, hiddenSize, numLayers)
        (self.bias, self.batchFirst, self.dropout, self.bidirectional) = (bias, batchFirst, dropout, bidirectional)
        super.init()
        let bound = 1 / Double(hiddenSize).squareRoot(), gate = cell.gates * hiddenSize
        func uniform(_ shape: [Int]) -> Tensor {
            Tensor.rand(shape, low: Float(-bound), high: Float(bound), generator: generator).requiringGrad()
        }
        for layer in 0..<numLayers {
            let inSize = layer == 0 ? inputSize : hiddenSize * directions
            for direction in 0..<directions {
                let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
                flatWeights += [("weight_ih" + suffix, uniform([gate, inSize])), ("weight_hh" + suffix, uniform([gate, hiddenSize]))]
                if bias { flatWeights += [("bias_ih" + suffix, uniform([gate])), ("bias_hh" + suffix, uniform([gate]))] }
            }
        }
    }

    var directions: Int { bidirectional ? 2 : 1 }

    /// The parameters under PyTorch's names (they are not stored properties of their own).
    open override func namedDirectParameters() -> [(name: String, tensor: Tensor)] { flatWeights }

    /// The output of every step of the last layer (both directions, concatenated).
    open override func forward(_ x: Tensor) -> Tensor { run(x, hx: nil, cx: nil).output }

    /// Runs the layers over `x`, (L, N, inputSize) ((N, L, inputSize) with `batchFirst`, or
    /// (L, inputSize) unbatched), from the hidden state `hx` (and for LSTM the cell state `cx`),
    /// each (numLayers·directions, N, hiddenSize), zeros when nil. Returns every step's output
    /// of the last layer and the final states of every layer and direction.
    func run(_ x: Tensor, hx: Tensor?, cx: Tensor?) -> (output: Tensor, h: Tensor, c: Tensor?) {
        check { try checkRecurrentInput(self, x) }
        let unbatched = x.ndim == 2
        var seq = unbatched ? x.unsqueezed(1) : (batchFirst ? x.transposed(0, 1) : x)   // (L, N, features)
        let (steps, batch) = (seq.shape[0], seq.shape[1])
        let stateShape = [numLayers * directions, batch, hiddenSize]
        func state(_ t: Tensor?, _ name: String) -> Tensor {
            guard let t else { return Tensor.zeros(stateShape) }
            let s = unbatched ? t.unsqueezed(1) : t
            check {
                guard s.shape == stateShape else {
                    throw EmberError.shapeMismatch(op: typeName, message:
                        "expected \(name) of shape \(unbatched ? [stateShape[0], hiddenSize] : stateShape), got \(t.shape)")
                }
            }
            return s
        }
        let h0 = state(hx, "hidden state"), c0 = cell == .lstm ? state(cx, "cell state") : nil
        var finalH: [Tensor] = [], finalC: [Tensor] = []
        var weights = flatWeights.makeIterator()
        for layer in 0..<numLayers {
            var outputs: [Tensor] = []
            for direction in 0..<directions {
                let wIh = weights.next()!.tensor, wHh = weights.next()!.tensor
                let bIh = bias ? weights.next()!.tensor : nil, bHh = bias ? weights.next()!.tensor : nil
                let index = layer * directions + direction
                // All steps' input projections in one product: (L·N, in) → (L, N, gate).
                let projected = linear(seq.reshaped([steps * batch, seq.shape[2]]), wIh, bIh)
                    .reshaped([steps, batch, cell.gates * hiddenSize])
                var h = h0.select(dim: 0, index: index), c = c0?.select(dim: 0, index: index)
                var hs = [Tensor](repeating: h, count: steps)
                for t in direction == 0 ? Array(0..<steps) : Array((0..<steps).reversed()) {
                    (h, c) = cell.step(projected.select(dim: 0, index: t), h, c, wHh, bHh)
                    hs[t] = h
                }
                outputs.append(Tensor.stack(hs, dim: 0))
                finalH.append(h)
                if let c { finalC.append(c) }
            }
            seq = directions == 1 ? outputs[0] : Tensor.cat(outputs, dim: 2)
            if dropout > 0 && isTraining && layer < numLayers - 1 { seq = seq.dropout(p: dropout) }
        }
        var output = batchFirst && !unbatched ? seq.transposed(0, 1) : seq
        var h = Tensor.stack(finalH, dim: 0), c = cell == .lstm ? Tensor.stack(finalC, dim: 0) : nil
        if unbatched {
            output = output.squeezed(1)
            h = h.squeezed(1)
            c = c?.squeezed(1)
        }
        return (output, h, c)
    }

    /// The text inside the layer's parentheses when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        var s = "\(inputSize), \(hiddenSize)"
        if numLayers != 1 { s += ", num_layers=\(numLayers)" }
        if !bias { s += ", bias=False" }
        if batchFirst { s += ", batch_first=True" }
        if dropout != 0 { s += ", dropout=\(Module.pythonFloat(dropout))" }
        if bidirectional { s += ", bidirectional=True" }
        return s
    }
}

/// Elman RNN layers, tanh or relu (PyTorch's `nn.RNN`).
open class RNN: RecurrentLayer {
    /// The nonlinearity of an `RNN`.
    public enum Nonlinearity: Sendable { case tanh, relu }

    /// PyTorch: `nn.RNN(input_size, hidden_size, num_layers, nonlinearity, bias, batch_first,
    /// dropout, bidirectional)`.
    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, nonlinearity: Nonlinearity = .tanh,
                bias: Bool = true, batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false,
                generator: Generator = .default) {
        super.init(nonlinearity == .tanh ? .rnnTanh : .rnnRelu, inputSize: inputSize, hiddenSize: hiddenSize,
                   numLayers: numLayers, bias: bias, batchFirst: batchFirst, dropout: dropout,
                   bidirectional: bidirectional, generator: generator)
    }

    /// Every step's output of the last layer, and the final hidden state of every layer and
    /// direction (PyTorch's `output, h_n = rnn(input, h_0)`). `rnn(x)` alone is the output only
    /// (a layer's single-tensor call, as in `Sequential`); `rnn(x, nil)` starts from zeros.
    public func callAsFunction(_ input: Tensor, _ h0: Tensor? = nil) -> (output: Tensor, h: Tensor) {
        let r = run(input, hx: h0, cx: nil)
        return (r.output, r.h)
    }
}

/// Long short-term memory layers (PyTorch's `nn.LSTM`).
open class LSTM: RecurrentLayer {
    /// PyTorch: `nn.LSTM(input_size, hidden_size, num_layers, bias, batch_first, dropout,
    /// bidirectional)`.
    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, generator: Generator = .default) {
        super.init(.lstm, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }

    /// Every step's output of the last layer, and the final hidden and cell states of every
    /// layer and direction (PyTorch's `output, (h_n, c_n) = lstm(input, (h_0, c_0))`).
    /// `lstm(x)` alone is the output only (a layer's single-tensor call, as in `Sequential`);
    /// `lstm(x, nil)` starts from zeros.
    public func callAsFunction(_ input: Tensor, _ state: (h: Tensor, c: Tensor)? = nil)
        -> (output: Tensor, state: (h: Tensor, c: Tensor)) {
        let r = run(input, hx: state?.h, cx: state?.c)
        return (r.output, (r.h, r.c!))
    }
}

/// Gated recurrent unit layers (PyTorch's `nn.GRU`).
open class GRU: RecurrentLayer {
    /// PyTorch: `nn.GRU(input_size, hidden_size, num_layers, bias, batch_first, dropout,
    /// bidirectional)`.
    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, generator: Generator = .default) {
        super.init(.gru, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }

    /// Every step's output of the last layer, and the final hidden state of every layer and
    /// direction (PyTorch's `output, h_n = gru(input, h_0)`). `gru(x)` alone is the output only
    /// (a layer's single-tensor call, as in `Sequential`); `gru(x, nil)` starts from zeros.
    public func callAsFunction(_ input: Tensor, _ h0: Tensor? = nil) -> (output: Tensor, h: Tensor) {
        let r = run(input, hx: h0, cx: nil)
        return (r.output, r.h)
    }
}
