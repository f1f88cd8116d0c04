// Shared by the kernels: the thread budget and the parallel-for condition.
#ifndef EMBER_INTERNAL_H
#define EMBER_INTERNAL_H
#include "ember.h"

extern int ember_threads_;             // threads.c
extern int64_t ember_threshold_;       // threads.c

/// Threads for a loop over `work` elements: 1 below the measured threshold (a fork/join
/// costs more than the work there), else the budget.
static inline int ember_team(int64_t work) {
    return (work >= ember_threshold_ && ember_threads_ > 1) ? ember_threads_ : 1;
}

/// SplitMix64's finaliser: the counter-based generator behind rand, randn and dropout.
static inline uint64_t ember_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
/// Uniform in [0, 1) with 24 random bits, from (seed, counter).
static inline float ember_uniform01(uint64_t seed, uint64_t counter) {
    uint64_t z = ember_mix64(seed + 0x9E3779B97F4A7C15ULL * (counter + 1));
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

#endif
