// Packing helpers with x86 vector code: plain copies, so they give the packed panels' exact
// bytes whatever the ISA; only their speed depends on it.
#include "gemm_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define T256 __attribute__((target("avx2")))

// The transposed B panel, 8 rows of stored B by 8 k at a time (4 k per step): a scalar loop does one 4-byte
// store per element into a panel row 4·NR bytes away, and that was a third of the time of
// the quickstart's forward products (weights are stored (OUT, IN), read transposed).
// d[p·nr + j] = src[j·ldb + p] for j < cols, p < kcur; columns past `cols` are zero.
T256 void ember_pack_b_trans_avx2(float* d, const float* src, int64_t ldb, int64_t cols,
                                  int64_t kcur, int nr) {
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
        const float* s = src + j * ldb;
        int64_t p = 0;
        for (; p + 8 <= kcur; p += 8) {
            // Rows r and r+4 share a register (low and high 128 bits): the lane-crossing step
            // of the transpose is done by the loads (vinsertf128 from memory runs on the load
            // ports), leaving 16 in-lane shuffles for the shuffle port.
#define ROWS(r) _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + (r) * ldb + p)), \
                                     _mm_loadu_ps(s + ((r) + 4) * ldb + p), 1)
#define ROWS_HI(r) _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + (r) * ldb + p + 4)), \
                                        _mm_loadu_ps(s + ((r) + 4) * ldb + p + 4), 1)
            for (int h = 0; h < 2; h++) {   // k columns p..p+3, then p+4..p+7
                const __m256 r0 = h ? ROWS_HI(0) : ROWS(0), r1 = h ? ROWS_HI(1) : ROWS(1);
                const __m256 r2 = h ? ROWS_HI(2) : ROWS(2), r3 = h ? ROWS_HI(3) : ROWS(3);
                // lanes: [row r, k 0..3 | row r+4, k 0..3] -> 4 vectors, one per k, holding
                // rows 0..3 in the low lane and rows 4..7 in the high lane: 8 rows in order.
                const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
                const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
                float* o = d + (p + 4 * h) * nr + j;
                _mm256_storeu_ps(o + 0 * nr, _mm256_shuffle_ps(t0, t2, 0x44));
                _mm256_storeu_ps(o + 1 * nr, _mm256_shuffle_ps(t0, t2, 0xEE));
                _mm256_storeu_ps(o + 2 * nr, _mm256_shuffle_ps(t1, t3, 0x44));
                _mm256_storeu_ps(o + 3 * nr, _mm256_shuffle_ps(t1, t3, 0xEE));
            }
#undef ROWS
#undef ROWS_HI
        }
        for (; p < kcur; p++)
            for (int r = 0; r < 8; r++) d[p * nr + j + r] = s[r * ldb + p];
    }
    for (; j < cols; j++)
        for (int64_t p = 0; p < kcur; p++) d[p * nr + j] = src[j * ldb + p];
    for (; j < nr; j++)
        for (int64_t p = 0; p < kcur; p++) d[p * nr + j] = 0.0f;
}

// Full panels of plain B: `nr` contiguous floats per k and panel, copied as nr/8 vectors,
// B's rows read from start to end. The compiler's loop over a run-time column count copied
// at half this speed (dW's activations, 2048×IN per linear, made it a twentieth of the GPT's
// step), and a panel at a time took one cache line from each of kcur rows ldb apart: a
// fresh dY read that way was a fifth of a strided shortcut's input gradient.
// d[jb·stride + p·nr + j] = src[p·ldb + jb·nr + j] for j < nr, p < kcur, jb < panels.
T256 void ember_pack_b_avx2(float* d, const float* src, int64_t ldb, int64_t kcur, int nr, int64_t panels,
                            int64_t stride) {
    for (int64_t p = 0; p < kcur; p++)
        for (int64_t jb = 0; jb < panels; jb++)
            for (int v = 0; v < nr; v += 8)
                _mm256_storeu_ps(d + jb * stride + p * nr + v, _mm256_loadu_ps(src + p * ldb + jb * nr + v));
}

// A full micro-panel of op(A) (`mr` rows, a multiple of 6), d[p·mr + r] = op(A)(r, p), in
// groups of 6 rows. Transposed A (ta) gives 6 contiguous floats per k: one 16- and one 8-byte
// copy. Plain A is 6 stored rows by 8 k at a time through the 8×8 transpose above (rows 6
// and 7 repeat row 5 and are not stored). The scalar packing of the two rows beyond the
// 4×4 SSE transpose made packing A a tenth of the GPT's training step.
T256 void ember_pack_a_avx2(float* d, const float* src, int64_t lda, int ta, int64_t kcur, int mr) {
    for (int g = 0; g < mr; g += 6) {
        if (ta) {
            const float* s = src + g;
            for (int64_t p = 0; p < kcur; p++) {
                _mm_prefetch((const char*)(s + (p + 16) * lda), _MM_HINT_T0);
                _mm_storeu_ps(d + p * mr + g, _mm_loadu_ps(s + p * lda));
                _mm_storel_pi((__m64*)(d + p * mr + g + 4), _mm_castsi128_ps(_mm_loadl_epi64((const __m128i*)(s + p * lda + 4))));
            }
            continue;
        }
        const float* s = src + g * lda;
        int64_t p = 0;
        for (; p + 8 <= kcur; p += 8) {
            // The next group's rows, a line per row every other step: six short rows (K = 128
            // is 8 lines each) are too many fresh streams for the hardware prefetcher.
            if ((p & 15) == 0)
                for (int r = 0; r < 6; r++) _mm_prefetch((const char*)(s + (6 + r) * lda + p), _MM_HINT_T0);
#define ROWS(r, h) _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + (r) * lda + p + 4 * (h))), \
                                        _mm_loadu_ps(s + ((r) + 4 > 5 ? 5 : (r) + 4) * lda + p + 4 * (h)), 1)
            for (int h = 0; h < 2; h++) {   // k p..p+3, then p+4..p+7
                const __m256 r0 = ROWS(0, h), r1 = ROWS(1, h), r2 = ROWS(2, h), r3 = ROWS(3, h);
                const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
                const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
                // One vector per k: rows 0..3 in the low lane, rows 4, 5 (5, 5) in the high one.
                const __m256 v[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                                     _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
                for (int q = 0; q < 4; q++) {
                    float* o = d + (p + 4 * h + q) * mr + g;
                    _mm_storeu_ps(o, _mm256_castps256_ps128(v[q]));
                    _mm_storel_pi((__m64*)(o + 4), _mm256_extractf128_ps(v[q], 1));
                }
            }
#undef ROWS
        }
        for (; p < kcur; p++)
            for (int r = 0; r < 6; r++) d[p * mr + g + r] = s[r * lda + p];
    }
}
#endif
