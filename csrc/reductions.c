// Sums, max and argmax. Fixed chunking and a fixed combine order everywhere: the result
// never depends on the thread count.
#include "internal.h"
#include "ember_math.h"
#include <math.h>

// At most this many partial sums: the chunk size grows with n (a function of n only).
#define MAX_PARTIALS 256
#define MIN_CHUNK 4096

// Chunks [lo, hi) of `chunk` elements: each summed by one thread, in order, into partial[c].
EMBER_SIMD
static void sum_chunks(double* partial, const float* inp, int64_t n, int64_t chunk, int64_t lo,
                       int64_t hi) {
    for (int64_t c = lo; c < hi; c++) {
        const int64_t s = c * chunk, e = s + chunk < n ? s + chunk : n;
        // Blocks of 256: 8 float lanes of 32 values each (vectorised, fixed lane order, small
        // rounding error), then into double.
        double acc = 0.0;
        for (int64_t b = s; b < e; b += 256) {
            const int64_t be = b + 256 < e ? b + 256 : e;
            float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int64_t i = b;
            for (; i + 8 <= be; i += 8)
                for (int l = 0; l < 8; l++) lanes[l] += inp[i + l];
            for (int l = 0; l < 8; l++) acc += lanes[l];
            for (; i < be; i++) acc += inp[i];
        }
        partial[c] = acc;
    }
}

double ember_sum_f32(const float* inp, int64_t n) {
    int64_t chunk = (n + MAX_PARTIALS - 1) / MAX_PARTIALS;
    if (chunk < MIN_CHUNK) chunk = MIN_CHUNK;
    const int64_t chunks = (n + chunk - 1) / chunk;
    double partial[MAX_PARTIALS];
    // Partials are combined in order below, whoever computed them.
    EMBER_PARALLEL(ember_team(n), chunks, sum_chunks, partial, inp, n, chunk);
    double total = 0.0;
    for (int64_t c = 0; c < chunks; c++) total += partial[c];
    return total;
}

int64_t ember_sum_i64(const int64_t* inp, int64_t n) {
    int64_t s = 0;   // integer addition is associative: any order gives the same bits
    for (int64_t i = 0; i < n; i++) s += inp[i];
    return s;
}

int64_t ember_count_u8(const uint8_t* inp, int64_t n) {
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++) s += inp[i] != 0;
    return s;
}

EMBER_SIMD
static void sum_dim_rows(float* out, const float* inp, int64_t dim, int64_t inner, int64_t lo,
                         int64_t hi) {
    if (inner == 1) {
        // One output per row, summed in order in double.
        for (int64_t o = lo; o < hi; o++) {
            const float* p = inp + o * dim;
            double acc = 0.0;
            for (int64_t d = 0; d < dim; d++) acc += p[d];
            out[o] = (float)acc;
        }
        return;
    }
    // Rows of the reduced dim are added in order into each output row (vectorised over inner).
    for (int64_t o = lo; o < hi; o++) {
        float* q = out + o * inner;
        for (int64_t j = 0; j < inner; j++) q[j] = 0.0f;
        for (int64_t d = 0; d < dim; d++) {
            const float* p = inp + (o * dim + d) * inner;
            for (int64_t j = 0; j < inner; j++) q[j] += p[j];
        }
    }
}

void ember_sum_dim_f32(float* out, const float* inp, int64_t outer, int64_t dim, int64_t inner) {
    EMBER_PARALLEL(ember_team(outer * dim * inner), outer, sum_dim_rows, out, inp, dim, inner);
}

#define DEFINE_MAX_DIM(NAME, T, ISNAN)                                                       \
    void NAME(T* values, int64_t* indices, const T* inp, int64_t outer, int64_t dim,         \
              int64_t inner) {                                                               \
        const int nt = ember_team(outer * dim * inner);                                      \
        EMBER_FOR(nt, o, outer,                                                              \
            for (int64_t j = 0; j < inner; j++) {                                            \
                const T* p = inp + o * dim * inner + j;                                      \
                T best = p[0];                                                               \
                int64_t bi = 0;                                                              \
                for (int64_t d = 1; d < dim && !ISNAN(best); d++) {                          \
                    const T v = p[d * inner];                                                \
                    if (v > best || ISNAN(v)) { best = v; bi = d; }                          \
                }                                                                            \
                if (values) values[o * inner + j] = best;                                    \
                if (indices) indices[o * inner + j] = bi;                                    \
            }                                                                                \
        );                                                                                   \
    }
#define F_ISNAN(x) ((x) != (x))
#define I_ISNAN(x) 0
DEFINE_MAX_DIM(ember_max_dim_f32, float, F_ISNAN)
DEFINE_MAX_DIM(ember_max_dim_i64, int64_t, I_ISNAN)

static float reduce_row(int op, const float* x, int64_t n, double param) {
    switch (op) {
    case EMBER_RED_PROD: {
        double p = 1.0;
        for (int64_t i = 0; i < n; i++) p *= x[i];
        return (float)p;
    }
    case EMBER_RED_AMAX:
    case EMBER_RED_AMIN: {
        float m = op == EMBER_RED_AMAX ? -__builtin_inff() : __builtin_inff();
        for (int64_t i = 0; i < n; i++) {
            if (x[i] != x[i]) return x[i];
            m = op == EMBER_RED_AMAX ? (x[i] > m ? x[i] : m) : (x[i] < m ? x[i] : m);
        }
        return m;
    }
    case EMBER_RED_VAR: {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) s += x[i];
        const double mean = s / (double)n;
        double q = 0.0;
        for (int64_t i = 0; i < n; i++) q += ((double)x[i] - mean) * ((double)x[i] - mean);
        const double dof = (double)n - param;
        return (float)(dof > 0 ? q / dof : (q == 0.0 || n == 0 ? NAN : q / 0.0));
    }
    case EMBER_RED_LOGSUMEXP: {
        float m = -__builtin_inff();
        for (int64_t i = 0; i < n; i++) {
            if (x[i] != x[i]) return x[i];
            m = x[i] > m ? x[i] : m;
        }
        if (m == __builtin_inff() || m == -__builtin_inff()) return m;
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) s += ember_exp_d((double)x[i] - (double)m);
        return (float)((double)m + ember_log_d(s));
    }
    default: {   // EMBER_RED_NORM
        const double p = param;
        if (isinf(p)) {
            double m = p > 0 ? 0.0 : INFINITY;
            for (int64_t i = 0; i < n; i++) {
                const double a = fabs((double)x[i]);
                if (a != a) return (float)a;
                m = p > 0 ? (a > m ? a : m) : (a < m ? a : m);
            }
            return (float)m;
        }
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const double a = fabs((double)x[i]);
            s += p == 0 ? (a != 0) : p == 1 ? a : p == 2 ? a * a : ember_pow_d(a, p);
        }
        return (float)(p == 0 || p == 1 ? s : p == 2 ? sqrt(s) : ember_pow_d(s, 1.0 / p));
    }
    }
}

void ember_reduce_rows_f32(int op, float* out, const float* inp, int64_t rows, int64_t cols,
                           double param) {
    const int nt = ember_team(rows * cols);
    EMBER_FOR(nt, r, rows, out[r] = reduce_row(op, inp + r * cols, cols, param););
}

void ember_cumulative_f32(int op, float* out, const float* inp, int64_t outer, int64_t dim,
                          int64_t inner) {
    const int nt = ember_team(outer * dim * inner);
    EMBER_FOR(nt, o, outer,
        for (int64_t j = 0; j < inner; j++) {
            double acc = op == 0 ? 0.0 : 1.0;
            for (int64_t d = 0; d < dim; d++) {
                const int64_t k = (o * dim + d) * inner + j;
                acc = op == 0 ? acc + inp[k] : acc * inp[k];
                out[k] = (float)acc;
            }
        }
    );
}
