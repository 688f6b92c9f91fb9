/* test_metrics.c -- AUC (worked by hand, ties, brute-force check), GAUC
 * weighting, logloss clamping, RMSE. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>

#include "metrics.h"

static RtMetrics *make(int n, const float *score, const float *label, const int64_t *group) {
  RtMetrics *m = rt_metrics_new();
  CU_ASSERT_FATAL(m != NULL);
  for (int i = 0; i < n; i++) CU_ASSERT(rt_metrics_add(m, score[i], label[i], group ? group[i] : 0) == 0);
  return m;
}

static void test_auc_by_hand(void) {
  /* positives 0.35, 0.8; negatives 0.1, 0.4: 3 of 4 pairs ordered */
  float s[] = {0.1f, 0.4f, 0.35f, 0.8f}, y[] = {0, 0, 1, 1};
  RtMetrics *m = make(4, s, y, NULL);
  CU_ASSERT_DOUBLE_EQUAL(rt_metrics_auc(m), 0.75, 1e-12);
  rt_metrics_reset(m);
  CU_ASSERT_EQUAL(rt_metrics_count(m), 0);
  CU_ASSERT(isnan(rt_metrics_auc(m)));
  rt_metrics_add(m, 0.3f, 1, 0);
  rt_metrics_add(m, 0.1f, 1, 0);
  CU_ASSERT(isnan(rt_metrics_auc(m))); /* one class only */
  rt_metrics_free(m);

  float s2[] = {0.9f, 0.8f, 0.2f, 0.1f}, y2[] = {1, 1, 0, 0};
  m = make(4, s2, y2, NULL);
  CU_ASSERT_DOUBLE_EQUAL(rt_metrics_auc(m), 1.0, 1e-12);
  rt_metrics_free(m);
  float y3[] = {0, 0, 1, 1};
  m = make(4, s2, y3, NULL);
  CU_ASSERT_DOUBLE_EQUAL(rt_metrics_auc(m), 0.0, 1e-12);
  rt_metrics_free(m);
}

static void test_auc_ties(void) {
  float s[] = {0.5f, 0.5f, 0.5f, 0.5f}, y[] = {0, 1, 0, 1};
  RtMetrics *m = make(4, s, y, NULL);
  CU_ASSERT_DOUBLE_EQUAL(rt_metrics_auc(m), 0.5, 1e-12);
  rt_metrics_free(m);
  /* pos 0.5 vs neg 0.2: 1, pos 0.5 vs neg 0.5: 1/2, pos 0.9 vs both: 2 -> 3.5/4 */
  float s2[] = {0.2f, 0.5f, 0.5f, 0.9f}, y2[] = {0, 1, 0, 1};
  m = make(4, s2, y2, NULL);
  CU_ASSERT_DOUBLE_EQUAL(rt_metrics_auc(m), 0.875, 1e-12);
  rt_metrics_free(m);
}

/* Against the O(n^2) definition, with many ties, over the 4096-entry growth. */
static void test_auc_brute_force(void) {
  enum { N = 5000 };
  static float s[N], y[N];
  srand(7);
  for (int i = 0; i < N; i++) {
    y[i] = (float)(rand() % 3 == 0);
    s[i] = (float)(rand() % 10 + 3 * (int)y[i]) / 10.0f;
  }
  double wins = 0, pairs = 0;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++)
      if (y[i] > 0.5f && y[j] < 0.5f) {
        pairs++;
        wins += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
      }
  RtMetrics *m = make(N, s, y, NULL);
  CU_ASSERT_EQUAL(rt_metrics_count(m), N);
  CU_ASSERT_DOUBLE_EQUAL(rt_metrics_auc(m), wins / pairs, 1e-9);
  rt_metrics_free(m);
}

static void test_gauc(void) {
  /* group 1: AUC 1 over 2 examples; group 2: AUC 1/4 over 4; group 3: one
   * class, skipped. Weighted: (2*1 + 4*0.25) / 6 = 0.5 (unweighted: 0.625). */
  float s[] = {0.9f, 0.2f, 0.1f, 0.3f, 0.8f, 0.7f, 0.5f, 0.6f, 0.4f};
  float y[] = {1, 1, 0, 0, 0, 1, 1, 1, 1};
  int64_t g[] = {1, 2, 1, 2, 2, 2, 3, 3, 3};
  RtMetrics *m = make(9, s, y, g);
  CU_ASSERT_DOUBLE_EQUAL(rt_metrics_gauc(m), 0.5, 1e-12);
  rt_metrics_reset(m);
  rt_metrics_add(m, 0.5f, 1, 4);
  CU_ASSERT(isnan(rt_metrics_gauc(m)));
  rt_metrics_free(m);
}

static void test_logloss_rmse(void) {
  float s[] = {0.8f, 0.3f}, y[] = {1, 0};
  RtMetrics *m = make(2, s, y, NULL);
  CU_ASSERT_DOUBLE_EQUAL(rt_metrics_logloss(m), -(log(0.8) + log(0.7)) / 2, 1e-6);
  rt_metrics_free(m);
  float s2[] = {0.0f, 1.0f}, y2[] = {1, 1}; /* p = 0 clamps to 1e-7 */
  m = make(2, s2, y2, NULL);
  CU_ASSERT_DOUBLE_EQUAL(rt_metrics_logloss(m), -log(1e-7) / 2, 1e-6);
  CU_ASSERT(isfinite(rt_metrics_logloss(m)));
  rt_metrics_free(m);
  float s3[] = {1, 2, 3}, y3[] = {1, 1, 1};
  m = make(3, s3, y3, NULL);
  CU_ASSERT_DOUBLE_EQUAL(rt_metrics_rmse(m), sqrt(5.0 / 3.0), 1e-12);
  rt_metrics_reset(m);
  CU_ASSERT(isnan(rt_metrics_rmse(m)) && isnan(rt_metrics_logloss(m)));
  rt_metrics_free(m);
}

void add_metrics_tests(void) {
  CU_pSuite s = CU_add_suite("metrics", NULL, NULL);
  CU_add_test(s, "AUC worked by hand", test_auc_by_hand);
  CU_add_test(s, "AUC with tied scores", test_auc_ties);
  CU_add_test(s, "AUC equals the pairwise definition", test_auc_brute_force);
  CU_add_test(s, "GAUC weights groups, skips one-class groups", test_gauc);
  CU_add_test(s, "logloss clamped, RMSE", test_logloss_rmse);
}
