// check_reference.c: the generated C of one model against reference tensors from
// an independent PyTorch implementation (make_reference.py), in the spirit of
// llm.c's test_gpt2.c, but a mismatch is a failure (exit 1).
// Linked with one model's generated C (dmc_model), runtime/kernels.c and the
// checkpoint reader. Loads REF.safetensors, feeds its inputs and parameters to
// forward and backward, and compares
//   ref.output.<name>   every output              [B, size]
//   ref.loss            the per-example loss      [B]
//   ref.grad.<param>    every dense gradient, and every table's gradient: the row
//                       gradients backward leaves for each lookup are added into a
//                       dense [rows, dim] gradient at the looked-up ids
//   usage: check_reference REF.safetensors [TOLERANCE]    (default 1e-4)
//
// The measure is |dmc - ref| / max(|ref|, 1e-3): relative for values of 1e-3 and
// more, absolute (1e-7 at the default tolerance) below. The reference is computed
// in float64 and rounded once to float32 (relative error 6e-8); dmc computes in
// float32, so a correct kernel is off by a few float32 ulps (1e-7..1e-6 relative)
// of the values it combined. A value much smaller than its terms (a gradient
// that is a sum over the batch of terms of both signs, a table row that is hit
// by a few lookups that nearly cancel) carries that error relative to the terms,
// not to itself: a purely relative test would fail correct code there, and a
// purely absolute one would not see a wrong small gradient. The floor 1e-3 is
// below the typical magnitude of the outputs, losses and gradients here (1e-3 to
// 1) yet well above the float32 noise of such cancellations (~1e-7 absolute), and
// 1e-4 is ~100x the float32 noise of a correct computation and far below any
// semantic mistake (a wrong mask, mean vs sum, a missing term), which moves
// values by 1e-2 relative or more.
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "dmc_abi.h"

#define FLOOR 1e-3

static double tol = 1e-4;
static double worst;
static char worst_what[600];
static int nbad, nchecked;

static void die(const RtError *err) {
  fprintf(stderr, "check_reference: %s\n", err->msg);
  exit(2);
}

// Compares n values; prints the tensor's worst difference, and up to 3 elements
// beyond the tolerance.
static void compare(const char *what, const float *got, const float *want, int64_t n) {
  double tw = 0;
  int64_t at = 0, shown = 0, bad = 0;
  for (int64_t i = 0; i < n; i++) {
    double err = fabs((double)got[i] - (double)want[i]) / fmax(FLOOR, fabs((double)want[i]));
    if (!(err <= tol)) {   // NaN counts as a mismatch
      bad++;
      if (shown++ < 3)
        fprintf(stderr, "  MISMATCH %s[%" PRId64 "]: dmc %.9g, reference %.9g (difference %.3g)\n", what, i,
                got[i], want[i], err);
      if (isnan(err)) err = INFINITY;
    }
    if (err > tw) tw = err, at = i;
  }
  nchecked++;
  if (bad) nbad++;
  printf("  %-44s %6" PRId64 " values  worst %.2e%s\n", what, n, tw, bad ? "  FAIL" : "");
  if (tw > worst || !worst_what[0]) {
    worst = tw;
    snprintf(worst_what, sizeof worst_what, "%s[%" PRId64 "]", what, at);
  }
}

static const DmcFeature *feature_of_input(const DmcModel *m, int i) {
  for (int f = 0; f < m->nfeatures; f++)
    if (m->features[f].input == i) return &m->features[f];
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s REF.safetensors [TOLERANCE]\n", argv[0]);
    return 2;
  }
  if (argc > 2) tol = atof(argv[2]);
  const DmcModel *m = &dmc_model;
  RtError err;
  RtCkpt *c = rt_ckpt_open(argv[1], &err);
  if (!c) die(&err);
  const char *bs = rt_ckpt_meta(c, "batch"), *mname = rt_ckpt_meta(c, "model");
  if (!bs || atoi(bs) < 1) {
    fprintf(stderr, "check_reference: %s: no batch size in the metadata\n", argv[1]);
    return 2;
  }
  if (!mname || strcmp(mname, m->name)) {
    fprintf(stderr, "check_reference: %s is a reference for model '%s', this is '%s'\n", argv[1],
            mname ? mname : "?", m->name);
    return 2;
  }
  int B = atoi(bs);
  char sig[32];
  snprintf(sig, sizeof sig, "%016" PRIx64, m->signature);
  const char *rsig = rt_ckpt_meta(c, "signature");
  if (rsig && strcmp(rsig, sig))   // names and shapes are checked one by one below
    printf("  note: model signature %s, the reference was made for %s\n", sig, rsig);

  char name[600];
  // inputs: ids were stored as exact float values
  void **inputs = calloc((size_t)m->ninputs, sizeof(void *));
  for (int i = 0; i < m->ninputs; i++) {
    const DmcInput *in = &m->inputs[i];
    int64_t shape[2] = {B, in->size}, n = B * in->size;
    float *v = calloc((size_t)n, sizeof(float));
    snprintf(name, sizeof name, "input.%s", in->name);
    if (rt_ckpt_read(c, name, v, 2, shape, &err)) die(&err);
    if (in->dtype == DMC_I32) {
      const DmcFeature *f = feature_of_input(m, i);
      int32_t *ids = calloc((size_t)n, sizeof(int32_t));
      for (int64_t k = 0; k < n; k++) {
        ids[k] = (int32_t)v[k];
        if ((float)ids[k] != v[k] || ids[k] < 0 || (f && ids[k] >= f->vocab)) {
          fprintf(stderr, "check_reference: %s[%" PRId64 "] = %g is not an id of 0..%" PRId64 "\n", name, k,
                  v[k], f ? f->vocab - 1 : 0);
          return 2;
        }
      }
      free(v);
      inputs[i] = ids;
    } else {
      inputs[i] = v;
    }
  }
  float *params = calloc((size_t)m->params_size, sizeof(float));
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    snprintf(name, sizeof name, "param.%s", p->name);
    if (rt_ckpt_read(c, name, params + p->offset, p->rank, p->shape, &err)) die(&err);
  }

  float *grads = calloc((size_t)m->params_size, sizeof(float));
  float *ws = calloc((size_t)m->workspace_floats(B), sizeof(float));
  float *loss = calloc((size_t)B, sizeof(float));
  DmcCtx ctx = {B, 1, 7, (const void *const *)inputs, params, grads, ws, loss};
  m->forward(&ctx);
  m->backward(&ctx);

  printf("%s (%s, batch %d):\n", argv[1], m->name, B);
  for (int i = 0; i < m->noutputs; i++) {
    const DmcOutput *o = &m->outputs[i];
    int64_t shape[2] = {B, o->size};
    float *want = calloc((size_t)(B * o->size), sizeof(float));
    snprintf(name, sizeof name, "ref.output.%s", o->name);
    if (rt_ckpt_read(c, name, want, 2, shape, &err)) die(&err);
    snprintf(name, sizeof name, "output %s", o->name);
    compare(name, dmc_ws_at(&ctx, o->fixed, o->per_row), want, B * o->size);
    free(want);
  }
  {
    int64_t shape[1] = {B};
    float *want = calloc((size_t)B, sizeof(float));
    if (rt_ckpt_read(c, "ref.loss", want, 1, shape, &err)) die(&err);
    compare("loss (per example)", loss, want, B);
    free(want);
  }
  // tables: backward leaves [B, ids_per_example, dim] row gradients per lookup
  float *tgrad = calloc((size_t)m->params_size, sizeof(float));
  for (int s = 0; s < m->nsparse; s++) {
    const DmcSparseGrad *sg = &m->sparse[s];
    const DmcParam *p = &m->params[sg->param];
    const int32_t *ids = inputs[sg->ids_input];
    float *row = malloc(sizeof(float) * (size_t)sg->dim);
    if (m->inputs[sg->ids_input].dtype != DMC_I32 || m->inputs[sg->ids_input].size != sg->ids_per_example ||
        p->shape[1] != sg->dim) {
      fprintf(stderr, "check_reference: lookup %d of table %s does not match its ids input\n", s, p->name);
      return 2;
    }
    for (int64_t k = 0; row && k < B * sg->ids_per_example; k++) {
      const float *r = dmc_sparse_row(&ctx, sg, k, row);
      for (int64_t d = 0; d < sg->dim; d++) tgrad[p->offset + ids[k] * sg->dim + d] += r[d];
    }
    free(row);
  }
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    if (p->is_stat) continue;   // running statistics: no gradient, not trained
    float *want = calloc((size_t)p->size, sizeof(float));
    snprintf(name, sizeof name, "ref.grad.%s", p->name);
    if (rt_ckpt_read(c, name, want, p->rank, p->shape, &err)) die(&err);
    snprintf(name, sizeof name, "%s %s", p->is_table ? "table grad" : "grad", p->name);
    compare(name, p->is_table ? tgrad + p->offset : grads + p->offset, want, p->size);
    free(want);
  }
  printf("%s: %d tensors, %d mismatched; worst relative difference %.2e (%s), tolerance %.0e\n", m->name,
         nchecked, nbad, worst, worst_what, tol);
  rt_ckpt_close(c);
  for (int i = 0; i < m->ninputs; i++) free(inputs[i]);
  free(inputs), free(params), free(grads), free(tgrad), free(ws), free(loss);
  return nbad ? 1 : 0;
}
