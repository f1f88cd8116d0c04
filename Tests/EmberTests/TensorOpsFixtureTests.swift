import Foundation
import XCTest
@testable import Ember

/// Every case of Fixtures/tensor_ops.json (made by scripts/make_tensor_fixtures.py with
/// PyTorch): the same op spelled in Ember must give PyTorch's output and, for float inputs,
/// PyTorch's gradients of L = Σ out·w.
final class TensorOpsFixtureTests: XCTestCase {
    typealias Op = @Sendable ([Tensor]) -> Tensor

    /// The cases, by the fixture's names; each closure mirrors the Python lambda.
    static let ops: [String: Op] = {
        var o: [String: Op] = [:]
        // Views and copies of views
        o["transpose_contiguous"] = { $0[0].transposed(0, 1).contiguous() * 1 }
        o["permute"] = { $0[0].permuted(2, 0, 1) * 1 }
        o["mT_matmul"] = { $0[0].mT.matmul($0[1]) }
        o["narrow_mul"] = { $0[0].narrowed(dim: 1, start: 1, length: 2) * 2 }
        o["select"] = { $0[0].select(dim: 1, index: -1) * 1 }
        o["unfold"] = { $0[0].unfolded(dim: 1, size: 2, step: 1) * 1 }
        o["diagonal"] = { $0[0].diagonal(offset: 1) * 1 }
        o["expand_mul"] = { $0[0].expanded(to: [3, 4]) * $0[1] }
        o["reshape_of_transpose"] = { $0[0].T.reshaped([12]) * 1 }
        o["subscript_slice_step"] = { $0[0][.all, .slice(1, nil, step: 2)] * 1 }
        o["subscript_ellipsis_newaxis"] = { $0[0][..., .newAxis, 0] * 1 }
        o["subscript_mask"] = { $0[0][$0[1]] * 1 }
        o["subscript_index_tensor"] = { $0[0][.all, $0[1]] * 1 }
        o["subscript_two_index_tensors"] = { $0[0][$0[1], $0[2]] * 1 }
        // Joining and rearranging
        o["cat_dim1"] = { Tensor.cat([$0[0], $0[1]], dim: 1) }
        o["cat_transposed"] = { Tensor.cat([$0[0].T, $0[1]], dim: 0) }
        o["stack_dim1"] = { Tensor.stack([$0[0], $0[1]], dim: 1) }
        o["split_sizes"] = { $0[0].split([1, 3], dim: 1)[1] * 1 }
        o["chunk"] = { $0[0].chunk(2, dim: 1)[1] * 1 }
        o["flip"] = { $0[0].flip(0, 2) }
        o["roll"] = { $0[0].roll(1, dims: 1) }
        o["repeat"] = { $0[0].repeated(2, 1, 2) }
        // Indexing
        o["gather"] = { $0[0].gather(dim: 0, index: $0[1]) }
        o["scatter"] = { $0[0].scatter(dim: 1, index: $0[1], src: $0[2]) }
        o["scatter_add"] = { $0[0].scatterAdd(dim: 0, index: $0[1], src: $0[2]) }
        o["index_select"] = { $0[0].indexSelect(dim: 1, index: $0[1]) }
        o["index_add"] = { $0[0].indexAdd(dim: 0, index: $0[1], source: $0[2]) }
        o["masked_fill"] = { $0[0].maskedFill($0[1], value: -1) }
        o["where"] = { Tensor.where($0[0], $0[1], $0[2]) }
        o["sort_desc"] = { $0[0].sort(dim: 1, descending: true).values }
        o["topk"] = { $0[0].topk(2, dim: 0).values }
        o["nonzero"] = { $0[0].nonzero() }
        o["argsort"] = { $0[0].argsort(dim: 1) }
        o["one_hot"] = { $0[0].oneHot(numClasses: 4) }
        // Reductions
        o["sum_dims_keep"] = { $0[0].sum(dims: [0, 2], keepDim: true) }
        o["sum_transposed"] = { $0[0].T.sum(dim: 1) }
        o["mean_dims"] = { $0[0].mean(dims: [1, 2]) }
        o["prod"] = { $0[0].prod(dim: 1) }
        o["prod_with_zero"] = { $0[0].prod(dim: 1) }
        o["amax"] = { $0[0].amax(dims: [0, 1]) }
        o["amin_ties"] = { $0[0].amin(dim: 1) }
        o["max_dim"] = { $0[0].max(dim: 1).values }
        o["min_dim"] = { $0[0].min(dim: 0).values }
        o["argmin"] = { $0[0].argmin(dim: 1) }
        o["var"] = { $0[0].var(dim: 1) }
        o["var_correction0"] = { $0[0].var(dims: [0, 2], correction: 0, keepDim: true) }
        o["std"] = { $0[0].std(dim: 0) }
        o["logsumexp"] = { $0[0].logsumexp(dim: 1) }
        o["cumsum"] = { $0[0].cumsum(dim: 1) }
        o["cumprod"] = { $0[0].cumprod(dim: 1) }
        o["norm2"] = { $0[0].norm(dim: 1) }
        o["norm1"] = { $0[0].norm(p: 1, dim: 0) }
        o["norm3"] = { $0[0].norm(p: 3) }
        o["norm_inf"] = { $0[0].norm(p: .infinity, dim: 1) }
        o["all"] = { $0[0].all(dim: 1) }
        o["any"] = { $0[0].any(dim: 0) }
        o["sum_int64_exact"] = { $0[0].sum() }
        // Elementwise
        let maps: [String: @Sendable (Tensor) -> Tensor] = [
            "sin": { $0.sin() }, "cos": { $0.cos() }, "square": { $0.square() }, "erf": { $0.erf() },
            "expm1": { $0.expm1() }, "sigmoid": { $0.sigmoid() }, "tanh": { $0.tanh() },
            "gelu": { $0.gelu() }, "gelu_tanh": { $0.gelu(approximate: .tanh) }, "silu": { $0.silu() },
            "mish": { $0.mish() }, "softplus": { $0.softplus() },
            "softplus_beta": { $0.softplus(beta: 2, threshold: 3) },
            "leaky_relu": { $0.leakyRelu(negativeSlope: 0.1) }, "elu": { $0.elu() },
            "hardtanh": { $0.hardtanh(minVal: -2, maxVal: 2) }, "sign": { $0.sign() },
            "floor": { $0.floor() }, "ceil": { $0.ceil() }, "round": { $0.round() }, "trunc": { $0.trunc() },
            "rsqrt": { $0.rsqrt() }, "reciprocal": { $0.reciprocal() }, "log1p": { $0.log1p() },
            "log2": { $0.log2() }, "gelu_transposed": { $0.T.gelu() },
        ]
        for (name, f) in maps { o[name] = { f($0[0]) } }
        o["clamp_tensors"] = { $0[0].clamp(min: $0[1], max: $0[2]) }
        o["lerp"] = { $0[0].lerp($0[1], weight: $0[2]) }
        o["addcmul"] = { $0[0].addcmul($0[1], $0[2], value: 0.5) }
        o["isfinite"] = { $0[0].isfinite() }
        o["logical_xor"] = { $0[0].logicalXor($0[1]) }
        // Linear algebra
        o["matmul_batched_broadcast"] = { $0[0].matmul($0[1]) }
        o["matmul_vec_mat"] = { $0[0].matmul($0[1]) }
        o["matmul_dot"] = { $0[0].matmul($0[1]) }
        o["bmm_transposed"] = { $0[0].bmm($0[1].transposed(1, 2)) }
        o["outer"] = { $0[0].outer($0[1]) }
        // Creation and promotion
        o["tril"] = { $0[0].tril() }
        o["triu_k1"] = { $0[0].triu(1) }
        o["linspace"] = { _ in Tensor.linspace(-1, 2, steps: 7) }
        o["arange_float"] = { _ in Tensor.arange(0.0, 1.0, step: 0.3) }
        o["eye"] = { _ in Tensor.eye(3, 4) }
        o["int_plus_float"] = { $0[0] + $0[1] }
        o["int_true_div"] = { $0[0] / $0[1] }
        return o
    }()

    struct Fixture: Decodable {
        struct Value: Decodable {
            let shape: [Int]
            let dtype: String
            let values: [Double]
        }
        struct Case: Decodable {
            let name: String
            let inputs: [Value]
            let output: Value
            let weights: [Double]?
            let grads: [[Double]?]?
        }
        let torch: String
        let cases: [Case]
    }

    static func load(_ name: String = "tensor_ops") throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"))
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try decoder.decode(Fixture.self, from: Data(contentsOf: url))
    }

    static func make(_ v: Fixture.Value) -> Tensor {
        switch v.dtype {
        case "float32": return Tensor(v.values, shape: v.shape)
        case "int64": return Tensor(v.values.map { Int($0) }, shape: v.shape)
        case "bool": return Tensor(v.values.map { $0 != 0 }, shape: v.shape)
        default: fatalError("fixture dtype \(v.dtype)")
        }
    }

    func testEveryCaseMatchesPyTorch() throws {
        try Self.checkAgainstPyTorch(try Self.load(), Self.ops)
    }

    /// Every case of `fixture` run through `ops` (keyed by case name) against PyTorch's
    /// output and gradients.
    /// Every case's output and gradients against PyTorch's; and every case's output is freed
    /// with its last reference (no op's graph keeps its own output in a reference cycle).
    static func checkAgainstPyTorch(_ fixture: Fixture, _ ops: [String: Op], file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(Set(fixture.cases.map(\.name)), Set(ops.keys), "fixture cases and Ember ops differ", file: file, line: line)
        for c in fixture.cases {
            guard let op = ops[c.name] else { continue }
            weak var probe: Tensor?
            try {
                let inputs = c.inputs.map(Self.make)
                for (t, v) in zip(inputs, c.inputs) where v.dtype == "float32" && c.grads != nil { t.requiresGrad = true }
                let out = op(inputs)
                probe = out
                XCTAssertEqual(out.shape, c.output.shape, "\(c.name): shape", file: file, line: line)
                XCTAssertEqual(out.dtype.rawValue, c.output.dtype, "\(c.name): dtype", file: file, line: line)
                assertClose(doubles(out), c.output.values, atol: 1e-5, rtol: 1e-5, "\(c.name): values", file: file, line: line)
                guard let grads = c.grads, let w = c.weights else { return }
                (out * Tensor(w, shape: out.shape)).sum().backward()
                for (i, g) in grads.enumerated() {
                    guard let g else { continue }
                    let got = try XCTUnwrap(inputs[i].grad, "\(c.name): input \(i) got no gradient", file: file, line: line)
                    assertClose(doubles(got), g, atol: 1e-5, rtol: 1e-4, "\(c.name): gradient of input \(i)", file: file, line: line)
                }
            }()
            XCTAssertNil(probe, "\(c.name): the output outlived its last reference (a cycle through its graph)", file: file, line: line)
        }
    }

    /// The exact GELU and its fused backward (their own erfc, not libm's erff) against float64
    /// on [−12, 12] (beyond, GELU is 0 or x to float precision): relative error ≤ 1e-6, the
    /// derivative's measured against its two terms Φ(x) and x·φ(x) (it crosses 0 near −0.75).
    func testExactGELUAgainstFloat64OverItsRange() {
        let xs = (-1200...1200).map { Float($0) / 100 }
        let x = Tensor(xs, shape: [xs.count])
        x.requiresGrad = true
        let y = x.gelu()
        y.sum().backward()
        let values = y.toArray(), grads = x.grad!.toArray()
        for (i, xf) in xs.enumerated() {
            let v = Double(xf)
            let cdf = 0.5 * Foundation.erfc(-v / 2.0.squareRoot()), pdf = Foundation.exp(-v * v / 2) / (2 * Double.pi).squareRoot()
            XCTAssertLessThanOrEqual(abs(Double(values[i]) - v * cdf), 1e-6 * abs(v * cdf), "gelu(\(v))")
            XCTAssertLessThanOrEqual(abs(Double(grads[i]) - (cdf + v * pdf)), 1e-6 * (cdf + abs(v * pdf)), "gelu'(\(v))")
        }
    }

    /// Central differences of Ember's own float32 forward against its autograd, for every
    /// smooth case: catches a backward that is wrong in the same way as nothing else.
    func testFiniteDifferenceGradients() throws {
        let nonSmooth: Set<String> = ["sign", "floor", "ceil", "round", "trunc", "hardtanh", "leaky_relu", "elu",
                                      "clamp_tensors", "sort_desc", "topk", "max_dim", "min_dim", "amax", "amin_ties",
                                      "norm_inf", "norm1", "masked_fill", "where", "prod_with_zero", "cumprod"]
        try Self.checkFiniteDifferences(try Self.load(), Self.ops, skipping: nonSmooth)
    }

    /// Ember's autograd against central differences (step `h`) of its own forward, for every
    /// case of `fixture` with gradients whose name is not in `skipping`.
    static func checkFiniteDifferences(_ fixture: Fixture, _ ops: [String: Op], skipping nonSmooth: Set<String>,
                                       h: Double = 1e-2, tolerance: Double = 2e-2,
                                       file: StaticString = #filePath, line: UInt = #line) throws {
        for c in fixture.cases where c.grads != nil && !nonSmooth.contains(c.name) {
            guard let op = ops[c.name] else { continue }
            let base = c.inputs.map(Self.make)
            let w = Tensor(c.weights!, shape: c.output.shape)
            for (i, v) in c.inputs.enumerated() where v.dtype == "float32" {
                let inputs = base.map { $0.clone() }
                inputs[i].requiresGrad = true
                (op(inputs) * w).sum().backward()
                let analytic = doubles(try XCTUnwrap(inputs[i].grad, file: file, line: line))
                var values = v.values
                var numeric: [Double] = []
                for j in values.indices {
                    let x0 = values[j]
                    func loss(_ x: Double) -> Double {
                        values[j] = x
                        var args = base
                        args[i] = Tensor(values, shape: v.shape)
                        return noGrad { (op(args) * w).sum().item() }
                    }
                    numeric.append((loss(x0 + h) - loss(x0 - h)) / (2 * h))
                    values[j] = x0
                }
                assertClose(analytic, numeric, atol: tolerance, rtol: tolerance, "\(c.name): finite differences of input \(i)", file: file, line: line)
            }
        }
    }
}
