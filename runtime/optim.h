/* optim.h -- optimizers: dense updates from the gradient block, sparse row
 * updates of embedding tables from the descriptor's sparse gradients.
 *
 * Per step t (1, 2, ...), for a gradient g (plus l2 * w, the descriptor's
 * l2, on dense weights and on touched table rows):
 *   sgd(lr=0.01, momentum=0)        b = momentum*b + g; w -= lr*b
 *   adagrad(lr=0.01, initial=0.1, eps=1e-10)   G += g^2; w -= lr*g/(sqrt(G)+eps)
 *   adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8)
 *       m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 *       w -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
 *   ftrl(alpha=0.05, beta=1, l1=0, l2=0)   (McMahan et al. 2013; lr= is alpha)
 *       s = (sqrt(n+g^2) - sqrt(n))/alpha; z += g - s*w; n += g^2;
 *       w = |z| <= l1 ? 0 : -(z - sign(z)*l1) / ((beta + sqrt(n))/alpha + l2)
 * Tables are updated lazily: only rows looked up in the batch, their
 * gradients first summed over every lookup of the row in the batch (all
 * features that share the table); a row whose summed gradient is all zero
 * (padding under a mask) is left alone; Adam's t is the row's own count of
 * updates. Lagged parameters are never trained.
 *
 * Which optimizer: DmcParam.optimizer if named, else the model's `sparse`
 * (tables) or `optimizer` (the rest); a table falls back to `optimizer`
 * and everything to adam(lr=0.001). --lr replaces lr (ftrl: alpha) of the
 * model-level two, not per-parameter overrides. State is one block.
 *
 * Learning-rate schedules (train --lr-schedule): RtOptim.lr_mult multiplies
 * the lr (ftrl: alpha) of every optimizer, dense, sparse and per-parameter,
 * in the step it is set for. rt_sched_mult gives it for step t = 1..T of a
 * run of T steps (T = epochs * batches per epoch, planned for the whole run
 * even if it stops early):
 *   warm-up       t <= W: t / W (linear from 0; W = --warmup, 0: none)
 *   constant      1
 *   linear        min + (1 - min) * (1 - p)
 *   cosine        min + (1 - min) * (1 + cos(pi * p)) / 2
 *                 p = (t - 1 - W) / (T - W), the progress after warm-up:
 *                 the first step after it runs at the full lr, and the
 *                 multiplier reaches min = --lr-min (a fraction of each lr)
 *                 at the end of the run (the last step is one step short)
 *   step          0.5 ^ floor((epoch - 1) / --lr-step): halved every E epochs
 * A warm-up multiplies constant and step; linear and cosine start after it.
 */
#ifndef RT_OPTIM_H
#define RT_OPTIM_H

#include <stdint.h>

#include "dmc_abi.h"
#include "pool.h"
#include "rterr.h"

typedef enum { RT_OPT_SGD, RT_OPT_ADAGRAD, RT_OPT_ADAM, RT_OPT_FTRL } RtOptKind;

typedef struct RtOptCfg {
  RtOptKind kind;
  double lr, beta1, beta2, eps, momentum, initial, beta, l1, l2;  /* ftrl: lr is alpha */
  /* Adam, optional: bc[2 * (t - 1)] and bc[2 * (t - 1) + 1] are the bias
   * corrections (float)(1 - beta1^t), (float)(1 - beta2^t) for t in [1,
   * RT_ADAM_MEMO]; rt_optim_new fills them (a table's rows each have their own
   * t, so the pow calls were most of a sparse step: rt_opt_adam_memo). The
   * powers fall as t grows, so both round to 1.0f from some t on: bc_one is that t when the
   * memo reaches it (every later t then takes its pair, the bits pow gives, and
   * the memo stops there), else 0 (pow past the memo) */
  const float *bc;
  int64_t bc_one;
} RtOptCfg;

/* beta2 = 0.999 (the default) rounds to 1.0f from t = 17,321 on */
#define RT_ADAM_MEMO 32768
/* Fills c->bc's pairs, up to RT_ADAM_MEMO or bc_one, into bc (2 * RT_ADAM_MEMO floats), points c->bc at them and sets c->bc_one. */
void rt_opt_adam_memo(RtOptCfg *c, float *bc);

/* Reads an optimizer record (name NULL: adam defaults); lr_override > 0
 * replaces lr. -1 and *err on an unknown name or key. */
int rt_opt_parse(const DmcRecord *r, double lr_override, const char *what, RtOptCfg *out,
                 RtError *err);
/* State floats per parameter element. */
int rt_opt_nstate(const RtOptCfg *c);
/* The state's initial value (adagrad: initial, else 0). */
float rt_opt_state_init(const RtOptCfg *c);
/* One step over n elements: w, g, and the state slots s0, s1 (n each).
 * t >= 1 is the step (Adam bias correction); l2 adds l2*w to g. */
void rt_opt_update(const RtOptCfg *c, float *w, const float *g, float *s0, float *s1, int64_t n,
                   int64_t t, float l2);

typedef struct RtOptim {
  const DmcModel *m;
  RtOptCfg *cfg;        /* [nparams] */
  float *state;         /* every parameter's state, one block */
  int64_t *soff;        /* [nparams] offset of its slot 0 (slot 1 follows, size floats on) */
  uint32_t *rowstep;    /* per table row update counts, one block */
  int64_t *roff;        /* [nparams] offset into rowstep, -1 for non-tables */
  int32_t *slot;        /* per table row: index into touched while a step runs, else -1 */
  int64_t *touched;     /* rows touched in this step, [nthreads][max_touched] */
  float *acc;           /* their summed gradients, [nthreads][max_touched * max_dim] */
  int64_t max_touched, max_dim;   /* rows one table can touch in a step; the widest table */
  int64_t work;         /* floats a step updates at most: dense parameters, looked-up rows */
  float *bc;            /* the Adam configurations' bias corrections (RtOptCfg.bc), one block */
  RtPool *pool;         /* the threads a step runs on (NULL: the caller's) */
  int nthreads;
  int64_t step;         /* steps taken */
  double lr_mult;       /* multiplies every optimizer's lr in the next step (1 by default) */
} RtOptim;

RtOptim *rt_optim_new(const DmcModel *m, double lr_override, int max_batch, RtError *err);
void rt_optim_free(RtOptim *o);
/* Run the next steps on the pool's threads, each updating its own part of
 * the parameters (optim.c); the result is the same as on one thread. A model
 * whose step updates fewer than rt_pool_min_work floats stays on the caller. The
 * pool must outlive those steps. 0, or -1 and *err when out of memory. */
int rt_optim_use_pool(RtOptim *o, RtPool *pool, RtError *err);
/* One training step after backward: dense parameters from g, tables from
 * the sparse gradients in workspace with the ids of the batch's inputs. */
void rt_optim_step(RtOptim *o, float *w, const float *g, const float *workspace,
                   const void *const *inputs, int batch);

/* One share of a batch whose forward and backward ran on their own (a thread's
 * rows, step.h): its workspace and inputs, its rows, the weight of its mean
 * gradient in the batch's (rows / batch rows), and its dense gradient block, or
 * NULL once the dense gradients are combined in g (rt_stepper_combine). Table
 * rows are summed over the shares, scaled, before each row's update; dense
 * gradients not yet combined are summed likewise, a chunk at a time, just
 * before their update (the sums of rt_stepper_combine, in its order, so the
 * result is the same bits; one pass over memory fewer). g must then be the
 * first share's block. */
typedef struct {
  const float *workspace;
  const void *const *inputs;
  int batch;
  float scale;
  const float *grads;
} RtGradPart;
void rt_optim_step_parts(RtOptim *o, float *w, const float *g, const RtGradPart *parts, int nparts);
/* out[0, n) = the shares' dense gradients at [at, at + n), each weighted by its
 * scale, summed in share order (out may be the first share's block). */
void rt_grads_sum(const RtGradPart *parts, int nparts, int64_t at, int64_t n, float *out);

typedef enum { RT_SCHED_CONSTANT, RT_SCHED_LINEAR, RT_SCHED_COSINE, RT_SCHED_STEP } RtSchedKind;

typedef struct RtSched {
  RtSchedKind kind;
  int64_t warmup;       /* steps of linear warm-up, 0: none */
  int64_t total;        /* steps in the run (linear, cosine) */
  double min;           /* final multiplier of linear and cosine, in [0, 1] */
  int every;            /* step: epochs between halvings (>= 1) */
} RtSched;

/* "constant", "linear", "cosine", "step" into *kind: 0, or -1. */
int rt_sched_parse(const char *name, RtSchedKind *kind);
const char *rt_sched_name(RtSchedKind kind);
/* The multiplier of step t (1-based) in epoch (1-based). */
double rt_sched_mult(const RtSched *s, int64_t t, int epoch);

#endif
