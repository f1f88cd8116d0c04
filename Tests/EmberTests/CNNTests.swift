import Foundation
import XCTest
@testable import Ember

/// Convolution, pooling, normalisation and interpolation against PyTorch
/// (Fixtures/cnn_ops.json, made by scripts/make_cnn_fixtures.py), their gradients against
/// finite differences, the layers' state and modes, and their error messages.
final class CNNTests: KernelSettingsTestCase {
    typealias Op = TensorOpsFixtureTests.Op

    static let ops: [String: Op] = {
        var o: [String: Op] = [:]
        o["conv2d"] = { conv2d($0[0], $0[1], $0[2]) }
        o["conv2d_stride2_pad1"] = { conv2d($0[0], $0[1], $0[2], stride: 2, padding: 1) }
        o["conv2d_dilation2_rect"] = { conv2d($0[0], $0[1], stride: [1, 2], padding: [2, 1], dilation: 2) }
        o["conv2d_groups"] = { conv2d($0[0], $0[1], $0[2], padding: 1, groups: 2) }
        o["conv2d_depthwise"] = { conv2d($0[0], $0[1], padding: 1, groups: 3) }
        o["conv2d_same_even"] = { conv2d($0[0], $0[1], padding: .same) }
        o["conv2d_large_plane"] = { conv2d($0[0], $0[1], $0[2], padding: 1) }   // one image per product
        o["conv2d_pointwise"] = { conv2d($0[0], $0[1], $0[2]) }
        o["conv2d_unbatched"] = { conv2d($0[0], $0[1], padding: 1) }
        o["conv2d_reflect"] = { conv2d($0[0].padded([1, 1, 1, 1], mode: .reflect), $0[1]) }
        o["pad_replicate"] = { $0[0].padded([2, 1, 0, 3], mode: .replicate) }
        o["pad_circular"] = { $0[0].padded([1, 2, 2, 1], mode: .circular) }
        o["pad_constant_crop"] = { $0[0].padded([1, -2, -1, 2], value: 0.5) }
        o["conv1d"] = { conv1d($0[0], $0[1], $0[2], stride: 2, padding: 2) }
        o["conv_transpose2d"] = { convTranspose2d($0[0], $0[1], $0[2], stride: 2, padding: 1, outputPadding: 1) }
        o["conv_transpose2d_groups"] = { convTranspose2d($0[0], $0[1], groups: 2, dilation: 2) }
        o["max_pool2d"] = { $0[0].maxPool2d(kernelSize: 2) }
        o["max_pool2d_s2_p1_ceil"] = { $0[0].maxPool2d(kernelSize: 3, stride: 2, padding: 1, ceilMode: true) }
        o["max_pool2d_dilation"] = { $0[0].maxPool2d(kernelSize: 2, stride: 1, dilation: 2) }
        o["avg_pool2d"] = { $0[0].avgPool2d(kernelSize: 2) }
        o["avg_pool2d_exclude_pad_ceil"] = { $0[0].avgPool2d(kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false) }
        o["avg_pool2d_divisor"] = { $0[0].avgPool2d(kernelSize: [2, 3], stride: [1, 2], padding: 1, divisorOverride: 4) }
        o["adaptive_avg_pool2d"] = { $0[0].adaptiveAvgPool2d([3, 4]) }
        o["adaptive_avg_pool2d_1"] = { $0[0].adaptiveAvgPool2d(1) }
        o["adaptive_max_pool2d"] = { $0[0].adaptiveMaxPool2d([2, 3]) }
        o["max_pool1d"] = { $0[0].maxPool1d(kernelSize: 3, stride: 2, padding: 1) }
        o["avg_pool1d"] = { $0[0].avgPool1d(kernelSize: 2) }
        o["adaptive_avg_pool1d"] = { $0[0].adaptiveAvgPool1d(4) }
        o["batch_norm_train"] = { batchNorm($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true) }
        o["batch_norm_train_1d"] = { batchNorm($0[0], runningMean: nil, runningVar: nil, training: true) }
        o["batch_norm_eval"] = {
            batchNorm($0[0], runningMean: Tensor([0.1, -0.2, 0.3] as [Float]), runningVar: Tensor([0.5, 1.5, 2.0] as [Float]),
                      weight: $0[1], bias: $0[2], training: false)
        }
        o["layer_norm"] = { layerNorm($0[0], [7, 6], weight: $0[1], bias: $0[2]) }
        o["layer_norm_plain"] = { layerNorm($0[0], [6]) }
        o["group_norm"] = { groupNorm($0[0], numGroups: 2, weight: $0[1], bias: $0[2]) }
        o["interpolate_nearest"] = { $0[0].interpolate(size: [10, 9]) }
        o["interpolate_nearest_scale2"] = { $0[0].interpolate(scaleFactor: 2) }
        o["interpolate_bilinear"] = { $0[0].interpolate(size: [10, 9], mode: .bilinear, alignCorners: false) }
        o["interpolate_bilinear_align"] = { $0[0].interpolate(size: [10, 9], mode: .bilinear, alignCorners: true) }
        o["interpolate_bilinear_down"] = { $0[0].interpolate(size: [4, 3], mode: .bilinear) }
        return o
    }()

    func testEveryCaseMatchesPyTorch() throws {
        try TensorOpsFixtureTests.checkAgainstPyTorch(try TensorOpsFixtureTests.load("cnn_ops"), Self.ops)
    }

    func testFiniteDifferenceGradients() throws {
        // Max pools switch winners within a step of h between close values (their gradients
        // are checked against PyTorch's above); the statistics-based ops take a smaller step.
        let fixture = try TensorOpsFixtureTests.load("cnn_ops")
        let small = Set(["batch_norm_train", "batch_norm_train_1d", "layer_norm", "layer_norm_plain", "group_norm"])
        let maxPools = Set(["max_pool2d", "max_pool2d_s2_p1_ceil", "max_pool2d_dilation", "adaptive_max_pool2d", "max_pool1d"])
        try TensorOpsFixtureTests.checkFiniteDifferences(fixture, Self.ops, skipping: small.union(maxPools))
        let smallOnly = TensorOpsFixtureTests.Fixture(torch: fixture.torch, cases: fixture.cases.filter { small.contains($0.name) })
        try TensorOpsFixtureTests.checkFiniteDifferences(smallOnly, Self.ops, skipping: [], h: 3e-3, tolerance: 3e-2)
    }

    /// BatchNorm2d's running statistics after three training steps, and its evaluation-mode
    /// output, equal PyTorch's.
    func testBatchNormRunningStatisticsMatchPyTorch() throws {
        struct BN: Decodable {
            let batches: [[Double]]
            let shape: [Int]
            let running_mean: [Double]
            let running_var: [Double]
            let num_batches_tracked: Int
            let eval_output: [Double]
        }
        struct File: Decodable { let batchnorm: BN }
        let url = try XCTUnwrap(Bundle.module.url(forResource: "cnn_ops", withExtension: "json", subdirectory: "Fixtures"))
        let bn = try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).batchnorm
        let layer = BatchNorm2d(3)
        for b in bn.batches.prefix(3) { _ = layer(Tensor(b, shape: bn.shape)) }
        assertClose(doubles(layer.runningMean!), bn.running_mean, atol: 1e-6, rtol: 1e-6, "running_mean")
        assertClose(doubles(layer.runningVar!), bn.running_var, atol: 1e-6, rtol: 1e-6, "running_var")
        XCTAssertEqual(Int(layer.numBatchesTracked!.item()), bn.num_batches_tracked)
        layer.eval()
        assertClose(doubles(layer(Tensor(bn.batches[3], shape: bn.shape))), bn.eval_output, atol: 1e-5, rtol: 1e-5, "eval output")
        // Evaluation leaves the statistics alone.
        XCTAssertEqual(Int(layer.numBatchesTracked!.item()), 3)
    }

    func testBuffersAreStateButNotParameters() throws {
        let model = Sequential(Conv2d(1, 4, kernelSize: 3), BatchNorm2d(4), ReLU())
        XCTAssertEqual(model.stateDictKeys(), ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                               "1.running_var", "1.num_batches_tracked"])
        XCTAssertEqual(model.parameters().count, 4)
        XCTAssertEqual(model.namedBuffers().map(\.name), ["1.runningMean", "1.runningVar", "1.numBatchesTracked"])
        XCTAssertEqual(model.stateDict()["1.num_batches_tracked"]?.dtype, .int64)
        // Loading copies into the buffers in place.
        let other = Sequential(Conv2d(1, 4, kernelSize: 3), BatchNorm2d(4), ReLU())
        _ = other(Tensor.randn([2, 1, 5, 5]))
        try model.loadStateDict(other.stateDict())
        let bn = try XCTUnwrap(model[1] as? BatchNorm2d)
        XCTAssertEqual(bn.runningMean!.toArray(), (other[1] as! BatchNorm2d).runningMean!.toArray())
        XCTAssertEqual(bn.numBatchesTracked!.item(), 1)
        // Without running statistics there are no buffers, and eval uses batch statistics.
        let plain = BatchNorm2d(4, trackRunningStats: false)
        XCTAssertEqual(plain.stateDictKeys(), ["weight", "bias"])
        plain.eval()
        let y = plain(Tensor.randn([3, 4, 2, 2]) * 5 + 3)
        XCTAssertEqual(y.mean().item(), 0, accuracy: 1e-5)
        // A non-persistent buffer is a buffer but not state.
        final class Scaler: Module {
            @Buffer var scale = Tensor.ones([3])
            @Buffer(persistent: false) var cache: Tensor? = Tensor.zeros([1])
            override func forward(_ x: Tensor) -> Tensor { x * scale }
        }
        let s = Scaler()
        XCTAssertEqual(s.stateDictKeys(), ["scale"])
        XCTAssertEqual(s.namedBuffers().map(\.name), ["scale", "cache"])
        s.cache = nil
        XCTAssertEqual(s.namedBuffers().map(\.name), ["scale"])
    }

    func testTrainAndEvalModes() {
        let drop = Dropout2d(p: 0.5, generator: Generator(seed: 3))
        let x = Tensor.ones([4, 8, 3, 3])
        let y = drop(x).toArray()
        // Whole channels are zeroed or scaled by 2.
        for c in 0..<32 {
            let channel = Set(y[(c * 9)..<(c * 9 + 9)])
            XCTAssert(channel == [0] || channel == [2], "channel \(c): \(channel)")
        }
        XCTAssert(y.contains(0) && y.contains(2))
        drop.eval()
        XCTAssertEqual(drop(x).toArray(), x.toArray())
        // BatchNorm in training normalises by the batch; momentum nil is the cumulative average.
        let bn = BatchNorm1d(2, momentum: nil)
        _ = bn(Tensor([1, 2, 3, 4] as [Float], shape: [2, 2]))
        _ = bn(Tensor([5, 6, 7, 8] as [Float], shape: [2, 2]))
        XCTAssertEqual(bn.runningMean!.toArray(), [4, 5])   // mean of the batch means 2,3 and 6,7
    }

    func testDefaultInitAndInitFunctions() {
        manualSeed(1)
        let conv = Conv2d(8, 16, kernelSize: 3)
        let bound = Float(1 / (8.0 * 9).squareRoot())
        XCTAssert(conv.weight.toArray().allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(conv.weight.toArray().map { abs($0) }.max()!, bound * 0.9)
        XCTAssert(conv.bias!.toArray().allSatisfy { abs($0) <= bound })
        XCTAssertEqual(Init.fans(conv.weight).fanIn, 72)
        XCTAssertEqual(Init.fans(conv.weight).fanOut, 144)
        XCTAssertEqual(Init.calculateGain(.relu), 2.0.squareRoot())
        XCTAssertEqual(Init.calculateGain(.leakyRelu, param: 5.0.squareRoot()), (1.0 / 3).squareRoot(), accuracy: 1e-12)
        let w = Tensor.zeros([256, 512]).requiringGrad()
        Init.kaimingNormal_(w, mode: .fanOut, nonlinearity: .relu)
        XCTAssertTrue(w.requiresGrad && w.isLeaf)
        XCTAssertEqual(w.std().item(), (2.0 / 256).squareRoot(), accuracy: 0.002)
        Init.xavierUniform_(w)
        let a = (6.0 / (256 + 512)).squareRoot()
        XCTAssert(w.toArray().allSatisfy { Double(abs($0)) <= a })
        Init.truncNormal_(w, std: 0.02, a: -0.04, b: 0.04)
        XCTAssert(w.toArray().allSatisfy { abs($0) <= 0.04 })
        XCTAssertEqual(w.std().item(), 0.02 * 0.880, accuracy: 0.001)   // N(0,1) truncated at ±2σ has σ 0.880
        Init.constant_(w, 0.25)
        XCTAssertEqual(Set(w.toArray()), [0.25])
        XCTAssertEqual(Init.inverseNormalCDF(0.975), 1.959963984540054, accuracy: 1e-12)
        // apply visits children first, then self.
        var order: [String] = []
        Sequential(Linear(2, 2), ReLU()).apply { order.append($0.typeName) }
        XCTAssertEqual(order, ["Linear", "ReLU", "Sequential"])
    }

    func testFrozenParametersGetNoGradientAndNoUpdate() {
        let model = Sequential(Conv2d(1, 2, kernelSize: 3), Flatten(), Linear(2 * 3 * 3, 2))
        model[0].requiresGrad_(false)
        let optimizer = Adam(model.parameters(), lr: 0.1)
        let frozen = (model[0] as! Conv2d).weight.toArray()
        let head = (model[2] as! Linear).weight.toArray()
        let loss = model(Tensor.randn([2, 1, 5, 5])).square().sum()
        loss.backward()
        optimizer.step()
        XCTAssertNil((model[0] as! Conv2d).weight.grad)
        XCTAssertEqual((model[0] as! Conv2d).weight.toArray(), frozen)
        XCTAssertNotEqual((model[2] as! Linear).weight.toArray(), head)
    }

    func testPrintsAsPyTorch() {
        XCTAssertEqual(Conv2d(1, 32, kernelSize: 3).description, "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))")
        XCTAssertEqual(Conv2d(3, 8, kernelSize: 3, stride: 2, padding: 1, bias: false).description,
                       "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)")
        XCTAssertEqual(MaxPool2d(kernelSize: 2).description, "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")
        XCTAssertEqual(BatchNorm2d(64).description, "BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)")
        XCTAssertEqual(LayerNorm(512).description, "LayerNorm((512,), eps=1e-05, elementwise_affine=True)")
        XCTAssertEqual(GroupNorm(numGroups: 4, numChannels: 32).description, "GroupNorm(4, 32, eps=1e-05, affine=True)")
        XCTAssertEqual(AdaptiveAvgPool2d(outputSize: 1).description, "AdaptiveAvgPool2d(output_size=1)")
        XCTAssertEqual(Dropout2d(p: 0.25).description, "Dropout2d(p=0.25, inplace=False)")
    }

    func testErrorMessages() {
        let x = Tensor.zeros([2, 3, 8, 8]), w = Tensor.zeros([4, 1, 3, 3])
        assertThrowsMessage("conv2d: Given groups=1, weight of size [4, 1, 3, 3], expected input[2, 3, 8, 8] to have 1 channels, but got 3 channels instead") {
            _ = try conv2dChecked(x, w, nil, stride: 1, padding: 0, dilation: 1, groups: 1)
        }
        assertThrowsMessage("conv2d: Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [3, 8]") {
            _ = try conv2dChecked(Tensor.zeros([3, 8]), w, nil, stride: 1, padding: 0, dilation: 1, groups: 1)
        }
        assertThrowsMessage("conv2d: Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size can't be greater than actual input size") {
            _ = try conv2dChecked(Tensor.zeros([1, 1, 2, 2]), w, nil, stride: 1, padding: 0, dilation: 1, groups: 1)
        }
        assertThrowsMessage("conv2d: padding='same' is not supported for strided convolutions") {
            _ = try conv2dChecked(x, Tensor.zeros([4, 3, 3, 3]), nil, stride: 2, padding: .same, dilation: 1, groups: 1)
        }
        assertThrowsMessage("BatchNorm2d: expected 4D input (got 3D input)") {
            try BatchNorm2d(3).checkInputDim(Tensor.zeros([3, 4, 4]))
        }
        assertThrowsMessage("BatchNorm1d: expected 2D or 3D input (got 4D input)") {
            try BatchNorm1d(3).checkInputDim(x)
        }
        assertThrowsMessage("batch_norm: Expected more than 1 value per channel when training, got input size [1, 3]") {
            _ = try batchNormChecked(Tensor.zeros([1, 3]), runningMean: nil, runningVar: nil, weight: nil, bias: nil,
                                     training: true, momentum: 0.1, eps: 1e-5)
        }
        assertThrowsMessage("batch_norm: running_mean should contain 3 elements not 4") {
            _ = try batchNormChecked(x, runningMean: Tensor.zeros([4]), runningVar: nil, weight: nil, bias: nil,
                                     training: true, momentum: 0.1, eps: 1e-5)
        }
        assertThrowsMessage("layer_norm: Given normalized_shape=[5], expected input with shape [*, 5], but got input of size[2, 3, 8, 8]") {
            _ = try layerNormChecked(x, [5], weight: nil, bias: nil, eps: 1e-5)
        }
        assertThrowsMessage("group_norm: Expected number of channels in input to be divisible by num_groups, but got input of shape [2, 3, 8, 8] and num_groups=2") {
            _ = try groupNormChecked(x, numGroups: 2, weight: nil, bias: nil, eps: 1e-5)
        }
        assertThrowsMessage("max_pool2d: pad should be at most half of effective kernel size, but got pad=(2, 2), kernel_size=(2, 2) and dilation=(1, 1)") {
            _ = try PoolGeometry.make([1, 1, 4, 4], kernel: 2, stride: nil, padding: 2, dilation: 1, ceilMode: false, op: "max_pool2d")
        }
        assertThrowsMessage("max_pool2d: Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got: [8]") {
            try checkPoolInput(Tensor.zeros([8]), op: "max_pool2d")
        }
        assertThrowsMessage("pad: Argument #4: Padding size should be less than the corresponding input dimension, but got: padding (8, 0) at dimension 3 of input [2, 3, 8, 8]") {
            _ = try x.paddedChecked([8, 0], mode: .reflect, value: 0)
        }
    }

    /// The direct kernels for thin inputs (3×3, at most 3 channels, stride 1: csrc/conv_thin.c)
    /// against a float64 convolution, and bit for bit equal on every path and thread count:
    /// widths that are and are not multiples of 8, and odd row counts; input-gradient tiles
    /// inside dY and reaching past its left, right or both edges (MNIST's first layer: 28², no
    /// padding); forward tiles of 6, 2 and 1 output planes for 1, 2 and 3 channels, whose
    /// planes end in one vector or in two (the last masked either way).
    func testThinInputConvolutionsMatchReferenceOnEveryPathAndThreadCount() throws {
        parallelThreshold = 1
        let paths = CPUCapability.allCases.filter { $0.rawValue <= hardwareCPUCapability.rawValue }
        for (n, c, oc, h, w, pad) in [(3, 1, 5, 9, 13, 1), (2, 2, 6, 8, 8, 0), (2, 3, 4, 11, 20, 2), (9, 1, 32, 28, 28, 1),
                                      (2, 1, 3, 10, 16, 1), (3, 1, 32, 28, 28, 0), (2, 2, 4, 7, 40, 1), (2, 1, 7, 8, 10, 1),
                                      (2, 3, 8, 10, 12, 1), (2, 2, 6, 8, 10, 1)] {
            let g = Generator(seed: UInt64(n * 100 + w))
            let x = Tensor.randn([n, c, h, w], generator: g), weight = Tensor.randn([oc, c, 3, 3], generator: g)
            let bias = Tensor.randn([oc], generator: g)
            let oh = h + 2 * pad - 2, ow = w + 2 * pad - 2
            let gy = Tensor.randn([n, oc, oh, ow], generator: g)
            func run(_ path: CPUCapability, threads: Int) -> [[Float]] {
                setCPUCapability(path)
                setNumThreads(threads)
                let xv = x.detach(), wv = weight.detach(), bv = bias.detach()
                for t in [xv, wv, bv] { t.requiresGrad = true }
                let y = conv2d(xv, wv, bv, padding: .explicit(Pair(pad)))
                (y * gy).sum().backward()
                return [y, xv.grad!, wv.grad!, bv.grad!].map { $0.toArray() }
            }
            // float64: y, and the gradients of Σ y·gy.
            let xs = x.toArray().map(Double.init), ws = weight.toArray().map(Double.init)
            let bs = bias.toArray().map(Double.init), gs = gy.toArray().map(Double.init)
            var y = [Double](repeating: 0, count: n * oc * oh * ow), dx = [Double](repeating: 0, count: xs.count)
            var dw = [Double](repeating: 0, count: ws.count), db = [Double](repeating: 0, count: oc)
            for i in 0..<n { for o in 0..<oc { for r in 0..<oh { for q in 0..<ow {
                let yi = ((i * oc + o) * oh + r) * ow + q
                var acc = bs[o]
                db[o] += gs[yi]
                for ch in 0..<c { for kh in 0..<3 { for kw in 0..<3 {
                    let ih = r + kh - pad, iw = q + kw - pad
                    guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                    let xi = ((i * c + ch) * h + ih) * w + iw, wi = ((o * c + ch) * 3 + kh) * 3 + kw
                    acc += ws[wi] * xs[xi]
                    dx[xi] += ws[wi] * gs[yi]
                    dw[wi] += xs[xi] * gs[yi]
                } } }
                y[yi] = acc
            } } } }
            let base = run(paths[0], threads: 1)
            for (name, got, want) in zip4(["output", "input grad", "weight grad", "bias grad"], base, [y, dx, dw, db]) {
                let scale = want.map(abs).max()! + 1
                let err = zip(got, want).map { abs(Double($0) - $1) }.max()!
                XCTAssertLessThan(err / scale, 1e-5, "\(name) of \(n)×\(c)×\(h)×\(w) → \(oc), padding \(pad)")
            }
            for path in paths {
                for threads in [1, 2, 4] where !(path == paths[0] && threads == 1) {
                    XCTAssert(run(path, threads: threads) == base, "\(path) on \(threads) threads, \(n)×\(c)×\(h)×\(w) → \(oc)")
                }
            }
        }
    }

    /// 1×1 convolutions with strides (ResNet's shortcuts), whose input gradient writes each
    /// element of dx once, a value or zero: against a float64 reference, and bit for bit equal
    /// on every path and thread count; widths and heights that the stride does and does not
    /// divide (their last rows and columns are zeros or values by the stride).
    func testStridedPointwiseConvolutionInputGradient() {
        parallelThreshold = 1
        let paths = CPUCapability.allCases.filter { $0.rawValue <= hardwareCPUCapability.rawValue }
        for (n, c, oc, h, w, sh, sw) in [(2, 3, 5, 7, 9, 2, 2), (2, 4, 6, 8, 10, 3, 2), (3, 2, 3, 5, 6, 2, 3),
                                          (2, 3, 4, 9, 9, 1, 3), (2, 8, 16, 16, 16, 2, 2)] {
            let g = Generator(seed: UInt64(n * 1000 + h * 10 + w))
            let x = Tensor.randn([n, c, h, w], generator: g), weight = Tensor.randn([oc, c, 1, 1], generator: g)
            let oh = (h - 1) / sh + 1, ow = (w - 1) / sw + 1
            let gy = Tensor.randn([n, oc, oh, ow], generator: g)
            let dx = referenceInputGradient(weight, gy, height: h, width: w, stride: (sh, sw))
            let base = checkInputGradient(x, gy, dx, paths: paths, "\(n)×\(c)×\(h)×\(w) → \(oc), stride \(sh)×\(sw)") {
                conv2d($0, weight.detach(), stride: Pair(sh, sw))
            }
            XCTAssertEqual(zip(base, dx).filter { $1 == 0 && $0 != 0 }.count, 0, "positions no window reads get 0")
        }
    }

    /// x's gradient of Σ conv(x)·gy, computed on `path` with `threads` threads.
    private func inputGradient(_ x: Tensor, _ gy: Tensor, path: CPUCapability, threads: Int,
                               _ conv: (Tensor) -> Tensor) -> [Float] {
        setCPUCapability(path)
        setNumThreads(threads)
        let xv = x.detach()
        xv.requiresGrad = true
        (conv(xv) * gy).sum().backward()
        return xv.grad!.toArray()
    }

    /// conv2d's input gradient in float64: dx[n, c, r·s + kh·d − p, q·s + kw·d − p] +=
    /// weight[o, c, kh, kw] · gy[n, o, r, q], x being (N, C, height, width).
    private func referenceInputGradient(_ weight: Tensor, _ gy: Tensor, height h: Int, width w: Int,
                                        stride: (Int, Int) = (1, 1), dilation d: Int = 1, padding pad: Int = 0) -> [Double] {
        let (n, oc, oh, ow) = (gy.shape[0], gy.shape[1], gy.shape[2], gy.shape[3])
        let (c, kh, kw) = (weight.shape[1], weight.shape[2], weight.shape[3])
        let ws = weight.toArray().map(Double.init), gs = gy.toArray().map(Double.init)
        var dx = [Double](repeating: 0, count: n * c * h * w)
        for i in 0..<n { for o in 0..<oc { for r in 0..<oh { for q in 0..<ow {
            let gv = gs[((i * oc + o) * oh + r) * ow + q]
            for ch in 0..<c { for u in 0..<kh { for v in 0..<kw {
                let ih = r * stride.0 + u * d - pad, iw = q * stride.1 + v * d - pad
                guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                dx[((i * c + ch) * h + ih) * w + iw] += ws[((o * c + ch) * kh + u) * kw + v] * gv
            } } }
        } } } }
        return dx
    }

    /// The input gradient of `conv` on the first path and 1 thread, against `dx` (float64), and
    /// the same bits on every path and 1, 2 and 4 threads. Returns the first path's.
    @discardableResult
    private func checkInputGradient(_ x: Tensor, _ gy: Tensor, _ dx: [Double], paths: [CPUCapability], _ label: String,
                                    _ conv: (Tensor) -> Tensor) -> [Float] {
        let base = inputGradient(x, gy, path: paths[0], threads: 1, conv)
        let err = zip(base, dx).map { abs(Double($0) - $1) }.max()!
        XCTAssertLessThan(err / (dx.map(abs).max()! + 1), 1e-5, label)
        for path in paths {
            for threads in [1, 2, 4] where !(path == paths[0] && threads == 1) {
                XCTAssert(inputGradient(x, gy, path: path, threads: threads, conv) == base, "\(path) on \(threads) threads, \(label)")
            }
        }
        return base
    }

    /// The lowering's input gradient at stride 1 (col2im summing a row of dx over its taps, the
    /// edge columns of each tap masked): against float64 and bit for bit equal on every path
    /// and thread count; kernels 3 and 5, dilation 1 and 2, padding 0 to 2, rows narrower and
    /// wider than 8 and not a multiple of it.
    func testStrideOneInputGradientThroughColumns() {
        parallelThreshold = 1
        let paths = CPUCapability.allCases.filter { $0.rawValue <= hardwareCPUCapability.rawValue }
        for (n, c, oc, h, w, k, d, pad) in [(2, 4, 5, 9, 13, 3, 1, 1), (2, 5, 3, 8, 6, 3, 1, 0), (3, 4, 6, 11, 20, 5, 1, 2),
                                            (2, 6, 4, 10, 17, 3, 2, 2), (2, 4, 4, 7, 32, 3, 1, 1)] {
            let g = Generator(seed: UInt64(n * 1000 + h * 10 + w + k))
            let x = Tensor.randn([n, c, h, w], generator: g), weight = Tensor.randn([oc, c, k, k], generator: g)
            let oh = h + 2 * pad - d * (k - 1), ow = w + 2 * pad - d * (k - 1)
            let gy = Tensor.randn([n, oc, oh, ow], generator: g)
            let dx = referenceInputGradient(weight, gy, height: h, width: w, dilation: d, padding: pad)
            checkInputGradient(x, gy, dx, paths: paths, "\(n)×\(c)×\(h)×\(w) → \(oc), kernel \(k), dilation \(d), padding \(pad)") {
                conv2d($0, weight.detach(), padding: .explicit(Pair(pad)), dilation: Pair(d))
            }
        }
    }

    /// 2×2 stride-2 max pooling (a vector kernel on AVX2) against the scalar rule written out
    /// here (window order, the first of equal values, the last NaN): values and
    /// indices equal on every path, with ties, NaNs and −inf; planes whose width and height
    /// are odd (the last column or row unread), narrower and wider than eight outputs.
    func testMaxPool2x2EqualsTheScalarRuleOnEveryPath() {
        let paths = CPUCapability.allCases.filter { $0.rawValue <= hardwareCPUCapability.rawValue }
        for (planes, h, w) in [(3, 4, 4), (2, 7, 9), (5, 6, 16), (2, 5, 33), (4, 24, 24)] {
            var values = (0..<planes * h * w).map { Float(($0 * 7919) % 5) - 2 }   // many ties
            for i in stride(from: 3, to: values.count, by: 17) { values[i] = .nan }
            for i in stride(from: 5, to: values.count, by: 23) { values[i] = -.infinity }
            let x = Tensor(values, shape: [1, planes, h, w])
            // The reference: each window in order, as PyTorch's CPU kernel.
            var wantValues: [Float] = [], wantIndices: [Int] = []
            for p in 0..<planes { for oh in 0..<h / 2 { for ow in 0..<w / 2 {
                var best = -Float.infinity, at = 2 * oh * w + 2 * ow
                for dh in 0..<2 { for dw in 0..<2 {
                    let i = (2 * oh + dh) * w + 2 * ow + dw, v = values[p * h * w + i]
                    if v > best || v.isNaN { (best, at) = (v, i) }
                } }
                wantValues.append(best)
                wantIndices.append(at)
            } } }
            for path in paths {
                setCPUCapability(path)
                let (got, indices) = x.maxPool2dWithIndices(kernelSize: 2)
                assertSameBits(got.toArray(), wantValues, "\(path) \(h)×\(w): values")
                XCTAssertEqual(indices.toIntArray(), wantIndices, "\(path) \(h)×\(w): indices")
            }
        }
    }

    /// A small CNN (conv, batch norm, relu, pools, linear) trained for a few Adam steps: every
    /// loss and parameter equal for 1, 2 and 4 threads and on every GEMM path, with every
    /// kernel forced parallel.
    func testTrainingStepsSameBitsOnEveryPathAndThreadCount() {
        parallelThreshold = 1
        let hw = hardwareCPUCapability
        let paths = CPUCapability.allCases.filter { $0.rawValue <= hw.rawValue }
        func train(_ path: CPUCapability, threads: Int) -> (losses: [Double], params: [[Float]]) {
            setCPUCapability(path)
            setNumThreads(threads)
            manualSeed(5)
            let model = Sequential(Conv2d(1, 6, kernelSize: 3, padding: 1), BatchNorm2d(6), ReLU(),
                                   Conv2d(6, 8, kernelSize: 3, stride: 2), ReLU(), MaxPool2d(kernelSize: 2),
                                   Flatten(), Linear(8 * 3 * 3, 10))
            let optimizer = Adam(model.parameters(), lr: 1e-2)
            let g = Generator(seed: 6)
            let x = Tensor.randn([19, 1, 14, 14], generator: g), y = Tensor.randint(0, 10, [19], generator: g)
            var losses: [Double] = []
            for _ in 0..<3 {
                let loss = crossEntropy(model(x), y)
                loss.backward()
                optimizer.step()
                optimizer.zeroGrad()
                losses.append(loss.item())
            }
            return (losses, model.stateDict().sorted { $0.key < $1.key }.map { $0.value.type(.float32).toArray() })
        }
        let base = train(paths[0], threads: 1)
        XCTAssertLessThan(base.losses.last!, base.losses.first!)
        for path in paths {
            for threads in [1, 2, 4] where !(path == paths[0] && threads == 1) {
                let run = train(path, threads: threads)
                XCTAssertEqual(run.losses, base.losses, "losses: \(path) on \(threads) threads")
                XCTAssert(run.params == base.params, "parameters: \(path) on \(threads) threads")
            }
        }
    }
}

private func zip4<A, B, C>(_ a: [A], _ b: [B], _ c: [C]) -> [(A, B, C)] {
    zip(a, zip(b, c)).map { ($0, $1.0, $1.1) }
}
