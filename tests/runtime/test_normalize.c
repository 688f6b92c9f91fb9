/* test_normalize.c -- Welford statistics, z-scores, constant columns,
 * NaN skipping, save/load. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>

#include "normalize.h"
#include "test.h"

static void test_mean_std(void) {
  RtNorm *z = rt_norm_new(2);
  CU_ASSERT_FATAL(z != NULL);
  double xs[] = {2, 4, 4, 4, 5, 5, 7, 9}; /* mean 5, population std 2 */
  for (int i = 0; i < 8; i++) rt_norm_add(z, 0, xs[i]);
  rt_norm_add(z, 0, NAN);
  rt_norm_add(z, 0, INFINITY);
  CU_ASSERT_EQUAL(rt_norm_n(z, 0), 8);
  CU_ASSERT_DOUBLE_EQUAL(rt_norm_mean(z, 0), 5.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(rt_norm_std(z, 0), 2.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(rt_norm_apply(z, 0, 9), 2.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(rt_norm_apply(z, 0, 4), -0.5, 1e-6);
  /* column 1 never seen: mean 0, std 0, values pass through */
  CU_ASSERT_EQUAL(rt_norm_n(z, 1), 0);
  CU_ASSERT_DOUBLE_EQUAL(rt_norm_apply(z, 1, 3.5), 3.5, 1e-6);
  rt_norm_free(z);
}

static void test_constant_and_large(void) {
  RtNorm *z = rt_norm_new(2);
  for (int i = 0; i < 5; i++) rt_norm_add(z, 0, 7.0);
  CU_ASSERT_DOUBLE_EQUAL(rt_norm_std(z, 0), 0.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(rt_norm_apply(z, 0, 8.0), 1.0, 1e-6); /* centred only */
  /* a naive sum of squares loses these digits; Welford keeps them */
  for (int i = 0; i < 3000; i++) rt_norm_add(z, 1, 1e9 + i % 3);
  CU_ASSERT_DOUBLE_EQUAL(rt_norm_mean(z, 1), 1e9 + 1, 1e-4);
  CU_ASSERT_DOUBLE_EQUAL(rt_norm_std(z, 1), sqrt(2.0 / 3.0), 1e-6);
  rt_norm_free(z);
}

static void test_save_load(void) {
  RtNorm *z = rt_norm_new(3);
  for (int i = 0; i < 100; i++) {
    rt_norm_add(z, 0, i * 0.37);
    rt_norm_add(z, 2, -i * i);
  }
  size_t need = rt_norm_save(z, NULL, 0);
  CU_ASSERT_EQUAL(need, 12 + 3 * 24);
  uint8_t *buf = malloc(need);
  CU_ASSERT_EQUAL(rt_norm_save(z, buf, need), need);
  RtError err;
  RtNorm *y = rt_norm_load(buf, need, &err);
  CU_ASSERT_FATAL(y != NULL);
  CU_ASSERT_EQUAL(rt_norm_ncols(y), 3);
  for (int c = 0; c < 3; c++) {
    CU_ASSERT_EQUAL(rt_norm_n(y, c), rt_norm_n(z, c));
    CU_ASSERT_EQUAL(rt_norm_mean(y, c), rt_norm_mean(z, c)); /* bit-exact */
    CU_ASSERT_EQUAL(rt_norm_std(y, c), rt_norm_std(z, c));
  }
  rt_norm_free(y);
  CU_ASSERT_PTR_NULL(rt_norm_load(buf, need - 24, &err));
  CU_ASSERT_STRING_EQUAL(err.msg, "normalizer blob: 3 columns do not fit 60 bytes");
  buf[1] = 'X';
  CU_ASSERT_PTR_NULL(rt_norm_load(buf, need, &err));
  CU_ASSERT(contains(err.msg, "bad magic"));
  free(buf);
  rt_norm_free(z);
}

void add_normalize_tests(void) {
  CU_pSuite s = CU_add_suite("normalize", NULL, NULL);
  CU_add_test(s, "mean, std, z-score, NaN skipped", test_mean_std);
  CU_add_test(s, "constant column, large offset", test_constant_and_large);
  CU_add_test(s, "save/load", test_save_load);
}
