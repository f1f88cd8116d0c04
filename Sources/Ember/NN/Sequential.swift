/// Runs modules one after another, each on the previous one's output (PyTorch's
/// `nn.Sequential`). Children are named `0`, `1`, … in prints and state dicts
/// (`linear_relu_stack.0.weight`), and can be read by index.
///
/// ```swift
/// let stack = Sequential(Linear(784, 512), ReLU(), Linear(512, 10))
/// let logits = stack(x)
/// let first = stack[0] as! Linear
/// ```
open class Sequential: Module, RandomAccessCollection {
    /// The layers in order.
    public private(set) var layers: [Module]

    /// The given layers, run in order (PyTorch: `nn.Sequential(*layers)`).
    public init(_ layers: [Module]) {
        self.layers = layers
        super.init()
    }

    /// `Sequential(Linear(784, 512), ReLU(), Linear(512, 10))`.
    public convenience init(_ layers: Module...) { self.init(layers) }

    /// Adds a layer at the end.
    ///
    /// PyTorch: `Sequential.append(module)`.
    public func append(_ layer: Module) { layers.append(layer) }

    /// Each layer on the previous one's output.
    open override func forward(_ x: Tensor) -> Tensor {
        var y = x
        var i = 0
        while i < layers.count {
            // A plain Linear followed by a plain ReLU runs as one op, the relu applied to each
            // block of the GEMM output by the thread that wrote it (`linearReLU`): the same
            // values and gradients. Subclasses may override forward, so only the exact types.
            if i + 1 < layers.count, let fc = layers[i] as? Linear, type(of: fc) == Linear.self,
               type(of: layers[i + 1]) == ReLU.self {
                y = linearReLU(y, fc.weight, fc.bias)
                i += 2
            } else {
                y = layers[i](y)
                i += 1
            }
        }
        return y
    }

    /// The layers, named `0`, `1`, … by position.
    open override func namedChildren() -> [(name: String, module: Module)] {
        layers.enumerated().map { (String($0.offset), $0.element) }
    }

    // MARK: RandomAccessCollection
    /// 0.
    public var startIndex: Int { 0 }
    /// The number of layers.
    public var endIndex: Int { layers.count }
    /// The layer at `index` (PyTorch: `seq[i]`).
    public subscript(index: Int) -> Module { layers[index] }
}
