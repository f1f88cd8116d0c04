// Ember's own transcendental functions: the same bits on every x86-64 CPU and every libc.
//
// glibc picks CPU-specific versions of expf, logf, powf, sinf, cosf, exp, log, pow, sin, cos
// (and, through them, erf, tanh, expm1) at load time (ifunc: an FMA version on Haswell and
// later, SSE2 before), and those versions do not round alike; other libcs and other glibc
// versions differ again. Ember promises the same bits on any x86-64 machine, so nothing in
// the C core calls libm for anything but sqrt (IEEE-exact): these functions replace it.
//
// Rules: IEEE-754 double arithmetic only (+, −, ×, ÷, sqrt, bit manipulation), no FMA (the C
// core builds with -ffp-contract=off), no table lookups in the vector paths, no libm. Every
// function is branch-free over its main range (selects, not jumps) and static inline, so that
// a kernel's loop over it vectorises; the AVX2 and baseline clones of a kernel (EMBER_SIMD)
// compute the same operations in the same order, hence the same bits.
//
// The float functions evaluate in double with Ember's own reductions and polynomials (errors
// below 2^-50 relative before the final rounding) and round once to float: the result is the
// correctly rounded one except when the exact value lies within ~2^-50 relative of a midpoint
// between two floats (bench/libm_ulp.c checks every float input; docs/DESIGN.md has the
// figures). The double functions (ember.h: ember_exp, ember_log, … for the optimisers, the
// schedulers and init) are within a few ulp of the exact value.
#ifndef EMBER_MATH_H
#define EMBER_MATH_H
#include <stdint.h>

/// Forced inline: a kernel's loop only vectorises when no call is left in its body.
#define EM_INLINE static inline __attribute__((always_inline))

EM_INLINE uint64_t em_bits(double x) { union { double d; uint64_t u; } v = {x}; return v.u; }
EM_INLINE double em_double(uint64_t u) { union { uint64_t u; double d; } v = {u}; return v.d; }
EM_INLINE uint32_t em_fbits(float x) { union { float f; uint32_t u; } v = {x}; return v.u; }
EM_INLINE float em_float(uint32_t u) { union { uint32_t u; float f; } v = {u}; return v.f; }
EM_INLINE double em_fabs(double x) { return em_double(em_bits(x) & 0x7FFFFFFFFFFFFFFFULL); }
/// |x| with the sign of s.
EM_INLINE double em_copysign(double x, double s) {
    return em_double((em_bits(x) & 0x7FFFFFFFFFFFFFFFULL) | (em_bits(s) & 0x8000000000000000ULL));
}
EM_INLINE float em_copysignf(float x, float s) {
    return em_float((em_fbits(x) & 0x7FFFFFFFu) | (em_fbits(s) & 0x80000000u));
}

/// 1.5·2^52: adding it to |v| < 2^51 rounds v to an integer held in the low mantissa bits
/// (round to nearest even), with no SSE4.1 rounding instruction and no float→int conversion.
#define EM_SHIFT 6755399441055744.0
/// ln 2 = EM_LN2_HI + EM_LN2_LO; the high part has 29 significant bits, so k·EM_LN2_HI is
/// exact for |k| < 2^24.
#define EM_LN2_HI 0x1.62e42ffp-1
#define EM_LN2_LO -0x1.718432a1b0e26p-35
#define EM_LN2 0x1.62e42fefa39efp-1
#define EM_LOG2E 0x1.71547652b82fep+0

/// e^r − 1 for |r| ≤ ln2/2 (+ a little): Taylor to r^13, truncation error < 2^-57 relative.
EM_INLINE double em_expm1_poly(double r) {
    double p = 1.0 / 6227020800.0;            // 1/13!
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    return r + (r * r) * p;
}

/// e^(x + xl) in double for any x and a small correction xl (|xl| ≲ ulp(x); pow's product
/// carried in two parts): x = k·ln2 + r, e^(r + xl) by em_expm1_poly, times 2^k applied in
/// two halves (so that 2^k for k down to −1075 and up to 1024 needs no special case:
/// subnormal results round once, in the last product). NaN through.
EM_INLINE double em_exp2part(double x, double xl) {
    const double xc = x < -746.0 ? -746.0 : (x > 710.0 ? 710.0 : x);
    const double t = xc * EM_LOG2E + EM_SHIFT;
    const double k = t - EM_SHIFT;
    const double r = ((xc - k * EM_LN2_HI) - k * EM_LN2_LO) + (xc == x ? xl : 0.0);
    const double t1 = k * 0.5 + EM_SHIFT;        // k1 = round(k/2), k2 = k − k1
    const uint64_t kb = em_bits(t) - em_bits(EM_SHIFT);
    const uint64_t k1b = em_bits(t1) - em_bits(EM_SHIFT);
    const double s1 = em_double((k1b + 1023u) << 52);
    const double s2 = em_double((kb - k1b + 1023u) << 52);
    const double y = (1.0 + em_expm1_poly(r)) * s1 * s2;
    return x != x ? x : y;
}

/// e^x in double for any x: ≤ 1 ulp; e^-inf = 0, e^inf = inf, NaN through.
EM_INLINE double ember_exp_d(double x) { return em_exp2part(x, 0.0); }

/// e^x − 1 in double for x in [−40, 90] (the float range and a margin): k = round(x/ln2),
/// 2^k·(e^r − 1) + (2^k − 1), which never cancels badly (k ≠ 0 only for |x| > ln2/2).
EM_INLINE double em_expm1_mid(double x) {
    const double t = x * EM_LOG2E + EM_SHIFT;
    const double k = t - EM_SHIFT;
    const double r = (x - k * EM_LN2_HI) - k * EM_LN2_LO;
    const double s = em_double((em_bits(t) - em_bits(EM_SHIFT) + 1023u) << 52);
    return s * em_expm1_poly(r) + (s - 1.0);
}

/// The reduction shared by em_log_any and em_log_dd: x = 2^k·m with m in [√½, √2), f = m − 1,
/// s = f/(2 + f) and R(s²) as described at em_log_any, for a positive x (subnormals scaled).
EM_INLINE void em_log_reduce(double x, double* k, double* f, double* s, double* R) {
    const int sub = x < 0x1p-1022;                 // subnormal (or ≤ 0: the callers fix it)
    const double xs = sub ? x * 0x1p54 : x;
    // Move the exponent boundary to √½: m's bits are the mantissa offset by those of √½.
    const uint64_t u = em_bits(xs) + (0x3FF0000000000000ULL - 0x3FE6A09E667F3BCDULL);
    // The exponent field as a double through the 2^52 trick (int64 → double has no AVX2 form).
    *k = (em_double(0x4330000000000000ULL | (u >> 52)) - (0x1p52 + 1023.0)) - (sub ? 54.0 : 0.0);
    const double m = em_double((u & 0x000FFFFFFFFFFFFFULL) + 0x3FE6A09E667F3BCDULL);
    *f = m - 1.0;
    *s = *f / (2.0 + *f);
    const double z = *s * *s;
    double r = 2.0 / 25.0;
    r = r * z + 2.0 / 23.0;
    r = r * z + 2.0 / 21.0;
    r = r * z + 2.0 / 19.0;
    r = r * z + 2.0 / 17.0;
    r = r * z + 2.0 / 15.0;
    r = r * z + 2.0 / 13.0;
    r = r * z + 2.0 / 11.0;
    r = r * z + 2.0 / 9.0;
    r = r * z + 2.0 / 7.0;
    r = r * z + 2.0 / 5.0;
    r = r * z + 2.0 / 3.0;
    *R = r * z;
}

/// log(x) in double for any x: x = 2^k·m with m in [√½, √2), f = m − 1,
/// log(1+f) = f − (f²/2 − s·(f²/2 + R(s²))), s = f/(2+f), R the series of 2·atanh(s)/s − 2
/// (2s²/3 + 2s⁴/5 + …, truncated after s^24: < 2^-60 relative for |s| ≤ 0.172). ≤ 1 ulp.
/// log(±0) = −inf, log(x < 0) = NaN, log(inf) = inf.
/// `base2`: log2 instead (k + log(m)·log2(e), exact at powers of two).
EM_INLINE double em_log_any(double x, int base2) {
    double k, f, s, R;
    em_log_reduce(x, &k, &f, &s, &R);
    const double hfsq = 0.5 * f * f;
    const double y = k * EM_LN2_HI + (f - (hfsq - (s * (hfsq + R) + k * EM_LN2_LO)));
    const double y2 = k + (f - (hfsq - s * (hfsq + R))) * EM_LOG2E;   // log2: k exact
    const double inf = __builtin_inf();
    return x != x ? x : (x < 0.0 ? __builtin_nan("") : (x == 0.0 ? -inf : (x == inf ? inf : (base2 ? y2 : y))));
}

/// log(x) in double for any x (em_log_any): ≤ 1 ulp.
EM_INLINE double ember_log_d(double x) { return em_log_any(x, 0); }

/// log(1 + x) in double for x > −1: log of u = 1 + x (rounded) plus the rounding's first-order
/// correction (x − (u − 1))/u, so small x keeps its full precision.
EM_INLINE double em_log1p_d(double x) {
    const double u = 1.0 + x;
    const double c = u > 0.0 ? (x - (u - 1.0)) / u : 0.0;   // log1p(−1) = −inf, not NaN
    const double y = ember_log_d(u) + c;
    return u == __builtin_inf() ? u : y;
}

// MARK: float functions (double inside, rounded once)

/// e^x for float, correctly rounded in practice (see the file comment). For the `exp` op;
/// the softmax kernels keep the cheaper ember_expf (internal.h, 1–2 ulp, float only).
EM_INLINE float ember_expf_cr(float x) { return (float)ember_exp_d((double)x); }

/// log x for float.
EM_INLINE float ember_logf(float x) { return (float)ember_log_d((double)x); }

/// log2 x for float (exact for powers of two).
EM_INLINE float ember_log2f(float x) { return (float)em_log_any((double)x, 1); }

/// log(1 + x) for float: 1 + x is exact in double for every float x ≥ 2^-29 in magnitude and
/// em_log1p_d's correction covers the rest. log1p(−1) = −inf, below −1 NaN.
EM_INLINE float ember_log1pf(float x) {
    const double y = em_log1p_d((double)x);
    return x == 0.0f ? x : (float)y;                  // log1p(±0) = ±0
}

/// e^x − 1 for float; −1 below −40, inf above 90 (the float results there), NaN through.
EM_INLINE float ember_expm1f(float x) {
    const double xc = x < -40.0f ? -40.0 : (x > 90.0f ? 90.0 : (double)x);
    const float y = (float)em_expm1_mid(xc);
    return x != x || x == 0.0f ? x : y;               // expm1(±0) = ±0
}

/// tanh x for float: with e = e^{2|x|} − 1, tanh|x| = e/(e + 2); |x| ≥ 10 gives ±1 (the float
/// result from |x| > 9.01 on). Odd, so ±0 → ±0.
EM_INLINE float ember_tanhf(float x) {
    const double a = em_fabs((double)x);
    const double e = em_expm1_mid(a > 10.0 ? 20.0 : 2.0 * a);
    const double t = e / (e + 2.0);
    const float y = em_copysignf((float)t, x);
    return x != x ? x : y;
}

/// The logistic 1/(1 + e^−x) for float.
EM_INLINE float ember_sigmoidf(float x) { return (float)(1.0 / (1.0 + ember_exp_d(-(double)x))); }

/// x·sigmoid(x) = x/(1 + e^−x) for float (silu(−inf) = NaN, as −inf·0 in PyTorch).
EM_INLINE float ember_siluf(float x) {
    const double d = (double)x;
    return (float)(d / (1.0 + ember_exp_d(-d)));
}

/// log(1 + e^x) in double for a float x: x itself above 40 (e^-40 is below double's ulp of x).
EM_INLINE double em_softplus_d(double x) {
    return x > 40.0 ? x : em_log1p_d(ember_exp_d(x));
}

/// tanh of a double y ≥ 0 (softplus values) in double.
EM_INLINE double em_tanh_pos_d(double y) {
    const double e = em_expm1_mid(y > 20.0 ? 40.0 : 2.0 * y);
    return e / (e + 2.0);
}

/// mish x = x·tanh(softplus x) for float.
EM_INLINE float ember_mishf(float x) {
    const double d = (double)x;
    return (float)(d * em_tanh_pos_d(em_softplus_d(d)));
}

/// softplus with PyTorch's beta and threshold: x where beta·x > threshold, else
/// log(1 + e^{beta·x})/beta (beta·x rounded to float first, as PyTorch computes it).
EM_INLINE float ember_softplusf(float x, float beta, float threshold) {
    const float bx = x * beta;
    const float y = (float)(em_log1p_d(ember_exp_d((double)bx)) / (double)beta);
    return bx > threshold ? x : y;
}

/// gelu with the tanh approximation, 0.5·x·(1 + tanh u), u = √(2/π)·(x + 0.044715x³), for
/// float, as x/(1 + e^{−2u}) (the same value: 1 + tanh u = 2/(1 + e^{−2u})), in double and
/// rounded once; the 1 + tanh form cancels for negative x (at x = −7 all its bits are noise).
EM_INLINE float ember_gelu_tanhf(float x) {
    const double d = (double)x;
    const double u = 0.79788456080286536 * (d + 0.044715 * d * d * d);
    return (float)(d / (1.0 + ember_exp_d(-2.0 * u)));
}

/// a + b = s + e exactly (Knuth's TwoSum: any magnitudes).
EM_INLINE double em_two_sum(double a, double b, double* e) {
    const double s = a + b;
    const double bb = s - a;
    *e = (a - (s - bb)) + (b - bb);
    return s;
}

/// a·b = p + e exactly (Dekker's product with Veltkamp's split: no FMA), |a|, |b| < 2^995.
EM_INLINE double em_two_prod(double a, double b, double* e) {
    const double p = a * b;
    const double as = a * 134217729.0, bs = b * 134217729.0;   // 2^27 + 1
    const double ah = as - (as - a), al = a - ah;
    const double bh = bs - (bs - b), bl = b - bh;
    *e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    return p;
}

// MARK: sin and cos

/// π/2 = EM_PIO2_1 + EM_PIO2_2 + EM_PIO2_3 + O(2^-101), each part with ≤ 33 significant bits,
/// so that k·part is exact for |k| < 2^20 (scripts/make_math_tables.py computes them).
#define EM_PIO2_1 0x1.921fb544p+0
#define EM_PIO2_2 0x1.0b4611a6p-34
#define EM_PIO2_3 0x1.3198a2ep-69
#define EM_2_PI 0x1.45f306dc9c883p-1
#define EM_PIO2 0x1.921fb54442d18p+0
/// The three-part reduction is used below this |x| (k < 2^19); above it, ember_rem_pio2_big.
#define EM_TRIG_SMALL 0x1p19

/// sin r and cos r for |r| ≤ π/4 + a little, r = hi + lo (|lo| ≲ 2^-52·|hi|): Taylor series
/// to r^19 and r^20 (truncation < 2^-58), the lo part added to first order.
EM_INLINE void em_sincos_poly(double hi, double lo, double* s, double* c) {
    const double z = hi * hi;
    double ps = -1.0 / 121645100408832000.0;   // −1/19!
    ps = ps * z + 1.0 / 355687428096000.0;
    ps = ps * z - 1.0 / 1307674368000.0;
    ps = ps * z + 1.0 / 6227020800.0;
    ps = ps * z - 1.0 / 39916800.0;
    ps = ps * z + 1.0 / 362880.0;
    ps = ps * z - 1.0 / 5040.0;
    ps = ps * z + 1.0 / 120.0;
    ps = ps * z - 1.0 / 6.0;
    double pc = 1.0 / 2432902008176640000.0;   // 1/20!
    pc = pc * z - 1.0 / 6402373705728000.0;
    pc = pc * z + 1.0 / 20922789888000.0;
    pc = pc * z - 1.0 / 87178291200.0;
    pc = pc * z + 1.0 / 479001600.0;
    pc = pc * z - 1.0 / 3628800.0;
    pc = pc * z + 1.0 / 40320.0;
    pc = pc * z - 1.0 / 720.0;
    pc = pc * z + 1.0 / 24.0;
    // hi² exactly (Dekker), so that cos = 1 − hi²/2 + … loses nothing in its largest
    // correction: w = 1 − hz rounded, then its rounding error, hi²'s low part, the series
    // rest and −hi·lo (sin hi·lo) added back.
    double zl;
    const double zx = em_two_prod(hi, hi, &zl);
    const double hz = 0.5 * zx;
    const double w = 1.0 - hz;
    *c = w + (((((1.0 - w) - hz) - 0.5 * zl) + z * z * pc) - hi * lo);
    *s = hi + ((hi * z * ps + lo) - 0.5 * z * lo);
}

/// x = k·π/2 + (hi + lo) for |x| < EM_TRIG_SMALL: the three-part Cody–Waite reduction, exact
/// up to the last subtraction (x − k·part1 is exact by Sterbenz, k·parts are exact), carried
/// in two doubles. Returns k (its low two bits pick the quadrant).
EM_INLINE uint64_t em_rem_pio2_small(double x, double* hi, double* lo) {
    const double t = x * EM_2_PI + EM_SHIFT;
    const double k = t - EM_SHIFT;
    const double r1 = x - k * EM_PIO2_1;
    const double p2 = k * EM_PIO2_2, p3 = k * EM_PIO2_3;
    const double r2 = r1 - p2;
    const double e2 = (r1 - r2) - p2;          // exact: |p2| ≤ |r1| or r1 − p2 exact anyway
    const double r = r2 - p3;
    *lo = ((r2 - r) - p3) + e2;
    *hi = r;
    return em_bits(t) - em_bits(EM_SHIFT);
}

/// Payne–Hanek for |x| ≥ EM_TRIG_SMALL, finite: x·2/π mod 4 from a 192-bit window of 2/π's
/// bits (ember_math.c). Not inline: rare, scalar, 128-bit integer products.
uint64_t ember_rem_pio2_big(double x, double* hi, double* lo);

/// sin and cos of the reduced argument for quadrant q.
EM_INLINE double em_sin_quadrant(uint64_t q, double hi, double lo) {
    double s, c;
    em_sincos_poly(hi, lo, &s, &c);
    const double v = (q & 1) ? c : s;
    return (q & 2) ? -v : v;
}
EM_INLINE double em_cos_quadrant(uint64_t q, double hi, double lo) {
    double s, c;
    em_sincos_poly(hi, lo, &s, &c);
    const double v = (q & 1) ? s : c;
    return ((q + 1) & 2) ? -v : v;
}

/// sin and cos of a float with |x| < EM_TRIG_SMALL (else undefined: the kernels check), in
/// vectorisable form.
EM_INLINE float ember_sinf_small(float x) {
    double hi, lo;
    const uint64_t q = em_rem_pio2_small((double)x, &hi, &lo);
    const float y = (float)em_sin_quadrant(q, hi, lo);
    return x == 0.0f ? x : y;                       // sin(±0) = ±0
}
EM_INLINE float ember_cosf_small(float x) {
    double hi, lo;
    const uint64_t q = em_rem_pio2_small((double)x, &hi, &lo);
    return (float)em_cos_quadrant(q, hi, lo);
}
/// Both at once (Box–Muller), |x| < EM_TRIG_SMALL.
EM_INLINE void ember_sincosf_small(float x, float* s, float* c) {
    double hi, lo, ps, pc;
    const uint64_t q = em_rem_pio2_small((double)x, &hi, &lo);
    em_sincos_poly(hi, lo, &ps, &pc);
    const double sv = (q & 1) ? pc : ps, cv = (q & 1) ? ps : pc;
    *s = x == 0.0f ? x : (float)((q & 2) ? -sv : sv);
    *c = (float)(((q + 1) & 2) ? -cv : cv);
}

/// Whether a float needs the general (scalar) path of sin/cos: large, infinite or NaN.
EM_INLINE int ember_trig_is_big(float x) {
    return !((x < 0 ? -x : x) < (float)EM_TRIG_SMALL);
}

/// sin/cos for any float (scalar: the big reduction is a call).
float ember_sinf(float x);
float ember_cosf(float x);

// MARK: erf

/// erf z for 0 ≤ z < 2.5: (2/√π)·z·e^{−z²}·Σ (2z²)^n/(2n+1)!!, all terms positive (no
/// cancellation), 36 terms (< 2^-52 relative at z = 2.5). e^{−z²} with z² split exactly.
EM_INLINE double em_erf_series(double z) {
    const double a = 2.0 * z * z;
    double t = 1.0, s = 1.0;
    #pragma clang loop unroll(full)
    for (int n = 1; n < 36; n++) {
        t = t * (a * (1.0 / (double)(2 * n + 1)));   // a constant reciprocal: no division
        s += t;
    }
    // z = zh + zl with zh of 26 bits: z² = zh² + (z − zh)(z + zh), zh² exact.
    const double zh = em_double(em_bits(z) & 0xFFFFFFFFF8000000ULL);
    const double g = ember_exp_d(-zh * zh) * ember_exp_d(-(z - zh) * (z + zh));
    return 1.1283791670955126 * z * g * s;
}

/// erfc z for z ≥ 2.5: e^{−z²}/√π / (z + (1/2)/(z + 1/(z + (3/2)/(z + …)))), the continued
/// fraction evaluated from its `terms`-th level up (40 levels: < 2^-50 relative; 16: < 1e-13
/// absolute, enough for float erf).
EM_INLINE double em_erfc_cf(double z, int terms) {
    double f = z;
    #pragma clang loop unroll(full)
    for (int n = terms; n > 0; n--) f = z + (0.5 * (double)n) / f;
    const double zh = em_double(em_bits(z) & 0xFFFFFFFFF8000000ULL);
    const double g = ember_exp_d(-zh * zh) * ember_exp_d(-(z - zh) * (z + zh));
    return 0.56418958354775629 * g / f;
}

/// erf x for float with |x| < 2.5 (the series alone: the kernels take blocks without a
/// larger argument through it, in vector form).
EM_INLINE float ember_erff_small(float x) {
    const float y = em_copysignf((float)em_erf_series(em_fabs((double)x)), x);
    return x == 0.0f ? x : y;
}

/// erf x for float: the series below 2.5, 1 − erfc (16-level fraction) up to 4, ±1 beyond
/// (erf rounds to 1 in float from 3.92 on).
EM_INLINE float ember_erff(float x) {
    const double z = em_fabs((double)x);
    const double zs = z < 2.5 ? z : 2.5, zc = z < 2.5 ? 2.5 : (z > 4.0 ? 4.0 : z);
    const double v = z < 2.5 ? em_erf_series(zs) : 1.0 - em_erfc_cf(zc, 16);
    const float y = em_copysignf((float)v, x);
    return x != x ? x : (x == 0.0f ? x : y);
}

// MARK: pow

/// Whether y is an integer (every |y| ≥ 2^52 is) and whether it is odd.
EM_INLINE void em_int_parity(double y, int* is_int, int* is_odd) {
    const double a = em_fabs(y);
    const double t = a + 0x1p52;                    // integer part in the low bits below 2^52
    const int small = a < 0x1p52;
    *is_int = small ? (t - 0x1p52 == a) : 1;
    *is_odd = small ? (*is_int && (em_bits(t) & 1)) : (a < 0x1p53 && (em_bits(a) & 1));
}

/// log x as hi + lo for a positive finite x, for pow: the reduction of ember_log_d with f,
/// f²/2 (exact, Dekker) and k·ln2_hi summed exactly and only the small rest, s·(f²/2 + R),
/// rounded: ~2^-60 relative, so that y·log x keeps its bits for |y·log x| up to ~700.
EM_INLINE double em_log_dd(double x, double* lo) {
    double k, f, s, R;
    em_log_reduce(x, &k, &f, &s, &R);
    double ffl;
    const double ff = em_two_prod(f, f, &ffl);
    const double hh = 0.5 * ff, hl = 0.5 * ffl;              // f²/2 = hh + hl exactly
    // log(1+f) = f − f²/2 + s·(f²/2 + R)
    const double w = s * (hh + R) + (k * EM_LN2_LO - hl);
    double e1, e2;
    const double p = em_two_sum(f, -hh, &e1);
    const double q = em_two_sum(k * EM_LN2_HI, p, &e2);      // k·ln2_hi is exact
    const double tail = (e2 + e1) + w;
    const double hi = q + tail;
    *lo = tail - (hi - q);
    return hi;
}

/// x^y in double with C99 Annex F's special cases: pow(x, ±0) = 1 and pow(1, y) = 1 even for
/// NaN, pow(−1, ±inf) = 1, a negative finite x with a non-integer finite y gives NaN, the
/// sign of ±0 and −inf kept for odd integer y; else e^{y·log|x|} with log|x| and the product
/// carried in two doubles (em_log_dd, em_two_prod): within ~1 ulp.
EM_INLINE double ember_pow_d(double x, double y) {
    int is_int, is_odd;
    em_int_parity(y, &is_int, &is_odd);
    const double ax = em_fabs(x);
    double llo;
    const double lhi = em_log_dd(ax, &llo);
    // |y| capped at 2^64: past it every |x| ≠ 1 over- or underflows anyway (|log x| ≥ 2^-53),
    // and the split in em_two_prod stays finite.
    const double yc = y > 0x1p64 ? 0x1p64 : (y < -0x1p64 ? -0x1p64 : y);
    double pe;
    const double ph = em_two_prod(yc, lhi, &pe);
    const double pl = pe + yc * llo;
    const double r0 = em_exp2part(ph, ph - ph == 0.0 && pl - pl == 0.0 ? pl : 0.0);
    // ax = 0 or inf: y·log gives ∓inf directly; NaN stays NaN.
    const double inf = __builtin_inf();
    const double lspec = ax == 0.0 ? -inf : ax;              // log(0) = −inf, log(inf) = inf
    const double r = (ax == 0.0 || ax == inf || ax != ax) ? em_exp2part(y * lspec, 0.0) : r0;
    const int neg = (em_bits(x) >> 63) != 0;
    double v = neg && is_odd ? -r : r;
    v = (x < 0.0 && x > -inf && y == y && !is_int) ? __builtin_nan("") : v;
    v = (ax == 1.0 && (y == inf || y == -inf)) ? 1.0 : v;   // (−1)^±inf; 1^y below
    v = (y == 0.0 || x == 1.0) ? 1.0 : v;
    return v;
}

/// x^y for float: ember_pow_d rounded once (x and y are exact in double).
EM_INLINE float ember_powf(float x, float y) { return (float)ember_pow_d((double)x, (double)y); }

#endif
