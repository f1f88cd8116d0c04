// Ember's GEMM engine, shared between the driver (engine.c) and the microkernels (one file
// per ISA). See include/ember.h for the rounding rule every path follows.
#ifndef EMBER_GEMM_INTERNAL_H
#define EMBER_GEMM_INTERNAL_H
#include "../internal.h"

/// What a microkernel does around its FMA chain over one k-block.
/// - first: the chains start at 0 (else they continue from the partial sums stored in C);
/// - last: the epilogue runs: r = acc; r = alpha·r (when alpha != 1); r = r + beta·C (when
///   beta != 0; only ever together with `first`); r = r + bias[j] (when bias); r = relu(r).
///   Otherwise the raw partial sums are stored to C for the next k-block.
typedef struct {
    int first, last, relu;
    float alpha, beta;
    const float* bias;   // NR entries (padded with zeros on an edge tile), or NULL
} ember_gemm_epi;

/// C(MR×NR, row stride ldc) from a packed A micro-panel (kc × MR, k-major) and a packed B
/// micro-panel (kc × NR, k-major). Every C element is one FMA chain over p = 0..kc-1.
typedef void (*ember_gemm_kernel)(int64_t kc, const float* a, const float* b, float* c,
                                  int64_t ldc, const ember_gemm_epi* e);

/// The same tile with A and B read `as` and `bs` floats apart per k (any strides: the
/// operands in place), for `rows` (1…MR) rows and a full NR columns.
typedef void (*ember_gemm_strided_kernel)(int64_t kc, const float* a, int64_t as, const float* b,
                                          int64_t bs, float* c, int64_t ldc, const ember_gemm_epi* e);

typedef struct ember_gemm_isa {
    int path;              // EMBER_CPU_*
    const char* name;
    int mr, nr;
    ember_gemm_kernel kernel;
    /// `iters` rounds of register-only FMAs; returns the FLOPs done (for `ember-bench peak`).
    double (*peak)(int64_t iters);
    /// A narrower tile for products whose N fits it (NULL: none): less padding.
    const struct ember_gemm_isa* narrow;
    /// The kernel for a tile of exactly `rows` (< mr) rows, or NULL (the engine then runs a
    /// wider kernel into a scratch tile); NULL when the ISA has no such kernels at all.
    ember_gemm_kernel (*rows_kernel)(int rows);
    /// The strided kernel for `rows` rows, or NULL: then the engine always packs.
    ember_gemm_strided_kernel (*strided_kernel)(int rows);
} ember_gemm_isa;

extern const ember_gemm_isa ember_gemm_isa_avx512;   // kernel_avx512.c
extern const ember_gemm_isa ember_gemm_isa_avx2;     // kernel_avx2.c
extern const ember_gemm_isa ember_gemm_isa_generic;  // kernel_generic.c

#define EMBER_GEMM_MAX_MR 16
#define EMBER_GEMM_MAX_NR 64

/// The engine itself (engine.c): C = epilogue(op(A)·op(B)) on `nt` threads. `packed_a` and
/// `packed_b` (either may be NULL) replace A and B when their layout matches `isa` and its
/// blocking.
void ember_gemm_run(const ember_gemm_isa* isa, int nt, int ta, int tb, int64_t M, int64_t N,
                    int64_t K, float alpha, const float* A, int64_t lda,
                    const struct ember_packed_a* packed_a, const float* B, int64_t ldb,
                    const struct ember_packed_b* packed_b, float beta, float* C, int64_t ldc,
                    const float* bias, int relu);
/// The matrix a packing was made from (still the caller's memory): the OpenBLAS route and a
/// path whose panels differ from the packing's multiply it directly.
typedef struct { const float* data; int64_t ld; int trans; } ember_packed_source;
ember_packed_source ember_gemm_packed_source(const struct ember_packed_b* pb);
ember_packed_source ember_gemm_packed_a_source(const struct ember_packed_a* pa);

/// d[p·nr + j] = src[j·ldb + p] (j < cols, p < kcur), zero for cols <= j < nr (pack_x86.c;
/// needs AVX2).
void ember_pack_b_trans_avx2(float* d, const float* src, int64_t ldb, int64_t cols, int64_t kcur,
                             int nr);

/// d[jb·stride + p·nr + j] = src[p·ldb + jb·nr + j] (j < nr, a multiple of 8; p < kcur;
/// jb < panels): full panels of plain B, read row by row (pack_x86.c; needs AVX2).
void ember_pack_b_avx2(float* d, const float* src, int64_t ldb, int64_t kcur, int nr, int64_t panels,
                       int64_t stride);

/// One full micro-panel of op(A): d[p·mr + r] = op(A)(r, p) for r < mr (a multiple of 6), p <
/// kcur; `src` is op(A)(0, 0), `ta` as the engine's (pack_x86.c; needs AVX2).
void ember_pack_a_avx2(float* d, const float* src, int64_t lda, int ta, int64_t kcur, int mr);

/// The ISA the engine runs now (EMBER_CPU, ember_gemm_set_path and the hardware decide).
const ember_gemm_isa* ember_gemm_current_isa(void);

#endif
