/* rng.h -- the runtime's random numbers: xoshiro256** seeded by splitmix64.
 *
 * Every random choice of the runtime (initialisers, shuffling, negative
 * sampling, dropout seeds, synthetic data) draws from an RtRng seeded from
 * the model's or the user's seed, so a run is reproducible bit for bit on
 * one machine. Not cryptographic; one generator per thread.
 */
#ifndef RT_RNG_H
#define RT_RNG_H

#include <stdint.h>

typedef struct RtRng {
  uint64_t s[4];
} RtRng;

void rt_rng_seed(RtRng *r, uint64_t seed);
uint64_t rt_rng_next(RtRng *r);
/* Uniform in [0, 1). */
double rt_rng_uniform(RtRng *r);
/* Uniform integer in [0, n), n >= 1 (multiply-shift, bias < 2^-32). */
uint64_t rt_rng_below(RtRng *r, uint64_t n);
/* Standard normal (Box-Muller; one value per call). */
double rt_rng_normal(RtRng *r);
/* A seed derived from a base seed and a string (a parameter's name), so
 * that adding one parameter does not change the others' initial values. */
uint64_t rt_rng_derive(uint64_t seed, const char *name);

#endif
