import XCTest
@testable import Ember

/// Every C kernel against a naive Swift reference at sizes 1, 7, 63, 64, 65 and 1000
/// (around the 64-element vector and block boundaries, and one large size).
final class KernelTests: XCTestCase {
    let sizes = [1, 7, 63, 64, 65, 1000]
    let savedThreshold = parallelThreshold

    override func setUp() {
        // Exercise the parallel paths too: a threshold of 1 forks for every size.
        parallelThreshold = 1
        setNumThreads(2)
    }
    override func tearDown() {
        parallelThreshold = savedThreshold
        setNumThreads(numCores())
    }

    func floats(_ n: Int, seed: UInt64) -> Tensor { Tensor(testValues(n, seed: seed), shape: [n]) }

    /// Naive row-major C = op(A)·op(B) in Double.
    func naiveGemm(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, ta: Bool, tb: Bool) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let x = ta ? a[p * m + i] : a[i * k + p]
                    let y = tb ? b[j * k + p] : b[p * n + j]
                    s += Double(x) * Double(y)
                }
                c[i * n + j] = s
            }
        }
        return c
    }

    func testSgemmAllTransposesAndSizes() {
        // Each size in each of M, N, K with the other two at 65 and 63 (a 1000³ naive
        // product would take too long in a debug build).
        var shapes: [(Int, Int, Int)] = []
        for s in sizes { shapes += [(s, 65, 63), (63, s, 65), (65, 63, s)] }
        // Large enough to be cut in blocks of columns (N > 2M over a long K; M < 32) — the
        // shapes above are all cut in rows.
        shapes += [(33, 130, 300), (7, 1000, 65)]
        for (m, n, k) in shapes {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = testValues(m * k, seed: UInt64(m + n)).map(Float.init)
                    let b = testValues(k * n, seed: UInt64(k + 3)).map(Float.init)
                    var c = [Float](repeating: .nan, count: m * n)   // beta 0 must ignore NaN garbage
                    Kernels.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: a, lda: ta ? m : k,
                                  b: b, ldb: tb ? k : n, beta: 0, c: &c, ldc: n)
                    let ref = naiveGemm(a, b, m: m, n: n, k: k, ta: ta, tb: tb)
                    assertClose(c.map(Double.init), ref, atol: 1e-4, rtol: 1e-4, "sgemm \(m)x\(n)x\(k) ta=\(ta) tb=\(tb)")
                }
            }
        }
    }

    func testSgemmAlphaBeta() {
        let (m, n, k) = (7, 65, 64)
        let a = testValues(m * k, seed: 1).map(Float.init), b = testValues(k * n, seed: 2).map(Float.init)
        let c0 = testValues(m * n, seed: 3).map(Float.init)
        var c = c0
        Kernels.sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 0.5, a: a, lda: k, b: b, ldb: n,
                      beta: 2, c: &c, ldc: n)
        let ref = naiveGemm(a, b, m: m, n: n, k: k, ta: false, tb: false)
        assertClose(c.map(Double.init), (0..<(m * n)).map { 0.5 * ref[$0] + 2 * Double(c0[$0]) }, atol: 1e-4, "alpha/beta")
    }

    func testLinearForwardBlockedBothWays() {
        // (40, 300 → 130) is cut in column blocks, (64, 65 → 65) in row blocks: the fused bias
        // and the relu epilogue must land on the right elements either way.
        for (n, inF, outF) in [(40, 300, 130), (64, 65, 65)] {
            let x = testValues(n * inF, seed: 12).map(Float.init), w = testValues(outF * inF, seed: 13).map(Float.init)
            let bias = testValues(outF, seed: 14).map(Float.init)
            let ref = naiveGemm(x, w, m: n, n: outF, k: inF, ta: false, tb: true)
            let want = (0..<(n * outF)).map { ref[$0] + Double(bias[$0 % outF]) }
            for relu in [false, true] {
                var y = [Float](repeating: .nan, count: n * outF)
                Kernels.linearForward(&y, x, w, bias, n: n, inFeatures: inF, outFeatures: outF, relu: relu)
                assertClose(y.map(Double.init), relu ? want.map { max($0, 0) } : want, atol: 1e-4,
                            "linear \(n)x\(inF)->\(outF) relu=\(relu)")
            }
            XCTAssertTrue(want.contains { $0 < -0.01 } && want.contains { $0 > 0.01 }, "both signs occur")
        }
        // No inputs: the output is relu(bias).
        var y = [Float](repeating: .nan, count: 6)
        Kernels.linearForward(&y, [], [], [-1, 2, 0], n: 2, inFeatures: 0, outFeatures: 3, relu: true)
        XCTAssertEqual(y, [0, 2, 0, 0, 2, 0])
    }

    func testLinearBackward() {
        // (64, 65 → 65) is large enough for dinp and dweight to run side by side; (7, 65 → 65)
        // runs them one after the other; the last case needs dweight only (a first layer).
        for (n, inF, outF, needInput) in [(64, 65, 65, true), (7, 65, 65, true), (64, 65, 65, false)] {
            let dout = testValues(n * outF, seed: 15).map(Float.init)
            let x = testValues(n * inF, seed: 16).map(Float.init), w = testValues(outF * inF, seed: 17).map(Float.init)
            var dx = [Float](repeating: .nan, count: n * inF), dw = [Float](repeating: .nan, count: outF * inF)
            dout.withUnsafeBufferPointer { pd in x.withUnsafeBufferPointer { px in w.withUnsafeBufferPointer { pw in
                dx.withUnsafeMutableBufferPointer { pdx in dw.withUnsafeMutableBufferPointer { pdw in
                    Kernels.linearBackward(dInput: needInput ? pdx.baseAddress! : nil, dWeight: pdw.baseAddress!,
                                           dOut: pd.baseAddress!, input: px.baseAddress!, weight: pw.baseAddress!,
                                           n: n, inFeatures: inF, outFeatures: outF)
                } }
            } } }
            let label = "linear backward \(n)x\(inF)->\(outF)"
            assertClose(dw.map(Double.init), naiveGemm(dout, x, m: outF, n: inF, k: n, ta: true, tb: false),
                        atol: 1e-4, label + " dweight")
            if needInput {
                assertClose(dx.map(Double.init), naiveGemm(dout, w, m: n, n: inF, k: outF, ta: false, tb: false),
                            atol: 1e-4, label + " dinp")
            } else {
                XCTAssertTrue(dx.allSatisfy(\.isNaN), label + ": dinp was not asked for and must stay untouched")
            }
        }
    }

    func testLinearForwardAndBiasBackward() {
        for n in sizes {
            let (inF, outF) = (65, n == 1000 ? 130 : n)
            let x = testValues(7 * inF, seed: 4).map(Float.init), w = testValues(outF * inF, seed: 5).map(Float.init)
            let bias = testValues(outF, seed: 6).map(Float.init)
            var y = [Float](repeating: .nan, count: 7 * outF)
            Kernels.linearForward(&y, x, w, bias, n: 7, inFeatures: inF, outFeatures: outF)
            let ref = naiveGemm(x, w, m: 7, n: outF, k: inF, ta: false, tb: true)
            assertClose(y.map(Double.init), (0..<(7 * outF)).map { ref[$0] + Double(bias[$0 % outF]) }, atol: 1e-4, "linear out=\(outF)")
            // bias gradient: column sums of dout (rows = n)
            let dout = testValues(n * 65, seed: 8).map(Float.init)
            var db = [Float](repeating: 1, count: 65)
            Kernels.biasBackward(&db, dout, n: n, outFeatures: 65, accumulate: true)
            let colSums = (0..<65).map { j in (0..<n).reduce(0.0) { $0 + Double(dout[$1 * 65 + j]) } }
            assertClose(db.map(Double.init), colSums.map { $0 + 1 }, atol: 1e-4, "bias backward n=\(n)")
        }
    }

    func testReluForwardBackward() {
        for n in sizes {
            let x = floats(n, seed: 9), g = floats(n, seed: 10)
            let y = x.relu()
            XCTAssertEqual(y.toArray(), x.toArray().map { max($0, 0) }, "relu n=\(n)")
            let dx = Tensor(empty: [n])
            Kernels.reluBackward(dx.f32, g.f32, y.f32, n)
            XCTAssertEqual(dx.toArray(), (0..<n).map { y.toArray()[$0] > 0 ? g.toArray()[$0] : 0 })
        }
    }

    func testSoftmaxCrossEntropyKernel() {
        for n in sizes {
            let c = n == 1000 ? 10 : max(n, 2)
            let rows = n == 1000 ? 100 : 3
            let x = Tensor(testValues(rows * c, seed: 11).map { $0 * 20 }, shape: [rows, c])   // large logits: stability
            let t = Tensor((0..<rows).map { ($0 * 7) % c })
            let loss = crossEntropy(x, t, reduction: .none)
            let xs = doubles(x)
            let ref = (0..<rows).map { i -> Double in
                let row = xs[(i * c)..<(i * c + c)], m = row.max()!
                return m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +)) - row[i * c + (i * 7) % c]
            }
            assertClose(doubles(loss), ref, atol: 1e-4, rtol: 1e-5, "cross-entropy c=\(c)")
            let p = x.softmax(dim: 1)
            for i in 0..<rows {
                XCTAssertEqual(doubles(p)[(i * c)..<(i * c + c)].reduce(0, +), 1, accuracy: 1e-5)
            }
        }
    }

    /// The softmax kernels use their own vectorised exp: check it across the float range and
    /// at the edges (-inf → 0, overflow-free for huge logits, NaN propagates).
    func testSoftmaxExpAcrossTheRangeAndEdges() {
        // Row-wise softmax of [x, 0] is the logistic function of x, known in closed form.
        let xs = stride(from: -80.0, through: 80.0, by: 0.37).map { $0 }
        let pairs = Tensor(xs.flatMap { [$0, 0] }, shape: [xs.count, 2])
        let p = doubles(pairs.softmax(dim: 1))
        for (i, x) in xs.enumerated() {
            let expected = 1 / (1 + Foundation.exp(-x))
            XCTAssertEqual(p[2 * i], expected, accuracy: 2e-7 + 2e-6 * expected, "softmax([\(x), 0])")
        }
        let edge = Tensor([0, -Float.infinity, 1000, -1000, 3], shape: [1, 5]).softmax(dim: 1).toArray()
        XCTAssertEqual(edge, [0, 0, 1, 0, 0])
        XCTAssert(Tensor([1, Float.nan, 2], shape: [1, 3]).softmax(dim: 1).toArray().allSatisfy { $0.isNaN })
        let loss = crossEntropy(Tensor([Float.nan, 0, 0], shape: [1, 3]), Tensor([1]))
        XCTAssert(loss.item().isNaN)
        // log-softmax of huge logits stays finite and exact: [0, -1e4].
        XCTAssertEqual(Tensor([1e4, 0] as [Float], shape: [1, 2]).logSoftmax(dim: 1).toArray(), [0, -1e4])
    }

    func testElementwiseAndReductions() {
        for n in sizes {
            let a = floats(n, seed: 12), b = floats(n, seed: 13).abs() + 0.5
            let (xa, xb) = (a.toArray(), b.toArray())
            XCTAssertEqual((a + b).toArray(), zip(xa, xb).map { $0 + $1 })
            XCTAssertEqual((a - b).toArray(), zip(xa, xb).map { $0 - $1 })
            XCTAssertEqual((a * b).toArray(), zip(xa, xb).map { $0 * $1 })
            XCTAssertEqual((a / b).toArray(), zip(xa, xb).map { $0 / $1 })
            XCTAssertEqual((a < b).toIntArray(), zip(xa, xb).map { $0 < $1 ? 1 : 0 })
            // Ember's exp and log round correctly (csrc/ember_math.h), here as the double
            // functions rounded to float; libm's float versions need not (logf is off by 1 ulp
            // at 1.08341002).
            XCTAssertEqual(a.exp().toArray(), xa.map { Float(Foundation.exp(Double($0))) })
            XCTAssertEqual(b.log().toArray(), xb.map { Float(Foundation.log(Double($0))) })
            XCTAssertEqual(a.sum().item(), xa.reduce(0.0) { $0 + Double($1) }, accuracy: 1e-4)
            let (v, i) = a.max(dim: 0)
            XCTAssertEqual(v.item(), Double(xa.max()!))
            XCTAssertEqual(Int(i.item()), xa.firstIndex(of: xa.max()!)!)
            // Row broadcast: (n,1) + (1,3)
            let col = a.reshaped([n, 1]), row = Tensor([1.0, 2.0, 3.0], shape: [1, 3])
            XCTAssertEqual((col + row).toArray(), xa.flatMap { x in [x + 1, x + 2, x + 3] })
            // A scalar on either side (its own loops), floats and integers.
            XCTAssertEqual((a * 3).toArray(), xa.map { $0 * 3 })
            XCTAssertEqual((2 - a).toArray(), xa.map { 2 - $0 })
            XCTAssertEqual((a >= 0).toIntArray(), xa.map { $0 >= 0 ? 1 : 0 })
            let ints = Tensor((0..<n).map { $0 - n / 2 })
            XCTAssertEqual((ints * 3).toIntArray(), (0..<n).map { ($0 - n / 2) * 3 })
            // Sums along a dim: one output per row (inner 1) and per column (inner > 1).
            let m = a.reshaped([n, 1]) + row                                  // (n, 3)
            let xm = m.toArray()
            assertClose(doubles(m.sum(dim: 1)), (0..<n).map { r in (0..<3).reduce(0.0) { $0 + Double(xm[r * 3 + $1]) } },
                        atol: 1e-5, "sum dim 1 n=\(n)")
            assertClose(doubles(m.sum(dim: 0)), (0..<3).map { c in (0..<n).reduce(0.0) { $0 + Double(xm[$1 * 3 + c]) } },
                        atol: 1e-3, "sum dim 0 n=\(n)")
        }
    }

    func testSumOfFourMillion() {
        // 4M elements of 0.1: the fixed-chunk float/double sum must stay accurate.
        let t = Tensor.full([4_000_000], 0.1)
        XCTAssertEqual(t.sum().item(), 400_000, accuracy: 0.5)
        XCTAssertEqual(t.mean().item(), 0.1, accuracy: 1e-6)
    }

    func testSGDKernelMatchesTorchFormula() {
        // torch.optim.SGD(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False):
        // g' = g + wd·p; buf = g' (first step) or 0.9·buf + 0.9·g'; p -= lr·buf
        for n in sizes {
            let p0 = testValues(n, seed: 14).map(Float.init), g = testValues(n, seed: 15).map(Float.init)
            var p = p0, buf = [Float](repeating: 0, count: n)
            Kernels.sgdStep(&p, g, &buf, n, lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01,
                            nesterov: false, firstStep: true, maximize: false)
            Kernels.sgdStep(&p, g, &buf, n, lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01,
                            nesterov: false, firstStep: false, maximize: false)
            var ref = p0.map(Double.init), rbuf = [Double](repeating: 0, count: n)
            for step in 0..<2 {
                for i in 0..<n {
                    let gg = Double(g[i]) + 0.01 * ref[i]
                    rbuf[i] = step == 0 ? gg : 0.9 * rbuf[i] + 0.9 * gg
                    ref[i] -= 0.1 * rbuf[i]
                }
            }
            assertClose(p.map(Double.init), ref, atol: 1e-6, "sgd n=\(n)")
        }
    }

    func testAdamKernelMatchesTorchFormula() {
        for decoupled in [false, true] {
            for n in sizes {
                let p0 = testValues(n, seed: 16).map(Float.init), g = testValues(n, seed: 17).map(Float.init)
                var p = p0, m = [Float](repeating: 0, count: n), v = m
                let (lr, b1, b2, eps, wd) = (0.01, 0.9, 0.999, 1e-8, 0.1)
                for step in 1...3 {
                    Kernels.adamStep(&p, g, &m, &v, nil, n, lr: lr, beta1: b1, beta2: b2,
                                     eps: eps, weightDecay: wd, decoupled: decoupled, step: step,
                                     amsgrad: false, maximize: false)
                }
                var ref = p0.map(Double.init), rm = [Double](repeating: 0, count: n), rv = rm
                for step in 1...3 {
                    for i in 0..<n {
                        var gg = Double(g[i])
                        if decoupled { ref[i] *= 1 - lr * wd } else { gg += wd * ref[i] }
                        rm[i] = b1 * rm[i] + (1 - b1) * gg
                        rv[i] = b2 * rv[i] + (1 - b2) * gg * gg
                        let mhat = rm[i] / (1 - Foundation.pow(b1, Double(step)))
                        let vhat = rv[i] / (1 - Foundation.pow(b2, Double(step)))
                        ref[i] -= lr * mhat / (Foundation.sqrt(vhat) + eps)
                    }
                }
                assertClose(p.map(Double.init), ref, atol: 1e-5, rtol: 1e-4, "adam decoupled=\(decoupled) n=\(n)")
            }
        }
    }

    func testUInt8GatherAndScale() {
        for n in sizes {
            let sample = 5
            let src = (0..<(n * sample)).map { UInt8($0 % 256) }
            let idx: [Int64] = (0..<n).map { Int64((n - 1 - $0)) }   // reversed order
            var out = [Float](repeating: 0, count: n * sample)
            Kernels.gatherU8ToF32(&out, src, idx, count: n, sampleSize: sample, scale: 1 / 255, shift: 0)
            let ref = idx.flatMap { i in (0..<sample).map { Double(src[Int(i) * sample + $0]) / 255 } }
            assertClose(out.map(Double.init), ref, atol: 1e-7, "gather n=\(n)")
        }
        // A quickstart batch (64 x 784) is decoded on the team; any thread count gives the same.
        let src = (0..<(100 * 784)).map { UInt8(($0 * 7) % 256) }
        let idx: [Int64] = (0..<64).map { Int64(($0 * 37) % 100) }
        let ref = idx.flatMap { i in (0..<784).map { Float(src[Int(i) * 784 + $0]) * 0.5 - 1 } }
        for threads in [1, 2] {
            setNumThreads(threads)
            var out = [Float](repeating: .nan, count: 64 * 784)
            Kernels.gatherU8ToF32(&out, src, idx, count: 64, sampleSize: 784, scale: 0.5, shift: -1)
            XCTAssertEqual(out, ref, "gather 64x784 on \(threads) thread(s)")
        }
    }

    func testRandomNumbersHaveTheRightMoments() {
        let u = Tensor.rand([100_000], generator: Generator(seed: 3))
        XCTAssertEqual(u.mean().item(), 0.5, accuracy: 0.01)
        XCTAssert(u.toArray().allSatisfy { $0 >= 0 && $0 < 1 })
        let z = Tensor.randn([100_000], generator: Generator(seed: 3))
        XCTAssertEqual(z.mean().item(), 0, accuracy: 0.02)
        XCTAssertEqual((z * z).mean().item(), 1, accuracy: 0.02)
        // Same seed, same numbers; different seed, different numbers.
        XCTAssertEqual(Tensor.randn([10], generator: Generator(seed: 9)).toArray(),
                       Tensor.randn([10], generator: Generator(seed: 9)).toArray())
        XCTAssertNotEqual(Tensor.randn([10], generator: Generator(seed: 9)).toArray(),
                          Tensor.randn([10], generator: Generator(seed: 10)).toArray())
    }

    func testMD5() {
        // RFC 1321 test vectors.
        func hex(_ s: String) -> String {
            Array(s.utf8).withUnsafeBytes { Kernels.md5($0) }.map { String(format: "%02x", $0) }.joined()
        }
        XCTAssertEqual(hex(""), "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(hex("abc"), "900150983cd24fb0d6963f7d28e17f72")
        XCTAssertEqual(hex(String(repeating: "1234567890", count: 8)), "57edf4a22be3c955ac49da2e2107b67a")
    }
}
