/* hash.c -- string/int hashing into buckets with XXH3 (see hash.h). */
#include "hash.h"

#include <assert.h>
#include <xxhash.h>

uint64_t rt_hash_str(const char *s, size_t n, uint64_t seed) {
  return XXH3_64bits_withSeed(s, n, seed);
}

uint64_t rt_hash_int(int64_t v, uint64_t seed) {
  uint64_t u = (uint64_t)v;
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(u >> (8 * i));
  return XXH3_64bits_withSeed(b, sizeof b, seed);
}

uint32_t rt_hash_to_bucket(uint64_t h, uint32_t nbuckets) {
  assert(nbuckets >= 2);
  return 1 + (uint32_t)(h % (nbuckets - 1));
}

uint32_t rt_hash_str_bucket(const char *s, size_t n, uint64_t seed, uint32_t nbuckets) {
  return n == 0 ? 0 : rt_hash_to_bucket(rt_hash_str(s, n, seed), nbuckets);
}

uint32_t rt_hash_int_bucket(int64_t v, uint64_t seed, uint32_t nbuckets) {
  return rt_hash_to_bucket(rt_hash_int(v, seed), nbuckets);
}
