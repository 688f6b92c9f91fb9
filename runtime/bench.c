/* bench.c -- `PROG bench`: how fast this very program is, on random inputs in
 * the model's own shapes (no data file is needed, and none is read, so the
 * figures are the compiled model's, not the CSV reader's):
 *   - inference latency at batch 1: p50 and p99 over many forward calls;
 *   - inference throughput at batch 1024: rows per second;
 *   - training throughput at the model's batch (or --batch): forward, backward and
 *     an optimizer step (sparse rows included), rows per second.
 * Limits: ids are drawn uniformly from each vocabulary (real data is skewed, so
 * caches behave a little better there); one thread (--threads is not used yet).
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "optim.h"
#include "params.h"
#include "rng.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Random inputs for B rows: ids within each feature's vocabulary (lists three
 * quarters full), weights and floats around 0..1, labels 0/1. */
static void fill_inputs(const DmcModel *m, void **in, int B, RtRng *rng) {
  for (int i = 0; i < m->ninputs; i++) {
    int64_t n = m->inputs[i].size * B;
    const DmcFeature *f = NULL;
    for (int k = 0; k < m->nfeatures; k++)
      if (m->features[k].input == i || m->features[k].weights_input == i) f = &m->features[k];
    if (m->inputs[i].dtype == DMC_I32) {
      int64_t hi = f && f->vocab > 2 ? f->vocab : 3;
      for (int64_t k = 0; k < n; k++) {
        int pad = f && f->len > 1 && k % f->len > 0 && rt_rng_uniform(rng) < 0.25;
        ((int32_t *)in[i])[k] = pad ? 0 : (int32_t)(2 + rt_rng_below(rng, (uint64_t)(hi - 2)));
      }
    } else {
      int label = f && f->kind == DMC_FEAT_LABEL;
      for (int64_t k = 0; k < n; k++)
        ((float *)in[i])[k] = label ? (float)(rt_rng_uniform(rng) < 0.5) : (float)rt_rng_uniform(rng);
    }
  }
}

typedef struct {
  void **inputs;
  float *ws, *loss;
  int max_batch;
} Bufs;

static int bufs_new(const DmcModel *m, int max_batch, Bufs *b) {
  b->max_batch = max_batch;
  b->inputs = calloc((size_t)(m->ninputs ? m->ninputs : 1), sizeof *b->inputs);
  b->ws = calloc((size_t)m->workspace_floats(max_batch) + 1, sizeof(float));
  b->loss = calloc((size_t)max_batch, sizeof(float));
  if (!b->inputs || !b->ws || !b->loss) return -1;
  for (int i = 0; i < m->ninputs; i++)
    if (!(b->inputs[i] = calloc((size_t)(m->inputs[i].size * max_batch) + 1, 4))) return -1;
  return 0;
}

static void bufs_free(const DmcModel *m, Bufs *b) {
  for (int i = 0; b->inputs && i < m->ninputs; i++) free(b->inputs[i]);
  free(b->inputs), free(b->ws), free(b->loss);
}

int rt_cmd_bench(const DmcModel *m, const RtOpts *o) {
  RtError err;
  int train_batch = o->batch > 0 ? o->batch : m->batch;
  int big = 1024, max_batch = train_batch > big ? train_batch : big;
  float *w = malloc(sizeof(float) * (size_t)(m->params_size + 1));
  float *g = calloc((size_t)m->params_size + 1, sizeof(float));
  Bufs b;
  if (!w || !g || bufs_new(m, max_batch, &b)) {
    fprintf(stderr, "%s: out of memory\n", o->prog);
    return 1;
  }
  uint64_t seed = o->seed_set ? o->seed : 1;
  RtRng rng;
  rt_rng_seed(&rng, seed);
  if (rt_params_init(m, w, seed, &err)) {   /* e.g. init from a checkpoint that is not here */
    fprintf(stderr, "%s bench: %s\n(timing with small random weights instead)\n", o->prog, err.msg);
    for (int64_t k = 0; k < m->params_size; k++) w[k] = (float)(0.01 * rt_rng_normal(&rng));
    for (int i = 0; i < m->nparams; i++)   /* running variances stay positive */
      if (m->params[i].is_stat) for (int64_t k = 0; k < m->params[i].size; k++) w[m->params[i].offset + k] = 1;
  }
  DmcCtx ctx = {1, 0, seed, (const void *const *)b.inputs, w, g, b.ws, b.loss};

  /* batch-1 latency: each call timed alone, after a warm-up */
  fill_inputs(m, b.inputs, 1, &rng);
  for (int i = 0; i < 200; i++) m->forward(&ctx);
  int calls = 0, cap = 200000;
  double *lat = malloc(sizeof(double) * (size_t)cap), t0 = now();
  while (calls < cap && (calls < 2000 || now() - t0 < 2.0)) {
    double s = now();
    m->forward(&ctx);
    lat[calls++] = now() - s;
  }
  qsort(lat, (size_t)calls, sizeof *lat, cmp_double);
  double p50 = lat[calls / 2], p99 = lat[(int)(calls * 0.99)];
  free(lat);

  /* batch-1024 inference throughput */
  ctx.batch = big;
  fill_inputs(m, b.inputs, big, &rng);
  m->forward(&ctx);
  int reps = 0;
  t0 = now();
  while (reps < 3 || now() - t0 < 2.0) {
    m->forward(&ctx);
    reps++;
  }
  double infer_rows = (double)reps * big / (now() - t0);

  /* training: forward, backward, optimizer step at the training batch */
  RtOptim *opt = rt_optim_new(m, o->lr, train_batch, &err);
  if (!opt) {
    fprintf(stderr, "%s: %s\n", o->prog, err.msg);
    return 1;
  }
  ctx.batch = train_batch;
  ctx.training = 1;
  int steps = 0;
  t0 = now();
  while (steps < 5 || now() - t0 < 3.0) {
    fill_inputs(m, b.inputs, train_batch, &rng);   /* new ids each step, as real batches have */
    ctx.seed = seed + (uint64_t)steps;
    rt_grads_zero(m, g);
    m->forward(&ctx);
    m->backward(&ctx);
    rt_optim_step(opt, w, g, b.ws, (const void *const *)b.inputs, train_batch);
    steps++;
  }
  double train_rows = (double)steps * train_batch / (now() - t0);
  rt_optim_free(opt);

  if (o->json) {
    json_t *j = json_object();
    json_object_set_new(j, "model", json_string(m->name));
    json_object_set_new(j, "latency_p50_us", json_real(p50 * 1e6));
    json_object_set_new(j, "latency_p99_us", json_real(p99 * 1e6));
    json_object_set_new(j, "latency_calls", json_integer(calls));
    json_object_set_new(j, "infer_batch", json_integer(big));
    json_object_set_new(j, "infer_rows_per_s", json_real(infer_rows));
    json_object_set_new(j, "train_batch", json_integer(train_batch));
    json_object_set_new(j, "train_rows_per_s", json_real(train_rows));
    json_object_set_new(j, "threads", json_integer(1));
    char *s = json_dumps(j, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
    json_decref(j);
  } else {
    printf("model %s, 1 thread, random inputs in the model's shapes\n", m->name);
    printf("  latency, batch 1:        p50 %.1f us, p99 %.1f us (%d calls)\n", p50 * 1e6, p99 * 1e6, calls);
    printf("  inference, batch %d:   %.0f rows/s\n", big, infer_rows);
    printf("  training, batch %d:     %.0f rows/s (forward, backward, optimizer step)\n", train_batch, train_rows);
  }
  bufs_free(m, &b);
  free(w), free(g);
  return 0;
}
