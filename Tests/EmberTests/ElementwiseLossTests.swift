import Foundation
import XCTest
@testable import Ember

/// l1Loss, smoothL1Loss, huberLoss, binaryCrossEntropy, binaryCrossEntropyWithLogits and klDiv
/// (and their modules) against PyTorch (Fixtures/losses.json, by scripts/make_loss_fixtures.py):
/// every reduction's value and the input's gradient, the edge inputs the script lists, and
/// how the modules print; then the errors.
final class ElementwiseLossTests: XCTestCase {
    struct Case: Decodable {
        let name: String
        let input, target: [Double]
        let none, sum, mean: [Double]
        let grad_none, grad_sum, grad_mean: [Double]
        let batchmean, grad_batchmean: [Double]?
    }
    struct File: Decodable {
        let shape: [Int]; let g, weight, pos_weight: [Double]; let cases: [Case]; let reprs: [String]
    }

    func testValuesAndGradientsMatchPyTorch() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "losses", withExtension: "json", subdirectory: "Fixtures"))
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        func tensor(_ v: [Double]) -> Tensor { Tensor(v.map(Float.init), shape: v.count == 4 ? [4] : file.shape) }
        let weight = tensor(file.weight), posWeight = tensor(file.pos_weight)
        let losses: [String: (Tensor, Tensor, Reduction) -> Tensor] = [
            "l1": { l1Loss($0, $1, reduction: $2) },
            "smooth_l1": { smoothL1Loss($0, $1, reduction: $2) },
            "smooth_l1_beta_0.5": { smoothL1Loss($0, $1, reduction: $2, beta: 0.5) },
            "smooth_l1_beta_0": { smoothL1Loss($0, $1, reduction: $2, beta: 0) },
            "huber": { huberLoss($0, $1, reduction: $2) },
            "huber_delta_0.5": { huberLoss($0, $1, reduction: $2, delta: 0.5) },
            "bce": { binaryCrossEntropy($0, $1, reduction: $2) },
            "bce_weight": { binaryCrossEntropy($0, $1, weight: weight, reduction: $2) },
            "bce_logits": { binaryCrossEntropyWithLogits($0, $1, reduction: $2) },
            "bce_logits_weights": { binaryCrossEntropyWithLogits($0, $1, weight: weight, posWeight: posWeight, reduction: $2) },
        ]
        XCTAssertEqual(Set(file.cases.filter { !$0.name.hasPrefix("kl_div") }.map(\.name)), Set(losses.keys),
                       "every loss is checked")
        for c in file.cases where !c.name.hasPrefix("kl_div") {
            let loss = try XCTUnwrap(losses[c.name])
            for (reduction, want, wantGrad) in [(Reduction.none, c.none, c.grad_none), (.sum, c.sum, c.grad_sum),
                                                (.mean, c.mean, c.grad_mean)] {
                let x = tensor(c.input).requiringGrad()
                let y = loss(x, tensor(c.target), reduction)
                XCTAssertEqual(y.shape, reduction == .none ? file.shape : [], "\(c.name) \(reduction)")
                assertClose(y.toArray().map(Double.init), want, atol: 1e-6, rtol: 1e-5, "\(c.name) \(reduction): loss")
                (reduction == .none ? (y * tensor(file.g)).sum() : y).backward()
                assertClose(try XCTUnwrap(x.grad).toArray().map(Double.init), wantGrad, atol: 1e-6, rtol: 1e-5,
                            "\(c.name) \(reduction): gradient")
            }
        }
        // kl_div, with its own reductions, the target as probabilities (one of them 0) or logs.
        for c in file.cases where c.name.hasPrefix("kl_div") {
            let logTarget = c.name == "kl_div_log_target"
            let cases: [(KLDivReduction, [Double], [Double])] = [
                (.none, c.none, c.grad_none), (.sum, c.sum, c.grad_sum), (.mean, c.mean, c.grad_mean),
                (.batchMean, try XCTUnwrap(c.batchmean), try XCTUnwrap(c.grad_batchmean)),
            ]
            for (reduction, want, wantGrad) in cases {
                let x = tensor(c.input).requiringGrad()
                let y = KLDivLoss(reduction: reduction, logTarget: logTarget)(x, tensor(c.target))
                assertClose(y.toArray().map(Double.init), want, atol: 1e-6, rtol: 1e-5, "\(c.name) \(reduction): loss")
                (reduction == .none ? (y * tensor(file.g)).sum() : y).backward()
                assertClose(try XCTUnwrap(x.grad).toArray().map(Double.init), wantGrad, atol: 1e-6, rtol: 1e-5,
                            "\(c.name) \(reduction): gradient")
            }
        }
        // The modules run the same functions and print as PyTorch's.
        XCTAssertEqual([L1Loss().description, SmoothL1Loss().description, HuberLoss().description,
                        BCELoss().description, BCEWithLogitsLoss().description, KLDivLoss().description], file.reprs)
        let c = try XCTUnwrap(file.cases.first { $0.name == "bce_logits_weights" })
        let module = BCEWithLogitsLoss(weight: weight, reduction: .sum, posWeight: posWeight)
        assertClose(module(tensor(c.input), tensor(c.target)).toArray().map(Double.init), c.sum, atol: 1e-6, rtol: 1e-5,
                    "BCEWithLogitsLoss module")
    }

    /// Logits of ±1000, where a sigmoid followed by a log would give inf or NaN: the loss is
    /// |x| when the label is wrong and ~0 when it is right, and the gradient σ(x) − t.
    func testLogitsLossIsStableAtLargeLogits() {
        let x = Tensor([-1000, -60, 60, 1000] as [Float]).requiringGrad()
        let t = Tensor([1, 0, 1, 0] as [Float])
        let y = binaryCrossEntropyWithLogits(x, t, reduction: .none)
        assertClose(y.toArray().map(Double.init), [1000, 0, 0, 1000], atol: 1e-20, rtol: 0, "loss")
        y.sum().backward()
        assertClose(x.grad!.toArray().map(Double.init), [-1, 0, 0, 1], atol: 1e-20, rtol: 0, "gradient")
    }

    func testErrors() {
        let a = Tensor.zeros([2, 3]), b = Tensor.zeros([3, 2])
        assertThrowsMessage("l1_loss: input shape [2, 3] and target shape [3, 2] differ") {
            try checkElementwiseLoss(a, b, op: "l1_loss")
        }
        assertThrowsMessage("binary_cross_entropy: all elements of target should be between 0 and 1 (2 are not)") {
            try checkProbabilities(Tensor([1.5, -0.2] as [Float]), named: "target", op: "binary_cross_entropy")
        }
        assertThrowsMessage("binary_cross_entropy: all elements of input should be between 0 and 1 (1 are not)") {
            try checkProbabilities(Tensor([0.5, 1.5] as [Float]), op: "binary_cross_entropy")
        }
        assertThrowsMessage("mse_loss: expected float32 but got int64") {
            try checkElementwiseLoss(a, Tensor([0, 1, 2, 3, 4, 5], shape: [2, 3]), op: "mse_loss")
        }
    }
}
