import Ember

/// pytorch/examples' MNIST network (`mnist/main.py`'s `Net`), with PyTorch's state-dict keys
/// (`conv1.weight`, …, `fc2.bias`): two 3×3 convolutions, a 2×2 max pool, dropout, and two
/// linear layers, for 1×28×28 images. With `batchNorm`, a BatchNorm2d follows each
/// convolution (`bn1`, `bn2`).
public final class MNISTConvNet: Module {
    let conv1 = Conv2d(1, 32, kernelSize: 3)
    let bn1: BatchNorm2d?
    let conv2 = Conv2d(32, 64, kernelSize: 3)
    let bn2: BatchNorm2d?
    let dropout1 = Dropout(p: 0.25)
    let dropout2 = Dropout(p: 0.5)
    let fc1 = Linear(9216, 128)
    let fc2 = Linear(128, 10)

    public init(batchNorm: Bool = false) {
        bn1 = batchNorm ? BatchNorm2d(32) : nil
        bn2 = batchNorm ? BatchNorm2d(64) : nil
        super.init()
    }

    /// Logits (N, 10) for images (N, 1, 28, 28).
    public override func forward(_ x: Tensor) -> Tensor {
        var x = conv1(x)
        if let bn1 { x = bn1(x) }
        x = conv2(x.relu())
        if let bn2 { x = bn2(x) }
        x = dropout1(x.relu().maxPool2d(kernelSize: 2))
        x = fc1(x.flattened(startDim: 1)).relu()
        return fc2(dropout2(x))
    }
}
