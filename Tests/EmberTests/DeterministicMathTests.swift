import Foundation
import XCTest
@testable import Ember

/// Ember's own transcendental functions (csrc/ember_math.h, ember_math.c), which replace
/// glibc's CPU-dispatched libm so that the same bits come out on any x86-64 machine:
/// accuracy against double-precision references over the whole float range and at the
/// special values, golden bit patterns of the ops and of randn that any change of bits fails,
/// and the kernels' vector paths against the scalar baseline-ISA reference, on 1, 2 and 4
/// threads and on the generic CPU path.
final class DeterministicMathTests: KernelSettingsTestCase {
    typealias Op = Kernels.MathOp

    // MARK: References

    /// The double-precision reference of each float function (Foundation's double libm:
    /// within an ulp of double, far below float's).
    static func reference(_ op: Op, _ x: Double, _ b: Double = 0) -> Double {
        switch op {
        case .exp, .expFast: return Foundation.exp(x)
        case .log: return Foundation.log(x)
        case .log2: return Foundation.log2(x)
        case .log1p: return Foundation.log1p(x)
        case .expm1: return Foundation.expm1(x)
        case .tanh: return Foundation.tanh(x)
        case .sin: return Foundation.sin(x)
        case .cos: return Foundation.cos(x)
        case .erf: return Foundation.erf(x)
        case .pow: return Foundation.pow(x, b)
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .silu: return x / (1 + Foundation.exp(-x))
        case .mish: return x * Foundation.tanh(x > 40 ? x : Foundation.log1p(Foundation.exp(x)))
        case .geluTanh: return x / (1 + Foundation.exp(-2 * 0.79788456080286536 * (x + 0.044715 * x * x * x)))
        case .softplus: return Float(x * b) > 20 ? x : Foundation.log1p(Foundation.exp(x * b)) / b
        }
    }

    /// |got − ref| in ulps of float at ref's magnitude; 0 for matching NaNs or infinities,
    /// infinity for any other non-finite mismatch.
    static func ulpError(_ got: Float, _ ref: Double) -> Double {
        if ref.isNaN { return got.isNaN ? 0 : .infinity }
        if got.isNaN { return .infinity }
        if Float(ref).isInfinite || got.isInfinite { return Float(ref) == got ? 0 : .infinity }
        let e = Swift.max(Int(abs(ref).exponent), -126)
        let ulp = ref == 0 ? 0x1p-149 : Foundation.pow(2.0, Double(e - 23))
        return abs(Double(got) - ref) / ulp
    }

    /// Float bit patterns spread over the whole range (both signs, subnormals, inf, NaN).
    static let sweep: [Float] = stride(from: UInt64(0), to: 1 << 32, by: 16381).map { Float(bitPattern: UInt32($0)) }

    /// A fixed grid for the golden hashes: a dense ramp over [−30, 30], the sweep's spread,
    /// and the special values.
    static let grid: [Float] = {
        var g = (0..<2001).map { Float(-30 + 0.03 * Double($0)) }
        g += stride(from: UInt64(7), to: 1 << 32, by: 2_100_007).map { Float(bitPattern: UInt32($0)) }
        g += [0, -0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
              .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1e-30, 88.7, -103.9, 524288, 1e30]
        return g
    }()

    /// FNV-1a over the bit patterns: any changed bit changes the hash.
    static func hash(_ v: [Float]) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for x in v { for byte in withUnsafeBytes(of: x.bitPattern.littleEndian, Array.init) { h = (h ^ UInt64(byte)) &* 0x100000001b3 } }
        return h
    }
    static func hash(_ v: [Double]) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for x in v { for byte in withUnsafeBytes(of: x.bitPattern.littleEndian, Array.init) { h = (h ^ UInt64(byte)) &* 0x100000001b3 } }
        return h
    }

    // MARK: Accuracy

    /// Every function but the softmax's fast exp rounds correctly on a sweep of 262,000 float
    /// bit patterns over the whole range: within 0.5 ulp (+ the reference's own 2^-29).
    func testFloatFunctionsAreCorrectlyRoundedAcrossTheRange() {
        let xs = Self.sweep
        for op in Op.allCases where op != .pow && op != .expFast {
            let b: Float = op == .softplus ? 1 : 0
            let got = Kernels.scalarMath(op, xs, b)
            var worst = (err: 0.0, x: Float(0))
            for (x, y) in zip(xs, got) {
                let e = Self.ulpError(y, Self.reference(op, Double(x), Double(b)))
                if e > worst.err { worst = (e, x) }
            }
            XCTAssertLessThanOrEqual(worst.err, 0.5001, "\(op): \(worst.err) ulp at \(worst.x)")
        }
    }

    /// The softmax kernels' exp (ember_expf, single precision) stays within 2 ulp where its
    /// result is a normal float below its clamp at 88.376 (a softmax argument is ≤ 0), and
    /// flushes below −87.34 to 0.
    func testSoftmaxExpWithinTwoUlp() {
        let xs = Self.sweep.filter { $0 > -87.3 && $0 < 88.37 } + [-87.3, 0, 1e-30, 88.37]
        let got = Kernels.scalarMath(.expFast, xs)
        for (x, y) in zip(xs, got) {
            XCTAssertLessThanOrEqual(Self.ulpError(y, Foundation.exp(Double(x))), 2, "expf(\(x)) = \(y)")
        }
        XCTAssertEqual(Kernels.scalarMath(.expFast, [-88, -.infinity, .infinity, 89]), [0, 0, .infinity, .infinity])
    }

    /// pow on 65,536 pseudo-random pairs (half with small exponents, so that most results
    /// are finite), correctly rounded.
    func testPowIsCorrectlyRoundedOnRandomPairs() {
        var s: UInt64 = 0x5eed
        var worst = (err: 0.0, x: Float(0), y: Float(0))
        for i in 0..<65536 {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            var x = Float(bitPattern: UInt32(truncatingIfNeeded: s >> 7))
            var yb = UInt32(truncatingIfNeeded: s >> 32)
            if i & 1 == 1 { yb = (yb & 0x807F_FFFF) | (UInt32(120 + (s >> 50) % 14) << 23) }
            if i & 2 == 2 { x = abs(x) }
            let y = Float(bitPattern: yb)
            let got = Kernels.scalarMath(.pow, [x], y)[0]
            let e = Self.ulpError(got, Foundation.pow(Double(x), Double(y)))
            if e > worst.err { worst = (e, x, y) }
        }
        XCTAssertLessThanOrEqual(worst.err, 0.5001, "pow(\(worst.x), \(worst.y)): \(worst.err) ulp")
    }

    /// The special values, bit for bit (the sign of zero included).
    func testSpecialValues() {
        let inf = Float.infinity, nan = Float.nan, tiny = Float.leastNonzeroMagnitude
        func check(_ op: Op, _ x: Float, _ want: Float, b: Float = 0, line: UInt = #line) {
            let got = Kernels.scalarMath(op, [x], b)[0]
            if want.isNaN { XCTAssert(got.isNaN, "\(op)(\(x)) = \(got), want NaN", line: line); return }
            XCTAssertEqual(got.bitPattern, want.bitPattern, "\(op)(\(x), \(b)) = \(got), want \(want)", line: line)
        }
        for op: Op in [.exp, .expFast] { check(op, -inf, 0); check(op, inf, inf); check(op, nan, nan); check(op, 0, 1); check(op, -0.0, 1) }
        check(.exp, 88.8, inf); check(.exp, -104.5, 0); check(.exp, -103.9, Float(Foundation.exp(Double(Float(-103.9)))))
        check(.exp, tiny, 1)
        check(.log, 0, -inf); check(.log, -0.0, -inf); check(.log, -1, nan); check(.log, inf, inf); check(.log, 1, 0)
        check(.log, tiny, Float(Foundation.log(Double(tiny)))); check(.log, nan, nan); check(.log, -inf, nan)
        check(.log2, 8, 3); check(.log2, tiny, -149); check(.log2, 0x1p-126, -126); check(.log2, 0x1p127, 127)
        check(.log1p, -0.0, -0.0); check(.log1p, 0, 0); check(.log1p, -1, -inf); check(.log1p, -2, nan); check(.log1p, inf, inf)
        check(.log1p, tiny, tiny); check(.log1p, 1e-30, 1e-30)
        check(.expm1, -0.0, -0.0); check(.expm1, -inf, -1); check(.expm1, inf, inf); check(.expm1, 89, inf); check(.expm1, tiny, tiny)
        check(.tanh, -0.0, -0.0); check(.tanh, inf, 1); check(.tanh, -inf, -1); check(.tanh, nan, nan); check(.tanh, -tiny, -tiny)
        check(.sin, -0.0, -0.0); check(.sin, inf, nan); check(.sin, -inf, nan); check(.sin, nan, nan); check(.sin, -tiny, -tiny)
        check(.cos, -0.0, 1); check(.cos, inf, nan); check(.cos, nan, nan); check(.cos, tiny, 1)
        check(.erf, -0.0, -0.0); check(.erf, inf, 1); check(.erf, -inf, -1); check(.erf, 4, 1); check(.erf, tiny, Float(Foundation.erf(Double(tiny))))
        check(.sigmoid, -inf, 0); check(.sigmoid, inf, 1); check(.sigmoid, 0, 0.5)
        check(.silu, -inf, nan); check(.silu, inf, inf); check(.silu, -200, -0.0)
        check(.mish, inf, inf); check(.mish, -0.0, -0.0)
        check(.geluTanh, inf, inf); check(.geluTanh, -1e20, -0.0)
        check(.softplus, 30, 30, b: 1); check(.softplus, -inf, 0, b: 1)
        // pow, C99 Annex F.
        for x: Float in [nan, -inf, -2, -0.0, 0, 0.5, 3, inf] { check(.pow, x, 1, b: 0); check(.pow, x, 1, b: -0.0) }
        for y: Float in [nan, -inf, -3, 0.5, inf] { check(.pow, 1, 1, b: y) }
        check(.pow, -1, 1, b: inf); check(.pow, -1, 1, b: -inf)
        check(.pow, 0.5, 0, b: inf); check(.pow, 0.5, inf, b: -inf); check(.pow, 2, inf, b: inf); check(.pow, 2, 0, b: -inf)
        check(.pow, -0.5, 0, b: inf); check(.pow, -2, inf, b: inf)
        check(.pow, -0.0, -inf, b: -3); check(.pow, 0, inf, b: -3); check(.pow, -0.0, inf, b: -2); check(.pow, -0.0, inf, b: -0.5)
        check(.pow, -0.0, -0.0, b: 3); check(.pow, -0.0, 0, b: 2); check(.pow, -0.0, 0, b: 0.5)
        check(.pow, -inf, -0.0, b: -3); check(.pow, -inf, 0, b: -2); check(.pow, -inf, -inf, b: 3); check(.pow, -inf, inf, b: 2)
        check(.pow, -inf, inf, b: 0.5); check(.pow, inf, 0, b: -1); check(.pow, inf, inf, b: 0.5)
        check(.pow, -8, nan, b: 1.0 / 3); check(.pow, -2, -8, b: 3); check(.pow, -2, 4, b: 2); check(.pow, -2, 0.25, b: -2)
        check(.pow, 2, 0x1p-149, b: -149); check(.pow, 2, 0, b: -151); check(.pow, 2, inf, b: 128); check(.pow, 10, 1e10, b: 10)
        check(.pow, nan, nan, b: 2); check(.pow, 2, nan, b: nan); check(.pow, -3, Float(-1.0 / 27), b: -3)
        check(.pow, -2, 0x1p24, b: 24); check(.pow, -1, 1, b: 0x1p25); check(.pow, -1, -1, b: 0x1p23 + 1)
    }

    /// sin and cos of huge arguments (the Payne–Hanek path) and near multiples of π/2 (the
    /// worst cancellations), against glibc's double sin/cos, whose reduction is exact.
    func testSinCosOfHugeAndHardArguments() {
        var xs: [Float] = [.greatestFiniteMagnitude, 1e38, 1e30, 1e22, 1e10, 0x1p19, 0x1p19 - 0.03125, 0x1p19 + 0.0625,
                           8.3e6, 16777215, 2.0e7, 1.0e9, 3.3e24]
        for k in 1..<400 { xs.append(Float(Double(k) * Double.pi / 2)) }
        for e in 0..<128 { xs.append(Float(Double.pi / 2 * Foundation.pow(2.0, Double(e)))) }
        xs += xs.map { -$0 }
        for op: Op in [.sin, .cos] {
            let got = Kernels.scalarMath(op, xs)
            for (x, y) in zip(xs, got) {
                XCTAssertLessThanOrEqual(Self.ulpError(y, Self.reference(op, Double(x))), 0.5001, "\(op)(\(x)) = \(y)")
            }
            // The tensor op (vector loop, big blocks through the scalar path) agrees.
            assertSameBits((op == .sin ? Tensor(xs, shape: [xs.count]).sin() : Tensor(xs, shape: [xs.count]).cos()).toArray(),
                           got, "\(op) tensor op")
        }
    }

    /// The double functions the optimisers, schedulers and init use: within a few ulp of
    /// Foundation's, with the special values of C.
    func testDoubleFunctions() {
        func ulps(_ a: Double, _ b: Double) -> Double {
            if a == b || (a.isNaN && b.isNaN) { return 0 }
            return abs(a - b) / b.ulp
        }
        let xs = stride(from: -40.0, through: 40.0, by: 0.01234567).map { $0 } + [1e-300, Double.leastNonzeroMagnitude, 1e10, 1e100, 1e300]
        var worst: [String: Double] = [:]
        func note(_ name: String, _ e: Double) { worst[name] = Swift.max(worst[name] ?? 0, e) }
        for x in xs {
            note("exp", ulps(Kernels.exp(x), Foundation.exp(x)))
            note("sin", ulps(Kernels.sin(x), Foundation.sin(x)))
            note("cos", ulps(Kernels.cos(x), Foundation.cos(x)))
            note("erf", ulps(Kernels.erf(x), Foundation.erf(x)))
            // erfc = 1 − erf below 2.5: its error is absolute there, ~1e-16.
            note("erfc", x < 2.5 ? abs(Kernels.erfc(x) - Foundation.erfc(x)) / 0x1p-52 : ulps(Kernels.erfc(x), Foundation.erfc(x)))
            if x > 0 {
                note("log", ulps(Kernels.log(x), Foundation.log(x)))
                note("pow", ulps(Kernels.pow(x, 0.37), Foundation.pow(x, 0.37)))
            }
        }
        // The schedulers' arguments: gamma^epoch and cos(π·epoch/T).
        for n in 0..<200 {
            note("pow", ulps(Kernels.pow(0.95, Double(n)), Foundation.pow(0.95, Double(n))))
            note("cos", ulps(Kernels.cos(Double.pi * Double(n) / 97), Foundation.cos(Double.pi * Double(n) / 97)))
        }
        let bounds: [String: Double] = ["exp": 1, "log": 1, "sin": 1, "cos": 1, "erf": 10, "erfc": 5, "pow": 1]
        for (name, bound) in bounds { XCTAssertLessThanOrEqual(worst[name] ?? .nan, bound, name) }
        XCTAssertEqual(Kernels.exp(-.infinity), 0); XCTAssertEqual(Kernels.exp(.infinity), .infinity); XCTAssertEqual(Kernels.exp(710), .infinity)
        XCTAssertEqual(Kernels.exp(-746), 0); XCTAssertEqual(Kernels.exp(-745), Foundation.exp(-745))
        XCTAssertEqual(Kernels.log(0), -.infinity); XCTAssert(Kernels.log(-1).isNaN); XCTAssertEqual(Kernels.log(1), 0)
        XCTAssertLessThanOrEqual(ulps(Kernels.log(Double.leastNonzeroMagnitude), Foundation.log(Double.leastNonzeroMagnitude)), 1)
        XCTAssertEqual(Kernels.pow(-2, 3), -8); XCTAssertEqual(Kernels.pow(.nan, 0), 1); XCTAssertEqual(Kernels.pow(1, .nan), 1)
        XCTAssert(Kernels.pow(-2, 0.5).isNaN); XCTAssertEqual(Kernels.pow(-0.0, -1), -.infinity)
        XCTAssertEqual(Kernels.sin(-0.0).bitPattern, (-0.0).bitPattern); XCTAssert(Kernels.cos(.infinity).isNaN)
        XCTAssertEqual(Kernels.erf(.infinity), 1); XCTAssertEqual(Kernels.erfc(-.infinity), 2); XCTAssertEqual(Kernels.erfc(30), 0)
        for x in [1e22, 1e300, 1.7e308, 6.0e15, 0x1p19 * 1.5] {
            XCTAssertLessThanOrEqual(ulps(Kernels.sin(x), Foundation.sin(x)), 2, "sin(\(x))")
            XCTAssertLessThanOrEqual(ulps(Kernels.cos(x), Foundation.cos(x)), 2, "cos(\(x))")
        }
    }

    // MARK: Same bits on every path

    /// The unary ops as the kernels run them (the AVX2 clone on an AVX2 machine, vectorised,
    /// over 1, 2 and 4 threads) give exactly the bits of the scalar baseline-ISA reference.
    func testKernelsEqualTheScalarReferenceOnEveryThreadCount() {
        let xs = Self.grid + Self.sweep.prefix(20000)
        let x = Tensor(xs, shape: [xs.count])
        let ops: [(Op, Float, (Tensor) -> Tensor)] = [
            (.exp, 0, { $0.exp() }), (.log, 0, { $0.log() }), (.log2, 0, { $0.log2() }), (.log1p, 0, { $0.log1p() }),
            (.expm1, 0, { $0.expm1() }), (.tanh, 0, { $0.tanh() }), (.sigmoid, 0, { $0.sigmoid() }),
            (.sin, 0, { $0.sin() }), (.cos, 0, { $0.cos() }), (.erf, 0, { $0.erf() }), (.silu, 0, { $0.silu() }),
            (.mish, 0, { $0.mish() }), (.geluTanh, 0, { $0.gelu(approximate: .tanh) }),
            (.softplus, 1, { $0.softplus() }), (.softplus, 0.5, { $0.softplus(beta: 0.5) }),
            (.pow, 2.5, { $0.pow(2.5) }), (.pow, -3, { $0.pow(-3) }),
        ]
        parallelThreshold = 1
        for threads in [1, 2, 4] {
            setNumThreads(threads)
            for (op, b, f) in ops {
                assertSameBits(f(x).toArray(), Kernels.scalarMath(op, xs, b), "\(op) \(b) on \(threads) threads")
            }
            let want = xs.map { $0 > 0 ? $0 : 0.7 * Kernels.scalarMath(.expm1, [$0])[0] }
            assertSameBits(x.elu(alpha: 0.7).toArray(), want, "elu on \(threads) threads")
        }
    }

    /// randn, cross-entropy, log-softmax, logsumexp and attention (its lse) give the same bits
    /// on 1, 2 and 4 threads and on the generic CPU path.
    func testSameBitsOnEveryThreadCountAndCPUPath() {
        func run() -> [UInt64] {
            let g = Generator(seed: 99)
            let r = Tensor.randn([10001], generator: g)
            let logits = Tensor.randn([300, 37], generator: g) * 4
            let target = Tensor((0..<300).map { Double(($0 * 7) % 37) }, shape: [300]).to(.int64)
            let q = Tensor.randn([2, 3, 50, 16], generator: g), k = Tensor.randn([2, 3, 70, 16], generator: g)
            let v = Tensor.randn([2, 3, 70, 16], generator: g)
            return [Self.hash(r.toArray()), Self.hash([crossEntropy(logits, target).toArray()[0]]),
                    Self.hash(logits.logSoftmax(dim: 1).toArray()), Self.hash(logits.logsumexp(dim: 1).toArray()),
                    Self.hash(scaledDotProductAttention(query: q, key: k, value: v).toArray())]
        }
        parallelThreshold = 1
        setNumThreads(1)
        let reference = run()
        for threads in [2, 4] {
            setNumThreads(threads)
            XCTAssertEqual(run(), reference, "\(threads) threads")
        }
        setCPUCapability(.generic)
        XCTAssertEqual(run(), reference, "generic path")
    }

    // MARK: Golden bits

    /// Hashes of the exact output bits for fixed inputs. These are the same on every x86-64
    /// machine and libc; a change here means Ember's numbers changed (regenerate the fixtures
    /// that hold Ember-made bits, e.g. scripts/make_gpt_ember_fixture.sh, and update these).
    func testGoldenBits() {
        let x = Tensor(Self.grid, shape: [Self.grid.count])
        var got: [String: UInt64] = [:]
        got["exp"] = Self.hash(x.exp().toArray())
        got["log"] = Self.hash(x.log().toArray())
        got["log2"] = Self.hash(x.log2().toArray())
        got["log1p"] = Self.hash(x.log1p().toArray())
        got["expm1"] = Self.hash(x.expm1().toArray())
        got["tanh"] = Self.hash(x.tanh().toArray())
        got["sigmoid"] = Self.hash(x.sigmoid().toArray())
        got["sin"] = Self.hash(x.sin().toArray())
        got["cos"] = Self.hash(x.cos().toArray())
        got["erf"] = Self.hash(x.erf().toArray())
        got["silu"] = Self.hash(x.silu().toArray())
        got["mish"] = Self.hash(x.mish().toArray())
        got["gelu_tanh"] = Self.hash(x.gelu(approximate: .tanh).toArray())
        got["softplus"] = Self.hash(x.softplus(beta: 0.5, threshold: 10).toArray())
        got["elu"] = Self.hash(x.elu(alpha: 0.7).toArray())
        got["pow"] = Self.hash(x.pow(Tensor(Self.grid.reversed(), shape: [Self.grid.count])).toArray())
        let g = Generator(seed: 1234)
        got["randn"] = Self.hash(Tensor.randn([4096], generator: g).toArray())
        let logits = Tensor.randn([64, 10], generator: g) * 3
        let target = Tensor((0..<64).map { Double($0 % 10) }, shape: [64]).to(.int64)
        got["cross_entropy"] = Self.hash(crossEntropy(logits, target).toArray())
        got["log_softmax"] = Self.hash(logits.logSoftmax(dim: 1).toArray())
        let w = Tensor(empty: [500])
        Init.truncNormal_(w, std: 0.02, generator: Generator(seed: 5))
        got["trunc_normal"] = Self.hash(w.toArray())
        let ds = stride(from: -50.0, through: 50.0, by: 0.0137).map { $0 }
        got["double_exp"] = Self.hash(ds.map(Kernels.exp))
        got["double_log"] = Self.hash(ds.map { Kernels.log(abs($0)) })
        got["double_cos"] = Self.hash(ds.map(Kernels.cos))
        got["double_sin"] = Self.hash(ds.map(Kernels.sin))
        got["double_pow"] = Self.hash(ds.map { Kernels.pow(abs($0), 0.731) } + (0..<1000).map { Kernels.pow(0.999, Double($0)) })
        got["double_erf"] = Self.hash(ds.map(Kernels.erf))
        got["double_erfc"] = Self.hash(ds.map(Kernels.erfc))
        // The first randn values themselves, for a readable failure.
        XCTAssertEqual(Tensor.randn([4], generator: Generator(seed: 1234)).toArray().map(\.bitPattern), Self.firstRandn,
                       "randn(seed 1234)[0..<4]")
        for (name, h) in got.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(h, Self.golden[name], "\(name): 0x\(String(h, radix: 16))")
        }
        XCTAssertEqual(Set(got.keys), Set(Self.golden.keys))
    }

    static let firstRandn: [UInt32] = [0xbfad01f0, 0xbf648137, 0xbe6ded66, 0x3f216e1e]
    static let golden: [String: UInt64] = [
        "cos": 0x51a1200805644a26,
        "cross_entropy": 0x101d559b97f9a21e,
        "double_cos": 0x9d9fdd34ee46d9b5,
        "double_erf": 0x8faf96450433a5cb,
        "double_erfc": 0x0b2f883280d72399,
        "double_exp": 0xdf4828b4010387c5,
        "double_log": 0xbc288a958d38daf3,
        "double_pow": 0x284329f512e64256,
        "double_sin": 0x8fbb8bb71e760d02,
        "elu": 0x480029ab67a8bb75,
        "erf": 0x7bb9d69b0d316115,
        "exp": 0xc2c07e198687b870,
        "expm1": 0x1f652776c4eb79c1,
        "gelu_tanh": 0x864663c87f1949f0,
        "log": 0x71d1d960a115d787,
        "log1p": 0x2f083a738270fd25,
        "log2": 0xfcf9c096e63ede36,
        "log_softmax": 0xd482d582c61f4965,
        "mish": 0x297fbd723af5d6f6,
        "pow": 0x38b61c4aed8abaaa,
        "randn": 0x070690b8c10c2b4c,
        "sigmoid": 0x4cb28f90a5d0e2c0,
        "silu": 0xbc61feee9c6bfdfb,
        "sin": 0x0f58f25ea53f61c9,
        "softplus": 0x3eddae48f7574c2b,
        "tanh": 0xd7326bdaca537138,
        "trunc_normal": 0x7d7550d4da78851e,
    ]
}
