import XCTest
@testable import Ember

/// Ember's GEMM engine (csrc/gemm/): every ISA path against a float64 reference, and the
/// same bits on every path and thread count (the rule in include/ember.h).
final class GEMMTests: KernelSettingsTestCase {
    let sizes = [1, 7, 15, 16, 17, 31, 33, 63, 64, 65, 127, 1000]

    override func tearDown() {
        gemmUsesOpenBLAS = false
        super.tearDown()
    }

    /// The paths this machine can run; says which it cannot check (never passes silently).
    func runnablePaths(file: StaticString = #filePath, line: UInt = #line) -> [CPUCapability] {
        let hw = hardwareCPUCapability
        let paths = CPUCapability.allCases.filter { $0.rawValue <= hw.rawValue }
        for p in CPUCapability.allCases where p.rawValue > hw.rawValue {
            print("GEMMTests: this CPU has no \(p) (hardware path \(hw)): the \(p) path could not be checked here")
        }
        XCTAssertEqual(setCPUCapability(hw), hw, file: file, line: line)
        return paths
    }

    /// A GEMM problem with stored operands (leading dimensions may exceed the widths).
    struct Problem {
        let m, n, k: Int, ta, tb: Bool
        var alpha: Float = 1, beta: Float = 0
        var pad = 0   // extra floats per stored row of A, B and C
        var lda: Int { (ta ? m : k) + pad }
        var ldb: Int { (tb ? k : n) + pad }
        var ldc: Int { n + pad }
        var a: [Float] { testValues((ta ? k : m) * lda, seed: UInt64(3 * m + k)).map(Float.init) }
        var b: [Float] { testValues((tb ? n : k) * ldb, seed: UInt64(5 * n + k)).map(Float.init) }
        var c0: [Float] { testValues(m * ldc, seed: UInt64(m + n + 7)).map(Float.init) }

        /// Ember's result, with C's padding filled with a sentinel that must survive.
        func run() -> [Float] {
            var c = beta == 0 ? [Float](repeating: .nan, count: m * ldc) : c0   // beta 0 must ignore NaN
            if pad > 0 { for i in 0..<m { for j in n..<ldc { c[i * ldc + j] = -12345 } } }
            Kernels.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                          beta: beta, c: &c, ldc: ldc)
            return c
        }

        /// alpha·op(A)·op(B) + beta·C in Double, as an m·ldc array (padding: the sentinel).
        func reference() -> [Double] {
            let (a, b, c0) = (a, b, c0)
            var out = [Double](repeating: -12345, count: m * ldc)
            a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in
                for i in 0..<m {
                    for j in 0..<n {
                        var s = 0.0
                        for p in 0..<k {
                            s += Double(ta ? a[p * lda + i] : a[i * lda + p]) * Double(tb ? b[j * ldb + p] : b[p * ldb + j])
                        }
                        out[i * ldc + j] = Double(alpha) * s + (beta == 0 ? 0 : Double(beta) * Double(c0[i * ldc + j]))
                    }
                }
            } }
            return out
        }
    }

    /// Each size in M, N and K in turn (the others 65 and 63, or 33 and 17 next to 1000 to keep
    /// the debug reference fast), all four transposes; each path against float64.
    func testEveryPathAgainstFloat64() {
        let paths = runnablePaths()
        setNumThreads(2)
        parallelThreshold = 1
        var problems: [Problem] = []
        for s in sizes {
            let (o1, o2) = s == 1000 ? (33, 17) : (65, 63)
            for ta in [false, true] {
                for tb in [false, true] {
                    problems += [Problem(m: s, n: o1, k: o2, ta: ta, tb: tb), Problem(m: o2, n: s, k: o1, ta: ta, tb: tb),
                                 Problem(m: o1, n: o2, k: s, ta: ta, tb: tb)]
                }
            }
        }
        for p in problems {
            let ref = p.reference()
            for path in paths {
                setCPUCapability(path)
                let got = p.run().map(Double.init)
                assertClose(got, ref, atol: 1e-5 * Double(p.k).squareRoot() + 1e-6, rtol: 1e-5,
                            "\(path) \(p.m)x\(p.n)x\(p.k) ta=\(p.ta) tb=\(p.tb)")
            }
        }
    }

    /// alpha and beta (with K below and above the k-block, where beta goes through a
    /// scratch), leading dimensions larger than the widths (the padding must survive), and
    /// edge tiles in both directions.
    func testAlphaBetaLeadingDimensionsAndEdges() {
        let paths = runnablePaths()
        setNumThreads(2)
        parallelThreshold = 1
        var problems: [Problem] = []
        // Bottom edges of every height 1...5 on full-width tiles (8, 128 ≡ 2 mod 6) run in place.
        for (m, n, k) in [(13, 35, 64), (25, 47, 700), (64, 512, 10), (130, 7, 300), (8, 48, 40), (128, 32, 70),
                          (9, 64, 20), (11, 32, 300)] {
            for (alpha, beta) in [(Float(1), Float(1)), (0.5, 2), (-0.1, 1), (2, 0)] {
                for pad in [0, 5] {
                    problems.append(Problem(m: m, n: n, k: k, ta: pad > 0, tb: m % 2 == 0, alpha: alpha, beta: beta, pad: pad))
                }
            }
        }
        for p in problems {
            let ref = p.reference()
            for path in paths {
                setCPUCapability(path)
                assertClose(p.run().map(Double.init), ref, atol: 1e-4, rtol: 1e-5,
                            "\(path) \(p.m)x\(p.n)x\(p.k) alpha=\(p.alpha) beta=\(p.beta) pad=\(p.pad)")
            }
        }
        // alpha = 0 or K = 0: C = beta·C, A and B unread.
        var c: [Float] = [1, 2, 3, 4]
        Kernels.sgemm(transA: false, transB: false, m: 2, n: 2, k: 3, alpha: 0, a: [.nan, .nan, .nan, .nan, .nan, .nan],
                      lda: 3, b: [.nan, .nan, .nan, .nan, .nan, .nan], ldb: 2, beta: 0.5, c: &c, ldc: 2)
        XCTAssertEqual(c, [0.5, 1, 1.5, 2])
    }

    /// The linear layer's fused epilogues (bias, relu) on every path, against float64.
    func testFusedBiasAndReluEpilogues() {
        let paths = runnablePaths()
        setNumThreads(2)
        for (n, inF, outF) in [(7, 33, 17), (64, 300, 130), (64, 784, 10), (1, 1, 1), (13, 40, 16)] {
            let x = testValues(n * inF, seed: 21).map(Float.init), w = testValues(outF * inF, seed: 22).map(Float.init)
            let bias = testValues(outF, seed: 23).map(Float.init)
            var want = [Double](repeating: 0, count: n * outF)
            for i in 0..<n {
                for j in 0..<outF {
                    var s = 0.0
                    for p in 0..<inF { s += Double(x[i * inF + p]) * Double(w[j * inF + p]) }
                    want[i * outF + j] = s + Double(bias[j])
                }
            }
            for path in paths {
                setCPUCapability(path)
                for relu in [false, true] {
                    var y = [Float](repeating: .nan, count: n * outF)
                    Kernels.linearForward(&y, x, w, bias, n: n, inFeatures: inF, outFeatures: outF, relu: relu)
                    assertClose(y.map(Double.init), relu ? want.map { max($0, 0) } : want, atol: 1e-4,
                                "\(path) linear \(n)x\(inF)->\(outF) relu=\(relu)")
                }
            }
        }
    }

    /// Bits: every path and 1, 2 and 4 threads give the same outputs, for products cut into
    /// many k-blocks and tiles, with alpha/beta, and for the linear entry points.
    func testSameBitsOnEveryPathAndThreadCount() {
        let paths = runnablePaths()
        XCTAssertGreaterThan(paths.count, 1, "only the generic path runs here: nothing to compare it with")
        parallelThreshold = 1
        let problems = [Problem(m: 70, n: 100, k: 1000, ta: false, tb: true),
                        Problem(m: 127, n: 65, k: 513, ta: true, tb: false, alpha: 0.5, beta: 1, pad: 3),
                        Problem(m: 512, n: 784, k: 64, ta: true, tb: false, alpha: -0.01, beta: 1),
                        Problem(m: 64, n: 10, k: 512, ta: false, tb: true),
                        // A 1×1 shortcut's input gradient: 2-row bottom edges on full tiles.
                        Problem(m: 128, n: 256, k: 64, ta: true, tb: false),
                        // Tall enough for the threads to own row ranges (engine.c's
                        // run_thread_rows), over three k-blocks, with edge rows and columns.
                        Problem(m: 400, n: 33, k: 700, ta: false, tb: false, pad: 1)]
        for p in problems {
            setCPUCapability(paths[0])
            setNumThreads(1)
            let base = p.run()
            for path in paths {
                for threads in [1, 2, 4] {
                    setCPUCapability(path)
                    setNumThreads(threads)
                    XCTAssert(p.run().elementsEqual(base, by: { $0.bitPattern == $1.bitPattern }),
                              "\(p.m)x\(p.n)x\(p.k): \(path) on \(threads) threads differs from \(paths[0]) on 1")
                }
            }
        }
        // The linear entry points: forward with bias + relu, backward's pair of products.
        let (n, inF, outF) = (64, 784, 512)
        let x = testValues(n * inF, seed: 31).map(Float.init), w = testValues(outF * inF, seed: 32).map(Float.init)
        let bias = testValues(outF, seed: 33).map(Float.init), dout = testValues(n * outF, seed: 34).map(Float.init)
        func linear() -> [UInt32] {
            var y = [Float](repeating: 0, count: n * outF)
            var dx = [Float](repeating: 0, count: n * inF), dw = [Float](repeating: 0, count: outF * inF)
            Kernels.linearForward(&y, x, w, bias, n: n, inFeatures: inF, outFeatures: outF, relu: true)
            dout.withUnsafeBufferPointer { pd in x.withUnsafeBufferPointer { px in w.withUnsafeBufferPointer { pw in
                dx.withUnsafeMutableBufferPointer { pdx in dw.withUnsafeMutableBufferPointer { pdw in
                    Kernels.linearBackward(dInput: pdx.baseAddress!, dWeight: pdw.baseAddress!, dOut: pd.baseAddress!,
                                           input: px.baseAddress!, weight: pw.baseAddress!, n: n, inFeatures: inF,
                                           outFeatures: outF)
                } }
            } } }
            return (y + dx + dw).map(\.bitPattern)
        }
        setCPUCapability(paths[0])
        setNumThreads(1)
        let base = linear()
        for path in paths {
            for threads in [1, 2, 4] {
                setCPUCapability(path)
                setNumThreads(threads)
                assertSameBits(linear(), base, "linear layer: \(path) on \(threads) threads")
            }
        }
    }

    /// A few quickstart training steps (the seed's model, SGD, whose update is a GEMM into the
    /// weight): every loss and every final parameter equal on every path and thread count.
    func testQuickstartTrainingStepsSameBitsOnEveryPath() {
        let paths = runnablePaths()
        func train(_ path: CPUCapability, threads: Int) -> (losses: [Double], params: [[Float]]) {
            setCPUCapability(path)
            setNumThreads(threads)
            manualSeed(11)
            let model = NNModels.NeuralNetwork()
            let lossFn = CrossEntropyLoss()
            let optimizer = SGD(model.parameters(), lr: 0.05)
            let g = Generator(seed: 12)
            let x = Tensor.rand([64, 1, 28, 28], generator: g), y = Tensor.randint(0, 10, [64], generator: g)
            var losses: [Double] = []
            for _ in 0..<3 {
                let loss = lossFn(model(x), y)
                loss.backward()
                optimizer.step()
                optimizer.zeroGrad()
                losses.append(loss.item())
            }
            return (losses, model.parameters().map { $0.toArray() })
        }
        let base = train(paths[0], threads: 1)
        XCTAssertLessThan(base.losses.last!, base.losses.first!)
        for path in paths {
            for threads in [1, 2, 4] where !(path == paths[0] && threads == 1) {
                let run = train(path, threads: threads)
                XCTAssertEqual(run.losses, base.losses, "losses: \(path) on \(threads) threads")
                XCTAssert(run.params == base.params, "parameters: \(path) on \(threads) threads")
            }
        }
    }

    /// Small operands are read in place (A stored transposed, B stored plain, at most 32 KB
    /// each: engine.c), larger ones packed; the generic path always packs. The same logical
    /// product stored tightly and with 2.5 KB rows gives the generic path's bits on every
    /// path: edge rows, a ragged last column panel (B then packed, A still in place), beta,
    /// rows not 64-byte aligned.
    func testOperandsReadInPlaceGiveThePackedBits() {
        let paths = runnablePaths()
        for (m, n, k, ta, tb, beta) in [(64, 64, 64, true, false, Float(1)), (61, 48, 40, true, false, 0),
                                        (30, 50, 64, true, false, 0), (64, 64, 64, false, false, 1),
                                        (13, 32, 7, false, false, 0)] {
            let (ar, ac) = ta ? (k, m) : (m, k), (br, bc) = tb ? (n, k) : (k, n)
            let a = testValues(ar * ac, seed: 51).map(Float.init), b = testValues(br * bc, seed: 52).map(Float.init)
            let c0 = testValues(m * n, seed: 53).map(Float.init)
            // Stored with `pad` extra floats per row: 0 keeps them small, 600 makes them 2.5 KB a row.
            func product(pad: Int) -> [UInt32] {
                let lda = ac + pad, ldb = bc + pad
                var sa = [Float](repeating: .nan, count: ar * lda), sb = [Float](repeating: .nan, count: br * ldb)
                for r in 0..<ar { for q in 0..<ac { sa[r * lda + q] = a[r * ac + q] } }
                for r in 0..<br { for q in 0..<bc { sb[r * ldb + q] = b[r * bc + q] } }
                var c = c0
                Kernels.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: sa, lda: lda, b: sb, ldb: ldb,
                              beta: beta, c: &c, ldc: n)
                return c.map(\.bitPattern)
            }
            setCPUCapability(.generic)
            let base = product(pad: 600)
            for path in paths {
                setCPUCapability(path)
                for threads in [1, 2] {
                    setNumThreads(threads)
                    assertSameBits(product(pad: 0), base, "\(m)x\(n)x\(k) in place, \(path), \(threads) threads")
                    assertSameBits(product(pad: 600), base, "\(m)x\(n)x\(k) packed, \(path), \(threads) threads")
                }
            }
        }
    }

    /// Blocking comes from the cache sizes the machine reports, so it differs between CPUs:
    /// any MC, NC and KC give the same bits, also where a short last k-block is shared out
    /// (K = 784 and 300), beta meets several k-blocks (the scratch sum) or one, the operands
    /// are read in place, and a packing was made under another blocking.
    func testBlockingNeverChangesTheBits() {
        let paths = runnablePaths()
        parallelThreshold = 1
        let problems = [Problem(m: 64, n: 96, k: 784, ta: false, tb: true),
                        Problem(m: 300, n: 40, k: 600, ta: false, tb: false, alpha: 0.5, beta: 0.5, pad: 2),
                        Problem(m: 37, n: 70, k: 300, ta: true, tb: false, beta: 1),
                        Problem(m: 200, n: 48, k: 257, ta: true, tb: true, alpha: -0.25, beta: 1, pad: 1),
                        Problem(m: 64, n: 64, k: 64, ta: true, tb: false)]
        let (k, n, m) = (784, 130, 64)
        let x = testValues(m * k, seed: 71).map(Float.init), w = testValues(n * k, seed: 72).map(Float.init)
        let bias = testValues(n, seed: 73).map(Float.init)
        func packX() -> Kernels.PackedA {
            x.withUnsafeBufferPointer { Kernels.PackedA(transA: false, m: m, k: k, a: $0.baseAddress!, lda: k)! }
        }
        func outputs(packedEarlier: Kernels.PackedA) -> [UInt32] {
            var all = problems.flatMap { $0.run() }
            var y = [Float](repeating: .nan, count: m * n)
            Kernels.linearForward(&y, x, w, bias, n: m, inFeatures: k, outFeatures: n, relu: true)
            all += y
            for packed in [packX(), packedEarlier] {
                var viaPack = [Float](repeating: .nan, count: m * n)
                Kernels.sgemmPackedA(n: n, alpha: 1, a: packed, transB: true, b: w, ldb: k, beta: 0, c: &viaPack, ldc: n)
                all += viaPack
            }
            return all.map(\.bitPattern)
        }
        for path in paths {
            setCPUCapability(path)
            setNumThreads(2)
            Kernels.setGemmBlocking(mc: 0, nc: 0, kc: 0)
            let packedEarlier = packX()
            let base = outputs(packedEarlier: packedEarlier)
            for (mc, nc, kc) in [(6, 16, 16), (12, 48, 100), (126, 8192, 250), (30, 64, 1024), (600, 32, 64)] {
                for threads in [1, 2] {
                    setNumThreads(threads)
                    Kernels.setGemmBlocking(mc: mc, nc: nc, kc: kc)
                    assertSameBits(outputs(packedEarlier: packedEarlier), base, "\(path), MC \(mc) NC \(nc) KC \(kc), \(threads) threads")
                }
            }
        }
    }

    /// A pre-packed B gives the unpacked call's bits, also after the path changed since
    /// packing (it then multiplies the original matrix), and through the linear entry point.
    func testPrepackedOperandSameBits() {
        let paths = runnablePaths()
        setNumThreads(2)
        // N = 10 takes the AVX-512 path's narrow tile, N = 130 the wide one.
        for (m, n, k) in [(64, 130, 300), (37, 10, 200)] {
        let a = testValues(m * k, seed: 41).map(Float.init), w = testValues(n * k, seed: 42).map(Float.init)
        let bias = testValues(n, seed: 43).map(Float.init)
        for packPath in paths {
            setCPUCapability(packPath)
            let packed = w.withUnsafeBufferPointer { Kernels.PackedB(transB: true, k: k, n: n, b: $0.baseAddress!, ldb: k)! }
            XCTAssertGreaterThanOrEqual(packed.bytes, n * k * 4)
            for path in paths {
                setCPUCapability(path)
                var plain = [Float](repeating: 0, count: m * n), viaPack = [Float](repeating: .nan, count: m * n)
                Kernels.sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: w, ldb: k,
                              beta: 0, c: &plain, ldc: n)
                Kernels.sgemmPacked(transA: false, m: m, alpha: 1, a: a, lda: k, b: packed, beta: 0, c: &viaPack, ldc: n)
                assertSameBits(viaPack, plain, "packed on \(packPath), run on \(path)")
                var y = [Float](repeating: 0, count: m * n), yp = [Float](repeating: .nan, count: m * n)
                Kernels.linearForward(&y, a, w, bias, n: m, inFeatures: k, outFeatures: n, relu: true)
                Kernels.linearForwardPacked(&yp, a, packed, bias, n: m, relu: true)
                assertSameBits(yp, y, "linear packed on \(packPath), run on \(path)")
            }
        }
        }
    }

    /// A pre-packed A gives the unpacked call's bits on every path and thread count: several
    /// k-blocks and MC blocks (the row-owned driver at 300 rows on 2 threads), both transposes,
    /// beta (with K > KC: the scratch sum), rows wider than the matrix; also after the path
    /// changed since packing (it then multiplies the original matrix).
    func testPrepackedLeftOperandSameBits() {
        let paths = runnablePaths()
        for (m, n, k, ta, tb, beta) in [(64, 64, 64, false, true, Float(0)), (300, 40, 600, false, false, 0.5),
                                        (37, 70, 300, true, false, 1), (5, 16, 9, true, true, 0)] {
            let (ar, ac) = ta ? (k, m) : (m, k), (br, bc) = tb ? (n, k) : (k, n)
            let lda = ac + 3
            var a = [Float](repeating: .nan, count: ar * lda)
            let values = testValues(ar * ac, seed: 61).map(Float.init)
            for r in 0..<ar { for q in 0..<ac { a[r * lda + q] = values[r * ac + q] } }
            let b = testValues(br * bc, seed: 62).map(Float.init), c0 = testValues(m * n, seed: 63).map(Float.init)
            for packPath in paths {
                setCPUCapability(packPath)
                let packed = a.withUnsafeBufferPointer { Kernels.PackedA(transA: ta, m: m, k: k, a: $0.baseAddress!, lda: lda)! }
                XCTAssertGreaterThanOrEqual(packed.bytes, m * k * 4)
                for path in paths {
                    setCPUCapability(path)
                    for threads in [1, 2] {
                        setNumThreads(threads)
                        var plain = c0, viaPack = c0
                        Kernels.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.75, a: a, lda: lda, b: b, ldb: bc,
                                      beta: beta, c: &plain, ldc: n)
                        Kernels.sgemmPackedA(n: n, alpha: 0.75, a: packed, transB: tb, b: b, ldb: bc, beta: beta,
                                             c: &viaPack, ldc: n)
                        assertSameBits(viaPack, plain,
                                       "\(m)x\(n)x\(k) ta \(ta) tb \(tb), packed on \(packPath), run on \(path), \(threads) threads")
                    }
                }
            }
        }
    }

    /// Evaluation keeps each linear weight packed on its storage: the same bits as the packing
    /// inside the product, reused while the weight is unchanged, repacked after any in-place
    /// write (optimizer step, copy_, raw write). Views of a larger storage are not kept (they
    /// would evict each other). A training forward never keeps a packing.
    func testEvaluationKeepsLinearWeightsPackedUntilTheyChange() throws {
        setNumThreads(2)
        let layer = Linear(48, 40)
        let x = Tensor(testValues(33 * 48, seed: 7).map(Float.init), shape: [33, 48])
        // The training forward: the plain product, and nothing kept.
        let trained = layer(x)
        XCTAssertNil(layer.weight.storage.packedWeight)
        let evaluated = noGrad { layer(x) }
        assertSameBits(evaluated.toArray(), trained.toArray())
        let kept = try XCTUnwrap(layer.weight.storage.packedWeight)
        assertSameBits(noGrad { layer(x) }.toArray(), trained.toArray())
        XCTAssertTrue(layer.weight.storage.packedWeight?.packed === kept.packed, "reused, not repacked")

        // An optimizer step writes the weight: the packing is dropped and the next evaluation
        // sees the new weight.
        let opt = SGD(layer.parameters(), lr: 0.5)
        trained.square().sum().backward()
        opt.step()
        XCTAssertNil(layer.weight.storage.packedWeight)
        let fresh = Tensor(layer.weight.toArray(), shape: layer.weight.shape)
        let expected = linear(x, fresh, layer.bias)   // another storage, grad mode: unpacked
        assertSameBits(noGrad { layer(x) }.toArray(), expected.toArray())
        XCTAssertNotEqual(expected.toArray(), trained.toArray())

        // copy_ and a raw write count as writes too.
        _ = noGrad { layer(x) }
        noGrad { layer.weight.copy_(layer.weight * 0.5) }
        assertSameBits(noGrad { layer(x) }.toArray(),
                       linear(x, Tensor(layer.weight.toArray(), shape: [40, 48]), layer.bias).toArray())
        layer.weight.withUnsafeMutableFloats { $0[0] += 1 }
        assertSameBits(noGrad { layer(x) }.toArray(),
                       linear(x, Tensor(layer.weight.toArray(), shape: [40, 48]), layer.bias).toArray())

        // Two row blocks of one storage: the plain product for each, nothing kept.
        let both = Tensor(testValues(80 * 48, seed: 9).map(Float.init), shape: [80, 48])
        let top = both[0..<40], bottom = both[40..<80]
        for (view, rows) in [(top, 0..<40), (bottom, 40..<80), (top, 0..<40)] {
            let copy = Tensor(Array(both.toArray()[rows.lowerBound * 48..<rows.upperBound * 48]), shape: [40, 48])
            assertSameBits(noGrad { linear(x, view) }.toArray(), linear(x, copy).toArray())
        }
        XCTAssertNil(both.storage.packedWeight)
        // A weight that needs no gradient is kept under grad mode too (a frozen layer).
        let frozen = Tensor(testValues(40 * 48, seed: 10).map(Float.init), shape: [40, 48])
        _ = linear(x.requiringGrad(), frozen)
        XCTAssertNotNil(frozen.storage.packedWeight)
    }

    /// EMBER_GEMM=openblas's route (the oracle): it agrees with the float64 reference too,
    /// and the switch really changes the implementation (different rounding somewhere).
    func testOpenBLASRouteIsTheOracle() {
        setNumThreads(2)
        let p = Problem(m: 65, n: 130, k: 700, ta: false, tb: true, alpha: 0.5, beta: 1)
        let ref = p.reference()
        let ember = p.run()
        gemmUsesOpenBLAS = true
        let blas = p.run()
        gemmUsesOpenBLAS = false
        assertClose(blas.map(Double.init), ref, atol: 1e-4, rtol: 1e-5, "openblas")
        assertClose(ember.map(Double.init), blas.map(Double.init), atol: 1e-4, rtol: 1e-5, "ember vs openblas")
        XCTAssertNotEqual(ember.map(\.bitPattern), blas.map(\.bitPattern), "the OpenBLAS route was not taken")
    }
}
