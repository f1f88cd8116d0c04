import Foundation
import XCTest
@testable import Ember

/// clipGradNorm_ and clipGradValue_ against PyTorch's clip_grad_norm_ / clip_grad_value_
/// (Fixtures/transformer_util.json): the returned total norm and the clipped gradients for
/// norms 2, 1 and ∞, clipping and not; the non-finite error; thread-count independence.
final class GradClippingTests: XCTestCase {
    struct Clip: Decodable {
        let norm_type: String, max_norm: Double
        let shapes: [[Int]], grads: [[Double]]
        let total_norm: Double, clipped: [[Double]]
    }
    struct Value: Decodable { let clip_value: Double; let grads, clipped: [[Double]] }
    struct File: Decodable { let clip_grad_norm: [Clip]; let clip_grad_value: Value }

    static func fixtures() throws -> File {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "transformer_util", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
    }

    override func tearDown() { setNumThreads(numCores()) }

    func testClipGradNormMatchesPyTorch() throws {
        let cases = try Self.fixtures().clip_grad_norm
        XCTAssertEqual(cases.count, 6)
        for c in cases {
            let what = "p=\(c.norm_type) max=\(c.max_norm)"
            let params = c.shapes.map { Tensor.zeros($0).requiringGrad() }
            for (p, (g, s)) in zip(params, zip(c.grads, c.shapes)) { p.grad = Tensor(g, shape: s) }
            let noGrad = Tensor.zeros([3]).requiringGrad()   // skipped, as in PyTorch
            let total = clipGradNorm_(params + [noGrad], maxNorm: c.max_norm, normType: Double(c.norm_type)!)
            XCTAssertEqual(total.shape, [])
            XCTAssertEqual(total.item(), c.total_norm, accuracy: 1e-6 * c.total_norm, what)
            for (p, want) in zip(params, c.clipped) { assertClose(doubles(p.grad!), want, atol: 1e-7, rtol: 1e-6, what) }
            XCTAssertNil(noGrad.grad)
            if c.max_norm > c.total_norm {
                XCTAssertEqual(doubles(params[0].grad!), c.grads[0].map { Double(Float($0)) }, "coefficient clamped to 1: \(what)")
            }
        }
        XCTAssertEqual(clipGradNorm_([Tensor.zeros([2]).requiringGrad()], maxNorm: 1).item(), 0, "no gradients: 0")
    }

    func testClipGradValueMatchesPyTorch() throws {
        let c = try Self.fixtures().clip_grad_value
        let params = c.grads.map { Tensor($0, shape: [$0.count]).requiringGrad() }
        for p in params { p.grad = p.detach().clone() }
        clipGradValue_(params, clipValue: c.clip_value)
        for (p, want) in zip(params, c.clipped) { assertClose(doubles(p.grad!), want, atol: 0, rtol: 0, "clip_grad_value_") }
    }

    func testNonFiniteNorm() throws {
        let p = Tensor.zeros([3]).requiringGrad()
        p.grad = Tensor([1, Float.infinity, 2])
        assertThrowsMessage("clip_grad_norm_: The total norm of order 2.0 for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set `errorIfNonfinite: false`") {
            _ = try clipGradNorm_([p], maxNorm: 1, errorIfNonfinite: true)
        }
        XCTAssertEqual(p.grad!.toArray()[0], 1, "nothing scaled when it throws")
        let total = clipGradNorm_([p], maxNorm: 1)
        XCTAssertEqual(total.item(), .infinity)
        // PyTorch: coef = 1 / (inf + 1e-6) = 0, so finite entries become 0 and inf · 0 is NaN.
        let g = p.grad!.toArray()
        XCTAssertEqual(g[0], 0)
        XCTAssertTrue(g[1].isNaN)
    }

    func testSameBitsOnOneTwoFourThreads() throws {
        let saved = parallelThreshold
        defer { parallelThreshold = saved }
        parallelThreshold = 1
        func run(_ threads: Int) throws -> [Float] {
            setNumThreads(threads)
            let ps = [Tensor.zeros([300, 70]).requiringGrad(), Tensor.zeros([5000]).requiringGrad()]
            ps[0].grad = Tensor(testValues(21000, seed: 2), shape: [300, 70])
            ps[1].grad = Tensor(testValues(5000, seed: 4), shape: [5000])
            let total = clipGradNorm_(ps, maxNorm: 0.5)
            return [Float(total.item())] + ps[0].grad!.toArray() + ps[1].grad!.toArray()
        }
        let one = try run(1)
        for t in [2, 4] { XCTAssert(try run(t) == one, "\(t) threads") }
    }
}
