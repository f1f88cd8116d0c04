import XCTest
@testable import Ember

/// The quickstart MLP (784-512-512-10) written directly on ops, so these core tests do not
/// depend on the nn layer.
final class RawMLP {
    var params: [Tensor]
    var buffers: [Tensor?]
    init(seed: UInt64) {
        let g = Generator(seed: seed)
        func layer(_ i: Int, _ o: Int) -> [Tensor] {
            let bound = Float(1 / Double(i).squareRoot())
            return [Tensor.rand([o, i], low: -bound, high: bound, generator: g).requiringGrad(),
                    Tensor.rand([o], low: -bound, high: bound, generator: g).requiringGrad()]
        }
        params = layer(784, 512) + layer(512, 512) + layer(512, 10)
        buffers = Array(repeating: nil, count: params.count)
    }
    func forward(_ x: Tensor) -> Tensor {
        var h = linear(x.flattened(startDim: 1), params[0], params[1]).relu()
        h = linear(h, params[2], params[3]).relu()
        return linear(h, params[4], params[5])
    }
    /// One SGD step with momentum on the fused kernel; returns the loss.
    func step(_ x: Tensor, _ y: Tensor, lr: Float = 0.01, momentum: Float = 0.9) -> Float {
        let loss = crossEntropy(forward(x), y)
        loss.backward()
        for (i, p) in params.enumerated() {
            let first = buffers[i] == nil
            if first && momentum != 0 { buffers[i] = Tensor.zeros(p.shape) }
            Kernels.sgdStep(p.f32, p.grad!.f32, buffers[i]?.f32, p.count, lr: Double(lr), momentum: Double(momentum), dampening: 0,
                            weightDecay: 0, nesterov: false, firstStep: first, maximize: false)
            p.grad = nil
        }
        return Float(loss.item())
    }
}

final class TrainingStepTests: XCTestCase {
    let savedThreshold = parallelThreshold
    override func tearDown() {
        setNumThreads(numCores())
        parallelThreshold = savedThreshold
    }

    /// Same bits for 1, 2 and 4 threads: losses, parameters, and big reductions.
    func testBitIdenticalForOneTwoAndFourThreads() {
        func run(threads: Int) -> (losses: [Float], params: [[Float]], sums: [Double]) {
            setNumThreads(threads)
            parallelThreshold = 1   // every kernel takes its parallel path when threads > 1
            let model = RawMLP(seed: 3)
            let g = Generator(seed: 4)
            var losses: [Float] = []
            let x = Tensor.rand([64, 1, 28, 28], generator: g)
            let y = Tensor.randint(0, 10, [64], generator: g)
            for _ in 0..<5 { losses.append(model.step(x, y)) }
            let big = Tensor.randn([3_000_001], generator: Generator(seed: 5))
            let sums = [big.sum().item(), big.sum(dim: 0).item(), big.reshaped([1, -1]).softmax(dim: 1).max().item(),
                        Tensor.rand([1000, 1000], generator: g).mean(dim: 0).sum().item()]
            return (losses, model.params.map { $0.toArray() }, sums)
        }
        let one = run(threads: 1), two = run(threads: 2), four = run(threads: 4)
        XCTAssertEqual(one.losses, two.losses)
        XCTAssertEqual(one.losses, four.losses)
        XCTAssertEqual(one.sums, two.sums)
        XCTAssertEqual(one.sums, four.sums)
        for i in one.params.indices {
            XCTAssert(one.params[i] == two.params[i], "parameter \(i) differs between 1 and 2 threads")
            XCTAssert(one.params[i] == four.params[i], "parameter \(i) differs between 1 and 4 threads")
        }
        XCTAssertLessThan(one.losses.last!, one.losses.first!)
    }

    /// The graph holds no cycles and the buffer cache serves every step after the first:
    /// resident memory stays flat over 10,000 training steps of the quickstart MLP.
    func testMemoryStaysFlatOverTenThousandSteps() {
        let model = RawMLP(seed: 1)
        let g = Generator(seed: 2)
        // Small batches keep this fast in debug builds; the graph and buffers per step are
        // the same as at batch 64.
        let x = Tensor.rand([8, 1, 28, 28], generator: g)
        let y = Tensor.randint(0, 10, [8], generator: g)
        for _ in 0..<200 { _ = model.step(x, y, lr: 0.001, momentum: 0) }
        BufferCache.shared.resetCounters()
        let before = residentBytes()
        for _ in 0..<10_000 { _ = model.step(x, y, lr: 0.001, momentum: 0) }
        let after = residentBytes()
        let growth = after - before
        XCTAssertLessThan(growth, 4 << 20, "RSS grew by \(growth >> 10) KiB over 10,000 steps")
        // Every allocation after warm-up came from the cache.
        XCTAssertEqual(BufferCache.shared.misses, 0)
        XCTAssertGreaterThanOrEqual(BufferCache.shared.hits, 10_000 * 20)
    }
}

/// Resident set size of this process, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}
