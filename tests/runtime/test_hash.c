/* test_hash.c -- hashing into buckets: the XXH3 value, bucket 0 for empty,
 * range and spread of buckets, seeds. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"

static void test_known_value(void) {
  /* XXH3-64 of the empty input with seed 0, from the xxHash test vectors. */
  CU_ASSERT_EQUAL(rt_hash_str("", 0, 0), 0x2D06800538D394C2ULL);
  CU_ASSERT_EQUAL(rt_hash_int(7, 99), rt_hash_str("\x07\0\0\0\0\0\0\0", 8, 99));
  CU_ASSERT_EQUAL(rt_hash_int(-1, 5), rt_hash_str("\xff\xff\xff\xff\xff\xff\xff\xff", 8, 5));
}

static void test_empty_is_bucket_zero(void) {
  CU_ASSERT_EQUAL(rt_hash_str_bucket("", 0, 0, 64), 0);
  CU_ASSERT_EQUAL(rt_hash_str_bucket("abc", 0, 0, 64), 0);
  CU_ASSERT_NOT_EQUAL(rt_hash_str_bucket("abc", 3, 0, 64), 0);
  CU_ASSERT_EQUAL(rt_hash_str_bucket("abc", 3, 0, 2), 1);
  CU_ASSERT_EQUAL(rt_hash_int_bucket(0, 0, 2), 1);
}

static void test_spread_and_seed(void) {
  unsigned count[11] = {0};
  int moved = 0;
  char s[32];
  for (int i = 0; i < 10000; i++) {
    int n = snprintf(s, sizeof s, "item%d", i);
    uint32_t b = rt_hash_str_bucket(s, (size_t)n, 42, 11);
    CU_ASSERT_FATAL(b >= 1 && b <= 10);
    count[b]++;
    CU_ASSERT_EQUAL(b, rt_hash_str_bucket(s, (size_t)n, 42, 11)); /* deterministic */
    moved += b != rt_hash_str_bucket(s, (size_t)n, 43, 11);
  }
  CU_ASSERT_EQUAL(count[0], 0);
  for (int b = 1; b <= 10; b++) CU_ASSERT(count[b] > 850 && count[b] < 1150);
  CU_ASSERT(moved > 8000); /* another seed reshuffles ~90% */
  CU_ASSERT_EQUAL(rt_hash_to_bucket(0, 11), 1);
  CU_ASSERT_EQUAL(rt_hash_to_bucket(9, 11), 10);
  CU_ASSERT_EQUAL(rt_hash_to_bucket(10, 11), 1);
}

void add_hash_tests(void) {
  CU_pSuite s = CU_add_suite("hash", NULL, NULL);
  CU_add_test(s, "XXH3 values", test_known_value);
  CU_add_test(s, "empty string is bucket 0", test_empty_is_bucket_zero);
  CU_add_test(s, "buckets spread, seeds differ", test_spread_and_seed);
}
