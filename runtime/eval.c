/* eval.c -- `PROG eval`, `PROG predict` and `PROG retrieve`: a checkpoint
 * scored on a file.
 *
 * All load the checkpoint (parameters, vocabularies, statistics), encode
 * the file exactly as training did and run the forward pass in batches
 * (--threads in parallel). eval prints the metrics of score.h (for a
 * retrieval model: recall@k and recall@10 of the retrieved items, and the
 * mean loss); predict prints output 0 for every row in file order, "%.6g"
 * per element, elements of a vector output separated by spaces, one row
 * per line. The file given to predict need not have the label column.
 * retrieve (retrieval models only) prints for every row in file order the
 * raw ids of its k best items (retrieve.h), best first; the file need not
 * have the label or the target column.
 * A group_by model with a held-out output (heldout.h) is scored on held-out
 * rows instead: eval prints RMSE and MAE of the predicted values, predict
 * one predicted value per row; the input groups are --input's, or else the
 * training groups the checkpoint holds.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "dataset.h"
#include "heldout.h"
#include "model.h"
#include "modelckpt.h"
#include "params.h"
#include "progress.h"
#include "retrieve.h"
#include "score.h"

typedef struct Scored {
  RtEncoder *enc;
  RtData *d;               /* the rows scored; a group_by model's input groups */
  float *w, *scores;       /* scores: per row of d; a group_by model's: per held-out row */
  double loss_sum;
  int outputs_only;        /* predict, retrieve: the losses are not computed (loss_sum 0) */
  RtHeldout *h;            /* group_by models: the held-out rows, and their metrics */
  RtEvalResult r;
} Scored;

static void scored_free(Scored *s) {
  rt_enc_free(s->enc);
  rt_data_free(s->d);
  free(s->w);
  free(s->scores);
  rt_heldout_free(s->h);
}

/* The encoder and the parameters of o->checkpoint into s: 0, or -1 and *err. */
static int load_checkpoint(const DmcModel *m, const RtOpts *o, Scored *s, RtError *err) {
  s->enc = rt_enc_new(m);
  s->w = rt_floats_new(m->params_size);
  if (!s->enc || !s->w) return rt_error(err, "out of memory");
  return rt_model_load(m, s->w, s->enc, NULL, o->checkpoint, err);
}

/* group_by models: the input groups (--input, else the checkpoint's) into s->d and the
 * held-out rows of o->files into s->h. 0, or -1 and *err. */
static int load_heldout(const RtOpts *o, int flags, Scored *s, RtError *err) {
  RtLoadOpts lo = {o->skip_bad, flags, o->group}, li = {o->skip_bad, 0, o->group};
  if (o->input) {
    if (!(s->d = rt_data_load(s->enc, &o->input, 1, &li, err))) return -1;
    rt_enc_report_oov(s->enc, o->input, stderr);
    rt_data_report_bad(s->d, o->input, stderr);
    rt_enc_reset_counts(s->enc);
  } else if (!(s->d = rt_model_load_inputs(s->enc, o->checkpoint, err))) {
    return -1;
  }
  if (!(s->h = rt_heldout_load(s->enc, o->files, o->nfiles, &lo, s->d, err))) return -1;
  rt_enc_report_oov(s->enc, o->files[0], stderr);
  rt_data_report_bad(s->h->tally, o->files[0], stderr);
  rt_heldout_report(s->h, o->files[0], stderr);
  return 0;
}

/* Loads the checkpoint and o->files, and scores every row (output `output`; a
 * group_by model: predicts every held-out row, s->r its metrics): 0, or 1 after
 * printing the error. */
static int score_files(const DmcModel *m, const RtOpts *o, int flags, int output, Scored *s) {
  RtError err = {""};
  int batch = o->batch > 0 ? o->batch : m->batch > 0 ? m->batch : 256;
  RtScorer *sc = NULL;
  RtLoadOpts lo = {o->skip_bad, flags, o->group};
  if (load_checkpoint(m, o, s, &err)) goto fail;
  if (rt_model_heldout(m)) {
    if (load_heldout(o, flags, s, &err)) goto fail;
  } else {
    if (!(s->d = rt_data_load(s->enc, o->files, o->nfiles, &lo, &err))) goto fail;
    rt_enc_report_oov(s->enc, o->files[0], stderr);
    rt_data_report_bad(s->d, o->files[0], stderr);
  }
  int64_t rows = s->h ? s->h->n : s->d->n, width = s->h ? 1 : m->outputs[output].size;
  size_t n = (size_t)(rows ? rows : 1) * (size_t)width;
  if (!(s->scores = malloc(n * sizeof *s->scores))) {
    rt_error(&err, "out of memory for %zu scores", n);
    goto fail;
  }
  if (!(sc = rt_scorer_new(m, s->enc, batch, o->threads, &err))) goto fail;
  rt_scorer_set_output(sc, output);
  uint64_t seed = o->seed_set ? o->seed : (uint64_t)m->seed;
  if (s->h ? rt_heldout_eval(s->h, sc, s->d, s->w, seed, s->scores, &s->r, &err)
           : rt_scorer_run(sc, s->d, s->w, seed, s->scores, s->outputs_only ? NULL : &s->loss_sum, &err))
    goto fail;
  rt_scorer_free(sc);
  return 0;
fail:
  fprintf(stderr, "%s: error: %s\n", o->prog, err.msg);
  rt_scorer_free(sc);
  scored_free(s);
  return 1;
}

static int eval_heldout(const DmcModel *m, const RtOpts *o) {
  Scored s = {0};
  if (score_files(m, o, 0, 0, &s)) return 1;
  const RtEvalResult *r = &s.r;
  uint64_t skipped = rt_data_report_bad(s.h->tally, "", NULL);
  if (o->json) {
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:I, s:o, s:I}", "model", m->name,
                          "checkpoint", o->checkpoint, "input", o->input ? o->input : "checkpoint",
                          "rows", (json_int_t)r->rows, "rmse", rt_json_num(r->rmse), "mae",
                          rt_json_num(r->mae), "loss", rt_json_num(r->loss), "defaulted",
                          (json_int_t)r->defaulted, "default_value", rt_json_num(r->fallback),
                          "skipped_rows", (json_int_t)skipped);
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(j);
  } else {
    printf("rows     %lld\n", (long long)r->rows);
    printf("rmse     %.4f\n", r->rmse);
    printf("mae      %.4f\n", r->mae);
    printf("default  %lld rows (no input group, or an id out of the vocabulary): %.4f\n",
           (long long)r->defaulted, r->fallback);
    printf("loss     %.4f  (the model's, on the %lld input groups scored)\n", r->loss,
           (long long)s.h->nneeded);
  }
  scored_free(&s);
  return 0;
}

int rt_cmd_eval(const DmcModel *m, const RtOpts *o) {
  if (rt_model_heldout(m)) return eval_heldout(m, o);
  Scored s = {0};
  int label = -1;
  for (int i = 0; i < m->nfeatures && label < 0; i++)
    if (m->features[i].kind == DMC_FEAT_LABEL) label = i;
  int retr = rt_model_retrieves(m), output = retr ? m->retrieve_output : 0;
  if (score_files(m, o, label < 0 ? RT_BIND_LABEL_OPTIONAL : 0, output, &s)) return 1;
  RtEvalResult r;
  rt_eval_metrics(m, s.enc, s.d, s.scores, s.loss_sum, &r);
  RtError err = {""};
  if (retr && rt_eval_recall(m, s.enc, s.d, s.w, s.scores, o->k > 0 ? o->k : RT_RETRIEVE_K,
                             o->threads, &r, &err)) {
    fprintf(stderr, "%s: error: %s\n", o->prog, err.msg);
    scored_free(&s);
    return 1;
  }
  const RtRecall *rc = &r.recall;
  if (o->json) {
    json_t *j = json_pack("{s:s, s:s, s:I, s:o}", "model", m->name, "checkpoint", o->checkpoint,
                          "rows", (json_int_t)r.rows, "loss", rt_json_num(r.loss));
    if (r.has_recall) {
      json_object_set_new(j, "k", json_integer(rc->k));
      json_object_set_new(j, "recall_at_k", rt_json_num(rc->recall));
      json_object_set_new(j, "recall_at_10", rt_json_num(rc->recall10));
      json_object_set_new(j, "target_rows", json_integer((json_int_t)rc->rows));
      json_object_set_new(j, "target_oov", json_integer((json_int_t)rc->oov));
    } else if (r.has_label && r.binary) {
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
    int w = r.has_recall ? 10 : 9; /* the width of the names */
    printf("%-*s%lld\n", w, "rows", (long long)r.rows);
    if (r.has_recall) {
      char at[32];
      snprintf(at, sizeof at, "recall@%d", rc->k);
      printf("%-*s%.4f  (%lld rows with a target, %lld of them out of vocabulary)\n", w, at,
             rc->recall, (long long)rc->rows, (long long)rc->oov);
      if (rc->k != 10) printf("%-*s%.4f\n", w, "recall@10", rc->recall10);
    } else if (r.has_label && r.binary) {
      printf("auc      %.4f\n", r.auc);
      if (r.has_logloss) printf("logloss  %.4f\n", r.logloss);
      if (r.has_gauc) printf("gauc     %.4f\n", r.gauc);
    } else if (r.has_label) {
      printf("rmse     %.4f\n", r.rmse);
    }
    printf("%-*s%.4f\n", w, "loss", r.loss);
  }
  scored_free(&s);
  return 0;
}

static int predict_heldout(const DmcModel *m, const RtOpts *o) {
  Scored s = {0};
  if (score_files(m, o, RT_BIND_LABEL_OPTIONAL, 0, &s)) return 1;
  for (int64_t i = 0; i < s.h->n; i++) printf("%.6g\n", s.scores[i]);
  int r = fflush(stdout) || ferror(stdout);
  if (r) fprintf(stderr, "%s: error: cannot write the predictions to stdout\n", o->prog);
  scored_free(&s);
  return r ? 1 : 0;
}

int rt_cmd_predict(const DmcModel *m, const RtOpts *o) {
  if (rt_model_heldout(m)) return predict_heldout(m, o);
  Scored s = {.outputs_only = 1};
  if (score_files(m, o, RT_BIND_LABEL_OPTIONAL, 0, &s)) return 1;
  int64_t k = m->outputs[0].size;
  for (int64_t i = 0; i < s.d->n; i++)
    for (int64_t j = 0; j < k; j++) printf("%.6g%c", s.scores[i * k + j], j + 1 < k ? ' ' : '\n');
  int r = fflush(stdout) || ferror(stdout);
  if (r) fprintf(stderr, "%s: error: cannot write the scores to stdout\n", o->prog);
  scored_free(&s);
  return r ? 1 : 0;
}

/* A JSON string literal (escaped) on stdout. */
static void put_json_string(const char *text) {
  json_t *j = json_string(text);
  char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
  fputs(t ? t : "null", stdout);
  free(t);
  json_decref(j);
}

int rt_cmd_retrieve(const DmcModel *m, const RtOpts *o) {
  if (!rt_model_retrieves(m)) {
    fprintf(stderr, "%s retrieve: model %s has no retrieval: only a model trained with "
            "sampled_softmax scores a user vector against an item table\n"
            "HINT: `%s predict` prints its outputs\n", o->prog, m->name, o->prog);
    return 2;
  }
  Scored s = {.outputs_only = 1};
  double t0 = rt_now();
  if (score_files(m, o, RT_BIND_LABEL_OPTIONAL | RT_BIND_TARGET_OPTIONAL, m->retrieve_output, &s))
    return 1;
  double t1 = rt_now();
  RtRetrieval rv;
  RtError err = {""};
  rt_retrieval_of(m, s.enc, s.w, &rv);
  int k = o->k > 0 ? o->k : RT_RETRIEVE_K;
  size_t cells = (size_t)(s.d->n ? s.d->n : 1) * (size_t)k;
  int32_t *rows = malloc(cells * sizeof *rows);
  float *scores = o->json ? malloc(cells * sizeof *scores) : NULL;
  if (!rows || (o->json && !scores)) {
    rt_error(&err, "out of memory for %lld x %d retrieved items", (long long)s.d->n, k);
    goto fail;
  }
  if (rt_retrieve_topk(s.scores, s.d->n, rv.dim, rv.table, rv.lo, rv.hi, k, o->threads, rows,
                       scores, &err))
    goto fail;
  double t2 = rt_now();
  if (o->json) {
    fputs("{\"model\": ", stdout);
    put_json_string(m->name);
    fputs(", \"checkpoint\": ", stdout);
    put_json_string(o->checkpoint);
    printf(", \"rows\": %lld, \"k\": %d, \"items\": %lld, \"seconds_load_forward\": %.6g, "
           "\"seconds_topk\": %.6g,\n\"results\": [", (long long)s.d->n, k,
           (long long)(rv.hi - rv.lo), t1 - t0, t2 - t1);
  }
  for (int64_t i = 0; i < s.d->n; i++) {
    const int32_t *r = rows + i * k;
    int got = 0;
    while (got < k && r[got] >= 0) got++;
    if (o->json) fputs(i ? ",\n{\"items\": [" : "\n{\"items\": [", stdout);
    for (int j = 0; j < got; j++) {
      int64_t id = 0;
      rt_vocab_id(rv.vocab, (uint32_t)r[j], &id);
      printf("%s%lld", j ? (o->json ? ", " : " ") : "", (long long)id);
    }
    if (o->json) {
      fputs("], \"scores\": [", stdout);
      for (int j = 0; j < got; j++) printf("%s%.7g", j ? ", " : "", scores[i * k + j]);
      fputs("]}", stdout);
    } else {
      fputc('\n', stdout);
    }
  }
  if (o->json) fputs("\n]}\n", stdout);
  if (fflush(stdout) || ferror(stdout)) {
    rt_error(&err, "cannot write the items to stdout");
    goto fail;
  }
  if (!o->quiet)
    fprintf(stderr, "%s: %lld rows, top %d of %lld items: load and forward %.2fs, scoring %.2fs\n",
            o->prog, (long long)s.d->n, k, (long long)(rv.hi - rv.lo), t1 - t0, t2 - t1);
  free(rows);
  free(scores);
  scored_free(&s);
  return 0;
fail:
  fprintf(stderr, "%s: error: %s\n", o->prog, err.msg);
  free(rows);
  free(scores);
  scored_free(&s);
  return 1;
}
