import Foundation
import XCTest
@testable import Ember

/// Embedding against PyTorch (Fixtures/transformer_util.json, made by
/// scripts/make_transformer_util_fixtures.py): forward, max_norm's in-place renormalisation and
/// the weight gradient with padding and repeated indices; the gradient against finite
/// differences; the backward kernel's bits on 1, 2 and 4 threads; the layer; the errors.
final class EmbeddingTests: XCTestCase {
    let savedThreshold = parallelThreshold

    override func tearDown() {
        setNumThreads(numCores())
        parallelThreshold = savedThreshold
    }

    struct Case: Decodable {
        let name: String
        let weight_shape: [Int], weight: [Double]
        let indices_shape: [Int], indices: [Int]
        let padding_idx: Int?, max_norm: Double?, norm_type: String, scale_grad_by_freq: Bool
        let output_shape: [Int], output: [Double]
        let weight_after: [Double], weights: [Double], grad: [Double]
    }
    struct Init: Decodable { let mean: Double, std: Double, padding_row_zero: Bool }
    struct File: Decodable { let embedding: [Case]; let embedding_init: Init }

    static func fixtures() throws -> File {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "transformer_util", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
    }

    func testForwardRenormAndGradientMatchPyTorch() throws {
        let cases = try Self.fixtures().embedding
        XCTAssertEqual(cases.count, 10)
        for c in cases {
            let w = Tensor(c.weight, shape: c.weight_shape).requiringGrad()
            let idx = Tensor(c.indices, shape: c.indices_shape)
            let y = embedding(idx, weight: w, paddingIdx: c.padding_idx, maxNorm: c.max_norm, normType: Double(c.norm_type)!,
                              scaleGradByFreq: c.scale_grad_by_freq)
            XCTAssertEqual(y.shape, c.output_shape, c.name)
            // A lookup copies: exact, unless max_norm rescaled the rows (float rounding of the norm).
            let tol = c.max_norm == nil ? 0.0 : 1e-6
            assertClose(doubles(y), c.output, atol: tol, rtol: tol, "\(c.name) output")
            assertClose(doubles(w.detach()), c.weight_after, atol: tol, rtol: tol, "\(c.name) weight after the call")
            (y * Tensor(c.weights, shape: c.output_shape)).sum().backward()
            // Sums of at most a few products of exact linspace weights: float-exact in index order.
            assertClose(doubles(try XCTUnwrap(w.grad)), c.grad, atol: 1e-6, rtol: 1e-6, "\(c.name) grad")
        }
    }

    /// ∂L/∂weight[r] = Σ_{i: index_i = r} w_i (the output rows' weights), by finite differences
    /// of the lookup computed in Double.
    func testGradientAgainstFiniteDifferences() {
        let indices = [3, 0, 3, 5, 1, 3, 0]
        let weight = Tensor(testValues(6 * 3), shape: [6, 3])
        gradCheck([weight], ember: { embedding(Tensor(indices, shape: [7]), weight: $0[0]) },
                  reference: { v in indices.flatMap { r in (0..<3).map { v[0][r * 3 + $0] } } })
        // With a padding row the numerical gradient of that row is not zero, autograd's is.
        weight.grad = nil
        let y = embedding(Tensor(indices, shape: [7]), weight: weight, paddingIdx: -3)
        (y * Tensor(testValues(21, seed: 3), shape: [7, 3])).sum().backward()
        let g = weight.grad!.toArray()
        XCTAssertEqual(Array(g[9..<12]), [0, 0, 0], "row 3 (paddingIdx -3 of 6) gets no gradient")
        XCTAssert(g[0..<3].allSatisfy { $0 != 0 }, "row 0 does")
    }

    /// The backward splits the weight's columns (wide rows) or rows (narrow ones) over the
    /// threads, every thread walking all indices in order: the same bits on 1, 2 and 4 threads.
    func testBackwardSameBitsOnOneTwoFourThreads() {
        parallelThreshold = 1
        for (rows, dim) in [(40, 200), (300, 20), (7, 3)] {
            let n = 3000
            let idx = Tensor(testValues(n, seed: 11).map { Int(($0 + 1) / 2 * Double(rows)) % rows }, shape: [30, 100])
            let weight = Tensor(testValues(rows * dim, seed: 5), shape: [rows, dim])
            let upstream = Tensor(testValues(n * dim, seed: 9).map { $0 * 1000 }, shape: [30, 100, dim])
            func run(_ threads: Int) -> ([Float], [Float]) {
                setNumThreads(threads)
                let w = weight.clone().requiringGrad()
                let y = embedding(idx, weight: w, paddingIdx: 1, scaleGradByFreq: rows == 300)
                y.backward(upstream)
                return (y.toArray(), w.grad!.toArray())
            }
            let one = run(1)
            for t in [2, 4] {
                let other = run(t)
                XCTAssert(one.0 == other.0, "forward \(rows)x\(dim) on \(t) threads")
                XCTAssert(zip(one.1, other.1).allSatisfy { $0.bitPattern == $1.bitPattern }, "backward \(rows)x\(dim) on \(t) threads")
            }
            XCTAssert(one.1[dim..<2 * dim].allSatisfy { $0 == 0 }, "padding row 1 stays zero")
        }
    }

    func testLayerInitPaddingAndTraining() throws {
        let fixture = try Self.fixtures().embedding_init
        let layer = Embedding(1000, 16, paddingIdx: 3)
        let w = layer.weight.toArray().map(Double.init)
        let mean = w.reduce(0, +) / Double(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(w.count - 1)).squareRoot()
        // N(0, 1) over 16,000 draws: PyTorch's own draw is within the same bounds.
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(std, 1, accuracy: 0.03)
        XCTAssertEqual(fixture.mean, 0, accuracy: 0.03)
        XCTAssertEqual(fixture.std, 1, accuracy: 0.03)
        XCTAssertTrue(fixture.padding_row_zero)
        XCTAssertEqual(Array(layer.weight.toArray()[48..<64]), [Float](repeating: 0, count: 16))
        XCTAssertTrue(layer.weight.requiresGrad)

        let small = Embedding(10, 4, paddingIdx: -1)
        XCTAssertEqual(small.paddingIdx, 9)
        XCTAssertEqual(small.description, "Embedding(10, 4, padding_idx=9)")
        XCTAssertEqual(Embedding(5, 2, maxNorm: 1.5, normType: 1).description, "Embedding(5, 2, max_norm=1.5, norm_type=1.0)")
        XCTAssertEqual(Array(small.stateDict().keys), ["weight"])
        // Training never moves the padding row.
        let opt = SGD(small.parameters(), lr: 0.5, momentum: 0.9)
        for _ in 0..<3 {
            let y = small(Tensor([9, 2, 9, 4, 9, 2] as [Int], shape: [2, 3]))
            (y * y).sum().backward()
            opt.step()
            opt.zeroGrad()
        }
        let after = small.weight.toArray()
        XCTAssertEqual(Array(after[36..<40]), [0, 0, 0, 0])

        let pre = Embedding.fromPretrained(Tensor([[1, 2], [3, 4]] as [[Float]]))
        XCTAssertFalse(pre.weight.requiresGrad)
        XCTAssertEqual(pre(Tensor([1, 0, 1] as [Int])).toArray(), [3, 4, 1, 2, 3, 4])
        XCTAssertTrue(Embedding.fromPretrained(Tensor([[1, 2]] as [[Float]]), freeze: false).weight.requiresGrad)
    }

    func testMaxNormBumpsTheWeightVersion() {
        let w = (Tensor(testValues(12), shape: [4, 3]) * 10).requiringGrad()
        let before = w.storage.version
        _ = embedding(Tensor([1, 1, 2] as [Int]), weight: w, maxNorm: 1)
        XCTAssertGreaterThan(w.storage.version, before, "an in-place write")
        for r in [1, 2] {
            let row = w.detach()[r].toArray().map(Double.init)
            XCTAssertLessThanOrEqual(row.map { $0 * $0 }.reduce(0, +).squareRoot(), 1.0 + 1e-6)
        }
        XCTAssertGreaterThan(w.detach()[0].norm().item(), 1.0, "rows not looked up keep their norm")
    }

    func testIndicesChangedBeforeBackwardAreRefused() {
        let w = Tensor.zeros([4, 2]).requiringGrad()
        let idx = Tensor([1, 2] as [Int])
        let y = embedding(idx, weight: w)
        idx.fill_(3)
        assertThrowsMessage("backward: one of the variables needed for gradient computation has been modified by an inplace operation: [int64 [2]], saved by embedding, is at version 1; expected version 0 instead") {
            try y.sum().runBackward()
        }
    }

    func testErrors() {
        let w = Tensor.zeros([10, 3])
        assertThrowsMessage("embedding: index 10 is out of range for an embedding of 10 rows (weight [10, 3]); indices must be in 0..<10") {
            _ = try embeddingChecked(Tensor([1, 10, 2] as [Int]), weight: w, paddingIdx: nil, maxNorm: nil, normType: 2)
        }
        assertThrowsMessage("embedding: index -1 is out of range for an embedding of 10 rows (weight [10, 3]); indices must be in 0..<10") {
            _ = try embeddingChecked(Tensor([-1] as [Int]), weight: w, paddingIdx: nil, maxNorm: nil, normType: 2)
        }
        assertThrowsMessage("embedding: expected int64 indices, got float32 [2]") {
            _ = try embeddingChecked(Tensor([1, 2] as [Float]), weight: w, paddingIdx: nil, maxNorm: nil, normType: 2)
        }
        assertThrowsMessage("embedding: 'weight' must be 2-D, got shape [10]") {
            _ = try embeddingChecked(Tensor([1] as [Int]), weight: Tensor.zeros([10]), paddingIdx: nil, maxNorm: nil, normType: 2)
        }
        assertThrowsMessage("embedding: paddingIdx 10 must be within numEmbeddings (10), i.e. in -10..<10") {
            _ = try embeddingChecked(Tensor([1] as [Int]), weight: w, paddingIdx: 10, maxNorm: nil, normType: 2)
        }
        assertThrowsMessage("embedding: normType must be positive, got 0.0") {
            _ = try embeddingChecked(Tensor([1] as [Int]), weight: w, paddingIdx: nil, maxNorm: 1, normType: 0)
        }
        assertThrowsMessage("embedding: maxNorm renormalises the weight in place: it must be contiguous (shape [3, 10] strides [1, 3])") {
            _ = try embeddingChecked(Tensor([1] as [Int]), weight: w.transposed(), paddingIdx: nil, maxNorm: 1, normType: 2)
        }
    }
}
