import CEmber
import Foundation

/// The C boundary: the only Swift file that imports `CEmber`. Each wrapper is a typed,
/// pointer-level call into csrc/ (see include/ember.h for each kernel's contract); shape
/// checks happen in the ops before these are called.
enum Kernels {
    // MARK: Threads
    static func setNumThreads(_ n: Int) { ember_set_num_threads(Int32(n)) }
    static func numThreads() -> Int { Int(ember_get_num_threads()) }
    static func numCores() -> Int { Int(ember_num_cores()) }
    static func parallelThreshold() -> Int { Int(ember_get_parallel_threshold()) }
    static func setParallelThreshold(_ n: Int) { ember_set_parallel_threshold(Int64(n)) }
    static var gradEnabled: Bool {
        get { ember_grad_enabled() != 0 }
        set { ember_set_grad_enabled(newValue ? 1 : 0) }
    }
    /// Whether kernels called from this thread stay on it (set on DataLoader workers).
    static var threadIsSerial: Bool {
        get { ember_thread_serial() != 0 }
        set { ember_set_thread_serial(newValue ? 1 : 0) }
    }

    // MARK: GEMM
    static func cpuPathName(_ path: Int) -> UnsafePointer<CChar> { ember_cpu_path_name(Int32(path)) }
    static func gemmPath() -> Int { Int(ember_gemm_get_path()) }
    static func hardwarePath() -> Int { Int(ember_cpu_hardware_path()) }
    static func setGemmPath(_ path: Int) -> Int { Int(ember_gemm_set_path(Int32(path))) }
    /// Overrides the engine's cache blocking (tests, tuning); 0 keeps the machine's value.
    /// Blocking never changes the bits.
    static func setGemmBlocking(mc: Int, nc: Int, kc: Int) {
        ember_gemm_set_blocking(Int64(mc), Int64(nc), Int64(kc))
    }
    static var gemmBackendIsOpenBLAS: Bool {
        get { ember_gemm_get_backend() == Int32(EMBER_GEMM_OPENBLAS) }
        set { ember_gemm_set_backend(Int32(newValue ? EMBER_GEMM_OPENBLAS : EMBER_GEMM_EMBER)) }
    }
    static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        ember_sgemm(transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a,
                    Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
    }
    static func linearForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                              _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                              n: Int, inFeatures: Int, outFeatures: Int, relu: Bool = false) {
        ember_linear_forward(out, inp, weight, bias, Int64(n), Int64(inFeatures), Int64(outFeatures), relu ? 1 : 0)
    }
    static func linearBackward(dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                               dOut: UnsafePointer<Float>, input: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, n: Int, inFeatures: Int, outFeatures: Int) {
        ember_linear_backward(dInput, dWeight, dOut, input, weight, Int64(n), Int64(inFeatures), Int64(outFeatures))
    }
    /// A weight packed once for many products (`ember_gemm_pack_b`): op(B) is (k, n).
    final class PackedB {
        let handle: OpaquePointer
        let k: Int, n: Int
        init?(transB: Bool, k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int) {
            guard let h = ember_gemm_pack_b(transB ? 1 : 0, Int64(k), Int64(n), b, Int64(ldb)) else { return nil }
            (handle, self.k, self.n) = (h, k, n)
        }
        deinit { ember_gemm_packed_free(handle) }
        var bytes: Int { Int(ember_gemm_packed_bytes(handle)) }
    }
    static func sgemmPacked(transA: Bool, m: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            b: PackedB, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        ember_sgemm_packed(transA ? 1 : 0, Int64(m), Int64(b.n), Int64(b.k), alpha, a, Int64(lda), b.handle,
                           beta, c, Int64(ldc))
    }
    /// A left operand packed once for many products (`ember_gemm_pack_a`): op(A) is (m, k).
    final class PackedA {
        let handle: OpaquePointer
        let m: Int, k: Int
        init?(transA: Bool, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int) {
            guard let h = ember_gemm_pack_a(transA ? 1 : 0, Int64(m), Int64(k), a, Int64(lda)) else { return nil }
            (handle, self.m, self.k) = (h, m, k)
        }
        deinit { ember_gemm_packed_a_free(handle) }
        var bytes: Int { Int(ember_gemm_packed_a_bytes(handle)) }
    }
    static func sgemmPackedA(n: Int, alpha: Float, a: PackedA, transB: Bool, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        ember_sgemm_packed_a(Int64(a.m), Int64(n), Int64(a.k), alpha, a.handle, transB ? 1 : 0, b, Int64(ldb), beta, c,
                             Int64(ldc))
    }
    static func linearForwardPacked(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                                    _ weight: PackedB, _ bias: UnsafePointer<Float>?, n: Int, relu: Bool = false) {
        ember_linear_forward_packed(out, inp, weight.handle, bias, Int64(n), Int64(weight.k), Int64(weight.n),
                                    relu ? 1 : 0)
    }
    static func biasBackward(_ dbias: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                             n: Int, outFeatures: Int, accumulate: Bool) {
        ember_bias_backward(dbias, dout, Int64(n), Int64(outFeatures), accumulate ? 1 : 0)
    }

    // MARK: Activations
    static func reluForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ n: Int) {
        ember_relu_forward(out, inp, Int64(n))
    }
    static func reluBackward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                             _ out: UnsafePointer<Float>, _ n: Int) {
        ember_relu_backward(dinp, dout, out, Int64(n))
    }
    static func geluForwardSaving(_ out: UnsafeMutablePointer<Float>, twoPhi: UnsafeMutablePointer<Float>,
                                  _ inp: UnsafePointer<Float>, _ n: Int) {
        ember_gelu_forward_saving(out, twoPhi, inp, Int64(n))
    }
    static func geluBackward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                             _ inp: UnsafePointer<Float>, twoPhi: UnsafePointer<Float>, _ n: Int) {
        ember_gelu_backward(dinp, dout, inp, twoPhi, Int64(n))
    }
    static func softmaxForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                               rows: Int, cols: Int, log: Bool) {
        ember_softmax_forward(out, inp, Int64(rows), Int64(cols), log ? 1 : 0)
    }
    static func softmaxBackward(_ dinp: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                _ out: UnsafePointer<Float>, rows: Int, cols: Int, log: Bool) {
        ember_softmax_backward(dinp, dout, out, Int64(rows), Int64(cols), log ? 1 : 0)
    }
    static func dropoutForward(_ out: UnsafeMutablePointer<Float>, _ mask: UnsafeMutablePointer<Float>,
                               _ inp: UnsafePointer<Float>, _ n: Int, p: Float, seed: UInt64, offset: UInt64) {
        ember_dropout_forward(out, mask, inp, Int64(n), p, seed, offset)
    }

    // MARK: Losses
    static func crossEntropyForward(_ losses: UnsafeMutablePointer<Float>, _ probs: UnsafeMutablePointer<Float>,
                                    _ logits: UnsafePointer<Float>, _ targets: UnsafePointer<Int64>,
                                    _ weights: UnsafePointer<Float>?, n: Int, c: Int,
                                    labelSmoothing: Float) -> (sum: Double, weightSum: Double) {
        var ws = 0.0
        let s = ember_cross_entropy_forward(losses, probs, logits, targets, weights, Int64(n), Int64(c),
                                            labelSmoothing, &ws)
        return (s, ws)
    }
    static func crossEntropyBackward(_ dlogits: UnsafeMutablePointer<Float>, _ probs: UnsafePointer<Float>,
                                     _ targets: UnsafePointer<Int64>, _ weights: UnsafePointer<Float>?,
                                     _ dloss: UnsafePointer<Float>, dlossStride: Int, norm: Float,
                                     n: Int, c: Int, labelSmoothing: Float) {
        ember_cross_entropy_backward(dlogits, probs, targets, weights, dloss, Int64(dlossStride), norm,
                                     Int64(n), Int64(c), labelSmoothing)
    }
    static func nllForward(_ losses: UnsafeMutablePointer<Float>, _ logp: UnsafePointer<Float>,
                           _ targets: UnsafePointer<Int64>, _ weights: UnsafePointer<Float>?,
                           n: Int, c: Int) -> (sum: Double, weightSum: Double) {
        var ws = 0.0
        let s = ember_nll_forward(losses, logp, targets, weights, Int64(n), Int64(c), &ws)
        return (s, ws)
    }
    static func nllBackward(_ dlogp: UnsafeMutablePointer<Float>, _ targets: UnsafePointer<Int64>,
                            _ weights: UnsafePointer<Float>?, _ dloss: UnsafePointer<Float>,
                            dlossStride: Int, norm: Float, n: Int, c: Int) {
        ember_nll_backward(dlogp, targets, weights, dloss, Int64(dlossStride), norm, Int64(n), Int64(c))
    }

    // MARK: Convolution, pooling, normalisation (conv.c, pool.c, norm.c)
    private static func cShape(_ g: ConvGeometry) -> ember_conv2d_shape {
        ember_conv2d_shape(N: Int64(g.n), C: Int64(g.c), H: Int64(g.h), W: Int64(g.w), OC: Int64(g.oc),
                           KH: Int64(g.kh), KW: Int64(g.kw), OH: Int64(g.oh), OW: Int64(g.ow),
                           SH: Int64(g.sh), SW: Int64(g.sw), PH: Int64(g.ph), PW: Int64(g.pw),
                           DH: Int64(g.dh), DW: Int64(g.dw), G: Int64(g.groups))
    }
    static func conv2dForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                              _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ g: ConvGeometry) {
        var s = cShape(g)
        ember_conv2d_forward(out, inp, weight, bias, &s)
    }
    static func conv2dBackward(dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                               dBias: UnsafeMutablePointer<Float>?, dOut: UnsafePointer<Float>,
                               input: UnsafePointer<Float>, weight: UnsafePointer<Float>, _ g: ConvGeometry) {
        var s = cShape(g)
        ember_conv2d_backward(dInput, dWeight, dBias, dOut, input, weight, &s)
    }
    private static func cShape(_ g: PoolGeometry) -> ember_pool2d_shape {
        ember_pool2d_shape(planes: Int64(g.planes), H: Int64(g.h), W: Int64(g.w), OH: Int64(g.oh), OW: Int64(g.ow),
                           KH: Int64(g.kh), KW: Int64(g.kw), SH: Int64(g.sh), SW: Int64(g.sw), PH: Int64(g.ph),
                           PW: Int64(g.pw), DH: Int64(g.dh), DW: Int64(g.dw),
                           count_include_pad: g.countIncludePad ? 1 : 0, divisor: Int64(g.divisor ?? 0))
    }
    static func maxPool2dForward(_ out: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int64>,
                                 _ inp: UnsafePointer<Float>, _ g: PoolGeometry) {
        var s = cShape(g)
        ember_maxpool2d_forward(out, indices, inp, &s)
    }
    static func indexPoolBackward(_ dInput: UnsafeMutablePointer<Float>, _ dOut: UnsafePointer<Float>,
                                  _ indices: UnsafePointer<Int64>, planes: Int, inPlane: Int, outPlane: Int) {
        ember_index_pool_backward(dInput, dOut, indices, Int64(planes), Int64(inPlane), Int64(outPlane))
    }
    static func avgPool2dForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ g: PoolGeometry) {
        var s = cShape(g)
        ember_avgpool2d_forward(out, inp, &s)
    }
    static func avgPool2dBackward(_ dInput: UnsafeMutablePointer<Float>, _ dOut: UnsafePointer<Float>, _ g: PoolGeometry) {
        var s = cShape(g)
        ember_avgpool2d_backward(dInput, dOut, &s)
    }
    static func adaptivePool2dForward(max: Bool, _ out: UnsafeMutablePointer<Float>, _ indices: UnsafeMutablePointer<Int64>?,
                                      _ inp: UnsafePointer<Float>, planes: Int, h: Int, w: Int, oh: Int, ow: Int) {
        ember_adaptive_pool2d_forward(max ? 1 : 0, out, indices, inp, Int64(planes), Int64(h), Int64(w), Int64(oh), Int64(ow))
    }
    static func adaptiveAvgPool2dBackward(_ dInput: UnsafeMutablePointer<Float>, _ dOut: UnsafePointer<Float>,
                                          planes: Int, h: Int, w: Int, oh: Int, ow: Int) {
        ember_adaptive_avgpool2d_backward(dInput, dOut, Int64(planes), Int64(h), Int64(w), Int64(oh), Int64(ow))
    }
    static func interpolate2d(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, planes: Int,
                              h: Int, w: Int, oh: Int, ow: Int, bilinear: Bool, alignCorners: Bool,
                              scaleH: Float, scaleW: Float, backward: Bool) {
        ember_interpolate2d(out, inp, Int64(planes), Int64(h), Int64(w), Int64(oh), Int64(ow), bilinear ? 1 : 0,
                            alignCorners ? 1 : 0, scaleH, scaleW, backward ? 1 : 0)
    }
    static func batchNormStats(mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
                               _ inp: UnsafePointer<Float>, n: Int, c: Int, s: Int) {
        ember_batchnorm_stats(mean, variance, inp, Int64(n), Int64(c), Int64(s))
    }
    static func batchNormForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                                 mean: UnsafePointer<Float>, invstd: UnsafePointer<Float>,
                                 weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, n: Int, c: Int, s: Int) {
        ember_batchnorm_forward(out, inp, mean, invstd, weight, bias, Int64(n), Int64(c), Int64(s))
    }
    static func batchNormBackward(dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                                  dBias: UnsafeMutablePointer<Float>?, dOut: UnsafePointer<Float>,
                                  input: UnsafePointer<Float>, mean: UnsafePointer<Float>, invstd: UnsafePointer<Float>,
                                  weight: UnsafePointer<Float>?, n: Int, c: Int, s: Int, training: Bool) {
        ember_batchnorm_backward(dInput, dWeight, dBias, dOut, input, mean, invstd, weight, Int64(n), Int64(c),
                                 Int64(s), training ? 1 : 0)
    }
    static func layerNormForward(_ out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>?,
                                 rstd: UnsafeMutablePointer<Float>?, _ inp: UnsafePointer<Float>,
                                 weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, rows: Int, d: Int, eps: Float) {
        ember_layernorm_forward(out, mean, rstd, inp, weight, bias, Int64(rows), Int64(d), eps)
    }
    static func layerNormBackward(dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                                  dBias: UnsafeMutablePointer<Float>?, dOut: UnsafePointer<Float>,
                                  input: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                  weight: UnsafePointer<Float>?, rows: Int, d: Int) {
        ember_layernorm_backward(dInput, dWeight, dBias, dOut, input, mean, rstd, weight, Int64(rows), Int64(d))
    }

    // MARK: Elementwise
    enum Binary: Int32 { case add = 0, sub, mul, div, pow, maximum, minimum }
    enum Compare: Int32 { case eq = 0, ne, lt, le, gt, ge }
    enum Unary: Int32 {
        case neg = 0, exp, log, sqrt, abs, tanh, sigmoid, sin, cos, rsqrt, reciprocal, square, sign, floor, ceil,
             round, trunc, log1p, expm1, log2, erf, gelu, geluTanh, silu, mish
    }
    enum Unary2: Int32 { case leakyRelu = 0, elu, hardtanh, softplus }

    static func binary(_ op: Binary, _ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>,
                       _ b: UnsafePointer<Float>, shape: [Int64], aStrides: [Int64], bStrides: [Int64]) {
        ember_binary_f32(op.rawValue, out, a, b, Int32(shape.count), shape, aStrides, bStrides)
    }
    static func binary(_ op: Binary, _ out: UnsafeMutablePointer<Int64>, _ a: UnsafePointer<Int64>,
                       _ b: UnsafePointer<Int64>, shape: [Int64], aStrides: [Int64], bStrides: [Int64]) {
        ember_binary_i64(op.rawValue, out, a, b, Int32(shape.count), shape, aStrides, bStrides)
    }
    static func compare(_ op: Compare, _ out: UnsafeMutablePointer<UInt8>, _ a: UnsafePointer<Float>,
                        _ b: UnsafePointer<Float>, shape: [Int64], aStrides: [Int64], bStrides: [Int64]) {
        ember_compare_f32(op.rawValue, out, a, b, Int32(shape.count), shape, aStrides, bStrides)
    }
    static func compare(_ op: Compare, _ out: UnsafeMutablePointer<UInt8>, _ a: UnsafePointer<Int64>,
                        _ b: UnsafePointer<Int64>, shape: [Int64], aStrides: [Int64], bStrides: [Int64]) {
        ember_compare_i64(op.rawValue, out, a, b, Int32(shape.count), shape, aStrides, bStrides)
    }
    static func unary(_ op: Unary, _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ n: Int) {
        ember_unary_f32(op.rawValue, out, inp, Int64(n))
    }
    static func unary2(_ op: Unary2, _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ n: Int,
                       a: Float, b: Float = 0) {
        ember_unary2_f32(op.rawValue, out, inp, Int64(n), a, b)
    }
    /// out = a * x + b
    static func affine(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, a: Float, b: Float, _ n: Int) {
        ember_affine_f32(out, x, a, b, Int64(n))
    }
    static func fill(_ out: UnsafeMutablePointer<Float>, _ value: Float, _ n: Int) {
        ember_affine_f32(out, nil, 0, value, Int64(n))
    }
    static func fill(_ out: UnsafeMutablePointer<Int64>, _ value: Int64, _ n: Int) {
        ember_fill_i64(out, value, Int64(n))
    }
    /// y += alpha * x
    static func axpy(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, alpha: Float, _ n: Int) {
        ember_axpy_f32(y, x, alpha, Int64(n))
    }
    static func f32ToI64(_ out: UnsafeMutablePointer<Int64>, _ inp: UnsafePointer<Float>, _ n: Int) {
        ember_f32_to_i64(out, inp, Int64(n))
    }
    static func i64ToF32(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Int64>, _ n: Int) {
        ember_i64_to_f32(out, inp, Int64(n))
    }
    static func u8ToF32(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<UInt8>, _ n: Int,
                        _ scale: Float, _ shift: Float) {
        ember_u8_to_f32(out, inp, Int64(n), scale, shift)
    }
    static func f32ToU8(_ out: UnsafeMutablePointer<UInt8>, _ inp: UnsafePointer<Float>, _ n: Int) {
        ember_f32_to_u8(out, inp, Int64(n))
    }
    static func copyStrided(dst: UnsafeMutableRawPointer, dstStrides: [Int], src: UnsafeRawPointer,
                            srcStrides: [Int], shape: [Int], itemSize: Int) {
        ember_copy_strided(dst, dstStrides.map(Int64.init), src, srcStrides.map(Int64.init),
                           Int32(shape.count), shape.map(Int64.init), Int64(itemSize))
    }
    /// dst += src through strides (serially and in order where dst overlaps itself).
    static func addStrided(dst: UnsafeMutablePointer<Float>, dstStrides: [Int], src: UnsafePointer<Float>,
                           srcStrides: [Int], shape: [Int]) {
        ember_add_strided_f32(dst, dstStrides.map(Int64.init), src, srcStrides.map(Int64.init),
                              Int32(shape.count), shape.map(Int64.init))
    }

    static func gatherBlocks(dst: UnsafeMutableRawPointer, src: UnsafeRawPointer, offsets: UnsafePointer<Int64>,
                             count: Int, shape: [Int], strides: [Int], itemSize: Int) {
        ember_gather_blocks(dst, src, offsets, Int64(count), Int32(shape.count), shape.map(Int64.init),
                            strides.map(Int64.init), Int64(itemSize))
    }
    static func scatterBlocks(dst: UnsafeMutableRawPointer, offsets: UnsafePointer<Int64>, count: Int,
                              src: UnsafeRawPointer, shape: [Int], strides: [Int], itemSize: Int, accumulate: Bool) {
        ember_scatter_blocks(dst, offsets, Int64(count), src, Int32(shape.count), shape.map(Int64.init),
                             strides.map(Int64.init), Int64(itemSize), accumulate ? 1 : 0)
    }

    // MARK: Reductions
    static func sum(_ inp: UnsafePointer<Float>, _ n: Int) -> Double { ember_sum_f32(inp, Int64(n)) }
    static func sum(_ inp: UnsafePointer<Int64>, _ n: Int) -> Int64 { ember_sum_i64(inp, Int64(n)) }
    static func countNonzero(_ inp: UnsafePointer<UInt8>, _ n: Int) -> Int64 { ember_count_u8(inp, Int64(n)) }
    static func sumDim(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                       outer: Int, dim: Int, inner: Int) {
        ember_sum_dim_f32(out, inp, Int64(outer), Int64(dim), Int64(inner))
    }
    static func maxDim(_ values: UnsafeMutablePointer<Float>?, _ indices: UnsafeMutablePointer<Int64>?,
                       _ inp: UnsafePointer<Float>, outer: Int, dim: Int, inner: Int) {
        ember_max_dim_f32(values, indices, inp, Int64(outer), Int64(dim), Int64(inner))
    }
    static func maxDim(_ values: UnsafeMutablePointer<Int64>?, _ indices: UnsafeMutablePointer<Int64>?,
                       _ inp: UnsafePointer<Int64>, outer: Int, dim: Int, inner: Int) {
        ember_max_dim_i64(values, indices, inp, Int64(outer), Int64(dim), Int64(inner))
    }

    static let reduceProd = Int32(EMBER_RED_PROD)
    static let reduceAmax = Int32(EMBER_RED_AMAX), reduceAmin = Int32(EMBER_RED_AMIN)
    static let reduceVar = Int32(EMBER_RED_VAR), reduceLogSumExp = Int32(EMBER_RED_LOGSUMEXP)
    static let reduceNorm = Int32(EMBER_RED_NORM)
    static func reduceRows(_ op: Int32, _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                           rows: Int, cols: Int, param: Double) {
        ember_reduce_rows_f32(op, out, inp, Int64(rows), Int64(cols), param)
    }
    static func cumulative(_ op: Int32, _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                           outer: Int, dim: Int, inner: Int) {
        ember_cumulative_f32(op, out, inp, Int64(outer), Int64(dim), Int64(inner))
    }

    // MARK: Optimizers
    static func sgdStep(_ param: UnsafeMutablePointer<Float>, _ grad: UnsafePointer<Float>,
                        _ buf: UnsafeMutablePointer<Float>?, _ n: Int, lr: Double, momentum: Double,
                        dampening: Double, weightDecay: Double, nesterov: Bool, firstStep: Bool,
                        maximize: Bool) {
        ember_sgd_step(param, grad, buf, Int64(n), lr, momentum, dampening, weightDecay,
                       nesterov ? 1 : 0, firstStep ? 1 : 0, maximize ? 1 : 0)
    }
    static func adamStep(_ param: UnsafeMutablePointer<Float>, _ grad: UnsafePointer<Float>,
                         _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
                         _ vmax: UnsafeMutablePointer<Float>?, _ n: Int, lr: Double, beta1: Double,
                         beta2: Double, eps: Double, weightDecay: Double, decoupled: Bool, step: Int,
                         amsgrad: Bool, maximize: Bool) {
        ember_adam_step(param, grad, m, v, vmax, Int64(n), lr, beta1, beta2, eps, weightDecay,
                        decoupled ? 1 : 0, Int64(step), amsgrad ? 1 : 0, maximize ? 1 : 0)
    }

    // MARK: Random
    static func randUniform(_ out: UnsafeMutablePointer<Float>, _ n: Int, _ low: Float, _ high: Float,
                            _ seed: UInt64, _ offset: UInt64) {
        ember_rand_uniform(out, Int64(n), low, high, seed, offset)
    }
    static func randNormal(_ out: UnsafeMutablePointer<Float>, _ n: Int, _ mean: Float, _ std: Float,
                           _ seed: UInt64, _ offset: UInt64) {
        ember_rand_normal(out, Int64(n), mean, std, seed, offset)
    }
    static func uniform01(_ seed: UInt64, _ counter: UInt64) -> Float {
        var x: Float = 0
        ember_rand_uniform(&x, 1, 0, 1, seed, counter)
        return x
    }
    /// SplitMix64's finaliser (the same mixing as the C generator).
    static func mix64(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    // MARK: Data
    static func gatherU8ToF32(_ out: UnsafeMutablePointer<Float>, _ src: UnsafePointer<UInt8>,
                              _ indices: UnsafePointer<Int64>, count: Int, sampleSize: Int,
                              scale: Float, shift: Float) {
        ember_gather_u8_to_f32(out, src, indices, Int64(count), Int64(sampleSize), scale, shift)
    }
    static func gatherU8ToI64(_ out: UnsafeMutablePointer<Int64>, _ src: UnsafePointer<UInt8>,
                              _ indices: UnsafePointer<Int64>, count: Int) {
        ember_gather_u8_to_i64(out, src, indices, Int64(count))
    }
    /// Inflates a gzip file (plain files pass through): all of it, or its first `maxBytes`
    /// bytes and whether it holds more. Throws the zlib message.
    static func gunzip(path: String, maxBytes: Int? = nil) throws -> (bytes: [UInt8], more: Bool) {
        var out: UnsafeMutablePointer<UInt8>?
        var len: Int64 = 0
        var more: Int32 = 0
        var err = [CChar](repeating: 0, count: 256)
        let rc = ember_gunzip_file(path, Int64(maxBytes ?? -1), &out, &len, &more, &err, 256)
        guard rc == 0, let out else {
            throw GunzipError(message: String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { free(out) }
        return (Array(UnsafeBufferPointer(start: out, count: Int(len))), more != 0)
    }
    struct GunzipError: Error { let message: String }

    // MARK: Archives (libarchive; see ArchiveReader)
    static func archiveOpen(path: String, options: String? = nil) -> (OpaquePointer?, String) {
        var err = [CChar](repeating: 0, count: 256)
        let ar = ember_archive_open_file_options(path, options, &err, 256)
        return (ar, cString(err))
    }
    static func archiveOpen(memory: UnsafeRawBufferPointer, options: String? = nil) -> (OpaquePointer?, String) {
        var err = [CChar](repeating: 0, count: 256)
        let ar = ember_archive_open_memory_options(memory.baseAddress, Int64(memory.count), options, &err, 256)
        return (ar, cString(err))
    }
    /// (name, declared size or -1, is a regular file); nil at the end; throws the message.
    static func archiveNext(_ ar: OpaquePointer) -> Result<(String, Int, Bool)?, ArchiveFailure> {
        var name: UnsafePointer<CChar>?
        var size: Int64 = -1
        var isFile: Int32 = 0
        switch ember_archive_next(ar, &name, &size, &isFile) {
        case 0: return .success(nil)
        case 1: return .success((String(cString: name!), Int(size), isFile != 0))
        default: return .failure(ArchiveFailure(message: String(cString: ember_archive_error(ar))))
        }
    }
    static func archiveRead(_ ar: OpaquePointer, into buf: UnsafeMutableRawBufferPointer) -> Result<Int, ArchiveFailure> {
        let n = ember_archive_read(ar, buf.baseAddress, Int64(buf.count))
        if n < 0 { return .failure(ArchiveFailure(message: String(cString: ember_archive_error(ar)))) }
        return .success(Int(n))
    }
    static func archiveClose(_ ar: OpaquePointer) { ember_archive_close(ar) }
    struct ArchiveFailure: Error { let message: String }
    private static func cString(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Images (image.c; see decodeImage)
    /// Decodes PNG or JPEG bytes in a torchvision read mode: the header first, then
    /// `allocate(channels, height, width)` gives the [C, H, W] destination. The library's
    /// message on failure.
    static func decodeImage(_ bytes: UnsafeRawBufferPointer, mode: Int, maxPixels: Int,
                            allocate: (Int, Int, Int) -> UnsafeMutablePointer<UInt8>) -> Result<Void, ImageFailure> {
        withOpenImage(bytes, mode: mode, maxPixels: maxPixels) { im, c, h, w, err in
            ember_image_decode(im, allocate(c, h, w), err, 256)
        }
    }
    /// Like `decodeImage`, only a window: `window(height, width)` picks it from the header's
    /// size, `allocate(channels, windowHeight, windowWidth)` gives its destination.
    static func decodeImageWindow(_ bytes: UnsafeRawBufferPointer, mode: Int, maxPixels: Int,
                                  window: (Int, Int) -> (top: Int, left: Int, height: Int, width: Int),
                                  allocate: (Int, Int, Int) -> UnsafeMutablePointer<UInt8>) -> Result<Void, ImageFailure> {
        withOpenImage(bytes, mode: mode, maxPixels: maxPixels) { im, c, h, w, err in
            let r = window(h, w)
            return ember_image_decode_window(im, allocate(c, r.height, r.width), Int64(r.top), Int64(r.left),
                                             Int64(r.height), Int64(r.width), err, 256)
        }
    }
    /// Opens the image (its header read), runs `decode(image, channels, height, width, error
    /// buffer)` and closes it; a nonzero return is a failure with the library's message.
    private static func withOpenImage(_ bytes: UnsafeRawBufferPointer, mode: Int, maxPixels: Int,
                                      _ decode: (OpaquePointer, Int, Int, Int, UnsafeMutablePointer<CChar>) -> Int32)
        -> Result<Void, ImageFailure> {
        var err = [CChar](repeating: 0, count: 256)
        var h: Int64 = 0, w: Int64 = 0
        var c: Int32 = 0
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return .failure(ImageFailure(message: "the file is empty")) }
        guard let im = ember_image_open(base.assumingMemoryBound(to: UInt8.self), Int64(bytes.count), Int32(mode), Int64(maxPixels), &h, &w, &c, &err, 256)
        else { return .failure(ImageFailure(message: cString(err))) }
        defer { ember_image_close(im) }
        let status = err.withUnsafeMutableBufferPointer { decode(im, Int(c), Int(h), Int(w), $0.baseAddress!) }
        return status == 0 ? .success(()) : .failure(ImageFailure(message: cString(err)))
    }
    struct ImageFailure: Error { let message: String }

    // MARK: Resampling (resample.c; see Resize)
    static func resizeAA(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, planes: Int, h: Int, w: Int,
                         oh: Int, ow: Int, antialias: Bool) -> Bool {
        ember_resize_aa_f32(out, inp, Int64(planes), Int64(h), Int64(w), Int64(oh), Int64(ow), antialias ? 1 : 0) == 0
    }
    static func resizeAA(_ out: UnsafeMutablePointer<UInt8>, _ inp: UnsafePointer<UInt8>, planes: Int, h: Int, w: Int,
                         oh: Int, ow: Int, antialias: Bool) -> Bool {
        ember_resize_aa_u8(out, inp, Int64(planes), Int64(h), Int64(w), Int64(oh), Int64(ow), antialias ? 1 : 0) == 0
    }
    static func resizeNearest(_ out: UnsafeMutablePointer<UInt8>, _ inp: UnsafePointer<UInt8>, planes: Int, h: Int, w: Int,
                              oh: Int, ow: Int) {
        ember_resize_nearest_u8(out, inp, Int64(planes), Int64(h), Int64(w), Int64(oh), Int64(ow))
    }
    /// Resizes a crop window of uint8 planes in place of a copy: false when out of memory.
    static func resizeAAWindow(_ out: UnsafeMutablePointer<UInt8>, _ inp: UnsafePointer<UInt8>, planes: Int, planeStride: Int,
                               rowStride: Int, h: Int, w: Int, oh: Int, ow: Int, antialias: Bool) -> Bool {
        ember_resize_aa_u8_window(out, inp, Int64(planes), Int64(planeStride), Int64(rowStride), Int64(h), Int64(w),
                                  Int64(oh), Int64(ow), antialias ? 1 : 0) == 0
    }
    static func flipRows(_ out: UnsafeMutableRawPointer, _ inp: UnsafeRawPointer, rows: Int, w: Int, itemSize: Int) {
        ember_flip_rows(out, inp, Int64(rows), Int64(w), Int64(itemSize))
    }
    /// torchvision's affine grid sampling (rotate): false when out of memory.
    static func affineSample(_ out: UnsafeMutableRawPointer, _ inp: UnsafeRawPointer, u8: Bool, images: Int, c: Int, h: Int,
                             w: Int, oh: Int, ow: Int, theta: [Float], bilinear: Bool, fill: [Float]?) -> Bool {
        if let fill {
            return ember_affine_sample(out, inp, u8 ? 1 : 0, Int64(images), Int64(c), Int64(h), Int64(w), Int64(oh), Int64(ow),
                                       theta, bilinear ? 1 : 0, fill) == 0
        }
        return ember_affine_sample(out, inp, u8 ? 1 : 0, Int64(images), Int64(c), Int64(h), Int64(w), Int64(oh), Int64(ow),
                                   theta, bilinear ? 1 : 0, nil) == 0
    }

    static var standardOutput: UnsafeMutablePointer<FILE> { ember_stdout() }
    static var standardError: UnsafeMutablePointer<FILE> { ember_stderr() }

    static func md5(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 16)
        digest.withUnsafeMutableBufferPointer { d in
            ember_md5(d.baseAddress!, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), Int64(bytes.count))
        }
        return digest
    }
}

// MARK: Embedding (csrc/embedding.c)
extension Kernels {
    static func embeddingForward(_ out: UnsafeMutablePointer<Float>, _ weight: UnsafePointer<Float>,
                                 _ indices: UnsafePointer<Int64>, count: Int, dim: Int) {
        ember_embedding_forward(out, weight, indices, Int64(count), Int64(dim))
    }
    static func embeddingBackward(_ dWeight: UnsafeMutablePointer<Float>, _ dOut: UnsafePointer<Float>,
                                  _ indices: UnsafePointer<Int64>, rowScale: UnsafePointer<Float>?, count: Int, rows: Int,
                                  dim: Int, paddingIdx: Int) {
        ember_embedding_backward(dWeight, dOut, indices, rowScale, Int64(count), Int64(rows), Int64(dim), Int64(paddingIdx))
    }
    static func embeddingRenorm(_ weight: UnsafeMutablePointer<Float>, rows: UnsafePointer<Int64>, count: Int, dim: Int,
                                maxNorm: Double, normType: Double) {
        ember_embedding_renorm(weight, rows, Int64(count), Int64(dim), maxNorm, normType)
    }
}

// MARK: Attention
extension Kernels {
    /// Where one attention operand's problems are (ember_attention_layout): nil offsets for
    /// contiguous problems.
    struct AttentionLayout {
        var offsets: UnsafePointer<Int64>?
        var rowStride: Int
        static var contiguous: AttentionLayout { AttentionLayout(offsets: nil, rowStride: 0) }
        var c: ember_attention_layout { ember_attention_layout(offsets: offsets, row_stride: Int64(rowStride)) }
    }

    /// The geometry of one attention call (ember_attention_shape); the mask pointer and every
    /// per-problem offset must outlive the kernel calls that use them.
    struct AttentionShape {
        var bh: Int, l: Int, s: Int, e: Int, ev: Int
        var scale: Float
        var causal: Bool
        var mask: UnsafePointer<Float>?
        var maskOffsets: UnsafePointer<Int64>?
        var maskRowStride: Int, maskColStride: Int
        var q: AttentionLayout, k: AttentionLayout, v: AttentionLayout, out: AttentionLayout

        var c: ember_attention_shape {
            ember_attention_shape(BH: Int64(bh), L: Int64(l), S: Int64(s), E: Int64(e), Ev: Int64(ev), scale: scale,
                                  causal: causal ? 1 : 0, mask: mask, mask_offsets: maskOffsets,
                                  mask_row_stride: Int64(maskRowStride), mask_col_stride: Int64(maskColStride),
                                  q_layout: q.c, k_layout: k.c, v_layout: v.c, out_layout: out.c)
        }
    }
    static func attentionForward(_ out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                                 q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                 _ shape: AttentionShape) {
        var s = shape.c
        ember_attention_forward(out, lse, q, k, v, &s)
    }
    /// `dScores` (BH, L, S), nil unless a float mask needs a gradient, receives the scores' gradient.
    static func attentionBackward(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                  dv: UnsafeMutablePointer<Float>, dScores: UnsafeMutablePointer<Float>?,
                                  delta: UnsafeMutablePointer<Float>,
                                  dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                  v: UnsafePointer<Float>, out: UnsafePointer<Float>, lse: UnsafePointer<Float>,
                                  _ shape: AttentionShape) {
        var s = shape.c
        ember_attention_backward(dq, dk, dv, dScores, delta, dOut, q, k, v, out, lse, &s)
    }
    /// Floats of per-thread workspace the forward (or backward) uses: a constant, whatever L and S.
    static func attentionWorkspaceFloats(backward: Bool) -> Int {
        Int(ember_attention_workspace_floats(backward ? 1 : 0))
    }
}

// MARK: Deterministic math (csrc/ember_math.c)
/// Ember's own double exp, log, pow, sin, cos, erf, erfc: Foundation's come from glibc, which
/// picks a CPU-specific version at load time, and the versions do not round alike. Every value
/// that reaches a tensor or a learning rate goes through these instead.
extension Kernels {
    static func exp(_ x: Double) -> Double { ember_exp(x) }
    static func log(_ x: Double) -> Double { ember_log(x) }
    static func pow(_ x: Double, _ y: Double) -> Double { ember_pow(x, y) }
    static func sin(_ x: Double) -> Double { ember_sin(x) }
    static func cos(_ x: Double) -> Double { ember_cos(x) }
    static func erf(_ x: Double) -> Double { ember_erf(x) }
    static func erfc(_ x: Double) -> Double { ember_erfc(x) }

    /// The float functions the kernels use (EMBER_MATH_*), one element at a time on the
    /// baseline ISA with no vectorisation: the reference the kernels' vector paths must equal.
    enum MathOp: Int32, CaseIterable {
        case exp = 0, log, log1p, expm1, tanh, sin, cos, erf, pow, sigmoid, silu, mish, geluTanh,
             softplus, expFast, log2
    }
    static func scalarMath(_ op: MathOp, _ x: [Float], _ b: Float = 0) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        out.withUnsafeMutableBufferPointer { o in
            x.withUnsafeBufferPointer { ember_math_f32_scalar(op.rawValue, o.baseAddress, $0.baseAddress, b, Int64(x.count)) }
        }
        return out
    }
}
