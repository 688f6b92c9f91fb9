/* fuzz_data.c -- libFuzzer harness of the data path: CSV/TSV reader
 * (runtime/csv.h), feature encoder (encoder.h) and in-memory data set
 * (dataset.h), as `PROG train` and `PROG eval/predict` use them.
 *
 * Input: one selector byte, then the bytes of a data file.
 *   selector & 7 (mod 5)  the model whose descriptor encodes the file:
 *                         0 din (TSV: id and hash lists in one column, log/normalised
 *                         floats, a vocabulary shared by two features), 1 wide_deep (CSV:
 *                         lists over numbered columns, crosses), 2 drn (TSV: next_by
 *                         pairing, negatives), 3 enc_fixture (tests/fuzz/models: weighted
 *                         lists, float defaults, min_count, every kind at once),
 *                         4 lr_fixture (tests/runtime/fixtures/lr_model.c)
 *   selector & 8          --skip-bad: bad rows are counted and left out
 *   selector & 16         the label column is optional (predict)
 *   selector & 64         step 4 with a prefetch thread
 *   selector & 32         two files: the bytes are cut at the first form feed (0x0C) into
 *                         two files read as one stream (each with its header); without
 *                         a form feed, the same file twice
 *
 * Per input, what train does, then what eval does with its checkpoint:
 *   1. rt_data_count_rows: pass 1 (vocabularies, statistics, a tally of rows)
 *   2. rt_data_load: pass 2 into memory; it must succeed whenever pass 1 did,
 *      keep exactly the tallied rows and count the same bad rows
 *   3. every encoded id in range (id/weighted: [0, vocabulary), hash/cross:
 *      [0, buckets)), as encoder.h promises; batches filled, negatives in range
 *   4. streaming (feed.h) with a shuffle buffer of 1 row, which keeps the file's
 *      order: every batch holds the rows pass 2 loaded, bit for bit (but sampled
 *      negatives), and as many; prefetched by the background thread when
 *      selector & 64. Models with next(F) cannot stream: rt_feed_new must say so.
 *   5. rt_model_save, then a fresh encoder rt_model_load's the checkpoint (it must)
 *      and encodes the file again: the same rows, bit for bit.
 * Any sanitizer report or failed FUZZ_CHECK is a crash.
 */
#include "fuzz_util.h"

#include <math.h>

#include "dataset.h"
#include "encoder.h"
#include "feed.h"
#include "model.h"
#include "modelckpt.h"
#include "rng.h"

extern const DmcModel fuzz_model_din, fuzz_model_wide_deep, fuzz_model_drn, fuzz_model_enc_fixture,
    fuzz_model_lr_fixture;
static const DmcModel *const models[] = {&fuzz_model_din, &fuzz_model_wide_deep, &fuzz_model_drn,
                                         &fuzz_model_enc_fixture, &fuzz_model_lr_fixture};
#define NMODELS (int)(sizeof models / sizeof *models)

static float *weights[NMODELS];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  for (int i = 0; i < NMODELS; i++) {
    RtError err;
    if (rt_model_check(models[i], &err)) {
      fprintf(stderr, "fuzz_data: model %s: %s\n", models[i]->name, err.msg);
      exit(1);
    }
    weights[i] = calloc((size_t)models[i]->params_size + 1, sizeof(float));
  }
  fuzz_files_init("fuzz_data");
  return 0;
}

static int stores_ids(const DmcFeature *f) {
  return f->kind == DMC_FEAT_ID || f->kind == DMC_FEAT_HASH || f->kind == DMC_FEAT_WEIGHTED ||
         f->kind == DMC_FEAT_CROSS;
}

/* The exclusive upper bound of feature i's encoded ids. */
static int64_t id_limit(const RtEncoder *e, int i) {
  const DmcFeature *f = &e->m->features[i];
  if (f->kind == DMC_FEAT_ID || f->kind == DMC_FEAT_WEIGHTED) {
    const RtVocabGroup *g = &e->groups[e->group[i]];
    FUZZ_CHECK(g->size <= f->vocab, "feature %s: group size %lld > vocab %lld", f->name,
               (long long)g->size, (long long)f->vocab);
    FUZZ_CHECK(rt_vocab_len(g->v) <= g->size, "feature %s: %u vocabulary indices for size %lld",
               f->name, rt_vocab_len(g->v), (long long)g->size);
    return g->size;
  }
  if (f->kind == DMC_FEAT_NEGATIVE) return id_limit(e, f->sources[0]);
  return f->vocab;
}

static void check_ranges(const RtEncoder *e, const RtData *d) {
  const DmcModel *m = e->m;
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    if (!e->active[i] || !stores_ids(f)) continue;
    FUZZ_CHECK(d->n == 0 || d->ids[i], "feature %s: no ids stored", f->name);
    int64_t lim = id_limit(e, i), w = rt_feat_width(f);
    for (int64_t k = 0; k < d->n * w; k++)
      FUZZ_CHECK(d->ids[i][k] >= 0 && d->ids[i][k] < lim, "feature %s: id %d outside [0, %lld)",
                 f->name, d->ids[i][k], (long long)lim);
  }
}

static void check_batches(const RtEncoder *e, const RtData *d) {
  const DmcModel *m = e->m;
  enum { MAXB = 8 };
  RtBatch *b = rt_batch_new(m, MAXB);
  FUZZ_CHECK(b, "rt_batch_new failed");
  RtRng rng;
  rt_rng_seed(&rng, 7);
  int64_t rows[MAXB];
  for (int64_t r = 0; r < d->n; r += MAXB) {
    int n = d->n - r < MAXB ? (int)(d->n - r) : MAXB;
    for (int j = 0; j < n; j++) rows[j] = d->n - 1 - (r + j); /* any order */
    rt_batch_fill(b, e, d, rows, n, &rng);
    for (int i = 0; i < m->nfeatures; i++) {
      const DmcFeature *f = &m->features[i];
      if (f->kind != DMC_FEAT_NEGATIVE || f->input < 0) continue;
      const int32_t *ids = b->buf[f->input];
      int64_t lim = id_limit(e, i), w = rt_feat_width(f);
      for (int64_t k = 0; k < n * w; k++)
        FUZZ_CHECK(ids[k] >= 0 && ids[k] < lim, "negative %s: id %d outside [0, %lld)", f->name,
                   ids[k], (long long)lim);
    }
  }
  rt_batch_free(b);
}

static int stores_vals(const DmcFeature *f) {
  return f->kind == DMC_FEAT_FLOAT || f->kind == DMC_FEAT_LABEL || f->kind == DMC_FEAT_WEIGHTED;
}

/* Streams paths through a feed that keeps the file order; its batches must be d's rows. */
static void check_stream(RtEncoder *e, const RtData *d, const char *const *paths, int npaths,
                         const RtLoadOpts *lo, int prefetch) {
  const DmcModel *m = e->m;
  RtRng rng;
  rt_rng_seed(&rng, 11);
  RtFeedOpts fo = {.batch = 5, .prefetch = prefetch, .rng = &rng, .data = NULL, .paths = paths,
                   .npaths = npaths, .load = *lo, .shuffle = 1};
  RtError err;
  RtFeed *f = rt_feed_new(e, &fo, &err);
  if (!f) {
    FUZZ_CHECK(rt_data_needs_next(e), "rt_feed_new: %s", err.msg);
    return;
  }
  FUZZ_CHECK(!rt_data_needs_next(e), "a feed streams a model with next(F) features");
  FUZZ_CHECK(!rt_feed_start(f, &err), "streaming cannot start where loading succeeded: %s", err.msg);
  const RtBatch *b;
  int r;
  int64_t row = 0;
  while ((r = rt_feed_next(f, &b, &err)) == 1) {
    FUZZ_CHECK(b->n >= 1 && b->n <= 5 && row + b->n <= d->n, "a batch of %d rows after %lld of %lld", b->n,
               (long long)row, (long long)d->n);
    for (int i = 0; i < m->nfeatures; i++) {
      const DmcFeature *ft = &m->features[i];
      if (ft->kind == DMC_FEAT_NEGATIVE) continue;
      size_t w = (size_t)rt_feat_width(ft), n = (size_t)b->n * w;
      int in_ids = stores_ids(ft) ? ft->input : -1;
      int in_vals = ft->kind == DMC_FEAT_WEIGHTED ? ft->weights_input : stores_vals(ft) ? ft->input : -1;
      if (in_ids >= 0)
        FUZZ_CHECK(!memcmp(b->buf[in_ids], d->ids[i] + (size_t)row * w, n * 4),
                   "streamed ids of %s differ from the loaded ones (rows %lld..)", ft->name, (long long)row);
      if (in_vals >= 0)
        FUZZ_CHECK(!memcmp(b->buf[in_vals], d->vals[i] + (size_t)row * w, n * 4),
                   "streamed values of %s differ from the loaded ones (rows %lld..)", ft->name, (long long)row);
    }
    row += b->n;
  }
  FUZZ_CHECK(r == 0, "streaming failed where loading succeeded: %s", err.msg);
  FUZZ_CHECK(row == d->n && rt_feed_rows(f) == d->n, "streamed %lld rows (feed says %lld), loaded %lld",
             (long long)row, (long long)rt_feed_rows(f), (long long)d->n);
  uint64_t bad = 0;
  for (int k = 1; k < RT_BAD_COUNT; k++) bad += d->bad[k];
  FUZZ_CHECK(rt_feed_skipped(f) == bad, "streaming skipped %llu bad rows, loading %llu",
             (unsigned long long)rt_feed_skipped(f), (unsigned long long)bad);
  rt_feed_stop(f);
  rt_feed_free(f);
}

static void check_same(const RtEncoder *e, const RtData *a, const RtData *b) {
  const DmcModel *m = e->m;
  FUZZ_CHECK(a->n == b->n, "reloaded encoder kept %lld rows, training kept %lld", (long long)b->n,
             (long long)a->n);
  for (int i = 0; i < m->nfeatures; i++) {
    if (!e->active[i]) continue;
    size_t w = (size_t)rt_feat_width(&m->features[i]), n = (size_t)a->n * w;
    FUZZ_CHECK(!a->ids[i] == !b->ids[i] && !a->vals[i] == !b->vals[i], "feature %s stored differently",
               m->features[i].name);
    if (a->ids[i]) FUZZ_CHECK(!memcmp(a->ids[i], b->ids[i], n * 4), "feature %s: ids differ after reload",
                              m->features[i].name);
    if (a->vals[i]) FUZZ_CHECK(!memcmp(a->vals[i], b->vals[i], n * 4), "feature %s: values differ after reload",
                               m->features[i].name);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mi = (data[0] & 7) % NMODELS;
  const DmcModel *m = models[mi];
  RtLoadOpts lo = {data[0] & 8 ? 1 : 0, data[0] & 16 ? RT_BIND_LABEL_OPTIONAL : 0, NULL};
  const uint8_t *body = data + 1, *cut = memchr(body, '\f', size - 1);
  const char *paths[2];
  int npaths = data[0] & 32 ? 2 : 1;
  if (npaths == 2 && cut) {
    paths[0] = fuzz_write_input(0, body, (size_t)(cut - body));
    paths[1] = fuzz_write_input(1, cut + 1, size - 1 - (size_t)(cut + 1 - body));
  } else {
    paths[0] = paths[1] = fuzz_write_input(0, body, size - 1);
  }
  RtError err;
  RtEncoder *e = rt_enc_new(m), *e2 = NULL;
  FUZZ_CHECK(e, "rt_enc_new failed");
  RtData *tally = NULL, *d = NULL, *d2 = NULL;
  if (!(tally = rt_data_count_rows(e, paths, npaths, &lo, &err))) goto out;
  d = rt_data_load(e, paths, npaths, &lo, &err);
  FUZZ_CHECK(d, "pass 1 succeeded, pass 2 failed: %s", err.msg);
  FUZZ_CHECK(d->n == tally->n, "pass 1 tallied %lld rows, pass 2 kept %lld", (long long)tally->n,
             (long long)d->n);
  for (int r = 1; r < RT_BAD_COUNT; r++)
    FUZZ_CHECK(d->bad[r] == tally->bad[r], "bad rows (%s): %llu in pass 1, %llu in pass 2",
               rt_bad_names[r], (unsigned long long)tally->bad[r], (unsigned long long)d->bad[r]);
  check_ranges(e, d);
  check_batches(e, d);
  if (!(lo.flags & RT_BIND_LABEL_OPTIONAL)) /* streaming is for training: the label is needed */
    check_stream(e, d, paths, npaths, &lo, data[0] & 64 ? 1 : 0);

  /* eval/predict: the checkpoint's encoder must encode the same file the same way */
  RtCkptInfo info = {1, "", 0, NULL};
  FUZZ_CHECK(!rt_model_save(m, weights[mi], e, &info, fuzz_out_path, &err), "save: %s", err.msg);
  e2 = rt_enc_new(m);
  FUZZ_CHECK(e2, "rt_enc_new failed");
  FUZZ_CHECK(!rt_model_load(m, weights[mi], e2, NULL, fuzz_out_path, &err), "reload: %s", err.msg);
  d2 = rt_data_load(e2, paths, npaths, &lo, &err);
  FUZZ_CHECK(d2, "the reloaded encoder cannot read the training file: %s", err.msg);
  check_same(e, d, d2);
out:
  rt_data_free(tally);
  rt_data_free(d);
  rt_data_free(d2);
  rt_enc_free(e);
  rt_enc_free(e2);
  return 0;
}
