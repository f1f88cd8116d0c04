// Scaled dot-product attention, fused and tiled (FlashAttention's scheme on the CPU):
//   forward   for each query tile Qi and key tile Kj in order:
//               S = scale·Qi·Kjᵀ + mask,  m' = max(m, rowmax S),  P = exp(S − m'),
//               l = l·exp(m − m') + rowsum P,  O = O·exp(m − m') + P·Vj
//             then O /= l and lse = m + log l (kept for the backward)
//   backward  P = exp(S − lse) recomputed per tile, dP = dO·Vjᵀ, dS = P∘(dP − rowsum(dO∘O)),
//             dV = Σ_i Pᵀ·dOi, dK = scale·Σ_i dSᵀ·Qi, dQ = scale·Σ_j dS·Kj
//             (and, only when a float mask needs a gradient, every dS tile is also stored
//             in a full (BH, L, S) buffer: the caller sums it to the mask's shape)
// Only one ATT_BR × ATT_BC tile of scores lives at a time, per thread: the L×S matrix is
// never built. Work is shared out as whole (batch·head, tile) tasks and every tile product
// is a single-threaded GEMM (ember_sgemm_serial), so each output element is summed in the
// same order whatever the thread count. The backward's sums over queries (dK, dV) and over
// keys (dQ) are therefore two passes, one owning key tiles, one owning query tiles, each
// recomputing the scores it needs, rather than one pass whose partial sums threads would
// have to combine — unless there are enough batch·heads to give each thread whole ones, when
// one pass per batch·head does both in the same order.
#include "internal.h"
#include "ember_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Tile of queries (rows) and keys (columns): 64×64 scores (16 KB) and the backward's tile of
// dP beside them fit a 48 KB L1 data cache. The bits do not depend on the tile sizes' split
// over threads, but they do on the sizes themselves (the online softmax's rescaling steps).
#define ATT_BR 64
#define ATT_BC 64

typedef struct { float* p; size_t cap; } att_scratch;
static _Thread_local att_scratch att_buf_;

static float* att_reserve(size_t floats) {
    if (att_buf_.cap < floats) {
        free(att_buf_.p);
        att_buf_.p = malloc(floats * sizeof(float));
        att_buf_.cap = att_buf_.p ? floats : 0;
        if (!att_buf_.p) abort();   // kernels do not fail; the size is a few tiles
    }
    return att_buf_.p;
}

int64_t ember_attention_workspace_floats(int backward) {
    // Forward: the score tile, the row maxima and sums. Backward: score and dP tiles.
    return backward ? 2 * ATT_BR * ATT_BC : ATT_BR * ATT_BC + 2 * ATT_BR;
}

// Problem bh of an operand with `rows` × `cols` problems, and its row stride (ember.h).
static inline int64_t att_offset(const ember_attention_layout* a, int64_t bh, int64_t rows, int64_t cols) {
    return a->offsets ? a->offsets[bh] : bh * rows * cols;
}
static inline int64_t att_ld(const ember_attention_layout* a, int64_t cols) {
    return a->offsets ? a->row_stride : cols;
}

// S (rows × cols, row stride ATT_BC) = scale·Qi·Kjᵀ, plus the mask and the causal cut
// (query r0 + r sees key c0 + c only when c0 + c ≤ r0 + r).
// q and k are problem bh's, rows qld and kld apart; `qp` and `kp`, when not NULL, are Qi and
// Kjᵀ packed.
static void scores(float* S, const float* q, int64_t qld, const ember_packed_a* qp, const float* k, int64_t kld,
                   const ember_packed_b* kp, int64_t bh, int64_t r0, int64_t rows, int64_t c0, int64_t cols,
                   const ember_attention_shape* s) {
    ember_sgemm_serial_prepacked(0, 1, rows, cols, s->E, s->scale, q + r0 * qld, qld, qp, k + c0 * kld, kld, kp,
                                 0.0f, S, ATT_BC);
    if (s->mask) {
        const float* mb = s->mask + s->mask_offsets[bh];
        for (int64_t r = 0; r < rows; r++) {
            const float* mr = mb + (r0 + r) * s->mask_row_stride + c0 * s->mask_col_stride;
            float* sr = S + r * ATT_BC;
            for (int64_t c = 0; c < cols; c++) sr[c] = sr[c] + mr[c * s->mask_col_stride];
        }
    }
    if (s->causal) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = r0 + r + 1 - c0 < 0 ? 0 : r0 + r + 1 - c0; c < cols; c++)
                S[r * ATT_BC + c] = -INFINITY;
    }
}

// The key tiles a query tile [r0, r0 + rows) reads: all, or up to the diagonal when causal.
static int64_t key_end(int64_t r0, int64_t rows, const ember_attention_shape* s) {
    if (!s->causal) return s->S;
    return r0 + rows < s->S ? r0 + rows : s->S;
}

// One step of the online softmax over a score tile: updates the running max m and sum l of
// each row, turns S into P = exp(S − m'), and returns in `alpha` the factor exp(m − m') by
// which the rows' earlier output must be scaled. A row that has seen only −inf keeps m = −inf
// and is shifted by 0 instead, so its P is 0 (not NaN).
EMBER_SIMD
static void online_softmax(float* S, float* m, float* l, float* alpha, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        float* sr = S + r * ATT_BC;
        const float mt = ember_row_max(sr, cols);
        const float mn = mt > m[r] ? mt : m[r];
        const float shift = mn == -INFINITY ? 0.0f : mn;
        alpha[r] = ember_expf(m[r] - shift);
        for (int64_t c = 0; c < cols; c++) sr[c] = ember_expf(sr[c] - shift);
        l[r] = l[r] * alpha[r] + (float)ember_row_sum(sr, cols);
        m[r] = mn;
    }
}

static void forward_task(float* out, float* lse, const float* q, const float* k, const float* v,
                         const ember_attention_shape* s, int64_t task) {
    const int64_t tiles = (s->L + ATT_BR - 1) / ATT_BR;
    const int64_t bh = task / tiles, r0 = (task % tiles) * ATT_BR;
    const int64_t rows = s->L - r0 < ATT_BR ? s->L - r0 : ATT_BR;
    const int64_t qld = att_ld(&s->q_layout, s->E), kld = att_ld(&s->k_layout, s->E);
    const int64_t vld = att_ld(&s->v_layout, s->Ev), old = att_ld(&s->out_layout, s->Ev);
    const float* qb = q + att_offset(&s->q_layout, bh, s->L, s->E);
    const float* kb = k + att_offset(&s->k_layout, bh, s->S, s->E);
    const float* vb = v + att_offset(&s->v_layout, bh, s->S, s->Ev);
    float* o = out + att_offset(&s->out_layout, bh, s->L, s->Ev) + r0 * old;
    float* S = att_reserve((size_t)ember_attention_workspace_floats(0));
    float* m = S + ATT_BR * ATT_BC;
    float* l = m + ATT_BR;
    float alpha[ATT_BR];
    for (int64_t r = 0; r < rows; r++) { m[r] = -INFINITY; l[r] = 0.0f; }
    const int64_t end = key_end(r0, rows, s);
    if (end <= 0)
        for (int64_t r = 0; r < rows; r++) memset(o + r * old, 0, (size_t)s->Ev * sizeof(float));
    // Qi, A of every key tile's S, packed once (unpacked calls if the memory is not there).
    ember_packed_a* qp = end > ATT_BC ? ember_gemm_pack_a(0, rows, s->E, qb + r0 * qld, qld) : NULL;
    for (int64_t c0 = 0; c0 < end; c0 += ATT_BC) {
        const int64_t cols = end - c0 < ATT_BC ? end - c0 : ATT_BC;
        scores(S, qb, qld, qp, kb, kld, NULL, bh, r0, rows, c0, cols, s);
        online_softmax(S, m, l, alpha, rows, cols);
        if (c0 > 0) {
            for (int64_t r = 0; r < rows; r++)
                if (alpha[r] != 1.0f)
                    for (int64_t e = 0; e < s->Ev; e++) o[r * old + e] = o[r * old + e] * alpha[r];
        }
        ember_sgemm_serial(0, 0, rows, s->Ev, cols, 1.0f, S, ATT_BC, vb + c0 * vld, vld,
                           c0 > 0 ? 1.0f : 0.0f, o, old);
    }
    ember_gemm_packed_a_free(qp);
    for (int64_t r = 0; r < rows; r++) {
        // A row with no allowed key (l = 0) gives 0, as PyTorch's safe softmax does.
        const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        for (int64_t e = 0; e < s->Ev; e++) o[r * old + e] = o[r * old + e] * inv;
        lse[bh * s->L + r0 + r] = l[r] > 0.0f ? m[r] + ember_logf(l[r]) : -INFINITY;
    }
}

void ember_attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                             const ember_attention_shape* s) {
    const int64_t tasks = s->BH * ((s->L + ATT_BR - 1) / ATT_BR);
    const int nt = ember_team(s->BH * s->L * s->S * (s->E + s->Ev));
    if (nt > 1) {
        // One (batch·head, query tile) per task, dealt round-robin so that the costlier late
        // causal tiles spread over the threads; a task's bits do not depend on its thread.
        #pragma omp parallel for num_threads(nt) schedule(static, 1)
        for (int64_t t = 0; t < tasks; t++) forward_task(out, lse, q, k, v, s, t);
    } else {
        for (int64_t t = 0; t < tasks; t++) forward_task(out, lse, q, k, v, s, t);
    }
}

// P = exp(S − lse) in place (0 for a row with no allowed key).
EMBER_SIMD
static void probs(float* S, const float* lse, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        float* sr = S + r * ATT_BC;
        const float shift = lse[r] == -INFINITY ? INFINITY : lse[r];   // exp(x − inf) = 0
        for (int64_t c = 0; c < cols; c++) sr[c] = ember_expf(sr[c] - shift);
    }
}

// dS = P∘(dP − delta) in place of dP.
EMBER_SIMD
static void dscores(float* dP, const float* P, const float* delta, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        float* dr = dP + r * ATT_BC;
        const float* pr = P + r * ATT_BC;
        for (int64_t c = 0; c < cols; c++) dr[c] = pr[c] * (dr[c] - delta[r]);
    }
}

// dK and dV of one (batch·head, key tile): sums over the query tiles in order. With `dq`
// (the fused pass, key tiles of a batch·head in order on one thread) it also adds this key
// tile's terms to dQ, whose rows then see the key tiles in the same order, and with the same
// reduction lengths, as in dq_task: the same bits.
// With `ds_full` (BH, L, S) it also stores each dS tile there: every (query, key) pair of
// this key tile is written by this task alone (zeros where causality skips a tile).
static void dkdv_task(float* dk, float* dv, float* dq, float* ds_full, const float* dout,
                      const float* q, const float* k, const float* v, const float* lse,
                      const float* delta, const ember_attention_shape* s, int64_t task) {
    const int64_t tiles = (s->S + ATT_BC - 1) / ATT_BC;
    const int64_t bh = task / tiles, c0 = (task % tiles) * ATT_BC;
    const int64_t cols = s->S - c0 < ATT_BC ? s->S - c0 : ATT_BC;
    const int64_t qld = att_ld(&s->q_layout, s->E), kld = att_ld(&s->k_layout, s->E);
    const int64_t vld = att_ld(&s->v_layout, s->Ev);
    const float* qb = q + att_offset(&s->q_layout, bh, s->L, s->E);
    const float* kb = k + att_offset(&s->k_layout, bh, s->S, s->E);
    const float* vb = v + att_offset(&s->v_layout, bh, s->S, s->Ev);
    const float* gb = dout + bh * s->L * s->Ev;
    float* dkt = dk + (bh * s->S + c0) * s->E;
    float* dvt = dv + (bh * s->S + c0) * s->Ev;
    memset(dkt, 0, (size_t)(cols * s->E) * sizeof(float));
    memset(dvt, 0, (size_t)(cols * s->Ev) * sizeof(float));
    float* S = att_reserve((size_t)ember_attention_workspace_floats(1));
    float* dP = S + ATT_BR * ATT_BC;
    float* dsb = ds_full ? ds_full + bh * s->L * s->S + c0 : NULL;   // this key tile's columns
    // Causal: queries before c0 see none of these keys.
    const int64_t first = s->causal ? c0 / ATT_BR * ATT_BR : 0;
    if (dsb)
        for (int64_t r = 0; r < first; r++) memset(dsb + r * s->S, 0, (size_t)cols * sizeof(float));
    // This key tile's Kᵀ and Vᵀ, B of every query tile's S and dP, packed once (unpacked
    // calls if the memory is not there: the same bits either way).
    const int reused = s->L - first > ATT_BR;   // more than one query tile
    ember_packed_b* kp = reused ? ember_gemm_pack_b(1, s->E, cols, kb + c0 * kld, kld) : NULL;
    ember_packed_b* vp = reused ? ember_gemm_pack_b(1, s->Ev, cols, vb + c0 * vld, vld) : NULL;
    for (int64_t r0 = first; r0 < s->L; r0 += ATT_BR) {
        const int64_t rows = s->L - r0 < ATT_BR ? s->L - r0 : ATT_BR;
        scores(S, qb, qld, NULL, kb, kld, kp, bh, r0, rows, c0, cols, s);
        ember_sgemm_serial_prepacked(0, 1, rows, cols, s->Ev, 1.0f, gb + r0 * s->Ev, s->Ev, NULL, vb + c0 * vld, vld,
                                     vp, 0.0f, dP, ATT_BC);
        probs(S, lse + bh * s->L + r0, rows, cols);
        // dV += Pᵀ·dO before P is consumed by dS.
        ember_sgemm_serial(1, 0, cols, s->Ev, rows, 1.0f, S, ATT_BC, gb + r0 * s->Ev, s->Ev, 1.0f,
                           dvt, s->Ev);
        dscores(dP, S, delta + bh * s->L + r0, rows, cols);
        if (dsb)
            for (int64_t r = 0; r < rows; r++)
                memcpy(dsb + (r0 + r) * s->S, dP + r * ATT_BC, (size_t)cols * sizeof(float));
        ember_sgemm_serial(1, 0, cols, s->E, rows, s->scale, dP, ATT_BC, qb + r0 * qld, qld, 1.0f,
                           dkt, s->E);
        if (dq) {
            const int64_t end = key_end(r0, rows, s);
            const int64_t qcols = end - c0 < cols ? end - c0 : cols;   // dq_task's tile width
            ember_sgemm_serial(0, 0, rows, s->E, qcols, s->scale, dP, ATT_BC, kb + c0 * kld, kld,
                               1.0f, dq + (bh * s->L + r0) * s->E, s->E);
        }
    }
    ember_gemm_packed_free(kp);
    ember_gemm_packed_free(vp);
}

// dQ of one (batch·head, query tile): a sum over the key tiles in order.
static void dq_task(float* dq, const float* dout, const float* q, const float* k, const float* v,
                    const float* lse, const float* delta, const ember_attention_shape* s,
                    int64_t task) {
    const int64_t tiles = (s->L + ATT_BR - 1) / ATT_BR;
    const int64_t bh = task / tiles, r0 = (task % tiles) * ATT_BR;
    const int64_t rows = s->L - r0 < ATT_BR ? s->L - r0 : ATT_BR;
    const int64_t qld = att_ld(&s->q_layout, s->E), kld = att_ld(&s->k_layout, s->E);
    const int64_t vld = att_ld(&s->v_layout, s->Ev);
    const float* qb = q + att_offset(&s->q_layout, bh, s->L, s->E);
    const float* kb = k + att_offset(&s->k_layout, bh, s->S, s->E);
    const float* vb = v + att_offset(&s->v_layout, bh, s->S, s->Ev);
    const float* gb = dout + bh * s->L * s->Ev;
    float* dqt = dq + (bh * s->L + r0) * s->E;
    memset(dqt, 0, (size_t)(rows * s->E) * sizeof(float));
    float* S = att_reserve((size_t)ember_attention_workspace_floats(1));
    float* dP = S + ATT_BR * ATT_BC;
    const int64_t end = key_end(r0, rows, s);
    // Qi and dOi, A of every key tile's S and dP, packed once.
    ember_packed_a* qp = end > ATT_BC ? ember_gemm_pack_a(0, rows, s->E, qb + r0 * qld, qld) : NULL;
    ember_packed_a* gp = end > ATT_BC ? ember_gemm_pack_a(0, rows, s->Ev, gb + r0 * s->Ev, s->Ev) : NULL;
    for (int64_t c0 = 0; c0 < end; c0 += ATT_BC) {
        const int64_t cols = end - c0 < ATT_BC ? end - c0 : ATT_BC;
        scores(S, qb, qld, qp, kb, kld, NULL, bh, r0, rows, c0, cols, s);
        ember_sgemm_serial_prepacked(0, 1, rows, cols, s->Ev, 1.0f, gb + r0 * s->Ev, s->Ev, gp, vb + c0 * vld, vld,
                                     NULL, 0.0f, dP, ATT_BC);
        probs(S, lse + bh * s->L + r0, rows, cols);
        dscores(dP, S, delta + bh * s->L + r0, rows, cols);
        ember_sgemm_serial(0, 0, rows, s->E, cols, s->scale, dP, ATT_BC, kb + c0 * kld, kld, 1.0f,
                           dqt, s->E);
    }
    ember_gemm_packed_a_free(qp);
    ember_gemm_packed_a_free(gp);
}

// delta[row] = Σ_e dO·O, in double over four fixed lanes combined as (0 + 1) + (2 + 3) (one
// row per iteration, so thread-count independent); O laid out as the forward wrote it. An
// EMBER_SIMD function: each thread runs the AVX2 clone where there is one.
EMBER_SIMD static void delta_range(float* delta, const float* dout, const float* out,
                                   const ember_attention_shape* s, int64_t lo, int64_t hi) {
    const int64_t Ev = s->Ev, old = att_ld(&s->out_layout, Ev);
    for (int64_t r = lo; r < hi; r++) {
        const float* o = out + att_offset(&s->out_layout, r / s->L, s->L, Ev) + r % s->L * old;
        const float* g = dout + r * Ev;
        double l[4] = {0.0, 0.0, 0.0, 0.0};
        int64_t e = 0;
        for (; e + 4 <= Ev; e += 4)
            for (int k = 0; k < 4; k++) l[k] += (double)g[e + k] * o[e + k];
        for (; e < Ev; e++) l[0] += (double)g[e] * o[e];
        delta[r] = (float)((l[0] + l[1]) + (l[2] + l[3]));
    }
}

static void delta_rows(float* delta, const float* dout, const float* out, const ember_attention_shape* s) {
    const int64_t rows = s->BH * s->L;
    EMBER_PARALLEL(ember_team(rows * s->Ev), rows, delta_range, delta, dout, out, s);
}

void ember_attention_backward(float* dq, float* dk, float* dv, float* dscores, float* delta,
                              const float* dout, const float* q, const float* k, const float* v,
                              const float* out, const float* lse, const ember_attention_shape* s) {
    delta_rows(delta, dout, out, s);
    const int nt = ember_team(s->BH * s->L * s->S * (s->E + s->Ev));
    const int64_t ktiles = (s->S + ATT_BC - 1) / ATT_BC;
    const int64_t ktasks = s->BH * ktiles;
    const int64_t qtasks = s->BH * ((s->L + ATT_BR - 1) / ATT_BR);
    // With enough batch·heads to go round, one pass per batch·head computes dQ with dK and
    // dV (7 tile products per tile pair instead of 9); else two passes share out tiles.
    // Both give the same bits (see dkdv_task).
    const int fused = nt == 1 || (s->BH >= nt && (s->BH % nt == 0 || s->BH >= 4 * nt));
    if (fused) {
        EMBER_FOR(nt, bh, s->BH,   // one batch·head per iteration, contiguous ranges per thread
            memset(dq + bh * s->L * s->E, 0, (size_t)(s->L * s->E) * sizeof(float));
            for (int64_t j = 0; j < ktiles; j++)
                dkdv_task(dk, dv, dq, dscores, dout, q, k, v, lse, delta, s, bh * ktiles + j);
        );
    } else {
        // One (batch·head, key tile) per task: each owns its rows of dK and dV.
        #pragma omp parallel for num_threads(nt) schedule(static, 1)
        for (int64_t t = 0; t < ktasks; t++)
            dkdv_task(dk, dv, NULL, dscores, dout, q, k, v, lse, delta, s, t);
        // One (batch·head, query tile) per task: each owns its rows of dQ.
        #pragma omp parallel for num_threads(nt) schedule(static, 1)
        for (int64_t t = 0; t < qtasks; t++) dq_task(dq, dout, q, k, v, lse, delta, s, t);
    }
}
