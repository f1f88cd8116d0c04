// Fused softmax + cross-entropy and NLL, forward and backward side by side.
//
// With class weights w and label smoothing ε over C classes, row i with target t has
//   loss_i = (1-ε)·w_t·(lse_i - x_it) + (ε/C)·Σ_c w_c·(lse_i - x_ic)
// (PyTorch's definition), and
//   ∂loss_i/∂x_ij = ((1-ε)·w_t + (ε/C)·W)·p_ij - (1-ε)·w_t·[j==t] - (ε/C)·w_j,  W = Σ_c w_c.
// The weighted mean divides Σ loss_i by Σ_i w_{t_i}.
#include "internal.h"
#include "ember_math.h"
#include <math.h>

// Σ of n doubles in fixed order (the per-row losses), so the loss is the same for any
// thread count.
static double sum_rows(const float* v, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    return s;
}

// Rows [lo, hi) in blocks of ~1K floats: the block's maxima and exps
// (ember_softmax_numerators), then per row the stable log-sum-exp, the softmax kept for the
// backward, and the loss.
EMBER_SIMD
static void cross_entropy_forward_rows(float* losses, float* probs, const float* logits,
                                       const int64_t* targets, const float* weights, int64_t C,
                                       float eps, double W, int64_t lo, int64_t hi) {
    const int64_t block = ember_exp_block_rows(C);
    float mx[EMBER_EXP_BLOCK];
    for (int64_t r0 = lo; r0 < hi; r0 += block) {
        const int64_t r1 = r0 + block < hi ? r0 + block : hi;
        ember_softmax_numerators(probs + r0 * C, mx, logits + r0 * C, r1 - r0, C, 0);
        for (int64_t i = r0; i < r1; i++) {
            const float* x = logits + i * C;
            float* p = probs + i * C;
            const double s = ember_row_sum(p, C);
            const float inv = (float)(1.0 / s);
            for (int64_t c = 0; c < C; c++) p[c] *= inv;
            const double lse = (double)mx[i - r0] + ember_log_d(s);
            const int64_t t = targets[i];
            const double wt = weights ? weights[t] : 1.0;
            double loss = (1.0 - eps) * wt * (lse - x[t]);
            if (eps != 0.0f) {
                double wx = 0.0;
                for (int64_t c = 0; c < C; c++) wx += (weights ? weights[c] : 1.0f) * (double)x[c];
                loss += (eps / (double)C) * (W * lse - wx);
            }
            losses[i] = (float)loss;
        }
    }
}

double ember_cross_entropy_forward(float* losses, float* probs, const float* logits,
                                   const int64_t* targets, const float* weights, int64_t N,
                                   int64_t C, float label_smoothing, double* weight_sum) {
    double W = 0.0;
    if (weights) for (int64_t c = 0; c < C; c++) W += weights[c];
    else W = (double)C;
    EMBER_PARALLEL(ember_team(N * C), N, cross_entropy_forward_rows, losses, probs, logits,
                   targets, weights, C, label_smoothing, W);
    double ws = 0.0;
    if (weights) for (int64_t i = 0; i < N; i++) ws += weights[targets[i]];
    else ws = (double)N;
    *weight_sum = ws;
    return sum_rows(losses, N);
}

EMBER_SIMD
static void cross_entropy_backward_rows(float* dlogits, const float* probs,
                                        const int64_t* targets, const float* weights,
                                        const float* dloss, int64_t dloss_stride, float norm,
                                        int64_t C, float eps, float W, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        const float s = dloss[i * dloss_stride] * norm;
        const int64_t t = targets[i];
        const float wt = weights ? weights[t] : 1.0f;
        const float a = (1.0f - eps) * wt + (eps / (float)C) * W;
        const float* p = probs + i * C;
        float* d = dlogits + i * C;
        for (int64_t c = 0; c < C; c++) {
            float g = a * p[c];
            if (eps != 0.0f) g -= (eps / (float)C) * (weights ? weights[c] : 1.0f);
            d[c] = s * g;
        }
        d[t] -= s * (1.0f - eps) * wt;
    }
}

void ember_cross_entropy_backward(float* dlogits, const float* probs, const int64_t* targets,
                                  const float* weights, const float* dloss, int64_t dloss_stride,
                                  float norm, int64_t N, int64_t C, float label_smoothing) {
    float W = 0.0f;
    if (weights) for (int64_t c = 0; c < C; c++) W += weights[c];
    else W = (float)C;
    EMBER_PARALLEL(ember_team(N * C), N, cross_entropy_backward_rows, dlogits, probs, targets,
                   weights, dloss, dloss_stride, norm, C, label_smoothing, W);
}

double ember_nll_forward(float* losses, const float* logp, const int64_t* targets,
                         const float* weights, int64_t N, int64_t C, double* weight_sum) {
    double ws = 0.0;
    for (int64_t i = 0; i < N; i++) {
        const float w = weights ? weights[targets[i]] : 1.0f;
        losses[i] = -w * logp[i * C + targets[i]];
        ws += w;
    }
    *weight_sum = ws;
    return sum_rows(losses, N);
}

void ember_nll_backward(float* dlogp, const int64_t* targets, const float* weights,
                        const float* dloss, int64_t dloss_stride, float norm, int64_t N, int64_t C) {
    for (int64_t i = 0; i < N; i++) {
        float* d = dlogp + i * C;
        for (int64_t c = 0; c < C; c++) d[c] = 0.0f;
        const float w = weights ? weights[targets[i]] : 1.0f;
        d[targets[i]] = -w * dloss[i * dloss_stride] * norm;
    }
}
