// AVX-512 microkernels: a 12×32 tile of C in 24 zmm accumulators (two 16-float vectors per
// row). Per k: two vector loads of B, twelve broadcasts of A, 24 FMAs. Compiled for AVX-512
// by function attribute only (no -march), so the library still loads on any x86-64; the
// engine calls it only after cpuid said yes.
#include "gemm_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512vl,avx512dq,fma")))
#define MR 12
#define NV 2
#define NR (16 * NV)

// The epilogue in the order include/ember.h states (alpha, beta·C, bias, relu), one vector
// at a time; the generic kernel does the same per element, so both round alike.
static inline T512 __m512 epilogue(__m512 r, const float* c, const ember_gemm_epi* e, int v) {
    if (e->alpha != 1.0f) r = _mm512_mul_ps(_mm512_set1_ps(e->alpha), r);
    if (e->beta != 0.0f) r = _mm512_add_ps(r, _mm512_mul_ps(_mm512_set1_ps(e->beta), _mm512_loadu_ps(c)));
    if (e->bias) r = _mm512_add_ps(r, _mm512_loadu_ps(e->bias + 16 * v));
    // max(0, r) returns r unless 0 > r: NaN and -0 pass through, as ember_relu does.
    if (e->relu) r = _mm512_max_ps(_mm512_setzero_ps(), r);
    return r;
}

// The tile body for `rows` rows (of the MR in a packed A panel) and `nv` vectors per row,
// constants after inlining: the loops unroll and the accumulators stay in registers.
static inline __attribute__((always_inline)) T512 void
tile_body(const int rows, const int nv, int64_t kc, const float* restrict a, const float* restrict b,
          float* restrict c, int64_t ldc, const ember_gemm_epi* e) {
    __m512 acc[MR][NV];
    if (e->first) {
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
    } else {
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_loadu_ps(c + r * ldc + 16 * v);
    }
    for (int64_t p = 0; p < kc; p++) {
        __m512 bv[NV];
        for (int v = 0; v < nv; v++) bv[v] = _mm512_loadu_ps(b + 16 * v);
        for (int r = 0; r < rows; r++) {
            const __m512 ar = _mm512_set1_ps(a[r]);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
        }
        a += MR;
        b += 16 * nv;
    }
    if (e->last) {
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < nv; v++) acc[r][v] = epilogue(acc[r][v], c + r * ldc + 16 * v, e, v);
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < nv; v++) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
}

static T512 void kernel_12x32(int64_t kc, const float* restrict a, const float* restrict b,
                              float* restrict c, int64_t ldc, const ember_gemm_epi* e) {
    tile_body(MR, 2, kc, a, b, c, ldc, e);
}

// For N <= 16 (a classifier's 10 outputs): half the padding of a 32-wide tile.
static T512 void kernel_12x16(int64_t kc, const float* restrict a, const float* restrict b,
                              float* restrict c, int64_t ldc, const ember_gemm_epi* e) {
    tile_body(MR, 1, kc, a, b, c, ldc, e);
}

// The first 4 rows of a panel, for a bottom edge of at most 4 rows (the quickstart's batch of
// 64 is 5 full panels and 4 rows): a third of the FMAs of the full tile.
static T512 void kernel_4x32(int64_t kc, const float* restrict a, const float* restrict b,
                             float* restrict c, int64_t ldc, const ember_gemm_epi* e) {
    tile_body(4, 2, kc, a, b, c, ldc, e);
}
static T512 void kernel_4x16(int64_t kc, const float* restrict a, const float* restrict b,
                             float* restrict c, int64_t ldc, const ember_gemm_epi* e) {
    tile_body(4, 1, kc, a, b, c, ldc, e);
}
static ember_gemm_kernel rows_kernel_32(int rows) { return rows == 4 ? kernel_4x32 : NULL; }
static ember_gemm_kernel rows_kernel_16(int rows) { return rows == 4 ? kernel_4x16 : NULL; }

// 24 independent chains (more than FMA latency × ports on any AVX-512 core), values fixed
// at 1·1 + 0 so nothing overflows or goes denormal, every accumulator opaque to the
// optimiser each round (else it folds the loop).
static T512 double peak_avx512(int64_t iters) {
    enum { CHAINS = 24 };
    __m512 acc[CHAINS];
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (int i = 0; i < CHAINS; i++) acc[i] = one;
    for (int64_t it = 0; it < iters; it++) {
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], one, zero);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]));
        __asm__ volatile("" : "+v"(acc[4]), "+v"(acc[5]), "+v"(acc[6]), "+v"(acc[7]));
        __asm__ volatile("" : "+v"(acc[8]), "+v"(acc[9]), "+v"(acc[10]), "+v"(acc[11]));
        __asm__ volatile("" : "+v"(acc[12]), "+v"(acc[13]), "+v"(acc[14]), "+v"(acc[15]));
        __asm__ volatile("" : "+v"(acc[16]), "+v"(acc[17]), "+v"(acc[18]), "+v"(acc[19]));
        __asm__ volatile("" : "+v"(acc[20]), "+v"(acc[21]), "+v"(acc[22]), "+v"(acc[23]));
    }
    float sink[16];
    __m512 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
    _mm512_storeu_ps(sink, s);
    __asm__ volatile("" : : "r"(sink) : "memory");
    return (double)iters * CHAINS * 16 * 2;
}

static const ember_gemm_isa narrow = {EMBER_CPU_AVX512, "avx512", MR, 16, kernel_12x16, peak_avx512,
                                      NULL, rows_kernel_16, NULL};
const ember_gemm_isa ember_gemm_isa_avx512 = {EMBER_CPU_AVX512, "avx512", MR, NR, kernel_12x32,
                                              peak_avx512, &narrow, rows_kernel_32, NULL};
#else
const ember_gemm_isa ember_gemm_isa_avx512 = {EMBER_CPU_AVX512, "avx512", 0, 0, 0, 0, 0, 0, 0};
#endif
