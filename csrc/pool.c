// Pooling and resampling over planes (N·C planes of H × W, NCHW). Every output element is
// computed by one thread from its own window, so the forward passes split planes over the
// threads freely; the backward passes scatter into overlapping windows, so each plane is
// done by one thread in index order: the same bits for any thread count.
#include "internal.h"

#include <math.h>
#include <string.h>

// MARK: Max pooling (PyTorch's max_pool2d_with_indices: NaN wins, ties keep the first)

static void maxpool_planes(float* out, int64_t* indices, const float* inp, const ember_pool2d_shape* s,
                           int64_t lo, int64_t hi) {
    const int64_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    for (int64_t p = lo; p < hi; p++) {
        const float* x = inp + p * H * W;
        float* y = out + p * OH * OW;
        int64_t* ix = indices + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * s->SH - s->PH;
            const int64_t h1 = h0 + (s->KH - 1) * s->DH + 1 < H ? h0 + (s->KH - 1) * s->DH + 1 : H;
            while (h0 < 0) h0 += s->DH;
            for (int64_t ow = 0; ow < OW; ow++) {
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
                            if (isnan(v)) goto done;
                        }
                    }
            done:
                y[oh * OW + ow] = best;
                ix[oh * OW + ow] = at;
            }
        }
    }
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
        for (int64_t i = 0; i < out_plane; i++) dx[ix[i]] += g[i];
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
    if (s->divisor > 0) return (float)s->divisor;
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
                            if (isnan(best)) goto done;
                        }
                done:
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
                    int64_t ih = (int64_t)floorf((float)oh * scale_h), iw = (int64_t)floorf((float)ow * scale_w);
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
