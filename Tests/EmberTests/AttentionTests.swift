import Foundation
import XCTest
@testable import Ember

/// Scaled dot-product attention against PyTorch (Fixtures/transformer_ops.json, made by
/// scripts/make_transformer_fixtures.py), its gradients against finite differences, the
/// fused kernel against the materialised softmax, its bits across threads and CPU paths, a
/// long sequence, and the error messages.
final class AttentionTests: KernelSettingsTestCase {
    typealias Op = TensorOpsFixtureTests.Op

    static let ops: [String: Op] = {
        var o: [String: Op] = [:]
        o["sdpa"] = { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2]) }
        o["sdpa_scale"] = { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], scale: 0.3) }
        o["sdpa_2d"] = { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2]) }
        o["sdpa_causal"] = { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], isCausal: true) }
        o["sdpa_causal_rect"] = { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], isCausal: true) }
        for name in ["sdpa_bool_mask", "sdpa_float_mask", "sdpa_float_mask_row", "sdpa_tiles_mask", "sdpa_mask_grad_ls",
                     "sdpa_mask_grad_tiles"] {
            o[name] = { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], attnMask: $0[3]) }
        }
        o["sdpa_mask_grad_full"] = { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], attnMask: $0[3], scale: 0.7) }
        o["sdpa_tiles"] = { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2]) }
        o["sdpa_tiles_causal"] = { scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], isCausal: true) }
        return o
    }()

    static func fixture() throws -> TensorOpsFixtureTests.Fixture { try TensorOpsFixtureTests.load("transformer_ops") }

    func testEveryCaseMatchesPyTorch() throws {
        try TensorOpsFixtureTests.checkAgainstPyTorch(try Self.fixture(), Self.ops)
    }

    /// Central differences of query, key and value (and of the float mask where the case
    /// differentiates it, `sdpa_mask_grad_*`; other masks are constants) against the fused
    /// backward, on the small cases (the tiled ones are checked against PyTorch).
    func testFiniteDifferenceGradients() throws {
        for c in try Self.fixture().cases where !c.name.contains("tiles") {
            let op = try XCTUnwrap(Self.ops[c.name])
            let base = c.inputs.map(TensorOpsFixtureTests.make)
            let w = Tensor(try XCTUnwrap(c.weights), shape: c.output.shape)
            for i in 0..<(c.name.hasPrefix("sdpa_mask_grad") ? 4 : 3) {
                let inputs = base.map { $0.clone() }
                inputs[i].requiresGrad = true
                (op(inputs) * w).sum().backward()
                let analytic = doubles(try XCTUnwrap(inputs[i].grad))
                var values = c.inputs[i].values
                var numeric: [Double] = []
                let h = 1e-2
                for j in values.indices {
                    let x0 = values[j]
                    func loss(_ x: Double) -> Double {
                        values[j] = x
                        var args = base
                        args[i] = Tensor(values, shape: c.inputs[i].shape)
                        return noGrad { (op(args) * w).sum().item() }
                    }
                    numeric.append((loss(x0 + h) - loss(x0 - h)) / (2 * h))
                    values[j] = x0
                }
                assertClose(analytic, numeric, atol: 2e-2, rtol: 2e-2, "\(c.name): finite differences of input \(i)")
            }
        }
    }

    /// Random (q, k, v) and a broadcast bool mask over several tiles.
    func randomProblem(_ seed: UInt64, l: Int = 150, s: Int = 200, e: Int = 24, ev: Int = 20)
        -> (q: Tensor, k: Tensor, v: Tensor, mask: Tensor) {
        let g = Generator(seed: seed)
        return (Tensor.randn([2, 3, l, e], generator: g), Tensor.randn([2, 3, s, e], generator: g),
                Tensor.randn([2, 3, s, ev], generator: g), Tensor.rand([2, 1, l, s], generator: g) > 0.2)
    }

    /// The fused kernel equals softmax(q·kᵀ·scale + mask)·v computed with the weights
    /// materialised, values and gradients, with and without masks and causality.
    func testFusedKernelMatchesMaterialisedAttention() {
        let p = randomProblem(1)
        for (mask, causal) in [(nil, false), (p.mask, false), (p.mask.type(.float32) * 0.5, false), (nil, true)] as [(Tensor?, Bool)] {
            func run(fused: Bool) -> [[Double]] {
                let q = p.q.clone().requiringGrad(), k = p.k.clone().requiringGrad(), v = p.v.clone().requiringGrad()
                let y = fused
                    ? scaledDotProductAttention(query: q, key: k, value: v, attnMask: mask, isCausal: causal)
                    : attentionWithWeights(query: q, key: k, value: v, attnMask: mask, dropoutP: 0, isCausal: causal,
                                           scale: 1 / 24.0.squareRoot(), generator: .default).output
                (y * y).sum().backward()
                return [doubles(y), doubles(q.grad!), doubles(k.grad!), doubles(v.grad!)]
            }
            let fused = run(fused: true), reference = run(fused: false)
            for (i, name) in ["output", "dq", "dk", "dv"].enumerated() {
                assertClose(fused[i], reference[i], atol: 1e-5, rtol: 1e-4, "mask \(mask != nil) causal \(causal): \(name)")
            }
        }
    }

    /// Forward and backward give the same bits for 1, 2 and 4 threads and on every GEMM path.
    /// With 6 batch·heads the backward runs its one-pass form on 1 and 2 threads and its
    /// two-pass form on 4: the same bits either way.
    func testSameBitsForEveryThreadCountAndPath() {
        parallelThreshold = 1
        let p = randomProblem(2)
        let hw = hardwareCPUCapability
        let paths = CPUCapability.allCases.filter { $0.rawValue <= hw.rawValue }
        func run(_ path: CPUCapability, threads: Int, causal: Bool) -> [[Float]] {
            setCPUCapability(path)
            setNumThreads(threads)
            let q = p.q.clone().requiringGrad(), k = p.k.clone().requiringGrad(), v = p.v.clone().requiringGrad()
            let y = scaledDotProductAttention(query: q, key: k, value: v, attnMask: causal ? nil : p.mask, isCausal: causal)
            (y * y).sum().backward()
            return [y.toArray(), q.grad!.toArray(), k.grad!.toArray(), v.grad!.toArray()]
        }
        for causal in [false, true] {
            let base = run(paths[0], threads: 1, causal: causal)
            for path in paths {
                for threads in [1, 2, 4] where !(path == paths[0] && threads == 1) {
                    XCTAssert(run(path, threads: threads, causal: causal) == base, "\(path) on \(threads) threads, causal \(causal)")
                }
            }
        }
    }

    /// Heads split from one (B, T, 3C) projection and transposed to (B, H, T, D) are read in
    /// place: output and gradients are bit for bit those of contiguous copies, with a mask,
    /// causal, over more than one 64-row tile, and the output is laid out (B, T, H, D), so
    /// the usual transpose back is contiguous. On 1 and 2 threads the backward takes its
    /// one-pass form, on 4 its two-pass form. A view whose rows are not unit-stride is copied
    /// and gives the same bits too.
    func testStridedHeadsReadInPlace() {
        parallelThreshold = 1
        let (b, t, h, d) = (2, 70, 3, 8), c = h * d
        let g = Generator(seed: 7)
        let x = Tensor.randn([b, t, 3 * c], generator: g)
        let w = Tensor.randn([b, h, t, d], generator: g)
        let mask = Tensor.rand([b, 1, t, t], generator: g) > 0.3
        func run(copies: Bool, mask m: Tensor?, causal: Bool) -> (y: Tensor, dx: [Float]) {
            let leaf = x.clone().requiringGrad()
            let parts = leaf.split(c, dim: 2).map { p -> Tensor in
                let heads = p.reshaped([b, t, h, d]).transposed(1, 2)
                return copies ? heads.contiguous() : heads
            }
            let y = scaledDotProductAttention(query: parts[0], key: parts[1], value: parts[2], attnMask: m,
                                              isCausal: causal)
            (y * w).sum().backward()
            return (y, leaf.grad!.toArray())
        }
        for threads in [1, 2, 4] {
            setNumThreads(threads)
            for (m, causal) in [(nil, true), (mask, false)] as [(Tensor?, Bool)] {
                let inPlace = run(copies: false, mask: m, causal: causal), copied = run(copies: true, mask: m, causal: causal)
                // XCTAssert on the comparison: a failure message of two whole tensors is useless.
                XCTAssert(inPlace.y.toArray() == copied.y.toArray(), "output, causal \(causal), \(threads) threads")
                XCTAssert(inPlace.dx == copied.dx, "gradient, causal \(causal), \(threads) threads")
                XCTAssertTrue(inPlace.y.transposed(1, 2).isContiguous, "output laid out (B, T, H, D)")
                XCTAssertTrue(copied.y.isContiguous)
            }
        }
        // Rows with stride ≠ 1: q stored (B, H, E, L) and transposed.
        let p = randomProblem(3, l: 70, s: 70, e: 8, ev: 8)
        let qT = p.q.transposed(-1, -2).contiguous().transposed(-1, -2)
        XCTAssert(scaledDotProductAttention(query: qT, key: p.k, value: p.v).toArray()
                  == scaledDotProductAttention(query: p.q, key: p.k, value: p.v).toArray())
    }

    /// A float mask's gradient from the fused kernel (the stored dS summed over the broadcast
    /// dims) equals autograd's through the materialised softmax, for a mask broadcast over
    /// the batch and the queries and for a full one; a mask that needs no gradient gets none.
    func testMaskGradientMatchesMaterialisedAttention() {
        let p = randomProblem(5)
        let g = Generator(seed: 6)
        for maskShape in [[3, 1, 200], [2, 3, 150, 200], [150, 200]] {
            let base = Tensor.randn(maskShape, generator: g)
            func run(fused: Bool) -> [[Double]] {
                let q = p.q.clone().requiringGrad(), mask = base.clone().requiringGrad()
                let y = fused
                    ? scaledDotProductAttention(query: q, key: p.k, value: p.v, attnMask: mask)
                    : attentionWithWeights(query: q, key: p.k, value: p.v, attnMask: mask, dropoutP: 0, isCausal: false,
                                           scale: 1 / 24.0.squareRoot(), generator: .default).output
                (y * y).sum().backward()
                XCTAssertEqual(mask.grad?.shape, maskShape)
                return [doubles(y), doubles(q.grad!), doubles(mask.grad!)]
            }
            let fused = run(fused: true), reference = run(fused: false)
            for (i, name) in ["output", "dq", "dmask"].enumerated() {
                assertClose(fused[i], reference[i], atol: 1e-5, rtol: 1e-4, "mask \(maskShape): \(name)")
            }
        }
        let mask = Tensor.randn([150, 200], generator: g), q = p.q.clone().requiringGrad()
        scaledDotProductAttention(query: q, key: p.k, value: p.v, attnMask: mask).sum().backward()
        XCTAssertNil(mask.grad)
        XCTAssertNotNil(q.grad)
    }

    /// The mask gradient has the same bits for 1, 2 and 4 threads (one-pass and two-pass
    /// backward alike, see above) and on every GEMM path: each dS element is written by one
    /// task and the broadcast sum has a fixed order.
    func testMaskGradientSameBitsForEveryThreadCount() {
        parallelThreshold = 1
        let p = randomProblem(7)
        let g = Generator(seed: 8)
        let hw = hardwareCPUCapability
        let paths = CPUCapability.allCases.filter { $0.rawValue <= hw.rawValue }
        for maskShape in [[150, 200], [2, 3, 150, 200]] {
            let base = Tensor.randn(maskShape, generator: g)
            func run(_ path: CPUCapability, threads: Int) -> [[Float]] {
                setCPUCapability(path)
                setNumThreads(threads)
                let k = p.k.clone().requiringGrad(), mask = base.clone().requiringGrad()
                let y = scaledDotProductAttention(query: p.q, key: k, value: p.v, attnMask: mask)
                (y * y).sum().backward()
                return [y.toArray(), k.grad!.toArray(), mask.grad!.toArray()]
            }
            let first = run(paths[0], threads: 1)
            for path in paths {
                for threads in [1, 2, 4] where !(path == paths[0] && threads == 1) {
                    XCTAssert(run(path, threads: threads) == first, "mask \(maskShape): \(path) on \(threads) threads")
                }
            }
        }
    }

    /// L = S = 1024 runs in a workspace of a few tiles per thread (a constant: no L×S
    /// buffer), and a causal row's output is the materialised softmax of that row.
    func testLongSequenceNeedsNoScoreMatrix() {
        XCTAssertEqual(Kernels.attentionWorkspaceFloats(backward: false), 64 * 64 + 2 * 64)
        XCTAssertEqual(Kernels.attentionWorkspaceFloats(backward: true), 2 * 64 * 64)
        let g = Generator(seed: 3)
        let n = 1024, e = 16
        let q = Tensor.randn([1, n, e], generator: g).requiringGrad(), k = Tensor.randn([1, n, e], generator: g).requiringGrad()
        let v = Tensor.randn([1, n, e], generator: g).requiringGrad()
        let y = scaledDotProductAttention(query: q, key: k, value: v, isCausal: true)
        y.sum().backward()
        XCTAssertEqual(y.shape, [1, n, e])
        XCTAssertEqual(k.grad!.shape, [1, n, e])
        // Row 1000 by hand: softmax over keys 0…1000.
        let row = 1000
        let qs = q.toArray(), ks = k.toArray(), vs = v.toArray()
        var scores = (0...row).map { j in (0..<e).reduce(0.0) { $0 + Double(qs[row * e + $1]) * Double(ks[j * e + $1]) } / 4 }
        let m = scores.max()!
        scores = scores.map { exp($0 - m) }
        let z = scores.reduce(0, +)
        let want = (0..<e).map { d in (0...row).reduce(0.0) { $0 + scores[$1] / z * Double(vs[$1 * e + d]) } }
        assertClose(Array(doubles(y)[(row * e)..<((row + 1) * e)]), want, atol: 1e-5, rtol: 1e-4, "row \(row)")
        // The last key is seen by the last query only: its value gradient is that query's weight on it.
        XCTAssert(v.grad!.toArray()[((n - 1) * e)...].allSatisfy { $0 > 0 && $0 < 1 })
    }

    /// Dropout on the weights runs unfused: the same generator state gives the same mask as
    /// dropout applied to the materialised weights.
    func testDropoutUsesTheWeightsPath() {
        let p = randomProblem(4, l: 5, s: 7, e: 4, ev: 3)
        let y = scaledDotProductAttention(query: p.q, key: p.k, value: p.v, dropoutP: 0.5, generator: Generator(seed: 9))
        let weights = (p.q.matmul(p.k.transposed(-2, -1)) * 0.5).softmax(dim: -1)
        let want = weights.dropout(p: 0.5, generator: Generator(seed: 9)).matmul(p.v)
        assertClose(doubles(y), doubles(want), atol: 1e-6, rtol: 1e-5, "dropout")
        let plain = scaledDotProductAttention(query: p.q, key: p.k, value: p.v)
        XCTAssertNotEqual(y.toArray(), plain.toArray())
    }

    /// Leading dims broadcast, as in PyTorch (keys and values shared by every head): the
    /// same bits as expanding them by hand, and the gradients summed back.
    func testBatchDimsBroadcast() {
        let g = Generator(seed: 5)
        let q = Tensor.randn([2, 3, 4, 4], generator: g), k = Tensor.randn([1, 1, 5, 4], generator: g)
        let v = Tensor.randn([2, 1, 5, 3], generator: g)
        func run(_ expand: Bool) -> (out: [Float], grads: [[Float]]) {
            let (qq, kk, vv) = (q.detach().requiringGrad(), k.detach().requiringGrad(), v.detach().requiringGrad())
            let (k2, v2) = expand ? (kk.expanded(to: [2, 3, 5, 4]).contiguous(), vv.expanded(to: [2, 3, 5, 3]).contiguous()) : (kk, vv)
            let y = scaledDotProductAttention(query: qq, key: k2, value: v2)
            (y * y).sum().backward()
            return (y.toArray(), [qq, kk, vv].map { $0.grad!.toArray() })
        }
        let broadcast = run(false), byHand = run(true)
        XCTAssertEqual(broadcast.out.map(\.bitPattern), byHand.out.map(\.bitPattern))
        for (a, b) in zip(broadcast.grads, byHand.grads) { XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern)) }
        // A query that must grow (its batch dim 1 against the keys' 2).
        let (kAll, vAll) = (k.expanded(to: [2, 3, 5, 4]).contiguous(), v.expanded(to: [2, 3, 5, 3]).contiguous())
        let y = scaledDotProductAttention(query: q[0..<1], key: kAll, value: vAll)
        let want = scaledDotProductAttention(query: q[0..<1].expanded(to: [2, 3, 4, 4]).contiguous(), key: kAll, value: vAll)
        XCTAssertEqual(y.shape, [2, 3, 4, 3])
        XCTAssertEqual(y.toArray().map(\.bitPattern), want.toArray().map(\.bitPattern))
    }

    func testErrorMessages() throws {
        let q = Tensor.zeros([2, 5, 4]), k = Tensor.zeros([2, 7, 4]), v = Tensor.zeros([2, 7, 3])
        func sdpa(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, p: Double = 0, causal: Bool = false) throws {
            _ = try scaledDotProductAttentionChecked(query: q, key: k, value: v, attnMask: mask, dropoutP: p,
                                                     isCausal: causal, scale: nil, generator: .default)
        }
        assertThrowsMessage("scaled_dot_product_attention: query [2, 5, 4] and key [2, 7, 3] must have the same last dim (embedding size)") {
            try sdpa(q, Tensor.zeros([2, 7, 3]), v)
        }
        assertThrowsMessage("scaled_dot_product_attention: key [2, 7, 4] and value [2, 6, 3] must have the same sequence length (dim -2)") {
            try sdpa(q, k, Tensor.zeros([2, 6, 3]))
        }
        assertThrowsMessage("scaled_dot_product_attention: expected query, key and value with broadcastable leading dims, got query [2, 5, 4], key [3, 7, 4], value [2, 7, 3]") {
            try sdpa(q, Tensor.zeros([3, 7, 4]), v)
        }
        assertThrowsMessage("scaled_dot_product_attention: expected query, key and value of at least 2 dims (…, L, E), got query [4], key [2, 7, 4], value [2, 7, 3]") {
            try sdpa(Tensor.zeros([4]), k, v)
        }
        assertThrowsMessage("scaled_dot_product_attention: the expanded size of the tensor (7) must match the existing size (6) at non-singleton dimension 2. Target sizes: [2, 5, 7]. Tensor sizes: [5, 6]") {
            try sdpa(q, k, v, mask: Tensor.zeros([5, 6]))
        }
        assertThrowsMessage("scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True") {
            try sdpa(q, k, v, mask: Tensor.zeros([5, 7]), causal: true)
        }
        assertThrowsMessage("scaled_dot_product_attention: expected float32 but got int64") {
            try sdpa(q, k, v, mask: Tensor.zeros([5, 7], dtype: .int64))
        }
        assertThrowsMessage("scaled_dot_product_attention: dropout_p must be in [0, 1], got 1.5") {
            try sdpa(q, k, v, p: 1.5)
        }
        // p = 1 drops every weight, as PyTorch's: the output is zeros.
        let dropped = try scaledDotProductAttentionChecked(query: q, key: k, value: v, attnMask: nil, dropoutP: 1,
                                                           isCausal: false, scale: nil, generator: .default)
        XCTAssertEqual(dropped.abs().sum().item(), 0)
    }
}
