/* optim.c -- the update rules and the lazy sparse row updates (see optim.h).
 *
 * Sparse step, per table: walk every (example, lookup) of every sparse
 * gradient of the table; slot[row] maps a row to its place in touched/acc
 * (so duplicates are summed with no search and no hashing); then update
 * each touched row once and reset its slot. O(lookups * dim) per step.
 *
 * On a pool (rt_optim_use_pool) every thread runs the whole step over its
 * own part: a contiguous range of each dense parameter (rt_pool_split), and
 * the table rows of the 16-row blocks it owns (block % threads). It walks
 * every lookup but sums only its own rows, in the serial order, into its own
 * touched/acc; slot, rowstep, the rows and their state are written only by
 * the row's owner. So no element has two writers, and the update is the
 * serial one bit for bit, whatever the number of threads.
 */
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "params.h"

int rt_opt_parse(const DmcRecord *r, double lr_override, const char *what, RtOptCfg *c,
                 RtError *err) {
  static const char *const k_sgd[] = {"lr", "momentum", NULL};
  static const char *const k_adagrad[] = {"lr", "eps", "initial", NULL};
  static const char *const k_adam[] = {"lr", "beta1", "beta2", "eps", NULL};
  static const char *const k_ftrl[] = {"alpha", "lr", "beta", "l1", "l2", NULL};
  const char *name = r->name ? r->name : "adam";
  memset(c, 0, sizeof *c);
  if (!strcmp(name, "sgd")) {
    c->kind = RT_OPT_SGD;
    c->lr = rt_rec_num(r, "lr", 0, 0.01);
    c->momentum = rt_rec_num(r, "momentum", 1, 0.0);
    if (rt_rec_check_keys(r, k_sgd, what, err)) return -1;
  } else if (!strcmp(name, "adagrad")) {
    c->kind = RT_OPT_ADAGRAD;
    c->lr = rt_rec_num(r, "lr", 0, 0.01);
    c->eps = rt_rec_num(r, "eps", 1, 1e-10);
    c->initial = rt_rec_num(r, "initial", 2, 0.1);
    if (rt_rec_check_keys(r, k_adagrad, what, err)) return -1;
  } else if (!strcmp(name, "adam")) {
    c->kind = RT_OPT_ADAM;
    c->lr = rt_rec_num(r, "lr", 0, 0.001);
    c->beta1 = rt_rec_num(r, "beta1", 1, 0.9);
    c->beta2 = rt_rec_num(r, "beta2", 2, 0.999);
    c->eps = rt_rec_num(r, "eps", 3, 1e-8);
    if (rt_rec_check_keys(r, k_adam, what, err)) return -1;
  } else if (!strcmp(name, "ftrl")) {
    c->kind = RT_OPT_FTRL;
    c->lr = rt_rec_num(r, "alpha", 0, rt_rec_num(r, "lr", -1, 0.05));
    c->beta = rt_rec_num(r, "beta", 1, 1.0);
    c->l1 = rt_rec_num(r, "l1", 2, 0.0);
    c->l2 = rt_rec_num(r, "l2", 3, 0.0);
    if (rt_rec_check_keys(r, k_ftrl, what, err)) return -1;
  } else {
    return rt_error(err, "%s: unknown optimizer '%s' (sgd, adagrad, adam, ftrl)", what, name);
  }
  if (lr_override > 0) c->lr = lr_override;
  if (!(c->lr > 0) || c->beta1 < 0 || c->beta1 >= 1 || c->beta2 < 0 || c->beta2 >= 1 ||
      c->eps < 0 || c->momentum < 0 || c->initial < 0 || c->l1 < 0 || c->l2 < 0 || c->beta < 0)
    return rt_error(err, "%s: %s() has an option out of range (lr > 0, betas in [0, 1), the rest >= 0)",
                    what, name);
  return 0;
}

int rt_opt_nstate(const RtOptCfg *c) {
  switch (c->kind) {
  case RT_OPT_SGD: return c->momentum > 0;
  case RT_OPT_ADAGRAD: return 1;
  case RT_OPT_ADAM:
  case RT_OPT_FTRL: return 2;
  }
  return 0;
}

float rt_opt_state_init(const RtOptCfg *c) { return c->kind == RT_OPT_ADAGRAD ? (float)c->initial : 0.0f; }

/* A copy per vector width of the dense loops, the widest the CPU has picked when the
 * program starts (the archive serves portable programs too, so it cannot be built for
 * this CPU): a dense Adam step over 0.5M floats was 0.47 ms of criteo_dcn's 5 ms
 * training step in SSE, its sqrt and division 4 lanes at a time. Each lane rounds as
 * the scalar loop does (no contraction: -std=c11 with GCC, the pragma with Clang), so
 * every copy gives the same bits. Static, behind the public functions: Clang names a
 * cloned function's entry NAME.ifunc, which other files' calls would not find. */
#ifdef __clang__
#pragma clang fp contract(off)
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#define RT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RT_CLONES
#endif

RT_CLONES static void update_loops(const RtOptCfg *c, float *w, const float *g, float *s0, float *s1, int64_t n,
                                   int64_t t, float l2) {
  float lr = (float)c->lr;
  switch (c->kind) {
  case RT_OPT_SGD:
    for (int64_t i = 0; i < n; i++) {
      float gi = g[i] + l2 * w[i];
      if (s0) gi = s0[i] = (float)c->momentum * s0[i] + gi;
      w[i] -= lr * gi;
    }
    break;
  case RT_OPT_ADAGRAD:
    for (int64_t i = 0; i < n; i++) {
      float gi = g[i] + l2 * w[i];
      s0[i] += gi * gi;
      w[i] -= lr * gi / (sqrtf(s0[i]) + (float)c->eps);
    }
    break;
  case RT_OPT_ADAM: {
    float b1 = (float)c->beta1, b2 = (float)c->beta2, bc1, bc2;
    int64_t k = c->bc_one && t > c->bc_one ? c->bc_one : t;   // from bc_one on, the pair 1.0f, 1.0f
    if (c->bc && k >= 1 && k <= RT_ADAM_MEMO) bc1 = c->bc[2 * (k - 1)], bc2 = c->bc[2 * (k - 1) + 1];
    else bc1 = (float)(1 - pow(c->beta1, (double)t)), bc2 = (float)(1 - pow(c->beta2, (double)t));
    float step = lr / bc1, rb2 = 1.0f / bc2, eps = (float)c->eps;
    for (int64_t i = 0; i < n; i++) {
      float gi = g[i] + l2 * w[i];
      s0[i] = b1 * s0[i] + (1 - b1) * gi;
      s1[i] = b2 * s1[i] + (1 - b2) * gi * gi;
      w[i] -= step * s0[i] / (sqrtf(s1[i] * rb2) + eps);
    }
    break;
  }
  case RT_OPT_FTRL: {
    float ra = 1.0f / lr, beta = (float)c->beta, l1 = (float)c->l1, fl2 = (float)c->l2;
    for (int64_t i = 0; i < n; i++) {
      float gi = g[i] + l2 * w[i];
      float nn = s1[i] + gi * gi, sigma = (sqrtf(nn) - sqrtf(s1[i])) * ra;
      float z = s0[i] += gi - sigma * w[i];
      s1[i] = nn;
      w[i] = fabsf(z) <= l1 ? 0.0f : -(z - copysignf(l1, z)) / ((beta + sqrtf(nn)) * ra + fl2);
    }
    break;
  }
  }
}

void rt_opt_update(const RtOptCfg *c, float *w, const float *g, float *s0, float *s1, int64_t n, int64_t t,
                   float l2) {
  update_loops(c, w, g, s0, s1, n, t, l2);
}

void rt_opt_adam_memo(RtOptCfg *c, float *bc) {
  c->bc_one = 0;
  for (int64_t t = 1; t <= RT_ADAM_MEMO && !c->bc_one; t++) {
    bc[2 * (t - 1)] = (float)(1 - pow(c->beta1, (double)t));
    bc[2 * (t - 1) + 1] = (float)(1 - pow(c->beta2, (double)t));
    // the powers fall with t: once both pairs round to 1.0f, every later one does
    if (bc[2 * (t - 1)] == 1.0f && bc[2 * (t - 1) + 1] == 1.0f) c->bc_one = t;
  }
  c->bc = bc;
}

/* The record that configures parameter p, and whether --lr applies to it. */
static const DmcRecord *choose(const DmcModel *m, const DmcParam *p, int *model_level) {
  *model_level = 0;
  if (p->optimizer.name) return &p->optimizer;
  *model_level = 1;
  if (p->is_table && m->sparse_optimizer.name) return &m->sparse_optimizer;
  return &m->optimizer;
}

RtOptim *rt_optim_new(const DmcModel *m, double lr_override, int max_batch, RtError *err) {
  RtOptim *o = calloc(1, sizeof *o);
  size_t np = (size_t)m->nparams + 1;
  if (!o || !(o->cfg = calloc(np, sizeof *o->cfg)) || !(o->soff = calloc(np, sizeof *o->soff)) ||
      !(o->roff = calloc(np, sizeof *o->roff)))
    goto oom;
  o->m = m;
  o->lr_mult = 1.0;
  o->nthreads = 1;
  int64_t nstate = 0, nrows = 0, max_touched = 0, max_dim = 1;
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    char what[200];
    int model_level;
    snprintf(what, sizeof what, "optimizer of %s %s", p->is_table ? "table" : "param", p->name);
    const DmcRecord *r = choose(m, p, &model_level);
    if (rt_opt_parse(r, model_level ? lr_override : 0, what, &o->cfg[i], err)) goto fail;
    o->soff[i] = nstate;
    o->roff[i] = -1;
    if (!rt_param_trained(p)) continue;
    nstate += (int64_t)rt_opt_nstate(&o->cfg[i]) * p->size;
    if (!p->is_table) {
      o->work += p->size;
      continue;
    }
    o->roff[i] = nrows;
    nrows += p->shape[0];
    int64_t lookups = 0;
    for (int s = 0; s < m->nsparse; s++)
      if (m->sparse[s].param == i) lookups += (int64_t)max_batch * m->sparse[s].ids_per_example;
    if (lookups > p->shape[0]) lookups = p->shape[0];
    if (lookups > max_touched) max_touched = lookups;
    o->work += lookups * p->shape[1];
    if (p->shape[1] > max_dim) max_dim = p->shape[1];
  }
  o->max_touched = max_touched ? max_touched : 1;
  o->max_dim = max_dim;
  /* one memo of bias corrections per distinct (beta1, beta2) of a trained Adam parameter */
  int nmemo = 0;
  for (int i = 0; i < m->nparams; i++)
    nmemo += rt_param_trained(&m->params[i]) && o->cfg[i].kind == RT_OPT_ADAM;
  if (nmemo && !(o->bc = malloc((size_t)nmemo * 2 * RT_ADAM_MEMO * sizeof *o->bc))) goto oom;
  nmemo = 0;
  for (int i = 0; i < m->nparams; i++) {
    RtOptCfg *c = &o->cfg[i];
    if (!rt_param_trained(&m->params[i]) || c->kind != RT_OPT_ADAM) continue;
    for (int j = 0; j < i && !c->bc; j++)
      if (o->cfg[j].bc && o->cfg[j].beta1 == c->beta1 && o->cfg[j].beta2 == c->beta2)
        c->bc = o->cfg[j].bc, c->bc_one = o->cfg[j].bc_one;
    if (!c->bc) rt_opt_adam_memo(c, o->bc + (size_t)nmemo++ * 2 * RT_ADAM_MEMO);
  }
  /* in huge pages when large (params.h): the rows' state is touched at random */
  if (!(o->state = rt_big_alloc((size_t)(nstate ? nstate : 1) * sizeof *o->state)) ||
      !(o->rowstep = rt_big_alloc((size_t)(nrows ? nrows : 1) * sizeof *o->rowstep)) ||
      !(o->slot = rt_big_alloc((size_t)(nrows ? nrows : 1) * sizeof *o->slot)) ||
      !(o->touched = malloc((size_t)o->max_touched * sizeof *o->touched)) ||
      !(o->acc = malloc((size_t)o->max_touched * (size_t)max_dim * sizeof *o->acc)))
    goto oom;
  /* zeroed by writing now, not calloc's zero pages: each page's first write during
   * training would fault (criteo_deepfm: 1.4% of a training step's samples in
   * clear_page). The empty asm keeps GCC from folding malloc + memset into calloc. */
  __asm__ volatile("" : : "r"(o->rowstep) : "memory");
  memset(o->rowstep, 0, (size_t)(nrows ? nrows : 1) * sizeof *o->rowstep);
  for (int64_t i = 0; i < nrows; i++) o->slot[i] = -1;
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    if (!rt_param_trained(p)) continue;
    float v = rt_opt_state_init(&o->cfg[i]);
    int64_t n = (int64_t)rt_opt_nstate(&o->cfg[i]) * p->size;
    for (int64_t k = 0; k < n; k++) o->state[o->soff[i] + k] = v;
  }
  return o;
oom:
  rt_error(err, "out of memory for the optimizer state");
fail:
  rt_optim_free(o);
  return NULL;
}

int rt_optim_use_pool(RtOptim *o, RtPool *pool, RtError *err) {
  if (o->work < rt_pool_min_work) return 0;   // a step this small runs faster on the caller alone
  size_t n = (size_t)rt_pool_size(pool), rows = n * (size_t)o->max_touched;
  int64_t *touched = malloc(rows * sizeof *touched);
  float *acc = malloc(rows * (size_t)o->max_dim * sizeof *acc);
  if (!touched || !acc) {
    free(touched);
    free(acc);
    return rt_error(err, "out of memory for the optimizer's scratch on %zu threads", n);
  }
  free(o->touched);
  free(o->acc);
  o->touched = touched, o->acc = acc, o->pool = pool, o->nthreads = (int)n;
  return 0;
}

void rt_optim_free(RtOptim *o) {
  if (!o) return;
  free(o->cfg);
  free(o->soff);
  free(o->roff);
  free(o->state);
  free(o->rowstep);
  free(o->slot);
  free(o->touched);
  free(o->acc);
  free(o->bc);
  free(o);
}

/* Parameter i's state slots from element at. */
static void state_slots(RtOptim *o, int i, int64_t at, float **s0, float **s1) {
  int ns = rt_opt_nstate(&o->cfg[i]);
  int64_t size = o->m->params[i].size;
  *s0 = ns >= 1 ? o->state + o->soff[i] + at : NULL;
  *s1 = ns >= 2 ? o->state + o->soff[i] + size + at : NULL;
}

/* Rows ahead of the one updated whose memory a sparse step requests, and
 * lookups ahead of the one summed whose slot it requests. */
#define RT_PREFETCH 8
#define RT_PREFETCH_SLOT 16

/* Where a table's lookups are summed: the rows' sums (acc, a row per
 * slot), the slot of each table row (-1: none yet), the rows touched in slot order. */
typedef struct {
  float *acc;
  int32_t *slot;
  int64_t *touched, nt;
  int64_t rows, dim;
  uint32_t owners, me;   /* thread me sums the rows r with (r >> 4) % owners == me */
} RowSums;

/* The n = batch * per lookups of ids into their rows' sums: row gradient j is
 * scale * (g[j] * vec[j / per]) when factored (DmcSparseGrad: rounded as backward's
 * product), else scale * g[j * dim ..]. A copy per vector width, as update_loops,
 * the row's loop inlined: in SSE, and through a call a row, a sampled softmax's
 * 256k rows of 64 a batch (youtube_dnn) took most of the training step. */
RT_CLONES static void sum_lookups(RowSums *rs, const int32_t *ids, const float *g, const float *vec, float scale,
                                  int64_t batch, int64_t per) {
  int64_t rows = rs->rows, dim = rs->dim, n = batch * per;
  uint32_t owners = rs->owners, me = rs->me;   /* 32-bit: a 64-bit division a lookup cost more */
  int32_t *slot = rs->slot;
  for (int64_t e = 0, j = 0; e < batch; e++)
    for (int64_t s = 0; s < per; s++, j++) {
      int32_t id = ids[j];
      if (j + RT_PREFETCH_SLOT < n) {   /* the slot of an id ahead: a miss in a map of every row */
        int32_t ahead = ids[j + RT_PREFETCH_SLOT];
        if (ahead >= 0 && ahead < rows && (owners == 1 || ((uint32_t)ahead >> 4) % owners == me))
          __builtin_prefetch(slot + ahead, 1);
      }
      if (id < 0 || id >= rows) continue; /* cannot happen: the encoder bounds ids */
      if (owners > 1 && ((uint32_t)id >> 4) % owners != me) continue;   /* another thread's row */
      int first = slot[id] < 0;
      if (first) {
        slot[id] = (int32_t)rs->nt;
        rs->touched[rs->nt++] = id;
      }
      float *restrict a = rs->acc + (int64_t)slot[id] * dim;
      const float *restrict v = vec ? vec + e * dim : g + j * dim;
      float c = vec ? g[j] : 1.0f;   /* (c * v[k] is v[k] when 1) */
      if (first)
        for (int64_t k = 0; k < dim; k++) a[k] = scale * (c * v[k]);
      else
        for (int64_t k = 0; k < dim; k++) a[k] += scale * (c * v[k]);
    }
}

/* Each row summed in rs: its update, once. */
static void update_rows(RtOptim *o, int pi, float *w, const RowSums *rs) {
  const DmcModel *m = o->m;
  const DmcParam *p = &m->params[pi];
  int64_t dim = rs->dim, nt = rs->nt;
  float l2 = (float)m->l2;
  RtOptCfg c = o->cfg[pi];
  c.lr *= o->lr_mult;
  int ns = rt_opt_nstate(&c);
  for (int64_t r = 0; r < nt; r++) {
    if (r + RT_PREFETCH < nt) {   /* rows at random: their memory requested ahead (criteo_deepfm's optimizer step about 10% faster, noisy) */
      int64_t ahead = rs->touched[r + RT_PREFETCH];
      __builtin_prefetch(w + p->offset + ahead * dim, 1);
      __builtin_prefetch(&o->rowstep[o->roff[pi] + ahead], 1);
      for (int k = 0; k < ns; k++) __builtin_prefetch(o->state + o->soff[pi] + k * p->size + ahead * dim, 1);
    }
    int64_t row = rs->touched[r];
    const float *a = rs->acc + r * dim;
    rs->slot[row] = -1;
    int64_t k = 0;
    while (k < dim && a[k] == 0.0f) k++;
    if (k == dim) continue;
    uint32_t *count = &o->rowstep[o->roff[pi] + row];
    float *s0, *s1;
    state_slots(o, pi, row * dim, &s0, &s1);
    rt_opt_update(&c, w + p->offset + row * dim, a, s0, s1, dim, (int64_t)++*count, l2);
  }
}

/* Table pi's rows that thread t owns: summed over every lookup in the shares,
 * then updated once each. Tried and dropped, for a sampled softmax's 10,000 rows of
 * 64 summed from 256k lookups a batch (2.3-2.4 ms of a 7 ms step, its 2.5 MB of sums
 * in L3): a range of rows at a time, each range's sums within 512 KB of L2, a scan
 * of the ids a range (slower: the optimizer step 4.1-4.4 ms against 2.4-3.6), and
 * sums at each row's own place, asked for 16 lookups ahead (2.06-2.11 ms against
 * 2.27-2.39: not worth a second way of summing). */
static void sparse_step(RtOptim *o, int pi, float *w, const RtGradPart *parts, int nparts, int t) {
  const DmcModel *m = o->m;
  const DmcParam *p = &m->params[pi];
  RowSums rs = {o->acc + t * o->max_touched * o->max_dim, o->slot + o->roff[pi], o->touched + t * o->max_touched, 0,
                p->shape[0], p->shape[1], (uint32_t)o->nthreads, (uint32_t)t};
  for (int q = 0; q < nparts; q++)
    for (int s = 0; s < m->nsparse; s++) {
      const DmcSparseGrad *sg = &m->sparse[s];
      if (sg->param != pi) continue;
      const float *g = parts[q].workspace + sg->grad_fixed + sg->grad_per_row * parts[q].batch;
      const float *vec = sg->vec_per_row ? parts[q].workspace + sg->vec_fixed + sg->vec_per_row * parts[q].batch : NULL;
      sum_lookups(&rs, parts[q].inputs[sg->ids_input], g, vec, parts[q].scale, parts[q].batch, sg->ids_per_example);
    }
  update_rows(o, pi, w, &rs);
}

void rt_optim_step(RtOptim *o, float *w, const float *g, const float *workspace,
                   const void *const *inputs, int batch) {
  RtGradPart whole = {workspace, inputs, batch, 1.0f, NULL};
  rt_optim_step_parts(o, w, g, &whole, 1);
}

/* A copy per vector width, as update_loops (its adds round alike in each). */
RT_CLONES static void sum_loops(const RtGradPart *parts, int nparts, int64_t at, int64_t n, float *out) {
  const float *g0 = parts[0].grads + at;
  for (int64_t k = 0; k < n; k++) out[k] = parts[0].scale * g0[k];
  for (int q = 1; q < nparts; q++) {
    const float *gq = parts[q].grads + at;
    float sq = parts[q].scale;
    for (int64_t k = 0; k < n; k++) out[k] += sq * gq[k];
  }
}

void rt_grads_sum(const RtGradPart *parts, int nparts, int64_t at, int64_t n, float *out) {
  sum_loops(parts, nparts, at, n, out);
}

typedef struct {
  RtOptim *o;
  float *w;
  const float *g;
  const RtGradPart *parts;
  int nparts;
  int combine;   /* the dense gradients are the shares' blocks, summed here */
} Job;

/* Floats of the dense gradient summed at a time before their update: a
 * chunk stays in L1 between the two. */
enum { COMBINE_CHUNK = 1024 };

/* Elements [at, at + n) of dense parameter i, whose state is s0, s1. */
static void update_dense(const Job *j, const RtOptCfg *c, int64_t at, int64_t n, float *s0, float *s1) {
  float l2 = (float)j->o->m->l2;
  if (!j->combine) {
    rt_opt_update(c, j->w + at, j->g + at, s0, s1, n, j->o->step, l2);
    return;
  }
  float sum[COMBINE_CHUNK];
  for (int64_t k = 0; k < n; k += COMBINE_CHUNK) {
    int64_t len = n - k < COMBINE_CHUNK ? n - k : COMBINE_CHUNK;
    rt_grads_sum(j->parts, j->nparts, at + k, len, sum);
    rt_opt_update(c, j->w + at + k, sum, s0 ? s0 + k : NULL, s1 ? s1 + k : NULL, len, j->o->step, l2);
  }
}

/* Thread t's part of the step: its range of every dense parameter, its rows of every table. */
static void update_part(void *arg, int t) {
  Job *j = arg;
  RtOptim *o = j->o;
  const DmcModel *m = o->m;
  for (int i = 0; i < m->nparams; i++) {
    const DmcParam *p = &m->params[i];
    if (!rt_param_trained(p)) continue;
    if (p->is_table) {
      sparse_step(o, i, j->w, j->parts, j->nparts, t);
      continue;
    }
    int64_t lo, hi;
    rt_pool_split(p->size, o->nthreads, t, &lo, &hi);
    if (lo == hi) continue;
    float *s0, *s1;
    RtOptCfg c = o->cfg[i];
    c.lr *= o->lr_mult;
    state_slots(o, i, lo, &s0, &s1);
    update_dense(j, &c, p->offset + lo, hi - lo, s0, s1);
  }
}

void rt_optim_step_parts(RtOptim *o, float *w, const float *g, const RtGradPart *parts, int nparts) {
  o->step++;
  Job job = {o, w, g, parts, nparts, nparts > 1 && parts[1].grads};
  if (o->pool) rt_pool_run(o->pool, update_part, &job);
  else update_part(&job, 0);
}

/* ---- learning-rate schedules ---- */

static const char *const sched_names[] = {"constant", "linear", "cosine", "step"};

int rt_sched_parse(const char *name, RtSchedKind *kind) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, sched_names[i])) {
      *kind = (RtSchedKind)i;
      return 0;
    }
  return -1;
}

const char *rt_sched_name(RtSchedKind kind) {
  return kind >= RT_SCHED_CONSTANT && kind <= RT_SCHED_STEP ? sched_names[kind] : "?";
}

double rt_sched_mult(const RtSched *s, int64_t t, int epoch) {
  if (t < 1) t = 1;
  double warm = s->warmup > 0 && t < s->warmup ? (double)t / (double)s->warmup : 1.0;
  switch (s->kind) {
  case RT_SCHED_CONSTANT: return warm;
  case RT_SCHED_STEP: {
    int every = s->every > 0 ? s->every : 1, k = epoch > 1 ? (epoch - 1) / every : 0;
    return warm * ldexp(1.0, -(k < 1000 ? k : 1000));
  }
  case RT_SCHED_LINEAR:
  case RT_SCHED_COSINE: {
    if (t <= s->warmup) return warm;
    int64_t span = s->total - s->warmup;
    double p = span > 0 ? (double)(t - 1 - s->warmup) / (double)span : 1.0;
    if (p < 0) p = 0;
    if (p > 1) p = 1;
    double f = s->kind == RT_SCHED_LINEAR ? 1.0 - p : 0.5 * (1.0 + cos(3.14159265358979323846 * p));
    return s->min + (1.0 - s->min) * f;
  }
  }
  return 1.0;
}
