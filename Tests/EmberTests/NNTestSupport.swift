import XCTest
@testable import Ember

/// Models shared by the nn, optim and serialization tests, nested in a namespace so their
/// type names (which `print(model)` shows) cannot clash with other test files.
enum NNModels {
    // NeuralNetwork, the seed's model, is in SeedModel.swift (public API only).

    /// The same architecture shrunk to 12 → 8 → 8 → 3 (scripts/make_fixtures.py).
    final class TinyNetwork: Module {
        let flatten = Flatten()
        let linearReluStack: Sequential

        init(generator: Generator = .default) {
            linearReluStack = Sequential(Linear(12, 8, generator: generator), ReLU(), Linear(8, 8, generator: generator),
                                         ReLU(), Linear(8, 3, generator: generator))
        }

        override func forward(_ x: Tensor) -> Tensor { linearReluStack(flatten(x)) }
    }
}

/// Finite differences in Double precision against autograd.
///
/// `ember` computes a scalar from the inputs with Ember (float32); `reference` computes the
/// same scalar in Double from the inputs' values. The check asserts
/// (1) the forward values agree, and (2) each element of each input's autograd gradient agrees
/// with the central difference of the Double reference (`centralDifferences`):
/// |autograd − fd| ≤ atol + rtol·|fd|. Because the reference is Double, the difference is
/// accurate to ~1e-9 and the tolerance only has to absorb Ember's float32 rounding.
func checkGradients(_ inputs: [Tensor], atol: Double = 2e-5, rtol: Double = 1e-3,
                    file: StaticString = #filePath, line: UInt = #line,
                    ember: ([Tensor]) -> Tensor, reference: ([[Double]]) -> Double) {
    for t in inputs { t.grad = nil; t.requiresGrad = true }
    let out = ember(inputs)
    XCTAssertEqual(out.count, 1, "ember must return a scalar", file: file, line: line)
    out.backward()
    let values = inputs.map(doubles)
    let f0 = reference(values)
    XCTAssertEqual(out.item(), f0, accuracy: atol + 1e-5 * Swift.abs(f0), "forward", file: file, line: line)
    let numeric = centralDifferences(values, reference)
    for k in inputs.indices {
        guard let grad = inputs[k].grad?.toArray() else {
            XCTFail("input \(k) got no gradient", file: file, line: line)
            continue
        }
        for (j, fd) in numeric[k].enumerated() {
            XCTAssertEqual(Double(grad[j]), fd, accuracy: atol + rtol * Swift.abs(fd),
                           "input \(k) element \(j)", file: file, line: line)
        }
    }
}

/// A 2-D view of row-major values.
func rows(_ v: [Double], _ cols: Int) -> [[Double]] {
    stride(from: 0, to: v.count, by: cols).map { Array(v[$0..<($0 + cols)]) }
}

func logSoftmaxRow(_ x: [Double]) -> [Double] {
    let m = x.max()!
    let lse = m + Foundation.log(x.map { Foundation.exp($0 - m) }.reduce(0, +))
    return x.map { $0 - lse }
}
