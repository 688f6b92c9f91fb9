// dump_case.c: writes one deterministic test case (inputs and parameters) for
// the PyTorch reference. Linked with one model's generated C (dmc_model) and the
// runtime's checkpoint writer; knows nothing about the model beyond the
// descriptor in runtime/dmc_abi.h. The file it writes is read by
// make_reference.py, which adds the reference outputs, losses and gradients.
//   usage: dump_case OUT.safetensors [BATCH]      (BATCH defaults to 8)
//
// Tensors (all F32, the checkpoint writer's only dtype):
//   input.<input name>   [B, E]   ids are stored as exact float values
//   param.<param name>   the parameter's shape
// Metadata: "batch" (B), "model" (dmc_model.name), "signature" (hex).
//
// Values, from one fixed LCG so that a rerun gives the same bytes:
//   ids      1..vocab-1 (vocab = the feature's vocab or buckets); in a list,
//            step 0 is always an id (never an all-padding list) and later
//            steps are padding (0) with probability ~1/3, so padding also
//            appears between ids; example 0 has a full list, example 1 only
//            its first step
//   floats   uniform in [-1, 1]
//   labels   0 or 1 (example 0 is 1 and example 1 is 0, so both occur)
//   params   uniform in [-0.4, 0.4], every element (table rows 0 included)
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "dmc_abi.h"

static uint32_t state = 20240601u;

static double next_uniform(void) {   // [0, 1)
  state = state * 1664525u + 1013904223u;
  return (state >> 8) / 16777216.0;
}

static const DmcFeature *feature_of_input(const DmcModel *m, int i) {
  for (int f = 0; f < m->nfeatures; f++)
    if (m->features[f].input == i) return &m->features[f];
  return NULL;
}

static void die(const RtError *err) {
  fprintf(stderr, "dump_case: %s\n", err->msg);
  exit(1);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s OUT.safetensors [BATCH]\n", argv[0]);
    return 2;
  }
  const DmcModel *m = &dmc_model;
  int B = argc > 2 ? atoi(argv[2]) : 8;
  if (B < 2) {
    fprintf(stderr, "dump_case: the batch must be at least 2\n");
    return 2;
  }
  RtError err;
  RtCkptWriter *w = rt_ckpt_writer_new();
  if (!w) {
    fprintf(stderr, "dump_case: out of memory\n");
    return 1;
  }
  float **bufs = calloc((size_t)(m->ninputs + 1), sizeof *bufs);
  char name[512];
  for (int i = 0; i < m->ninputs; i++) {
    const DmcInput *in = &m->inputs[i];
    const DmcFeature *f = feature_of_input(m, i);
    if (!f || f->kind == DMC_FEAT_WEIGHTED || f->kind == DMC_FEAT_NEGATIVE || f->next_row) {
      fprintf(stderr, "dump_case: input '%s' is not a plain id, hash, float or label input\n", in->name);
      return 1;
    }
    int64_t E = in->size;
    float *v = bufs[i] = calloc((size_t)(B * E), sizeof(float));
    for (int b = 0; b < B; b++)
      for (int64_t e = 0; e < E; e++) {
        double u = next_uniform();
        float *x = &v[b * E + e];
        if (in->dtype == DMC_I32) {
          *x = (float)(1 + (int64_t)(u * (double)(f->vocab - 1)));
          if (f->len > 0 && e > 0) {
            int pad = b == 0 ? 0 : b == 1 ? 1 : next_uniform() < 1.0 / 3;
            if (pad) *x = 0;
          }
        } else if (f->kind == DMC_FEAT_LABEL) {
          *x = b == 0 ? 1.0f : b == 1 ? 0.0f : (float)(u < 0.5);
        } else {
          *x = (float)(2 * u - 1);
        }
      }
    int64_t shape[2] = {B, E};
    snprintf(name, sizeof name, "input.%s", in->name);
    if (rt_ckpt_add(w, name, v, 2, shape, &err)) die(&err);
  }
  float *params = calloc((size_t)m->params_size, sizeof(float));
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    for (int64_t k = 0; k < p->size; k++) params[p->offset + k] = (float)(0.8 * next_uniform() - 0.4);
    snprintf(name, sizeof name, "param.%s", p->name);
    if (rt_ckpt_add(w, name, params + p->offset, p->rank, p->shape, &err)) die(&err);
  }
  char val[64];
  snprintf(val, sizeof val, "%d", B);
  if (rt_ckpt_set_meta(w, "batch", val, &err) || rt_ckpt_set_meta(w, "model", m->name, &err)) die(&err);
  snprintf(val, sizeof val, "%016" PRIx64, m->signature);
  if (rt_ckpt_set_meta(w, "signature", val, &err)) die(&err);
  if (rt_ckpt_write(w, argv[1], &err)) die(&err);
  rt_ckpt_writer_free(w);
  printf("%s: %s, batch %d, %d inputs, %d parameters (%" PRId64 " floats)\n", argv[1], m->name, B, m->ninputs,
         m->nparams, m->params_size);
  for (int i = 0; i < m->ninputs; i++) free(bufs[i]);
  free(bufs), free(params);
  return 0;
}
