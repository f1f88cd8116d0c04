// The GEMM entry points. By default they run Ember's own engine (csrc/gemm/: packing,
// blocking, per-ISA microkernels), whose bits are the same on every path and thread count.
// With EMBER_GEMM=openblas (or ember_gemm_set_backend) they go through OpenBLAS instead, as
// below: the comparison column of the benchmarks, and the tests' second opinion.
//
// OpenBLAS route: why not OpenBLAS's own threads: its split depends on the thread count, so 1 and 2 threads
// give different bits at every quickstart shape. Here the output is cut into blocks whose
// size depends on the shape only; each block is one single-threaded cblas_sgemm, and the
// blocks are shared out by OpenMP. Same blocks → same bits for any thread count.
#include "internal.h"
#include "gemm/gemm_internal.h"
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

// Below this many multiply-adds a GEMM runs as one call: a fork/join and the repeated
// packing of the shared operand cost more than a second core gives back.
#define GEMM_MIN_PARALLEL_MACS (1 << 18)
// Number of blocks a large GEMM is cut into. A function of nothing but this constant and
// the shape, so the bits never depend on the thread count. Smaller blocks repack the shared
// operand more often: 2 was the fastest on 2 cores (docs/DESIGN.md, "One thread pool").
#ifndef GEMM_BLOCKS
#define GEMM_BLOCKS 2
#endif

// OpenBLAS's per-thread packing buffer faults its pages in on first use; while the pages
// just past the packed panels are untouched, products run much slower. One 64x1024x1024
// product per thread, before its first real one, touches the whole panel area, reading zero
// pages (calloc) that cost no resident memory (docs/DESIGN.md, "OpenBLAS's packing buffers").
static _Thread_local int blas_buffer_warm;

static void warm_blas_buffer(void) {
    blas_buffer_warm = 1;
    enum { WARM_M = 64, WARM_N = 1024, WARM_K = 1024 };
    float* zeros = calloc((size_t)WARM_K * WARM_N, sizeof(float));
    float* out = calloc((size_t)WARM_M * WARM_N, sizeof(float));
    if (zeros && out)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, WARM_M, WARM_N, WARM_K, 1.0f, zeros,
                    WARM_K, zeros, WARM_N, 1.0f, out, WARM_N);
    free(zeros);
    free(out);
}

// One single-threaded cblas_sgemm into C (m x n, row stride ldc). With `bias`, C is first
// filled with it on every row and accumulated into; with beta = 0, C is zeroed first.
static void sgemm_into(enum CBLAS_TRANSPOSE opA, enum CBLAS_TRANSPOSE opB, int64_t m, int64_t n,
                       int64_t K, float alpha, const float* A, int64_t lda, const float* B,
                       int64_t ldb, float beta, float* C, int64_t ldc, const float* bias) {
    if (bias) {
        for (int64_t i = 0; i < m; i++) memcpy(C + i * ldc, bias, (size_t)n * sizeof(float));
        beta = 1.0f;
    } else if (beta == 0.0f) {
        // OpenBLAS handles beta = 0 with a separate scaling pass over C (sgemm_beta: 10%
        // of a quickstart step in perf); memset + beta = 1 gives the same bits, faster.
        for (int64_t i = 0; i < m; i++) memset(C + i * ldc, 0, (size_t)n * sizeof(float));
        beta = 1.0f;
    }
    if (!blas_buffer_warm) warm_blas_buffer();
    cblas_sgemm(CblasRowMajor, opA, opB, (int)m, (int)n, (int)K, alpha, A, (int)lda, B, (int)ldb,
                beta, C, (int)ldc);
}

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Which way to cut C. A block of rows is one contiguous stretch of C, and both threads pack
// all of op(B); a block of columns is strided in C, and both threads pack all of op(A). With
// a short K the GEMM is mostly C traffic and rows win; columns win only when op(B) is much
// the larger operand over a long K (docs/DESIGN.md, "Rows or columns").
static int split_columns(int64_t M, int64_t N, int64_t K) {
    if (M < 32) return 1;                 // too few rows for two blocks of 16
    return N > 2 * M && K >= 256;
}

// C = max(C, 0) on an m x n block: the relu epilogue of a linear layer, run by the thread
// that just wrote the block, while it is still in that core's cache.
EMBER_SIMD
static void relu_block(float* C, int64_t m, int64_t n, int64_t ldc) {
    for (int64_t i = 0; i < m; i++) {
        float* row = C + i * ldc;
        for (int64_t j = 0; j < n; j++) row[j] = ember_relu(row[j]);
    }
}

// C = alpha·op(A)·op(B) + beta·C (+ bias on every row), cut as split_columns says, then
// max(C, 0) when `relu`.
static void gemm_blocked_on(int team, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                            const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                            float* C, int64_t ldc, const float* bias, int relu) {
    const enum CBLAS_TRANSPOSE opA = ta ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE opB = tb ? CblasTrans : CblasNoTrans;
    const int split_cols = split_columns(M, N, K);
    const int64_t extent = split_cols ? N : M;
    int64_t blocks = 1;
    if (M * N * K >= GEMM_MIN_PARALLEL_MACS) blocks = GEMM_BLOCKS;
    int64_t bs = round_up((extent + blocks - 1) / blocks, 16);
    if (bs < 16) bs = 16;
    blocks = (extent + bs - 1) / bs;
    const int nt = blocks > 1 ? team : 1;

    // One block per iteration: block b always computes the same output, whoever runs it.
    EMBER_FOR(nt, b, blocks,
        const int64_t s = b * bs;
        const int64_t len = (s + bs <= extent) ? bs : extent - s;
        const float *Ab = A, *Bb = B;
        float* Cb;
        int64_t m = M, n = N;
        if (split_cols) {
            n = len;
            Bb = tb ? B + s * ldb : B + s;         // op(B)(:, s:s+len)
            Cb = C + s;
        } else {
            m = len;
            Ab = ta ? A + s : A + s * lda;         // op(A)(s:s+len, :)
            Cb = C + s * ldc;
        }
        sgemm_into(opA, opB, m, n, K, alpha, Ab, lda, Bb, ldb, beta, Cb, ldc,
                   bias ? (split_cols ? bias + s : bias) : NULL);
        if (relu) relu_block(Cb, m, n, ldc);
    );
}

static void gemm_blocked(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                         float* C, int64_t ldc, const float* bias, int relu) {
    gemm_blocked_on(ember_team_size(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, relu);
}

static int backend_ = -1;

int ember_gemm_get_backend(void) {
    if (backend_ < 0) {
        const char* env = getenv("EMBER_GEMM");
        backend_ = env && strcmp(env, "openblas") == 0 ? EMBER_GEMM_OPENBLAS : EMBER_GEMM_EMBER;
    }
    return backend_;
}
void ember_gemm_set_backend(int backend) {
    backend_ = backend == EMBER_GEMM_OPENBLAS ? EMBER_GEMM_OPENBLAS : EMBER_GEMM_EMBER;
}

const char* ember_openblas_corename(void) { return openblas_get_corename(); }

// Below this many multiply-adds the engine runs a product on the calling thread. Its team
// meets at a barrier per block, and on a shared machine a barrier waits for a descheduled
// thread, which costs small products more than a second core gives (docs/DESIGN.md).
#define ENGINE_MIN_PARALLEL_MACS (1 << 21)

// Threads for a product of M·N·K multiply-adds on the engine.
static int engine_team(int64_t M, int64_t N, int64_t K) {
    return M * N * K >= ENGINE_MIN_PARALLEL_MACS ? ember_team_size() : 1;
}

// C = beta·C when there is nothing to sum (K = 0, or alpha = 0: BLAS reads neither A nor B).
static void scale_only(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

// op(A)·op(B), each given as a matrix or as a packing (pa, pb: NULL for the matrix), through
// the engine or the OpenBLAS route; `serial`: on the calling thread alone, the same bits.
static void sgemm_any(int serial, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                      const float* A, int64_t lda, const ember_packed_a* pa, const float* B, int64_t ldb,
                      const ember_packed_b* pb, float beta, float* C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == 0.0f) {   // OpenBLAS leaves C untouched for K == 0; define it as beta * C
        scale_only(M, N, beta, C, ldc);
        return;
    }
    if (pa) {
        const ember_packed_source src = ember_gemm_packed_a_source(pa);
        A = src.data, lda = src.ld, ta = src.trans;
    }
    if (pb) {
        const ember_packed_source src = ember_gemm_packed_source(pb);
        B = src.data, ldb = src.ld, tb = src.trans;
    }
    if (ember_gemm_get_backend() == EMBER_GEMM_OPENBLAS) {
        gemm_blocked_on(serial ? 1 : ember_team_size(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                        NULL, 0);
        return;
    }
    ember_gemm_run(ember_gemm_current_isa(), serial ? 1 : engine_team(M, N, K), ta, tb, M, N, K, alpha, A, lda,
                   pa, B, ldb, pb, beta, C, ldc, NULL, 0);
}

void ember_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc) {
    sgemm_any(0, trans_a, trans_b, M, N, K, alpha, A, lda, NULL, B, ldb, NULL, beta, C, ldc);
}

void ember_sgemm_serial(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                        const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                        float* C, int64_t ldc) {
    sgemm_any(1, trans_a, trans_b, M, N, K, alpha, A, lda, NULL, B, ldb, NULL, beta, C, ldc);
}

void ember_sgemm_packed(int trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const ember_packed_b* B, float beta, float* C, int64_t ldc) {
    sgemm_any(0, trans_a, 0, M, N, K, alpha, A, lda, NULL, NULL, 0, B, beta, C, ldc);
}

void ember_sgemm_packed_a(int64_t M, int64_t N, int64_t K, float alpha, const ember_packed_a* A, int trans_b,
                          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    sgemm_any(0, 0, trans_b, M, N, K, alpha, NULL, 0, A, B, ldb, NULL, beta, C, ldc);
}

void ember_sgemm_serial_prepacked(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                                  const float* A, int64_t lda, const ember_packed_a* pa, const float* B,
                                  int64_t ldb, const ember_packed_b* pb, float beta, float* C, int64_t ldc) {
    sgemm_any(1, trans_a, trans_b, M, N, K, alpha, A, lda, pa, B, ldb, pb, beta, C, ldc);
}

void ember_set_blas_threads(int n) { openblas_set_num_threads(n > 0 ? n : 1); }

void ember_cblas_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                       float* C, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

// out = relu?(bias) on every row: a linear layer with no inputs.
static void bias_only(float* out, const float* bias, int64_t N, int64_t OUT, int relu) {
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < OUT; j++) {
            const float v = bias ? bias[j] : 0.0f;
            out[i * OUT + j] = relu ? ember_relu(v) : v;
        }
}

// out = relu?(inp·Wᵀ + bias), W given as a matrix (OUT×IN) or as a packing of Wᵀ.
static void linear_any(float* out, const float* inp, const float* weight, const ember_packed_b* packed,
                       const float* bias, int64_t N, int64_t IN, int64_t OUT, int relu) {
    if (N == 0 || OUT == 0) return;
    if (IN == 0) {
        bias_only(out, bias, N, OUT, relu);
        return;
    }
    int tb = 1;
    int64_t ldb = IN;
    if (packed) {
        const ember_packed_source src = ember_gemm_packed_source(packed);
        weight = src.data, ldb = src.ld, tb = src.trans;
    }
    if (ember_gemm_get_backend() == EMBER_GEMM_OPENBLAS) {
        gemm_blocked(0, tb, N, OUT, IN, 1.0f, inp, IN, weight, ldb, 0.0f, out, OUT, bias, relu);
        return;
    }
    ember_gemm_run(ember_gemm_current_isa(), engine_team(N, OUT, IN), 0, tb, N, OUT, IN, 1.0f, inp, IN, NULL,
                   weight, ldb, packed, 0.0f, out, OUT, bias, relu);
}

void ember_linear_forward(float* out, const float* inp, const float* weight, const float* bias,
                          int64_t N, int64_t IN, int64_t OUT, int relu) {
    linear_any(out, inp, weight, NULL, bias, N, IN, OUT, relu);
}

void ember_linear_forward_packed(float* out, const float* inp, const ember_packed_b* weight,
                                 const float* bias, int64_t N, int64_t IN, int64_t OUT, int relu) {
    linear_any(out, inp, NULL, weight, bias, N, IN, OUT, relu);
}

// Columns in blocks of 256 across threads; rows summed in order within each column:
// deterministic.
#define BIAS_BLOCK 256

EMBER_SIMD
static void bias_backward_blocks(float* dbias, const float* dout, int64_t N, int64_t OUT,
                                 int accumulate, int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; b++) {
        const int64_t j0 = b * BIAS_BLOCK, j1 = j0 + BIAS_BLOCK < OUT ? j0 + BIAS_BLOCK : OUT;
        float acc[BIAS_BLOCK];
        for (int64_t j = j0; j < j1; j++) acc[j - j0] = 0.0f;
        for (int64_t i = 0; i < N; i++) {
            const float* row = dout + i * OUT;
            for (int64_t j = j0; j < j1; j++) acc[j - j0] += row[j];
        }
        for (int64_t j = j0; j < j1; j++) dbias[j] = accumulate ? dbias[j] + acc[j - j0] : acc[j - j0];
    }
}

void ember_bias_backward(float* dbias, const float* dout, int64_t N, int64_t OUT, int accumulate) {
    const int64_t nblocks = (OUT + BIAS_BLOCK - 1) / BIAS_BLOCK;
    EMBER_PARALLEL(ember_team(N * OUT), nblocks, bias_backward_blocks, dbias, dout, N, OUT, accumulate);
}

void ember_linear_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                           const float* weight, int64_t N, int64_t IN, int64_t OUT) {
    // dinp = dout·W and dweight = doutᵀ·inp are independent and always the same number of
    // multiply-adds (N·IN·OUT). When both are needed and large, they run side by side as
    // two whole single-threaded products instead of one after the other, each on the team:
    // no operand is packed by both threads and there is one join instead of several. Either
    // way each element's chain is the same (include/ember.h), so the bits do not depend on it.
    const int blas = ember_gemm_get_backend() == EMBER_GEMM_OPENBLAS;
    const int pair = dinp && dweight && N > 0 && IN > 0 && OUT > 0 && ember_team_size() > 1 &&
                     N * IN * OUT >= (blas ? GEMM_MIN_PARALLEL_MACS : ENGINE_MIN_PARALLEL_MACS);
    if (!pair) {
        if (dinp) ember_sgemm(0, 0, N, IN, OUT, 1.0f, dout, OUT, weight, IN, 0.0f, dinp, IN);
        if (dweight) ember_sgemm(1, 0, OUT, IN, N, 1.0f, dout, OUT, inp, IN, 0.0f, dweight, IN);
        return;
    }
    if (blas) {
        const int nt = 2;
        EMBER_FOR(nt, t, 2,
            if (t == 0) sgemm_into(CblasNoTrans, CblasNoTrans, N, IN, OUT, 1.0f, dout, OUT, weight, IN,
                                   0.0f, dinp, IN, NULL);
            else sgemm_into(CblasTrans, CblasNoTrans, OUT, IN, N, 1.0f, dout, OUT, inp, IN, 0.0f,
                            dweight, IN, NULL);
        );
        return;
    }
    const ember_gemm_isa* isa = ember_gemm_current_isa();
    const int nt = 2;
    EMBER_FOR(nt, t, 2,
        if (t == 0) ember_gemm_run(isa, 1, 0, 0, N, IN, OUT, 1.0f, dout, OUT, NULL, weight, IN, NULL, 0.0f,
                                   dinp, IN, NULL, 0);
        else ember_gemm_run(isa, 1, 1, 0, OUT, IN, N, 1.0f, dout, OUT, NULL, inp, IN, NULL, 0.0f, dweight,
                            IN, NULL, 0);
    );
}
