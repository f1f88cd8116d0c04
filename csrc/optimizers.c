// Optimizer updates, each one fused pass over a parameter (read p, g, state; write p, state).
// Formulas are torch.optim's (single-tensor, foreach=False reference implementation).
#include "internal.h"
#include <math.h>

EMBER_SIMD
void ember_sgd_step(float* param, const float* grad, float* buf, int64_t n, float lr,
                    float momentum, float dampening, float weight_decay, int nesterov,
                    int first_step, int maximize) {
    const int nt = ember_team(n);
    const float sign = maximize ? -1.0f : 1.0f;
    if (momentum == 0.0f) {
        // The quickstart's case, kept branch-free so that it vectorises: a pure stream.
        if (weight_decay == 0.0f) {
            EMBER_FOR(nt, i, n, param[i] -= lr * (sign * grad[i]););
        } else {
            EMBER_FOR(nt, i, n, param[i] -= lr * (sign * grad[i] + weight_decay * param[i]););
        }
        return;
    }
    EMBER_FOR(nt, i, n,
        float g = sign * grad[i];
        if (weight_decay != 0.0f) g += weight_decay * param[i];
        // torch: buf = g on the first step, else buf = momentum*buf + (1-dampening)*g
        const float b = first_step ? g : momentum * buf[i] + (1.0f - dampening) * g;
        buf[i] = b;
        param[i] -= lr * (nesterov ? g + momentum * b : b);
    );
}

EMBER_SIMD
void ember_adam_step(float* param, const float* grad, float* m, float* v, float* vmax, int64_t n,
                     float lr, float beta1, float beta2, float eps, float weight_decay,
                     int decoupled, int64_t step, int amsgrad, int maximize) {
    const double bc1 = 1.0 - pow((double)beta1, (double)step);
    const double bc2 = 1.0 - pow((double)beta2, (double)step);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = decoupled ? 1.0f - lr * weight_decay : 1.0f;
    const int nt = ember_team(n);
    EMBER_FOR(nt, i, n,
        float g = maximize ? -grad[i] : grad[i];
        float p = param[i];
        if (decoupled) p *= decay;                               // AdamW
        else if (weight_decay != 0.0f) g += weight_decay * p;   // Adam's L2 term
        const float mi = m[i] + (g - m[i]) * (1.0f - beta1);     // torch: lerp
        const float vi = v[i] * beta2 + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float vhat = vi;
        if (amsgrad) {
            vhat = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = vhat;
        }
        const float denom = sqrtf(vhat) / bc2_sqrt + eps;
        param[i] = p - step_size * (mi / denom);
    );
}
