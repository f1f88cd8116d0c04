// The out-of-line parts of ember_math.h: the Payne–Hanek reduction for large sin/cos
// arguments, the scalar float sin/cos, and the double functions ember.h exports (for the
// optimisers, the learning-rate schedulers, init and the vision transforms in Swift).
#include "ember_math.h"
#include "internal.h"

/// The bits of 2/π after the binary point, 64 to a word, most significant first, after one
/// word of zeros (the window below may start up to 63 bits before the point). 20 words cover
/// the largest double's exponent plus the 192-bit window. scripts/make_math_tables.py
/// computes them (π by Machin's formula in integer arithmetic).
static const uint64_t two_over_pi_bits[21] = {
    0x0000000000000000ULL, 0xA2F9836E4E441529ULL, 0xFC2757D1F534DDC0ULL, 0xDB6295993C439041ULL,
    0xFE5163ABDEBBC561ULL, 0xB7246E3A424DD2E0ULL, 0x06492EEA09D1921CULL, 0xFE1DEB1CB129A73EULL,
    0xE88235F52EBB4484ULL, 0xE99C7026B45F7E41ULL, 0x3991D639835339F4ULL, 0x9C845F8BBDF9283BULL,
    0x1FF897FFDE05980FULL, 0xEF2F118B5A0A6D1FULL, 0x6D367ECF27CB09B7ULL, 0x4F463F669E5FEA2DULL,
    0x7527BAC7EBE5F17BULL, 0x3D0739F78A5292EAULL, 0x6BFB5FB11F8D5D08ULL, 0x56033046FC7B6BABULL,
    0xF0CFBC209AF4361DULL,
};

/// 64 bits of the padded table starting at bit `pos` (bit 0 = the first bit of word 0).
static uint64_t window64(int pos) {
    const int w = pos >> 6, sh = pos & 63;
    const uint64_t a = two_over_pi_bits[w];
    return sh == 0 ? a : (a << sh) | (two_over_pi_bits[w + 1] >> (64 - sh));
}

/// x = M·2^s (M < 2^53 an integer). x·2/π = Σ M·b_i·2^(s−i) over the bits b_i of 2/π; the
/// terms with s − i ≥ 2 are multiples of 4 and drop out of x·2/π mod 4, so the window starts
/// at i = s − 1, and 192 bits of it leave an error below M·2^-191 < 2^-138 quadrants (the
/// smallest |x mod π/2| of a double is ~2^-61). The product mod 2^192 is x·2/π mod 4 with
/// 190 fraction bits; it is rounded to the nearest quadrant k and the signed remainder
/// converted to hi + lo radians.
uint64_t ember_rem_pio2_big(double x, double* hi, double* lo) {
    const uint64_t bits = em_bits(x);
    const int e = (int)((bits >> 52) & 0x7FF);
    const uint64_t M = (bits & 0x000FFFFFFFFFFFFFULL) | 0x0010000000000000ULL;   // e ≥ 1 here
    const int s = e - 1075;
    const int pos = s - 1 + 63;                    // b_i is bit i + 63 of the padded table
    const uint64_t w0 = window64(pos), w1 = window64(pos + 64), w2 = window64(pos + 128);
    const unsigned __int128 p2 = (unsigned __int128)M * w2;
    const unsigned __int128 p1 = (unsigned __int128)M * w1 + (uint64_t)(p2 >> 64);
    const uint64_t c0 = (uint64_t)p2, c1 = (uint64_t)p1;
    const uint64_t c2 = M * w0 + (uint64_t)(p1 >> 64);
    // (c2, c1, c0) = x·2/π mod 4 in units of 2^-190: quadrant in c2's top 2 bits.
    const uint64_t f_hi = (c2 << 2) | (c1 >> 62);
    const uint64_t f_lo = (c1 << 2) | (c0 >> 62);
    uint64_t k = (c2 >> 62) + (f_hi >> 63);        // round to nearest: a fraction ≥ ½ carries
    const int64_t sf = (int64_t)f_hi;              // the remainder in [−½, ½), units 2^-64
    // a: sf without its low 11 bits (≤ 53 significant bits: exact); b: the rest, small.
    const double a = (double)(int64_t)(f_hi & ~0x7FFULL) * 0x1p-64;
    const double b = ((double)(sf & 0x7FF) + (double)f_lo * 0x1p-64) * 0x1p-64;
    const double u = a + b;                        // quadrants
    const double ul = (a - u) + b;
    *hi = u * EM_PIO2;
    *lo = ul * EM_PIO2 + u * 0x1.1a62633145c07p-54;   // + π/2's next bits
    if (bits >> 63) {                              // x < 0: reduce |x| and mirror
        *hi = -*hi;
        *lo = -*lo;
        k = 0 - k;
    }
    return k;
}

static uint64_t rem_pio2(double x, double* hi, double* lo) {
    const double a = em_fabs(x);
    if (a < EM_TRIG_SMALL) return em_rem_pio2_small(x, hi, lo);
    return ember_rem_pio2_big(x, hi, lo);
}

float ember_sinf(float x) {
    if (!ember_trig_is_big(x)) return ember_sinf_small(x);
    if (x != x || x - x != 0.0f) return __builtin_nanf("");    // ±inf, NaN
    double hi, lo;
    const uint64_t q = ember_rem_pio2_big((double)x, &hi, &lo);
    return (float)em_sin_quadrant(q, hi, lo);
}

float ember_cosf(float x) {
    if (!ember_trig_is_big(x)) return ember_cosf_small(x);
    if (x != x || x - x != 0.0f) return __builtin_nanf("");
    double hi, lo;
    const uint64_t q = ember_rem_pio2_big((double)x, &hi, &lo);
    return (float)em_cos_quadrant(q, hi, lo);
}

double ember_exp(double x) { return ember_exp_d(x); }
double ember_log(double x) { return ember_log_d(x); }
double ember_pow(double x, double y) { return ember_pow_d(x, y); }

double ember_sin(double x) {
    if (x != x || x - x != 0.0) return __builtin_nan("");
    if (x == 0.0) return x;
    double hi, lo;
    const uint64_t q = rem_pio2(x, &hi, &lo);
    return em_sin_quadrant(q, hi, lo);
}

double ember_cos(double x) {
    if (x != x || x - x != 0.0) return __builtin_nan("");
    double hi, lo;
    const uint64_t q = rem_pio2(x, &hi, &lo);
    return em_cos_quadrant(q, hi, lo);
}

/// erfc for z ≥ 0: 1 − the series below 2.5, the 40-level continued fraction above (0 from
/// 27.3 on, where e^{−z²} underflows).
static double erfc_pos(double z) {
    if (z < 2.5) return 1.0 - em_erf_series(z);
    if (z > 28.0) return 0.0;
    return em_erfc_cf(z, 40);
}

double ember_erf(double x) {
    if (x != x) return x;
    const double z = em_fabs(x);
    if (z == 0.0) return x;
    const double v = z < 2.5 ? em_erf_series(z) : (z > 6.0 ? 1.0 : 1.0 - em_erfc_cf(z, 40));
    return em_copysign(v, x);
}

double ember_erfc(double x) {
    if (x != x) return x;
    return x < 0.0 ? 2.0 - erfc_pos(-x) : erfc_pos(x);
}

static float math_f32(int op, float x, float b) {
    switch (op) {
    case EMBER_MATH_EXP: return ember_expf_cr(x);
    case EMBER_MATH_LOG: return ember_logf(x);
    case EMBER_MATH_LOG1P: return ember_log1pf(x);
    case EMBER_MATH_EXPM1: return ember_expm1f(x);
    case EMBER_MATH_TANH: return ember_tanhf(x);
    case EMBER_MATH_SIN: return ember_sinf(x);
    case EMBER_MATH_COS: return ember_cosf(x);
    case EMBER_MATH_ERF: return ember_erff(x);
    case EMBER_MATH_POW: return ember_powf(x, b);
    case EMBER_MATH_SIGMOID: return ember_sigmoidf(x);
    case EMBER_MATH_SILU: return ember_siluf(x);
    case EMBER_MATH_MISH: return ember_mishf(x);
    case EMBER_MATH_GELU_TANH: return ember_gelu_tanhf(x);
    case EMBER_MATH_SOFTPLUS: return ember_softplusf(x, b, 20.0f);
    case EMBER_MATH_EXPF_FAST: return ember_expf(x);
    case EMBER_MATH_LOG2: return ember_log2f(x);
    default: return 0.0f;
    }
}

void ember_math_f32_scalar(int op, float* out, const float* x, float b, int64_t n) {
    // One element at a time on the baseline ISA: the reference the vector kernels must equal.
    #pragma clang loop vectorize(disable) interleave(disable)
    for (int64_t i = 0; i < n; i++) out[i] = math_f32(op, x[i], b);
}
