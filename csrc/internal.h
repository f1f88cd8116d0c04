// Shared by the kernels: the thread budget and the parallel-for condition.
#ifndef EMBER_INTERNAL_H
#define EMBER_INTERNAL_H
#include "ember.h"

#include <stdlib.h>

extern int ember_threads_;             // threads.c
extern int64_t ember_threshold_;       // threads.c
extern _Thread_local int ember_serial_; // threads.c: set on DataLoader workers

/// Threads a kernel may use from the calling thread: the budget, or 1 on a thread marked
/// serial (DataLoader workers: a team of their own would fight the kernels' for the cores).
static inline int ember_team_size(void) { return ember_serial_ ? 1 : ember_threads_; }

/// Compiles a kernel twice, for AVX2 and for baseline x86-64, picked at load time (an ifunc):
/// Ember needs no -march flag and runs anywhere, and AVX2 machines get 8-wide loops (relu on
/// 64x10 floats: 0.7 -> 0.9 of memcpy, measured). FMA is deliberately not enabled and no
/// loop relies on reassociation, so both versions round identically: results do not depend
/// on the machine either.
/// Not under the sanitizers: an ifunc resolver runs during relocation, before the TSan/ASan
/// runtime is up, and the instrumented resolver crashes the process (seen with TSan).
/// UBSan needs nothing here (scripts/asan.sh adds it to ASan): it has no runtime to set
/// up, and a target_clones function under -fsanitize=undefined alone resolves and reports.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define EMBER_NO_IFUNC 1
#endif
#endif
#ifdef EMBER_NO_IFUNC
#define EMBER_SIMD
#else
#define EMBER_SIMD __attribute__((target_clones("avx2", "default")))
#endif

/// Threads for a loop over `work` elements: 1 below `min_work`, else the team size.
static inline int ember_team_from(int64_t work, int64_t min_work) {
    return work >= min_work ? ember_team_size() : 1;
}

/// Threads for a loop over `work` elements: 1 below the measured threshold (a fork/join
/// costs more than the work there), else the budget.
static inline int ember_team(int64_t work) { return ember_team_from(work, ember_threshold_); }

// Swift's clang ships no omp.h: declare what we call.
int omp_get_num_procs(void);
int omp_get_thread_num(void);
int omp_get_num_threads(void);

/// `for (int64_t i = 0; i < n; i++) { body }` on a team of `nt` threads, each taking one
/// contiguous range (static schedule). With nt == 1 the loop runs inline with no OpenMP call
/// at all: even a serialised parallel region costs ~1.3 µs in libomp (measured), more than a
/// 64x10 kernel's whole work.
/// The body of an OpenMP region is compiled into a function of its own, which does not
/// inherit the enclosing function's target_clones: inside an EMBER_SIMD kernel, an
/// EMBER_FOR body runs the baseline (SSE2) code on every thread. Use it for bodies that call
/// out (BLAS, EMBER_SIMD helpers) or do scalar work; vector loops go through EMBER_PARALLEL.
#define EMBER_FOR(nt, i, n, ...)                                                    \
    do {                                                                            \
        if ((nt) > 1) {                                                             \
            _Pragma("omp parallel for num_threads(nt) schedule(static)")            \
            for (int64_t i = 0; i < (n); i++) { __VA_ARGS__ }                       \
        } else {                                                                    \
            for (int64_t i = 0; i < (n); i++) { __VA_ARGS__ }                       \
        }                                                                           \
    } while (0)

/// The range [lo, hi) of [0, n) that the calling thread of the current team takes: one
/// contiguous range per thread, the first n % T threads one element longer.
static inline void ember_thread_range(int64_t n, int64_t* lo, int64_t* hi) {
    const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t base = n / T, extra = n % T;
    *lo = t * base + (t < extra ? t : extra);
    *hi = *lo + base + (t < extra);
}

/// `fn(args..., lo, hi)` over [0, n): on a team of `nt` threads, one contiguous range each
/// (ember_thread_range), or as one call fn(args..., 0, n) when nt == 1 (no OpenMP call).
/// `fn` is an EMBER_SIMD function: called from the region it goes through its ifunc, so
/// every thread runs the AVX2 clone where the machine has one. An inline body would not
/// (see EMBER_FOR): the parallel paths of the vector kernels ran SSE2 code until this was
/// found by disassembling them (no ymm register in any outlined region).
#define EMBER_PARALLEL(nt, n, fn, ...)                                              \
    do {                                                                            \
        const int64_t n_ = (n);                                                     \
        const int nt_ = (nt);                                                       \
        if (nt_ > 1 && n_ > 1) {                                                    \
            _Pragma("omp parallel num_threads(nt_)")                                \
            {                                                                       \
                int64_t lo_, hi_;                                                   \
                ember_thread_range(n_, &lo_, &hi_);                                 \
                if (lo_ < hi_) fn(__VA_ARGS__, lo_, hi_);                           \
            }                                                                       \
        } else if (n_ > 0) {                                                        \
            fn(__VA_ARGS__, 0, n_);                                                 \
        }                                                                           \
    } while (0)

/// ember_sgemm on the calling thread alone, with the same bits: for kernels that share their
/// own work out over the threads and multiply inside the parallel region (convolution).
void ember_sgemm_serial(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                        const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                        float* C, int64_t ldc);
/// ember_sgemm_serial with either operand (or both) given pre-packed as well: `pa` / `pb`, when
/// not NULL, are packings of op(A) / op(B) and are used where their layout fits (else A and B
/// are); the same bits either way.
void ember_sgemm_serial_prepacked(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                                  const float* A, int64_t lda, const ember_packed_a* pa, const float* B,
                                  int64_t ldb, const ember_packed_b* pb, float beta, float* C, int64_t ldc);

/// max(x, 0) as PyTorch computes it (clamp_min): NaN and -0 pass through unchanged.
static inline float ember_relu(float x) { return x < 0.0f ? 0.0f : x; }
/// relu's gradient: g where the output is positive or NaN, 0 where it is ≤ 0 (PyTorch's
/// threshold_backward).
static inline float ember_relu_grad(float out, float g) { return out <= 0.0f ? 0.0f : g; }

/// SplitMix64's finaliser: the counter-based generator behind rand, randn and dropout.
static inline uint64_t ember_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
/// Uniform in [0, 1) with 24 random bits, from (seed, counter).
static inline float ember_uniform01(uint64_t seed, uint64_t counter) {
    uint64_t z = ember_mix64(seed + 0x9E3779B97F4A7C15ULL * (counter + 1));
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

/// Max of a row, 8 lanes wide so that it vectorises (max is exact: the order cannot change
/// the result). NaN entries are skipped here; they still reach the output through exp.
static inline float ember_row_max(const float* x, int64_t n) {
    float lane[8] = {-__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff(),
                     -__builtin_inff(), -__builtin_inff(), -__builtin_inff(), -__builtin_inff()};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) lane[l] = x[i + l] > lane[l] ? x[i + l] : lane[l];
    float m = -__builtin_inff();
    for (int l = 0; l < 8; l++) m = lane[l] > m ? lane[l] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/// Sum of a row in 8 float lanes combined in a fixed order, then in double: vectorises, and
/// is the same for any thread count (a single serial double chain was latency-bound).
static inline double ember_row_sum(const float* x, int64_t n) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) lane[l] += x[i + l];
    double s = 0.0;
    for (int l = 0; l < 8; l++) s += lane[l];
    for (; i < n; i++) s += x[i];
    return s;
}

/// The common tail of ember_expf and ember_exp_sum: e^r (|r| <= ln2/2) by a degree-6
/// polynomial, times 2^k read from t's low mantissa bits; 0 below the float range, +inf above,
/// NaN through (`s` is the whole argument).
static inline float ember_exp_tail(float r, uint32_t t_bits, float s) {
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { uint32_t u; float f; } scale;
    scale.u = (t_bits - 0x4B400000u + 127u) << 23;   // (k + 127) << 23; 0x4B400000 = 1.5·2^23
    float y = p * scale.f;
    y = s < -87.33654f ? 0.0f : y;
    y = s > 88.72283f ? __builtin_inff() : y;
    return s != s ? s : y;
}

/// exp(x) for float in a form the compiler vectorises (libm's expf is a scalar call, and the
/// softmax kernels spend most of their time there). Cephes' expf: Cody–Waite reduction
/// x = k·ln2 + r, a degree-6 polynomial on |r| <= ln2/2, then scaling by 2^k through the
/// exponent bits. Max relative error ~2e-7 (1–2 ulp) over the float range; exp(-inf) = 0,
/// NaN propagates, overflow gives +inf.
static inline float ember_expf(float x) {
    const float xc = x < -87.33654f ? -87.33654f : (x > 88.37626f ? 88.37626f : x);
    // Round x·log2(e) to nearest with the 1.5·2^23 trick (no SSE4.1 rounding needed). The
    // integer k is read from the sum's low mantissa bits, not converted from float: for a NaN
    // x that conversion is undefined behaviour (UBSan), and unsigned arithmetic cannot overflow.
    const union { float f; uint32_t u; } t = {xc * 1.44269504088896341f + 12582912.0f};
    const float k = t.f - 12582912.0f;
    return ember_exp_tail((xc - k * 0.693359375f) + k * 2.12194440e-4f, t.u, x);
}

/// Before a vector loop whose body is one long dependent chain (a polynomial, an exp): four
/// vectors in flight instead of one, or the loop waits on latency, not throughput.
#define EMBER_INTERLEAVE _Pragma("clang loop vectorize(enable) interleave_count(4)")

/// exp(hi + lo) for an argument carried in two parts, hi exact and lo small: the reduction
/// subtracts k·ln2 from hi alone (exact by Sterbenz) before lo is added, so a large argument
/// keeps its low bits, which one rounded float would lose (exp(−x²/2) for GELU).
static inline float ember_exp_sum(float hi, float lo) {
    const float s = hi + lo;
    const float sc = s < -87.33654f ? -87.33654f : (s > 88.37626f ? 88.37626f : s);
    const union { float f; uint32_t u; } t = {sc * 1.44269504088896341f + 12582912.0f};
    const float k = t.f - 12582912.0f;
    return ember_exp_tail(((hi - k * 0.693359375f) + k * 2.12194440e-4f) + lo, t.u, s);
}

/// Below this many columns the row-wise softmax kernels take their exps a block of rows at a
/// time; from it on, a row at a time (a row then fills the interleaved vector loop, and a
/// separate pass for the shifts cost 10% at 4096x1024, `ember-bench kernels`).
#define EMBER_EXP_ROW_MIN 32
/// Rows per block: about 1K floats (4 KB, stays in L1).
#define EMBER_EXP_BLOCK 1024
static inline int64_t ember_exp_block_rows(int64_t cols) {
    return cols > 0 && cols < EMBER_EXP_ROW_MIN ? EMBER_EXP_BLOCK / cols : 1;
}

/// The softmax numerators of `rows` rows (at most EMBER_EXP_BLOCK floats in all when
/// cols < EMBER_EXP_ROW_MIN): mx[r] = the row's max (0 for an all -inf row when
/// `zero_neg_inf`), then y[r·cols + c] = exp(x[r·cols + c] − mx[r]). For short rows the
/// shifts go first, then one flat loop takes the exps: a loop per row vectorises across that
/// row's columns only, so with the quickstart's 10 classes the polynomial ran scalar
/// (cross-entropy forward at 64x10: 5.6 -> 4.1 µs). The exp sees the same float argument
/// either way: the same bits.
static inline void ember_softmax_numerators(float* y, float* mx, const float* x, int64_t rows,
                                            int64_t cols, int zero_neg_inf) {
    for (int64_t r = 0; r < rows; r++) {
        const float m = ember_row_max(x + r * cols, cols);
        mx[r] = zero_neg_inf && m == -__builtin_inff() ? 0.0f : m;
    }
    if (cols >= EMBER_EXP_ROW_MIN) {
        for (int64_t r = 0; r < rows; r++) {
            const float* xr = x + r * cols;
            float* yr = y + r * cols;
            const float m = mx[r];
            // The polynomial is a chain of dependent operations: interleaving 4 vectors
            // hides its latency (27% faster than the default plan, measured).
            _Pragma("clang loop vectorize(enable) interleave_count(4)")
            for (int64_t c = 0; c < cols; c++) yr[c] = ember_expf(xr[c] - m);
        }
        return;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] - mx[r];
    const int64_t n = rows * cols;
    _Pragma("clang loop vectorize(enable) interleave_count(4)")
    for (int64_t i = 0; i < n; i++) y[i] = ember_expf(y[i]);
}

/// A per-thread scratch buffer that grows on demand and is kept: no allocation per call once
/// warm. The C core's kernels do not fail (Swift checked the sizes), so running out aborts.
typedef struct { void* p; size_t cap; } ember_scratch;
static inline void* ember_reserve(ember_scratch* s, size_t bytes) {
    if (s->cap < bytes) {
        free(s->p);
        s->p = malloc(bytes);
        s->cap = s->p ? bytes : 0;
        if (!s->p) abort();
    }
    return s->p;
}

/// Direct convolution for thin inputs (conv_thin.c): used by conv.c when ember_conv_is_thin.
int ember_conv_is_thin(const ember_conv2d_shape* s);
void ember_conv_thin_forward(float* out, const float* inp, const float* weight, const float* bias,
                             const ember_conv2d_shape* s);
/// lanes (OC × Kg × 8) = the weight gradient's eight lane chains over images [lo, hi).
void ember_conv_thin_weight_lanes(float* lanes, const float* dout, const float* inp,
                                  const ember_conv2d_shape* s, int64_t lo, int64_t hi);
/// dinp of images [lo, hi), overwritten.
void ember_conv_thin_input_grad(float* dinp, const float* dout, const float* weight,
                                const ember_conv2d_shape* s, int64_t lo, int64_t hi);

#endif
