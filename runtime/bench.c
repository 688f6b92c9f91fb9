/* bench.c -- `PROG bench`: how fast this very program is, on random inputs in
 * the model's own shapes (no data file is needed, and none is read, so the
 * figures are the compiled model's, not the CSV reader's):
 *   - inference latency at batch 1: p50 and p99 over many forward calls, each
 *     on the next row of a 1024-row batch, the --threads N sharing each call's
 *     large GEMMs (share.h);
 *   - inference throughput at batch 1024: rows per second, with --threads N
 *     workers each scoring its share of every batch with its own workspace
 *     (data parallel, as `eval --threads` does);
 *   - training throughput at the model's batch (or --batch): forward, backward
 *     and an optimizer step (sparse rows included), rows per second.
 * Inputs are drawn before the clocks start (4 inference batches and 8
 * training batches, used in turn), so drawing ids is not timed. Ids are
 * uniform over each vocabulary, or Zipf(S) with --zipf S (rank r is id 2 + r,
 * as the vocabulary orders ids by frequency); a list holds between half and
 * all of its items (three quarters on average), padding at its end.
 * Training uses --threads as `train` does (step.h: each thread its share of
 * every batch). The JSON reports the threads each figure used.
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "infer.h"
#include "optim.h"
#include "kprofile.h"
#include "share.h"
#include "step.h"
#include "params.h"
#include "rng.h"
#include "zipf.h"

enum { INFER_BATCH = 1024, INFER_RING = 4, TRAIN_RING = 8, MAX_THREADS = 64 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* How ids are drawn: one Zipf table per input that holds ids (NULL: uniform). */
typedef struct {
  const DmcModel *m;
  RtZipf *z;               /* [ninputs]; z[i].cdf NULL for float inputs or uniform draws */
  double s;
} Sampler;

/* The feature that reads input i, or NULL. */
static const DmcFeature *feature_of(const DmcModel *m, int i) {
  const DmcFeature *f = NULL;
  for (int k = 0; k < m->nfeatures; k++)
    if (m->features[k].input == i || m->features[k].weights_input == i) f = &m->features[k];
  return f;
}

static int64_t id_space(const DmcFeature *f) { return f && f->vocab > 2 ? f->vocab - 2 : 1; }

static int sampler_new(const DmcModel *m, double s, Sampler *sa) {
  sa->m = m;
  sa->s = s;
  sa->z = calloc((size_t)m->ninputs + 1, sizeof *sa->z);
  if (!sa->z) return -1;
  for (int i = 0; s > 0 && i < m->ninputs; i++)
    if (m->inputs[i].dtype == DMC_I32 && rt_zipf_init(&sa->z[i], id_space(feature_of(m, i)), s))
      return -1;
  return 0;
}

static void sampler_free(Sampler *sa) {
  for (int i = 0; sa->z && i < sa->m->ninputs; i++) rt_zipf_free(&sa->z[i]);
  free(sa->z);
}

/* Random inputs for B rows: ids within each feature's vocabulary, lists with
 * trailing padding, weights and floats in [0, 1), labels 0/1. */
static void fill_inputs(const Sampler *sa, void **in, int B, RtRng *rng) {
  const DmcModel *m = sa->m;
  for (int i = 0; i < m->ninputs; i++) {
    int64_t E = m->inputs[i].size;
    const DmcFeature *f = feature_of(m, i);
    int len = f && f->len > 1 && E % f->len == 0 ? f->len : 1;
    if (m->inputs[i].dtype == DMC_I32) {
      int32_t *ids = (int32_t *)in[i];
      int64_t space = id_space(f);
      for (int64_t r = 0; r < B; r++)
        for (int64_t k = 0; k < E; k += len) {
          int n = len == 1 ? 1 : len - len / 2 + (int)rt_rng_below(rng, (uint64_t)(len / 2 + 1));
          for (int j = 0; j < len; j++) {
            int64_t rank = sa->z[i].cdf ? rt_zipf_draw(&sa->z[i], rng)
                                        : (int64_t)rt_rng_below(rng, (uint64_t)space);
            ids[r * E + k + j] = j < n ? (int32_t)(2 + rank) : 0;
          }
        }
    } else {
      int label = f && f->kind == DMC_FEAT_LABEL;
      for (int64_t k = 0; k < E * B; k++)
        ((float *)in[i])[k] = label ? (float)(rt_rng_uniform(rng) < 0.5) : (float)rt_rng_uniform(rng);
    }
  }
}

/* n batches of B rows of inputs: in[b][i] is input i of batch b. */
static void **inputs_new(const DmcModel *m, int n, int B) {
  void **in = calloc((size_t)n * (size_t)(m->ninputs + 1), sizeof *in);
  for (int b = 0; in && b < n; b++)
    for (int i = 0; i < m->ninputs; i++)
      if (!(in[b * (m->ninputs + 1) + i] = calloc((size_t)(m->inputs[i].size * B) + 1, 4))) return in;
  return in;
}

static int inputs_ok(const DmcModel *m, void **in, int n) {
  for (int k = 0; in && k < n * (m->ninputs + 1); k++)
    if (!in[k] && k % (m->ninputs + 1) != m->ninputs) return 0;
  return in != NULL;
}

static void inputs_free(const DmcModel *m, void **in, int n) {
  for (int k = 0; in && k < n * (m->ninputs + 1); k++) free(in[k]);
  free(in);
}

/* Input pointers of rows [row, ...) of batch in (one input set). */
static void rows_at(const DmcModel *m, void *const *in, int64_t row, const void **out) {
  for (int i = 0; i < m->ninputs; i++) out[i] = (const char *)in[i] + 4 * row * m->inputs[i].size;
}

/* One inference worker: its share [row0, row0 + rows) of every ring batch, until told to stop. */
typedef struct {
  const DmcModel *m;
  void **ring;
  float *params, *ws;
  const void **ptrs;
  int64_t row0;
  int rows;
  atomic_int *stop;
  int64_t done;            /* rows scored */
  uint64_t version;        /* the params' (rt_infer_version) */
} Worker;

static void *infer_work(void *arg) {
  Worker *w = arg;
  const DmcModel *m = w->m;
  DmcCtx ctx = {w->rows, 0, 1, w->ptrs, w->params, NULL, w->ws, NULL, w->version};
  for (int b = 0; !atomic_load(w->stop); b = (b + 1) % INFER_RING) {
    rows_at(m, w->ring + b * (m->ninputs + 1), w->row0, w->ptrs);
    rt_infer(m, &ctx, 0, NULL);
    w->done += w->rows;
  }
  return NULL;
}

/* Rows per second of nt workers over the ring for `seconds`; -1 when out of memory. */
static double infer_throughput(const DmcModel *m, void **ring, float *params, int nt, double seconds) {
  uint64_t version = rt_infer_version();   /* params stay as they are */
  Worker wk[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  atomic_int stop = 0;
  int started = 0, ok = 1;
  memset(wk, 0, sizeof wk);
  for (int t = 0; t < nt; t++) {
    int64_t lo = (int64_t)INFER_BATCH * t / nt, hi = (int64_t)INFER_BATCH * (t + 1) / nt;
    Worker *w = &wk[t];
    *w = (Worker){m, ring, params, NULL, NULL, lo, (int)(hi - lo), &stop, 0, version};
    w->ws = rt_floats_new(m->workspace_floats(rt_infer_rows(m, w->rows)));
    w->ptrs = calloc((size_t)m->ninputs + 1, sizeof *w->ptrs);
    ok &= w->ws && w->ptrs;
  }
  if (ok) {   /* a warm-up pass each, then the clock */
    for (int t = 0; t < nt; t++) {
      DmcCtx ctx = {wk[t].rows, 0, 1, wk[t].ptrs, params, NULL, wk[t].ws, NULL, version};
      rows_at(m, ring, wk[t].row0, wk[t].ptrs);
      rt_infer(m, &ctx, 0, NULL);
    }
  }
  double t0 = now(), rows = 0;
  for (; ok && started < nt; started++)
    if (pthread_create(&th[started], NULL, infer_work, &wk[started])) break;
  if (ok && started < nt) ok = 0;
  if (ok) {
    struct timespec d = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
  }
  atomic_store(&stop, 1);
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  double elapsed = now() - t0;
  for (int t = 0; t < nt; t++) {
    rows += (double)wk[t].done;
    free(wk[t].ws), free((void *)wk[t].ptrs);
  }
  return ok ? rows / elapsed : -1;
}

int rt_cmd_bench(const DmcModel *m, const RtOpts *o) {
  RtError err;
  int train_batch = o->batch > 0 ? o->batch : m->batch;
  int nt = o->threads_set ? o->threads : 1;
  double secs = o->seconds > 0 ? o->seconds : 2.0;
  if (nt > MAX_THREADS) nt = MAX_THREADS;
  float *w = rt_floats_new(m->params_size), *g = rt_floats_new(m->params_size);
  int ws_rows = train_batch > INFER_BATCH ? train_batch : INFER_BATCH;
  float *ws = rt_floats_new(m->workspace_floats(ws_rows));
  float *loss = calloc((size_t)ws_rows + 1, sizeof(float));
  const void **ptrs = calloc((size_t)m->ninputs + 1, sizeof *ptrs);
  void **iring = inputs_new(m, INFER_RING, INFER_BATCH), **tring = inputs_new(m, TRAIN_RING, train_batch);
  Sampler sa = {0};
  if (!w || !g || !ws || !loss || !ptrs || !inputs_ok(m, iring, INFER_RING) ||
      !inputs_ok(m, tring, TRAIN_RING) || sampler_new(m, o->zipf_set ? o->zipf : 0, &sa)) {
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
  int stride = m->ninputs + 1;
  for (int b = 0; b < INFER_RING; b++) fill_inputs(&sa, iring + b * stride, INFER_BATCH, &rng);
  for (int b = 0; b < TRAIN_RING; b++) fill_inputs(&sa, tring + b * stride, train_batch, &rng);
  /* the outputs alone, as predict and a server compute them (loss NULL) */
  DmcCtx ctx = {1, 0, seed, ptrs, w, g, ws, NULL, rt_infer_version()};   /* w stays as it is until training */

  /* batch-1 latency: each call timed alone, on the next row, after a warm-up;
   * with --threads N, N threads share each call's large GEMMs (share.h) */
  RtPool *share = NULL;
  if (nt > 1) {
    if (!(share = rt_pool_new(nt, &err))) {
      fprintf(stderr, "%s: %s\n", o->prog, err.msg);
      return 1;
    }
    rt_pool_spin(share, RT_POOL_SPIN_US);
    rt_share_begin(share);
  }
  int calls = 0, cap = 200000, min_calls = (int)(1000 * secs) > 10 ? (int)(1000 * secs) : 10;
  if (min_calls > cap) min_calls = cap;
  for (int i = 0; i < 200 && (i < 10 || i < min_calls); i++) {
    rows_at(m, iring, i % INFER_BATCH, ptrs);
    rt_forward_scoring(m, &ctx);
  }
  double *lat = malloc(sizeof(double) * (size_t)cap), t0 = now();
  if (!lat) {
    fprintf(stderr, "%s: out of memory\n", o->prog);
    return 1;
  }
  while (calls < cap && (calls < min_calls || now() - t0 < secs)) {
    rows_at(m, iring + (calls / INFER_BATCH % INFER_RING) * stride, calls % INFER_BATCH, ptrs);
    double s = now();
    rt_forward_scoring(m, &ctx);
    lat[calls++] = now() - s;
  }
  rt_share_begin(NULL);
  rt_pool_free(share);
  qsort(lat, (size_t)calls, sizeof *lat, cmp_double);
  double p50 = lat[calls / 2], p99 = lat[(int)(calls * 0.99)];
  free(lat);

  /* batch-1024 inference throughput, nt workers */
  double infer_rows = infer_throughput(m, iring, w, nt, secs);
  if (infer_rows < 0) {
    fprintf(stderr, "%s: out of memory (or no thread) for %d inference workers\n", o->prog, nt);
    return 1;
  }

  /* training: forward, backward, optimizer step at the training batch */
  RtOptim *opt = rt_optim_new(m, o->lr, train_batch, &err);
  RtStepper *st = opt ? rt_stepper_new(m, nt, train_batch, &err) : NULL;
  if (!st || rt_optim_use_pool(opt, rt_stepper_pool(st), &err)) {
    fprintf(stderr, "%s: %s\n", o->prog, err.msg);
    rt_stepper_free(st);
    rt_optim_free(opt);
    return 1;
  }
  int steps = 0;
  t0 = now();
  while (steps < 3 || now() - t0 < 1.5 * secs) {
    void *const *in = tring + (steps % TRAIN_RING) * stride;
    rows_at(m, in, 0, ptrs);
    const RtGradPart *parts;
    int nparts;
    rt_stepper_run(st, ptrs, train_batch, seed + (uint64_t)steps, w, g, loss, &parts, &nparts);
    rt_optim_step_parts(opt, w, g, parts, nparts);
    steps++;
  }
  double train_rows = (double)steps * train_batch / (now() - t0);
  int train_threads = rt_stepper_threads(st);
  rt_stepper_free(st);
  rt_optim_free(opt);

  if (o->json) {
    json_t *j = json_object();
    json_object_set_new(j, "model", json_string(m->name));
    json_object_set_new(j, "latency_p50_us", json_real(p50 * 1e6));
    json_object_set_new(j, "latency_p99_us", json_real(p99 * 1e6));
    json_object_set_new(j, "latency_calls", json_integer(calls));
    json_object_set_new(j, "latency_threads", json_integer(nt));
    json_object_set_new(j, "infer_batch", json_integer(INFER_BATCH));
    json_object_set_new(j, "infer_rows_per_s", json_real(infer_rows));
    json_object_set_new(j, "infer_threads", json_integer(nt));
    json_object_set_new(j, "train_batch", json_integer(train_batch));
    json_object_set_new(j, "train_rows_per_s", json_real(train_rows));
    json_object_set_new(j, "train_steps", json_integer(steps));
    json_object_set_new(j, "train_threads", json_integer(train_threads));
    json_object_set_new(j, "threads", json_integer(nt));
    json_object_set_new(j, "zipf", json_real(sa.s));
    json_object_set_new(j, "seconds", json_real(secs));
    char *s = json_dumps(j, JSON_INDENT(2));
    printf("%s\n", s);
    free(s);
    json_decref(j);
  } else {
    printf("model %s, random inputs in the model's shapes, ids %s\n", m->name,
           sa.s > 0 ? "Zipf-distributed" : "uniform");
    printf("  latency, batch 1:        p50 %.1f us, p99 %.1f us (%d calls, %d thread%s)\n", p50 * 1e6, p99 * 1e6, calls, nt, nt > 1 ? "s" : "");
    printf("  inference, batch %d:   %.0f rows/s (%d thread%s)\n", INFER_BATCH, infer_rows, nt, nt > 1 ? "s" : "");
    printf("  training, batch %d:     %.0f rows/s (forward, backward, optimizer step; %d thread%s)\n",
           train_batch, train_rows, train_threads, train_threads > 1 ? "s" : "");
  }
  if (o->profile) {   /* one thread, each phase again with every kernel call timed */
    printf("profile (one thread; kernels by their share of the time in kernels):\n");
    DmcCtx pc = {1, 0, seed, ptrs, w, g, ws, NULL, rt_infer_version()};   /* w as training left it */
    rt_kprofile_begin();
    for (int i = 0; i < 1000; i++) {
      rows_at(m, iring, i % INFER_BATCH, ptrs);
      rt_forward_scoring(m, &pc);
    }
    rt_kprofile_end(stdout, "batch 1, 1000 forward calls", 12);
    pc.batch = INFER_BATCH;
    rt_kprofile_begin();
    for (int i = 0; i < 4; i++) {
      rows_at(m, iring + (i % INFER_RING) * stride, 0, ptrs);
      rt_infer(m, &pc, 0, NULL);
    }
    rt_kprofile_end(stdout, "batch 1024, 4 batches (in the forward calls predict makes)", 12);
    RtOptim *popt = rt_optim_new(m, o->lr, train_batch, &err);
    RtStepper *pst = popt ? rt_stepper_new(m, 1, train_batch, &err) : NULL;
    if (!pst) {
      fprintf(stderr, "%s: %s\n", o->prog, err.msg);
      rt_optim_free(popt);
      return 1;
    }
    rt_kprofile_begin();
    double in_optim = 0, t0 = now();
    for (int i = 0; i < 8; i++) {
      rows_at(m, tring + (i % TRAIN_RING) * stride, 0, ptrs);
      const RtGradPart *parts;
      int nparts;
      rt_stepper_run(pst, ptrs, train_batch, seed + (uint64_t)i, w, g, loss, &parts, &nparts);
      double u0 = now();
      rt_optim_step_parts(popt, w, g, parts, nparts);
      in_optim += now() - u0;
    }
    double all = now() - t0;
    rt_kprofile_end(stdout, "training, 8 steps (forward and backward)", 16);
    /* the optimizer runs no kernel: its own line, so the kernels' times are not taken for the whole step */
    printf("  optimizer steps (dense and table rows' updates): %.3f ms a step, %.1f%% of the 8 steps' %.3f s\n",
           in_optim / 8 * 1e3, all > 0 ? 100 * in_optim / all : 0.0, all);
    rt_stepper_free(pst);
    rt_optim_free(popt);
  }
  sampler_free(&sa);
  inputs_free(m, iring, INFER_RING), inputs_free(m, tring, TRAIN_RING);
  free(w), free(g), free(ws), free(loss), free((void *)ptrs);
  return 0;
}
