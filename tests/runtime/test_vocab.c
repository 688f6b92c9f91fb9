/* test_vocab.c -- id parsing, frequency order with ties, min_count, padding
 * and OOV indices, growth, save/load and damaged blobs, the reverse lookup
 * (index to id). */
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "vocab.h"

static RtIdStatus parse(const char *s, int64_t *v) { return rt_vocab_parse_id(s, strlen(s), v); }

static void test_parse(void) {
  int64_t v = 123;
  CU_ASSERT_EQUAL(parse("", &v), RT_ID_EMPTY);
  CU_ASSERT_EQUAL(parse("0", &v), RT_ID_OK);
  CU_ASSERT_EQUAL(v, 0);
  CU_ASSERT_EQUAL(parse("-5", &v), RT_ID_OK);
  CU_ASSERT_EQUAL(v, -5);
  CU_ASSERT_EQUAL(parse("+7", &v), RT_ID_OK);
  CU_ASSERT_EQUAL(v, 7);
  CU_ASSERT_EQUAL(parse("007", &v), RT_ID_OK);
  CU_ASSERT_EQUAL(v, 7);
  CU_ASSERT_EQUAL(parse("9223372036854775807", &v), RT_ID_OK);
  CU_ASSERT_EQUAL(v, INT64_MAX);
  CU_ASSERT_EQUAL(parse("-9223372036854775808", &v), RT_ID_OK);
  CU_ASSERT_EQUAL(v, INT64_MIN);
  v = 1;
  const char *bad[] = {"9223372036854775808", "-9223372036854775809",
                       "99999999999999999999", "12a", " 1", "1 ", "-", "+", "1.0", "1e3", "0x10"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CU_ASSERT_EQUAL(parse(bad[i], &v), RT_ID_BAD);
  CU_ASSERT_EQUAL(v, 1); /* untouched on error */
}

static void count_n(RtVocab *v, int64_t id, int times) {
  for (int i = 0; i < times; i++) CU_ASSERT(rt_vocab_count(v, id) == 0);
}

static void test_order_and_ties(void) {
  /* counts: 3 x5, 5 x3, 7 x3, 9 x1; room for two ids */
  RtVocab *v = rt_vocab_new(4, 1);
  CU_ASSERT_FATAL(v != NULL);
  count_n(v, 7, 3);
  count_n(v, 9, 1);
  count_n(v, 5, 3);
  count_n(v, 3, 5);
  CU_ASSERT(rt_vocab_freeze(v) == 0);
  CU_ASSERT_EQUAL(rt_vocab_len(v), 4);
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, 3), 2);
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, 5), 3); /* tie with 7: smaller id first */
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, 7), RT_VOCAB_OOV);
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, 9), RT_VOCAB_OOV);
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, 12345), RT_VOCAB_OOV);
  CU_ASSERT_EQUAL(rt_vocab_oov(v), 3);
  rt_vocab_free(v);
}

static void test_min_count(void) {
  RtVocab *v = rt_vocab_new(100, 2);
  count_n(v, 0, 2);                /* id 0 is an id like any other */
  count_n(v, -4, 4);
  count_n(v, INT64_MIN, 2);
  count_n(v, 9, 1);                /* below min_count */
  CU_ASSERT(rt_vocab_freeze(v) == 0);
  CU_ASSERT_EQUAL(rt_vocab_len(v), 5);
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, -4), 2);
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, INT64_MIN), 3);
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, 0), 4);
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, 9), RT_VOCAB_OOV);
  CU_ASSERT_EQUAL(rt_vocab_oov(v), 1);
  rt_vocab_free(v);

  v = rt_vocab_new(10, 0); /* min_count 0 acts as 1; nothing counted */
  CU_ASSERT(rt_vocab_freeze(v) == 0);
  CU_ASSERT_EQUAL(rt_vocab_len(v), 2);
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, 1), RT_VOCAB_OOV);
  rt_vocab_free(v);
  CU_ASSERT_PTR_NULL(rt_vocab_new(1, 1));
}

/* 50000 ids (the table grows many times); the 1000 counted twice win. */
static RtVocab *big_vocab(int reverse) {
  RtVocab *v = rt_vocab_new(1002, 1);
  for (int k = 0; k < 50000; k++) {
    int i = reverse ? 49999 - k : k;
    CU_ASSERT(rt_vocab_count(v, i) == 0);
    if (i % 50 == 0) CU_ASSERT(rt_vocab_count(v, i) == 0);
  }
  CU_ASSERT(rt_vocab_freeze(v) == 0);
  return v;
}

static void test_growth_and_determinism(void) {
  RtVocab *a = big_vocab(0), *b = big_vocab(1);
  CU_ASSERT_EQUAL(rt_vocab_len(a), 1002);
  int same = 1, right = 1;
  for (int i = 0; i < 50000; i++) {
    uint32_t x = rt_vocab_lookup(a, i);
    same &= x == rt_vocab_lookup(b, i);
    right &= x == (i % 50 == 0 ? (uint32_t)(2 + i / 50) : RT_VOCAB_OOV);
  }
  CU_ASSERT(same);
  CU_ASSERT(right);
  CU_ASSERT_EQUAL(rt_vocab_oov(a), 49000);
  rt_vocab_free(a);
  rt_vocab_free(b);
}

static void test_save_load(void) {
  RtVocab *v = big_vocab(0);
  size_t need = rt_vocab_save(v, NULL, 0);
  CU_ASSERT_EQUAL(need, 20 + 8 * 1000);
  uint8_t *buf = malloc(need);
  CU_ASSERT_EQUAL(rt_vocab_save(v, buf, need), need);
  RtError err;
  RtVocab *w = rt_vocab_load(buf, need, &err);
  CU_ASSERT_FATAL(w != NULL);
  CU_ASSERT_EQUAL(rt_vocab_len(w), 1002);
  int same = 1;
  for (int i = -10; i < 50010; i++) same &= rt_vocab_lookup(v, i) == rt_vocab_lookup(w, i);
  CU_ASSERT(same);
  rt_vocab_free(w);

  CU_ASSERT_PTR_NULL(rt_vocab_load(buf, need - 1, &err));
  CU_ASSERT(contains(err.msg, "do not agree"));
  memcpy(buf + 28, buf + 20, 8); /* index 3 repeats index 2's id */
  CU_ASSERT_PTR_NULL(rt_vocab_load(buf, need, &err));
  CU_ASSERT_STRING_EQUAL(err.msg, "vocabulary blob: id 0 appears twice");
  buf[4] = 9;
  CU_ASSERT_PTR_NULL(rt_vocab_load(buf, need, &err));
  CU_ASSERT_STRING_EQUAL(err.msg, "vocabulary blob: version 9, expected 1");
  buf[0] = 'X';
  CU_ASSERT_PTR_NULL(rt_vocab_load(buf, need, &err));
  CU_ASSERT(contains(err.msg, "bad magic"));
  free(buf);
  rt_vocab_free(v);
}

static void test_reverse(void) {
  RtVocab *v = big_vocab(0);
  int64_t id = 7;
  CU_ASSERT_EQUAL(rt_vocab_id(v, RT_VOCAB_PAD, &id), -1);
  CU_ASSERT_EQUAL(rt_vocab_id(v, RT_VOCAB_OOV, &id), -1);
  CU_ASSERT_EQUAL(rt_vocab_id(v, 1002, &id), -1); /* past the indices in use */
  CU_ASSERT_EQUAL(id, 7);
  int right = 1;
  for (uint32_t i = 2; i < 1002; i++) {
    right &= rt_vocab_id(v, i, &id) == 0 && rt_vocab_lookup(v, id) == i;
  }
  CU_ASSERT(right);
  /* the same after a save and a load */
  size_t need = rt_vocab_save(v, NULL, 0);
  uint8_t *buf = malloc(need);
  rt_vocab_save(v, buf, need);
  RtError err;
  RtVocab *w = rt_vocab_load(buf, need, &err);
  CU_ASSERT_FATAL(w != NULL);
  int64_t a = 0, b = 0;
  for (uint32_t i = 2; i < 1002; i++)
    right &= rt_vocab_id(v, i, &a) == 0 && rt_vocab_id(w, i, &b) == 0 && a == b;
  CU_ASSERT(right);
  CU_ASSERT_EQUAL(rt_vocab_id(w, 1002, &a), -1);
  free(buf);
  rt_vocab_free(v);
  rt_vocab_free(w);
  /* an empty vocabulary has no index to map */
  RtVocab *e = rt_vocab_new(10, 1);
  CU_ASSERT_FATAL(e != NULL && rt_vocab_freeze(e) == 0);
  CU_ASSERT_EQUAL(rt_vocab_id(e, 2, &a), -1);
  rt_vocab_free(e);
}

void add_vocab_tests(void) {
  CU_pSuite s = CU_add_suite("vocab", NULL, NULL);
  CU_add_test(s, "strict id parsing", test_parse);
  CU_add_test(s, "frequency order, ties by id, OOV", test_order_and_ties);
  CU_add_test(s, "min_count and padding", test_min_count);
  CU_add_test(s, "growth, order independence", test_growth_and_determinism);
  CU_add_test(s, "save/load and damaged blobs", test_save_load);
  CU_add_test(s, "reverse lookup", test_reverse);
}
