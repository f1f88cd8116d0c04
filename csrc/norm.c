// Normalisation layers. Statistics are accumulated in double, each channel (BatchNorm) or
// row (LayerNorm) by one thread in a fixed order (4 fixed lanes); sums across rows
// (LayerNorm's weight and bias gradients) go through fixed row shards added in shard order.
// So the bits never depend on the thread count.
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// MARK: BatchNorm over (N, C, S): statistics per channel c over N·S values

// Sums over a channel's N planes of S values run in four lanes (element i of a plane into
// lane i mod 4, a plane's last S mod 4 into lane 0), combined as (l0 + l1) + (l2 + l3): a
// fixed order with four additions in flight. The loops are EMBER_SIMD functions run through
// EMBER_PARALLEL, so each thread runs the AVX2 clone where there is one.
static double lanes4_total(const double l[4]) { return (l[0] + l[1]) + (l[2] + l[3]); }

// l += x[0..n) in the four lanes, and l += (x − m)² the same way.
static inline void lanes4_add(double l[4], const float* x, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) l[k] += x[i + k];
    for (; i < n; i++) l[0] += x[i];
}

static inline void lanes4_add_sq_dev(double l[4], const float* x, double m, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) {
            const double d = x[i + k] - m;
            l[k] += d * d;
        }
    for (; i < n; i++) {
        const double d = x[i] - m;
        l[0] += d * d;
    }
}

EMBER_SIMD static void batchnorm_stats_channels(float* mean, float* var, const float* inp, int64_t N,
                                                int64_t C, int64_t S, int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; c++) {
        double l[4] = {0.0, 0.0, 0.0, 0.0};
        for (int64_t n = 0; n < N; n++) lanes4_add(l, inp + (n * C + c) * S, S);
        const double m = lanes4_total(l) / (double)(N * S);
        double q[4] = {0.0, 0.0, 0.0, 0.0};
        for (int64_t n = 0; n < N; n++) lanes4_add_sq_dev(q, inp + (n * C + c) * S, m, S);
        mean[c] = (float)m;
        var[c] = (float)(lanes4_total(q) / (double)(N * S));
    }
}

void ember_batchnorm_stats(float* mean, float* var, const float* inp, int64_t N, int64_t C,
                           int64_t S) {
    EMBER_PARALLEL(ember_team(N * C * S), C, batchnorm_stats_channels, mean, var, inp, N, C, S);
}

// y = x·α + β with α = invstd·w, β = b − mean·α (as PyTorch's CPU kernel), planes [lo, hi).
EMBER_SIMD static void batchnorm_forward_planes(float* out, const float* inp, const float* mean,
                                                const float* invstd, const float* weight,
                                                const float* bias, int64_t C, int64_t S, int64_t lo,
                                                int64_t hi) {
    for (int64_t nc = lo; nc < hi; nc++) {
        const int64_t c = nc % C;
        const float alpha = weight ? invstd[c] * weight[c] : invstd[c];
        const float beta = (bias ? bias[c] : 0.0f) - mean[c] * alpha;
        const float* x = inp + nc * S;
        float* y = out + nc * S;
        for (int64_t i = 0; i < S; i++) y[i] = x[i] * alpha + beta;
    }
}

void ember_batchnorm_forward(float* out, const float* inp, const float* mean, const float* invstd,
                             const float* weight, const float* bias, int64_t N, int64_t C,
                             int64_t S) {
    EMBER_PARALLEL(ember_team(N * C * S), N * C, batchnorm_forward_planes, out, inp, mean, invstd, weight,
                   bias, C, S);
}

EMBER_SIMD static void batchnorm_backward_channels(float* dinp, float* dweight, float* dbias,
                                                   const float* dout, const float* inp,
                                                   const float* mean, const float* invstd,
                                                   const float* weight, int64_t N, int64_t C,
                                                   int64_t S, int training, int64_t lo, int64_t hi) {
    const double M = (double)(N * S);
    for (int64_t c = lo; c < hi; c++) {
        double ls[4] = {0.0, 0.0, 0.0, 0.0}, ld[4] = {0.0, 0.0, 0.0, 0.0};
        const double m = mean[c];
        for (int64_t n = 0; n < N; n++) {
            const float* x = inp + (n * C + c) * S;
            const float* g = dout + (n * C + c) * S;
            int64_t i = 0;
            for (; i + 4 <= S; i += 4)
                for (int k = 0; k < 4; k++) {
                    ls[k] += g[i + k];
                    ld[k] += (x[i + k] - m) * g[i + k];
                }
            for (; i < S; i++) {
                ls[0] += g[i];
                ld[0] += (x[i] - m) * g[i];
            }
        }
        const double sum_dy = lanes4_total(ls), dot = lanes4_total(ld);
        const double is = invstd[c], w = weight ? weight[c] : 1.0;
        if (dweight) dweight[c] = (float)(dot * is);
        if (dbias) dbias[c] = (float)sum_dy;
        if (dinp) {
            // Training: the batch statistics depend on x too.
            //   dx = (dy − Σdy/M − (x−mean)·invstd²·Σ(x−mean)dy/M) · invstd·w
            const double k = training ? dot * is * is / M : 0.0;
            const double gm = training ? sum_dy / M : 0.0;
            const double scale = is * w;
            for (int64_t n = 0; n < N; n++) {
                const float* x = inp + (n * C + c) * S;
                const float* g = dout + (n * C + c) * S;
                float* dx = dinp + (n * C + c) * S;
                for (int64_t i = 0; i < S; i++)
                    dx[i] = (float)((g[i] - gm - (x[i] - m) * k) * scale);
            }
        }
    }
}

void ember_batchnorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                              const float* inp, const float* mean, const float* invstd,
                              const float* weight, int64_t N, int64_t C, int64_t S, int training) {
    EMBER_PARALLEL(ember_team(N * C * S), C, batchnorm_backward_channels, dinp, dweight, dbias, dout, inp,
                   mean, invstd, weight, N, C, S, training);
}

// MARK: LayerNorm over rows of D values (also GroupNorm's core, without the affine)

// LayerNorm's row sums run over the same 4 lanes.
static double row_sum(const float* x, int64_t D) {
    double l[4] = {0.0, 0.0, 0.0, 0.0};
    lanes4_add(l, x, D);
    return lanes4_total(l);
}

static double row_sq_dev(const float* x, double m, int64_t D) {
    double l[4] = {0.0, 0.0, 0.0, 0.0};
    lanes4_add_sq_dev(l, x, m, D);
    return lanes4_total(l);
}

// The row loops below are EMBER_SIMD functions run through EMBER_PARALLEL, so every thread
// runs the AVX2 clone where there is one (an EMBER_FOR body is SSE2 code): the same IEEE
// operations in the same order on every path, so the same bits.
EMBER_SIMD static void layernorm_rows(float* out, float* mean, float* rstd, const float* inp,
                                      const float* weight, const float* bias, int64_t D, float eps,
                                      int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; r++) {
        const float* x = inp + r * D;
        float* y = out + r * D;
        const double m = D > 0 ? row_sum(x, D) / (double)D : 0.0;
        const double sq = row_sq_dev(x, m, D);
        const double is = 1.0 / sqrt((D > 0 ? sq / (double)D : 0.0) + (double)eps);
        const float mf = (float)m, isf = (float)is;
        for (int64_t i = 0; i < D; i++) {
            float v = (x[i] - mf) * isf;
            if (weight) v = v * weight[i];
            if (bias) v = v + bias[i];
            y[i] = v;
        }
        if (mean) mean[r] = mf;
        if (rstd) rstd[r] = isf;
    }
}

void ember_layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                             const float* weight, const float* bias, int64_t rows, int64_t D,
                             float eps) {
    EMBER_PARALLEL(ember_team(rows * D), rows, layernorm_rows, out, mean, rstd, inp, weight, bias, D, eps);
}

// Row shards of LayerNorm's weight and bias gradient sums (a function of `rows` only).
#define NORM_SHARDS 8

static _Thread_local struct { double* p; size_t cap; } norm_partials_;

// dx = rstd·(w·dy − mean(w·dy) − x̂·mean(w·dy·x̂)) on rows [lo, hi), the two means summed in
// row_sum's four lanes.
EMBER_SIMD static void layernorm_dx_rows(float* dinp, const float* dout, const float* inp,
                                         const float* mean, const float* rstd, const float* weight,
                                         int64_t D, int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; r++) {
        const float* x = inp + r * D;
        const float* g = dout + r * D;
        float* dx = dinp + r * D;
        const double m = mean[r], is = rstd[r];
        double la[4] = {0.0, 0.0, 0.0, 0.0}, lb[4] = {0.0, 0.0, 0.0, 0.0};
        int64_t i = 0;
        for (; i + 4 <= D; i += 4)
            for (int k = 0; k < 4; k++) {
                const double wg = weight ? (double)weight[i + k] * g[i + k] : g[i + k];
                la[k] += wg;
                lb[k] += wg * (x[i + k] - m) * is;
            }
        for (; i < D; i++) {
            const double wg = weight ? (double)weight[i] * g[i] : g[i];
            la[0] += wg;
            lb[0] += wg * (x[i] - m) * is;
        }
        const double a = lanes4_total(la) / (double)D, b = lanes4_total(lb) / (double)D;
        for (i = 0; i < D; i++) {
            const double wg = weight ? (double)weight[i] * g[i] : g[i];
            dx[i] = (float)(is * (wg - a - (x[i] - m) * is * b));
        }
    }
}

// Shards [lo, hi) of the weight and bias gradient sums: shard sh sums its rows in order.
EMBER_SIMD static void layernorm_dwb_shards(double* part, const float* dout, const float* inp,
                                            const float* mean, const float* rstd, int64_t rows,
                                            int64_t shards, int64_t D, int64_t lo, int64_t hi) {
    for (int64_t sh = lo; sh < hi; sh++) {
        double* pw = part + sh * 2 * D;
        double* pb = pw + D;
        for (int64_t i = 0; i < 2 * D; i++) pw[i] = 0.0;
        const int64_t r0 = sh * rows / shards, r1 = (sh + 1) * rows / shards;
        for (int64_t r = r0; r < r1; r++) {
            const float* x = inp + r * D;
            const float* g = dout + r * D;
            const double m = mean[r], is = rstd[r];
            for (int64_t i = 0; i < D; i++) {
                pw[i] += g[i] * ((x[i] - m) * is);
                pb[i] += g[i];
            }
        }
    }
}

void ember_layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                              const float* inp, const float* mean, const float* rstd,
                              const float* weight, int64_t rows, int64_t D) {
    int nt = ember_team(rows * D);
    if (dinp) EMBER_PARALLEL(nt, rows, layernorm_dx_rows, dinp, dout, inp, mean, rstd, weight, D);
    if (!dweight && !dbias) return;
    if (nt > NORM_SHARDS) nt = NORM_SHARDS;
    const int64_t shards = rows < NORM_SHARDS ? (rows > 0 ? rows : 1) : NORM_SHARDS;
    const size_t need = (size_t)(shards * 2 * D);
    if (norm_partials_.cap < need) {
        free(norm_partials_.p);
        norm_partials_.p = malloc(need * sizeof(double));
        norm_partials_.cap = norm_partials_.p ? need : 0;
        if (!norm_partials_.p) abort();
    }
    double* part = norm_partials_.p;
    EMBER_PARALLEL(nt, shards, layernorm_dwb_shards, part, dout, inp, mean, rstd, rows, shards, D);
    for (int64_t i = 0; i < D; i++) {
        double w = 0.0, b = 0.0;
        for (int64_t sh = 0; sh < shards; sh++) {
            w += part[sh * 2 * D + i];
            b += part[sh * 2 * D + D + i];
        }
        if (dweight) dweight[i] = (float)w;
        if (dbias) dbias[i] = (float)b;
    }
}
