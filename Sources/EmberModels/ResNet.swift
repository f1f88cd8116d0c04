import Ember

/// torchvision's ResNet-18 (`torchvision.models.resnet18`), with its state-dict keys, shapes
/// and order (`conv1.weight`, `bn1.running_mean`, `layer1.0.conv1.weight`, …, `fc.bias`) and
/// its initialisation (kaiming-normal fan-out convolutions, BatchNorm γ = 1 and β = 0).
///
/// `stem: .cifar` is the usual variant for 32×32 inputs: a 3×3 stride-1 first convolution
/// and no max pool (the keys stay the same; `conv1.weight` is 64×3×3×3). `width` scales every
/// stage (64 gives torchvision's network; smaller widths make small test models).
public final class ResNet18: Module {
    public enum Stem: Sendable { case imagenet, cifar }

    let conv1: Conv2d
    let bn1: BatchNorm2d
    let maxpool: MaxPool2d?
    let layer1: Sequential, layer2: Sequential, layer3: Sequential, layer4: Sequential
    let avgpool = AdaptiveAvgPool2d(outputSize: 1)
    let fc: Linear

    public init(numClasses: Int = 1000, stem: Stem = .imagenet, width: Int = 64) {
        switch stem {
        case .imagenet:
            conv1 = Conv2d(3, width, kernelSize: 7, stride: 2, padding: 3, bias: false)
            maxpool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
        case .cifar:
            conv1 = Conv2d(3, width, kernelSize: 3, stride: 1, padding: 1, bias: false)
            maxpool = nil
        }
        bn1 = BatchNorm2d(width)
        layer1 = Sequential(BasicBlock(width, width), BasicBlock(width, width))
        layer2 = Sequential(BasicBlock(width, 2 * width, stride: 2), BasicBlock(2 * width, 2 * width))
        layer3 = Sequential(BasicBlock(2 * width, 4 * width, stride: 2), BasicBlock(4 * width, 4 * width))
        layer4 = Sequential(BasicBlock(4 * width, 8 * width, stride: 2), BasicBlock(8 * width, 8 * width))
        fc = Linear(8 * width, numClasses)
        super.init()
        apply { m in
            if let conv = m as? Conv2d { Init.kaimingNormal_(conv.weight, mode: .fanOut, nonlinearity: .relu) }
        }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        var x = bn1(conv1(x)).relu()
        if let maxpool { x = maxpool(x) }
        x = layer4(layer3(layer2(layer1(x))))
        return fc(avgpool(x).flattened(startDim: 1))
    }
}

/// ResNet's basic block: two 3×3 convolutions with batch norm and a residual connection,
/// downsampled by a 1×1 convolution when the stride or the width changes (torchvision's
/// `BasicBlock`, same keys: `conv1`, `bn1`, `conv2`, `bn2`, `downsample.0`, `downsample.1`).
public final class BasicBlock: Module {
    let conv1: Conv2d
    let bn1: BatchNorm2d
    let conv2: Conv2d
    let bn2: BatchNorm2d
    let downsample: Sequential?

    public init(_ inPlanes: Int, _ planes: Int, stride: Int = 1) {
        conv1 = Conv2d(inPlanes, planes, kernelSize: 3, stride: Pair(stride), padding: 1, bias: false)
        bn1 = BatchNorm2d(planes)
        conv2 = Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        downsample = stride != 1 || inPlanes != planes
            ? Sequential(Conv2d(inPlanes, planes, kernelSize: 1, stride: Pair(stride), bias: false), BatchNorm2d(planes))
            : nil
        super.init()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let out = bn2(conv2(bn1(conv1(x)).relu()))
        return (out + (downsample?(x) ?? x)).relu()
    }
}
