// Optimizer updates, each one fused pass over a parameter (read p, g, state; write p, state).
// Formulas are torch.optim's (single-tensor, foreach=False reference implementation). The
// hyperparameters arrive in double: coefficients such as 1 − β2 and 1 − lr·wd are formed in
// double and rounded to float once, as torch forms them in Python (1 − (float)0.999 is not
// (float)0.001).
#include "internal.h"
#include "ember_math.h"
#include <math.h>

// The quickstart's case (no momentum), kept branch-free so that it vectorises: a pure stream.
EMBER_SIMD
static void sgd_plain_range(float* param, const float* grad, float lr, float sign,
                            float weight_decay, int64_t lo, int64_t hi) {
    if (weight_decay == 0.0f) {
        for (int64_t i = lo; i < hi; i++) param[i] -= lr * (sign * grad[i]);
    } else {
        for (int64_t i = lo; i < hi; i++) param[i] -= lr * (sign * grad[i] + weight_decay * param[i]);
    }
}

EMBER_SIMD
static void sgd_momentum_range(float* param, const float* grad, float* buf, float lr,
                               float sign, float momentum, float undamped, float weight_decay,
                               int nesterov, int first_step, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        float g = sign * grad[i];
        if (weight_decay != 0.0f) g += weight_decay * param[i];
        // torch: buf = g on the first step, else buf = momentum*buf + (1-dampening)*g
        const float b = first_step ? g : momentum * buf[i] + undamped * g;
        buf[i] = b;
        param[i] -= lr * (nesterov ? g + momentum * b : b);
    }
}

void ember_sgd_step(float* param, const float* grad, float* buf, int64_t n, double lr,
                    double momentum, double dampening, double weight_decay, int nesterov,
                    int first_step, int maximize) {
    const int nt = ember_team(n);
    const float sign = maximize ? -1.0f : 1.0f;
    const float lr_f = (float)lr, wd = (float)weight_decay;
    if (momentum == 0.0)
        EMBER_PARALLEL(nt, n, sgd_plain_range, param, grad, lr_f, sign, wd);
    else
        EMBER_PARALLEL(nt, n, sgd_momentum_range, param, grad, buf, lr_f, sign, (float)momentum,
                       (float)(1.0 - dampening), wd, nesterov, first_step);
}

EMBER_SIMD
static void adam_range(float* param, const float* grad, float* m, float* v, float* vmax,
                       float one_minus_beta1, float beta2, float one_minus_beta2, float eps,
                       float weight_decay, int decoupled, float decay, float step_size,
                       float bc2_sqrt, int amsgrad, int maximize, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        float g = maximize ? -grad[i] : grad[i];
        float p = param[i];
        if (decoupled) p *= decay;                               // AdamW
        else if (weight_decay != 0.0f) g += weight_decay * p;   // Adam's L2 term
        const float mi = m[i] + (g - m[i]) * one_minus_beta1;   // torch: lerp
        const float vi = v[i] * beta2 + one_minus_beta2 * g * g;
        m[i] = mi;
        v[i] = vi;
        float vhat = vi;
        if (amsgrad) {
            vhat = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = vhat;
        }
        const float denom = sqrtf(vhat) / bc2_sqrt + eps;
        param[i] = p - step_size * (mi / denom);
    }
}

void ember_adam_step(float* param, const float* grad, float* m, float* v, float* vmax, int64_t n,
                     double lr, double beta1, double beta2, double eps, double weight_decay,
                     int decoupled, int64_t step, int amsgrad, int maximize) {
    const double bc1 = 1.0 - ember_pow_d(beta1, (double)step);
    const double bc2 = 1.0 - ember_pow_d(beta2, (double)step);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = decoupled ? (float)(1.0 - lr * weight_decay) : 1.0f;
    EMBER_PARALLEL(ember_team(n), n, adam_range, param, grad, m, v, vmax, (float)(1.0 - beta1), (float)beta2,
                   (float)(1.0 - beta2), (float)eps, (float)weight_decay, decoupled, decay, step_size, bc2_sqrt,
                   amsgrad, maximize);
}
