// Counter-based random numbers: value i depends only on (seed, offset + i), so a tensor
// filled on 1 or 4 threads holds the same numbers, and a generator's state is two integers
// (easy to checkpoint).
#include "internal.h"
#include "ember_math.h"
#include <math.h>

void ember_rand_uniform(float* out, int64_t n, float low, float high, uint64_t seed,
                        uint64_t offset) {
    const float span = high - low;
    const int nt = ember_team(n);
    EMBER_FOR(nt, i, n, out[i] = low + span * ember_uniform01(seed, offset + (uint64_t)i); );
}

// Box–Muller on pairs [lo, hi): pair k uses counters offset+2k and offset+2k+1 and writes
// out[2k] and out[2k+1] (only out[2k] for the last pair of an odd n). Ember's log and sincos
// (ember_math.h), not libm's: the same normals on every CPU, and the loop vectorises.
EMBER_SIMD static void normal_pairs(float* out, int64_t n, float mean, float std, uint64_t seed,
                                    uint64_t offset, int64_t lo, int64_t hi) {
    const int64_t full = n / 2;
    const int64_t end = hi < full ? hi : full;
    for (int64_t k = lo; k < end; k++) {
        const uint64_t c = offset + 2 * (uint64_t)k;
        const float u1 = 1.0f - ember_uniform01(seed, c);        // (0, 1]: log is finite
        const float u2 = ember_uniform01(seed, c + 1);
        const float r = sqrtf(-2.0f * ember_logf(u1));
        float s, co;
        ember_sincosf_small(6.283185307179586f * u2, &s, &co);
        out[2 * k] = mean + std * r * co;
        out[2 * k + 1] = mean + std * r * s;
    }
    if (hi > full && full >= lo) {                                // odd n: the last value
        const uint64_t c = offset + 2 * (uint64_t)full;
        const float u1 = 1.0f - ember_uniform01(seed, c);
        const float u2 = ember_uniform01(seed, c + 1);
        const float r = sqrtf(-2.0f * ember_logf(u1));
        float s, co;
        ember_sincosf_small(6.283185307179586f * u2, &s, &co);
        out[2 * full] = mean + std * r * co;
    }
}

void ember_rand_normal(float* out, int64_t n, float mean, float std, uint64_t seed,
                       uint64_t offset) {
    // Pairs split into one contiguous range per thread.
    EMBER_PARALLEL(ember_team(n), (n + 1) / 2, normal_pairs, out, n, mean, std, seed, offset);
}
