// Pooling and resampling over planes (N·C planes of H × W, NCHW). Every output element is
// computed by one thread from its own window, so the forward passes split planes over the
// threads freely; the backward passes scatter into overlapping windows, so each plane is
// done by one thread in index order: the same bits for any thread count.
#include "internal.h"
#include "gemm/gemm_internal.h"

#include <math.h>
#include <string.h>

// MARK: Max pooling (PyTorch's max_pool2d_with_indices: NaN wins, ties keep the first)

// The maximum of output (oh, ow)'s window and its flat index: candidates in row order, the
// first of equals kept, every NaN taken (so the last NaN's index, as PyTorch's).
static inline void maxpool_window(const float* x, const ember_pool2d_shape* s, int64_t oh, int64_t ow, float* best_out,
                                  int64_t* at_out) {
    const int64_t H = s->H, W = s->W;
    int64_t h0 = oh * s->SH - s->PH;
    const int64_t h1 = h0 + (s->KH - 1) * s->DH + 1 < H ? h0 + (s->KH - 1) * s->DH + 1 : H;
    while (h0 < 0) h0 += s->DH;
    int64_t w0 = ow * s->SW - s->PW;
    const int64_t w1 = w0 + (s->KW - 1) * s->DW + 1 < W ? w0 + (s->KW - 1) * s->DW + 1 : W;
    while (w0 < 0) w0 += s->DW;
    float best = -INFINITY;
    int64_t at = h0 * W + w0;
    for (int64_t h = h0; h < h1; h += s->DH)
        for (int64_t w = w0; w < w1; w += s->DW) {
            const float v = x[h * W + w];
            if (v > best || isnan(v)) {
                best = v;
                at = h * W + w;
            }
        }
    *best_out = best;
    *at_out = at;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define T256 __attribute__((target("avx2")))

// 2×2 windows at stride 2, all inside the plane (a CNN's usual pool): eight outputs at a time,
// the four candidates of each compared in the window's order with the scalar rule (a
// candidate replaces the best when greater or NaN), so values and indices
// are the scalar loop's. Indices are worked out in 32 bits: planes under 2^31 elements.
T256 static void maxpool2x2_plane(float* y, int64_t* ix, const float* x, const ember_pool2d_shape* s) {
    const int64_t W = s->W, OW = s->OW;
    const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), one = _mm256_set1_epi32(1);
    const __m256i wv = _mm256_set1_epi32((int)W);
    for (int64_t oh = 0; oh < s->OH; oh++) {
        const float* a = x + 2 * oh * W;
        const float* b = a + W;
        int64_t ow = 0;
        for (; ow + 8 <= OW; ow += 8) {
            // Even and odd columns of 16, in order (shuffle within lanes, then the 64-bit swap).
#define SPLIT(row, even, odd)                                                                         \
            do {                                                                                      \
                const __m256 lo = _mm256_loadu_ps((row) + 2 * ow), hi = _mm256_loadu_ps((row) + 2 * ow + 8); \
                even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8)); \
                odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8)); \
            } while (0)
            __m256 c[4];
            SPLIT(a, c[0], c[1]);
            SPLIT(b, c[2], c[3]);
#undef SPLIT
            __m256 best = c[0];
            __m256i which = _mm256_setzero_si256();
            for (int k = 1; k < 4; k++) {
                const __m256 take = _mm256_or_ps(_mm256_cmp_ps(c[k], best, _CMP_GT_OQ),
                                                 _mm256_cmp_ps(c[k], c[k], _CMP_UNORD_Q));
                best = _mm256_blendv_ps(best, c[k], take);
                which = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(which),
                                                             _mm256_castsi256_ps(_mm256_set1_epi32(k)), take));
            }
            _mm256_storeu_ps(y + oh * OW + ow, best);
            // Candidate k sits at (2·oh + k/2)·W + 2·ow + k%2.
            const __m256i at = _mm256_add_epi32(
                _mm256_add_epi32(_mm256_set1_epi32((int)(2 * oh * W + 2 * ow)), lane2),
                _mm256_add_epi32(_mm256_and_si256(which, one), _mm256_mullo_epi32(_mm256_srli_epi32(which, 1), wv)));
            _mm256_storeu_si256((__m256i*)(ix + oh * OW + ow), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(at)));
            _mm256_storeu_si256((__m256i*)(ix + oh * OW + ow + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(at, 1)));
        }
        for (; ow < OW; ow++) maxpool_window(x, s, oh, ow, y + oh * OW + ow, ix + oh * OW + ow);
    }
}
#endif

static int is_pool2x2(const ember_pool2d_shape* s) {
    return s->KH == 2 && s->KW == 2 && s->SH == 2 && s->SW == 2 && s->PH == 0 && s->PW == 0 && s->DH == 1 &&
           s->DW == 1 && 2 * s->OH <= s->H && 2 * s->OW <= s->W && s->H * s->W < ((int64_t)1 << 31);
}

static void maxpool_planes(float* out, int64_t* indices, const float* inp, const ember_pool2d_shape* s,
                           int64_t lo, int64_t hi) {
    const int64_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
#if defined(__x86_64__) || defined(__i386__)
    if (is_pool2x2(s) && ember_gemm_current_isa()->path >= EMBER_CPU_AVX2) {
        for (int64_t p = lo; p < hi; p++) maxpool2x2_plane(out + p * OH * OW, indices + p * OH * OW, inp + p * H * W, s);
        return;
    }
#endif
    for (int64_t p = lo; p < hi; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++)
                maxpool_window(inp + p * H * W, s, oh, ow, out + (p * OH + oh) * OW + ow, indices + (p * OH + oh) * OW + ow);
}

void ember_maxpool2d_forward(float* out, int64_t* indices, const float* inp,
                             const ember_pool2d_shape* s) {
    const int nt = ember_team(s->planes * s->OH * s->OW * s->KH * s->KW);
    EMBER_FOR(nt, p, s->planes, maxpool_planes(out, indices, inp, s, p, p + 1););
}

// dinp = 0, then dinp[index] += dout for every output (windows may overlap): plane by plane.
void ember_index_pool_backward(float* dinp, const float* dout, const int64_t* indices,
                               int64_t planes, int64_t in_plane, int64_t out_plane) {
    const int nt = ember_team(planes * (in_plane + out_plane));
    EMBER_FOR(nt, p, planes,
        float* dx = dinp + p * in_plane;
        memset(dx, 0, (size_t)in_plane * sizeof(float));
        const float* g = dout + p * out_plane;
        const int64_t* ix = indices + p * out_plane;
        // A dilated window that lies wholly in the padding has no element; its index, as
        // PyTorch's, points past the plane and takes no gradient.
        for (int64_t i = 0; i < out_plane; i++)
            if ((uint64_t)ix[i] < (uint64_t)in_plane) dx[ix[i]] += g[i];
    );
}

// MARK: Average pooling (PyTorch's avg_pool2d: count_include_pad, divisor_override)

// The window of output (oh, ow) clipped to the input, and its divisor.
static inline float avg_window(const ember_pool2d_shape* s, int64_t oh, int64_t ow, int64_t* h0,
                               int64_t* h1, int64_t* w0, int64_t* w1) {
    int64_t hs = oh * s->SH - s->PH, ws = ow * s->SW - s->PW;
    int64_t he = hs + s->KH < s->H + s->PH ? hs + s->KH : s->H + s->PH;
    int64_t we = ws + s->KW < s->W + s->PW ? ws + s->KW : s->W + s->PW;
    const int64_t padded = (he - hs) * (we - ws);
    hs = hs < 0 ? 0 : hs;
    ws = ws < 0 ? 0 : ws;
    he = he < s->H ? he : s->H;
    we = we < s->W ? we : s->W;
    *h0 = hs, *h1 = he, *w0 = ws, *w1 = we;
    if (s->divisor != 0) return (float)s->divisor;
    return (float)(s->count_include_pad ? padded : (he - hs) * (we - ws));
}

void ember_avgpool2d_forward(float* out, const float* inp, const ember_pool2d_shape* s) {
    const int64_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    const int nt = ember_team(s->planes * OH * OW * s->KH * s->KW);
    EMBER_FOR(nt, p, s->planes,
        const float* x = inp + p * H * W;
        float* y = out + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t h0, h1, w0, w1;
                const float div = avg_window(s, oh, ow, &h0, &h1, &w0, &w1);
                float acc = 0.0f;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) acc = acc + x[h * W + w];
                y[oh * OW + ow] = (h1 > h0 && w1 > w0) ? acc / div : 0.0f;
            }
    );
}

void ember_avgpool2d_backward(float* dinp, const float* dout, const ember_pool2d_shape* s) {
    const int64_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    const int nt = ember_team(s->planes * OH * OW * s->KH * s->KW);
    EMBER_FOR(nt, p, s->planes,
        float* dx = dinp + p * H * W;
        memset(dx, 0, (size_t)(H * W) * sizeof(float));
        const float* g = dout + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t h0, h1, w0, w1;
                const float div = avg_window(s, oh, ow, &h0, &h1, &w0, &w1);
                const float share = g[oh * OW + ow] / div;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) dx[h * W + w] += share;
            }
    );
}

// MARK: Adaptive pooling: output i covers [floor(i·H/OH), ceil((i+1)·H/OH))

static inline int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return i * in / out; }
static inline int64_t adaptive_end(int64_t i, int64_t in, int64_t out) {
    return ((i + 1) * in + out - 1) / out;
}

void ember_adaptive_pool2d_forward(int max, float* out, int64_t* indices, const float* inp,
                                   int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    const int nt = ember_team(planes * H * W);
    EMBER_FOR(nt, p, planes,
        const float* x = inp + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++) {
            const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
                const int64_t o = p * OH * OW + oh * OW + ow;
                if (max) {
                    float best = -INFINITY;
                    int64_t at = h0 * W + w0;
                    for (int64_t h = h0; h < h1; h++)
                        for (int64_t w = w0; w < w1; w++) {
                            const float v = x[h * W + w];
                            if (v > best || isnan(v)) { best = v; at = h * W + w; }
                        }
                    out[o] = best;
                    indices[o] = at;
                } else {
                    float acc = 0.0f;
                    for (int64_t h = h0; h < h1; h++)
                        for (int64_t w = w0; w < w1; w++) acc = acc + x[h * W + w];
                    out[o] = acc / (float)((h1 - h0) * (w1 - w0));
                }
            }
        }
    );
}

void ember_adaptive_avgpool2d_backward(float* dinp, const float* dout, int64_t planes, int64_t H,
                                       int64_t W, int64_t OH, int64_t OW) {
    const int nt = ember_team(planes * H * W);
    EMBER_FOR(nt, p, planes,
        float* dx = dinp + p * H * W;
        memset(dx, 0, (size_t)(H * W) * sizeof(float));
        for (int64_t oh = 0; oh < OH; oh++) {
            const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
                const float share = dout[p * OH * OW + oh * OW + ow] / (float)((h1 - h0) * (w1 - w0));
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) dx[h * W + w] += share;
            }
        }
    );
}

// MARK: Interpolation (PyTorch's upsample_nearest2d / upsample_bilinear2d)

// Source coordinate of output index `o` for a scale `in/out` (or the given one).
static inline float source_index(float scale, int64_t o, int align_corners, int cubic_like) {
    if (align_corners) return scale * (float)o;
    const float src = scale * ((float)o + 0.5f) - 0.5f;
    return (!cubic_like && src < 0.0f) ? 0.0f : src;
}

void ember_interpolate2d(float* out, const float* inp, int64_t planes, int64_t H, int64_t W,
                         int64_t OH, int64_t OW, int bilinear, int align_corners, float scale_h,
                         float scale_w, int backward) {
    // Forward: out(planes, OH, OW) from inp(planes, H, W). Backward: out is dinp(planes, H, W)
    // and inp is dout(planes, OH, OW); each plane scattered in output order.
    const int nt = ember_team(planes * OH * OW);
    EMBER_FOR(nt, p, planes,
        const float* src = inp + p * (backward ? OH * OW : H * W);
        float* dst = out + p * (backward ? H * W : OH * OW);
        if (backward) memset(dst, 0, (size_t)(H * W) * sizeof(float));
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                if (!bilinear) {
                    // PyTorch's nearest_idx: the same size copies, twice the size halves the
                    // index, whatever the scale factor; otherwise floor(o · scale).
                    int64_t ih = OH == H ? oh : OH == 2 * H ? oh >> 1 : (int64_t)floorf((float)oh * scale_h);
                    int64_t iw = OW == W ? ow : OW == 2 * W ? ow >> 1 : (int64_t)floorf((float)ow * scale_w);
                    ih = ih < H - 1 ? ih : H - 1;
                    iw = iw < W - 1 ? iw : W - 1;
                    if (backward) dst[ih * W + iw] += src[oh * OW + ow];
                    else dst[oh * OW + ow] = src[ih * W + iw];
                    continue;
                }
                const float fh = source_index(scale_h, oh, align_corners, 0);
                const float fw = source_index(scale_w, ow, align_corners, 0);
                const int64_t h0 = (int64_t)fh, w0 = (int64_t)fw;
                const int64_t h1 = h0 + (h0 < H - 1), w1 = w0 + (w0 < W - 1);
                const float lh = fh - (float)h0, lw = fw - (float)w0;
                const float hh = 1.0f - lh, hw = 1.0f - lw;
                if (backward) {
                    const float g = src[oh * OW + ow];
                    dst[h0 * W + w0] += hh * hw * g;
                    dst[h0 * W + w1] += hh * lw * g;
                    dst[h1 * W + w0] += lh * hw * g;
                    dst[h1 * W + w1] += lh * lw * g;
                } else {
                    dst[oh * OW + ow] = hh * (hw * src[h0 * W + w0] + lw * src[h0 * W + w1]) +
                                        lh * (hw * src[h1 * W + w0] + lw * src[h1 * W + w1]);
                }
            }
    );
}
