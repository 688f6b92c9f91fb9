/* params.c -- initialisers, lagged copies and scans of the parameter block (see params.h). */
#define _DEFAULT_SOURCE   // madvise
#include "params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "checkpoint.h"
#include "model.h"
#include "rng.h"

static int init_from_checkpoint(const DmcParam *p, float *dst, RtError *err) {
  const char *file = rt_rec_str(&p->init, "file", 0), *tensor = rt_rec_str(&p->init, "tensor", 1);
  if (!file) return rt_error(err, "param %s: init checkpoint() needs a file name", p->name);
  if (!tensor) tensor = p->name;
  RtError e;
  RtCkpt *c = rt_ckpt_open(file, &e);
  if (!c) return rt_error(err, "param %s: init checkpoint(\"%s\", \"%s\"): %s", p->name, file, tensor, e.msg);
  int r = rt_ckpt_read(c, tensor, dst, p->rank, p->shape, &e);
  rt_ckpt_close(c);
  if (r) return rt_error(err, "param %s: init checkpoint(\"%s\", \"%s\"): %s", p->name, file, tensor, e.msg);
  return 0;
}

static int init_one(const DmcParam *p, float *w, uint64_t seed, RtError *err) {
  static const char *const none[] = {NULL}, *const cval[] = {"value", NULL};
  static const char *const nrm[] = {"std", "mean", NULL}, *const uni[] = {"a", NULL};
  static const char *const ck[] = {"file", "tensor", NULL};
  RtRng rng;
  rt_rng_seed(&rng, rt_rng_derive(seed, p->name));
  const char *name = p->init.name;
  char what[200];
  snprintf(what, sizeof what, "param %s", p->name);
  if (!name) name = p->is_table ? "normal" : p->rank >= 2 ? "xavier" : "zeros";
  const DmcRecord *r = &p->init;
  if (!strcmp(name, "zeros") || !strcmp(name, "ones")) {
    if (rt_rec_check_keys(r, none, what, err)) return -1;
    float v = name[0] == 'o';
    for (int64_t i = 0; i < p->size; i++) w[i] = v;
  } else if (!strcmp(name, "const")) {
    if (rt_rec_check_keys(r, cval, what, err)) return -1;
    float v = (float)rt_rec_num(r, "value", 0, 0.0);
    for (int64_t i = 0; i < p->size; i++) w[i] = v;
  } else if (!strcmp(name, "normal")) {
    if (rt_rec_check_keys(r, nrm, what, err)) return -1;
    double sd = rt_rec_num(r, "std", 0, 0.01), mean = rt_rec_num(r, "mean", 1, 0.0);
    for (int64_t i = 0; i < p->size; i++) w[i] = (float)(mean + sd * rt_rng_normal(&rng));
  } else if (!strcmp(name, "uniform")) {
    if (rt_rec_check_keys(r, uni, what, err)) return -1;
    double a = rt_rec_num(r, "a", 0, 0.05);
    for (int64_t i = 0; i < p->size; i++) w[i] = (float)(a * (2 * rt_rng_uniform(&rng) - 1));
  } else if (!strcmp(name, "xavier")) {
    if (rt_rec_check_keys(r, none, what, err)) return -1;
    double fin = p->rank >= 2 ? (double)p->shape[p->rank - 2] : p->rank == 1 ? (double)p->shape[0] : 1;
    double fout = p->rank >= 1 ? (double)p->shape[p->rank - 1] : 1;
    double a = sqrt(6.0 / (fin + fout));
    for (int64_t i = 0; i < p->size; i++) w[i] = (float)(a * (2 * rt_rng_uniform(&rng) - 1));
  } else if (!strcmp(name, "checkpoint")) {
    if (rt_rec_check_keys(r, ck, what, err)) return -1;
    return init_from_checkpoint(p, w, err);
  } else {
    return rt_error(err, "param %s: unknown initialiser '%s' (zeros, ones, const, normal, "
                    "uniform, xavier, checkpoint)", p->name, name);
  }
  return 0;
}

void *rt_big_alloc(size_t bytes) {
  if (bytes < RT_HUGE_MIN) return aligned_alloc(64, (bytes ? bytes + 63 : 64) / 64 * 64);   // a multiple of 64
  bytes = (bytes + RT_HUGE_PAGE - 1) / RT_HUGE_PAGE * RT_HUGE_PAGE;
  void *p = aligned_alloc(RT_HUGE_PAGE, bytes);
#ifdef MADV_HUGEPAGE
  if (p) madvise(p, bytes, MADV_HUGEPAGE);   // advice only: without huge pages it works as before
#endif
  return p;
}

float *rt_floats_new(int64_t n) {
  size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(float);
  float *p = rt_big_alloc(bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

int rt_params_init(const DmcModel *m, float *w, uint64_t seed, RtError *err) {
  for (int i = 0; i < m->nparams; i++)
    if (m->params[i].lag_of < 0 && init_one(&m->params[i], w + m->params[i].offset, seed, err))
      return -1;
  rt_params_lag(m, w, 0);
  return 0;
}

void rt_params_lag(const DmcModel *m, float *w, int64_t step) {
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    if (p->lag_of < 0 || step % p->lag_every) continue;
    memcpy(w + p->offset, w + m->params[p->lag_of].offset, (size_t)p->size * sizeof *w);
  }
}

double rt_grads_clip(const DmcModel *m, float *g, double max_norm) {
  double ss = 0;
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    if (p->is_table || !rt_param_trained(p)) continue;
    for (int64_t k = 0; k < p->size; k++) ss += (double)g[p->offset + k] * g[p->offset + k];
  }
  double norm = sqrt(ss);
  if (!(max_norm > 0) || !(norm > max_norm)) return norm; /* a NaN norm: left to the loss check */
  float scale = (float)(max_norm / norm);
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    if (p->is_table || !rt_param_trained(p)) continue;
    for (int64_t k = 0; k < p->size; k++) g[p->offset + k] *= scale;
  }
  return norm;
}

int rt_params_nonfinite(const DmcModel *m, const float *w, int64_t *elem) {
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    for (int64_t k = 0; k < p->size; k++)
      if (!isfinite(w[p->offset + k])) {
        *elem = k;
        return i;
      }
  }
  return -1;
}
