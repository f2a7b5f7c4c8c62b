/* testrng: the tests' one random generator (Marsaglia's xorshift32): the
 * same sequence for a seed on every machine and build, so generated signals,
 * block sizes and models are reproducible. The state must not be 0. */
#ifndef VALAR_TEST_RNG_H
#define VALAR_TEST_RNG_H

#include <stdint.h>

static inline uint32_t test_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Uniform in [-1, 1) with 24 random bits. */
static inline double test_uniform(uint32_t *s)
{
    return (double)(test_rand(s) >> 8) / 8388608.0 - 1.0;
}

#endif
