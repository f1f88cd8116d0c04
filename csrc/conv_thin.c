// Direct convolution for thin inputs: a network's first layer (3×3 kernel, at most 3 input
// channels, stride 1, one group), where im2col's product has so short a chain (K = 9 for
// MNIST) that the GEMM spends its time loading and storing C. Every element is one FMA chain
// in a fixed order, and the generic path runs the same chains through fmaf, so the bits are
// the same on every path and thread count:
//   forward      out = (Σ_c Σ_(kw,kh) w[o,c,kh,kw]·x[c, tap]) + bias, c outer, then kw, then kh;
//   input grad   dx[c] = Σ_o Σ_(kw,kh) w[o,c,kh,kw]·dY[o, iy + PH − kh, ix + PW − kw], o outer,
//                dY read in place (no padded copy of its many planes): taps on rows past it
//                left out, taps on columns past it adding w·0. Run for one input channel
//                only: with two or three, conv.c's GEMM lowering is faster;
//   weight grad  eight lanes per weight, lane l taking the output positions p ≡ l (mod 8) of
//                the flat OH·OW plane, over images and chunks in order; lanes summed 0..7.
// The forward runs as a GEMM over the padded input's flat rows (6 output planes × 16
// positions per tile); the input gradient streams dY's rows past 4 rows of dx accumulators.
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

static _Thread_local ember_scratch pad_buf_, rows_buf_, col_buf_;

// The plane pitch of `padded`: at least 16 floats past the plane, and never a multiple of 4 KB
// (planes read together would map onto the same L1 sets).
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

// MARK: - The generic chains, and the input gradient's tile

/// out[p·out_pstride + y·out_ld + x] = (Σ_g Σ_(kh,kw) w[p·wpstride + g·wstride + kh·3 + kw]
///     · src[g·sstride + (y + oy + r(kh))·ld + x + ox + c(kw)]) (+ bias[p])
/// for each output plane p < planes, y < rows, x < cols, with g, kh, kw ascending in the
/// chain; r(kh) = kh and c(kw) = kw, or 2 − kh
/// and 2 − kw when `flip` (the input gradient's transposed taps). The forward's source is a
/// padded copy with room past each row, and every tap reads it; the input gradient's is dY in
/// place, a src_rows × src_cols plane: its taps on rows outside it are left out of the chain,
/// its taps on columns outside it read zero (the vector kernel masks those lanes).
typedef struct {
    const float* src;
    int64_t ld, sstride;
    int64_t src_rows, src_cols, oy, ox;
    const float* w;
    int64_t wstride, groups;
    int flip;
    float* out;
    int64_t out_ld, rows, cols;
    int64_t planes, wpstride, out_pstride;
    const float* bias;   // a value per output plane, or NULL
} ember_taps9;

static void taps9_generic(const ember_taps9* k) {
    for (int64_t p = 0; p < k->planes; p++)
        for (int64_t y = 0; y < k->rows; y++)
            for (int64_t x = 0; x < k->cols; x++) {
                float acc = 0.0f;
                for (int64_t g = 0; g < k->groups; g++)
                    for (int t = 0; t < TAPS; t++) {   // kw outer, kh inner: the vector kernel's order
                        const int kh = t % 3, kw = t / 3;
                        const int64_t r = k->flip ? 2 - kh : kh, c = k->flip ? 2 - kw : kw;
                        const int64_t sy = y + k->oy + r, sx = x + k->ox + c;
                        if (k->flip && (sy < 0 || sy >= k->src_rows)) continue;
                        const int inside = !k->flip || (sx >= 0 && sx < k->src_cols);
                        acc = fmaf(k->w[p * k->wpstride + g * k->wstride + kh * 3 + kw],
                                   inside ? k->src[g * k->sstride + sy * k->ld + sx] : 0.0f, acc);
                    }
                k->out[p * k->out_pstride + y * k->out_ld + x] = k->bias ? acc + k->bias[p] : acc;
            }
}

#ifdef T256
// The input gradient's tile (the forward has its own, below): NR rows × 8·NV columns of dx at
// (y, x), a kernel column (kw) at a time: its 3 weights in registers, each dY row vector loaded
// once and fed to the (up to 3) dx rows it is a tap of, so a tile takes (NR + 2)·3·NV loads and
// 9 broadcasts for 9·NR·NV FMAs, and NR·NV + 3 + NV registers (13) stay within 16. (All 9
// weights held at once spilled accumulators.) Walking dY's rows upwards gives every output its
// taps in chain order (kw, then kh). Rows of dY outside the plane are skipped, and EDGE tiles
// (whose columns reach past the plane's) mask their loads to the plane (those lanes read 0).
// The tile runs every output plane in turn: its place, row range and masks are worked out once.
INLINE T256 void grad_tile(int NR, int NV, int EDGE, const ember_taps9* k, float* out, int64_t out_ld,
                           int64_t out_pstride, int64_t y, int64_t x) {
    // `out` is output row y of plane 0.
    const int64_t ld = k->ld, sx = x + k->ox, sy = y + k->oy;
    // Source rows i in [i_lo, i_hi) are inside the plane.
    const int64_t i_lo = sy < 0 ? -sy : 0;
    const int64_t i_hi = sy + NR + 2 > k->src_rows ? k->src_rows - sy : NR + 2;
    // EDGE bit 0 masks vector 0's loads, bit 1 vector NV − 1's (the others stay in the plane).
    __m256i mask[2][3];
    if (EDGE) {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for (int v = 0; v < NV; v++)
            for (int kw = 0; kw < 3; kw++) {
                // Lane j reads column c = sx + 8v + c(kw) + j: kept when 0 <= c < src_cols.
                const __m256i c = _mm256_add_epi32(lane, _mm256_set1_epi32((int)(sx + 8 * v + 2 - kw)));
                mask[v][kw] = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), c),
                                                  _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k->src_cols), c));
            }
    }
    for (int64_t p = 0; p < k->planes; p++) {
        __m256 acc[4][2];
        for (int r = 0; r < NR; r++)
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
        for (int64_t g = 0; g < k->groups; g++) {
            const float* src = k->src + g * k->sstride + sy * ld + sx;
            const float* wg = k->w + p * k->wpstride + g * k->wstride;
            _Pragma("clang loop unroll(full)")
            for (int kw = 0; kw < 3; kw++) {
                __m256 w[3];
                for (int kh = 0; kh < 3; kh++) w[kh] = _mm256_broadcast_ss(wg + kh * 3 + kw);
                _Pragma("clang loop unroll(full)")
                for (int i = NR + 1; i >= 0; i--) {
                    // Tap (kh, kw) of dx row r reads dY row r + 2 − kh, column x + 2 − kw, so
                    // row i feeds dx row i − 2 + kh.
                    if (i < i_lo || i >= i_hi) continue;
                    const float* row = src + i * ld;
                    __m256 in[2];
                    for (int v = 0; v < NV; v++) {
                        const float* at = row + 8 * v + 2 - kw;
                        const int masked = (v == 0 && (EDGE & 1)) || (v == NV - 1 && (EDGE & 2));
                        in[v] = masked ? _mm256_maskload_ps(at, mask[v][kw]) : _mm256_loadu_ps(at);
                    }
                    _Pragma("clang loop unroll(full)")
                    for (int kh = 0; kh < 3; kh++) {
                        const int r = i - 2 + kh;
                        if (r < 0 || r >= NR) continue;
                        for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(w[kh], in[v], acc[r][v]);
                    }
                }
            }
        }
        float* plane = out + p * out_pstride;
        for (int r = 0; r < NR; r++)
            for (int v = 0; v < NV; v++) {
                __m256 o = acc[r][v];
                if (k->bias) o = _mm256_add_ps(o, _mm256_broadcast_ss(k->bias + p));
                _mm256_storeu_ps(plane + r * out_ld + x + 8 * v, o);
            }
    }
}

// Right to left: a row's extra columns, stored by its last tile, land on the next row's first
// ones, which that row's first tile then stores over.
INLINE T256 void grad_rows(int NR, const ember_taps9* k, float* out, int64_t out_ld, int64_t out_pstride,
                           int64_t y, int64_t width) {
    // A vector at column x + 8v reaches past the plane when its taps' columns leave it.
#define OUTSIDE(V) (x + k->ox + 8 * (V) < 0 || x + k->ox + 8 * (V) + 10 > k->src_cols)
#define GRAD_TILE(NV)                                                           \
    switch (OUTSIDE(0) | OUTSIDE(NV - 1) << 1) {                                \
    case 0: grad_tile(NR, NV, 0, k, out, out_ld, out_pstride, y, x); break;     \
    case 1: grad_tile(NR, NV, 1, k, out, out_ld, out_pstride, y, x); break;     \
    case 2: grad_tile(NR, NV, 2, k, out, out_ld, out_pstride, y, x); break;     \
    default: grad_tile(NR, NV, 3, k, out, out_ld, out_pstride, y, x); break;    \
    }
    int64_t x = width - 8;
    if (width % 16) {
        GRAD_TILE(1);
        x -= 8;
    }
    for (x -= 8; x >= 0; x -= 16) { GRAD_TILE(2); }
#undef GRAD_TILE
#undef OUTSIDE
}

T256 static void grad_rows_any(int64_t n, const ember_taps9* k, float* out, int64_t out_ld, int64_t out_pstride,
                               int64_t y, int64_t width) {
    switch (n) {
    case 4: grad_rows(4, k, out, out_ld, out_pstride, y, width); break;
    case 3: grad_rows(3, k, out, out_ld, out_pstride, y, width); break;
    case 2: grad_rows(2, k, out, out_ld, out_pstride, y, width); break;
    case 1: grad_rows(1, k, out, out_ld, out_pstride, y, width); break;
    }
}

// Rows are computed 8 columns at a time, out to the next multiple of 8 (the edge tiles mask
// their loads). The extra columns of a row land on the start of the next row, which is stored
// after it (see grad_rows); the last rows, whose extra columns would land on another plane,
// go through scratch rows and are copied.
T256 static void grad_avx2(const ember_taps9* k) {
    const int64_t width = (k->cols + 7) / 8 * 8, ld = k->out_ld, ps = k->out_pstride;
    int64_t y = 0;
    for (; width == k->cols ? y + 4 <= k->rows : y + 4 < k->rows; y += 4)
        grad_rows_any(4, k, k->out + y * ld, ld, ps, y, width);
    const int64_t n = k->rows - y;
    if (n == 0) return;
    if (width == k->cols) return grad_rows_any(n, k, k->out + y * ld, ld, ps, y, width);
    // Each plane's last rows in scratch, n·width apart, and one more row for the last plane's
    // extra columns.
    float* tail = ember_reserve(&rows_buf_, (size_t)((k->planes * n + 1) * width) * sizeof(float));
    grad_rows_any(n, k, tail, width, n * width, y, width);
    for (int64_t p = 0; p < k->planes; p++)
        for (int64_t r = 0; r < n; r++)
            memcpy(k->out + p * ps + (y + r) * ld, tail + (p * n + r) * width, (size_t)k->cols * sizeof(float));
}
#endif

// MARK: - The forward over flat rows

// The forward, read as a GEMM: output (y, x) sits at flat position q = y·Wp + x of the padded
// input's plane, and tap (c, kh, kw) reads q + c·pitch + kh·Wp + kw, one offset per tap. A tile
// is a GEMM microkernel's 6 output planes × 16 flat positions (12 accumulators, like
// kernel_avx2.c's 6×16), the weights broadcast and the input read in place; of each padded row
// only the Wp − OW = 2 columns past its end are computed for nothing. They are dropped at the
// store: a vector's valid lanes are moved to its front and stored at the first one's place (the
// shuffle only where a vector crosses a row's end: 1 in 7 of MNIST's); the lanes left over
// (at most 2) land where the next vector, stored after it, starts, and a plane's last vector
// is masked.
typedef struct {
    int32_t lanes[8];  // lane j of the stored vector is lane lanes[j] of the computed one
    int32_t dest;      // where its lane 0 goes in the OH·OW plane
    int32_t valid;     // how many of its lanes are outputs
    int32_t permute;   // whether they are not lanes 0..valid − 1 already
} flat_vector;

// Which flat positions a plane's vectors hold: ceil(((OH − 1)·Wp + OW) / 8) of them.
static int64_t flat_vectors(const ember_conv2d_shape* s, int64_t Wp, flat_vector* map) {
    const int64_t n = ((s->OH - 1) * Wp + s->OW + 7) / 8;
    for (int64_t m = 0; map && m < n; m++) {
        flat_vector* f = &map[m];
        *f = (flat_vector){{0, 1, 2, 3, 4, 5, 6, 7}, -1, 0, 0};
        for (int j = 0; j < 8; j++) {
            const int64_t q = 8 * m + j, y = q / Wp, x = q % Wp;
            if (x >= s->OW || y >= s->OH) continue;
            if (f->dest < 0) f->dest = (int32_t)(y * s->OW + x);
            f->permute |= f->valid != j;
            f->lanes[f->valid++] = j;
        }
    }
    return n;
}

#ifdef T256
// A tile's accumulators (+ bias) to the output planes; PERMUTE: some vector has lanes to move.
INLINE T256 void flat_store(int P, int NV, int LAST, int PERMUTE, __m256 acc[6][2], const float* bias,
                            float* out, int64_t plane, const flat_vector* map, int64_t m) {
    __m256i lanes[2];
    for (int v = 0; v < NV; v++)
        if (PERMUTE) lanes[v] = _mm256_loadu_si256((const __m256i*)map[m + v].lanes);
    const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(map[m + NV - 1].valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int p = 0; p < P; p++)
        for (int v = 0; v < NV; v++) {
            __m256 o = acc[p][v];
            if (bias) o = _mm256_add_ps(o, _mm256_broadcast_ss(bias + p));
            if (PERMUTE) o = _mm256_permutevar8x32_ps(o, lanes[v]);
            float* at = out + p * plane + map[m + v].dest;
            if (LAST && v == NV - 1) _mm256_maskstore_ps(at, keep, o);
            else _mm256_storeu_ps(at, o);
        }
}

// One tap of the 6×16 flat tile in assembly: Clang kept one of the 12 accumulators on the
// stack. ROW is the tap's source row as an operand, KW its column, T its place in the chain:
// two input vectors, then each plane's weight broadcast (alternating registers) and its 2 FMAs.
#define FLAT_BCAST_FMA(T, P, R)                                                 \
    "vbroadcastss " #T "*24+" #P "*4(%[w]), %%ymm" #R "\n\t"                  \
    "vfmadd231ps %%ymm" #R ", %%ymm12, %[a" #P "0]\n\t"                       \
    "vfmadd231ps %%ymm" #R ", %%ymm13, %[a" #P "1]\n\t"
#define FLAT_TAP(ROW, KW, T)                                                    \
    "vmovups " #KW "*4" ROW ", %%ymm12\n\t"                                    \
    "vmovups " #KW "*4+32" ROW ", %%ymm13\n\t"                                 \
    FLAT_BCAST_FMA(T, 0, 14) FLAT_BCAST_FMA(T, 1, 15) FLAT_BCAST_FMA(T, 2, 14) \
    FLAT_BCAST_FMA(T, 3, 15) FLAT_BCAST_FMA(T, 4, 14) FLAT_BCAST_FMA(T, 5, 15)
#define FLAT_ROW0 "(%[r])"
#define FLAT_ROW1 "(%[r],%[wp],1)"
#define FLAT_ROW2 "(%[r],%[wp],2)"

// P planes × NV vectors at flat vector m; w is the group's weights tap-major (9·C × 6), in
// chain order, src the padded input (C planes `pitch` apart, rows Wp apart). LAST: the tile's
// last vector is the plane's last, whose lanes past the plane are not stored.
INLINE T256 void flat_tile(int P, int NV, int LAST, const float* src, int C, int64_t pitch, int64_t Wp,
                           const float* w, const float* bias, float* out, int64_t plane, const flat_vector* map,
                           int64_t m) {
    __m256 acc[6][2];
    for (int p = 0; p < P; p++)
        for (int v = 0; v < NV; v++) acc[p][v] = _mm256_setzero_ps();
    src += 8 * m;
    if (P == 6 && NV == 2) {
        const int64_t wp_bytes = Wp * 4;
        for (int c = 0; c < C; c++, src += pitch, w += TAPS * 6)
            __asm__(FLAT_TAP(FLAT_ROW0, 0, 0) FLAT_TAP(FLAT_ROW1, 0, 1) FLAT_TAP(FLAT_ROW2, 0, 2)
                    FLAT_TAP(FLAT_ROW0, 1, 3) FLAT_TAP(FLAT_ROW1, 1, 4) FLAT_TAP(FLAT_ROW2, 1, 5)
                    FLAT_TAP(FLAT_ROW0, 2, 6) FLAT_TAP(FLAT_ROW1, 2, 7) FLAT_TAP(FLAT_ROW2, 2, 8)
                    : [a00] "+x"(acc[0][0]), [a01] "+x"(acc[0][1]), [a10] "+x"(acc[1][0]), [a11] "+x"(acc[1][1]),
                      [a20] "+x"(acc[2][0]), [a21] "+x"(acc[2][1]), [a30] "+x"(acc[3][0]), [a31] "+x"(acc[3][1]),
                      [a40] "+x"(acc[4][0]), [a41] "+x"(acc[4][1]), [a50] "+x"(acc[5][0]), [a51] "+x"(acc[5][1])
                    : [r] "r"(src), [wp] "r"(wp_bytes), [w] "r"(w)
                    : "xmm12", "xmm13", "xmm14", "xmm15", "memory");
    } else
    for (int c = 0; c < C; c++, src += pitch, w += TAPS * 6) {
        _Pragma("clang loop unroll(full)")
        for (int t = 0; t < TAPS; t++) {   // kw outer, kh inner: the chain order
            const float* at = src + t % 3 * Wp + t / 3;
            __m256 in[2];
            for (int v = 0; v < NV; v++) in[v] = _mm256_loadu_ps(at + 8 * v);
            for (int p = 0; p < P; p++) {
                const __m256 wp = _mm256_broadcast_ss(w + t * 6 + p);
                for (int v = 0; v < NV; v++) acc[p][v] = _mm256_fmadd_ps(wp, in[v], acc[p][v]);
            }
        }
    }
    if (map[m].permute | map[m + NV - 1].permute) flat_store(P, NV, LAST, 1, acc, bias, out, plane, map, m);
    else flat_store(P, NV, LAST, 0, acc, bias, out, plane, map, m);
}

INLINE T256 void flat_planes(int P, const float* src, int C, int64_t pitch, int64_t Wp, const float* w,
                             const float* bias, float* out, int64_t plane, const flat_vector* map, int64_t nvec) {
    int64_t m = 0;
    for (; m + 2 < nvec; m += 2) flat_tile(P, 2, 0, src, C, pitch, Wp, w, bias, out, plane, map, m);
    if (m + 2 == nvec) flat_tile(P, 2, 1, src, C, pitch, Wp, w, bias, out, plane, map, m);
    else flat_tile(P, 1, 1, src, C, pitch, Wp, w, bias, out, plane, map, m);
}

// One image: out (OC planes of OH·OW) from the padded input, wpack the weights in groups of 6
// planes (9·C taps × 6 each, chain order). Planes past the last full group go 2, then 1, at a
// time.
INLINE T256 void flat_forward_c(const int C, float* out, const float* src, const float* wpack, const float* bias,
                                const ember_conv2d_shape* s, int64_t pitch, int64_t Wp, const flat_vector* map,
                                int64_t nvec) {
    const int64_t taps = C * TAPS, plane = s->OH * s->OW;
    for (int64_t o = 0; o < s->OC;) {
        const float* w = wpack + o / 6 * taps * 6 + o % 6;
        const float* b = bias ? bias + o : NULL;
        float* dst = out + o * plane;
        const int64_t left = s->OC - o;
        if (left >= 6) flat_planes(6, src, C, pitch, Wp, w, b, dst, plane, map, nvec);
        else if (left >= 2) flat_planes(2, src, C, pitch, Wp, w, b, dst, plane, map, nvec);
        else flat_planes(1, src, C, pitch, Wp, w, b, dst, plane, map, nvec);
        o += left >= 6 ? 6 : left >= 2 ? 2 : 1;
    }
}

T256 static void flat_forward(float* out, const float* src, const float* wpack, const float* bias,
                              const ember_conv2d_shape* s, int64_t pitch, int64_t Wp, const flat_vector* map,
                              int64_t nvec) {
    switch (s->C) {   // a constant channel count unrolls the chain: 12 accumulators stay in registers
    case 1: flat_forward_c(1, out, src, wpack, bias, s, pitch, Wp, map, nvec); break;
    case 2: flat_forward_c(2, out, src, wpack, bias, s, pitch, Wp, map, nvec); break;
    default: flat_forward_c(3, out, src, wpack, bias, s, pitch, Wp, map, nvec); break;
    }
}
#endif

static _Thread_local ember_scratch flat_buf_;

void ember_conv_thin_forward(float* out, const float* inp, const float* weight, const float* bias,
                             const ember_conv2d_shape* s) {
    const int64_t HW = s->H * s->W, OHW = s->OH * s->OW, Kg = s->C * TAPS;
    const int64_t Wp = s->W + 2 * s->PW, pitch = padded_pitch(s->H, s->W, s->PH, s->PW);
    const int nt = ember_team_from(s->N, 2);
#ifdef T256
    if (use_avx2()) {
        // The weights in chain order (c, then kw, then kh), planes in groups of 6, and where
        // the flat vectors are stored: made once, read by every image.
        const int64_t nvec = flat_vectors(s, Wp, NULL), groups = (s->OC + 5) / 6;
        const size_t map_bytes = (size_t)nvec * sizeof(flat_vector);
        const size_t w_bytes = (size_t)(groups * Kg * 6) * sizeof(float);
        char* buf = ember_reserve(&flat_buf_, map_bytes + w_bytes);
        flat_vector* map = (flat_vector*)buf;
        float* wpack = (float*)(buf + map_bytes);
        flat_vectors(s, Wp, map);
        memset(wpack, 0, w_bytes);
        for (int64_t t = 0; t < Kg; t++) {
            const int64_t c = t / TAPS, kw = t % TAPS / 3, kh = t % 3;
            for (int64_t o = 0; o < s->OC; o++)
                wpack[(o / 6 * Kg + t) * 6 + o % 6] = weight[o * Kg + c * TAPS + kh * 3 + kw];
        }
        EMBER_FOR(nt, n, s->N,
            flat_forward(out + n * s->OC * OHW, padded(inp + n * s->C * HW, s->C, s->H, s->W, s->PH, s->PW),
                         wpack, bias, s, pitch, Wp, map, nvec);
        );
        return;
    }
#endif
    // One image per iteration: each image's work and bits are independent of the others.
    EMBER_FOR(nt, n, s->N,
        ember_taps9 k = {padded(inp + n * s->C * HW, s->C, s->H, s->W, s->PH, s->PW), Wp, pitch,
                         s->H + 2 * s->PH, Wp, 0, 0, weight, TAPS, s->C, 0, out + n * s->OC * OHW,
                         s->OW, s->OH, s->OW, s->OC, Kg, OHW, bias};
        taps9_generic(&k);
    );
}

void ember_conv_thin_input_grad(float* dinp, const float* dout, const float* weight,
                                const ember_conv2d_shape* s, int64_t lo, int64_t hi) {
    // dY read in place: input pixel (iy, ix) takes, for each tap (kh, kw) inside dY,
    // dY[iy + PH − kh, ix + PW − kw], that is row iy + (PH − 2) + (2 − kh) of the flipped taps.
    const int64_t HW = s->H * s->W, OHW = s->OH * s->OW;
    ember_taps9 k = {NULL, s->OW, OHW, s->OH, s->OW, s->PH - 2, s->PW - 2,
                     weight, s->C * TAPS, s->OC, 1, NULL, s->W, s->H, s->W,
                     s->C, TAPS, HW, NULL};
    for (int64_t n = lo; n < hi; n++) {
        k.src = dout + n * s->OC * OHW;
        k.out = dinp + n * s->C * HW;
#ifdef T256
        if (use_avx2()) {
            grad_avx2(&k);
            continue;
        }
#endif
        taps9_generic(&k);
    }
}

// MARK: - Weight gradient

// Where the lanes read the taps: `rows` runs of `len` positions, run r of tap k at
// src + off[k] + r·ld, with dY's positions in the same runs. When OW is a multiple of 8 the
// runs are the padded input's rows, read in place; otherwise the taps are first copied into
// planes of OH·OW (one run each), so no chunk straddles a row's end. The chunks, and so the
// bits, are the flat plane's either way.
typedef struct {
    const float* src;
    int64_t off[3 * TAPS];
    int64_t rows, len, ld;
} ember_tap_runs;

static void tap_runs(ember_tap_runs* r, const float* xp, const ember_conv2d_shape* s, int64_t pitch, int64_t Wp) {
    const int64_t OHW = s->OH * s->OW;
    if (s->OW % 8 == 0) {
        *r = (ember_tap_runs){xp, {0}, s->OH, s->OW, Wp};
        for (int64_t k = 0; k < s->C * TAPS; k++) r->off[k] = k / TAPS * pitch + k % TAPS / 3 * Wp + k % 3;
        return;
    }
    float* col = ember_reserve(&col_buf_, (size_t)(s->C * TAPS * OHW) * sizeof(float));
    *r = (ember_tap_runs){col, {0}, 1, OHW, 0};
    for (int64_t k = 0; k < s->C * TAPS; k++) {
        r->off[k] = k * OHW;
        for (int64_t y = 0; y < s->OH; y++)
            memcpy(col + k * OHW + y * s->OW, xp + k / TAPS * pitch + (y + k % TAPS / 3) * Wp + k % 3,
                   (size_t)s->OW * sizeof(float));
    }
}

// lanes (OC × Kg × 8) += one image's chains.
static void weight_lanes_generic(float* lanes, const float* dy, const ember_tap_runs* r, const ember_conv2d_shape* s) {
    const int64_t Kg = s->C * TAPS;
    for (int64_t o = 0; o < s->OC; o++)
        for (int64_t k = 0; k < Kg; k++) {
            float* l = lanes + (o * Kg + k) * 8;
            for (int64_t y = 0; y < r->rows; y++)
                for (int64_t x = 0; x < r->len; x += 8)
                    for (int64_t i = 0; i < 8; i++) {
                        const int in = x + i < r->len;
                        const float d = in ? dy[(o * r->rows + y) * r->len + x + i] : 0.0f;
                        const float v = in ? r->src[r->off[k] + y * r->ld + x + i] : 0.0f;
                        l[i] = fmaf(d, v, l[i]);
                    }
        }
}

#ifdef T256
// NO channels × NK taps of lanes, over every run. A run's last chunk is masked: its missing
// lanes add 0·0 (as the generic path does), reading nothing.
INLINE T256 void weight_tile(int NO, int NK, float* lanes, const float* dy, const ember_tap_runs* r,
                             const ember_conv2d_shape* s, int64_t o0, int64_t k0) {
    const int64_t Kg = s->C * TAPS, OHW = s->OH * s->OW, len = r->len;
    __m256 acc[4][3];
    for (int j = 0; j < NO; j++)
        for (int t = 0; t < NK; t++) acc[j][t] = _mm256_loadu_ps(lanes + ((o0 + j) * Kg + k0 + t) * 8);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(len % 8)), lane);
    for (int64_t y = 0; y < r->rows; y++) {
        const float* xr = r->src + y * r->ld;
        const float* dr = dy + o0 * OHW + y * len;
        int64_t x = 0;
        for (; x + 8 <= len; x += 8) {
            __m256 in[3];
            for (int t = 0; t < NK; t++) in[t] = _mm256_loadu_ps(xr + r->off[k0 + t] + x);
            for (int j = 0; j < NO; j++) {
                const __m256 d = _mm256_loadu_ps(dr + j * OHW + x);
                for (int t = 0; t < NK; t++) acc[j][t] = _mm256_fmadd_ps(d, in[t], acc[j][t]);
            }
        }
        if (x < len) {
            __m256 in[3];
            for (int t = 0; t < NK; t++) in[t] = _mm256_maskload_ps(xr + r->off[k0 + t] + x, mask);
            for (int j = 0; j < NO; j++) {
                const __m256 d = _mm256_maskload_ps(dr + j * OHW + x, mask);
                for (int t = 0; t < NK; t++) acc[j][t] = _mm256_fmadd_ps(d, in[t], acc[j][t]);
            }
        }
    }
    for (int j = 0; j < NO; j++)
        for (int t = 0; t < NK; t++) _mm256_storeu_ps(lanes + ((o0 + j) * Kg + k0 + t) * 8, acc[j][t]);
}

// Kg is a multiple of 3 (9 taps per channel).
T256 static void weight_lanes_avx2(float* lanes, const float* dy, const ember_tap_runs* r, const ember_conv2d_shape* s) {
    const int64_t Kg = s->C * TAPS;
    int64_t o = 0;
    for (; o + 4 <= s->OC; o += 4)
        for (int64_t k0 = 0; k0 < Kg; k0 += 3) weight_tile(4, 3, lanes, dy, r, s, o, k0);
    for (; o < s->OC; o++)
        for (int64_t k0 = 0; k0 < Kg; k0 += 3) weight_tile(1, 3, lanes, dy, r, s, o, k0);
}
#endif

void ember_conv_thin_weight_lanes(float* lanes, const float* dout, const float* inp,
                                  const ember_conv2d_shape* s, int64_t lo, int64_t hi) {
    const int64_t Wp = s->W + 2 * s->PW, HW = s->H * s->W, OHW = s->OH * s->OW;
    const int64_t pitch = padded_pitch(s->H, s->W, s->PH, s->PW);
    memset(lanes, 0, (size_t)(s->OC * s->C * TAPS * 8) * sizeof(float));
    ember_tap_runs runs;
    for (int64_t n = lo; n < hi; n++) {
        tap_runs(&runs, padded(inp + n * s->C * HW, s->C, s->H, s->W, s->PH, s->PW), s, pitch, Wp);
#ifdef T256
        if (use_avx2()) { weight_lanes_avx2(lanes, dout + n * s->OC * OHW, &runs, s); continue; }
#endif
        weight_lanes_generic(lanes, dout + n * s->OC * OHW, &runs, s);
    }
}
