/* fuzz_ckpt.c -- libFuzzer harness of checkpoint loading: bytes as a
 * safetensors file.
 *
 *   1. runtime/checkpoint.h: rt_ckpt_open (header length, JSON, dtypes, shapes,
 *      offsets, overlaps, format, checksum); then every metadata key the runtime
 *      reads, rt_ckpt_expect_meta, rt_ckpt_read of every parameter of the models
 *      below (into buffers of exactly the parameter's size), and every vocabulary
 *      and statistics blob through rt_vocab_load / rt_norm_load, whose results
 *      are used (lookups, z-scores) and saved and loaded again (same bytes).
 *   2. runtime/modelckpt.h: rt_model_load into each model (enc_fixture from
 *      tests/fuzz/models, lr_fixture from tests/runtime/fixtures); a load that
 *      succeeds must leave an encoder that keeps encoder.h's promises (every
 *      vocabulary index inside the tables: rt_vocab_len <= the group's size,
 *      statistics as wide as their feature), and must save and load again.
 * Seeds: checkpoints the two fixtures wrote after training on synthetic data
 * (tests/fuzz/make_corpus.sh), with and without their checksum.
 */
#include "fuzz_util.h"

#include <math.h>

#include "checkpoint.h"
#include "encoder.h"
#include "model.h"
#include "modelckpt.h"
#include "normalize.h"
#include "vocab.h"

extern const DmcModel fuzz_model_enc_fixture, fuzz_model_lr_fixture;
static const DmcModel *const models[] = {&fuzz_model_enc_fixture, &fuzz_model_lr_fixture};
#define NMODELS (int)(sizeof models / sizeof *models)

static float *weights[NMODELS];
static float *scratch; /* the largest parameter, for rt_ckpt_read */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  int64_t most = 1;
  for (int i = 0; i < NMODELS; i++) {
    RtError err;
    if (rt_model_check(models[i], &err)) {
      fprintf(stderr, "fuzz_ckpt: model %s: %s\n", models[i]->name, err.msg);
      exit(1);
    }
    weights[i] = calloc((size_t)models[i]->params_size + 1, sizeof(float));
    for (int p = 0; p < models[i]->nparams; p++)
      if (models[i]->params[p].size > most) most = models[i]->params[p].size;
  }
  scratch = malloc((size_t)most * sizeof(float));
  fuzz_files_init("fuzz_ckpt");
  return 0;
}

static void use_vocab(const uint8_t *blob, size_t n) {
  RtError err;
  RtVocab *v = rt_vocab_load(blob, n, &err);
  if (!v) return;
  uint32_t len = rt_vocab_len(v);
  static const int64_t probe[] = {0, 1, 2, -1, 42, INT64_MAX, INT64_MIN};
  for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) {
    uint32_t id = rt_vocab_lookup(v, probe[i]);
    FUZZ_CHECK(id == RT_VOCAB_OOV || (id >= 2 && id < len), "vocab lookup %u outside [2, %u)", id, len);
  }
  size_t need = rt_vocab_save(v, NULL, 0);
  uint8_t *again = malloc(need ? need : 1);
  FUZZ_CHECK(rt_vocab_save(v, again, need) == need, "vocab save size changed");
  /* the same bytes, but min_count: a blob's 0 loads as 1, the default */
  FUZZ_CHECK(need == n && !memcmp(again, blob, 12) && !memcmp(again + 16, blob + 16, n - 16),
             "vocab saved differently from what was loaded");
  free(again);
  rt_vocab_free(v);
}

static void use_norm(const uint8_t *blob, size_t n) {
  RtError err;
  RtNorm *z = rt_norm_load(blob, n, &err);
  if (!z) return;
  volatile float sink = 0;
  for (int c = 0; c < rt_norm_ncols(z) && c < 64; c++) sink += rt_norm_apply(z, c, 1.0);
  (void)sink;
  size_t need = rt_norm_save(z, NULL, 0);
  uint8_t *again = malloc(need);
  FUZZ_CHECK(rt_norm_save(z, again, need) == need, "norm save size changed");
  FUZZ_CHECK(need == n && !memcmp(again, blob, n), "statistics saved differently from what was loaded");
  free(again);
  rt_norm_free(z);
}

static void reader(const char *path) {
  RtError err;
  RtCkpt *c = rt_ckpt_open(path, &err);
  if (!c) return;
  static const char *const keys[] = {"dmc.format", "dmc.checksum", "dmc.model", "dmc.signature", "dmc.abi",
                                     "dmc.epoch", "dmc.metric", "dmc.metric_value", "dmc.hash_seed",
                                     "__metadata__", ""};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    const char *v = rt_ckpt_meta(c, keys[i]);
    if (v) (void)strlen(v);
    rt_ckpt_expect_meta(c, keys[i], "1", &err);
  }
  for (int mi = 0; mi < NMODELS; mi++) {
    const DmcModel *m = models[mi];
    for (int p = 0; p < m->nparams; p++)
      rt_ckpt_read(c, m->params[p].name, scratch, m->params[p].rank, m->params[p].shape, &err);
    for (int f = 0; f < m->nfeatures; f++) {
      char key[300];
      size_t n;
      snprintf(key, sizeof key, "dmc.vocab.%s", m->features[f].name);
      uint8_t *blob = rt_ckpt_blob(c, key, &n, &err);
      if (blob) use_vocab(blob, n);
      free(blob);
      snprintf(key, sizeof key, "dmc.norm.%s", m->features[f].name);
      if ((blob = rt_ckpt_blob(c, key, &n, &err))) use_norm(blob, n);
      free(blob);
    }
  }
  rt_ckpt_close(c);
}

/* What encoder.h promises of a frozen encoder. */
static void check_encoder(const RtEncoder *e) {
  const DmcModel *m = e->m;
  for (int g = 0; g < e->ngroups; g++) {
    const RtVocabGroup *vg = &e->groups[g];
    FUZZ_CHECK(rt_vocab_len(vg->v) <= vg->size,
               "vocabulary of %s: %u indices in use, but its tables have %lld rows (ids would fall "
               "outside them)", m->features[vg->leader].name, rt_vocab_len(vg->v), (long long)vg->size);
  }
  for (int i = 0; i < e->nf; i++)
    if (e->norm[i])
      FUZZ_CHECK(rt_norm_ncols(e->norm[i]) == rt_feat_width(&m->features[i]), "statistics of %s: %d columns",
                 m->features[i].name, rt_norm_ncols(e->norm[i]));
}

static void loader(const char *path) {
  for (int mi = 0; mi < NMODELS; mi++) {
    const DmcModel *m = models[mi];
    RtError err;
    RtCkptInfo info;
    RtEncoder *e = rt_enc_new(m), *e2 = NULL;
    FUZZ_CHECK(e, "rt_enc_new failed");
    if (!rt_model_load(m, weights[mi], e, &info, path, &err)) {
      check_encoder(e);
      FUZZ_CHECK(!rt_model_save(m, weights[mi], e, &info, fuzz_out_path, &err), "save again: %s", err.msg);
      e2 = rt_enc_new(m);
      FUZZ_CHECK(!rt_model_load(m, weights[mi], e2, NULL, fuzz_out_path, &err), "load what was saved: %s",
                 err.msg);
      FUZZ_CHECK(e2->hash_seed == e->hash_seed, "hash seed changed");
    }
    rt_enc_free(e);
    rt_enc_free(e2);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_write_input(0, data, size);
  reader(path);
  loader(path);
  return 0;
}
