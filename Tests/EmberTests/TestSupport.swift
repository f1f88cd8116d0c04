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

/// The same bit patterns (NaN payloads and the sign of zero included) in both arrays. A
/// failure says how many elements differ and shows the first, not both whole arrays.
func assertSameBits(_ got: [UInt32], _ want: [UInt32], _ what: @autoclosure () -> String = "",
                    file: StaticString = #filePath, line: UInt = #line) {
    guard got.count == want.count else {
        XCTFail("\(what()): \(got.count) values, expected \(want.count)", file: file, line: line)
        return
    }
    let differing = got.indices.filter { got[$0] != want[$0] }
    guard let i = differing.first else { return }
    let (g, w) = (Float(bitPattern: got[i]), Float(bitPattern: want[i]))
    XCTFail("\(what()): \(differing.count) of \(got.count) values differ; the first, [\(i)], is \(g) "
            + "(0x\(String(got[i], radix: 16))), expected \(w) (0x\(String(want[i], radix: 16)))", file: file, line: line)
}

func assertSameBits(_ got: [Float], _ want: [Float], _ what: @autoclosure () -> String = "",
                    file: StaticString = #filePath, line: UInt = #line) {
    assertSameBits(got.map(\.bitPattern), want.map(\.bitPattern), what(), file: file, line: line)
}

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
    let numeric = centralDifferences(values) { x in zip(reference(x), w).reduce(0) { $0 + $1.0 * $1.1 } }
    for (i, t) in inputs.enumerated() {
        guard let g = t.grad else {
            XCTFail("input \(i) got no gradient", file: file, line: line)
            continue
        }
        XCTAssertEqual(g.shape, t.shape, file: file, line: line)
        assertClose(doubles(g), numeric[i], atol: atol, rtol: rtol, "gradient of input \(i)", file: file, line: line)
    }
}

/// ∂f/∂values[i][j] by central differences (f(v+h) − f(v−h)) / 2h, h = 1e-6, for a scalar f
/// computed in Double: accurate to ~1e-9, the reference for every gradient check.
func centralDifferences(_ values: [[Double]], _ f: ([[Double]]) -> Double) -> [[Double]] {
    let h = 1e-6
    var x = values
    return values.indices.map { i in
        values[i].indices.map { j in
            let v = x[i][j]
            x[i][j] = v + h
            let up = f(x)
            x[i][j] = v - h
            let down = f(x)
            x[i][j] = v
            return (up - down) / (2 * h)
        }
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

/// A test case whose tests may change the kernel settings (the CPU path, the thread count,
/// the parallel threshold): each test's settings are put back afterwards.
class KernelSettingsTestCase: XCTestCase {
    let savedThreshold = parallelThreshold
    let savedPath = cpuCapability

    override func tearDown() {
        setCPUCapability(savedPath)
        Kernels.setGemmBlocking(mc: 0, nc: 0, kc: 0)
        setNumThreads(numCores())
        parallelThreshold = savedThreshold
        super.tearDown()
    }
}
