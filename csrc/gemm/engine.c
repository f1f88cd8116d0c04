// Ember's GEMM engine: BLIS-style blocking and packing around the per-ISA microkernels.
//
// Loops, outermost first: jc over N in NC columns, pc over K in KC steps, ic over M in MC
// rows; inside, the MC×NC block's micro-tiles (MR×NR) are shared out among the threads. op(B)
// (KC×NC) and op(A) (MC×KC) are packed into micro-panels, transposes resolved while packing,
// so the kernels always read unit-stride k-major panels whatever the transposes.
// Bits: the blocking and the thread split decide only who computes an element and when,
// never its chain: a k-block continues the float partial stored in C by the one before, and
// the epilogue (alpha, beta, bias, relu) runs once, after the last one (include/ember.h).
#include "gemm_internal.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __SSE2__
#include <xmmintrin.h>
#endif

// MARK: - Dispatch

static int hardware_path(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    // __builtin_cpu_supports also checks that the OS saves the wide registers (XGETBV).
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        return EMBER_CPU_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return EMBER_CPU_AVX2;
#endif
    return EMBER_CPU_GENERIC;
}

static int hw_path_ = -1;   // what the machine can run
static int path_ = -1;      // what runs: hw_path_ capped by EMBER_CPU / ember_gemm_set_path

int ember_cpu_hardware_path(void) {
    if (hw_path_ < 0) hw_path_ = hardware_path();
    return hw_path_;
}

int ember_gemm_set_path(int path) {
    const int hw = ember_cpu_hardware_path();
    if (path < EMBER_CPU_GENERIC) path = EMBER_CPU_GENERIC;
    path_ = path < hw ? path : hw;
    return path_;
}

int ember_gemm_get_path(void) {
    if (path_ < 0) {
        int cap = EMBER_CPU_AVX512;
        const char* env = getenv("EMBER_CPU");
        if (env && strcmp(env, "generic") == 0) cap = EMBER_CPU_GENERIC;
        else if (env && strcmp(env, "avx2") == 0) cap = EMBER_CPU_AVX2;
        ember_gemm_set_path(cap);
    }
    return path_;
}

const char* ember_cpu_path_name(int path) {
    return path == EMBER_CPU_AVX512 ? "avx512" : path == EMBER_CPU_AVX2 ? "avx2" : "generic";
}

static const ember_gemm_isa* isa_for(int path) {
    return path == EMBER_CPU_AVX512 ? &ember_gemm_isa_avx512
         : path == EMBER_CPU_AVX2   ? &ember_gemm_isa_avx2
                                    : &ember_gemm_isa_generic;
}

const ember_gemm_isa* ember_gemm_current_isa(void) { return isa_for(ember_gemm_get_path()); }

double ember_fma_peak(int path, int64_t iters) {
    if (path > ember_cpu_hardware_path()) return 0.0;
    return isa_for(path)->peak(iters);
}

// MARK: - Blocking

typedef struct { int64_t mc, nc, kc; } blocking;

static int64_t cache_size(int name, int64_t fallback) {
    const long s = sysconf(name);
    return s > 0 ? s : fallback;
}

static int64_t clamp64(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : x > hi ? hi : x; }

static int64_t override_mc_, override_nc_, override_kc_;

void ember_gemm_set_blocking(int64_t mc, int64_t nc, int64_t kc) {
    override_mc_ = mc, override_nc_ = nc, override_kc_ = kc;
}

// KC: a KC×NR micro-panel of B fills half of L1, the other half for the A micro-panels
// streaming past it and the C tile. MC: an MC×KC block of A fills a quarter of L2 (B's
// panels and C pass through it too). NC: a KC×NC block of B fits a quarter of L3 (other
// cores share it). From sysconf, with typical fallbacks where the OS reports nothing.
static blocking blocking_for(const ember_gemm_isa* isa) {
    const int64_t l1 = cache_size(_SC_LEVEL1_DCACHE_SIZE, 32 << 10);
    const int64_t l2 = cache_size(_SC_LEVEL2_CACHE_SIZE, 1 << 20);
    const int64_t l3 = cache_size(_SC_LEVEL3_CACHE_SIZE, 8 << 20);
    blocking b;
    b.kc = clamp64(l1 / 2 / (isa->nr * 4) / 16 * 16, 64, 1024);
    b.mc = clamp64(l2 / 4 / (b.kc * 4) / isa->mr * isa->mr, isa->mr, 4096 / isa->mr * isa->mr);
    b.nc = clamp64(l3 / 4 / (b.kc * 4) / isa->nr * isa->nr, isa->nr, 8192 / isa->nr * isa->nr);
    if (override_kc_ > 0) b.kc = override_kc_;
    if (override_mc_ > 0) b.mc = (override_mc_ + isa->mr - 1) / isa->mr * isa->mr;
    if (override_nc_ > 0) b.nc = (override_nc_ + isa->nr - 1) / isa->nr * isa->nr;
    return b;
}

// The blocking of a K-deep product (and of a packed A for one): a last k-block under a
// quarter of KC is shared out among the others (784 = 3·256 + 16 runs as 262 + 261 + 261),
// since each k-block is a pass over C and two barriers. The micro-panels grow by at most a
// quarter. KC never changes the bits.
static blocking blocking_for_depth(const ember_gemm_isa* isa, int64_t K) {
    blocking b = blocking_for(isa);
    const int64_t blocks = (K + b.kc - 1) / b.kc;
    if (blocks >= 2 && K - (blocks - 1) * b.kc < b.kc / 4) b.kc = (K + blocks - 2) / (blocks - 1);
    return b;
}

void ember_gemm_get_blocking(int64_t* mc, int64_t* nc, int64_t* kc) {
    const blocking b = blocking_for(ember_gemm_current_isa());
    *mc = b.mc, *nc = b.nc, *kc = b.kc;
}

// MARK: - Buffers

// Per calling thread, grown on demand and kept: a GEMM's packing buffers are reused by the
// next call, so their pages are faulted in once. The team's threads read the caller's.
typedef struct { float* p; size_t n; } buffer;
static _Thread_local buffer abuf_, bbuf_, tbuf_;

static float* reserve(buffer* b, size_t floats) {
    if (b->n < floats) {
        free(b->p);
        b->p = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
        b->n = b->p ? floats : 0;
    }
    return b->p;
}

// MARK: - Packing (plain copies: any ISA, any order, the same bits)

// op(A)(i0 + ib·MR + r, p0 + p) for panels [lo, hi) of an mcur×kcur block, each kcur×MR,
// rows past M zero.
EMBER_SIMD
static void pack_a(float* dst, const float* A, int64_t lda, int ta, int64_t i0, int64_t mcur,
                   int64_t p0, int64_t kcur, int mr, int64_t lo, int64_t hi) {
    for (int64_t ib = lo; ib < hi; ib++) {
        float* d = dst + ib * mr * kcur;
        const int64_t r0 = i0 + ib * mr;
        const int64_t rows = mcur - ib * mr < mr ? mcur - ib * mr : mr;
        if (rows == mr && mr % 6 == 0 && ember_cpu_hardware_path() >= EMBER_CPU_AVX2) {
            ember_pack_a_avx2(d, ta ? A + p0 * lda + r0 : A + r0 * lda + p0, lda, ta, kcur, mr);
        } else if (ta) {   // op(A)(i, p) = A[p·lda + i]: each k gives a contiguous run of rows
            for (int64_t p = 0; p < kcur; p++) {
                const float* s = A + (p0 + p) * lda + r0;
                for (int r = 0; r < rows; r++) d[p * mr + r] = s[r];
                for (int r = (int)rows; r < mr; r++) d[p * mr + r] = 0.0f;
            }
        } else {
            int r = 0;
#ifdef __SSE2__
            // 4 rows by 4 k at a time through an in-register transpose: one 16-byte store
            // per k instead of four scalar ones (the quickstart's activations are A here).
            for (; r + 4 <= rows; r += 4) {
                const float* s = A + (r0 + r) * lda + p0;
                int64_t p = 0;
                for (; p + 4 <= kcur; p += 4) {
                    __m128 x0 = _mm_loadu_ps(s + p), x1 = _mm_loadu_ps(s + lda + p);
                    __m128 x2 = _mm_loadu_ps(s + 2 * lda + p), x3 = _mm_loadu_ps(s + 3 * lda + p);
                    _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
                    _mm_storeu_ps(d + (p + 0) * mr + r, x0);
                    _mm_storeu_ps(d + (p + 1) * mr + r, x1);
                    _mm_storeu_ps(d + (p + 2) * mr + r, x2);
                    _mm_storeu_ps(d + (p + 3) * mr + r, x3);
                }
                for (; p < kcur; p++)
                    for (int q = 0; q < 4; q++) d[p * mr + r + q] = s[q * lda + p];
            }
#endif
            for (; r < rows; r++) {
                const float* s = A + (r0 + r) * lda + p0;
                for (int64_t p = 0; p < kcur; p++) d[p * mr + r] = s[p];
            }
            for (int r = (int)rows; r < mr; r++)
                for (int64_t p = 0; p < kcur; p++) d[p * mr + r] = 0.0f;
        }
    }
}

// op(B)(p0 + p, j0 + jb·NR + j) for panels [lo, hi) of a kcur×ncur block, each kcur×NR at
// `stride` floats from the last, columns past N zero.
EMBER_SIMD
static void pack_b(float* dst, int64_t stride, const float* B, int64_t ldb, int tb, int64_t j0,
                   int64_t ncur, int64_t p0, int64_t kcur, int nr, int64_t lo, int64_t hi) {
    if (!tb && nr % 8 == 0 && ember_cpu_hardware_path() >= EMBER_CPU_AVX2) {
        // The full panels together, row by row: B's rows are read from start to end (one
        // panel at a time took a cache line from each of kcur rows, ldb apart).
        int64_t full = ncur / nr;
        if (full > hi) full = hi;
        if (full > lo) {
            ember_pack_b_avx2(dst + lo * stride, B + p0 * ldb + j0 + lo * nr, ldb, kcur, nr, full - lo, stride);
            lo = full;
        }
    }
    for (int64_t jb = lo; jb < hi; jb++) {
        float* d = dst + jb * stride;
        const int64_t c0 = j0 + jb * nr;
        const int64_t cols = ncur - jb * nr < nr ? ncur - jb * nr : nr;
        if (tb && nr % 8 == 0 && ember_cpu_hardware_path() >= EMBER_CPU_AVX2) {
            ember_pack_b_trans_avx2(d, B + c0 * ldb + p0, ldb, cols, kcur, nr);
        } else if (tb) {   // op(B)(p, j) = B[j·ldb + p]: read each stored row once, unit stride
            for (int64_t j = 0; j < cols; j++) {
                const float* s = B + (c0 + j) * ldb + p0;
                for (int64_t p = 0; p < kcur; p++) d[p * nr + j] = s[p];
            }
            for (int64_t j = cols; j < nr; j++)
                for (int64_t p = 0; p < kcur; p++) d[p * nr + j] = 0.0f;
        } else {
            for (int64_t p = 0; p < kcur; p++) {
                const float* s = B + (p0 + p) * ldb + c0;
                for (int64_t j = 0; j < cols; j++) d[p * nr + j] = s[j];
                for (int64_t j = cols; j < nr; j++) d[p * nr + j] = 0.0f;
            }
        }
    }
}

// MARK: - Pre-packed B

// A packing's floats: 64-byte aligned, and a line more than asked (aligned_alloc wants a
// multiple of the alignment, and a zero-float packing still gets a pointer).
static float* packed_alloc(int64_t floats) {
    return aligned_alloc(64, ((size_t)floats * sizeof(float) + 63) / 64 * 64 + 64);
}

// All of op(B) (K×N) as ceil(N/NR) panels of K×NR: the (pc, jc) block of the driver is the
// rows [pc, pc + kc) of panels jc/NR…, so one packing serves any blocking.
struct ember_packed_b {
    int path, nr;
    int64_t K, N;
    int64_t stride;   // floats from one panel to the next: K·NR
    float* data;
    ember_packed_source src;
};

ember_packed_source ember_gemm_packed_source(const ember_packed_b* pb) { return pb->src; }

ember_packed_b* ember_gemm_pack_b(int trans_b, int64_t K, int64_t N, const float* B, int64_t ldb) {
    const ember_gemm_isa* isa = ember_gemm_current_isa();
    if (isa->narrow && N <= isa->narrow->nr) isa = isa->narrow;   // as ember_gemm_run picks
    ember_packed_b* pb = malloc(sizeof *pb);
    if (!pb) return NULL;
    const int64_t panels = (N + isa->nr - 1) / isa->nr;
    pb->path = isa->path, pb->nr = isa->nr, pb->K = K, pb->N = N, pb->stride = K * isa->nr;
    pb->src = (ember_packed_source){B, ldb, trans_b};
    pb->data = packed_alloc(panels * pb->stride);
    if (!pb->data) { free(pb); return NULL; }
    const int nt = K * N >= (1 << 16) ? ember_team_size() : 1;
    EMBER_FOR(nt, jb, panels,
        pack_b(pb->data, pb->stride, B, ldb, trans_b, 0, N, 0, K, isa->nr, jb, jb + 1);
    );
    return pb;
}

void ember_gemm_packed_free(ember_packed_b* pb) {
    if (!pb) return;
    free(pb->data);
    free(pb);
}

int64_t ember_gemm_packed_bytes(const ember_packed_b* pb) {
    return pb ? (pb->N + pb->nr - 1) / pb->nr * pb->stride * (int64_t)sizeof(float) : 0;
}

// MARK: - Pre-packed A

// All of op(A) (M×K) as the driver packs it: for each k-block of the path's KC, ceil(M/MR)
// panels of MR rows × kcur, so block (ic, pc) starts at data + pc·mpad + ic·kcur whatever
// the MC blocking and the thread split.
struct ember_packed_a {
    int path, mr;
    int64_t M, K, kc;
    int64_t mpad;   // panels·MR
    float* data;
    ember_packed_source src;
};

ember_packed_source ember_gemm_packed_a_source(const ember_packed_a* pa) { return pa->src; }

ember_packed_a* ember_gemm_pack_a(int trans_a, int64_t M, int64_t K, const float* A, int64_t lda) {
    const ember_gemm_isa* isa = ember_gemm_current_isa();
    ember_packed_a* pa = malloc(sizeof *pa);
    if (!pa) return NULL;
    const int64_t panels = (M + isa->mr - 1) / isa->mr;
    pa->path = isa->path, pa->mr = isa->mr, pa->M = M, pa->K = K, pa->kc = blocking_for_depth(isa, K).kc;
    pa->mpad = panels * isa->mr;
    pa->src = (ember_packed_source){A, lda, trans_a};
    pa->data = packed_alloc(pa->mpad * K);
    if (!pa->data) { free(pa); return NULL; }
    for (int64_t pc = 0; pc < K; pc += pa->kc) {
        const int64_t kcur = K - pc < pa->kc ? K - pc : pa->kc;
        pack_a(pa->data + pc * pa->mpad, A, lda, trans_a, 0, M, pc, kcur, isa->mr, 0, panels);
    }
    return pa;
}

void ember_gemm_packed_a_free(ember_packed_a* pa) {
    if (!pa) return;
    free(pa->data);
    free(pa);
}

int64_t ember_gemm_packed_a_bytes(const ember_packed_a* pa) {
    return pa ? pa->mpad * pa->K * (int64_t)sizeof(float) : 0;
}

// MARK: - Driver

typedef struct {
    const ember_gemm_isa* isa;
    blocking bl;
    int ta, tb, relu;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B, *bias;
    const ember_packed_b* pb;
    const ember_packed_a* pa;
    float* C;
    float *abuf, *bbuf;
    int direct_a, direct_b;   // read in place by the strided kernels, not packed
} job;

static void range(int64_t n, int tid, int nt, int64_t* lo, int64_t* hi) {
    const int64_t base = n / nt, extra = n % nt;
    *lo = tid * base + (tid < extra ? tid : extra);
    *hi = *lo + base + (tid < extra);
}

// One micro-tile; edge tiles go through an MR×NR scratch tile so the kernel never writes
// outside C, with the bias padded to NR. A and B advance `as` and `bs` floats per k: packed
// panels, or an operand read in place by the strided kernels.
static void tile(const job* j, const float* ap, int64_t as, const float* bp, int64_t bs, int64_t i0,
                 int64_t j0, int64_t kcur, int first, int last) {
    const int mr = j->isa->mr, nr = j->isa->nr;
    const int64_t rows = j->M - i0 < mr ? j->M - i0 : mr;
    const int64_t cols = j->N - j0 < nr ? j->N - j0 : nr;
    float* c = j->C + i0 * j->ldc + j0;
    ember_gemm_epi e = {first, last, j->relu, j->alpha, j->beta, j->bias ? j->bias + j0 : NULL};
    const ember_gemm_strided_kernel strided =
        j->direct_a || j->direct_b ? j->isa->strided_kernel((int)rows) : NULL;
    const ember_gemm_kernel exact = rows < mr && j->isa->rows_kernel ? j->isa->rows_kernel((int)rows) : NULL;
    if (cols == nr && strided) {
        strided(kcur, ap, as, bp, bs, c, j->ldc, &e);
        return;
    }
    if (cols == nr && (rows == mr || exact)) {
        (exact ? exact : j->isa->kernel)(kcur, ap, bp, c, j->ldc, &e);
        return;
    }
    // In scratch: the kernel for exactly these rows, or for 4 when it covers them, or the full one.
    const ember_gemm_kernel four = rows <= 4 && j->isa->rows_kernel ? j->isa->rows_kernel(4) : NULL;
    const ember_gemm_kernel kernel = exact ? exact : four ? four : j->isa->kernel;
    _Alignas(64) float t[EMBER_GEMM_MAX_MR * EMBER_GEMM_MAX_NR];
    _Alignas(64) float bias[EMBER_GEMM_MAX_NR];
    const int reads_c = !first || (last && j->beta != 0.0f);
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < nr; q++)
            t[r * nr + q] = reads_c && r < rows && q < cols ? c[r * j->ldc + q] : 0.0f;
    if (e.bias) {
        for (int q = 0; q < nr; q++) bias[q] = q < cols ? e.bias[q] : 0.0f;
        e.bias = bias;
    }
    if (strided) strided(kcur, ap, as, bp, bs, t, nr, &e);   // A in place; B's edge panel packed
    else kernel(kcur, ap, bp, t, nr, &e);
    for (int64_t r = 0; r < rows; r++) memcpy(c + r * j->ldc, t + r * nr, (size_t)cols * sizeof(float));
}

static inline void prefetch_tile(const job* j, int64_t ib, int64_t jb, int64_t ic, int64_t jc) {
    const int mr = j->isa->mr, nr = j->isa->nr;
    const int64_t i0 = ic + ib * mr, j0 = jc + jb * nr;
    const int64_t rows = j->M - i0 < mr ? j->M - i0 : mr;
    for (int64_t r = 0; r < rows; r++) {
        const float* c = j->C + (i0 + r) * j->ldc + j0;
        for (int q = 0; q < nr; q += 16) __builtin_prefetch(c + q, 1, 3);
    }
}

static inline void barrier(int nt) {
    if (nt > 1) {
        _Pragma("omp barrier")
    }
}

// This k-block's B panels for columns [jc, jc + ncur): the pre-packed ones, or packed now by
// the team, each thread its share of the panels (the caller meets the team before reading).
static const float* b_panels(const job* j, int tid, int nt, int64_t jc, int64_t ncur, int64_t pc,
                             int64_t kcur, int64_t* bstride) {
    const int nr = j->isa->nr;
    if (j->pb) {
        *bstride = j->pb->stride;
        return j->pb->data + (jc / nr) * j->pb->stride + pc * nr;
    }
    int64_t lo, hi;
    range((ncur + nr - 1) / nr, tid, nt, &lo, &hi);
    pack_b(j->bbuf, kcur * nr, j->B, j->ldb, j->tb, jc, ncur, pc, kcur, nr, lo, hi);
    *bstride = kcur * nr;
    return j->bbuf;
}

// Micro-tiles [lo, hi) of a packed MC block (na row panels × the B panels), column panel by
// column panel, so consecutive tiles share the B micro-panel that sits in L1; the next tile's
// C rows are prefetched while one computes (a k-block after the first continues from C, and C
// is too large to stay in cache).
static void tiles(const job* j, const float* abuf, const float* bbase, int64_t bstride, int64_t ic,
                  int64_t jc, int64_t pc, int64_t na, int64_t kcur, int first, int last, int64_t lo,
                  int64_t hi) {
    const int mr = j->isa->mr, nr = j->isa->nr;
    if (lo >= hi) return;
    // A in place: op(A)(i, p) = A[p·lda + i], MR rows contiguous per k. B in place: NR
    // columns contiguous per k. Else their packed panels.
    const float* a0 = j->direct_a ? j->A + pc * j->lda + ic : abuf;
    const int64_t as = j->direct_a ? j->lda : mr, astep = j->direct_a ? mr : mr * kcur;
    const float* b0 = j->direct_b ? j->B + pc * j->ldb + jc : bbase;
    const int64_t bs = j->direct_b ? j->ldb : nr, bstep = j->direct_b ? nr : bstride;
    // Tile t is (ib, jb) = (t mod na, t / na), stepped without a division per tile.
    int64_t ib = lo % na, jb = lo / na;
    for (int64_t t = lo; t < hi; t++) {
        const int64_t nib = ib + 1 < na ? ib + 1 : 0, njb = ib + 1 < na ? jb : jb + 1;
        if (t + 1 < hi) prefetch_tile(j, nib, njb, ic, jc);
        tile(j, a0 + ib * astep, as, b0 + jb * bstep, bs, ic + ib * mr, jc + jb * nr, kcur, first, last);
        ib = nib, jb = njb;
    }
}

// MC for `rows` rows: blocks of equal size, at most MC, except that a last block under a
// quarter of MC is merged into the others (each block streams all of B's k-block once: 128
// rows as 126 + 2 read B twice for 2 rows).
static int64_t balanced_mc(int64_t rows, int64_t mc, int mr) {
    int64_t blocks = (rows + mc - 1) / mc;
    if (blocks > 1 && rows - (blocks - 1) * mc < mc / 4) blocks--;
    const int64_t per = (rows + blocks - 1) / blocks;
    return (per + mr - 1) / mr * mr;
}

// The packed MC×kcur block of A at (ic, pc): the pre-packed one's, or `buf` (packed now).
static inline const float* a_block(const job* j, float* buf, int64_t ic, int64_t pc, int64_t kcur) {
    return j->pa ? j->pa->data + pc * j->pa->mpad + ic * kcur : buf;
}

static void run_thread(const job* j, int tid, int nt) {
    const int mr = j->isa->mr, nr = j->isa->nr;
    for (int64_t jc = 0; jc < j->N; jc += j->bl.nc) {
        const int64_t ncur = j->N - jc < j->bl.nc ? j->N - jc : j->bl.nc;
        const int64_t nb = (ncur + nr - 1) / nr;
        for (int64_t pc = 0; pc < j->K; pc += j->bl.kc) {
            const int64_t kcur = j->K - pc < j->bl.kc ? j->K - pc : j->bl.kc;
            int64_t bstride = 0;
            const float* bbase = j->direct_b ? NULL : b_panels(j, tid, nt, jc, ncur, pc, kcur, &bstride);
            const int first = pc == 0, last = pc + kcur == j->K;
            for (int64_t ic = 0; ic < j->M; ic += j->bl.mc) {
                const int64_t mcur = j->M - ic < j->bl.mc ? j->M - ic : j->bl.mc;
                const int64_t na = (mcur + mr - 1) / mr;
                int64_t lo, hi;
                range(na, tid, nt, &lo, &hi);
                if (!j->direct_a && !j->pa) pack_a(j->abuf, j->A, j->lda, j->ta, ic, mcur, pc, kcur, mr, lo, hi);
                barrier(nt);   // A (and B) packed by all
                range(na * nb, tid, nt, &lo, &hi);
                tiles(j, a_block(j, j->abuf, ic, pc, kcur), bbase, bstride, ic, jc, pc, na, kcur, first, last, lo, hi);
                barrier(nt);   // before the buffers are packed again
            }
        }
    }
}

// For tall products: each thread owns whole MR panels of C's rows, packs its own A blocks
// into its own buffer, and the team meets only around the shared B panels (twice per k-block,
// not twice per MC block: 2 barriers instead of 34 for a 2048-row, K ≤ KC product). Tiles, and
// each element's chain over k, are run_thread's, so the bits are too.
static void run_thread_rows(const job* j, int tid, int nt) {
    const int mr = j->isa->mr, nr = j->isa->nr;
    int64_t plo, phi;
    range((j->M + mr - 1) / mr, tid, nt, &plo, &phi);
    const int64_t i_lo = plo * mr, i_hi = phi * mr < j->M ? phi * mr : j->M;
    const int64_t mc = balanced_mc(i_hi - i_lo, j->bl.mc, mr);
    float* abuf = j->pa ? NULL : reserve(&abuf_, (size_t)(mc * (j->K < j->bl.kc ? j->K : j->bl.kc)));
    if (!abuf && !j->pa) abort();
    for (int64_t jc = 0; jc < j->N; jc += j->bl.nc) {
        const int64_t ncur = j->N - jc < j->bl.nc ? j->N - jc : j->bl.nc;
        const int64_t nb = (ncur + nr - 1) / nr;
        for (int64_t pc = 0; pc < j->K; pc += j->bl.kc) {
            const int64_t kcur = j->K - pc < j->bl.kc ? j->K - pc : j->bl.kc;
            int64_t bstride;
            const float* bbase = b_panels(j, tid, nt, jc, ncur, pc, kcur, &bstride);
            if (!j->pb) barrier(nt);   // B packed by all
            const int first = pc == 0, last = pc + kcur == j->K;
            for (int64_t ic = i_lo; ic < i_hi; ic += mc) {
                const int64_t mcur = i_hi - ic < mc ? i_hi - ic : mc;
                const int64_t na = (mcur + mr - 1) / mr;
                if (!j->pa) pack_a(abuf, j->A, j->lda, j->ta, ic, mcur, pc, kcur, mr, 0, na);
                tiles(j, a_block(j, abuf, ic, pc, kcur), bbase, bstride, ic, jc, pc, na, kcur, first, last, 0, na * nb);
            }
            if (!j->pb) barrier(nt);   // before B is packed again
        }
    }
}

// The most bytes of an operand read in place (see ember_gemm_run): attention's 64×64 tiles.
#define IN_PLACE_BYTES (32 << 10)

// Row ownership pays once every thread gets this many MR panels (the imbalance is then at
// most one panel in 16); below it the threads share each block's tiles.
#define ROWS_PER_THREAD_PANELS 16

// C = alpha·T + beta·C (+ bias, relu) on rows [lo, hi): the epilogue of a product whose sum
// went to the scratch T first, in the microkernels' order, so the bits are the same.
static void epilogue_rows(float* C, int64_t ldc, const float* T, int64_t N, float alpha,
                          float beta, const float* bias, int relu, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++)
        for (int64_t q = 0; q < N; q++) {
            float x = T[i * N + q];
            if (alpha != 1.0f) x = alpha * x;
            if (beta != 0.0f) x = x + beta * C[i * ldc + q];
            if (bias) x = x + bias[q];
            if (relu) x = ember_relu(x);
            C[i * ldc + q] = x;
        }
}

void ember_gemm_run(const ember_gemm_isa* isa, int nt, int ta, int tb, int64_t M, int64_t N,
                    int64_t K, float alpha, const float* A, int64_t lda, const ember_packed_a* pa,
                    const float* B, int64_t ldb, const ember_packed_b* pb, float beta, float* C,
                    int64_t ldc, const float* bias, int relu) {
    if (M <= 0 || N <= 0) return;
    if (isa->narrow && N <= isa->narrow->nr) isa = isa->narrow;
    if (pb && (pb->nr != isa->nr || pb->path != isa->path || pb->K != K || pb->N != N)) pb = NULL;
    const blocking bl = blocking_for_depth(isa, K);
    if (pa && (pa->mr != isa->mr || pa->path != isa->path || pa->kc != bl.kc || pa->M != M || pa->K != K)) pa = NULL;
    job j = {isa, bl, ta, tb, relu, M, N, K, lda, ldb, ldc, alpha, beta,
             A, B, bias, pb, pa, C, NULL, NULL, 0, 0};
    if (beta != 0.0f && K > j.bl.kc) {
        // beta·C must be added to the finished sum, but the k-blocks keep their partial sums
        // in C: sum into a scratch first, then one pass applies the epilogue.
        float* T = reserve(&tbuf_, (size_t)(M * N));
        if (!T) abort();
        ember_gemm_run(isa, nt, ta, tb, M, N, K, 1.0f, A, lda, pa, B, ldb, pb, 0.0f, T, N, NULL, 0);
        if (nt > 1 && M * N >= 65536) {
            _Pragma("omp parallel num_threads(nt)")
            {
                int64_t lo, hi;
                range(M, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
                epilogue_rows(C, ldc, T, N, alpha, beta, bias, relu, lo, hi);
            }
        } else {
            epilogue_rows(C, ldc, T, N, alpha, beta, bias, relu, 0, M);
        }
        return;
    }
    const int by_rows = (M + isa->mr - 1) / isa->mr >= (int64_t)ROWS_PER_THREAD_PANELS * nt;
    if (isa->strided_kernel && (!by_rows || nt == 1) && K <= j.bl.kc) {
        // A one-k-block product reads an operand where it is, unpacked, when each k gives the
        // kernel contiguous floats (A stored transposed: MR rows; B stored plain: NR columns,
        // every panel full) and the operand spans at most IN_PLACE_BYTES, which then sit in
        // L1 whole. Attention's 64×64 tile products: packing was a fifth of their time.
        j.direct_a = !pa && ta && K * lda * (int64_t)sizeof(float) <= IN_PLACE_BYTES;
        j.direct_b = !tb && !pb && N % isa->nr == 0 && K * ldb * (int64_t)sizeof(float) <= IN_PLACE_BYTES;
    }
    if (!by_rows || nt == 1) j.bl.mc = balanced_mc(M, j.bl.mc, isa->mr);
    const int64_t mc = j.bl.mc;
    const int64_t nc = N < j.bl.nc ? (N + isa->nr - 1) / isa->nr * isa->nr : j.bl.nc;
    const int64_t kc = K < j.bl.kc ? K : j.bl.kc;
    j.abuf = pa ? NULL : reserve(&abuf_, (size_t)(mc * kc));
    j.bbuf = pb ? NULL : reserve(&bbuf_, (size_t)(nc * kc));
    if ((!pa && !j.abuf) || (!pb && !j.bbuf)) abort();
    if (nt > 1) {
        // The split follows the team OpenMP actually gives (it may be smaller than asked).
        _Pragma("omp parallel num_threads(nt)")
        {
            if (by_rows) run_thread_rows(&j, omp_get_thread_num(), omp_get_num_threads());
            else run_thread(&j, omp_get_thread_num(), omp_get_num_threads());
        }
    } else {
        run_thread(&j, 0, 1);
    }
}
