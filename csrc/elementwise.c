// Broadcasting elementwise ops, unary maps and dtype conversions.
//
// A binary op sees its operands through strides over the output shape (0 along broadcast
// dims). Three loops: flat (both operands contiguous), scalar operand, and the general
// strided walk (one output row per iteration). Each op gets its own loops through the
// macros below so that the compiler vectorises the inner loop; no switch per element.
#include "internal.h"
#include "ember_math.h"
#include <math.h>
#include <string.h>

static int is_contiguous(int ndim, const int64_t* shape, const int64_t* strides) {
    int64_t expect = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        if (shape[d] != 1 && strides[d] != expect) return 0;
        expect *= shape[d];
    }
    return 1;
}
static int is_scalar(int ndim, const int64_t* strides, const int64_t* shape) {
    for (int d = 0; d < ndim; d++) if (shape[d] != 1 && strides[d] != 0) return 0;
    return 1;
}
static int64_t numel(int ndim, const int64_t* shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}
// Offset of row r (all dims but the last) in an operand with the given strides.
static int64_t row_offset(int64_t r, int ndim, const int64_t* shape, const int64_t* strides) {
    int64_t off = 0;
    for (int d = ndim - 2; d >= 0; d--) {
        off += (r % shape[d]) * strides[d];
        r /= shape[d];
    }
    return off;
}

// Per op: one EMBER_SIMD range function per loop shape (both operands contiguous, one of
// them a scalar, the general strided walk by output rows), and the dispatcher that picks
// the shape and shares the range out (EMBER_PARALLEL: contiguous ranges per thread).
#define DEFINE_BROADCAST(NAME, TIN, TOUT, EXPR)                                                 \
    EMBER_SIMD static void NAME##_flat(TOUT* out, const TIN* a, const TIN* b, int64_t lo,       \
                                       int64_t hi) {                                            \
        for (int64_t i = lo; i < hi; i++) { TIN x = a[i]; TIN y = b[i]; out[i] = (EXPR); }      \
    }                                                                                           \
    EMBER_SIMD static void NAME##_scalar_b(TOUT* out, const TIN* a, TIN y, int64_t lo,          \
                                           int64_t hi) {                                        \
        for (int64_t i = lo; i < hi; i++) { TIN x = a[i]; out[i] = (EXPR); }                    \
    }                                                                                           \
    EMBER_SIMD static void NAME##_scalar_a(TOUT* out, TIN x, const TIN* b, int64_t lo,          \
                                           int64_t hi) {                                        \
        for (int64_t i = lo; i < hi; i++) { TIN y = b[i]; out[i] = (EXPR); }                    \
    }                                                                                           \
    EMBER_SIMD static void NAME##_rows(TOUT* out, const TIN* a, const TIN* b, int ndim,         \
                                       const int64_t* shape, const int64_t* sa,                 \
                                       const int64_t* sb, int64_t lo, int64_t hi) {             \
        const int64_t inner = shape[ndim - 1];                                                  \
        const int64_t ia = sa[ndim - 1], ib = sb[ndim - 1];                                     \
        for (int64_t r = lo; r < hi; r++) {                                                     \
            const TIN* pa = a + row_offset(r, ndim, shape, sa);                                 \
            const TIN* pb = b + row_offset(r, ndim, shape, sb);                                 \
            TOUT* po = out + r * inner;                                                         \
            for (int64_t j = 0; j < inner; j++) { TIN x = pa[j * ia]; TIN y = pb[j * ib]; po[j] = (EXPR); } \
        }                                                                                       \
    }                                                                                           \
    static void NAME(TOUT* out, const TIN* a, const TIN* b, int ndim, const int64_t* shape,     \
                     const int64_t* sa, const int64_t* sb) {                                    \
        const int64_t n = numel(ndim, shape);                                                   \
        const int nt = ember_team(n);                                                           \
        if (ndim == 0 || (is_contiguous(ndim, shape, sa) && is_contiguous(ndim, shape, sb))) {  \
            EMBER_PARALLEL(nt, n, NAME##_flat, out, a, b);                                      \
            return;                                                                             \
        }                                                                                       \
        if (is_contiguous(ndim, shape, sa) && is_scalar(ndim, sb, shape)) {                     \
            EMBER_PARALLEL(nt, n, NAME##_scalar_b, out, a, b[0]);                               \
            return;                                                                             \
        }                                                                                       \
        if (is_scalar(ndim, sa, shape) && is_contiguous(ndim, shape, sb)) {                     \
            EMBER_PARALLEL(nt, n, NAME##_scalar_a, out, a[0], b);                               \
            return;                                                                             \
        }                                                                                       \
        const int64_t inner = shape[ndim - 1];                                                  \
        const int64_t rows = inner ? n / inner : 0;                                             \
        /* general: one output row per iteration, rows split across threads */                 \
        EMBER_PARALLEL(nt, rows, NAME##_rows, out, a, b, ndim, shape, sa, sb);                  \
    }

static inline int64_t ipow(int64_t x, int64_t y) {
    if (y < 0) return x == 1 ? 1 : (x == -1 ? ((y & 1) ? -1 : 1) : 0);
    int64_t r = 1;
    while (y) { if (y & 1) r *= x; x *= x; y >>= 1; }
    return r;
}
// PyTorch: max/min propagate NaN.
#define FMAX(x, y) ((x) != (x) ? (x) : ((y) != (y) ? (y) : ((x) > (y) ? (x) : (y))))
#define FMIN(x, y) ((x) != (x) ? (x) : ((y) != (y) ? (y) : ((x) < (y) ? (x) : (y))))

DEFINE_BROADCAST(add_f32, float, float, x + y)
DEFINE_BROADCAST(sub_f32, float, float, x - y)
DEFINE_BROADCAST(mul_f32, float, float, x * y)
DEFINE_BROADCAST(div_f32, float, float, x / y)
DEFINE_BROADCAST(pow_f32, float, float, ember_powf(x, y))
DEFINE_BROADCAST(max_f32, float, float, FMAX(x, y))
DEFINE_BROADCAST(min_f32, float, float, FMIN(x, y))
DEFINE_BROADCAST(add_i64, int64_t, int64_t, x + y)
DEFINE_BROADCAST(sub_i64, int64_t, int64_t, x - y)
DEFINE_BROADCAST(mul_i64, int64_t, int64_t, x * y)
DEFINE_BROADCAST(div_i64, int64_t, int64_t, y == 0 ? 0 : x / y)
DEFINE_BROADCAST(pow_i64, int64_t, int64_t, ipow(x, y))
DEFINE_BROADCAST(max_i64, int64_t, int64_t, x > y ? x : y)
DEFINE_BROADCAST(min_i64, int64_t, int64_t, x < y ? x : y)
DEFINE_BROADCAST(eq_f32, float, uint8_t, x == y)
DEFINE_BROADCAST(ne_f32, float, uint8_t, x != y)
DEFINE_BROADCAST(lt_f32, float, uint8_t, x < y)
DEFINE_BROADCAST(le_f32, float, uint8_t, x <= y)
DEFINE_BROADCAST(gt_f32, float, uint8_t, x > y)
DEFINE_BROADCAST(ge_f32, float, uint8_t, x >= y)
DEFINE_BROADCAST(eq_i64, int64_t, uint8_t, x == y)
DEFINE_BROADCAST(ne_i64, int64_t, uint8_t, x != y)
DEFINE_BROADCAST(lt_i64, int64_t, uint8_t, x < y)
DEFINE_BROADCAST(le_i64, int64_t, uint8_t, x <= y)
DEFINE_BROADCAST(gt_i64, int64_t, uint8_t, x > y)
DEFINE_BROADCAST(ge_i64, int64_t, uint8_t, x >= y)

#define BINARY_ARGS out, a, b, ndim, shape, sa, sb
void ember_binary_f32(int op, float* out, const float* a, const float* b, int ndim,
                      const int64_t* shape, const int64_t* sa, const int64_t* sb) {
    switch (op) {
    case EMBER_ADD: add_f32(BINARY_ARGS); break;
    case EMBER_SUB: sub_f32(BINARY_ARGS); break;
    case EMBER_MUL: mul_f32(BINARY_ARGS); break;
    case EMBER_DIV: div_f32(BINARY_ARGS); break;
    case EMBER_POW: pow_f32(BINARY_ARGS); break;
    case EMBER_MAXIMUM: max_f32(BINARY_ARGS); break;
    case EMBER_MINIMUM: min_f32(BINARY_ARGS); break;
    }
}
void ember_binary_i64(int op, int64_t* out, const int64_t* a, const int64_t* b, int ndim,
                      const int64_t* shape, const int64_t* sa, const int64_t* sb) {
    switch (op) {
    case EMBER_ADD: add_i64(BINARY_ARGS); break;
    case EMBER_SUB: sub_i64(BINARY_ARGS); break;
    case EMBER_MUL: mul_i64(BINARY_ARGS); break;
    case EMBER_DIV: div_i64(BINARY_ARGS); break;
    case EMBER_POW: pow_i64(BINARY_ARGS); break;
    case EMBER_MAXIMUM: max_i64(BINARY_ARGS); break;
    case EMBER_MINIMUM: min_i64(BINARY_ARGS); break;
    }
}
void ember_compare_f32(int op, uint8_t* out, const float* a, const float* b, int ndim,
                       const int64_t* shape, const int64_t* sa, const int64_t* sb) {
    switch (op) {
    case EMBER_EQ: eq_f32(BINARY_ARGS); break;
    case EMBER_NE: ne_f32(BINARY_ARGS); break;
    case EMBER_LT: lt_f32(BINARY_ARGS); break;
    case EMBER_LE: le_f32(BINARY_ARGS); break;
    case EMBER_GT: gt_f32(BINARY_ARGS); break;
    case EMBER_GE: ge_f32(BINARY_ARGS); break;
    }
}
void ember_compare_i64(int op, uint8_t* out, const int64_t* a, const int64_t* b, int ndim,
                       const int64_t* shape, const int64_t* sa, const int64_t* sb) {
    switch (op) {
    case EMBER_EQ: eq_i64(BINARY_ARGS); break;
    case EMBER_NE: ne_i64(BINARY_ARGS); break;
    case EMBER_LT: lt_i64(BINARY_ARGS); break;
    case EMBER_LE: le_i64(BINARY_ARGS); break;
    case EMBER_GT: gt_i64(BINARY_ARGS); break;
    case EMBER_GE: ge_i64(BINARY_ARGS); break;
    }
}

// x with the low 12 bits of its significand cleared: its square is exact in float, so x² can
// be split as xh² + (x − xh)(x + xh) without losing the bits that exp(−x²/2) would magnify.
static inline float ember_high_half(float x) {
    union { float f; uint32_t u; } v = {x};
    v.u &= 0xFFFFF000u;
    return v.f;
}

// exp(−x²/2 + extra) with −x²/2 split as −xh²/2 (exact) + −(x − xh)(x + xh)/2 (small): one
// expf of −x²/2 rounded would be off by ~x²·2⁻²⁴ relative (1e-5 at x = −12).
static inline float ember_exp_half_square(float x, float extra) {
    const float a = fabsf(x), ah = ember_high_half(a);
    return ember_exp_sum(-0.5f * ah * ah, extra - 0.5f * (a - ah) * (a + ah));
}

// 2Φ(x) = 1 + erf(x/√2) = erfc(−x/√2), through erfc on the side where it is small, so that
// both halves keep their relative accuracy (GELU's far negative tail is x·Φ(x), Φ tiny).
// erfc(z), z = |x|/√2, is Numerical Recipes' erfcc: t = 1/(1 + z/2), erfc = t·exp(−z² + P(t)),
// relative error < 1.2e-7 in exact arithmetic. Plain +, ×, ÷ and ember_expf: it vectorises, and
// gives the same bits on every path, unlike libm's scalar erff.
static inline float ember_two_phi(float x) {
    const float z = fabsf(x) * 0.70710678118654752f;
    const float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const float c = t * ember_exp_half_square(x, p);   // z² = x²/2
    return x < 0.0f ? c : 2.0f - c;
}

EMBER_SIMD static void gelu_f32_range(float* out, const float* inp, int64_t lo, int64_t hi) {
    EMBER_INTERLEAVE
    for (int64_t i = lo; i < hi; i++) { const float x = inp[i]; out[i] = 0.5f * x * ember_two_phi(x); }
}
static void gelu_f32(float* out, const float* inp, int64_t n) {
    EMBER_PARALLEL(ember_team(n), n, gelu_f32_range, out, inp);
}

// Autograd's forward also keeps 2Φ(x) (the same expression as gelu_f32, so the same bits), and
// the backward, dinp = dout · (Φ(x) + x·φ(x)), takes it: one exp per element instead of
// recomputing the erfc polynomial, its division and its exp.
EMBER_SIMD static void gelu_saving_range(float* out, float* two_phi, const float* inp, int64_t lo, int64_t hi) {
    EMBER_INTERLEAVE
    for (int64_t i = lo; i < hi; i++) {
        const float x = inp[i], c = ember_two_phi(x);
        two_phi[i] = c;
        out[i] = 0.5f * x * c;
    }
}

void ember_gelu_forward_saving(float* out, float* two_phi, const float* inp, int64_t n) {
    EMBER_PARALLEL(ember_team(n), n, gelu_saving_range, out, two_phi, inp);
}

EMBER_SIMD static void gelu_backward_range(float* dinp, const float* dout, const float* inp,
                                           const float* two_phi, int64_t lo, int64_t hi) {
    EMBER_INTERLEAVE
    for (int64_t i = lo; i < hi; i++) {
        const float x = inp[i];
        const float pdf = ember_exp_half_square(x, 0.0f) * 0.39894228040143267794f;
        dinp[i] = dout[i] * (0.5f * two_phi[i] + x * pdf);
    }
}

void ember_gelu_backward(float* dinp, const float* dout, const float* inp, const float* two_phi, int64_t n) {
    EMBER_PARALLEL(ember_team(n), n, gelu_backward_range, dinp, dout, inp, two_phi);
}

#define DEFINE_UNARY(NAME, EXPR)                                                            \
    EMBER_SIMD static void NAME##_range(float* out, const float* inp, int64_t lo, int64_t hi) { \
        for (int64_t i = lo; i < hi; i++) { float x = inp[i]; out[i] = (EXPR); }               \
    }                                                                                          \
    static void NAME(float* out, const float* inp, int64_t n) {                                \
        EMBER_PARALLEL(ember_team(n), n, NAME##_range, out, inp);                              \
    }
// A map with a cheap form for most arguments: blocks of 256 whose arguments all pass take it
// in vector form; a block holding a "big" one goes through the general function. sin and
// cos: |x| < EM_TRIG_SMALL, where the reduction is branch-free (the big reduction is a
// call). The check reads the block before anything is written: in-place calls are fine.
#define DEFINE_SPLIT(NAME, IS_BIG, SMALL, GENERAL)                                              \
    EMBER_SIMD static void NAME##_range(float* out, const float* inp, int64_t lo, int64_t hi) { \
        for (int64_t b = lo; b < hi; b += 256) {                                               \
            const int64_t e = b + 256 < hi ? b + 256 : hi;                                     \
            int big = 0;                                                                       \
            for (int64_t i = b; i < e; i++) big |= IS_BIG(inp[i]);                             \
            if (big) {                                                                         \
                for (int64_t i = b; i < e; i++) out[i] = GENERAL(inp[i]);                      \
            } else {                                                                           \
                EMBER_INTERLEAVE                                                               \
                for (int64_t i = b; i < e; i++) out[i] = SMALL(inp[i]);                        \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    static void NAME(float* out, const float* inp, int64_t n) {                                \
        EMBER_PARALLEL(ember_team(n), n, NAME##_range, out, inp);                              \
    }
DEFINE_UNARY(neg_f32, -x)
DEFINE_UNARY(exp_f32, ember_expf_cr(x))
DEFINE_UNARY(log_f32, ember_logf(x))
DEFINE_UNARY(sqrt_f32, sqrtf(x))
DEFINE_UNARY(abs_f32, fabsf(x))
DEFINE_UNARY(tanh_f32, ember_tanhf(x))
DEFINE_UNARY(sigmoid_f32, ember_sigmoidf(x))
DEFINE_SPLIT(sin_f32, ember_trig_is_big, ember_sinf_small, ember_sinf)
DEFINE_SPLIT(cos_f32, ember_trig_is_big, ember_cosf_small, ember_cosf)
DEFINE_UNARY(rsqrt_f32, 1.0f / sqrtf(x))
DEFINE_UNARY(reciprocal_f32, 1.0f / x)
DEFINE_UNARY(square_f32, x * x)
DEFINE_UNARY(sign_f32, x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : (x == 0.0f ? 0.0f : x)))
DEFINE_UNARY(floor_f32, floorf(x))
DEFINE_UNARY(ceil_f32, ceilf(x))
DEFINE_UNARY(round_f32, rintf(x))   // half to even, as torch.round
DEFINE_UNARY(trunc_f32, truncf(x))
DEFINE_UNARY(log1p_f32, ember_log1pf(x))
DEFINE_UNARY(expm1_f32, ember_expm1f(x))
DEFINE_UNARY(log2_f32, ember_log2f(x))
// erf: blocks with every |x| < 2.5 skip the continued fraction (16 divisions) in vector form.
static inline int erf_is_big(float x) { return !((x < 0 ? -x : x) < 2.5f); }
DEFINE_SPLIT(erf_f32, erf_is_big, ember_erff_small, ember_erff)
DEFINE_UNARY(gelu_tanh_f32, ember_gelu_tanhf(x))
DEFINE_UNARY(silu_f32, ember_siluf(x))
DEFINE_UNARY(mish_f32, ember_mishf(x))

void ember_unary_f32(int op, float* out, const float* inp, int64_t n) {
    switch (op) {
    case EMBER_NEG: neg_f32(out, inp, n); break;
    case EMBER_EXP: exp_f32(out, inp, n); break;
    case EMBER_LOG: log_f32(out, inp, n); break;
    case EMBER_SQRT: sqrt_f32(out, inp, n); break;
    case EMBER_ABS: abs_f32(out, inp, n); break;
    case EMBER_TANH: tanh_f32(out, inp, n); break;
    case EMBER_SIGMOID: sigmoid_f32(out, inp, n); break;
    case EMBER_SIN: sin_f32(out, inp, n); break;
    case EMBER_COS: cos_f32(out, inp, n); break;
    case EMBER_RSQRT: rsqrt_f32(out, inp, n); break;
    case EMBER_RECIPROCAL: reciprocal_f32(out, inp, n); break;
    case EMBER_SQUARE: square_f32(out, inp, n); break;
    case EMBER_SIGN: sign_f32(out, inp, n); break;
    case EMBER_FLOOR: floor_f32(out, inp, n); break;
    case EMBER_CEIL: ceil_f32(out, inp, n); break;
    case EMBER_ROUND: round_f32(out, inp, n); break;
    case EMBER_TRUNC: trunc_f32(out, inp, n); break;
    case EMBER_LOG1P: log1p_f32(out, inp, n); break;
    case EMBER_EXPM1: expm1_f32(out, inp, n); break;
    case EMBER_LOG2: log2_f32(out, inp, n); break;
    case EMBER_ERF: erf_f32(out, inp, n); break;
    case EMBER_GELU: gelu_f32(out, inp, n); break;
    case EMBER_GELU_TANH: gelu_tanh_f32(out, inp, n); break;
    case EMBER_SILU: silu_f32(out, inp, n); break;
    case EMBER_MISH: mish_f32(out, inp, n); break;
    }
}

// Maps with two parameters a, b.
#define DEFINE_UNARY2(NAME, EXPR)                                                               \
    EMBER_SIMD static void NAME##_range(float* out, const float* inp, float a, float b,        \
                                        int64_t lo, int64_t hi) {                               \
        for (int64_t i = lo; i < hi; i++) { float x = inp[i]; out[i] = (EXPR); }               \
    }
DEFINE_UNARY2(leaky_relu_f32, x > 0.0f ? x : x * a)
DEFINE_UNARY2(elu_f32, x > 0.0f ? x : a * ember_expm1f(x))
DEFINE_UNARY2(hardtanh_f32, x < a ? a : (x > b ? b : x))
DEFINE_UNARY2(softplus_f32, ember_softplusf(x, a, b))

void ember_unary2_f32(int op, float* out, const float* inp, int64_t n, float a, float b) {
    const int nt = ember_team(n);
    switch (op) {
    case EMBER_LEAKY_RELU: EMBER_PARALLEL(nt, n, leaky_relu_f32_range, out, inp, a, b); break;
    case EMBER_ELU: EMBER_PARALLEL(nt, n, elu_f32_range, out, inp, a, b); break;
    case EMBER_HARDTANH: EMBER_PARALLEL(nt, n, hardtanh_f32_range, out, inp, a, b); break;
    case EMBER_SOFTPLUS: EMBER_PARALLEL(nt, n, softplus_f32_range, out, inp, a, b); break;
    }
}

EMBER_SIMD
static void fill_f32_range(float* out, float value, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) out[i] = value;
}
EMBER_SIMD
static void affine_f32_range(float* out, const float* x, float a, float b, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) out[i] = a * x[i] + b;
}
void ember_affine_f32(float* out, const float* x, float a, float b, int64_t n) {
    if (!x)
        EMBER_PARALLEL(ember_team(n), n, fill_f32_range, out, b);
    else
        EMBER_PARALLEL(ember_team(n), n, affine_f32_range, out, x, a, b);
}

EMBER_SIMD
static void axpy_f32_range(float* y, const float* x, float alpha, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) y[i] += alpha * x[i];
}
void ember_axpy_f32(float* y, const float* x, float alpha, int64_t n) {
    EMBER_PARALLEL(ember_team(n), n, axpy_f32_range, y, x, alpha);
}

void ember_f32_to_i64(int64_t* out, const float* inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = (int64_t)inp[i];   // truncation, as PyTorch
}
void ember_i64_to_f32(float* out, const int64_t* inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = (float)inp[i];
}
EMBER_SIMD
static void u8_to_f32_range(float* out, const uint8_t* inp, float scale, float shift, int64_t lo,
                            int64_t hi) {
    for (int64_t i = lo; i < hi; i++) out[i] = (float)inp[i] * scale + shift;
}
void ember_u8_to_f32(float* out, const uint8_t* inp, int64_t n, float scale, float shift) {
    EMBER_PARALLEL(ember_team(n), n, u8_to_f32_range, out, inp, scale, shift);
}
void ember_f32_to_u8(uint8_t* out, const float* inp, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] != 0.0f;
}
void ember_fill_i64(int64_t* out, int64_t value, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = value;
}

