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

    public init(_ layers: [Module]) {
        self.layers = layers
        super.init()
    }

    public convenience init(_ layers: Module...) { self.init(layers) }

    /// Adds a layer at the end.
    public func append(_ layer: Module) { layers.append(layer) }

    open override func forward(_ x: Tensor) -> Tensor {
        var y = x
        for layer in layers { y = layer(y) }
        return y
    }

    open override func namedChildren() -> [(name: String, module: Module)] {
        layers.enumerated().map { (String($0.offset), $0.element) }
    }

    // MARK: RandomAccessCollection
    public var startIndex: Int { 0 }
    public var endIndex: Int { layers.count }
    public subscript(index: Int) -> Module { layers[index] }
}
