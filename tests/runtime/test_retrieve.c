/* test_retrieve.c -- retrieval (retrieve.h) and the retrieval commands.
 *
 * In-process: the top-k heap against a full sort of random scores (with
 * ties and NaNs); rt_retrieve_topk against a naive scoring on integer-valued
 * vectors (exact dot products whatever the kernel, many ties), on 1 and 3
 * threads, with fewer candidates than k; recall@k counted by hand.
 * End to end, with the hand-written retrieval fixture (build/tests/
 * retr_fixture, or $DMC_RETR_FIXTURE) as a child process: a checkpoint with
 * hand-set item vectors written here, then `retrieve` (the expected lines
 * worked out by hand: padding, out-of-vocabulary and unused rows skipped,
 * ties by row), without the target column, --json, `eval` (recall@k by
 * hand), `train --valid` keeping the best recall, and the lr fixture
 * refusing `retrieve`.
 */
#define _XOPEN_SOURCE 700 /* realpath, setenv */
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "dataset.h"
#include "modelckpt.h"
#include "retrieve.h"
#include "test.h"

#ifndef RT_RETR_FIXTURE_BIN
#define RT_RETR_FIXTURE_BIN "build/tests/retr_fixture"
#endif
#ifndef RT_FIXTURE_BIN
#define RT_FIXTURE_BIN "build/tests/lr_fixture"
#endif

extern const DmcModel retr_model;

static uint64_t lcg = 12345;
static uint32_t next_rand(void) {
  lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(lcg >> 33);
}

/* ---- the heap ---- */

typedef struct Cand {
  float s;
  int32_t r;
} Cand;

/* best first: higher score, then lower row; NaN last */
static int by_rank(const void *a, const void *b) {
  const Cand *x = a, *y = b;
  int xn = isnan(x->s), yn = isnan(y->s);
  if (xn != yn) return xn - yn;
  if (!xn && x->s != y->s) return x->s > y->s ? -1 : 1;
  return (x->r > y->r) - (x->r < y->r);
}

static void test_topk_vs_sort(void) {
  static const int sizes[] = {0, 1, 5, 49, 50, 51, 300, 5000};
  static const int ks[] = {1, 7, 50, 64};
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
      int n = sizes[si], k = ks[ki];
      Cand *c = malloc((size_t)(n ? n : 1) * sizeof *c);
      float hs[64];
      int32_t hr[64];
      RtTopK h = {k, 0, hs, hr};
      for (int i = 0; i < n; i++) {
        uint32_t x = next_rand();
        /* few distinct values: many ties; an occasional NaN and infinity */
        c[i].s = x % 97 == 0 ? NAN : x % 89 == 0 ? -INFINITY : (float)(x % 40) - 20.0f;
        c[i].r = (int32_t)(next_rand() % 100000); /* rows offered in any order */
        rt_topk_push(&h, c[i].s, c[i].r);
      }
      int nan = 0;
      for (int i = 0; i < n; i++) nan += isnan(c[i].s);
      qsort(c, (size_t)n, sizeof *c, by_rank);
      int got = rt_topk_sort(&h), want = n - nan < k ? n - nan : k;
      CU_ASSERT_EQUAL(got, want);
      int same = 1;
      for (int i = 0; i < got && i < want; i++) same &= hs[i] == c[i].s && hr[i] == c[i].r;
      CU_ASSERT(same);
      if (!same) fprintf(stderr, "topk: n %d k %d differs from the sort\n", n, k);
      free(c);
    }
  /* distinct rows with equal scores: the lower rows are kept, in order */
  float hs[3];
  int32_t hr[3];
  RtTopK h = {3, 0, hs, hr};
  for (int32_t r = 9; r >= 0; r--) rt_topk_push(&h, 1.0f, r);
  CU_ASSERT_EQUAL(rt_topk_sort(&h), 3);
  CU_ASSERT(hr[0] == 0 && hr[1] == 1 && hr[2] == 2);
}

/* ---- rt_retrieve_topk against naive scoring ---- */

static void naive_topk(const float *users, int64_t n, int64_t dim, const float *table, int64_t lo,
                       int64_t hi, int k, int32_t *rows, float *scores) {
  Cand *c = malloc((size_t)(hi - lo + 1) * sizeof *c);
  for (int64_t u = 0; u < n; u++) {
    for (int64_t r = lo; r < hi; r++) {
      double s = 0;
      for (int64_t p = 0; p < dim; p++) s += (double)users[u * dim + p] * table[r * dim + p];
      c[r - lo] = (Cand){(float)s, (int32_t)r};
    }
    qsort(c, (size_t)(hi - lo), sizeof *c, by_rank);
    for (int i = 0; i < k; i++) {
      rows[u * k + i] = i < hi - lo ? c[i].r : -1;
      scores[u * k + i] = i < hi - lo ? c[i].s : -INFINITY;
    }
  }
  free(c);
}

static void check_topk(int64_t n, int64_t dim, int64_t rows, int64_t lo, int64_t hi, int k) {
  float *users = malloc((size_t)(n * dim) * sizeof *users);
  float *table = malloc((size_t)(rows * dim) * sizeof *table);
  for (int64_t i = 0; i < n * dim; i++) users[i] = (float)((int)(next_rand() % 7) - 3);
  for (int64_t i = 0; i < rows * dim; i++) table[i] = (float)((int)(next_rand() % 7) - 3);
  size_t cells = (size_t)(n * k);
  int32_t *want_r = malloc(cells * sizeof *want_r), *got_r = malloc(cells * sizeof *got_r);
  int32_t *got3_r = malloc(cells * sizeof *got3_r);
  float *want_s = malloc(cells * sizeof *want_s), *got_s = malloc(cells * sizeof *got_s);
  naive_topk(users, n, dim, table, lo, hi, k, want_r, want_s);
  RtError err;
  CU_ASSERT_FATAL(rt_retrieve_topk(users, n, dim, table, lo, hi, k, 1, got_r, got_s, &err) == 0);
  CU_ASSERT(memcmp(want_r, got_r, cells * sizeof *got_r) == 0);
  CU_ASSERT(memcmp(want_s, got_s, cells * sizeof *got_s) == 0);
  CU_ASSERT_FATAL(rt_retrieve_topk(users, n, dim, table, lo, hi, k, 3, got3_r, NULL, &err) == 0);
  CU_ASSERT(memcmp(got_r, got3_r, cells * sizeof *got_r) == 0);
  if (memcmp(want_r, got_r, cells * sizeof *got_r))
    fprintf(stderr, "retrieve_topk: n %lld dim %lld rows %lld..%lld k %d differs\n", (long long)n,
            (long long)dim, (long long)lo, (long long)hi, k);
  free(users);
  free(table);
  free(want_r);
  free(got_r);
  free(got3_r);
  free(want_s);
  free(got_s);
}

static void test_retrieve_vs_naive(void) {
  /* each kernel this CPU can run: the best one, then the ones DMC_RETRIEVE_KERNEL forces */
  static const char *const kernels[] = {"", "avx2", "c"};
  for (int i = 0; i < 3; i++) {
    if (*kernels[i]) setenv("DMC_RETRIEVE_KERNEL", kernels[i], 1);
    check_topk(150, 7, 1000, 2, 999, 20);   /* partial blocks and tiles, an odd dimension */
    check_topk(64, 64, 300, 2, 300, 50);    /* one full block */
    check_topk(3, 16, 600, 2, 257, 1);      /* k = 1; a tile boundary */
    check_topk(70, 5, 20, 2, 9, 10);        /* 7 candidates for k = 10: the rest -1 */
    check_topk(5, 3, 10, 2, 2, 4);          /* none at all */
  }
  unsetenv("DMC_RETRIEVE_KERNEL");
}

/* ---- recall ---- */

static void test_recall_by_hand(void) {
  /* 5 rows, top 3 each; targets: hit at 1, hit at 3, miss, out of vocabulary, padding */
  const int32_t top[] = {4, 5, 6, /**/ 2, 3, 9, /**/ 7, 8, 9, /**/ 2, 3, 4, /**/ 2, 3, 4};
  const int32_t target[] = {4, 9, 2, RT_VOCAB_OOV, RT_VOCAB_PAD};
  RtRecall r;
  rt_recall(top, 5, 3, 3, target, &r);
  CU_ASSERT_EQUAL(r.rows, 4);
  CU_ASSERT_EQUAL(r.oov, 1);
  CU_ASSERT_EQUAL(r.hits, 2);
  CU_ASSERT_DOUBLE_EQUAL(r.recall, 0.5, 1e-12);
  CU_ASSERT(isnan(r.recall10)); /* only 3 retrieved */
  rt_recall(top, 5, 3, 2, target, &r); /* recall@2 of the same lists */
  CU_ASSERT_EQUAL(r.hits, 1);
  CU_ASSERT_DOUBLE_EQUAL(r.recall, 0.25, 1e-12);
  rt_recall(top, 1, 3, 1, target + 4, &r); /* padding only: nothing to count */
  CU_ASSERT_EQUAL(r.rows, 0);
  CU_ASSERT(isnan(r.recall));
  /* 12 retrieved: recall@10 counts the first 10 */
  int32_t top12[12], t1[1] = {13};
  for (int i = 0; i < 12; i++) top12[i] = i + 2;
  rt_recall(top12, 1, 12, 12, t1, &r);
  CU_ASSERT(r.hits == 1 && r.hits10 == 0 && r.recall10 == 0.0);
}

/* ---- end to end, with the retrieval fixture ---- */

static char retr_bin[PATH_MAX], lr_bin[PATH_MAX];
static char out_text[1 << 17], err_text[1 << 16];

static int suite_init(void) {
  const char *p = getenv("DMC_RETR_FIXTURE"), *q = getenv("DMC_LR_FIXTURE");
  if (!realpath(p && *p ? p : RT_RETR_FIXTURE_BIN, retr_bin) ||
      !realpath(q && *q ? q : RT_FIXTURE_BIN, lr_bin)) {
    fprintf(stderr, "test_retrieve: a fixture program is missing (make %s %s)\n",
            RT_RETR_FIXTURE_BIN, RT_FIXTURE_BIN);
    return 1;
  }
  return 0;
}

static void slurp(const char *path, char *dst, size_t cap) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(dst, 1, cap - 1, f) : 0;
  dst[n] = '\0';
  if (f) fclose(f);
}

/* Runs `bin ARGS` in the temporary directory: its exit status; its output
 * in out_text and err_text. */
static int run(const char *bin, const char *fmt, ...) {
  char args[2048], cmd[3 * PATH_MAX + 2048], dir[PATH_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(dir, sizeof dir, "%s", tmp_path("x"));
  dir[strlen(dir) - 2] = '\0';
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s > retr.out 2> retr.err", dir, bin, args);
  int st = system(cmd);
  slurp(tmp_path("retr.out"), out_text, sizeof out_text);
  slurp(tmp_path("retr.err"), err_text, sizeof err_text);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double jnum(json_t *j, const char *key) {
  json_t *v = json_object_get(j, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A checkpoint of the fixture with hand-set items: ids 101..105 seen 5..1
 * times, so they get rows 2..6; row 7 is unused. Rows 0, 1 and 7 score
 * highest of all and must never be retrieved. */
static void write_hand_checkpoint(const char *path) {
  char text[512] = "item,ux,uy\n";
  for (int id = 101; id <= 105; id++)
    for (int c = 0; c < 106 - id; c++) snprintf(text + strlen(text), sizeof text - strlen(text),
                                                "%d,0,0\n", id);
  const char *data = tmp_path("hand_train.csv");
  write_file(data, text, strlen(text));
  RtEncoder *e = rt_enc_new(&retr_model);
  RtLoadOpts lo = {0, 0, NULL};
  RtError err;
  CU_ASSERT_FATAL(e != NULL);
  CU_ASSERT_FATAL(rt_data_count(e, &data, 1, &lo, &err) == 0);
  RtVocab *v = e->groups[e->group[0]].v;
  for (int id = 101; id <= 105; id++) CU_ASSERT_EQUAL(rt_vocab_lookup(v, id), (uint32_t)(id - 99));
  CU_ASSERT_EQUAL(rt_vocab_len(v), 7);
  const float w[16] = {
      100, 100,    /* 0 padding */
      100, 100,    /* 1 out of vocabulary */
      1, 0,        /* 2 id 101 */
      0, 1,        /* 3 id 102 */
      -1, 0,       /* 4 id 103 */
      0.5f, 0.5f,  /* 5 id 104 */
      0, -1,       /* 6 id 105 */
      100, 100,    /* 7 unused */
  };
  CU_ASSERT_FATAL(rt_model_save(&retr_model, w, e, NULL, path, &err) == 0);
  rt_enc_free(e);
}

static void test_retrieve_by_hand(void) {
  write_hand_checkpoint(tmp_path("hand.ckpt"));
  /* scores by hand (equal scores go by row, i.e. by id here):
   *   u = (1, 0):   101: 1, 104: .5, 102: 0, 105: 0, 103: -1  -> 101 104 102 105 103
   *   u = (0, 2):   102: 2, 104: 1, 101: 0, 103: 0, 105: -2   -> 102 104 101 103 105
   *   u = (-1, -1): 103: 1, 105: 1, 101: -1, 102: -1, 104: -1 -> 103 105 101 102 104 */
  const char *rows = "item,ux,uy\n"
                     "101,1,0\n"      /* the target at rank 1 */
                     "101,0,2\n"      /* rank 3 */
                     "104,-1,-1\n"    /* rank 5 */
                     "999,1,0\n"      /* out of vocabulary: a miss */
                     ",1,0\n";        /* no target: not counted */
  write_file(tmp_path("hand.csv"), rows, strlen(rows));
  CU_ASSERT_EQUAL(run(retr_bin, "retrieve hand.csv -c hand.ckpt -k 3 -q"), 0);
  CU_ASSERT_STRING_EQUAL(out_text, "101 104 102\n102 104 101\n103 105 101\n101 104 102\n"
                                   "101 104 102\n");
  CU_ASSERT_STRING_EQUAL(err_text, "hand.csv: feature item: 1 rows with an empty value (padding)\n"
                                   "hand.csv: feature item: 1 of 4 ids (25.00%) out of "
                                   "vocabulary (7 of 8 indices in use)\n");
  /* k larger than the 5 candidates: all of them; the same on 2 threads, batch 2 */
  CU_ASSERT_EQUAL(run(retr_bin, "retrieve hand.csv -c hand.ckpt -k 50 --threads 2 --batch 2"), 0);
  CU_ASSERT_STRING_EQUAL(out_text, "101 104 102 105 103\n102 104 101 103 105\n"
                                   "103 105 101 102 104\n101 104 102 105 103\n"
                                   "101 104 102 105 103\n");
  CU_ASSERT(contains(err_text, "5 rows, top 50 of 5 items"));
  /* the target column is not needed */
  const char *notarget = "uy,ux\n0,1\n2,0\n-1,-1\n";
  write_file(tmp_path("notarget.csv"), notarget, strlen(notarget));
  CU_ASSERT_EQUAL(run(retr_bin, "retrieve notarget.csv -c hand.ckpt -k 2 -q"), 0);
  CU_ASSERT_STRING_EQUAL(out_text, "101 104\n102 104\n103 105\n");
  CU_ASSERT_STRING_EQUAL(err_text, "");
  /* --json: items and scores per row */
  CU_ASSERT_EQUAL(run(retr_bin, "retrieve notarget.csv -c hand.ckpt -k 2 --json -q"), 0);
  json_error_t je;
  json_t *j = json_loads(out_text, 0, &je);
  CU_ASSERT_FATAL(j != NULL);
  CU_ASSERT_EQUAL(jnum(j, "rows"), 3);
  CU_ASSERT_EQUAL(jnum(j, "k"), 2);
  CU_ASSERT_EQUAL(jnum(j, "items"), 5);
  json_t *r1 = json_array_get(json_object_get(j, "results"), 1);
  CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_object_get(r1, "items"), 0)), 102);
  CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_object_get(r1, "items"), 1)), 104);
  CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(json_object_get(r1, "scores"), 0)), 2.0, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_array_get(json_object_get(r1, "scores"), 1)), 1.0, 1e-6);
  json_decref(j);

  /* eval: recall counted by hand over the 4 rows with a target (1 out of vocabulary) */
  static const struct { int k; double recall; } want[] = {{1, 0.25}, {2, 0.25}, {3, 0.5}, {5, 0.75}};
  for (int i = 0; i < 4; i++) {
    CU_ASSERT_EQUAL(run(retr_bin, "eval hand.csv -c hand.ckpt -k %d --json", want[i].k), 0);
    j = json_loads(out_text, 0, &je);
    CU_ASSERT_FATAL(j != NULL);
    CU_ASSERT_EQUAL(jnum(j, "k"), want[i].k);
    CU_ASSERT_DOUBLE_EQUAL(jnum(j, "recall_at_k"), want[i].recall, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(jnum(j, "recall_at_10"), 0.75, 1e-12);
    CU_ASSERT_EQUAL(jnum(j, "target_rows"), 4);
    CU_ASSERT_EQUAL(jnum(j, "target_oov"), 1);
    CU_ASSERT_EQUAL(jnum(j, "rows"), 5);
    CU_ASSERT(json_object_get(j, "auc") == NULL);
    CU_ASSERT(jnum(j, "loss") > 0);
    json_decref(j);
  }
  CU_ASSERT_EQUAL(run(retr_bin, "eval hand.csv -c hand.ckpt -k 3"), 0);
  CU_ASSERT(contains(out_text, "recall@3  0.5000  (4 rows with a target, 1 of them out of vocabulary)\n"
                               "recall@10 0.7500\n"));
  /* eval needs the target */
  CU_ASSERT_EQUAL(run(retr_bin, "eval notarget.csv -c hand.ckpt"), 1);
  CU_ASSERT(contains(err_text, "notarget.csv: no column 'item' (feature item)"));
  CU_ASSERT_EQUAL(run(retr_bin, "retrieve hand.csv -c hand.ckpt -k 0"), 2);
  CU_ASSERT(contains(err_text, "-k: '0' is not an integer in [1, 100000]"));
}

static void test_retrieve_usage(void) {
  CU_ASSERT_EQUAL(run(retr_bin, "retrieve --help"), 0);
  CU_ASSERT(contains(out_text, "usage: retr_fixture retrieve FILE..."));
  CU_ASSERT(contains(out_text, "(output 'user_vec') against every item (the rows of table 'item_out'"));
  CU_ASSERT_EQUAL(run(retr_bin, "--help"), 0);
  CU_ASSERT(contains(out_text, "retrieve FILE..."));
  CU_ASSERT_EQUAL(run(retr_bin, "info"), 0);
  CU_ASSERT(contains(out_text, "retrieval: user_vec against the rows of item_out (the ids of item)"));
  CU_ASSERT_EQUAL(run(retr_bin, "retrieve x.csv --lr 1"), 2);
  CU_ASSERT(contains(err_text, "option '--lr' does not apply to this command"));
  /* a model without retrieval */
  CU_ASSERT_EQUAL(run(lr_bin, "retrieve x.csv"), 2);
  CU_ASSERT(contains(err_text, "lr_fixture retrieve: model lr_fixture has no retrieval: only a "
                               "model trained with sampled_softmax"));
  CU_ASSERT_EQUAL(run(lr_bin, "retrieve --help"), 0);
  CU_ASSERT(contains(out_text, "(model lr_fixture was not trained with sampled_softmax: it cannot "
                               "retrieve)"));
}

/* rows of item,ux,uy: five items in five directions, the user vector near
 * its item's direction */
static void write_directions(const char *path, int n) {
  FILE *f = fopen(path, "w");
  CU_ASSERT_FATAL(f != NULL);
  fprintf(f, "item,ux,uy\n");
  for (int i = 0; i < n; i++) {
    int item = (int)(next_rand() % 15);
    item = item < 5 ? 0 : item < 9 ? 1 : item < 12 ? 2 : item < 14 ? 3 : 4; /* skewed */
    double a = 2 * 3.14159265358979 * item / 5;
    double nx = ((double)(next_rand() % 1000) / 1000 - 0.5) * 0.6;
    double ny = ((double)(next_rand() % 1000) / 1000 - 0.5) * 0.6;
    fprintf(f, "%d,%.4f,%.4f\n", 201 + item, 3 * cos(a) + nx, 3 * sin(a) + ny);
  }
  CU_ASSERT(fclose(f) == 0);
}

static void test_retrieve_train(void) {
  write_directions(tmp_path("dir_train.csv"), 2000);
  write_directions(tmp_path("dir_valid.csv"), 500);
  CU_ASSERT_EQUAL(run(retr_bin, "train dir_train.csv --valid dir_valid.csv -k 1 --epochs 3 "
                                "--patience 0 -o dir.ckpt --json -q"), 0);
  json_error_t je;
  json_t *j = json_loads(out_text, 0, &je);
  CU_ASSERT_FATAL(j != NULL);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "metric")), "recall@1");
  CU_ASSERT_EQUAL(jnum(j, "k"), 1);
  double best = jnum(j, "best");
  CU_ASSERT(best > 0.9);
  json_t *eps = json_object_get(j, "epochs");
  CU_ASSERT_EQUAL(json_array_size(eps), 3);
  double top = -1;
  for (size_t i = 0; i < json_array_size(eps); i++) {
    json_t *e = json_array_get(eps, i);
    CU_ASSERT(jnum(e, "valid_recall_at_10") == 1.0); /* 5 items: all within 10 */
    CU_ASSERT(jnum(e, "valid_loss") > 0);
    if (jnum(e, "valid_recall_at_k") > top) top = jnum(e, "valid_recall_at_k");
  }
  CU_ASSERT(top == best);
  json_decref(j);
  /* the saved epoch evaluates to the same recall */
  CU_ASSERT_EQUAL(run(retr_bin, "eval dir_valid.csv -c dir.ckpt -k 1 --json"), 0);
  j = json_loads(out_text, 0, &je);
  CU_ASSERT_FATAL(j != NULL);
  CU_ASSERT(jnum(j, "recall_at_k") == best);
  json_decref(j);
  /* text: the epoch line shows the recall */
  CU_ASSERT_EQUAL(run(retr_bin, "train dir_train.csv --valid dir_valid.csv --epochs 1 -o d1.ckpt -q"), 0);
  CU_ASSERT(contains(out_text, "valid recall@50 1.0000 recall@10 1.0000 loss "));
  CU_ASSERT(contains(out_text, "valid recall@50 1.0000\n"));
}

void add_retrieve_tests(void) {
  CU_pSuite s = CU_add_suite("retrieval", NULL, NULL);
  CU_add_test(s, "top-k heap against a sort", test_topk_vs_sort);
  CU_add_test(s, "blocked scoring against naive", test_retrieve_vs_naive);
  CU_add_test(s, "recall by hand", test_recall_by_hand);
  CU_pSuite p = CU_add_suite("retrieval program (fixture model)", suite_init, NULL);
  CU_add_test(p, "retrieve and eval on hand-set items", test_retrieve_by_hand);
  CU_add_test(p, "usage, and models that cannot retrieve", test_retrieve_usage);
  CU_add_test(p, "train --valid keeps the best recall", test_retrieve_train);
}
