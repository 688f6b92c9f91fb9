/* test_feed.c -- the training feed (feed.h): the streaming shuffle buffer
 * gives every row exactly once per epoch (several buffer and batch sizes,
 * two files, a skipped bad row) and moves no row earlier than its buffer
 * allows; the batches are bit for bit the same with and without the
 * prefetch thread, in memory and streaming, negatives included; streaming
 * encodes exactly the rows the in-memory load holds (the fixture model);
 * next_by models are refused for streaming.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "feed.h"
#include "model.h"
#include "test.h"

/* ---- a model whose rows say who they are: x = the row's index ---- */

static const char *const sx_x[] = {"x"}, *const sx_item[] = {"item"}, *const sx_y[] = {"y"};
static const int sx_src[] = {1};
static const DmcFeature sx_features[] = {
    {.name = "x", .kind = DMC_FEAT_FLOAT, .ncolumns = 1, .columns = sx_x, .vocab_of = -1, .input = 0,
     .weights_input = -1},
    {.name = "item", .kind = DMC_FEAT_ID, .ncolumns = 1, .columns = sx_item, .vocab = 50,
     .min_count = 1, .vocab_of = 1, .input = 1, .weights_input = -1},
    {.name = "neg", .kind = DMC_FEAT_NEGATIVE, .nsources = 1, .sources = sx_src, .vocab_of = 1,
     .input = 2, .weights_input = -1},
    {.name = "y", .kind = DMC_FEAT_LABEL, .ncolumns = 1, .columns = sx_y, .vocab_of = -1, .input = 3,
     .weights_input = -1},
};
static const DmcInput sx_inputs[] = {
    {"x", DMC_F32, 1}, {"item", DMC_I32, 1}, {"neg", DMC_I32, 1}, {"y", DMC_F32, 1}};
static const DmcOutput sx_out[] = {{"p", 1, 0, 0}};
static int64_t sx_ws(int b) { return b; }
static void sx_nop(const DmcCtx *c) { (void)c; }

static DmcModel sx_model(void) {
  DmcModel m = {.abi_version = DMC_ABI_VERSION, .name = "sx", .delimiter = ',', .nfeatures = 4,
                .features = sx_features, .ninputs = 4, .inputs = sx_inputs, .noutputs = 1,
                .outputs = sx_out, .workspace_floats = sx_ws, .forward = sx_nop, .backward = sx_nop,
                .retrieve_output = -1, .retrieve_table = -1, .retrieve_target = -1};
  return m;
}

enum { SX_ROWS = 1000, SX_SPLIT = 600 };

/* Two files: rows 0..599 (and one bad row after row 299), rows 600..999. */
static void write_sx(const char **paths) {
  for (int f = 0; f < 2; f++) {
    size_t cap = 64 * SX_ROWS, k = 0;
    char *buf = malloc(cap);
    k += (size_t)snprintf(buf + k, cap - k, "x,item,y\n");
    for (int i = f ? SX_SPLIT : 0; i < (f ? SX_ROWS : SX_SPLIT); i++) {
      k += (size_t)snprintf(buf + k, cap - k, "%d,%d,%d\n", i, 10 + i % 30, i % 2);
      if (i == 299) k += (size_t)snprintf(buf + k, cap - k, "abc,1,0\n");
    }
    paths[f] = tmp_path(f ? "sx2.csv" : "sx1.csv");
    write_file(paths[f], buf, k);
    free(buf);
  }
}

/* Every batch of one epoch appended to trace (x, item, neg, y per row, then
 * n): the number of rows, or -1. order[] gets the x values in order. */
static int64_t run_epoch(RtFeed *f, float *trace, size_t *nt, int *order, int *sizes, int *nb) {
  RtError err = {""};
  const RtBatch *b;
  int64_t rows = 0;
  int r;
  *nb = 0;
  if (rt_feed_start(f, &err)) return -1;
  while ((r = rt_feed_next(f, &b, &err)) == 1) {
    const float *x = b->buf[0], *y = b->buf[3];
    const int32_t *item = b->buf[1], *neg = b->buf[2];
    for (int j = 0; j < b->n; j++) {
      if (order) order[rows + j] = (int)x[j];
      if (trace) {
        trace[(*nt)++] = x[j];
        trace[(*nt)++] = (float)item[j];
        trace[(*nt)++] = (float)neg[j];
        trace[(*nt)++] = y[j];
      }
    }
    if (trace) trace[(*nt)++] = (float)b->n;
    sizes[(*nb)++] = b->n;
    rows += b->n;
  }
  rt_feed_stop(f);
  return r < 0 ? -1 : rows;
}

static void test_shuffle_buffer_once(void) {
  DmcModel m = sx_model();
  RtError err = {""};
  CU_ASSERT_FATAL(rt_model_check(&m, &err) == 0);
  const char *paths[2];
  write_sx(paths);
  RtEncoder *e = rt_enc_new(&m);
  RtLoadOpts lo = {1, 0, NULL};
  RtData *tally = rt_data_count_rows(e, paths, 2, &lo, &err);
  CU_ASSERT_FATAL(tally != NULL);
  CU_ASSERT_EQUAL(tally->n, SX_ROWS);
  CU_ASSERT_EQUAL(tally->bad[RT_BAD_NUMBER], 1);
  CU_ASSERT(tally->has_label && tally->label_binary && !tally->ids[0] && !tally->vals[0]);
  static const struct { int64_t shuffle; int batch, prefetch; } cf[] = {
      {1, 7, 0}, {10, 7, 2}, {100, 32, 0}, {999, 64, 3}, {5000, 64, 1}, {1000, 1000, 1}, {3, 1, 4}};
  static int order[2][SX_ROWS], sizes[SX_ROWS + 1], seen[SX_ROWS];
  for (size_t c = 0; c < sizeof cf / sizeof cf[0]; c++) {
    RtRng rng;
    rt_rng_seed(&rng, 5);
    RtFeedOpts fo = {.batch = cf[c].batch, .prefetch = cf[c].prefetch, .rng = &rng, .paths = paths,
                     .npaths = 2, .load = lo, .shuffle = cf[c].shuffle};
    RtFeed *f = rt_feed_new(e, &fo, &err);
    CU_ASSERT_FATAL(f != NULL);
    for (int ep = 0; ep < 2; ep++) {
      int nb;
      CU_ASSERT_EQUAL(run_epoch(f, NULL, NULL, order[ep], sizes, &nb), SX_ROWS);
      CU_ASSERT_EQUAL(rt_feed_rows(f), SX_ROWS);
      CU_ASSERT_EQUAL(rt_feed_skipped(f), 1);
      memset(seen, 0, sizeof seen);
      int once = 1, early = 0, inorder = 1, full = 1;
      for (int p = 0; p < SX_ROWS; p++) {
        int i = order[ep][p];
        CU_ASSERT_FATAL(i >= 0 && i < SX_ROWS);
        seen[i]++;
        inorder &= i == p;
        early |= p < i + 1 - cf[c].shuffle; /* never before the buffer could hold it */
      }
      for (int i = 0; i < SX_ROWS; i++) once &= seen[i] == 1;
      for (int k = 0; k + 1 < nb; k++) full &= sizes[k] == cf[c].batch;
      CU_ASSERT(once);
      CU_ASSERT(!early);
      CU_ASSERT(full); /* only the last batch is short */
      CU_ASSERT_EQUAL(inorder, cf[c].shuffle == 1);
    }
    if (cf[c].shuffle > 1) CU_ASSERT(memcmp(order[0], order[1], sizeof order[0]) != 0);
    rt_feed_free(f);
  }
  rt_data_free(tally);
  rt_enc_free(e);
}

/* The trace of three epochs of a feed, in memory (d) or streaming (d NULL). */
static float *trace_of(RtEncoder *e, const RtData *d, const char **paths, int prefetch, size_t *nt) {
  RtRng rng;
  rt_rng_seed(&rng, 9);
  RtError err = {""};
  RtFeedOpts fo = {.batch = 64, .prefetch = prefetch, .rng = &rng, .data = d, .paths = paths,
                   .npaths = 2, .load = {1, 0, NULL}, .shuffle = 50};
  RtFeed *f = rt_feed_new(e, &fo, &err);
  CU_ASSERT_FATAL(f != NULL);
  float *trace = malloc(3 * (5 * SX_ROWS + SX_ROWS) * sizeof *trace);
  static int sizes[SX_ROWS + 1];
  int nb;
  *nt = 0;
  for (int ep = 0; ep < 3; ep++) CU_ASSERT_EQUAL(run_epoch(f, trace, nt, NULL, sizes, &nb), SX_ROWS);
  /* an epoch given up early: the thread stops, the next epoch starts afresh */
  const RtBatch *b;
  CU_ASSERT(rt_feed_start(f, &err) == 0 && rt_feed_next(f, &b, &err) == 1);
  rt_feed_stop(f);
  rt_feed_stop(f);
  rt_feed_free(f);
  return trace;
}

static void test_prefetch_identical(void) {
  DmcModel m = sx_model();
  RtError err = {""};
  const char *paths[2];
  write_sx(paths);
  RtEncoder *e = rt_enc_new(&m);
  RtLoadOpts lo = {1, 0, NULL};
  CU_ASSERT_FATAL(rt_data_count(e, paths, 2, &lo, &err) == 0);
  RtData *d = rt_data_load(e, paths, 2, &lo, &err);
  CU_ASSERT_FATAL(d != NULL && d->n == SX_ROWS);
  size_t n0, n1, n4, s0, s3;
  float *t0 = trace_of(e, d, paths, 0, &n0), *t1 = trace_of(e, d, paths, 1, &n1);
  float *t4 = trace_of(e, d, paths, 4, &n4);
  CU_ASSERT(n0 == n1 && n0 == n4 && n0 > 3 * 4 * SX_ROWS);
  CU_ASSERT(memcmp(t0, t1, n0 * sizeof *t0) == 0);
  CU_ASSERT(memcmp(t0, t4, n0 * sizeof *t0) == 0);
  int negs_ok = 1; /* negatives drawn from the item vocabulary's ids in use (2..31) */
  for (size_t i = 0; i + 4 < 4 * 64; i += 4) negs_ok &= t0[i + 2] >= 2 && t0[i + 2] < 32;
  CU_ASSERT(negs_ok);
  float *u0 = trace_of(e, NULL, paths, 0, &s0), *u3 = trace_of(e, NULL, paths, 3, &s3);
  CU_ASSERT(s0 == s3 && s0 == n0);
  CU_ASSERT(memcmp(u0, u3, s0 * sizeof *u0) == 0);
  free(t0);
  free(t1);
  free(t4);
  free(u0);
  free(u3);
  rt_data_free(d);
  rt_enc_free(e);
}

/* A bad row met while streaming (skip_bad off) ends the epoch with its message. */
static void test_stream_error(void) {
  DmcModel m = sx_model();
  RtError err = {""};
  const char *paths[2];
  write_sx(paths);
  RtEncoder *e = rt_enc_new(&m);
  RtLoadOpts lo = {1, 0, NULL};
  CU_ASSERT_FATAL(rt_data_count(e, paths, 2, &lo, &err) == 0);
  for (int pf = 0; pf < 3; pf += 2) {
    RtRng rng;
    rt_rng_seed(&rng, 2);
    RtFeedOpts fo = {.batch = 16, .prefetch = pf, .rng = &rng, .paths = paths, .npaths = 2,
                     .load = {0, 0, NULL}, .shuffle = 10};
    RtFeed *f = rt_feed_new(e, &fo, &err);
    CU_ASSERT_FATAL(f != NULL);
    const RtBatch *b;
    int r;
    CU_ASSERT_FATAL(rt_feed_start(f, &err) == 0);
    while ((r = rt_feed_next(f, &b, &err)) == 1) continue;
    CU_ASSERT_EQUAL(r, -1);
    CU_ASSERT(contains(err.msg, "sx1.csv:302: column x: 'abc' is not a number"));
    CU_ASSERT(rt_feed_rows(f) > 250 && rt_feed_rows(f) <= 300);
    CU_ASSERT_EQUAL(rt_feed_next(f, &b, &err), -1); /* and stays so until the next start */
    rt_feed_free(f);
  }
  /* a file gone since pass 1: the epoch fails when the reader gets to it */
  RtRng rng;
  rt_rng_seed(&rng, 2);
  const char *gone[2] = {paths[0], tmp_path("gone.csv")};
  RtFeedOpts fo = {.batch = 16, .prefetch = 1, .rng = &rng, .paths = gone, .npaths = 2,
                   .load = lo, .shuffle = 10};
  RtFeed *f = rt_feed_new(e, &fo, &err);
  CU_ASSERT_FATAL(f != NULL);
  const RtBatch *b;
  int r = rt_feed_start(f, &err);
  while (r == 0 && (r = rt_feed_next(f, &b, &err)) == 1) r = 0;
  CU_ASSERT_EQUAL(r, -1);
  CU_ASSERT(contains(err.msg, "gone.csv"));
  rt_feed_free(f);
  rt_enc_free(e);
}

/* ---- the fixture model: streaming encodes exactly the rows a load keeps ---- */

enum { FX_ROWS = 3000, FX_ROW_BYTES = 4 * (1 + 1 + 4 + 1 + 2 + 1) };

static int cmp_row(const void *a, const void *b) { return memcmp(a, b, FX_ROW_BYTES); }

/* Row j of batch b as bytes, input after input. */
static void pack(const RtBatch *b, int j, unsigned char *out) {
  for (int i = 0; i < b->m->ninputs; i++) {
    size_t w = 4 * (size_t)b->m->inputs[i].size;
    memcpy(out, (const unsigned char *)b->buf[i] + (size_t)j * w, w);
    out += w;
  }
}

static void test_stream_matches_memory(void) {
  const char *path = tmp_path("fx.csv");
  RtOpts so = {.prog = "t", .out = path, .nrows = FX_ROWS, .seed = 3, .seed_set = 1};
  CU_ASSERT_FATAL(rt_cmd_synth(&dmc_model, &so) == 0);
  RtError err = {""};
  RtLoadOpts lo = {0, 0, NULL};
  RtEncoder *e = rt_enc_new(&dmc_model);
  RtData *tally = rt_data_count_rows(e, &path, 1, &lo, &err);
  CU_ASSERT_FATAL(tally && tally->n == FX_ROWS);
  CU_ASSERT_EQUAL(rt_data_row_bytes(e), FX_ROW_BYTES + 8);
  RtData *d = rt_data_load(e, &path, 1, &lo, &err);
  CU_ASSERT_FATAL(d != NULL);
  unsigned char *a = malloc((size_t)FX_ROWS * FX_ROW_BYTES), *s = malloc((size_t)FX_ROWS * FX_ROW_BYTES);
  RtRng rng;
  rt_rng_seed(&rng, 1);
  for (int mode = 0; mode < 2; mode++) {
    RtFeedOpts fo = {.batch = 100, .prefetch = 2, .rng = &rng, .data = mode ? NULL : d,
                     .paths = &path, .npaths = 1, .load = lo, .shuffle = 500};
    RtFeed *f = rt_feed_new(e, &fo, &err);
    CU_ASSERT_FATAL(f != NULL);
    const RtBatch *b;
    int64_t k = 0;
    CU_ASSERT_FATAL(rt_feed_start(f, &err) == 0);
    while (rt_feed_next(f, &b, &err) == 1)
      for (int j = 0; j < b->n && k < FX_ROWS; j++) pack(b, j, (mode ? s : a) + FX_ROW_BYTES * k++);
    rt_feed_free(f);
    CU_ASSERT_EQUAL(k, FX_ROWS);
  }
  qsort(a, FX_ROWS, FX_ROW_BYTES, cmp_row);
  qsort(s, FX_ROWS, FX_ROW_BYTES, cmp_row);
  CU_ASSERT(memcmp(a, s, (size_t)FX_ROWS * FX_ROW_BYTES) == 0);
  free(a);
  free(s);
  rt_data_free(d);
  rt_data_free(tally);
  rt_enc_free(e);
}

/* ---- next_by models cannot be streamed ---- */

static const char *const nb_u[] = {"u"}, *const nb_v[] = {"v"};
static const DmcFeature nb_features[] = {
    {.name = "val", .kind = DMC_FEAT_FLOAT, .ncolumns = 1, .columns = nb_v, .vocab_of = -1,
     .input = 0, .weights_input = -1},
    {.name = "next.val", .kind = DMC_FEAT_FLOAT, .ncolumns = 1, .columns = nb_v, .next_row = 1,
     .vocab_of = -1, .input = 1, .weights_input = -1},
};
static const DmcInput nb_inputs[] = {{"val", DMC_F32, 1}, {"next.val", DMC_F32, 1}};

static void test_next_by_refused(void) {
  DmcModel m = {.abi_version = DMC_ABI_VERSION, .name = "nb", .delimiter = ',', .next_by = "u",
                .next_order = "t", .nfeatures = 2, .features = nb_features, .ninputs = 2,
                .inputs = nb_inputs, .noutputs = 1, .outputs = sx_out, .workspace_floats = sx_ws,
                .forward = sx_nop, .backward = sx_nop,
                .retrieve_output = -1, .retrieve_table = -1, .retrieve_target = -1};
  (void)nb_u;
  RtError err = {""};
  CU_ASSERT_FATAL(rt_model_check(&m, &err) == 0);
  RtEncoder *e = rt_enc_new(&m);
  CU_ASSERT(rt_data_needs_next(e));
  RtRng rng;
  rt_rng_seed(&rng, 1);
  const char *path = "unused.csv";
  RtFeedOpts fo = {.batch = 4, .rng = &rng, .paths = &path, .npaths = 1, .shuffle = 8};
  CU_ASSERT(rt_feed_new(e, &fo, &err) == NULL);
  CU_ASSERT(contains(err.msg, "pairs rows by next_by (u, order t)"));
  rt_enc_free(e);
}

void add_feed_tests(void) {
  CU_pSuite s = CU_add_suite("feed", NULL, NULL);
  CU_add_test(s, "shuffle buffer: every row once per epoch", test_shuffle_buffer_once);
  CU_add_test(s, "prefetch thread on/off: identical batches", test_prefetch_identical);
  CU_add_test(s, "a bad row while streaming ends the epoch", test_stream_error);
  CU_add_test(s, "streaming encodes the rows a load keeps", test_stream_matches_memory);
  CU_add_test(s, "next_by models are not streamed", test_next_by_refused);
}
