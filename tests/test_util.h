/* test_util.h - small helpers shared by the test programs. */
#ifndef TL_TEST_UTIL_H
#define TL_TEST_UTIL_H

#include <stdint.h>

/* Deterministic xorshift generator: tests are reproducible run to run. */
typedef struct test_rng {
    uint64_t s;
} test_rng;

static inline uint32_t rng_u32(test_rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (uint32_t)(r->s >> 11);
}

/* Uniform integer in [lo, hi]; the span in 64 bits, so that any int32
 * range (up to all of it) works. */
static inline int32_t rng_int(test_rng *r, int32_t lo, int32_t hi)
{
    const uint64_t span = (uint64_t)((int64_t)hi - lo) + 1u;
    return (int32_t)((int64_t)lo + (int64_t)(rng_u32(r) % span));
}

/* Uniform float in [lo, hi). */
static inline float rng_float(test_rng *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)(rng_u32(r) & 0xFFFFFF) / 16777216.0f;
}

#endif /* TL_TEST_UTIL_H */
