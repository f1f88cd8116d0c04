// Data conversion for the DataLoader, gzip reading (zlib) and MD5 for download checks.
// The I/O helper is the one place in the core that allocates (a whole file's bytes).
#include "internal.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

// A batch decoded on the iterating thread goes straight into the first GEMM, whose blocks
// both threads read in full. Written by one thread, the other thread's block has to pull
// all of it from the first core's cache and finishes last; written half by each thread, the
// pulls are balanced. Replaying the quickstart's test-pass GEMMs with a fresh 64x784 input
// per batch (12 alternating rounds, medians): written by one thread 5-6% over a reused
// input, by both 2-3% — below the general threshold, so this kernel has its own.
#define GATHER_MIN_PARALLEL 16384

EMBER_SIMD
static void gather_u8_to_f32_rows(float* out, const uint8_t* src, const int64_t* indices,
                                  int64_t sample_size, float scale, float shift, int64_t lo,
                                  int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        const uint8_t* s = src + indices[i] * sample_size;
        float* o = out + i * sample_size;
        for (int64_t j = 0; j < sample_size; j++) o[j] = (float)s[j] * scale + shift;
    }
}
void ember_gather_u8_to_f32(float* out, const uint8_t* src, const int64_t* indices,
                            int64_t count, int64_t sample_size, float scale, float shift) {
    const int nt = ember_team_from(count * sample_size, GATHER_MIN_PARALLEL);
    EMBER_PARALLEL(nt, count, gather_u8_to_f32_rows, out, src, indices, sample_size, scale, shift);
}

void ember_gather_u8_to_i64(int64_t* out, const uint8_t* src, const int64_t* indices,
                            int64_t count) {
    for (int64_t i = 0; i < count; i++) out[i] = src[indices[i]];
}

int ember_gunzip_file(const char* path, int64_t max_len, uint8_t** out, int64_t* out_len, int* more,
                      char* err, int64_t err_len) {
    *out = NULL;
    *out_len = 0;
    *more = 0;
    const size_t limit = max_len < 0 ? SIZE_MAX : (size_t)max_len;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        snprintf(err, (size_t)err_len, "cannot open: %s", strerror(errno));
        return -1;
    }
    gzbuffer(f, 1 << 17);
    size_t cap = 1 << 20, len = 0;
    uint8_t* buf = malloc(cap);
    if (!buf) { gzclose(f); snprintf(err, (size_t)err_len, "out of memory"); return -2; }
    while (len < limit) {
        if (cap - len < (1 << 16)) {
            uint8_t* nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); gzclose(f); snprintf(err, (size_t)err_len, "out of memory"); return -2; }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - len > (1u << 30) ? (1u << 30) : cap - len;
        if (want > limit - len) want = limit - len;
        const int n = gzread(f, buf + len, (unsigned)want);
        if (n <= 0) break;
        len += (size_t)n;
    }
    if (len == limit) {
        uint8_t extra;
        *more = gzread(f, &extra, 1) == 1;
    }
    int errnum = Z_OK;
    const char* msg = gzerror(f, &errnum);
    if (errnum != Z_OK && errnum != Z_STREAM_END) {
        // Truncated streams report Z_BUF_ERROR ("unexpected end of file"), a bad CRC
        // Z_DATA_ERROR ("incorrect data check").
        snprintf(err, (size_t)err_len, "corrupt gzip data: %s", msg ? msg : "unknown zlib error");
        free(buf);
        gzclose(f);
        return -3;
    }
    gzclose(f);
    *out = buf;
    *out_len = (int64_t)len;
    return 0;
}

// MD5 (RFC 1321), for checking downloads against the published checksums.
static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const uint8_t md5_r[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                  5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_block(uint32_t h[4], const uint8_t* p) {
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f, g;
        if (i < 16) { f = (b & c) | (~b & d); g = (uint32_t)i; }
        else if (i < 32) { f = (d & b) | (~d & c); g = (5u * i + 1) & 15; }
        else if (i < 48) { f = b ^ c ^ d; g = (3u * i + 5) & 15; }
        else { f = c ^ (b | ~d); g = (7u * i) & 15; }
        const uint32_t t = d;
        d = c;
        c = b;
        const uint32_t x = a + f + md5_k[i] + w[g];
        b = b + ((x << md5_r[i]) | (x >> (32 - md5_r[i])));
        a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
}

void ember_md5(uint8_t digest[16], const uint8_t* data, int64_t len) {
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    int64_t i = 0;
    for (; i + 64 <= len; i += 64) md5_block(h, data + i);
    uint8_t tail[128] = {0};
    const int64_t rest = len - i;
    memcpy(tail, data + i, (size_t)rest);
    tail[rest] = 0x80;
    const int64_t tlen = rest < 56 ? 64 : 128;
    const uint64_t bits = (uint64_t)len * 8;
    for (int k = 0; k < 8; k++) tail[tlen - 8 + k] = (uint8_t)(bits >> (8 * k));
    md5_block(h, tail);
    if (tlen == 128) md5_block(h, tail + 64);
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 4; j++) digest[4 * k + j] = (uint8_t)(h[k] >> (8 * j));
}

FILE* ember_stdout(void) { return stdout; }
FILE* ember_stderr(void) { return stderr; }
