/* rng.c -- xoshiro256** (Blackman and Vigna) seeded by splitmix64 (see rng.h). */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void rt_rng_seed(RtRng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rt_rng_next(RtRng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

double rt_rng_uniform(RtRng *r) { return (double)(rt_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t rt_rng_below(RtRng *r, uint64_t n) {
  if (n <= 1) return 0;
  if (n <= UINT32_MAX) return ((rt_rng_next(r) >> 32) * n) >> 32;
  return rt_rng_next(r) % n;
}

double rt_rng_normal(RtRng *r) {
  double u = 1.0 - rt_rng_uniform(r), v = rt_rng_uniform(r); /* u in (0, 1] */
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

uint64_t rt_rng_derive(uint64_t seed, const char *name) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ULL;
  uint64_t x = seed ^ h;
  return splitmix64(&x);
}
