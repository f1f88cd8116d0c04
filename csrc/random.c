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

void ember_rand_normal(float* out, int64_t n, float mean, float std, uint64_t seed,
                       uint64_t offset) {
    const int64_t pairs = (n + 1) / 2;
    const int nt = ember_team(n);
    // Box–Muller: pair k uses counters offset+2k and offset+2k+1.
    EMBER_FOR(nt, k, pairs,
        const uint64_t c = offset + 2 * (uint64_t)k;
        const float u1 = 1.0f - ember_uniform01(seed, c);        // (0, 1]: log is finite
        const float u2 = ember_uniform01(seed, c + 1);
        // Ember's log and sincos (ember_math.h), not libm's: the same normals on every CPU.
        const float r = sqrtf(-2.0f * ember_logf(u1));
        const float th = 6.283185307179586f * u2;
        float s, co;
        ember_sincosf_small(th, &s, &co);
        out[2 * k] = mean + std * r * co;
        if (2 * k + 1 < n) out[2 * k + 1] = mean + std * r * s;
    );
}
