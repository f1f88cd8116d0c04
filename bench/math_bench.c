// Times the kernels that use transcendental functions (randn, cross-entropy, softmax and the
// unary maps) through the C core's public entry points, so that two source trees (e.g.
// before and after csrc/ember_math.h) can be compared with the same driver:
//
//   scripts/math_bench.sh [SOURCE_TREE] [ROUNDS]      # on an idle machine when timing
//
// Each measurement is the median (min–max) over ROUNDS rounds of the best of 3 calls, the
// cases alternated within each round, on the default thread count.
#include "ember.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

enum { N_UNARY = 1 << 20, N_RANDN = 10000000, CE_N = 4096, CE_C = 1000, SM_R = 4096, SM_C = 1024 };

static float *ubuf, *uout, *rbuf, *logits, *probs, *losses;
static int64_t* targets;

typedef struct { const char* name; int kind, op; double per; } bench_case;

static void run(const bench_case* c) {
    double ws;
    switch (c->kind) {
    case 0: ember_unary_f32(c->op, uout, ubuf, N_UNARY); break;
    case 1: ember_rand_normal(rbuf, N_RANDN, 0.0f, 1.0f, 42, 0); break;
    case 2: ember_cross_entropy_forward(losses, probs, logits, targets, NULL, CE_N, CE_C, 0.0f, &ws); break;
    case 3: ember_softmax_forward(probs, logits, SM_R, SM_C, c->op); break;
    case 4: {
        const int64_t shape[1] = {N_UNARY}, st[1] = {1}, s0[1] = {0};
        const float e = 2.5f;
        ember_binary_f32(EMBER_POW, uout, ubuf, &e, 1, shape, st, s0);
        break;
    }
    case 5: ember_unary2_f32(EMBER_SOFTPLUS, uout, ubuf, N_UNARY, 1.0f, 20.0f); break;
    }
}

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? atoi(argv[1]) : 5;
    ubuf = malloc(sizeof(float) * N_UNARY);
    uout = malloc(sizeof(float) * N_UNARY);
    rbuf = malloc(sizeof(float) * N_RANDN);
    logits = malloc(sizeof(float) * CE_N * CE_C);
    probs = malloc(sizeof(float) * CE_N * CE_C);
    losses = malloc(sizeof(float) * CE_N);
    targets = malloc(sizeof(int64_t) * CE_N);
    for (int64_t i = 0; i < N_UNARY; i++) ubuf[i] = 0.25f + (float)(i % 4000) * 0.005f * ((i & 1) ? 1 : -0.5f);
    for (int64_t i = 0; i < (int64_t)CE_N * CE_C; i++) logits[i] = (float)((i * 7919) % 2001) * 0.004f - 4.0f;
    for (int64_t i = 0; i < CE_N; i++) targets[i] = (i * 13) % CE_C;
    bench_case cases[] = {
        {"randn 10M", 1, 0, 0}, {"cross_entropy 4096x1000", 2, 0, 0}, {"log_softmax 4096x1024", 3, 1, 0},
        {"softmax 4096x1024", 3, 0, 0}, {"exp 1M", 0, EMBER_EXP, 0}, {"log 1M", 0, EMBER_LOG, 0},
        {"tanh 1M", 0, EMBER_TANH, 0}, {"sigmoid 1M", 0, EMBER_SIGMOID, 0}, {"sin 1M", 0, EMBER_SIN, 0},
        {"cos 1M", 0, EMBER_COS, 0}, {"log1p 1M", 0, EMBER_LOG1P, 0}, {"expm1 1M", 0, EMBER_EXPM1, 0},
        {"erf 1M", 0, EMBER_ERF, 0}, {"gelu_tanh 1M", 0, EMBER_GELU_TANH, 0}, {"silu 1M", 0, EMBER_SILU, 0},
        {"mish 1M", 0, EMBER_MISH, 0}, {"pow 1M", 4, 0, 0}, {"softplus 1M", 5, 0, 0},
    };
    const int nc = (int)(sizeof cases / sizeof cases[0]);
    double* t = calloc((size_t)(nc * rounds), sizeof(double));
    for (int c = 0; c < nc; c++) run(&cases[c]);   // warm-up
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < nc; c++) {
            double best = 1e30;
            for (int k = 0; k < 3; k++) {
                const double t0 = now();
                run(&cases[c]);
                const double dt = now() - t0;
                best = dt < best ? dt : best;
            }
            t[c * rounds + r] = best;
        }
    printf("%-26s %12s %22s\n", "case", "median ms", "(min-max)");
    for (int c = 0; c < nc; c++) {
        qsort(t + c * rounds, (size_t)rounds, sizeof(double), cmp);
        printf("%-26s %12.3f   (%.3f-%.3f)\n", cases[c].name, 1e3 * t[c * rounds + rounds / 2],
               1e3 * t[c * rounds], 1e3 * t[c * rounds + rounds - 1]);
    }
    return 0;
}
