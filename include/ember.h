// Ember's C core: pure kernels over raw buffers.
//
// Conventions (after llm.c):
// - outputs first, then inputs, then sizes; shapes are given in comments as (N, C).
// - kernels never allocate, never fail and never check shapes: the Swift layer checks before
//   the call.
// - `*_backward` kernels that produce a gradient *write* it (beta 0) unless they take an
//   `accumulate` flag; accumulation into existing gradients is a separate, explicit add.
// - every reduction uses fixed chunking and a fixed combine order, so results are
//   bit-identical for any thread count.
// No stable API: this module is internal to Ember.
#ifndef EMBER_H
#define EMBER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Threads (threads.c)

/// Threads used by every parallel kernel (OpenMP). OpenBLAS itself is kept single-threaded:
/// Ember calls it from its own OpenMP loops on fixed blocks (see gemm.c).
void ember_set_num_threads(int n);
int ember_get_num_threads(void);
/// Logical processors available to this process.
int ember_num_cores(void);
/// Below this many elements an elementwise kernel runs on the calling thread: a fork/join
/// costs more than the work. Measured by `ember-bench threshold`.
void ember_set_parallel_threshold(int64_t elements);
int64_t ember_get_parallel_threshold(void);
/// Per-thread autograd switch (thread-local, so DataLoader threads never see `noGrad`).
int ember_grad_enabled(void);
void ember_set_grad_enabled(int enabled);
/// Marks the calling thread serial: every kernel it calls runs on it alone, never forking a
/// team (DataLoader workers, whose teams would fight the kernels' threads for the cores).
void ember_set_thread_serial(int serial);
int ember_thread_serial(void);

// MARK: - GEMM (gemm.c, gemm/)
//
// The rounding rule, the same on every path (avx512, avx2, generic) and thread count:
// each output element is ONE float FMA chain over k in increasing order, starting at 0,
//     acc = fma(op(A)[i,p], op(B)[p,j], acc)   for p = 0, 1, …, K-1,
// then, once, the epilogue, each step rounded to float on its own (never fused):
//     r = acc;  r = alpha·r (if alpha != 1);  r = r + beta·C[i,j] (if beta != 0);
//     r = r + bias[j] (if bias);  r = max(r, 0) (if relu; NaN and -0 pass).
// Cache blocking over k stores the float partial sum and continues the chain from it, and
// OpenMP splits C's M×N tiles, never k: neither changes an element's chain. The generic
// path uses fmaf (correctly rounded, so equal to a hardware FMA). The whole C core is built
// with -ffp-contract=off (Package.swift): no compiler-made FMA anywhere, so no other kernel
// rounds differently on an FMA machine either. EMBER_GEMM=openblas leaves this rule.

/// ISA paths of the GEMM engine, in increasing order of capability.
enum { EMBER_CPU_GENERIC = 0, EMBER_CPU_AVX2 = 1, EMBER_CPU_AVX512 = 2 };
/// The best path this machine can run (cpuid; AVX-512 means F+VL+DQ, AVX2 means AVX2+FMA).
int ember_cpu_hardware_path(void);
/// The path the engine runs: the hardware's, capped by EMBER_CPU=avx512|avx2|generic
/// (read on first use) or by ember_gemm_set_path.
int ember_gemm_get_path(void);
/// Caps the path (tests, benchmarks); returns the one that will run (never above the
/// hardware's). Not thread-safe against GEMMs running at the time.
int ember_gemm_set_path(int path);
const char* ember_cpu_path_name(int path);
/// Register-only FMA loop of `path` for `iters` rounds; returns the FLOPs it did (0 when the
/// machine cannot run that path). Time it to get the path's peak.
double ember_fma_peak(int path, int64_t iters);
/// Cache blocking of the current path (from the cache sizes the OS reports), and an
/// override for tuning (0 keeps the default). Blocking never changes the bits.
void ember_gemm_get_blocking(int64_t* mc, int64_t* nc, int64_t* kc);
void ember_gemm_set_blocking(int64_t mc, int64_t nc, int64_t kc);

/// Which implementation the GEMM entry points call: EMBER_GEMM=openblas selects OpenBLAS
/// (single-threaded calls on fixed blocks, its own rounding) for comparison.
enum { EMBER_GEMM_EMBER = 0, EMBER_GEMM_OPENBLAS = 1 };
int ember_gemm_get_backend(void);
void ember_gemm_set_backend(int backend);
/// openblas_get_corename(): the kernels OpenBLAS picked (OPENBLAS_CORETYPE can pin them).
const char* ember_openblas_corename(void);

/// C(M,N) = alpha * op(A) * op(B) + beta * C, row-major. op(A) is (M,K), op(B) is (K,N).
/// `trans_a`/`trans_b` read A/B transposed in place (no copies). lda/ldb/ldc are the row
/// strides of the stored matrices. beta = 0 never reads C. Rounds by the rule above.
/// C rows that start on 64-byte boundaries run fastest (a tile row is then one cache line):
/// Ember's tensors are aligned so; a 16-byte aligned C made K = 64 products 1.2–1.4× slower.
void ember_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                 float beta, float* C, int64_t ldc);

/// A pre-packed op(B) (K,N): packed once in the current path's panel layout, multiplied
/// many times (a weight across a test pass). It also keeps a pointer to B itself (used by
/// the OpenBLAS route and when the path has changed since packing), so B must stay alive
/// and unchanged while the packing is used. Same bits as the unpacked call.
typedef struct ember_packed_b ember_packed_b;
ember_packed_b* ember_gemm_pack_b(int trans_b, int64_t K, int64_t N, const float* B, int64_t ldb);
void ember_gemm_packed_free(ember_packed_b* packed);
int64_t ember_gemm_packed_bytes(const ember_packed_b* packed);
/// ember_sgemm with a pre-packed B (K and N as packed).
void ember_sgemm_packed(int trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const ember_packed_b* B, float beta, float* C, int64_t ldc);
/// A pre-packed op(A) (M,K), the same way: for an operand on the left of many products (a
/// convolution's weights across images, a query tile across key tiles). A must stay alive and
/// unchanged likewise. Same bits as the unpacked call.
typedef struct ember_packed_a ember_packed_a;
ember_packed_a* ember_gemm_pack_a(int trans_a, int64_t M, int64_t K, const float* A, int64_t lda);
void ember_gemm_packed_a_free(ember_packed_a* packed);
int64_t ember_gemm_packed_a_bytes(const ember_packed_a* packed);
/// ember_sgemm with a pre-packed A (M and K as packed).
void ember_sgemm_packed_a(int64_t M, int64_t N, int64_t K, float alpha, const ember_packed_a* A, int trans_b,
                          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
/// Linear layer forward: out(N,OUT) = inp(N,IN) · weight(OUT,IN)ᵀ + bias(OUT), then
/// max(out, 0) when `relu`, both in the GEMM's epilogue. bias may be NULL.
void ember_linear_forward(float* out, const float* inp, const float* weight, const float* bias,
                          int64_t N, int64_t IN, int64_t OUT, int relu);
/// The same with the weight pre-packed: ember_gemm_pack_b(1, IN, OUT, weight, IN).
void ember_linear_forward_packed(float* out, const float* inp, const ember_packed_b* weight,
                                 const float* bias, int64_t N, int64_t IN, int64_t OUT, int relu);
/// The floor for benchmarks: cblas_sgemm called directly (no blocking), with OpenBLAS's own
/// thread pool sized by ember_set_blas_threads (Ember itself keeps OpenBLAS at 1 thread:
/// restore 1 after measuring).
void ember_set_blas_threads(int n);
void ember_cblas_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                       float* C, int64_t ldc);
/// Linear layer backward: dinp(N,IN) = dout(N,OUT)·weight(OUT,IN) and dweight(OUT,IN) =
/// doutᵀ·inp(N,IN), both overwritten; either may be NULL (not needed). When both are needed
/// they run side by side. Rounds by the GEMM rule above.
void ember_linear_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                           const float* weight, int64_t N, int64_t IN, int64_t OUT);
/// Bias gradient: dbias(OUT) = Σ_rows dout(N,OUT) (+= when accumulate).
void ember_bias_backward(float* dbias, const float* dout, int64_t N, int64_t OUT, int accumulate);

// MARK: - Convolution (conv.c)

/// The geometry of a 2-D convolution over NCHW input (N, C, H, W), weight (OC, C/G, KH, KW)
/// and output (N, OC, OH, OW): strides SH/SW, zero padding PH/PW, dilation DH/DW, G groups.
/// 1-D convolutions are the H = KH = OH = 1 case.
typedef struct {
    int64_t N, C, H, W, OC, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW, G;
} ember_conv2d_shape;
/// out = conv(inp, weight) + bias (bias may be NULL): im2col + one GEMM per image and group
/// (per block of images when the output plane is small).
void ember_conv2d_forward(float* out, const float* inp, const float* weight, const float* bias,
                          const ember_conv2d_shape* s);
/// dinp, dweight and dbias (each may be NULL: not wanted), all overwritten. The weight and
/// bias sums over images run over a fixed number of shards added in shard order.
void ember_conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                           const float* inp, const float* weight, const ember_conv2d_shape* s);

// MARK: - Pooling and interpolation (pool.c)

/// Pooling windows over `planes` planes (N·C) of H × W into OH × OW: kernel KH × KW, stride,
/// padding, dilation (max only); average: count_include_pad, divisor (nonzero overrides; PyTorch takes negative ones too).
typedef struct {
    int64_t planes, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, count_include_pad, divisor;
} ember_pool2d_shape;
/// out and the flat index (h·W + w) in its plane of each maximum (NaN wins, ties: first).
void ember_maxpool2d_forward(float* out, int64_t* indices, const float* inp,
                             const ember_pool2d_shape* s);
/// dinp = 0, then dinp[plane, indices] += dout: max pooling's (and adaptive max's) backward.
void ember_index_pool_backward(float* dinp, const float* dout, const int64_t* indices,
                               int64_t planes, int64_t in_plane, int64_t out_plane);
void ember_avgpool2d_forward(float* out, const float* inp, const ember_pool2d_shape* s);
/// dinp overwritten.
void ember_avgpool2d_backward(float* dinp, const float* dout, const ember_pool2d_shape* s);
/// Adaptive pooling (max when `max`, indices then written; else average): output i covers
/// input [floor(i·H/OH), ceil((i+1)·H/OH)).
void ember_adaptive_pool2d_forward(int max, float* out, int64_t* indices, const float* inp,
                                   int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW);
void ember_adaptive_avgpool2d_backward(float* dinp, const float* dout, int64_t planes, int64_t H,
                                       int64_t W, int64_t OH, int64_t OW);
/// Nearest or bilinear resampling of planes (H, W) → (OH, OW), as PyTorch's upsample_*2d:
/// source = scale·o (nearest, align_corners) or scale·(o + ½) − ½ (bilinear). With
/// `backward`, out is dinp (H, W, overwritten) and inp is dout (OH, OW).
void ember_interpolate2d(float* out, const float* inp, int64_t planes, int64_t H, int64_t W,
                         int64_t OH, int64_t OW, int bilinear, int align_corners, float scale_h,
                         float scale_w, int backward);

// MARK: - Normalisation (norm.c)

/// Per-channel mean and biased variance of inp (N, C, S), in double.
void ember_batchnorm_stats(float* mean, float* var, const float* inp, int64_t N, int64_t C,
                           int64_t S);
/// out = (inp − mean)·invstd·weight + bias per channel (weight/bias may be NULL).
void ember_batchnorm_forward(float* out, const float* inp, const float* mean, const float* invstd,
                             const float* weight, const float* bias, int64_t N, int64_t C,
                             int64_t S);
/// Gradients (each may be NULL), overwritten. `training`: mean/invstd are the batch's own
/// statistics (so depend on inp); else fixed (running) ones.
void ember_batchnorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                              const float* inp, const float* mean, const float* invstd,
                              const float* weight, int64_t N, int64_t C, int64_t S, int training);
/// Normalises each row of inp (rows, D) by its own mean and 1/√(var + eps), then ·weight
/// + bias (each (D) or NULL); mean and rstd (rows) kept for the backward (may be NULL).
void ember_layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                             const float* weight, const float* bias, int64_t rows, int64_t D,
                             float eps);
/// dinp (rows, D), dweight and dbias (D): each may be NULL, all overwritten.
void ember_layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                              const float* inp, const float* mean, const float* rstd,
                              const float* weight, int64_t rows, int64_t D);

// MARK: - Activations (activations.c)

/// out = max(inp, 0)
void ember_relu_forward(float* out, const float* inp, int64_t n);
/// dinp = dout * (out > 0)
void ember_relu_backward(float* dinp, const float* dout, const float* out, int64_t n);
/// Row-wise softmax / log-softmax over the last dim: inp, out (rows, cols).
void ember_softmax_forward(float* out, const float* inp, int64_t rows, int64_t cols, int log);
/// softmax:     dinp = y * (dout - Σ dout*y)
/// log-softmax: dinp = dout - exp(y) * Σ dout
void ember_softmax_backward(float* dinp, const float* dout, const float* out, int64_t rows,
                            int64_t cols, int log);
/// Dropout with a counter-based generator: the mask bit of element i depends only on
/// (seed, offset + i), never on the thread count. out = inp * keep / (1 - p); mask = keep/(1-p).
void ember_dropout_forward(float* out, float* mask, const float* inp, int64_t n, float p,
                           uint64_t seed, uint64_t offset);

// MARK: - Losses (losses.c)

/// Fused softmax + cross-entropy over logits (N,C) with class targets (N) in [0,C).
/// losses(N) gets each row's loss (weighted, label-smoothed); probs(N,C) gets the softmax
/// (kept for the backward). Returns Σ losses and writes Σ target weights to *weight_sum
/// (the divisor of the weighted mean). weights (C) may be NULL. Stable log-sum-exp.
double ember_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                   const int64_t* targets, const float* weights,
                                   int64_t N, int64_t C, float label_smoothing,
                                   double* weight_sum);
/// dlogits(N,C) = scale_i * w[t_i] * (probs - smoothed_onehot) with
/// scale_i = dloss[i] (reduction none) or dloss[0] * norm (mean/sum; dloss_stride 0).
void ember_cross_entropy_backward(float* dlogits, const float* probs, const int64_t* targets,
                                  const float* weights, const float* dloss, int64_t dloss_stride,
                                  float norm, int64_t N, int64_t C, float label_smoothing);
/// NLL over log-probabilities (N,C): losses(N) = -w[t] * logp[t]. Returns Σ; *weight_sum = Σ w[t].
double ember_nll_forward(float* losses, const float* logp, const int64_t* targets,
                         const float* weights, int64_t N, int64_t C, double* weight_sum);
/// dlogp(N,C) = -scale_i * w[t_i] at the target, 0 elsewhere.
void ember_nll_backward(float* dlogp, const int64_t* targets, const float* weights,
                        const float* dloss, int64_t dloss_stride, float norm, int64_t N, int64_t C);

// MARK: - Elementwise (elementwise.c)

enum {
    EMBER_ADD = 0, EMBER_SUB = 1, EMBER_MUL = 2, EMBER_DIV = 3, EMBER_POW = 4,
    EMBER_MAXIMUM = 5, EMBER_MINIMUM = 6,
};
enum { EMBER_EQ = 0, EMBER_NE = 1, EMBER_LT = 2, EMBER_LE = 3, EMBER_GT = 4, EMBER_GE = 5 };
enum {
    EMBER_NEG = 0, EMBER_EXP = 1, EMBER_LOG = 2, EMBER_SQRT = 3, EMBER_ABS = 4, EMBER_TANH = 5,
    EMBER_SIGMOID = 6, EMBER_SIN, EMBER_COS, EMBER_RSQRT, EMBER_RECIPROCAL, EMBER_SQUARE,
    EMBER_SIGN, EMBER_FLOOR, EMBER_CEIL, EMBER_ROUND, EMBER_TRUNC, EMBER_LOG1P, EMBER_EXPM1,
    EMBER_LOG2, EMBER_ERF, EMBER_GELU, EMBER_GELU_TANH, EMBER_SILU, EMBER_MISH,
};
enum { EMBER_LEAKY_RELU = 0, EMBER_ELU, EMBER_HARDTANH, EMBER_SOFTPLUS };

/// Dims a tensor may have (the strided kernels keep per-dim arrays on the stack).
#define EMBER_MAX_DIMS 16
/// Broadcast binary op. out has `ndim` dims of sizes `shape`; a_strides / b_strides are the
/// element strides of a and b in that shape (0 along broadcast dims).
void ember_binary_f32(int op, float* out, const float* a, const float* b, int ndim,
                      const int64_t* shape, const int64_t* a_strides, const int64_t* b_strides);
void ember_binary_i64(int op, int64_t* out, const int64_t* a, const int64_t* b, int ndim,
                      const int64_t* shape, const int64_t* a_strides, const int64_t* b_strides);
/// Broadcast comparisons into bool (uint8) outputs.
void ember_compare_f32(int op, uint8_t* out, const float* a, const float* b, int ndim,
                       const int64_t* shape, const int64_t* a_strides, const int64_t* b_strides);
void ember_compare_i64(int op, uint8_t* out, const int64_t* a, const int64_t* b, int ndim,
                       const int64_t* shape, const int64_t* a_strides, const int64_t* b_strides);
/// out = op(inp) elementwise.
void ember_unary_f32(int op, float* out, const float* inp, int64_t n);
/// out = GELU(inp) (the exact, erf-based one: the bits of EMBER_GELU) and two_phi = 2Φ(inp),
/// kept for the backward.
void ember_gelu_forward_saving(float* out, float* two_phi, const float* inp, int64_t n);
/// dinp = dout · GELU'(inp), with two_phi from ember_gelu_forward_saving (overwritten).
void ember_gelu_backward(float* dinp, const float* dout, const float* inp, const float* two_phi, int64_t n);
/// out = op(inp; a, b): leaky_relu (slope a), elu (alpha a), hardtanh (min a, max b),
/// softplus (beta a, threshold b).
void ember_unary2_f32(int op, float* out, const float* inp, int64_t n, float a, float b);
/// out = a * x + b (scalar affine; also fills when x is NULL: out = b).
void ember_affine_f32(float* out, const float* x, float a, float b, int64_t n);
/// y += alpha * x
void ember_axpy_f32(float* y, const float* x, float alpha, int64_t n);
/// dtype conversions
void ember_f32_to_i64(int64_t* out, const float* inp, int64_t n);
void ember_i64_to_f32(float* out, const int64_t* inp, int64_t n);
void ember_u8_to_f32(float* out, const uint8_t* inp, int64_t n, float scale, float shift);
void ember_f32_to_u8(uint8_t* out, const float* inp, int64_t n);   // != 0
void ember_fill_i64(int64_t* out, int64_t value, int64_t n);

// MARK: - Strided copies (strided.c)

/// dst = src elementwise over `shape`, each side through its own element strides (0 along
/// broadcast dims of src; dst never overlaps itself). Elements of 1, 4 or 8 bytes. Contiguous
/// runs go through memcpy; a transposed walk goes tile by tile.
void ember_copy_strided(void* dst, const int64_t* dst_strides, const void* src,
                        const int64_t* src_strides, int ndim, const int64_t* shape,
                        int64_t itemsize);
/// dst += src over `shape` through strides. Rows are shared out over the threads when dst
/// never overlaps itself; a self-overlapping dst (the gradient of overlapping windows) is
/// added serially in index order, because there the order decides the bits.
void ember_add_strided_f32(float* dst, const int64_t* dst_strides, const float* src,
                           const int64_t* src_strides, int ndim, const int64_t* shape);

/// Advanced indexing: for each of the n offsets, the block of `shape` at src + offsets[p]
/// (through `strides`) is copied to block p of dst (contiguous blocks, one after another).
void ember_gather_blocks(void* dst, const void* src, const int64_t* offsets, int64_t n, int ndim,
                         const int64_t* shape, const int64_t* strides, int64_t itemsize);
/// The reverse: block p of src (contiguous) is written (or, float32 only, added when
/// `accumulate`) to dst + offsets[p] through `strides`. Serial and in order: repeated
/// offsets keep the last write, or add up in index order.
void ember_scatter_blocks(void* dst, const int64_t* offsets, int64_t n, const void* src, int ndim,
                          const int64_t* shape, const int64_t* strides, int64_t itemsize,
                          int accumulate);

// MARK: - Reductions (reductions.c)

/// Σ inp(n) in double with fixed 4096-element chunks combined in order.
double ember_sum_f32(const float* inp, int64_t n);
int64_t ember_sum_i64(const int64_t* inp, int64_t n);
int64_t ember_count_u8(const uint8_t* inp, int64_t n);
/// out(outer,inner) = Σ_d inp(outer,dim,inner) (sequential over d: deterministic).
void ember_sum_dim_f32(float* out, const float* inp, int64_t outer, int64_t dim, int64_t inner);
/// max / argmax over the middle dim of (outer,dim,inner). Either output may be NULL.
/// Ties pick the first index; NaN wins (as in PyTorch).
void ember_max_dim_f32(float* values, int64_t* indices, const float* inp, int64_t outer,
                       int64_t dim, int64_t inner);
void ember_max_dim_i64(int64_t* values, int64_t* indices, const int64_t* inp, int64_t outer,
                       int64_t dim, int64_t inner);

/// One reduction per row of inp (rows, cols), each row in order (the same bits for any
/// thread count), accumulated in double: prod, amax / amin (NaN propagates), var (the
/// `param` is the correction), logsumexp, norm (`param` is p; ±inf and 0 as PyTorch).
enum {
    EMBER_RED_PROD = 0, EMBER_RED_AMAX, EMBER_RED_AMIN, EMBER_RED_VAR,
    EMBER_RED_LOGSUMEXP, EMBER_RED_NORM,
};
void ember_reduce_rows_f32(int op, float* out, const float* inp, int64_t rows, int64_t cols,
                           double param);
/// Running sum (op 0) or product (op 1) over the middle dim of (outer, dim, inner), in order,
/// accumulated in double (as PyTorch's CPU kernels).
void ember_cumulative_f32(int op, float* out, const float* inp, int64_t outer, int64_t dim,
                          int64_t inner);

// MARK: - Optimizers (optimizers.c)

/// One fused pass of torch.optim.SGD over a parameter (n). momentum_buf may be NULL when
/// momentum == 0. `first_step` initialises the buffer to the gradient (PyTorch's rule).
void ember_sgd_step(float* param, const float* grad, float* momentum_buf, int64_t n, double lr,
                    double momentum, double dampening, double weight_decay, int nesterov,
                    int first_step, int maximize);
/// One fused pass of torch.optim.Adam (decoupled = 0) or AdamW (decoupled = 1). `step` is
/// the 1-based step count after this update. max_exp_avg_sq is used when amsgrad (may be NULL).
void ember_adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                     float* max_exp_avg_sq, int64_t n, double lr, double beta1, double beta2,
                     double eps, double weight_decay, int decoupled, int64_t step, int amsgrad,
                     int maximize);

// MARK: - Random numbers (random.c)

/// Counter-based (SplitMix64 of seed ^ counter): element i depends only on (seed, offset+i).
void ember_rand_uniform(float* out, int64_t n, float low, float high, uint64_t seed,
                        uint64_t offset);
/// Box–Muller from the same counter stream; consumes 2 counters per element pair.
void ember_rand_normal(float* out, int64_t n, float mean, float std, uint64_t seed,
                       uint64_t offset);

// MARK: - Data (data.c)

/// Gathers `count` samples of `sample_size` bytes by index from a uint8 array and scales
/// them: out[i][j] = src[indices[i]][j] * scale + shift. Single-threaded: it runs on
/// DataLoader worker threads, which must not fork OpenMP teams of their own.
void ember_gather_u8_to_f32(float* out, const uint8_t* src, const int64_t* indices,
                            int64_t count, int64_t sample_size, float scale, float shift);
/// Same for int64 labels stored as uint8.
void ember_gather_u8_to_i64(int64_t* out, const uint8_t* src, const int64_t* indices,
                            int64_t count);
/// Inflates a gzip (or zlib/raw) file into a malloc'd buffer: all of it, or its first
/// `max_len` bytes when max_len >= 0, *more then saying whether the file holds more (a
/// header read first bounds what a gzip bomb can make the reader allocate). Returns 0 on
/// success; otherwise a negative code and a message in `err` (err_len bytes). *out must be
/// free()d.
int ember_gunzip_file(const char* path, int64_t max_len, uint8_t** out, int64_t* out_len, int* more,
                      char* err, int64_t err_len);
/// The C library's standard streams (Swift 6 sees `stdout`/`stderr` as shared mutable state).
#include <stdio.h>
FILE* ember_stdout(void);
FILE* ember_stderr(void);
/// MD5 of a buffer (for download checks), 16 bytes into digest.
void ember_md5(uint8_t digest[16], const uint8_t* data, int64_t len);

// MARK: - Archives (archive.c, libarchive)
//
// Sequential reading of zip, tar and compressed tar files. Every call reports failure with a
// return value and a message (never aborts); reads are capped by the caller.

typedef struct ember_archive ember_archive;
/// Opens an archive file (any format and filter libarchive reads). NULL with a message in
/// `err` on failure.
ember_archive* ember_archive_open_file(const char* path, char* err, int64_t err_len);
/// Same over a buffer that must outlive the archive.
ember_archive* ember_archive_open_memory(const void* data, int64_t len, char* err,
                                         int64_t err_len);
/// Advances to the next entry: 1 with its name (valid until the next call), its declared size
/// (-1 if the header has none) and whether it is a regular file; 0 at the end; -1 on error
/// (ember_archive_error).
int ember_archive_next(ember_archive* ar, const char** name, int64_t* size, int* is_file);
/// Reads up to `cap` bytes of the current entry into buf: the number read (less than cap at
/// the entry's end), or -1 on error (ember_archive_error).
int64_t ember_archive_read(ember_archive* ar, void* buf, int64_t cap);
const char* ember_archive_error(const ember_archive* ar);
void ember_archive_close(ember_archive* ar);
/// ember_archive_open_file / _memory with libarchive read options (archive_read_set_options
/// syntax, e.g. "zip:ignorecrc32"); NULL options are none.
ember_archive* ember_archive_open_file_options(const char* path, const char* options, char* err,
                                               int64_t err_len);
ember_archive* ember_archive_open_memory_options(const void* data, int64_t len, const char* options,
                                                 char* err, int64_t err_len);

// MARK: - Embedding (embedding.c)

/// out(n, D) = weight(V, D)[indices(n)]: a row copy per index (indices checked in [0, V)).
void ember_embedding_forward(float* out, const float* weight, const int64_t* indices, int64_t n,
                             int64_t D);
/// dweight(V, D) += dout(n, D) at rows indices(n), skipping padding_idx (-1: none), each row
/// of dout times row_scale[index] when row_scale (V) is given (scale_grad_by_freq). The
/// threads split dweight's columns (or rows), never the indices: every element receives its
/// additions in index order, the same bits for any thread count.
void ember_embedding_backward(float* dweight, const float* dout, const int64_t* indices,
                              const float* row_scale, int64_t n, int64_t V, int64_t D,
                              int64_t padding_idx);
/// max_norm's renormalisation (PyTorch's embedding_renorm_): each of the `count` distinct
/// rows of weight(V, D) whose norm_type-norm (> 0, inf allowed) exceeds max_norm is scaled
/// in place by max_norm / (norm + 1e-7).
void ember_embedding_renorm(float* weight, const int64_t* rows, int64_t count, int64_t D,
                            double max_norm, double norm_type);

// MARK: - Attention (attention.c)

/// Where an attention operand's problems are: problem bh's row i starts at
/// offsets[bh] + i·row_stride floats from the operand's pointer. offsets NULL (a zeroed
/// layout): contiguous problems, bh·rows·cols + i·cols. Lets views such as a (B, T, H, D)
/// projection transposed to (B, H, T, D) be read, and written, in place.
typedef struct {
    const int64_t* offsets;   // (BH), or NULL
    int64_t row_stride;
} ember_attention_layout;

/// Scaled dot-product attention over BH (batch·head) independent problems: q (BH, L, E),
/// k (BH, S, E), v (BH, S, Ev) and the forward's out (BH, L, Ev), each laid out as its
/// ember_attention_layout says (unit stride along a row); lse, dout and the gradients are
/// contiguous. `mask` (may be NULL) is added to the scores: problem bh, query i, key j reads
/// mask[mask_offsets[bh] + i·mask_row_stride + j·mask_col_stride] (strides 0 broadcast; −inf
/// forbids). `causal`: key j > query i is forbidden.
typedef struct {
    int64_t BH, L, S, E, Ev;
    float scale;
    int causal;
    const float* mask;
    const int64_t* mask_offsets;   // (BH)
    int64_t mask_row_stride, mask_col_stride;
    ember_attention_layout q_layout, k_layout, v_layout, out_layout;
} ember_attention_shape;
/// out (BH, L, Ev) = softmax(scale·q·kᵀ + mask)·v and lse (BH, L), each row's log-sum-exp of
/// the scores for the backward (−inf for a row with no allowed key; its output is 0). Tiled:
/// per thread a workspace of ember_attention_workspace_floats(0) floats, never L×S.
void ember_attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                             const ember_attention_shape* s);
/// dq (BH, L, E), dk (BH, S, E), dv (BH, S, Ev), contiguous and overwritten, from dout (BH,
/// L, Ev, contiguous) and the forward's out and lse; `delta` (BH, L) is workspace. The scores
/// are recomputed per tile (ember_attention_workspace_floats(1) floats per thread). `dscores` (BH, L, S), NULL
/// unless a float mask needs a gradient, is overwritten with the gradient of the scores
/// (scale·q·kᵀ + mask), i.e. of the mask before its broadcast is summed.
void ember_attention_backward(float* dq, float* dk, float* dv, float* dscores, float* delta,
                              const float* dout, const float* q, const float* k, const float* v,
                              const float* out, const float* lse, const ember_attention_shape* s);
/// The per-thread workspace of the forward (0) or backward (1), in floats: a constant.
int64_t ember_attention_workspace_floats(int backward);

// MARK: - Images (image.c, libpng and libjpeg-turbo)
//
// Decoding of PNG and JPEG bytes into uint8 [C, H, W] planes. Every failure (corrupt or
// truncated data, unsupported layout, a declared size over the cap) is a return value and a
// message, never an abort.

/// torchvision's ImageReadMode values.
enum { EMBER_IMAGE_UNCHANGED = 0, EMBER_IMAGE_GRAY = 1, EMBER_IMAGE_GRAY_ALPHA = 2,
       EMBER_IMAGE_RGB = 3, EMBER_IMAGE_RGB_ALPHA = 4 };
typedef struct ember_image ember_image;
/// Reads the header of a PNG or JPEG (`data` must outlive the handle) and reports the size
/// decoded in `mode`; refuses images over `max_pixels` before allocating for them. NULL with
/// a message in `err` on failure.
ember_image* ember_image_open(const uint8_t* data, int64_t len, int mode, int64_t max_pixels,
                              int64_t* height, int64_t* width, int* channels, char* err,
                              int64_t err_len);
/// Decodes into out (channels, height, width). 0, or -1 with a message. Single-threaded (it
/// runs on DataLoader workers).
int ember_image_decode(ember_image* im, uint8_t* out, char* err, int64_t err_len);
/// Like ember_image_decode, only the window of rows [top, top + height) and columns
/// [left, left + width) into [C, height, width]: the same pixels as cutting the window out of
/// the full decode (JPEG decodes only what the window needs).
int ember_image_decode_window(ember_image* im, uint8_t* out, int64_t top, int64_t left, int64_t height,
                              int64_t width, char* err, int64_t err_len);
void ember_image_close(ember_image* im);

// MARK: - Resampling (resample.c, vision transforms)

/// Resizes planes (H, W) → (OH, OW) with the triangle filter of torchvision's bilinear
/// resize: widened by the downscale factor when `antialias` (PIL's and
/// `interpolate(antialias=True)`), else plain bilinear. Float: height pass then width pass;
/// uint8: width then height, rounded to uint8 in between (PIL's order), with PyTorch's int16
/// fixed-point weights, so the bits are torchvision's. 0, or -1 when the weight tables
/// cannot be allocated.
int ember_resize_aa_f32(float* out, const float* inp, int64_t planes, int64_t H, int64_t W,
                        int64_t OH, int64_t OW, int antialias);
int ember_resize_aa_u8(uint8_t* out, const uint8_t* inp, int64_t planes, int64_t H, int64_t W,
                       int64_t OH, int64_t OW, int antialias);
/// ember_resize_aa_u8 of an H x W window of planes `plane_stride` apart whose rows are
/// `row_stride` apart (a crop, resized without copying it first).
int ember_resize_aa_u8_window(uint8_t* out, const uint8_t* inp, int64_t planes, int64_t plane_stride,
                              int64_t row_stride, int64_t H, int64_t W, int64_t OH, int64_t OW, int antialias);
/// Reverses each of `rows` rows of `w` items of `item` bytes (1 or 4): a horizontal flip.
void ember_flip_rows(void* out, const void* inp, int64_t rows, int64_t w, int64_t item);
/// Nearest-neighbour resize of uint8 planes (PyTorch's `interpolate(mode="nearest")`).
void ember_resize_nearest_u8(uint8_t* out, const uint8_t* inp, int64_t planes, int64_t H,
                             int64_t W, int64_t OH, int64_t OW);
/// torchvision's rotate/affine of `images` × C planes of uint8 (`u8`) or float: output pixel
/// (i, j) samples the input at the 2×3 inverse matrix `theta` (float32, torchvision's
/// centred convention) by nearest or bilinear; `fill` (C values) or NULL for zeros. 0, or -1
/// when out of memory.
int ember_affine_sample(void* out, const void* inp, int u8, int64_t images, int64_t C, int64_t H,
                        int64_t W, int64_t OH, int64_t OW, const float* theta, int bilinear,
                        const float* fill);

// MARK: - Deterministic math (ember_math.c, csrc/ember_math.h)
// Ember's own exp, log, pow, sin, cos, erf, erfc: IEEE arithmetic only, no libm, so the same
// bits on every CPU and libc (glibc dispatches its own by CPU). For the optimisers, the
// learning-rate schedulers, init and the transforms; within a few ulp of the exact values.
double ember_exp(double x);
double ember_log(double x);
/// x^y with C99 Annex F's special cases.
double ember_pow(double x, double y);
double ember_sin(double x);
double ember_cos(double x);
double ember_erf(double x);
double ember_erfc(double x);
/// The float functions the kernels use, element by element, compiled without vectorisation
/// or CPU clones (the tests compare the kernels' vector paths and bench/libm_ulp.c against
/// it): `op` is an EMBER_MATH_* value; `b` is pow's exponent, softplus's beta, or unused.
enum {
    EMBER_MATH_EXP = 0, EMBER_MATH_LOG = 1, EMBER_MATH_LOG1P = 2, EMBER_MATH_EXPM1 = 3,
    EMBER_MATH_TANH = 4, EMBER_MATH_SIN = 5, EMBER_MATH_COS = 6, EMBER_MATH_ERF = 7,
    EMBER_MATH_POW = 8, EMBER_MATH_SIGMOID = 9, EMBER_MATH_SILU = 10, EMBER_MATH_MISH = 11,
    EMBER_MATH_GELU_TANH = 12, EMBER_MATH_SOFTPLUS = 13, EMBER_MATH_EXPF_FAST = 14,
    EMBER_MATH_LOG2 = 15,
};
void ember_math_f32_scalar(int op, float* out, const float* x, float b, int64_t n);

#ifdef __cplusplus
}
#endif
#endif  // EMBER_H
