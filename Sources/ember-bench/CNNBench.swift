// `ember-bench cnn`: pytorch/examples' MNIST CNN, compute only, Ember against PyTorch side by
// side in one run: the training step (batch 64, Adam) and the test pass (1000 images) on
// fixed pre-made tensors, Ember in process and PyTorch as a child running bench/pytorch_cnn.py,
// alternating round by round. Then the convolution kernels alone (forward, input gradient,
// weight gradient) at the network's shapes and ResNet-18's CIFAR shapes, as GFLOP/s next to
// the GEMM engine's 2048³ product on the same threads.
import ArgumentParser
import CEmber
import Ember
import EmberModels
import Foundation

struct CNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnn",
        abstract: "MNIST CNN training step and test pass vs PyTorch (compute only), and the conv kernels' GFLOP/s.")

    @Option(help: "Alternating rounds.") var rounds = 5
    @Option(help: "Timed training steps per round (each side).") var steps = 40
    @Option(help: "Threads for both (default: all cores).") var threads: Int?
    @Option(help: "Python with torch.") var python = ProcessInfo.processInfo.environment["EMBER_PYTHON"] ?? "/tmp/pytorch-reference/venv/bin/python"
    @Option(help: "bench/pytorch_cnn.py.") var script = "bench/pytorch_cnn.py"
    @Flag(help: "BatchNorm2d after each convolution (both sides).") var batchNorm = false
    @Flag(help: "Only the conv kernel table.") var kernelsOnly = false

    func run() throws {
        let nt = threads ?? numCores()
        setNumThreads(nt)
        print("MNIST CNN\(batchNorm ? " + batch norm" : ""), batch 64, Adam, \(nt) thread(s); \(machineLine())\n")
        if !kernelsOnly { try compare(nt) }
        print(convTable(nt).render())
    }

    func compare(_ nt: Int) throws {
        var ember: [(step: Double, test: Double)] = [], torch: [(step: Double, test: Double)] = []
        for round in 1...rounds {
            ember.append(measureEmber())
            let side = try runPythonSide(python, script, ["--threads", "\(nt)", "--steps", "\(steps)"]
                                         + (batchNorm ? ["--batch-norm"] : []), fields: ["step_ms", "test_ms"])
            let (s, t) = (side["step_ms"]!, side["test_ms"]!)
            torch.append((s, t))
            print("round \(round): Ember step \(fmt(ember.last!.step, 2)) ms, test \(fmt(ember.last!.test, 1)) ms | PyTorch step \(fmt(s, 2)) ms, test \(fmt(t, 1)) ms")
        }
        var table = Table("ms, median (min–max) of \(rounds) rounds", "Ember", "PyTorch", "Ember / PyTorch (pairs)")
        table.add("training step (64)", spread(ember.map(\.step), 2), spread(torch.map(\.step), 2),
                  spread(zip(ember, torch).map { $0.step / $1.step }, 2))
        table.add("test pass (1000 images)", spread(ember.map(\.test), 2), spread(torch.map(\.test), 2),
                  spread(zip(ember, torch).map { $0.test / $1.test }, 2))
        print("\n" + table.render() + "\n")
    }

    /// Median ms of a training step, and ms of one 1000-image no-grad pass.
    func measureEmber() -> (step: Double, test: Double) {
        manualSeed(0)
        let model = MNISTConvNet(batchNorm: batchNorm)
        let optimizer = Adam(model.parameters(), lr: 1e-3)
        let g = Generator(seed: 1)
        let x = Tensor.rand([64, 1, 28, 28], generator: g), y = Tensor.randint(0, 10, [64], generator: g)
        let xt = Tensor.rand([1000, 1, 28, 28], generator: g)
        func step() {
            crossEntropy(model(x), y).backward()
            optimizer.step()
            optimizer.zeroGrad()
        }
        for _ in 0..<10 { step() }
        let stepMs = medianMilliseconds(steps, step)
        model.eval()
        var tests: [Double] = []
        noGrad {
            _ = model(xt)
            for _ in 0..<5 {
                let t0 = now()
                _ = model(xt)
                tests.append(now() - t0)
            }
        }
        tests.sort()
        return (stepMs, tests[2] * 1e3)
    }

    /// The conv kernels' GFLOP/s in `rounds` rounds, each round timing the 2048³ GEMM and then
    /// every shape, so each cell's ratio to the GEMM is taken within one round.
    func convTable(_ nt: Int) -> Table {
        struct Shape { let name: String; let n, c, h, oc, k, stride, pad: Int }
        let shapes = [Shape(name: "MNIST conv1 1→32 28², no padding", n: 64, c: 1, h: 28, oc: 32, k: 3, stride: 1, pad: 0),
                      Shape(name: "MNIST conv2 32→64 26², no padding", n: 64, c: 32, h: 26, oc: 64, k: 3, stride: 1, pad: 0),
                      Shape(name: "ResNet CIFAR stem 3→64 32²", n: 32, c: 3, h: 32, oc: 64, k: 3, stride: 1, pad: 1),
                      Shape(name: "ResNet CIFAR 64→64 32²", n: 32, c: 64, h: 32, oc: 64, k: 3, stride: 1, pad: 1),
                      Shape(name: "ResNet CIFAR 128→128 16²", n: 32, c: 128, h: 16, oc: 128, k: 3, stride: 1, pad: 1),
                      Shape(name: "ResNet CIFAR 256→256 8²", n: 32, c: 256, h: 8, oc: 256, k: 3, stride: 1, pad: 1),
                      Shape(name: "ResNet CIFAR 512→512 4²", n: 32, c: 512, h: 4, oc: 512, k: 3, stride: 1, pad: 1),
                      Shape(name: "ResNet CIFAR 64→128 32² s2", n: 32, c: 64, h: 32, oc: 128, k: 3, stride: 2, pad: 1),
                      Shape(name: "ResNet CIFAR shortcut 64→128 32² 1×1 s2", n: 32, c: 64, h: 32, oc: 128, k: 1, stride: 2, pad: 0)]
        // The GEMM engine's 2048³ on the same threads: the yardstick.
        let m = 2048
        let a = [Float](repeating: 0.5, count: m * m), b = [Float](repeating: 0.25, count: m * m)
        var c = [Float](repeating: 0, count: m * m)
        var gemm: [Double] = []
        // rates[shape][kernel][round]
        var rates = [[[Double]]](repeating: [[], [], []], count: shapes.count)
        // The forward must at least write y: the GFLOP/s it would reach if writing y (Ember's
        // parallel fill, the same threads) were all it did.
        var writeBound = [[Double]](repeating: [], count: shapes.count)
        for _ in 0..<rounds {
            let tGemm = timePerCall(samples: 3) { ember_sgemm(0, 0, Int64(m), Int64(m), Int64(m), 1, a, Int64(m), b, Int64(m), 0, &c, Int64(m)) }
            gemm.append(2 * pow(Double(m), 3) / tGemm / 1e9)
            for (i, s) in shapes.enumerated() {
                let pad = s.pad, oh = (s.h + 2 * pad - s.k) / s.stride + 1
                var geo = ember_conv2d_shape(N: Int64(s.n), C: Int64(s.c), H: Int64(s.h), W: Int64(s.h), OC: Int64(s.oc),
                                             KH: Int64(s.k), KW: Int64(s.k), OH: Int64(oh), OW: Int64(oh), SH: Int64(s.stride),
                                             SW: Int64(s.stride), PH: Int64(pad), PW: Int64(pad), DH: 1, DW: 1, G: 1)
                let x = [Float](repeating: 0.1, count: s.n * s.c * s.h * s.h), w = [Float](repeating: 0.01, count: s.oc * s.c * s.k * s.k)
                let dy = [Float](repeating: 0.2, count: s.n * s.oc * oh * oh)
                var y = dy, dx = x, dw = w
                let flops = 2 * Double(s.n * s.oc * oh * oh * s.c * s.k * s.k)
                let tf = timePerCall(samples: 5) { ember_conv2d_forward(&y, x, w, nil, &geo) }
                let ti = timePerCall(samples: 5) { ember_conv2d_backward(&dx, nil, nil, dy, x, w, &geo) }
                let tw = timePerCall(samples: 5) { ember_conv2d_backward(nil, &dw, nil, dy, x, w, &geo) }
                for (k, t) in [tf, ti, tw].enumerated() { rates[i][k].append(flops / t / 1e9) }
                let tWrite = timePerCall(samples: 5) { ember_affine_f32(&y, nil, 0, 0, Int64(y.count)) }
                writeBound[i].append(flops / tWrite / 1e9)
            }
        }
        var table = Table("conv kernel, \(nt) thread(s), GFLOP/s median (min–max) of \(rounds) rounds; 2048³ GEMM \(spread(gemm, 0))",
                          "forward", "input grad", "weight grad", "worst / GEMM (per round)", "writing y alone")
        for (i, s) in shapes.enumerated() {
            let worst = (0..<rounds).map { r in rates[i].map { $0[r] }.min()! / gemm[r] }
            table.add(s.name, spread(rates[i][0], 0), spread(rates[i][1], 0), spread(rates[i][2], 0), spread(worst, 2) + "×",
                      spread(writeBound[i], 0))
        }
        return table
    }
}
