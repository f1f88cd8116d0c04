// ReLU, softmax / log-softmax and dropout, forward and backward side by side.
#include "internal.h"
#include "ember_math.h"
#include <math.h>

EMBER_SIMD
static void relu_forward_range(float* out, const float* inp, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) out[i] = ember_relu(inp[i]);
}
void ember_relu_forward(float* out, const float* inp, int64_t n) {
    // Contiguous ranges per thread: a streaming pass.
    EMBER_PARALLEL(ember_team(n), n, relu_forward_range, out, inp);
}

EMBER_SIMD
static void relu_backward_range(float* dinp, const float* dout, const float* out, int64_t lo,
                                int64_t hi) {
    // Both loads unconditional: a conditional load of dout kept this loop scalar (perf).
    for (int64_t i = lo; i < hi; i++) dinp[i] = ember_relu_grad(out[i], dout[i]);
}
void ember_relu_backward(float* dinp, const float* dout, const float* out, int64_t n) {
    EMBER_PARALLEL(ember_team(n), n, relu_backward_range, dinp, dout, out);
}

// Rows are independent; each row is computed by one thread in a fixed order. Blocks of
// ~1K floats as in the cross-entropy: the block's maxima and exps, then each row's sum.
EMBER_SIMD
static void softmax_forward_rows(float* out, const float* inp, int64_t cols, int log,
                                 int64_t lo, int64_t hi) {
    const int64_t block = ember_exp_block_rows(cols);
    float mx[EMBER_EXP_BLOCK];
    for (int64_t r0 = lo; r0 < hi; r0 += block) {
        const int64_t r1 = r0 + block < hi ? r0 + block : hi;
        // exp into the output first (vectorised), then the sums. An all -inf row is shifted
        // by 0 and gives NaN below, as in PyTorch.
        ember_softmax_numerators(out + r0 * cols, mx, inp + r0 * cols, r1 - r0, cols, 1);
        for (int64_t r = r0; r < r1; r++) {
            const float* x = inp + r * cols;
            float* y = out + r * cols;
            const double s = ember_row_sum(y, cols);
            if (log) {
                const float lse = mx[r - r0] + ember_logf((float)s);
                for (int64_t c = 0; c < cols; c++) y[c] = x[c] - lse;
            } else {
                const float inv = (float)(1.0 / s);
                for (int64_t c = 0; c < cols; c++) y[c] *= inv;
            }
        }
    }
}
void ember_softmax_forward(float* out, const float* inp, int64_t rows, int64_t cols, int log) {
    EMBER_PARALLEL(ember_team(rows * cols), rows, softmax_forward_rows, out, inp, cols, log);
}

EMBER_SIMD
static void softmax_backward_rows(float* dinp, const float* dout, const float* out,
                                  int64_t cols, int log, int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; r++) {
        const float* g = dout + r * cols;
        const float* y = out + r * cols;
        float* d = dinp + r * cols;
        double s = 0.0;
        if (log) {
            for (int64_t c = 0; c < cols; c++) s += g[c];
            for (int64_t c = 0; c < cols; c++) d[c] = g[c] - ember_expf(y[c]) * (float)s;
        } else {
            for (int64_t c = 0; c < cols; c++) s += (double)g[c] * y[c];
            for (int64_t c = 0; c < cols; c++) d[c] = y[c] * (g[c] - (float)s);
        }
    }
}
void ember_softmax_backward(float* dinp, const float* dout, const float* out, int64_t rows,
                            int64_t cols, int log) {
    EMBER_PARALLEL(ember_team(rows * cols), rows, softmax_backward_rows, dinp, dout, out, cols, log);
}

// Element i's draw depends on (seed, offset + i) only: any split gives the same mask.
EMBER_SIMD
static void dropout_forward_range(float* out, float* mask, const float* inp, float p,
                                  float scale, uint64_t seed, uint64_t offset, int64_t lo,
                                  int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        const float m = ember_uniform01(seed, offset + (uint64_t)i) >= p ? scale : 0.0f;
        mask[i] = m;
        out[i] = inp[i] * m;
    }
}
void ember_dropout_forward(float* out, float* mask, const float* inp, int64_t n, float p,
                           uint64_t seed, uint64_t offset) {
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    EMBER_PARALLEL(ember_team(n), n, dropout_forward_range, out, mask, inp, p, scale, seed, offset);
}
