// Portable microkernel: a 4×16 tile in plain C. fmaf is correctly rounded (a hardware FMA
// where there is one, libm's exact emulation elsewhere), so each element's chain gives the
// same bits as the vector kernels' FMAs; -ffp-contract=off keeps the compiler from fusing
// the epilogue's multiply and add, which the vector kernels do not fuse either.
#include "gemm_internal.h"
#include <math.h>

#define MR 4
#define NR 16

static void kernel_4x16(int64_t kc, const float* restrict a, const float* restrict b,
                        float* restrict c, int64_t ldc, const ember_gemm_epi* e) {
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) acc[r][j] = e->first ? 0.0f : c[r * ldc + j];
    for (int64_t p = 0; p < kc; p++) {
        for (int r = 0; r < MR; r++) {
            const float ar = a[r];
            for (int j = 0; j < NR; j++) acc[r][j] = fmaf(ar, b[j], acc[r][j]);
        }
        a += MR;
        b += NR;
    }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) {
            float x = acc[r][j];
            if (e->last) {
                if (e->alpha != 1.0f) x = e->alpha * x;
                if (e->beta != 0.0f) x = x + e->beta * c[r * ldc + j];
                if (e->bias) x = x + e->bias[j];
                if (e->relu) x = ember_relu(x);
            }
            c[r * ldc + j] = x;
        }
}

// Scalar chains through fmaf: the generic path's own peak, so its GEMM has a yardstick too.
static double peak_generic(int64_t iters) {
    enum { CHAINS = 8 };
    volatile float seed = 1.0f;
    float acc[CHAINS];
    const float one = seed, zero = seed - 1.0f;
    for (int i = 0; i < CHAINS; i++) acc[i] = one;
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < CHAINS; i++) acc[i] = fmaf(acc[i], one, zero);
    float s = 0.0f;
    for (int i = 0; i < CHAINS; i++) s += acc[i];
    seed = s;
    return (double)iters * CHAINS * 2;
}

const ember_gemm_isa ember_gemm_isa_generic = {EMBER_CPU_GENERIC, "generic", MR, NR, kernel_4x16,
                                               peak_generic, NULL, NULL, NULL};
