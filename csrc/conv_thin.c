// Direct convolution for thin inputs: a network's first layer (3×3 kernel, at most 3 input
// channels, stride 1, one group), where im2col's product has so short a chain (K = 9 for
// MNIST) that the GEMM spends its time loading and storing C. Every element is one FMA chain
// in a fixed order, and the generic path runs the same chains through fmaf, so the bits are
// the same on every path and thread count:
//   forward      out = (Σ_k w[o,k]·x[tap k]) + bias, k = (c·KH + kh)·KW + kw ascending: the
//                GEMM lowering's chain, so the forward's bits are the ones it had;
//   input grad   dx[c] = Σ_o Σ_(kh,kw) w[o,c,kh,kw]·dY[o, iy + PH − kh, ix + PW − kw], o outer;
//   weight grad  eight lanes per weight, lane l taking the positions x ≡ l (mod 8) of each
//                row chunk, over images, rows and chunks in order; lanes summed 0..7.
// The forward and the input gradient are the same kernel: groups of 9 taps (one input channel
// of the forward, one output channel of the input gradient), a kernel row's 3 weights in
// registers while 2 rows × 4 vectors of outputs take their FMAs straight from memory.
#include "internal.h"
#include "gemm/gemm_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define T256 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))
#endif

#define TAPS 9

int ember_conv_is_thin(const ember_conv2d_shape* s) {
    return s->G == 1 && s->SH == 1 && s->SW == 1 && s->DH == 1 && s->DW == 1 && s->KH == 3 && s->KW == 3 &&
           s->C <= 3 && s->OW >= 8 && s->W >= 8 && s->OH >= 1;
}

static _Thread_local ember_scratch pad_buf_, rows_buf_;

// The plane pitch of `padded`: at least 16 floats past the plane, and never a multiple of 4 KB
// (the input gradient reads 32 planes at once, and would map them all onto the same L1 sets).
static int64_t padded_pitch(int64_t H, int64_t W, int64_t ph, int64_t pw) {
    const int64_t pitch = (H + 2 * ph) * (W + 2 * pw) + 16;
    return pitch % 1024 == 0 ? pitch + 16 : pitch;
}

// planes × (H + 2·ph) × (W + 2·pw) copy of `x` (planes × H × W) with zeros around it, planes
// `padded_pitch` apart: the vector kernels read up to 7 columns past a row's end.
static const float* padded(const float* x, int64_t planes, int64_t H, int64_t W, int64_t ph, int64_t pw) {
    const int64_t Wp = W + 2 * pw, pitch = padded_pitch(H, W, ph, pw), floats = planes * pitch;
    float* p = ember_reserve(&pad_buf_, (size_t)floats * sizeof(float));
    memset(p, 0, (size_t)floats * sizeof(float));
    for (int64_t c = 0; c < planes; c++)
        for (int64_t h = 0; h < H; h++)
            memcpy(p + c * pitch + (h + ph) * Wp + pw, x + (c * H + h) * W, (size_t)W * sizeof(float));
    return p;
}

static int use_avx2(void) { return ember_gemm_current_isa()->path >= EMBER_CPU_AVX2; }

// MARK: - The 9-tap kernel (forward and input gradient)

/// out[y, x] = (Σ_g Σ_(kh,kw) w[g·wstride + kh·3 + kw]·src[g·sstride + (y + r(kh))·ld + x + c(kw)])
/// (+ bias), g, kh, kw ascending, for y < rows, x < cols; r(kh) = kh and c(kw) = kw, or 2 − kh
/// and 2 − kw when `flip` (the input gradient's transposed taps).
typedef struct {
    const float* src;
    int64_t ld, sstride;
    const float* w;
    int64_t wstride, groups;
    int flip;
    float* out;
    int64_t out_ld, rows, cols;
    const float* bias;   // one value added to every output, or NULL
} ember_taps9;

static void taps9_generic(const ember_taps9* k) {
    for (int64_t y = 0; y < k->rows; y++)
        for (int64_t x = 0; x < k->cols; x++) {
            float acc = 0.0f;
            for (int64_t g = 0; g < k->groups; g++)
                for (int t = 0; t < TAPS; t++) {
                    const int64_t r = k->flip ? 2 - t / 3 : t / 3, c = k->flip ? 2 - t % 3 : t % 3;
                    acc = fmaf(k->w[g * k->wstride + t], k->src[g * k->sstride + (y + r) * k->ld + x + c], acc);
                }
            k->out[y * k->out_ld + x] = k->bias ? acc + *k->bias : acc;
        }
}

#ifdef T256
// NR rows × NV vectors of 8 at (y, x): 3 weights of a kernel row in registers at a time, the
// inputs straight from memory at constant offsets from one row pointer.
INLINE T256 void taps9_tile(int NR, int NV, int FLIP, const ember_taps9* k, float* out, int64_t out_ld,
                            int64_t y, int64_t x) {
    // `out` is output row y.
    __m256 acc[2][4];
    for (int r = 0; r < NR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
    const int64_t ld = k->ld;
    for (int64_t g = 0; g < k->groups; g++) {
        const float* src = k->src + g * k->sstride + y * ld + x;
        const float* wg = k->w + g * k->wstride;
        for (int kh = 0; kh < 3; kh++) {
            const float* row = src + (FLIP ? 2 - kh : kh) * ld;
            __m256 w[3];
            for (int kw = 0; kw < 3; kw++) w[kw] = _mm256_broadcast_ss(wg + kh * 3 + kw);
            for (int kw = 0; kw < 3; kw++)
                for (int r = 0; r < NR; r++)
                    for (int v = 0; v < NV; v++)
                        acc[r][v] = _mm256_fmadd_ps(w[kw], _mm256_loadu_ps(row + r * ld + 8 * v + (FLIP ? 2 - kw : kw)),
                                                    acc[r][v]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int v = 0; v < NV; v++) {
            __m256 o = acc[r][v];
            if (k->bias) o = _mm256_add_ps(o, _mm256_broadcast_ss(k->bias));
            _mm256_storeu_ps(out + r * out_ld + x + 8 * v, o);
        }
}

INLINE T256 void taps9_rows(int NR, int FLIP, const ember_taps9* k, float* out, int64_t out_ld, int64_t y,
                            int64_t width) {
    // Right to left: a row's extra columns, stored by its last tile, land on the next row's
    // first ones, which its first tile then stores over.
    const int64_t full = width / 32 * 32;
    switch ((width - full) / 8) {
    case 3: taps9_tile(NR, 3, FLIP, k, out, out_ld, y, full); break;
    case 2: taps9_tile(NR, 2, FLIP, k, out, out_ld, y, full); break;
    case 1: taps9_tile(NR, 1, FLIP, k, out, out_ld, y, full); break;
    }
    for (int64_t x = full - 32; x >= 0; x -= 32) taps9_tile(NR, 4, FLIP, k, out, out_ld, y, x);
}

// Rows are computed 8 columns at a time, out to the next multiple of 8 (the source has the
// room: see `padded`). The extra columns of a row land on the start of the next row, which is
// stored after it (see taps9_rows; NR = 2 tiles store their first row first); the last two rows,
// whose extra columns would land on another plane, go through scratch rows and are copied.
T256 static void taps9_avx2(const ember_taps9* k) {
    const int64_t width = (k->cols + 7) / 8 * 8, ld = k->out_ld;
    const int64_t direct = width == k->cols ? k->rows : (k->rows >= 2 ? k->rows - 2 : 0);
    int64_t y = 0;
    for (; y + 2 <= direct; y += 2)
        k->flip ? taps9_rows(2, 1, k, k->out + y * ld, ld, y, width) : taps9_rows(2, 0, k, k->out + y * ld, ld, y, width);
    if (y < direct)
        k->flip ? taps9_rows(1, 1, k, k->out + y * ld, ld, y, width) : taps9_rows(1, 0, k, k->out + y * ld, ld, y, width);
    if (direct == k->rows) return;
    float* tail = ember_reserve(&rows_buf_, (size_t)(2 * width) * sizeof(float));
    const int64_t n = k->rows - direct;
    n == 2 ? (k->flip ? taps9_rows(2, 1, k, tail, width, direct, width) : taps9_rows(2, 0, k, tail, width, direct, width))
           : (k->flip ? taps9_rows(1, 1, k, tail, width, direct, width) : taps9_rows(1, 0, k, tail, width, direct, width));
    for (int64_t r = 0; r < n; r++) memcpy(k->out + (direct + r) * ld, tail + r * width, (size_t)k->cols * sizeof(float));
}
#endif

static void taps9(const ember_taps9* k) {
#ifdef T256
    if (use_avx2()) return taps9_avx2(k);
#endif
    taps9_generic(k);
}

void ember_conv_thin_forward(float* out, const float* inp, const float* weight, const float* bias,
                             const ember_conv2d_shape* s) {
    const int64_t HW = s->H * s->W, OHW = s->OH * s->OW, Kg = s->C * TAPS;
    const int64_t Wp = s->W + 2 * s->PW;
    const int nt = ember_team_from(s->N, 2);
    // One image per iteration: each image's work and bits are independent of the others.
    EMBER_FOR(nt, n, s->N,
        ember_taps9 k = {padded(inp + n * s->C * HW, s->C, s->H, s->W, s->PH, s->PW), Wp,
                         padded_pitch(s->H, s->W, s->PH, s->PW),
                         NULL, TAPS, s->C, 0, NULL, s->OW, s->OH, s->OW, NULL};
        for (int64_t o = 0; o < s->OC; o++) {
            k.w = weight + o * Kg;
            k.out = out + (n * s->OC + o) * OHW;
            k.bias = bias ? bias + o : NULL;
            taps9(&k);
        }
    );
}

void ember_conv_thin_input_grad(float* dinp, const float* dout, const float* weight,
                                const ember_conv2d_shape* s, int64_t lo, int64_t hi) {
    // dY padded by KH − 1 rows and KW − 1 columns on each side (zeros where no output is):
    // input pixel (iy, ix) reads, for tap (kh, kw), padded row iy + PH + 2 − kh and column
    // ix + PW + 2 − kw.
    const int64_t Wq = s->OW + 4, HW = s->H * s->W, OHW = s->OH * s->OW;
    ember_taps9 k = {NULL, Wq, padded_pitch(s->OH, s->OW, 2, 2), NULL, s->C * TAPS, s->OC, 1, NULL, s->W, s->H, s->W, NULL};
    for (int64_t n = lo; n < hi; n++) {
        k.src = padded(dout + n * s->OC * OHW, s->OC, s->OH, s->OW, 2, 2) + s->PH * Wq + s->PW;
        for (int64_t c = 0; c < s->C; c++) {
            k.w = weight + c * TAPS;
            k.out = dinp + (n * s->C + c) * HW;
            taps9(&k);
        }
    }
}

// MARK: - Weight gradient

// Offsets of the taps into a padded image (planes `pitch` apart, rows of Wp), in chain order.
static void tap_offsets(int64_t* off, const ember_conv2d_shape* s, int64_t pitch, int64_t Wp) {
    for (int64_t c = 0; c < s->C; c++)
        for (int64_t kh = 0; kh < s->KH; kh++)
            for (int64_t kw = 0; kw < s->KW; kw++) off[(c * s->KH + kh) * s->KW + kw] = c * pitch + kh * Wp + kw;
}

// lanes (OC × Kg × 8) += one image's chains.
static void weight_lanes_generic(float* lanes, const float* dy, const float* xp, const ember_conv2d_shape* s,
                                 const int64_t* off, int64_t Wp) {
    const int64_t Kg = s->C * TAPS, OH = s->OH, OW = s->OW;
    for (int64_t o = 0; o < s->OC; o++)
        for (int64_t k = 0; k < Kg; k++) {
            float* l = lanes + (o * Kg + k) * 8;
            for (int64_t y = 0; y < OH; y++)
                for (int64_t x = 0; x < OW; x += 8)
                    for (int64_t i = 0; i < 8; i++) {
                        const int in = x + i < OW;
                        const float d = in ? dy[(o * OH + y) * OW + x + i] : 0.0f;
                        const float v = in ? xp[off[k] + y * Wp + x + i] : 0.0f;
                        l[i] = fmaf(d, v, l[i]);
                    }
        }
}

#ifdef T256
// NO channels × NK taps of lanes, over every row of the image. The last chunk of a row is
// masked: its missing lanes add 0·0 (as the generic path does), reading nothing.
INLINE T256 void weight_tile(int NO, int NK, float* lanes, const float* dy, const float* xp,
                             const ember_conv2d_shape* s, const int64_t* off, int64_t Wp,
                             int64_t o0, int64_t k0) {
    const int64_t Kg = s->C * TAPS, OH = s->OH, OW = s->OW;
    __m256 acc[4][3];
    for (int j = 0; j < NO; j++)
        for (int t = 0; t < NK; t++) acc[j][t] = _mm256_loadu_ps(lanes + ((o0 + j) * Kg + k0 + t) * 8);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(OW % 8)), lane);
    for (int64_t y = 0; y < OH; y++) {
        const float* xr = xp + y * Wp;
        const float* dr = dy + (o0 * OH + y) * OW;
        int64_t x = 0;
        for (; x + 8 <= OW; x += 8) {
            __m256 in[3];
            for (int t = 0; t < NK; t++) in[t] = _mm256_loadu_ps(xr + off[k0 + t] + x);
            for (int j = 0; j < NO; j++) {
                const __m256 d = _mm256_loadu_ps(dr + j * OH * OW + x);
                for (int t = 0; t < NK; t++) acc[j][t] = _mm256_fmadd_ps(d, in[t], acc[j][t]);
            }
        }
        if (x < OW) {
            __m256 in[3];
            for (int t = 0; t < NK; t++) in[t] = _mm256_maskload_ps(xr + off[k0 + t] + x, mask);
            for (int j = 0; j < NO; j++) {
                const __m256 d = _mm256_maskload_ps(dr + j * OH * OW + x, mask);
                for (int t = 0; t < NK; t++) acc[j][t] = _mm256_fmadd_ps(d, in[t], acc[j][t]);
            }
        }
    }
    for (int j = 0; j < NO; j++)
        for (int t = 0; t < NK; t++) _mm256_storeu_ps(lanes + ((o0 + j) * Kg + k0 + t) * 8, acc[j][t]);
}

// Kg is a multiple of 3 (9 taps per channel).
T256 static void weight_lanes_avx2(float* lanes, const float* dy, const float* xp, const ember_conv2d_shape* s,
                                   const int64_t* off, int64_t Wp) {
    const int64_t Kg = s->C * TAPS;
    int64_t o = 0;
    for (; o + 4 <= s->OC; o += 4)
        for (int64_t k0 = 0; k0 < Kg; k0 += 3) weight_tile(4, 3, lanes, dy, xp, s, off, Wp, o, k0);
    for (; o < s->OC; o++)
        for (int64_t k0 = 0; k0 < Kg; k0 += 3) weight_tile(1, 3, lanes, dy, xp, s, off, Wp, o, k0);
}
#endif

void ember_conv_thin_weight_lanes(float* lanes, const float* dout, const float* inp,
                                  const ember_conv2d_shape* s, int64_t lo, int64_t hi) {
    const int64_t Wp = s->W + 2 * s->PW, HW = s->H * s->W, OHW = s->OH * s->OW;
    int64_t off[3 * TAPS];
    tap_offsets(off, s, padded_pitch(s->H, s->W, s->PH, s->PW), Wp);
    memset(lanes, 0, (size_t)(s->OC * s->C * TAPS * 8) * sizeof(float));
    for (int64_t n = lo; n < hi; n++) {
        const float* xp = padded(inp + n * s->C * HW, s->C, s->H, s->W, s->PH, s->PW);
#ifdef T256
        if (use_avx2()) { weight_lanes_avx2(lanes, dout + n * s->OC * OHW, xp, s, off, Wp); continue; }
#endif
        weight_lanes_generic(lanes, dout + n * s->OC * OHW, xp, s, off, Wp);
    }
}
