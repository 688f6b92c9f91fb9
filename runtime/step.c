/* step.c -- see step.h. */
#include "step.h"

#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "params.h"

typedef struct {
  float *ws, *g;              /* share 0 writes the caller's g */
  const void **in;            /* the share's input pointers */
} Share;

struct RtStepper {
  const DmcModel *m;
  RtPool *pool;
  int n;
  int cn;   /* threads that combine the dense gradients: 1 when too few for a pool round */
  Share *sh;
  RtGradPart *parts;
  int nparts;
  /* the current run */
  const void *const *inputs;
  int batch;
  uint64_t seed;
  float *w, *g, *loss;
};

void rt_stepper_free(RtStepper *s) {
  if (!s) return;
  for (int t = 0; s->sh && t < s->n; t++) {
    free(s->sh[t].ws);
    if (t) free(s->sh[t].g);
    free(s->sh[t].in);
  }
  free(s->sh);
  free(s->parts);
  rt_pool_free(s->pool);
  free(s);
}

RtStepper *rt_stepper_new(const DmcModel *m, int nthreads, int max_batch, RtError *err) {
  if (nthreads < 1) nthreads = 1;
  if (nthreads > max_batch) nthreads = max_batch > 0 ? max_batch : 1;
  RtStepper *s = calloc(1, sizeof *s);
  if (!s) {
    rt_error(err, "out of memory");
    return NULL;
  }
  s->m = m;
  s->n = nthreads;
  int64_t dense = 0;
  for (int i = 0; i < m->nparams; i++)
    if (!m->params[i].is_table && rt_param_trained(&m->params[i])) dense += m->params[i].size;
  s->cn = dense >= rt_pool_min_work ? nthreads : 1;
  int share = (max_batch + nthreads - 1) / nthreads;
  size_t ws = (size_t)m->workspace_floats(share), np = (size_t)(m->params_size ? m->params_size : 1);
  s->sh = calloc((size_t)nthreads, sizeof *s->sh);
  s->parts = calloc((size_t)nthreads, sizeof *s->parts);
  if (!s->sh || !s->parts) goto oom;
  for (int t = 0; t < nthreads; t++) {
    Share *h = &s->sh[t];
    h->ws = rt_floats_new((int64_t)ws);
    h->in = calloc((size_t)(m->ninputs ? m->ninputs : 1), sizeof *h->in);
    h->g = t ? rt_floats_new((int64_t)np) : NULL;
    if (!h->ws || !h->in || (t && !h->g)) goto oom;
  }
  if (!(s->pool = rt_pool_new(nthreads, err))) {
    rt_stepper_free(s);
    return NULL;
  }
  rt_pool_spin(s->pool, RT_POOL_SPIN_US);   // a step's rounds come microseconds apart
  return s;
oom:
  rt_stepper_free(s);
  rt_error(err, "out of memory for %d training workspaces of %zu floats", nthreads, ws);
  return NULL;
}

int rt_stepper_threads(const RtStepper *s) { return s->n; }

/* Share t's rows: [first, first + rows) */
static void share_rows(int batch, int n, int t, int *first, int *rows) {
  int base = batch / n, extra = batch % n;
  *rows = base + (t < extra);
  *first = t * base + (t < extra ? t : extra);
}

static void run_share(void *arg, int t) {
  RtStepper *s = arg;
  const DmcModel *m = s->m;
  Share *h = &s->sh[t];
  int first, rows;
  share_rows(s->batch, s->n, t, &first, &rows);
  if (!rows) return;
  for (int i = 0; i < m->ninputs; i++)   /* every input is 4-byte elements, [B, size] */
    h->in[i] = (const char *)s->inputs[i] + (size_t)first * (size_t)m->inputs[i].size * 4;
  DmcCtx ctx = {.batch = rows, .training = t ? 2 : 1, .seed = s->seed ^ (uint64_t)t * 0xd6e8feb86659fd93ULL,
                .inputs = h->in, .params = s->w, .grads = h->g, .workspace = h->ws, .loss = s->loss + first};
  m->forward(&ctx);
  m->backward(&ctx);
}

/* Thread t's range of every trained dense parameter: the batch's mean gradient,
 * each nonempty share's mean weighted by its rows, into the first share's block
 * (the caller's g). Each element is one thread's, so the result does not depend
 * on the pool. */
static void combine_range(void *arg, int t) {
  RtStepper *s = arg;
  const DmcModel *m = s->m;
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    if (p->is_table || !rt_param_trained(p)) continue;
    int64_t lo, hi;
    rt_pool_split(p->size, s->cn, t, &lo, &hi);
    rt_grads_sum(s->parts, s->nparts, p->offset + lo, hi - lo, s->g + p->offset + lo);
  }
}

void rt_stepper_run(RtStepper *s, const void *const *inputs, int batch, uint64_t seed, float *w, float *g,
                    float *loss, const RtGradPart **parts, int *nparts) {
  s->inputs = inputs, s->batch = batch, s->seed = seed, s->w = w, s->g = g, s->loss = loss;
  s->sh[0].g = g;
  rt_pool_run(s->pool, run_share, s);
  s->nparts = 0;
  for (int t = 0; t < s->n; t++) {
    int first, rows;
    share_rows(batch, s->n, t, &first, &rows);
    if (!rows) continue;
    s->parts[s->nparts++] =
        (RtGradPart){s->sh[t].ws, s->sh[t].in, rows, (float)rows / (float)batch, s->n > 1 ? s->sh[t].g : NULL};
  }
  *parts = s->parts;
  *nparts = s->nparts;
}

void rt_stepper_combine(RtStepper *s) {
  if (s->nparts < 2 || !s->parts[1].grads) return;
  if (s->cn > 1) rt_pool_run(s->pool, combine_range, s);
  else combine_range(s, 0);
  for (int q = 0; q < s->nparts; q++) s->parts[q].grads = NULL;
}

RtPool *rt_stepper_pool(RtStepper *s) { return s->pool; }
