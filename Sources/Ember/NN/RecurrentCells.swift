/// One recurrent step as a layer (PyTorch's `nn.RNNCell`, `nn.LSTMCell`, `nn.GRUCell`), for
/// loops a model writes itself (decoders that feed back their output, attention over the
/// steps). Parameters are PyTorch's (`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`), with its
/// gate orders and U(−1/√hidden, 1/√hidden) initialisation; the step is the layers' own
/// (`RecurrentCell.step`), so a cell run over a sequence gives an `RNN`/`LSTM`/`GRU` layer's
/// bits when they share weights.
open class RecurrentCellLayer: Module {
    /// What the cell computes.
    public let cell: RecurrentCell
    /// Features of the input.
    public let inputSize: Int
    /// Features of the hidden state.
    public let hiddenSize: Int
    /// (gates·hiddenSize, inputSize): PyTorch's `weight_ih`.
    public var weightIh: Tensor
    /// (gates·hiddenSize, hiddenSize): PyTorch's `weight_hh`.
    public var weightHh: Tensor
    /// (gates·hiddenSize), or nil when built with `bias: false`.
    public var biasIh: Tensor?
    /// (gates·hiddenSize), or nil when built with `bias: false`.
    public var biasHh: Tensor?

    /// PyTorch: `RNNCellBase(input_size, hidden_size, bias, num_chunks)`.
    public init(_ cell: RecurrentCell, inputSize: Int, hiddenSize: Int, bias: Bool = true,
                generator: Generator = .default) {
        precondition(inputSize > 0 && hiddenSize > 0, "\(cell) cell: inputSize and hiddenSize must be positive")
        (self.cell, self.inputSize, self.hiddenSize) = (cell, inputSize, hiddenSize)
        let bound = Float(1 / Double(hiddenSize).squareRoot()), gate = cell.gates * hiddenSize
        func uniform(_ shape: [Int]) -> Tensor {
            Tensor.rand(shape, low: -bound, high: bound, generator: generator).requiringGrad()
        }
        weightIh = uniform([gate, inputSize])
        weightHh = uniform([gate, hiddenSize])
        biasIh = bias ? uniform([gate]) : nil
        biasHh = bias ? uniform([gate]) : nil
        super.init()
    }

    /// Throws unless `input` is (N, inputSize) or (inputSize) and each given state is
    /// (N, hiddenSize) or (hiddenSize) to match.
    func validate(_ input: Tensor, _ hx: Tensor?, _ cx: Tensor?) throws {
        guard input.ndim == 1 || input.ndim == 2 else {
            throw EmberError.shapeMismatch(op: typeName, message: "expected input to be 1D or 2D, got \(input.ndim)D instead")
        }
        guard input.shape[input.ndim - 1] == inputSize else {
            throw EmberError.shapeMismatch(op: typeName, message:
                "input has inconsistent input_size: got \(input.shape[input.ndim - 1]), expected \(inputSize)")
        }
        let stateShape = Array(input.shape.dropLast()) + [hiddenSize]
        for (name, t) in [("hidden state", hx), ("cell state", cx)] {
            if let t, t.shape != stateShape {
                throw EmberError.shapeMismatch(op: typeName, message:
                    "expected \(name) of shape \(stateShape) for input of shape \(input.shape), got \(t.shape)")
            }
        }
    }

    /// One step from `input`, (N, inputSize) or (inputSize) unbatched, and the states (each
    /// (N, hiddenSize) or (hiddenSize); zeros when nil).
    func step(_ input: Tensor, _ hx: Tensor?, _ cx: Tensor?) -> (h: Tensor, c: Tensor?) {
        check { try validate(input, hx, cx) }
        let zeros = { Tensor.zeros(Array(input.shape.dropLast()) + [self.hiddenSize]) }
        let c = cell == .lstm ? cx ?? zeros() : nil
        return cell.step(linear(input, weightIh, biasIh), hx ?? zeros(), c, weightHh, biasHh)
    }

    /// The new hidden state from zeros (a layer's single-tensor call, as in `Sequential`).
    open override func forward(_ x: Tensor) -> Tensor { step(x, nil, nil).h }

    /// The text inside the cell's parentheses when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        var s = "\(inputSize), \(hiddenSize)"
        if biasIh == nil { s += ", bias=False" }
        if cell == .rnnRelu { s += ", nonlinearity=relu" }
        return s
    }
}

/// An Elman RNN step, tanh or relu (PyTorch's `nn.RNNCell`): h' = tanh(W_ih·x + b_ih + W_hh·h + b_hh).
open class RNNCell: RecurrentCellLayer {
    /// PyTorch: `nn.RNNCell(input_size, hidden_size, bias, nonlinearity)`.
    public init(_ inputSize: Int, _ hiddenSize: Int, bias: Bool = true, nonlinearity: RNN.Nonlinearity = .tanh,
                generator: Generator = .default) {
        super.init(nonlinearity == .tanh ? .rnnTanh : .rnnRelu, inputSize: inputSize, hiddenSize: hiddenSize,
                   bias: bias, generator: generator)
    }

    /// The next hidden state from `input` and `hx` (zeros when nil): PyTorch's `h' = cell(input, hx)`.
    public func callAsFunction(_ input: Tensor, _ hx: Tensor?) -> Tensor { step(input, hx, nil).h }
}

/// An LSTM step (PyTorch's `nn.LSTMCell`): gates i, f, g, o; c' = f·c + i·g, h' = o·tanh(c').
open class LSTMCell: RecurrentCellLayer {
    /// PyTorch: `nn.LSTMCell(input_size, hidden_size, bias)`.
    public init(_ inputSize: Int, _ hiddenSize: Int, bias: Bool = true, generator: Generator = .default) {
        super.init(.lstm, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, generator: generator)
    }

    /// The next hidden and cell states from `input` and `state` (zeros when nil): PyTorch's
    /// `h', c' = cell(input, (h, c))`. `cell(x)` alone is h' from zeros.
    public func callAsFunction(_ input: Tensor, _ state: (h: Tensor, c: Tensor)?) -> (h: Tensor, c: Tensor) {
        let r = step(input, state?.h, state?.c)
        return (r.h, r.c!)
    }
}

/// A GRU step (PyTorch's `nn.GRUCell`): gates r, z, n; h' = (1 − z)·n + z·h.
open class GRUCell: RecurrentCellLayer {
    /// PyTorch: `nn.GRUCell(input_size, hidden_size, bias)`.
    public init(_ inputSize: Int, _ hiddenSize: Int, bias: Bool = true, generator: Generator = .default) {
        super.init(.gru, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, generator: generator)
    }

    /// The next hidden state from `input` and `hx` (zeros when nil): PyTorch's `h' = cell(input, hx)`.
    public func callAsFunction(_ input: Tensor, _ hx: Tensor?) -> Tensor { step(input, hx, nil).h }
}
