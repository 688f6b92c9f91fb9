/* hash.h -- hashing of strings and integers into buckets.
 *
 * A hashed feature with N buckets maps the empty string to bucket 0 and
 * every other value to 1 + XXH3_64(value, seed) % (N - 1), so bucket 0 is
 * the padding/empty bucket. The seed travels in the checkpoint so training
 * and serving hash alike. Integers hash their 8 little-endian bytes, so the
 * string "7" and the integer 7 land in different buckets. Crossed features
 * chain: the hash of one value is the seed for the next.
 */
#ifndef RT_HASH_H
#define RT_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t rt_hash_str(const char *s, size_t n, uint64_t seed);
uint64_t rt_hash_int(int64_t v, uint64_t seed);
/* Bucket in 1..nbuckets-1 for a 64-bit hash (nbuckets >= 2). */
uint32_t rt_hash_to_bucket(uint64_t h, uint32_t nbuckets);
/* 0 for an empty string, else rt_hash_to_bucket(rt_hash_str(...)). */
uint32_t rt_hash_str_bucket(const char *s, size_t n, uint64_t seed, uint32_t nbuckets);
uint32_t rt_hash_int_bucket(int64_t v, uint64_t seed, uint32_t nbuckets);

#endif
