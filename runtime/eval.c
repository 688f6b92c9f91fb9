/* eval.c -- `PROG eval` and `PROG predict`: a checkpoint scored on a file.
 *
 * Both load the checkpoint (parameters, vocabularies, statistics), encode
 * the file exactly as training did and run the forward pass in batches
 * (--threads in parallel). eval prints the metrics of score.h; predict
 * prints output 0 for every row in file order, "%.6g" per element,
 * elements of a vector output separated by spaces, one row per line. The
 * file given to predict need not have the label column.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "dataset.h"
#include "modelckpt.h"
#include "score.h"

typedef struct Scored {
  RtEncoder *enc;
  RtData *d;
  float *w, *scores;
  double loss_sum;
} Scored;

static void scored_free(Scored *s) {
  rt_enc_free(s->enc);
  rt_data_free(s->d);
  free(s->w);
  free(s->scores);
}

/* Loads the checkpoint and o->files, and scores every row: 0, or 1 after printing the error. */
static int score_files(const DmcModel *m, const RtOpts *o, int flags, Scored *s) {
  RtError err = {""};
  int batch = o->batch > 0 ? o->batch : m->batch > 0 ? m->batch : 256;
  RtScorer *sc = NULL;
  RtLoadOpts lo = {o->skip_bad, flags, o->group};
  s->enc = rt_enc_new(m);
  s->w = calloc((size_t)(m->params_size ? m->params_size : 1), sizeof *s->w);
  if (!s->enc || !s->w) {
    rt_error(&err, "out of memory");
    goto fail;
  }
  if (rt_model_load(m, s->w, s->enc, NULL, o->checkpoint, &err)) goto fail;
  if (!(s->d = rt_data_load(s->enc, o->files, o->nfiles, &lo, &err))) goto fail;
  rt_enc_report_oov(s->enc, o->files[0], stderr);
  rt_data_report_bad(s->d, o->files[0], stderr);
  size_t n = (size_t)(s->d->n ? s->d->n : 1) * (size_t)m->outputs[0].size;
  if (!(s->scores = malloc(n * sizeof *s->scores))) {
    rt_error(&err, "out of memory for %zu scores", n);
    goto fail;
  }
  if (!(sc = rt_scorer_new(m, s->enc, batch, o->threads, &err))) goto fail;
  uint64_t seed = o->seed_set ? o->seed : (uint64_t)m->seed;
  if (rt_scorer_run(sc, s->d, s->w, seed, s->scores, &s->loss_sum, &err)) goto fail;
  rt_scorer_free(sc);
  return 0;
fail:
  fprintf(stderr, "%s: error: %s\n", o->prog, err.msg);
  rt_scorer_free(sc);
  scored_free(s);
  return 1;
}

int rt_cmd_eval(const DmcModel *m, const RtOpts *o) {
  Scored s = {0};
  int label = -1;
  for (int i = 0; i < m->nfeatures && label < 0; i++)
    if (m->features[i].kind == DMC_FEAT_LABEL) label = i;
  if (score_files(m, o, label < 0 ? RT_BIND_LABEL_OPTIONAL : 0, &s)) return 1;
  RtEvalResult r;
  rt_eval_metrics(m, s.enc, s.d, s.scores, s.loss_sum, &r);
  if (o->json) {
    json_t *j = json_pack("{s:s, s:s, s:I, s:o}", "model", m->name, "checkpoint", o->checkpoint,
                          "rows", (json_int_t)r.rows, "loss", rt_json_num(r.loss));
    if (r.has_label && r.binary) {
      json_object_set_new(j, "auc", rt_json_num(r.auc));
      if (r.has_logloss) json_object_set_new(j, "logloss", rt_json_num(r.logloss));
      if (r.has_gauc) json_object_set_new(j, "gauc", rt_json_num(r.gauc));
    } else if (r.has_label) {
      json_object_set_new(j, "rmse", rt_json_num(r.rmse));
    }
    json_object_set_new(j, "skipped_rows", json_integer((json_int_t)rt_data_report_bad(s.d, "", NULL)));
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(j);
  } else {
    printf("rows     %lld\n", (long long)r.rows);
    if (r.has_label && r.binary) {
      printf("auc      %.4f\n", r.auc);
      if (r.has_logloss) printf("logloss  %.4f\n", r.logloss);
      if (r.has_gauc) printf("gauc     %.4f\n", r.gauc);
    } else if (r.has_label) {
      printf("rmse     %.4f\n", r.rmse);
    }
    printf("loss     %.4f\n", r.loss);
  }
  scored_free(&s);
  return 0;
}

int rt_cmd_predict(const DmcModel *m, const RtOpts *o) {
  Scored s = {0};
  if (score_files(m, o, RT_BIND_LABEL_OPTIONAL, &s)) return 1;
  int64_t k = m->outputs[0].size;
  for (int64_t i = 0; i < s.d->n; i++)
    for (int64_t j = 0; j < k; j++) printf("%.6g%c", s.scores[i * k + j], j + 1 < k ? ' ' : '\n');
  int r = fflush(stdout) || ferror(stdout);
  if (r) fprintf(stderr, "%s: error: cannot write the scores to stdout\n", o->prog);
  scored_free(&s);
  return r ? 1 : 0;
}
