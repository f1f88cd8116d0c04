// Embedding lookup (PyTorch's F.embedding): a gather of weight rows, its scatter-add backward
// and max_norm's in-place renormalisation. Indices are checked by the Swift layer.
//
// The backward adds many index rows into few weight rows: split by index, two threads would
// add into the same row and the order of additions (so the bits) would depend on the split.
// So the threads split the weight instead (column blocks, or row ranges when there are too
// few columns), and every thread walks all indices in their order: each element of dweight
// receives its additions in index order, whatever the thread count.
#include "internal.h"
#include "ember_math.h"

#include <math.h>
#include <string.h>

static void embedding_rows(float* out, const float* weight, const int64_t* indices, int64_t D,
                           int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++)
        memcpy(out + i * D, weight + indices[i] * D, (size_t)D * sizeof(float));
}

void ember_embedding_forward(float* out, const float* weight, const int64_t* indices, int64_t n,
                             int64_t D) {
    const int nt = ember_team(n * D);
    // Output rows split over the threads: each row is one copy, written by one thread.
    EMBER_FOR(nt, i, n, embedding_rows(out, weight, indices, D, i, i + 1););
}

// dweight[rows r0..r1, cols c0..c1] += dout (· row_scale) at every index in that row range,
// in index order.
static void embedding_backward_part(float* dweight, const float* dout, const int64_t* indices,
                                    const float* row_scale, int64_t n, int64_t D,
                                    int64_t padding_idx, int64_t r0, int64_t r1, int64_t c0,
                                    int64_t c1) {
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = indices[i];
        if (r < r0 || r >= r1 || r == padding_idx) continue;
        float* dst = dweight + r * D;
        const float* src = dout + i * D;
        if (row_scale) {
            const float s = row_scale[r];
            for (int64_t c = c0; c < c1; c++) dst[c] += src[c] * s;
        } else {
            for (int64_t c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}

/// Columns per block when the threads split the columns: 16 floats, one cache line, so that
/// no two threads write the same line.
#define EMBEDDING_COL_BLOCK 16

void ember_embedding_backward(float* dweight, const float* dout, const int64_t* indices,
                              const float* row_scale, int64_t n, int64_t V, int64_t D,
                              int64_t padding_idx) {
    const int nt = ember_team(n * D);
    const int64_t col_blocks = (D + EMBEDDING_COL_BLOCK - 1) / EMBEDDING_COL_BLOCK;
    if (nt <= 1) {
        embedding_backward_part(dweight, dout, indices, row_scale, n, D, padding_idx, 0, V, 0, D);
    } else if (col_blocks >= nt) {
        // Column blocks split over the threads; each walks every index in order.
        #pragma omp parallel num_threads(nt)
        {
            int64_t lo, hi;
            ember_thread_range(col_blocks, &lo, &hi);
            const int64_t c1 = hi * EMBEDDING_COL_BLOCK < D ? hi * EMBEDDING_COL_BLOCK : D;
            if (lo < hi)
                embedding_backward_part(dweight, dout, indices, row_scale, n, D, padding_idx, 0, V,
                                        lo * EMBEDDING_COL_BLOCK, c1);
        }
    } else {
        // Narrow rows: weight rows split over the threads; each walks every index in order
        // and adds those in its range.
        #pragma omp parallel num_threads(nt)
        {
            int64_t lo, hi;
            ember_thread_range(V, &lo, &hi);
            if (lo < hi)
                embedding_backward_part(dweight, dout, indices, row_scale, n, D, padding_idx, lo, hi,
                                        0, D);
        }
    }
}

void ember_embedding_renorm(float* weight, const int64_t* rows, int64_t count, int64_t D,
                            double max_norm, double norm_type) {
    const int nt = ember_team(count * D);
    // Distinct rows split over the threads: each row is read and rescaled by one thread.
    EMBER_FOR(nt, k, count,
        float* w = weight + rows[k] * D;
        double norm = 0;
        if (isinf(norm_type) && norm_type > 0) {
            for (int64_t c = 0; c < D; c++) norm = fabs((double)w[c]) > norm ? fabs((double)w[c]) : norm;
        } else if (norm_type == 1) {
            for (int64_t c = 0; c < D; c++) norm += fabs((double)w[c]);
        } else if (norm_type == 2) {
            for (int64_t c = 0; c < D; c++) norm += (double)w[c] * (double)w[c];
            norm = sqrt(norm);
        } else {
            for (int64_t c = 0; c < D; c++) norm += ember_pow_d(fabs((double)w[c]), norm_type);
            norm = ember_pow_d(norm, 1.0 / norm_type);
        }
        // PyTorch's embedding_renorm_: the row's norm as a float, then row *= scale.
        const float fnorm = (float)norm;
        if (fnorm > max_norm) {
            const float scale = (float)(max_norm / ((double)fnorm + 1e-7));
            for (int64_t c = 0; c < D; c++) w[c] *= scale;
        }
    );
}
