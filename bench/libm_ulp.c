// Checks Ember's float functions (csrc/ember_math.h) against the system's double-precision
// libm on every float input (or a stride of them) and prints, per function, the largest error
// in ulps of the float result, the input where it occurs, and how many results differ from
// the double reference rounded to float (not correctly rounded, as far as a double reference
// can tell). pow, having two arguments, is checked on a pseudo-random sample of pairs.
//
//   scripts/libm_ulp.sh                          # build and run everything (~35 min on 2 cores)
//   scripts/libm_ulp.sh log                      # one function: 1–5 min
//   .build/libm_ulp [--stride S] [--from HEX --to HEX] [FUNCTION ...]
//
// The reference's own error (< 1 ulp of double) is far below the float ulps measured here.
#include "ember_math.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef float (*ours_fn)(float);
typedef double (*ref_fn)(double);

static float sin_any(float x) { return ember_sinf(x); }
static float cos_any(float x) { return ember_cosf(x); }
static float softplus1(float x) { return ember_softplusf(x, 1.0f, 20.0f); }
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_silu(double x) { return x / (1.0 + exp(-x)); }
static double ref_mish(double x) { return x * tanh(x > 40 ? x : log1p(exp(x))); }
static double ref_gelu_tanh(double x) {
    return x / (1.0 + exp(-2.0 * 0.79788456080286536 * (x + 0.044715 * x * x * x)));
}
static double ref_softplus(double x) { return (float)x > 20.0f ? x : log1p(exp(x)); }

static const struct { const char* name; ours_fn ours; ref_fn ref; } funcs[] = {
    {"exp", ember_expf_cr, exp},        {"expf_fast", ember_expf, exp},
    {"log", ember_logf, log},           {"log2", ember_log2f, log2},           {"log1p", ember_log1pf, log1p},
    {"expm1", ember_expm1f, expm1},     {"tanh", ember_tanhf, tanh},
    {"sin", sin_any, sin},              {"cos", cos_any, cos},
    {"erf", ember_erff, erf},           {"sigmoid", ember_sigmoidf, ref_sigmoid},
    {"silu", ember_siluf, ref_silu},    {"mish", ember_mishf, ref_mish},
    {"gelu_tanh", ember_gelu_tanhf, ref_gelu_tanh}, {"softplus", softplus1, ref_softplus},
};

/// The error of `got` against the exact-ish `ref` in ulps of float at ref's magnitude; a
/// NaN where the reference is NaN, or equal infinities, count 0; anything else non-finite
/// counts as 1e9.
static double ulp_error(float got, double ref) {
    if (ref != ref) return got != got ? 0.0 : 1e9;
    if (got != got) return 1e9;
    const double a = fabs(ref);
    if (a > 0x1.fffffep127 + 0x1p103) return (got == (float)ref) ? 0.0 : 1e9;   // rounds to inf
    if (isinf(got)) return 1e9;
    int e;
    frexp(a, &e);                                        // a in [2^(e-1), 2^e)
    const double ulp = e - 24 < -149 ? 0x1p-149 : ldexp(1.0, e - 24);
    return fabs((double)got - ref) / ulp;
}

typedef struct { double max_err; uint32_t worst; uint64_t wrong, checked; } stats;

static void merge(stats* into, const stats* s) {
    if (s->max_err > into->max_err || (s->max_err == into->max_err && s->worst < into->worst)) {
        into->max_err = s->max_err;
        into->worst = s->worst;
    }
    into->wrong += s->wrong;
    into->checked += s->checked;
}

static void check_range(int f, uint64_t from, uint64_t to, uint64_t stride, stats* out) {
    stats total = {0, 0, 0, 0};
    const int64_t chunks = 4096;
    // Chunks of the input range in a fixed order, one stats per chunk merged in order: the
    // same report for any thread count.
    stats* part = calloc((size_t)chunks, sizeof(stats));
    const uint64_t span = (to - from + chunks - 1) / chunks;
    #pragma omp parallel for schedule(static, 1)
    for (int64_t c = 0; c < chunks; c++) {
        stats s = {0, 0, 0, 0};
        const uint64_t lo = from + (uint64_t)c * span;
        uint64_t hi = lo + span;
        if (hi > to) hi = to;
        uint64_t start = lo;
        if ((start - from) % stride) start += stride - (start - from) % stride;
        for (uint64_t u = start; u < hi; u += stride) {
            union { uint32_t u; float f; } v = {(uint32_t)u};
            const float got = funcs[f].ours(v.f);
            const double ref = funcs[f].ref((double)v.f);
            const double err = ulp_error(got, ref);
            if (err > s.max_err) { s.max_err = err; s.worst = (uint32_t)u; }
            const float rounded = (float)ref;
            if (!(got == rounded || (got != got && rounded != rounded)) ||
                (got == 0.0f && rounded == 0.0f && signbit(got) != signbit(rounded)))
                s.wrong++;
            s.checked++;
        }
        part[c] = s;
    }
    for (int64_t c = 0; c < chunks; c++) merge(&total, &part[c]);
    free(part);
    *out = total;
}

/// pow on `pairs` pseudo-random (x, y) bit patterns (SplitMix64), plus the Annex F cases.
static void check_pow(uint64_t pairs, stats* out) {
    stats total = {0, 0, 0, 0};
    const int64_t chunks = 1024;
    stats* part = calloc((size_t)chunks, sizeof(stats));
    #pragma omp parallel for schedule(static, 1)
    for (int64_t c = 0; c < chunks; c++) {
        stats s = {0, 0, 0, 0};
        for (uint64_t i = 0; i < pairs / chunks; i++) {
            const uint64_t z = ember_mix64(0x5eed + (uint64_t)c * (pairs / chunks) + i);
            union { uint32_t u; float f; } x = {(uint32_t)z}, y = {(uint32_t)(z >> 32)};
            // Half the exponents small, so that many results are finite and non-zero.
            if (i & 1) y.u = (y.u & 0x807FFFFFu) | ((uint32_t)(120 + (z >> 40) % 14) << 23);
            if (i & 2) x.u &= 0x7FFFFFFFu;
            const float got = ember_powf(x.f, y.f);
            const double ref = pow((double)x.f, (double)y.f);
            const double err = ulp_error(got, ref);
            if (err > s.max_err) { s.max_err = err; s.worst = x.u; }
            const float rounded = (float)ref;
            if (!(got == rounded || (got != got && rounded != rounded))) s.wrong++;
            s.checked++;
        }
        part[c] = s;
    }
    for (int64_t c = 0; c < chunks; c++) merge(&total, &part[c]);
    free(part);
    *out = total;
}

int main(int argc, char** argv) {
    uint64_t from = 0, to = 1ULL << 32, stride = 1, pow_pairs = 1ULL << 28;
    const char* only[32];
    int n_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--stride") && i + 1 < argc) stride = strtoull(argv[++i], 0, 0);
        else if (!strcmp(argv[i], "--from") && i + 1 < argc) from = strtoull(argv[++i], 0, 16);
        else if (!strcmp(argv[i], "--to") && i + 1 < argc) to = strtoull(argv[++i], 0, 16);
        else if (!strcmp(argv[i], "--pow-pairs") && i + 1 < argc) pow_pairs = strtoull(argv[++i], 0, 0);
        else if (n_only < 32) only[n_only++] = argv[i];
    }
    if (stride == 0 || from >= to || to > (1ULL << 32)) {
        fprintf(stderr, "libm_ulp: need stride > 0 and 0 <= from < to <= 0x100000000\n");
        return 2;
    }
    printf("%-10s %12s %12s %14s %12s\n", "function", "max ulp", "at x", "not c.r.", "checked");
    for (size_t f = 0; f < sizeof funcs / sizeof funcs[0]; f++) {
        int want = n_only == 0;
        for (int i = 0; i < n_only; i++) want |= !strcmp(only[i], funcs[f].name);
        if (!want) continue;
        stats s;
        check_range((int)f, from, to, stride, &s);
        union { uint32_t u; float f; } w = {s.worst};
        printf("%-10s %12.4f %12.6g %14llu %12llu\n", funcs[f].name, s.max_err, (double)w.f,
               (unsigned long long)s.wrong, (unsigned long long)s.checked);
        fflush(stdout);
    }
    int want_pow = n_only == 0;
    for (int i = 0; i < n_only; i++) want_pow |= !strcmp(only[i], "pow");
    if (want_pow) {
        stats s;
        check_pow(pow_pairs, &s);
        union { uint32_t u; float f; } w = {s.worst};
        printf("%-10s %12.4f %12.6g %14llu %12llu\n", "pow", s.max_err, (double)w.f,
               (unsigned long long)s.wrong, (unsigned long long)s.checked);
    }
    return 0;
}
