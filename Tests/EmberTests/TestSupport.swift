import XCTest
@testable import Ember

/// Deterministic pseudo-random Doubles in [-1, 1) for test inputs (independent of Ember's
/// generator, so a generator bug cannot hide a kernel bug).
func testValues(_ n: Int, seed: UInt64 = 42) -> [Double] {
    var s = seed
    return (0..<n).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Double(Int64(bitPattern: s >> 11) % 2_000_000) / 1_000_000 - 1
    }
}

func tensor(_ values: [Double], _ shape: [Int]) -> Tensor { Tensor(values, shape: shape) }

/// |a - b| <= atol + rtol·|b| for every element, with the worst element in the message.
func assertClose(_ a: [Double], _ b: [Double], atol: Double = 1e-5, rtol: Double = 1e-4,
                 _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what): counts differ", file: file, line: line)
    for i in 0..<min(a.count, b.count) {
        if !(abs(a[i] - b[i]) <= atol + rtol * abs(b[i])) {
            XCTFail("\(what): element \(i): \(a[i]) vs expected \(b[i])", file: file, line: line)
            return
        }
    }
}

func doubles(_ t: Tensor) -> [Double] { t.toArray().map(Double.init) }

/// Checks autograd against central finite differences of a double-precision reference.
///
/// The scalar checked is L = Σ_k w_k · f(x)_k with fixed weights w, so every output element
/// contributes. `reference` computes f in Double from the inputs' values; the numerical
/// gradient of L is (L(x+h) - L(x-h)) / 2h per input element. Ember computes in float32, so
/// tolerances are float-sized, while the reference gradient is exact to ~1e-9.
func gradCheck(_ inputs: [Tensor], atol: Double = 2e-3, rtol: Double = 2e-3,
               file: StaticString = #filePath, line: UInt = #line,
               ember: ([Tensor]) -> Tensor, reference: ([[Double]]) -> [Double]) {
    for t in inputs { t.requiresGrad = true; t.grad = nil }
    let out = ember(inputs)
    let values = inputs.map(doubles)
    let refOut = reference(values)
    assertClose(doubles(out), refOut, atol: 1e-4, rtol: 1e-4, "forward", file: file, line: line)
    let w = testValues(refOut.count, seed: 7).map { $0 + 1.5 }   // nonzero weights
    (out * Tensor(w, shape: out.shape)).sum().backward()
    let h = 1e-6
    for (i, t) in inputs.enumerated() {
        var numeric = [Double](repeating: 0, count: t.count)
        var x = values
        for j in 0..<t.count {
            let orig = x[i][j]
            x[i][j] = orig + h
            let up = zip(reference(x), w).reduce(0) { $0 + $1.0 * $1.1 }
            x[i][j] = orig - h
            let down = zip(reference(x), w).reduce(0) { $0 + $1.0 * $1.1 }
            x[i][j] = orig
            numeric[j] = (up - down) / (2 * h)
        }
        guard let g = t.grad else {
            XCTFail("input \(i) got no gradient", file: file, line: line)
            continue
        }
        XCTAssertEqual(g.shape, t.shape, file: file, line: line)
        assertClose(doubles(g), numeric, atol: atol, rtol: rtol, "gradient of input \(i)", file: file, line: line)
    }
}

/// Expects a throwing validation to fail with exactly `message`.
func assertThrowsMessage(_ message: String, file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected an error: \(message)", file: file, line: line)
    } catch {
        XCTAssertEqual("\(error)", message, file: file, line: line)
    }
}
