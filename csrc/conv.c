// Convolution lowered onto the GEMM engine, an image (or, for small outputs, a block of
// images side by side) at a time (NCHW):
//   forward     out[n,g] (OCg × OHW) = W[g] (OCg × Kg) · col(x[n,g]) (Kg × OHW) + bias
//   input grad  dcol = W[g]ᵀ · dY[n,g], scattered back by col2im
//   weight grad dW[g] = Σ_n dY[n,g] · col(x[n,g])ᵀ, over fixed shards of images
// where Kg = Cg·KH·KW and col is im2col's patch matrix. Images are shared out over the
// threads and each product is a single-threaded GEMM (ember_sgemm_serial), so no product
// is split and the bits never depend on the thread count. The weight gradient's sum over
// images runs inside each of CONV_SHARDS shards (a function of N only), then the shards are
// added in shard order. docs/DESIGN.md says why im2col rather than direct convolution.
#include "internal.h"
#include "gemm/gemm_internal.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// Shards of the weight-gradient sum: fixed, so the summation order depends on N alone.
// 8 covers 2 and 4 threads evenly; more would cost an extra partial product per shard.
#define CONV_SHARDS 8

static _Thread_local ember_scratch col_buf_, dcol_buf_;
static _Thread_local ember_scratch partial_buf_;

// Floats of per-thread scratch.
static float* reserve(ember_scratch* s, size_t floats) { return ember_reserve(s, floats * sizeof(float)); }

// A 1×1 window without padding (any stride): every window is inside x and each element of x
// is in at most one window.
static int is_one_by_one(const ember_conv2d_shape* s) {
    return s->KH == 1 && s->KW == 1 && s->PH == 0 && s->PW == 0;
}

static int is_pointwise(const ember_conv2d_shape* s) { return is_one_by_one(s) && s->SH == 1 && s->SW == 1; }

// col(Kg × OHW, row stride ld) from one group of one image: x is (Cg, H, W).
EMBER_SIMD
static void im2col(float* col, int64_t ld, const float* x, const ember_conv2d_shape* s, int64_t Cg) {
    const int64_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    if (is_one_by_one(s)) {
        // A strided 1×1 window (a shortcut): a plain strided copy, which vectorises, in place
        // of the general loop's bounds test per element.
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t oh = 0; oh < OH; oh++) {
                const float* src = x + (c * H + oh * s->SH) * W;
                float* dst = col + c * ld + oh * OW;
                if (s->SW == 2) for (int64_t ow = 0; ow < OW; ow++) dst[ow] = src[2 * ow];
                else for (int64_t ow = 0; ow < OW; ow++) dst[ow] = src[ow * s->SW];
            }
        return;
    }
    for (int64_t c = 0; c < Cg; c++)
        for (int64_t kh = 0; kh < s->KH; kh++)
            for (int64_t kw = 0; kw < s->KW; kw++) {
                float* row = col + ((c * s->KH + kh) * s->KW + kw) * ld;
                const float* plane = x + c * H * W;
                for (int64_t oh = 0; oh < OH; oh++) {
                    float* dst = row + oh * OW;
                    const int64_t ih = oh * s->SH - s->PH + kh * s->DH;
                    if (ih < 0 || ih >= H) {
                        memset(dst, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float* src = plane + ih * W;
                    const int64_t off = kw * s->DW - s->PW;
                    if (s->SW == 1) {
                        // iw = ow + off: zeros, a contiguous run, zeros.
                        int64_t lo = off < 0 ? -off : 0, hi = W - off < OW ? W - off : OW;
                        if (hi < lo) hi = lo;
                        for (int64_t ow = 0; ow < lo && ow < OW; ow++) dst[ow] = 0.0f;
                        if (hi > lo) memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof(float));
                        for (int64_t ow = hi > lo ? hi : lo; ow < OW; ow++) dst[ow] = 0.0f;
                    } else {
                        for (int64_t ow = 0; ow < OW; ow++) {
                            const int64_t iw = ow * s->SW + off;
                            dst[ow] = (iw >= 0 && iw < W) ? src[iw] : 0.0f;
                        }
                    }
                }
            }
}

// Taps of one dx row that col2im sums in registers (a 3×3 kernel has 9; 8×8 fits).
#define COL2IM_TAPS 64

// dst (W floats) += Σ_t src[t][iw] over each tap's columns [lo[t], hi[t]), the taps in order.
static void col2im_row_generic(float* dst, int64_t W, const float* const* src, const int64_t* lo,
                               const int64_t* hi, int taps) {
    for (int64_t iw = 0; iw < W; iw++) {
        float acc = dst[iw];
        for (int t = 0; t < taps; t++)
            if (iw >= lo[t] && iw < hi[t]) acc = acc + src[t][iw];
        dst[iw] = acc;
    }
}

#if defined(__x86_64__) || defined(__i386__)
// The same, 8 columns at a time: a tap's lanes outside its columns load 0, and adding +0 to a
// sum that started at +0 (dx is zeroed first) changes no bit.
__attribute__((target("avx2"))) static void col2im_row_avx2(float* dst, int64_t W, const float* const* src,
                                                           const int64_t* lo, const int64_t* hi, int taps) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    // Columns [full_lo, full_hi) are inside every tap's: their vectors load whole.
    int64_t full_lo = 0, full_hi = W;
    for (int t = 0; t < taps; t++) {
        if (lo[t] > full_lo) full_lo = lo[t];
        if (hi[t] < full_hi) full_hi = hi[t];
    }
    for (int64_t x = 0; x < W; x += 8) {
        if (x >= full_lo && x + 8 <= full_hi) {
            __m256 acc = _mm256_loadu_ps(dst + x);
            for (int t = 0; t < taps; t++) acc = _mm256_add_ps(acc, _mm256_loadu_ps(src[t] + x));
            _mm256_storeu_ps(dst + x, acc);
            continue;
        }
        const __m256i in_row = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(W - x)), lane);
        __m256 acc = _mm256_maskload_ps(dst + x, in_row);
        for (int t = 0; t < taps; t++) {
            const __m256i keep = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(lo[t] - x)), lane),
                                                     _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(hi[t] - x)), lane));
            acc = _mm256_add_ps(acc, _mm256_maskload_ps(src[t] + x, keep));
        }
        _mm256_maskstore_ps(dst + x, in_row, acc);
    }
}
#endif

static void col2im_row(float* dst, int64_t W, const float* const* src, const int64_t* lo, const int64_t* hi,
                       int taps) {
#if defined(__x86_64__) || defined(__i386__)
    if (ember_gemm_current_isa()->path >= EMBER_CPU_AVX2) return col2im_row_avx2(dst, W, src, lo, hi, taps);
#endif
    col2im_row_generic(dst, W, src, lo, hi, taps);
}

// dx(Cg, H, W) += col2im(dcol, row stride ld), dx zeroed by the caller: the reverse of im2col,
// in a fixed order (overlapping windows add up in row order of dcol).
EMBER_SIMD
static void col2im(float* dx, const float* dcol, int64_t ld, const ember_conv2d_shape* s, int64_t Cg) {
    const int64_t H = s->H, W = s->W, OH = s->OH, OW = s->OW;
    if (s->SH == 1 && s->SW == 1 && s->KH * s->KW <= COL2IM_TAPS) {
        // A row of dx at a time, its taps (kh, then kw: the general loop's order for every
        // element) summed in registers. Adding each tap's row at its own offset instead
        // loaded and stored dx once per tap, at shifting alignments.
        const float* src[COL2IM_TAPS];
        int64_t lo[COL2IM_TAPS], hi[COL2IM_TAPS];
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t ih = 0; ih < H; ih++) {
                int taps = 0;
                for (int64_t kh = 0; kh < s->KH; kh++) {
                    const int64_t oh = ih + s->PH - kh * s->DH;
                    if (oh < 0 || oh >= OH) continue;
                    for (int64_t kw = 0; kw < s->KW; kw++) {
                        // Column iw takes ow = iw − off of this tap's row, for ow in [0, OW).
                        const int64_t off = kw * s->DW - s->PW;
                        lo[taps] = off > 0 ? off : 0, hi[taps] = OW + off < W ? OW + off : W;
                        src[taps++] = dcol + ((c * s->KH + kh) * s->KW + kw) * ld + oh * OW - off;
                    }
                }
                col2im_row(dx + (c * H + ih) * W, W, src, lo, hi, taps);
            }
        return;
    }
    for (int64_t c = 0; c < Cg; c++)
        for (int64_t kh = 0; kh < s->KH; kh++)
            for (int64_t kw = 0; kw < s->KW; kw++) {
                const float* row = dcol + ((c * s->KH + kh) * s->KW + kw) * ld;
                float* plane = dx + c * H * W;
                for (int64_t oh = 0; oh < OH; oh++) {
                    const int64_t ih = oh * s->SH - s->PH + kh * s->DH;
                    if (ih < 0 || ih >= H) continue;
                    const float* src = row + oh * OW;
                    float* dst = plane + ih * W;
                    const int64_t off = kw * s->DW - s->PW;
                    if (s->SW == 1) {
                        // iw = ow + off: one contiguous run, which vectorises (same sums).
                        const int64_t lo = off < 0 ? -off : 0, hi = W - off < OW ? W - off : OW;
                        for (int64_t ow = lo; ow < hi; ow++) dst[ow + off] += src[ow];
                    } else {
                        for (int64_t ow = 0; ow < OW; ow++) {
                            const int64_t iw = ow * s->SW + off;
                            if (iw >= 0 && iw < W) dst[iw] += src[ow];
                        }
                    }
                }
            }
}

// dx(Cg, H, W) = col2im(dcol) for a 1×1 kernel without padding (a strided shortcut): each
// element of dx takes at most one value of dcol, so dx is written once, value or zero,
// instead of zero-filled and then added to. (+ 0.0f keeps the bits of 0 + v: −0 becomes +0.)
EMBER_SIMD
static void col2im_pointwise(float* dx, const float* dcol, int64_t ld, const ember_conv2d_shape* s, int64_t Cg) {
    const int64_t H = s->H, W = s->W, OW = s->OW, SH = s->SH, SW = s->SW;   // OH, OW = ⌈H / SH⌉, ⌈W / SW⌉
    for (int64_t c = 0; c < Cg; c++)
        for (int64_t ih = 0; ih < H; ih++) {
            float* dst = dx + (c * H + ih) * W;
            if (ih % SH != 0) {
                memset(dst, 0, (size_t)W * sizeof(float));
                continue;
            }
            const float* src = dcol + c * ld + ih / SH * OW;
            int64_t iw = 0;
            if (SW == 2) {
                const int64_t pairs = W / 2;
                for (int64_t ow = 0; ow < pairs; ow++) {
                    dst[2 * ow] = src[ow] + 0.0f;
                    dst[2 * ow + 1] = 0.0f;
                }
                iw = 2 * pairs;
            }
            for (; iw < W; iw++) dst[iw] = iw % SW == 0 ? src[iw / SW] + 0.0f : 0.0f;
        }
}

// Images per product: a small output plane (ResNet's 4×4 stage: 16 columns) makes a thin
// GEMM, so several images' columns go side by side until a product has ~256 columns, within
// a ~4 MB column buffer. Forward and input-gradient bits are unchanged by it (each output is
// still one chain over Kg or OCg); the weight gradient's chain then runs over the images of a
// block, which depends on the shape only.
static int64_t images_per_product(const ember_conv2d_shape* s) {
    const int64_t OHW = s->OH * s->OW, Kg = s->C / s->G * s->KH * s->KW;
    if (OHW >= 256) return 1;
    int64_t b = (256 + OHW - 1) / OHW;
    const int64_t cap = (1 << 20) / (Kg * OHW);
    if (b > cap) b = cap;
    return b < 1 ? 1 : b;
}

// Images [n0, n0 + nb) of the forward, every group; GEMMs on `nt` threads (1 inside the
// image loop). With nb > 1 their columns sit side by side (row stride nb·OHW).
static void forward_block(float* out, const float* inp, const float* weight, const float* bias,
                          const ember_conv2d_shape* s, int64_t n0, int64_t nb, int nt) {
    const int64_t G = s->G, Cg = s->C / G, OCg = s->OC / G, Kg = Cg * s->KH * s->KW;
    const int64_t HW = s->H * s->W, OHW = s->OH * s->OW, ld = nb * OHW;
    const int direct = nb == 1 && is_pointwise(s);
    float* col = direct ? NULL : reserve(&col_buf_, (size_t)(Kg * ld));
    float* tmp = nb > 1 ? reserve(&dcol_buf_, (size_t)(OCg * ld)) : NULL;
    for (int64_t g = 0; g < G; g++) {
        const float* B = inp + n0 * s->C * HW + g * Cg * HW;
        if (col) {
            for (int64_t b = 0; b < nb; b++)
                im2col(col + b * OHW, ld, inp + (n0 + b) * s->C * HW + g * Cg * HW, s, Cg);
            B = col;
        }
        float* og = tmp ? tmp : out + n0 * s->OC * OHW + g * OCg * OHW;
        const float* Wg = weight + g * OCg * Kg;
        if (nt > 1) ember_sgemm(0, 0, OCg, ld, Kg, 1.0f, Wg, Kg, B, ld, 0.0f, og, ld);
        else ember_sgemm_serial(0, 0, OCg, ld, Kg, 1.0f, Wg, Kg, B, ld, 0.0f, og, ld);   // same bits
        for (int64_t b = 0; b < nb; b++)
            for (int64_t o = 0; o < OCg; o++) {
                const float* src = og + o * ld + b * OHW;
                float* row = out + (n0 + b) * s->OC * OHW + (g * OCg + o) * OHW;
                const float bv = bias ? bias[g * OCg + o] : 0.0f;
                if (bias) for (int64_t i = 0; i < OHW; i++) row[i] = src[i] + bv;
                else if (row != src) memcpy(row, src, (size_t)OHW * sizeof(float));
            }
    }
}

void ember_conv2d_forward(float* out, const float* inp, const float* weight, const float* bias,
                          const ember_conv2d_shape* s) {
    if (ember_conv_is_thin(s)) return ember_conv_thin_forward(out, inp, weight, bias, s);
    // The forward's bits do not depend on the blocking, so the blocks are evened out over
    // the threads (3 blocks of 14, 14 and 4 images would leave a thread idle).
    const int nt = ember_team_size();
    int64_t per = images_per_product(s), blocks = (s->N + per - 1) / per;
    if (nt > 1 && s->N >= nt) {
        blocks = (blocks + nt - 1) / nt * nt;
        per = (s->N + blocks - 1) / blocks;
        blocks = (s->N + per - 1) / per;
    }
    if (blocks >= nt && nt > 1) {
        EMBER_FOR(nt, k, blocks,
            const int64_t n0 = k * per, nb = s->N - n0 < per ? s->N - n0 : per;
            forward_block(out, inp, weight, bias, s, n0, nb, 1);
        );
    } else {
        // Fewer blocks than threads: the threads share each block's products instead.
        for (int64_t k = 0; k < blocks; k++) {
            const int64_t n0 = k * per, nb = s->N - n0 < per ? s->N - n0 : per;
            forward_block(out, inp, weight, bias, s, n0, nb, nt);
        }
    }
}

static _Thread_local ember_scratch dy_buf_;

// db_part(OC) = Σ dY over images [lo, hi), image by image, each row summed in double.
static void bias_partial(double* db_part, const float* dout, const ember_conv2d_shape* s, int64_t lo, int64_t hi) {
    const int64_t OHW = s->OH * s->OW;
    for (int64_t o = 0; o < s->OC; o++) db_part[o] = 0.0;
    for (int64_t n = lo; n < hi; n++)
        for (int64_t o = 0; o < s->OC; o++) {
            const float* row = dout + n * s->OC * OHW + o * OHW;
            double acc = 0.0;
            for (int64_t i = 0; i < OHW; i++) acc += row[i];
            db_part[o] += acc;
        }
}

// Images [lo, hi) of the backward, in blocks of `per`: dx for each, and the shard's
// Σ dY·colᵀ into dw_part and Σ dY into db_part (either NULL when not wanted).
static void backward_shard(float* dinp, float* dw_part, double* db_part, const float* dout,
                           const float* inp, const float* weight, const ember_conv2d_shape* s,
                           int64_t lo, int64_t hi, int64_t per) {
    const int64_t G = s->G, Cg = s->C / G, OCg = s->OC / G, Kg = Cg * s->KH * s->KW;
    const int64_t HW = s->H * s->W, OHW = s->OH * s->OW;
    const int pointwise = is_pointwise(s);
    for (int64_t n0 = lo; n0 < hi; n0 += per) {
        const int64_t nb = hi - n0 < per ? hi - n0 : per, ld = nb * OHW;
        const int direct = nb == 1 && pointwise;
        float* col = direct ? NULL : reserve(&col_buf_, (size_t)(Kg * ld));
        float* dcol = direct ? NULL : reserve(&dcol_buf_, (size_t)(Kg * ld));
        float* dyb = nb > 1 ? reserve(&dy_buf_, (size_t)(OCg * ld)) : NULL;
        for (int64_t g = 0; g < G; g++) {
            // dY of the block's images side by side: (OCg × nb·OHW).
            const float* dyg = dout + n0 * s->OC * OHW + g * OCg * OHW;
            if (dyb) {
                for (int64_t b = 0; b < nb; b++)
                    for (int64_t o = 0; o < OCg; o++)
                        memcpy(dyb + o * ld + b * OHW, dout + (n0 + b) * s->OC * OHW + (g * OCg + o) * OHW,
                               (size_t)OHW * sizeof(float));
                dyg = dyb;
            }
            const float* Wg = weight + g * OCg * Kg;
            if (dw_part) {
                const float* B = inp + n0 * s->C * HW + g * Cg * HW;
                if (col) {
                    for (int64_t b = 0; b < nb; b++)
                        im2col(col + b * OHW, ld, inp + (n0 + b) * s->C * HW + g * Cg * HW, s, Cg);
                    B = col;
                }
                ember_sgemm_serial(0, 1, OCg, Kg, ld, 1.0f, dyg, ld, B, ld, n0 == lo ? 0.0f : 1.0f,
                                   dw_part + g * OCg * Kg, Kg);
            }
            if (dinp) {
                if (direct) {
                    ember_sgemm_serial(1, 0, Kg, OHW, OCg, 1.0f, Wg, Kg, dyg, OHW, 0.0f,
                                       dinp + n0 * s->C * HW + g * Cg * HW, OHW);
                } else {
                    ember_sgemm_serial(1, 0, Kg, ld, OCg, 1.0f, Wg, Kg, dyg, ld, 0.0f, dcol, ld);
                    for (int64_t b = 0; b < nb; b++) {
                        float* dxg = dinp + (n0 + b) * s->C * HW + g * Cg * HW;
                        if (is_one_by_one(s)) {
                            col2im_pointwise(dxg, dcol + b * OHW, ld, s, Cg);
                        } else {
                            memset(dxg, 0, (size_t)(Cg * HW) * sizeof(float));
                            col2im(dxg, dcol + b * OHW, ld, s, Cg);
                        }
                    }
                }
            }
        }
    }
    if (db_part) bias_partial(db_part, dout, s, lo, hi);
}

// The weight gradient as one product over the whole batch, dW[g] = dY[g] (OCg × N·OHW) ·
// col[g]ᵀ, on the engine's threads (which split dW, never the sum): for layers whose weights
// outweigh their columns (ResNet's 512-channel 4×4 stage), where CONV_SHARDS partial
// weight matrices would cost more memory traffic than the product itself. The choice is a
// function of the shape alone, so the bits still never depend on the thread count.
static int whole_batch_weight_grad(const ember_conv2d_shape* s) {
    const int64_t Kg = s->C / s->G * s->KH * s->KW, cols = s->N * s->OH * s->OW;
    return s->N >= 2 && CONV_SHARDS * (s->OC / s->G) > cols && Kg * cols <= (int64_t)1 << 23;
}

static _Thread_local ember_scratch whole_col_, whole_dy_;

static void weight_grad_whole_batch(float* dweight, const float* dout, const float* inp,
                                    const ember_conv2d_shape* s) {
    const int64_t G = s->G, Cg = s->C / G, OCg = s->OC / G, Kg = Cg * s->KH * s->KW;
    const int64_t HW = s->H * s->W, OHW = s->OH * s->OW, ld = s->N * OHW;
    float* col = reserve(&whole_col_, (size_t)(Kg * ld));
    float* dy = reserve(&whole_dy_, (size_t)(OCg * ld));
    const int nt = ember_team_size();
    for (int64_t g = 0; g < G; g++) {
        // Each image's columns and dY rows side by side, one image per iteration.
        EMBER_FOR(nt, n, s->N,
            im2col(col + n * OHW, ld, inp + n * s->C * HW + g * Cg * HW, s, Cg);
            for (int64_t o = 0; o < OCg; o++)
                memcpy(dy + o * ld + n * OHW, dout + n * s->OC * OHW + (g * OCg + o) * OHW,
                       (size_t)OHW * sizeof(float));
        );
        ember_sgemm(0, 1, OCg, Kg, ld, 1.0f, dy, ld, col, ld, 0.0f, dweight + g * OCg * Kg, Kg);
    }
}

// dbias = the shards' double sums added in shard order.
static void bias_combine(float* dbias, const double* db_parts, int64_t OC, int64_t shards) {
    for (int64_t o = 0; o < OC; o++) {
        double acc = 0.0;
        for (int64_t k = 0; k < shards; k++) acc += db_parts[k * OC + o];
        dbias[o] = (float)acc;
    }
}

// The thin-input kernels (conv_thin.c) over the same shards: each shard's weight gradient as
// eight lanes per weight, summed lane by lane, then the shards added in shard order.
static void backward_thin(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* weight, const ember_conv2d_shape* s, int64_t shards) {
    const int64_t wsize = s->OC * s->C * s->KH * s->KW;
    const int64_t lane_floats = dweight ? shards * wsize * 8 : 0;
    float* part = reserve(&partial_buf_, (size_t)(lane_floats + (dbias ? shards * s->OC * 2 : 0)));
    double* db_parts = dbias ? (double*)(void*)(part + lane_floats) : NULL;
    int nt = ember_team_size();
    if (nt > shards) nt = (int)shards;
    EMBER_FOR(nt, sh, shards,
        const int64_t lo = sh * s->N / shards, hi = (sh + 1) * s->N / shards;
        if (dweight) ember_conv_thin_weight_lanes(part + sh * wsize * 8, dout, inp, s, lo, hi);
        if (dinp) ember_conv_thin_input_grad(dinp, dout, weight, s, lo, hi);
        if (dbias) bias_partial(db_parts + sh * s->OC, dout, s, lo, hi);
    );
    if (dweight)
        for (int64_t i = 0; i < wsize; i++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < shards; k++) {
                const float* l = part + (k * wsize + i) * 8;
                float lanes = l[0];
                for (int j = 1; j < 8; j++) lanes = lanes + l[j];
                acc = k == 0 ? lanes : acc + lanes;
            }
            dweight[i] = acc;
        }
    if (dbias) bias_combine(dbias, db_parts, s->OC, shards);
}

// The GEMM lowering's backward (im2col, col2im), over `shards` shards of images.
static void backward_lowered(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                             const float* weight, const ember_conv2d_shape* s, int64_t shards) {
    const int64_t wsize = s->OC * (s->C / s->G) * s->KH * s->KW;
    const int64_t per = images_per_product(s);
    // Partials: shards × weight floats, then shards × OC doubles for the bias.
    const int whole = dweight && whole_batch_weight_grad(s);
    const int64_t dw_floats = dweight && !whole ? (shards * wsize + 1) / 2 * 2 : 0;   // doubles stay aligned
    const int64_t db_floats = dbias ? shards * s->OC * 2 : 0;               // a double is two floats
    float* part = reserve(&partial_buf_, (size_t)(dw_floats + db_floats));
    float* dw_parts = dweight && !whole ? part : NULL;
    double* db_parts = dbias ? (double*)(void*)(part + dw_floats) : NULL;
    int nt = ember_team_size();
    if (nt > shards) nt = (int)shards;
    if (dinp || dbias || !whole)
        EMBER_FOR(nt, sh, shards,
            const int64_t lo = sh * s->N / shards, hi = (sh + 1) * s->N / shards;
            backward_shard(dinp, dw_parts ? dw_parts + sh * wsize : NULL,
                           db_parts ? db_parts + sh * s->OC : NULL, dout, inp, weight, s, lo, hi, per);
        );
    if (whole) {
        weight_grad_whole_batch(dweight, dout, inp, s);
    } else if (dweight) {
        // Shards added in shard order, element by element.
        const int nt = ember_team(wsize);   // (shadows: EMBER_FOR's pragma names `nt`)
        EMBER_FOR(nt, i, wsize,
            float acc = dw_parts[i];
            for (int64_t k = 1; k < shards; k++) acc = acc + dw_parts[k * wsize + i];
            dweight[i] = acc;
        );
    }
    if (dbias) bias_combine(dbias, db_parts, s->OC, shards);
}

void ember_conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                           const float* inp, const float* weight, const ember_conv2d_shape* s) {
    if (s->N == 0) {
        if (dweight) memset(dweight, 0, (size_t)(s->OC * (s->C / s->G) * s->KH * s->KW) * sizeof(float));
        if (dbias) memset(dbias, 0, (size_t)s->OC * sizeof(float));
        return;
    }
    const int64_t shards = s->N < CONV_SHARDS ? s->N : CONV_SHARDS;
    if (!ember_conv_is_thin(s)) return backward_lowered(dinp, dweight, dbias, dout, inp, weight, s, shards);
    // The direct input gradient pays for one input channel only: with two or three (RGB), the
    // lowering's dY·Wᵀ (K = OC) and col2im took 0.64–0.80 of its time (docs/BENCHMARKS.md).
    if (dinp && s->C > 1) {
        backward_lowered(dinp, NULL, NULL, dout, inp, weight, s, shards);
        dinp = NULL;
    }
    if (dinp || dweight || dbias) backward_thin(dinp, dweight, dbias, dout, inp, weight, s, shards);
}
