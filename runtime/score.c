/* score.c -- batched, threaded forward passes and evaluation metrics (see score.h). */
#include "score.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "metrics.h"
#include "params.h"
#include "model.h"

typedef struct Worker {
  RtScorer *s;
  RtBatch *b;
  float *ws, *loss;
  int64_t *rows;
  int index;
  double loss_sum;
} Worker;

struct RtScorer {
  const DmcModel *m;
  const RtEncoder *e;
  int max_batch, nthreads;
  int output;              /* the output copied to scores */
  Worker *wk;
  /* the current run */
  const RtData *d;
  const int64_t *rows;     /* the rows to score, NULL: all of d in order */
  int64_t nrows;
  const float *params;
  uint64_t version;        /* the params' state during the run (rt_infer_version) */
  int losses;              /* the losses computed and summed */
  float *scores;
  uint64_t seed;
};

RtScorer *rt_scorer_new(const DmcModel *m, const RtEncoder *e, int max_batch, int nthreads,
                        RtError *err) {
  RtScorer *s = calloc(1, sizeof *s);
  if (nthreads < 1) nthreads = 1;
  if (nthreads > 64) nthreads = 64;
  if (!s || !(s->wk = calloc((size_t)nthreads, sizeof *s->wk))) {
    free(s);
    rt_error(err, "out of memory");
    return NULL;
  }
  s->m = m;
  s->e = e;
  s->max_batch = max_batch;
  s->nthreads = nthreads;
  size_t ws = (size_t)m->workspace_floats(rt_infer_rows(m, max_batch));
  for (int t = 0; t < nthreads; t++) {
    Worker *w = &s->wk[t];
    w->s = s;
    w->index = t;
    w->b = rt_batch_new(m, max_batch);
    w->ws = rt_floats_new((int64_t)ws);
    w->loss = calloc((size_t)max_batch, sizeof *w->loss);
    w->rows = calloc((size_t)max_batch, sizeof *w->rows);
    if (!w->b || !w->ws || !w->loss || !w->rows) {
      rt_scorer_free(s);
      rt_error(err, "out of memory for %d workspaces of %zu floats", nthreads, ws);
      return NULL;
    }
  }
  return s;
}

void rt_scorer_set_output(RtScorer *s, int output) { s->output = output; }

void rt_scorer_free(RtScorer *s) {
  if (!s) return;
  for (int t = 0; t < s->nthreads; t++) {
    rt_batch_free(s->wk[t].b);
    free(s->wk[t].ws);
    free(s->wk[t].loss);
    free(s->wk[t].rows);
  }
  free(s->wk);
  free(s);
}

static void *work(void *arg) {
  Worker *w = arg;
  RtScorer *s = w->s;
  const DmcModel *m = s->m;
  const DmcOutput *out = &m->outputs[s->output];
  int64_t n = s->nrows, nb = (n + s->max_batch - 1) / s->max_batch;
  w->loss_sum = 0;
  for (int64_t bi = w->index; bi < nb; bi += s->nthreads) {
    int64_t start = bi * s->max_batch;
    int b = (int)(n - start < s->max_batch ? n - start : s->max_batch);
    RtRng rng;
    rt_rng_seed(&rng, s->seed ^ (uint64_t)(bi + 1) * 0x9e3779b97f4a7c15ULL);
    for (int j = 0; j < b; j++) w->rows[j] = s->rows ? s->rows[start + j] : start + j;
    rt_batch_fill(w->b, s->e, s->d, w->rows, b, &rng);
    DmcCtx ctx = {.batch = b, .training = 0, .seed = s->seed + (uint64_t)bi,
                  .inputs = (const void *const *)w->b->buf, .params = (float *)s->params,
                  .grads = NULL, .workspace = w->ws, .loss = s->losses ? w->loss : NULL,
                  .params_version = s->version};
    rt_infer(m, &ctx, s->output, s->scores + start * out->size);
    for (int j = 0; s->losses && j < b; j++) w->loss_sum += w->loss[j];
  }
  return NULL;
}

int rt_scorer_run(RtScorer *s, const RtData *d, const float *params, uint64_t seed, float *scores,
                  double *loss_sum, RtError *err) {
  return rt_scorer_run_rows(s, d, NULL, d->n, params, seed, scores, loss_sum, err);
}

int rt_scorer_run_rows(RtScorer *s, const RtData *d, const int64_t *rows, int64_t nrows,
                       const float *params, uint64_t seed, float *scores, double *loss_sum,
                       RtError *err) {
  s->d = d;
  s->rows = rows;
  s->nrows = nrows;
  s->params = params;
  s->version = rt_infer_version();
  s->losses = loss_sum != NULL;
  s->scores = scores;
  s->seed = seed;
  pthread_t th[64];
  int started = 0, nt = s->nthreads < 64 ? s->nthreads : 64;
  for (int t = 1; t < nt; t++) {
    if (pthread_create(&th[t], NULL, work, &s->wk[t])) break;
    started = t;
  }
  work(&s->wk[0]);
  for (int t = started + 1; t < nt; t++) work(&s->wk[t]); /* threads that could not start */
  for (int t = 1; t <= started; t++) pthread_join(th[t], NULL);
  if (loss_sum) {
    *loss_sum = 0;
    for (int t = 0; t < nt; t++) *loss_sum += s->wk[t].loss_sum;
  }
  (void)err;
  return 0;
}

void rt_eval_metrics(const DmcModel *m, const RtEncoder *e, const RtData *d, const float *scores,
                     double loss_sum, RtEvalResult *r) {
  memset(r, 0, sizeof *r);
  r->rows = d->n;
  r->loss = d->n ? loss_sum / (double)d->n : NAN;
  r->auc = r->logloss = r->gauc = r->rmse = NAN;
  r->recall.recall = r->recall.recall10 = NAN;
  if (rt_model_retrieves(m) || e->label < 0 || !d->has_label || !d->n) return;
  r->has_label = 1;
  r->binary = d->label_binary;
  int64_t osize = m->outputs[0].size;
  const float *y = d->vals[e->label];
  RtMetrics *mt = rt_metrics_new();
  if (!mt) return;
  int in01 = 1;
  for (int64_t i = 0; i < d->n; i++) {
    float p = scores[i * osize];
    in01 &= p >= 0.0f && p <= 1.0f;
    rt_metrics_add(mt, isnan(p) ? 0.0f : p, y[i], d->group ? d->group[i] : 0);
  }
  if (r->binary) {
    r->auc = rt_metrics_auc(mt);
    r->has_logloss = in01;
    if (in01) r->logloss = rt_metrics_logloss(mt);
    r->has_gauc = d->group != NULL;
    if (d->group) r->gauc = rt_metrics_gauc(mt);
  } else {
    r->rmse = rt_metrics_rmse(mt);
  }
  rt_metrics_free(mt);
}

int rt_eval_recall(const DmcModel *m, const RtEncoder *e, const RtData *d, const float *w,
                   const float *users, int k, int nthreads, RtEvalResult *r, RtError *err) {
  RtRetrieval rv;
  rt_retrieval_of(m, e, w, &rv);
  if (rt_retrieval_recall(&rv, d, users, k, nthreads, &r->recall, err)) return -1;
  r->has_recall = 1;
  return 0;
}
