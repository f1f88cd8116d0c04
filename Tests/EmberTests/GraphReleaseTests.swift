import XCTest
@testable import Ember

/// Deep autograd graphs: backward and release without recursion (GraphRelease).
final class GraphReleaseTests: XCTestCase {
    /// 10^6 recorded ops: seven adds of 1, then a multiply by m, over and over. backward
    /// must run every node once: dy/dx = m^(n/8), which backward computes as the same chain
    /// of float products as the loop below (and the value is the same float chain as the
    /// forward). Released recursively, such a graph overflowed the stack at ~10^5 ops.
    func testMillionOpChainRunsBackwardAndIsFreed() {
        let n = 1_000_000
        let one = Tensor([Float(1)], shape: []), m = Tensor([Float(1.000001)], shape: [])
        let x = Tensor([Float(1)], shape: [])
        x.requiresGrad = true
        weak var first: Tensor?
        do {
            var y = x + one
            first = y
            var value: Float = 2, grad: Float = 1
            for i in 1..<n {
                if i % 8 == 7 {
                    y = y * m
                    value *= m.f32[0]
                    grad *= m.f32[0]
                } else {
                    y = y + one
                    value += 1
                }
            }
            y.backward()
            XCTAssertEqual(y.item(), Double(value))
            XCTAssertEqual(x.grad?.item(), Double(grad))
            XCTAssertNotEqual(grad, 1, "the check can fail")
            XCTAssertNotNil(first, "the chain holds its first op")
        }
        XCTAssertNil(first, "dropping the last tensor frees the whole chain")
    }

    /// The release list is per thread: a deep graph dropped on a thread with a small stack
    /// (as DataLoader workers may have) is freed there without overflowing it.
    func testDeepGraphFreedOnAnotherThreadWithASmallStack() {
        let done = expectation(description: "released")
        let thread = Thread {
            let x = Tensor([Float(2)], shape: [])
            x.requiresGrad = true
            var y = x
            for _ in 0..<100_000 { y = y + 1 }
            XCTAssertEqual(y.item(), 100_002)
            y = x   // drops the chain
            done.fulfill()
        }
        thread.stackSize = 256 << 10
        thread.start()
        wait(for: [done], timeout: 60)
    }

    /// A branching graph (shared subexpressions, closures that saved tensors) frees every
    /// node exactly once and still gives the right gradient.
    func testSharedSubgraphsAreFreedOnce() {
        let x = Tensor([Float(3)], shape: [])
        x.requiresGrad = true
        weak var probe: Tensor?
        do {
            var y = x
            for i in 0..<1000 {
                let z = y * y   // mul saves both inputs in its closure
                if i == 0 { probe = z }
                y = z * 0.5 + y - z * 0.5   // y again, through three branches
            }
            y.backward()
            XCTAssertEqual(y.item(), 3)
            XCTAssertEqual(x.grad?.item(), 1)
        }
        XCTAssertNil(probe)
    }

    /// Attention's backward closure keeps what it needs to rerun the kernel, never the output
    /// itself: the graph, and the memory of every saved tensor, go with the last reference,
    /// for contiguous inputs and for heads read in place from a projection.
    func testAttentionGraphIsFreed() {
        for inPlace in [false, true] {
            weak var probe: Tensor?
            do {
                let x = Tensor.randn([2, 10, 24]).requiringGrad()
                let heads = x.split(8, dim: 2).map { p -> Tensor in
                    let h = p.reshaped([2, 10, 2, 4]).transposed(1, 2)
                    return inPlace ? h : h.contiguous()
                }
                let y = scaledDotProductAttention(query: heads[0], key: heads[1], value: heads[2], isCausal: true)
                probe = y
                y.sum().backward()
                XCTAssertNotNil(x.grad)
            }
            XCTAssertNil(probe, "the attention output outlived its graph (in place: \(inPlace))")
        }
    }

    /// Ops whose backward reads their own output keep a detached alias of it, never the output:
    /// each output here is freed with its last reference (the fixture sweeps in
    /// TensorOpsFixtureTests.checkAgainstPyTorch check the ops they cover the same way).
    func testOpsThatReadTheirOutputInBackwardAreFreed() {
        let ops: [(String, (Tensor) -> Tensor)] = [
            ("exp", { $0.exp() }), ("sqrt", { $0.abs().sqrt() }), ("tanh", { $0.tanh() }),
            ("sigmoid", { $0.sigmoid() }), ("rsqrt", { ($0.abs() + 1).rsqrt() }),
            ("reciprocal", { ($0.abs() + 1).reciprocal() }), ("expm1", { $0.expm1() }), ("elu", { $0.elu() }),
            ("pow", { ($0.abs() + 1).pow($0) }), ("amax", { $0.amax(dims: [1]) }),
            ("logsumexp", { $0.logsumexp(dims: [1]) }), ("norm", { $0.norm(dims: [1]) }),
        ]
        for (name, op) in ops {
            weak var probe: Tensor?
            do {
                let x = Tensor.randn([3, 4]).requiringGrad()
                let y = op(x)
                probe = y
                y.sum().backward()
                XCTAssertNotNil(x.grad, name)
            }
            XCTAssertNil(probe, "\(name): the output outlived its graph")
        }
    }
}
