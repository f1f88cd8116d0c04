// Image resampling for the vision transforms: the separable triangle filter of PIL and
// torchvision's bilinear resize (`interpolate(..., antialias=True/False)`) on float planes and,
// in PyTorch's int16 fixed point, on uint8 planes; nearest-neighbour resize of uint8 planes.
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Per output index: the first input index, the number of taps and `taps` normalised weights
// (torchvision's _compute_indices_min_size_weights_aa). With antialias the filter widens by
// the downscale factor, so every input pixel contributes; without it the support is one
// pixel each side, which is plain bilinear (align_corners=False, edges clamped).
static int64_t filter_weights(int64_t in, int64_t out, int antialias, int64_t* first, int64_t* count,
                              float** weights) {
    const double scale = (double)in / (double)out;
    const double support = (antialias && scale >= 1.0) ? scale : 1.0;
    const double inv = (antialias && scale >= 1.0) ? 1.0 / scale : 1.0;
    const int64_t taps = (int64_t)ceil(support) * 2 + 1;
    float* w = malloc((size_t)(out * taps) * sizeof(float));
    if (!w) return -1;
    for (int64_t i = 0; i < out; i++) {
        const double center = scale * ((double)i + 0.5);
        int64_t lo = (int64_t)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int64_t hi = (int64_t)(center + support + 0.5);
        if (hi > in) hi = in;
        int64_t n = hi - lo;
        if (n > taps) n = taps;
        double total = 0.0, ws[taps];
        for (int64_t j = 0; j < n; j++) {
            double x = fabs(((double)(j + lo) - center + 0.5) * inv);
            ws[j] = x < 1.0 ? 1.0 - x : 0.0;
            total += ws[j];
        }
        for (int64_t j = 0; j < taps; j++)
            w[i * taps + j] = (j < n && total != 0.0) ? (float)(ws[j] / total) : 0.0f;
        first[i] = lo;
        count[i] = n;
    }
    *weights = w;
    return taps;
}

// One plane, rows [lo, hi) of the output of a pass along one axis. `stride_in` steps between
// taps, the loop runs over `along` contiguous positions per output row.
static void pass_f32(float* dst, const float* src, int64_t rows_in_stride, int64_t out_len,
                     int64_t other, int horizontal, const int64_t* first, const int64_t* count,
                     const float* w, int64_t taps, int64_t in_len) {
    if (horizontal) {
        for (int64_t r = 0; r < other; r++)
            for (int64_t o = 0; o < out_len; o++) {
                const float* s = src + r * in_len + first[o];
                const float* ww = w + o * taps;
                float acc = 0.0f;
                for (int64_t k = 0; k < count[o]; k++) acc += ww[k] * s[k];
                dst[r * out_len + o] = acc;
            }
    } else {
        for (int64_t o = 0; o < out_len; o++) {
            const float* ww = w + o * taps;
            float* d = dst + o * other;
            for (int64_t c = 0; c < other; c++) d[c] = 0.0f;
            for (int64_t k = 0; k < count[o]; k++) {
                const float* s = src + (first[o] + k) * rows_in_stride;
                for (int64_t c = 0; c < other; c++) d[c] += ww[k] * s[c];
            }
        }
    }
}

int ember_resize_aa_f32(float* out, const float* inp, int64_t planes, int64_t H, int64_t W,
                        int64_t OH, int64_t OW, int antialias) {
    int64_t *fh = malloc((size_t)OH * 2 * sizeof(int64_t)), *fw = malloc((size_t)OW * 2 * sizeof(int64_t));
    float *wh = NULL, *ww = NULL;
    float* tmp = malloc((size_t)(planes * OH * W) * sizeof(float));
    int64_t th = -1, tw = -1;
    if (fh && fw && tmp) {
        th = filter_weights(H, OH, antialias, fh, fh + OH, &wh);
        tw = filter_weights(W, OW, antialias, fw, fw + OW, &ww);
    }
    if (th < 0 || tw < 0) { free(fh); free(fw); free(wh); free(ww); free(tmp); return -1; }
    // Height first, then width: torchvision's order for float images (the separable kernel
    // walks the dims in order), so the roundings match.
    const int nt = ember_team(planes * OH * OW * 4);
    // One plane per iteration: planes are independent, each written by one thread.
    EMBER_FOR(nt, p, planes,
        pass_f32(tmp + p * OH * W, inp + p * H * W, W, OH, W, 0, fh, fh + OH, wh, th, H);
        pass_f32(out + p * OH * OW, tmp + p * OH * W, 0, OW, OH, 1, fw, fw + OW, ww, tw, W);
    );
    free(fh); free(fw); free(wh); free(ww); free(tmp);
    return 0;
}

// The uint8 path is PyTorch's fixed-point kernel, the one torchvision's v2 resize runs on
// uint8 images on the CPU (UpSampleKernel.cpp: _compute_index_ranges_int16_weights and
// basic_loop_aa_horizontal/vertical<uint8_t>, and their AVX2 twins in
// UpSampleKernelAVXAntialias.h, which give the same integers). Weights are computed in
// double, then scaled by 2^precision and rounded to int16. Each output is
// clamp((2^(precision-1) + sum of weight * pixel) >> precision, 0, 255), summed in int32,
// so the order of the sum does not change the bits.
typedef struct {
    int64_t* first;   // per output: the first input index
    int64_t* count;   // per output: the number of taps used
    int16_t* w;       // `taps` weights per output, zero past its count
    int64_t taps;
    int precision;
} u8_filter;

static void u8_filter_free(u8_filter* f) {
    free(f->first);
    free(f->w);
    f->first = NULL;
    f->w = NULL;
}

static inline double triangle(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

// The weights of one axis (in -> out), as PyTorch computes them for uint8: with antialias
// _compute_indices_min_size_weights_aa (the support widened by the downscale factor,
// weights normalised), without it _compute_indices_min_size_weights (two taps, the source
// index through floorf as PyTorch's guard_index_and_lambda, edge taps folded together, not
// normalised). The precision is PyTorch's: the first p in [0, 22) at which
// (int)(0.5 + wmax * 2^(p+1)) reaches 2^15, else 22.
static int u8_filter_make(u8_filter* f, int64_t in, int64_t out, int antialias) {
    const double scale = (double)in / (double)out;
    const double support = (antialias && scale >= 1.0) ? scale : 1.0;
    const int64_t taps = antialias ? (int64_t)ceil(support) * 2 + 1 : 2;
    f->taps = taps;
    f->first = malloc((size_t)out * 2 * sizeof(int64_t));
    f->w = malloc((size_t)(out * taps) * sizeof(int16_t));
    double* wd = malloc((size_t)(out * taps) * sizeof(double));
    if (!f->first || !f->w || !wd) { u8_filter_free(f); free(wd); return -1; }
    f->count = f->first + out;
    double wmax = 0.0;
    for (int64_t i = 0; i < out; i++) {
        double* ws = wd + i * taps;
        int64_t lo, n;
        if (antialias) {
            const double center = scale * ((double)i + 0.5);
            const double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
            lo = (int64_t)(center - support + 0.5);
            if (lo < 0) lo = 0;
            int64_t hi = (int64_t)(center + support + 0.5);
            if (hi > in) hi = in;
            n = hi - lo;
            n = n < 0 ? 0 : (n > taps ? taps : n);
            double total = 0.0;
            for (int64_t j = 0; j < n; j++) {
                ws[j] = triangle(((double)(j + lo) - center + 0.5) * inv);
                total += ws[j];
            }
            if (total != 0.0)
                for (int64_t j = 0; j < n; j++) {
                    ws[j] /= total;
                    if (wmax < ws[j]) wmax = ws[j];
                }
            for (int64_t j = n; j < taps; j++) ws[j] = 0.0;
        } else {
            double real = scale * ((double)i + 0.5) - 0.5;
            if (real < 0.0) real = 0.0;
            int64_t idx = (int64_t)floorf((float)real);
            if (idx > in - 1) idx = in - 1;
            double lambda = real - (double)idx;
            lambda = lambda < 0.0 ? 0.0 : (lambda > 1.0 ? 1.0 : lambda);
            lo = idx < 0 ? 0 : idx;
            n = (idx + 2 < in ? idx + 2 : in) - lo;
            n = n < 0 ? 0 : (n > 2 ? 2 : n);
            // Taps outside [0, in) fold onto the edge pixel, in PyTorch's order.
            int64_t at = 0;
            for (int64_t j = 0; j < 2; j++) {
                ws[j] = 0.0;
                const double w = triangle((double)j - lambda);
                if (idx + j <= 0) at = 0;
                else if (idx + j >= in - 1) at = n - 1;
                ws[at] += w;
                if (wmax < ws[at]) wmax = ws[at];
                at++;
            }
        }
        f->first[i] = lo;
        f->count[i] = n;
    }
    int p = 0;
    for (p = 0; p < 22; p++)
        if ((int)(0.5 + wmax * (double)(1 << (p + 1))) >= (1 << 15)) break;
    f->precision = p;
    for (int64_t k = 0; k < out * taps; k++) {
        const double v = wd[k] * (double)(1 << p);
        f->w[k] = (int16_t)(v < 0.0 ? (int)(-0.5 + v) : (int)(0.5 + v));
    }
    free(wd);
    return 0;
}

static inline uint8_t shift_u8(int32_t acc, int precision) {
    const int32_t v = acc >> precision;
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Sum of `taps` products from tap 0, with `taps` a constant where inlined so that the loop
// unrolls. Weights past an output's count are zero and the row copy is padded with zeros:
// integer sums, so the extra taps change nothing.
static inline __attribute__((always_inline)) int32_t dot_taps_i16(const int16_t* w, const uint8_t* s, int64_t taps,
                                                                  int32_t acc) {
    for (int64_t k = 0; k < taps; k++) acc += (int32_t)w[k] * (int32_t)s[k];
    return acc;
}

// One uint8 plane (rows `row_stride` apart, so a crop window needs no copy), as PyTorch:
// the width pass first, into `mid` (H x OW, uint8) when the height changes too, then the
// height pass, taps outside and columns inside so that the column loop vectorises; a pass
// whose size does not change is skipped. `row` holds W + taps bytes, `acc` OW int32.
EMBER_SIMD static void resize_plane_u8(uint8_t* dst, const uint8_t* src, int64_t row_stride, int64_t H, int64_t W,
                                       int64_t OH, int64_t OW, const u8_filter* fh, const u8_filter* fw, uint8_t* mid,
                                       uint8_t* row, int32_t* acc) {
    const int need_w = OW != W, need_h = OH != H;
    const uint8_t* vsrc = src;   // the height pass's input and its row stride
    int64_t vstride = row_stride;
    if (need_w) {
        uint8_t* hout = need_h ? mid : dst;
        const int64_t tw = fw->taps;
        const int pw = fw->precision;
        const int32_t bias = (int32_t)1 << (pw - 1);
        const int64_t* first = fw->first;
        const int16_t* ww = fw->w;
        for (int64_t x = W; x < W + tw; x++) row[x] = 0;
        for (int64_t r = 0; r < H; r++) {
            memcpy(row, src + r * row_stride, (size_t)W);
            uint8_t* m = hout + r * OW;
            if (tw == 2) {
                for (int64_t o = 0; o < OW; o++) m[o] = shift_u8(dot_taps_i16(ww + o * 2, row + first[o], 2, bias), pw);
            } else if (tw == 3) {
                for (int64_t o = 0; o < OW; o++) m[o] = shift_u8(dot_taps_i16(ww + o * 3, row + first[o], 3, bias), pw);
            } else if (tw == 5) {
                for (int64_t o = 0; o < OW; o++) m[o] = shift_u8(dot_taps_i16(ww + o * 5, row + first[o], 5, bias), pw);
            } else {
                for (int64_t o = 0; o < OW; o++) m[o] = shift_u8(dot_taps_i16(ww + o * tw, row + first[o], tw, bias), pw);
            }
        }
        vsrc = hout;
        vstride = OW;
    }
    if (need_h) {
        const int64_t th = fh->taps;
        const int ph = fh->precision;
        const int32_t bias = (int32_t)1 << (ph - 1);
        for (int64_t o = 0; o < OH; o++) {
            const int16_t* wk = fh->w + o * th;
            for (int64_t c = 0; c < OW; c++) acc[c] = bias;
            for (int64_t k = 0; k < fh->count[o]; k++) {
                const uint8_t* m = vsrc + (fh->first[o] + k) * vstride;
                const int32_t wv = wk[k];
                for (int64_t c = 0; c < OW; c++) acc[c] += wv * (int32_t)m[c];
            }
            for (int64_t c = 0; c < OW; c++) dst[o * OW + c] = shift_u8(acc[c], ph);
        }
    } else if (!need_w) {
        for (int64_t r = 0; r < H; r++) memcpy(dst + r * W, src + r * row_stride, (size_t)W);
    }
}

int ember_resize_aa_u8_window(uint8_t* out, const uint8_t* inp, int64_t planes, int64_t plane_stride,
                              int64_t row_stride, int64_t H, int64_t W, int64_t OH, int64_t OW, int antialias) {
    u8_filter fh = {0}, fw = {0};
    const int need_w = OW != W, need_h = OH != H;
    if ((need_h && u8_filter_make(&fh, H, OH, antialias) != 0) || (need_w && u8_filter_make(&fw, W, OW, antialias) != 0)) {
        u8_filter_free(&fh);
        u8_filter_free(&fw);
        return -1;
    }
    // Per plane: the width pass's intermediate (only when both passes run), a padded row
    // copy and the height pass's accumulators.
    const int64_t mid_len = (need_w && need_h) ? H * OW : 0;
    const int64_t row_len = ((need_w ? W + fw.taps : 0) + 7) & ~(int64_t)7;
    const int64_t acc_len = need_h ? OW : 0;
    const int64_t per_plane = mid_len + row_len + acc_len * (int64_t)sizeof(int32_t);
    uint8_t* scratch = malloc((size_t)(planes * per_plane + 16));
    if (!scratch) { u8_filter_free(&fh); u8_filter_free(&fw); return -1; }
    // The int32 accumulators of all planes first (aligned), then the rows, then the mids.
    int32_t* accs = (int32_t*)scratch;
    uint8_t* rows = scratch + planes * acc_len * (int64_t)sizeof(int32_t);
    uint8_t* mids = rows + planes * row_len;
    const int nt = ember_team(planes * OH * OW * 4);
    // One plane per iteration: planes are independent, each written by one thread.
    EMBER_FOR(nt, p, planes,
        resize_plane_u8(out + p * OH * OW, inp + p * plane_stride, row_stride, H, W, OH, OW, &fh, &fw,
                        mids + p * mid_len, rows + p * row_len, accs + p * acc_len);
    );
    free(scratch);
    u8_filter_free(&fh);
    u8_filter_free(&fw);
    return 0;
}

int ember_resize_aa_u8(uint8_t* out, const uint8_t* inp, int64_t planes, int64_t H, int64_t W,
                       int64_t OH, int64_t OW, int antialias) {
    return ember_resize_aa_u8_window(out, inp, planes, H * W, W, H, W, OH, OW, antialias);
}

void ember_resize_nearest_u8(uint8_t* out, const uint8_t* inp, int64_t planes, int64_t H,
                             int64_t W, int64_t OH, int64_t OW) {
    // PyTorch's nearest: src = floor(dst * (in / out)) in float, clamped.
    const float sh = (float)H / (float)OH, sw = (float)W / (float)OW;
    const int nt = ember_team(planes * OH * OW);
    // One plane per iteration.
    EMBER_FOR(nt, p, planes,
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t ih = (int64_t)floorf((float)oh * sh);
            if (ih > H - 1) ih = H - 1;
            const uint8_t* s = inp + p * H * W + ih * W;
            uint8_t* d = out + p * OH * OW + oh * OW;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t iw = (int64_t)floorf((float)ow * sw);
                d[ow] = s[iw < W - 1 ? iw : W - 1];
            }
        }
    );
}

// torchvision's rotate of tensors: an affine grid (`_affine_grid`) sampled by PyTorch's CPU
// `grid_sample(padding_mode="zeros", align_corners=False)`, every step in float32 in the
// same order, so that nearest picks the same pixels and bilinear the same weights.
static void linspace_f32(float* v, int64_t n, float start, float end) {
    // torch.linspace's float kernel: the first half counts up from start, the rest down
    // from end.
    const float step = n > 1 ? (end - start) / (float)(n - 1) : 0.0f;
    for (int64_t i = 0; i < n; i++)
        v[i] = i < n / 2 ? start + step * (float)i : end - step * (float)(n - 1 - i);
}

int ember_affine_sample(void* out, const void* inp, int u8, int64_t images, int64_t C, int64_t H,
                        int64_t W, int64_t OH, int64_t OW, const float* theta, int bilinear,
                        const float* fill) {
    float* xs = malloc((size_t)(OW + OH) * sizeof(float));
    if (!xs) return -1;
    float* ys = xs + OW;
    linspace_f32(xs, OW, (float)((1.0 - (double)OW) * 0.5), (float)(((double)OW - 1.0) * 0.5));
    linspace_f32(ys, OH, (float)((1.0 - (double)OH) * 0.5), (float)(((double)OH - 1.0) * 0.5));
    // theta^T divided by (W/2, H/2) per output column, as _affine_grid's rescaled_theta.
    const float hw = (float)(0.5 * (double)W), hh = (float)(0.5 * (double)H);
    const float r00 = theta[0] / hw, r10 = theta[1] / hw, r20 = theta[2] / hw;
    const float r01 = theta[3] / hh, r11 = theta[4] / hh, r21 = theta[5] / hh;
    const float sw = (float)W / 2, sh = (float)H / 2;
    const uint8_t* in8 = inp;
    const float* inf = inp;
    uint8_t* o8 = out;
    float* of = out;
    const int nt = ember_team(images * OH * OW * C * 8);
    // One output row of one image per iteration (all its channels): rows are independent.
    EMBER_FOR(nt, row, images * OH,
        const int64_t b = row / OH, i = row % OH;
        for (int64_t j = 0; j < OW; j++) {
            const float gx = (xs[j] * r00 + ys[i] * r10) + r20;
            const float gy = (xs[j] * r01 + ys[i] * r11) + r21;
            const float ix = (gx + 1.0f) * sw - 0.5f, iy = (gy + 1.0f) * sh - 0.5f;
            int64_t at[4];      // input offsets of the taps, -1 outside
            float wt[4];
            int taps;
            if (bilinear) {
                const float x0 = floorf(ix), y0 = floorf(iy);
                const float we = ix - x0, wwest = 1.0f - we, ns = iy - y0, nn = 1.0f - ns;
                wt[0] = nn * wwest; wt[1] = nn * we; wt[2] = ns * wwest; wt[3] = ns * we;
                for (int k = 0; k < 4; k++) {
                    const float tx = x0 + (float)(k & 1), ty = y0 + (float)(k >> 1);
                    at[k] = (tx > -1.0f && tx < (float)W && ty > -1.0f && ty < (float)H)
                        ? (int64_t)ty * W + (int64_t)tx : -1;
                }
                taps = 4;
            } else {
                const float tx = nearbyintf(ix), ty = nearbyintf(iy);
                at[0] = (tx > -1.0f && tx < (float)W && ty > -1.0f && ty < (float)H) ? (int64_t)ty * W + (int64_t)tx : -1;
                wt[0] = 1.0f;
                taps = 1;
            }
            // The mask is grid_sample of a plane of ones (torchvision appends one for fill).
            float mask = 0.0f;
            for (int k = 0; k < taps; k++) mask = mask + (at[k] >= 0 ? wt[k] : 0.0f);
            for (int64_t c = 0; c < C; c++) {
                const int64_t plane = (b * C + c) * H * W;
                float v = 0.0f;
                for (int k = 0; k < taps; k++) {
                    const float s = at[k] < 0 ? 0.0f : (u8 ? (float)in8[plane + at[k]] : inf[plane + at[k]]);
                    v = v + s * wt[k];
                }
                if (fill) {
                    const float f = fill[c];
                    v = bilinear ? (v - f) * mask + f : (mask < 0.5f ? f : v);
                }
                const int64_t o = ((b * C + c) * OH + i) * OW + j;
                if (u8) {
                    v = nearbyintf(v);
                    o8[o] = (uint8_t)(v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v));
                } else {
                    of[o] = v;
                }
            }
        }
    );
    free(xs);
    return 0;
}

// Every row of `rows` rows of `w` items (1 or 4 bytes) reversed: the horizontal flip.
EMBER_SIMD static void flip_range(void* out, const void* inp, int64_t w, int64_t item, int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; r++) {
        if (item == 1) {
            const uint8_t* restrict s = (const uint8_t*)inp + r * w;
            uint8_t* restrict d = (uint8_t*)out + r * w;
            for (int64_t j = 0; j < w; j++) d[j] = s[w - 1 - j];
        } else {
            const uint32_t* restrict s = (const uint32_t*)inp + r * w;
            uint32_t* restrict d = (uint32_t*)out + r * w;
            for (int64_t j = 0; j < w; j++) d[j] = s[w - 1 - j];
        }
    }
}

void ember_flip_rows(void* out, const void* inp, int64_t rows, int64_t w, int64_t item) {
    const int nt = ember_team(rows * w);
    // Contiguous ranges of rows per thread: each output row has one writer.
    EMBER_PARALLEL(nt, rows, flip_range, out, inp, w, item);
}
