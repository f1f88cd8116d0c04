// AVX2+FMA microkernel: a 6×16 tile of C in 12 ymm accumulators (two 8-float vectors per
// row), leaving 4 of the 16 ymm registers for B and the broadcasts. Compiled for AVX2+FMA by
// function attribute only; the engine calls it only after cpuid said yes.
#include "gemm_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define T256 __attribute__((target("avx2,fma")))
#define MR 6
#define NV 2
#define NR (8 * NV)

// The epilogue in the order include/ember.h states (alpha, beta·C, bias, relu), each step a
// pass over all the accumulators behind one test of its flag. Written per accumulator, the
// compiler tested the flags again for each of the twelve, with branches and stack spills: three
// times the code, and slower on short tiles with bias and relu.
static inline __attribute__((always_inline)) T256 void
epilogue(__m256 acc[MR][NV], const int rows, const float* c, int64_t ldc, const ember_gemm_epi* e) {
    if (e->alpha != 1.0f) {
        const __m256 alpha = _mm256_set1_ps(e->alpha);
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_mul_ps(alpha, acc[r][v]);
    }
    if (e->beta != 0.0f) {
        const __m256 beta = _mm256_set1_ps(e->beta);
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < NV; v++)
                acc[r][v] = _mm256_add_ps(acc[r][v], _mm256_mul_ps(beta, _mm256_loadu_ps(c + r * ldc + 8 * v)));
    }
    if (e->bias) {
        for (int v = 0; v < NV; v++) {
            const __m256 bias = _mm256_loadu_ps(e->bias + 8 * v);
            for (int r = 0; r < rows; r++) acc[r][v] = _mm256_add_ps(acc[r][v], bias);
        }
    }
    if (e->relu) {   // max(0, x) is x unless 0 > x: NaN and -0 pass, as ember_relu
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_max_ps(_mm256_setzero_ps(), acc[r][v]);
    }
}

// The tile body for `rows` rows of the MR in an A panel, a constant after inlining: the loops
// unroll and the accumulators stay in registers. A and B advance by `as` and `bs` floats per
// k: MR and NR in packed panels, the operands' own row strides when the engine reads them in
// place (the strided kernels below).
static inline __attribute__((always_inline)) T256 void
tile_body(const int rows, int64_t kc, const float* restrict a, int64_t as, const float* restrict b, int64_t bs,
          float* restrict c, int64_t ldc, const ember_gemm_epi* e) {
    __m256 acc[MR][NV];
    if (e->first) {
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
    } else {
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_loadu_ps(c + r * ldc + 8 * v);
    }
    // Four k steps per loop trip: 0.95 of the time of one (the gpt step's products and 2048³,
    // in-process A/B); eight and two were slower.
    _Pragma("clang loop unroll_count(4)")
    for (int64_t p = 0; p < kc; p++) {
        __m256 bv[NV];
        for (int v = 0; v < NV; v++) bv[v] = _mm256_loadu_ps(b + 8 * v);
        for (int r = 0; r < rows; r++) {
            const __m256 ar = _mm256_broadcast_ss(a + r);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(ar, bv[v], acc[r][v]);
        }
        a += as;
        b += bs;
    }
    if (e->last) epilogue(acc, rows, c, ldc, e);
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < NV; v++) _mm256_storeu_ps(c + r * ldc + 8 * v, acc[r][v]);
}

static T256 void kernel_6x16(int64_t kc, const float* restrict a, const float* restrict b,
                             float* restrict c, int64_t ldc, const ember_gemm_epi* e) {
    tile_body(MR, kc, a, MR, b, NR, c, ldc, e);
}

// Bottom edges of 1 to 5 rows, written in place: attention's 64-row tiles end in 4 rows (64 =
// 10·6 + 4), a 128-channel convolution in 2. Without them such an edge went through a scratch
// tile: copied in and out around a full 6-row kernel.
#define ROWS_KERNEL(R)                                                                            \
    static T256 void kernel_##R##x16(int64_t kc, const float* restrict a, const float* restrict b, \
                                     float* restrict c, int64_t ldc, const ember_gemm_epi* e) {   \
        tile_body(R, kc, a, MR, b, NR, c, ldc, e);                                                \
    }
ROWS_KERNEL(1)
ROWS_KERNEL(2)
ROWS_KERNEL(3)
ROWS_KERNEL(4)
ROWS_KERNEL(5)
#undef ROWS_KERNEL

static ember_gemm_kernel rows_kernel(int rows) {
    static const ember_gemm_kernel k[MR] = {NULL, kernel_1x16, kernel_2x16, kernel_3x16, kernel_4x16, kernel_5x16};
    return rows > 0 && rows < MR ? k[rows] : NULL;
}

// The same tiles reading A or B in place, `as` and `bs` floats per k (small operands the
// engine does not pack, see engine.c).
#define STRIDED_KERNEL(R)                                                                          \
    static T256 void strided_##R(int64_t kc, const float* restrict a, int64_t as, const float* restrict b, \
                                 int64_t bs, float* restrict c, int64_t ldc, const ember_gemm_epi* e) { \
        tile_body(R, kc, a, as, b, bs, c, ldc, e);                                                 \
    }
STRIDED_KERNEL(1)
STRIDED_KERNEL(2)
STRIDED_KERNEL(3)
STRIDED_KERNEL(4)
STRIDED_KERNEL(5)
STRIDED_KERNEL(6)
#undef STRIDED_KERNEL

static ember_gemm_strided_kernel strided_kernel(int rows) {
    static const ember_gemm_strided_kernel k[MR + 1] = {NULL, strided_1, strided_2, strided_3, strided_4, strided_5, strided_6};
    return rows > 0 && rows <= MR ? k[rows] : NULL;
}

// 12 independent chains (FMA latency 4-5 × 2 ports needs 8-10), values fixed at 1·1 + 0 so
// nothing overflows or goes denormal, every accumulator opaque to the optimiser each round.
static T256 double peak_avx2(int64_t iters) {
    enum { CHAINS = 12 };
    __m256 acc[CHAINS];
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (int i = 0; i < CHAINS; i++) acc[i] = one;
    for (int64_t it = 0; it < iters; it++) {
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], one, zero);
        __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]));
        __asm__ volatile("" : "+x"(acc[4]), "+x"(acc[5]), "+x"(acc[6]), "+x"(acc[7]));
        __asm__ volatile("" : "+x"(acc[8]), "+x"(acc[9]), "+x"(acc[10]), "+x"(acc[11]));
    }
    float sink[8];
    __m256 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, acc[i]);
    _mm256_storeu_ps(sink, s);
    __asm__ volatile("" : : "r"(sink) : "memory");
    return (double)iters * CHAINS * 8 * 2;
}

const ember_gemm_isa ember_gemm_isa_avx2 = {EMBER_CPU_AVX2, "avx2", MR, NR, kernel_6x16, peak_avx2,
                                            NULL, rows_kernel, strided_kernel};
#else
const ember_gemm_isa ember_gemm_isa_avx2 = {EMBER_CPU_AVX2, "avx2", 0, 0, 0, 0, 0, 0, 0};
#endif
