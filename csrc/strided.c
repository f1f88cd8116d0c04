// Strided copies: what views need from the C side (contiguous(), writes through a view,
// gradients of views). Both sides are seen through element strides over one shape.
#include "internal.h"
#include <stdlib.h>
#include <string.h>

// Drops size-1 dims and merges neighbours that both sides walk contiguously, so a
// contiguous slice becomes one memcpy and a transpose of any rank becomes 2-D.
static int coalesce(int ndim, const int64_t* shape, const int64_t* sd, const int64_t* ss,
                    int64_t* shape_out, int64_t* sd_out, int64_t* ss_out) {
    int n = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        if (n > 0 && sd_out[n - 1] == sd[d] * shape[d] && ss_out[n - 1] == ss[d] * shape[d]) {
            shape_out[n - 1] *= shape[d];
            sd_out[n - 1] = sd[d];
            ss_out[n - 1] = ss[d];
        } else {
            shape_out[n] = shape[d];
            sd_out[n] = sd[d];
            ss_out[n] = ss[d];
            n++;
        }
    }
    return n;
}

// Element offsets of "row" r (every dim but the last `tail`) on both sides.
static void row_offsets(int64_t r, int nd, const int64_t* shape, const int64_t* sd,
                        const int64_t* ss, int64_t* od, int64_t* os) {
    int64_t a = 0, b = 0;
    for (int d = nd - 1; d >= 0; d--) {
        const int64_t i = r % shape[d];
        r /= shape[d];
        a += i * sd[d];
        b += i * ss[d];
    }
    *od = a;
    *os = b;
}

#define TILE 32

// One (rows x cols) block: dst[i*dr + j*dc] = src[i*sr + j*sc]. When the source walks its
// rows with stride 1 (a transpose), go tile by tile so both sides stay in cache.
#define DEFINE_COPY2D(NAME, T)                                                                 \
    static void NAME(T* dst, int64_t dr, int64_t dc, const T* src, int64_t sr, int64_t sc,   \
                     int64_t rows, int64_t cols) {                                            \
        if (dc == 1 && sc == 1) {                                                              \
            for (int64_t i = 0; i < rows; i++)                                                 \
                memcpy(dst + i * dr, src + i * sr, (size_t)cols * sizeof(T));                  \
            return;                                                                            \
        }                                                                                      \
        if (sr == 1 && dc == 1 && rows >= TILE && cols >= TILE) {                              \
            for (int64_t i0 = 0; i0 < rows; i0 += TILE)                                        \
                for (int64_t j0 = 0; j0 < cols; j0 += TILE) {                                  \
                    const int64_t i1 = i0 + TILE < rows ? i0 + TILE : rows;                    \
                    const int64_t j1 = j0 + TILE < cols ? j0 + TILE : cols;                    \
                    for (int64_t i = i0; i < i1; i++)                                          \
                        for (int64_t j = j0; j < j1; j++) dst[i * dr + j] = src[i + j * sc];   \
                }                                                                              \
            return;                                                                            \
        }                                                                                      \
        for (int64_t i = 0; i < rows; i++)                                                     \
            for (int64_t j = 0; j < cols; j++) dst[i * dr + j * dc] = src[i * sr + j * sc];    \
    }
DEFINE_COPY2D(copy2d_u8, uint8_t)
DEFINE_COPY2D(copy2d_u32, uint32_t)
DEFINE_COPY2D(copy2d_u64, uint64_t)

void ember_copy_strided(void* dst, const int64_t* dst_strides, const void* src,
                        const int64_t* src_strides, int ndim, const int64_t* shape,
                        int64_t itemsize) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    if (n == 0) return;
    int64_t sh[EMBER_MAX_DIMS], sd[EMBER_MAX_DIMS], ss[EMBER_MAX_DIMS];
    int nd = coalesce(ndim, shape, dst_strides, src_strides, sh, sd, ss);
    if (nd == 0) { memcpy(dst, src, (size_t)itemsize); return; }
    if (nd == 1 && sd[0] == 1 && ss[0] == 1) { memcpy(dst, src, (size_t)(n * itemsize)); return; }
    // Treat the last two dims as a 2-D block (a 1-D walk is a block of one row).
    if (nd == 1) {
        sh[1] = sh[0]; sd[1] = sd[0]; ss[1] = ss[0];
        sh[0] = 1; sd[0] = 0; ss[0] = 0;
        nd = 2;
    }
    const int64_t rows = sh[nd - 2], cols = sh[nd - 1];
    const int64_t blocks = n / (rows * cols);
    // Blocks are independent (a destination view never overlaps itself): share them out,
    // cutting each in row ranges when there are fewer blocks than threads.
    const int nt = ember_team(n);
    const int64_t parts = blocks >= nt ? 1 : nt;
    const int64_t rows_per = (rows + parts - 1) / parts;
    EMBER_FOR(nt, p, blocks * parts,
        const int64_t b = p / parts;
        const int64_t r0 = (p % parts) * rows_per;
        const int64_t r1 = r0 + rows_per < rows ? r0 + rows_per : rows;
        if (r0 < r1) {
            int64_t od, os;
            row_offsets(b, nd - 2, sh, sd, ss, &od, &os);
            od += r0 * sd[nd - 2];
            os += r0 * ss[nd - 2];
            switch (itemsize) {
            case 1: copy2d_u8((uint8_t*)dst + od, sd[nd - 2], sd[nd - 1], (const uint8_t*)src + os,
                              ss[nd - 2], ss[nd - 1], r1 - r0, cols); break;
            case 4: copy2d_u32((uint32_t*)dst + od, sd[nd - 2], sd[nd - 1], (const uint32_t*)src + os,
                               ss[nd - 2], ss[nd - 1], r1 - r0, cols); break;
            default: copy2d_u64((uint64_t*)dst + od, sd[nd - 2], sd[nd - 1], (const uint64_t*)src + os,
                                ss[nd - 2], ss[nd - 1], r1 - r0, cols); break;
            }
        }
    );
}

// Whether no two elements of a walk over `shape` with strides `st` land on the same place:
// with the dims in order of stride, each stride passes the reach of all smaller ones.
static int walk_is_disjoint(int nd, const int64_t* shape, const int64_t* st) {
    int64_t order[EMBER_MAX_DIMS];
    for (int d = 0; d < nd; d++) order[d] = d;
    for (int i = 1; i < nd; i++)
        for (int k = i; k > 0 && llabs(st[order[k]]) < llabs(st[order[k - 1]]); k--) {
            const int64_t t = order[k];
            order[k] = order[k - 1], order[k - 1] = t;
        }
    int64_t reach = 0;   // the largest offset the smaller-stride dims span
    for (int i = 0; i < nd; i++) {
        const int64_t d = order[i], a = llabs(st[d]);
        if (a <= reach) return 0;
        reach += (shape[d] - 1) * a;
    }
    return 1;
}

// Rows [lo, hi) of dst += src, the last dim innermost.
EMBER_SIMD static void add_rows(float* dst, const float* src, int nd, const int64_t* sh, const int64_t* sd,
                                const int64_t* ss, int64_t lo, int64_t hi) {
    const int64_t cols = sh[nd - 1], dc = sd[nd - 1], sc = ss[nd - 1];
    for (int64_t r = lo; r < hi; r++) {
        int64_t od, os;
        row_offsets(r, nd - 1, sh, sd, ss, &od, &os);
        float* d = dst + od;
        const float* s = src + os;
        if (dc == 1 && sc == 1) {
            for (int64_t j = 0; j < cols; j++) d[j] += s[j];
        } else {
            for (int64_t j = 0; j < cols; j++) d[j * dc] += s[j * sc];
        }
    }
}

void ember_add_strided_f32(float* dst, const int64_t* dst_strides, const float* src,
                           const int64_t* src_strides, int ndim, const int64_t* shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    if (n == 0) return;
    int64_t sh[EMBER_MAX_DIMS], sd[EMBER_MAX_DIMS], ss[EMBER_MAX_DIMS];
    const int nd = coalesce(ndim, shape, dst_strides, src_strides, sh, sd, ss);
    if (nd == 0) { dst[0] += src[0]; return; }
    // Each element gets one addition, so row order does not matter, and the rows may be shared
    // out. But a destination that overlaps itself (the gradient of unfold) adds several
    // elements into one place, and the order of those additions decides the bits: serial,
    // in order.
    const int64_t rows = n / sh[nd - 1];
    const int nt = walk_is_disjoint(nd, sh, sd) ? ember_team(n) : 1;
    EMBER_PARALLEL(nt, rows, add_rows, dst, src, nd, sh, sd, ss);
}

// The row-major strides of one block of `shape`, and its element count.
static int64_t block_layout(int ndim, const int64_t* shape, int64_t* contiguous) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) { contiguous[d] = s; s *= shape[d]; }
    return s;
}

// One block (ndim dims through `strides`) per offset: the core of advanced indexing.
void ember_gather_blocks(void* dst, const void* src, const int64_t* offsets, int64_t n, int ndim,
                         const int64_t* shape, const int64_t* strides, int64_t itemsize) {
    int64_t contiguous[EMBER_MAX_DIMS];
    const int64_t block = block_layout(ndim, shape, contiguous);
    char* out = dst;
    const char* in = src;
    for (int64_t p = 0; p < n; p++) {
        if (block == 1) memcpy(out + p * itemsize, in + offsets[p] * itemsize, (size_t)itemsize);
        else ember_copy_strided(out + p * block * itemsize, contiguous, in + offsets[p] * itemsize, strides,
                                ndim, shape, itemsize);
    }
}

void ember_scatter_blocks(void* dst, const int64_t* offsets, int64_t n, const void* src, int ndim,
                          const int64_t* shape, const int64_t* strides, int64_t itemsize,
                          int accumulate) {
    int64_t contiguous[EMBER_MAX_DIMS];
    const int64_t block = block_layout(ndim, shape, contiguous);
    char* out = dst;
    const char* in = src;
    // In order: with repeated offsets the last write wins, or the sums run in index order.
    for (int64_t p = 0; p < n; p++) {
        if (accumulate) {
            if (block == 1) ((float*)out)[offsets[p]] += ((const float*)in)[p];
            else ember_add_strided_f32((float*)out + offsets[p], strides, (const float*)in + p * block,
                                       contiguous, ndim, shape);
        } else if (block == 1) {
            memcpy(out + offsets[p] * itemsize, in + p * itemsize, (size_t)itemsize);
        } else {
            ember_copy_strided(out + offsets[p] * itemsize, strides, in + p * block * itemsize, contiguous,
                               ndim, shape, itemsize);
        }
    }
}
