/* test_step.c -- the thread pool, and the data-parallel training step (step.h)
 * on the fixture model: two or three shares must give the serial step's update
 * (dense and table rows), and the pool must run every thread every time. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "dmc_abi.h"
#include "optim.h"
#include "params.h"
#include "pool.h"
#include "rng.h"
#include "step.h"
#include "test.h"

extern const DmcModel dmc_model;

typedef struct {
  atomic_int calls;
  int seen[8];
} Count;

static void count_call(void *arg, int tid) {
  Count *c = arg;
  atomic_fetch_add(&c->calls, 1);
  c->seen[tid]++;
}

static void test_pool_runs_every_thread(void) {
  for (int n = 1; n <= 4; n++) {
    RtError err;
    RtPool *p = rt_pool_new(n, &err);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(rt_pool_size(p), n);
    Count c = {0};
    for (int round = 0; round < 200; round++) rt_pool_run(p, count_call, &c);
    CU_ASSERT_EQUAL(atomic_load(&c.calls), 200 * n);
    for (int t = 0; t < n; t++) CU_ASSERT_EQUAL(c.seen[t], 200);
    rt_pool_free(p);
  }
}

enum { B = 9 };   /* not a multiple of 2 or 4: shares of different sizes */

/* One training step of the fixture with `threads` shares; the parameters after it. */
static void step_with(int threads, const void *const *in, float *w) {
  const DmcModel *m = &dmc_model;
  RtError err;
  float g[1024] = {0}, loss[B];
  CU_ASSERT_FATAL(m->params_size <= 1024);
  RtOptim *o = rt_optim_new(m, 0, B, &err);
  RtStepper *s = rt_stepper_new(m, threads, B, &err);
  CU_ASSERT_FATAL(o && s);
  CU_ASSERT_EQUAL(rt_stepper_threads(s), threads);
  const RtGradPart *parts;
  int nparts;
  rt_stepper_run(s, in, B, 7, w, g, loss, &parts, &nparts);
  CU_ASSERT_EQUAL(nparts, threads);
  int rows = 0;
  for (int q = 0; q < nparts; q++) rows += parts[q].batch;
  CU_ASSERT_EQUAL(rows, B);
  rt_optim_step_parts(o, w, g, parts, nparts);
  rt_stepper_free(s);
  rt_optim_free(o);
}

static void test_shares_match_the_serial_step(void) {
  const DmcModel *m = &dmc_model;
  int32_t user[B], item[B], hist[4 * B], genre[B];
  float stats[2 * B], click[B];
  RtRng rng;
  rt_rng_seed(&rng, 3);
  for (int b = 0; b < B; b++) {
    user[b] = 2 + b % 3, item[b] = 2 + b % 4, genre[b] = 2 + b % 2, click[b] = (float)(b % 2);
    stats[2 * b] = (float)rt_rng_normal(&rng), stats[2 * b + 1] = (float)rt_rng_normal(&rng);
    for (int k = 0; k < 4; k++) hist[4 * b + k] = k < 2 ? 2 + (b + k) % 5 : 0;
  }
  const void *in[] = {user, item, hist, genre, stats, click};
  float w0[1024], w1[1024], w2[1024], w3[1024];
  RtError err;
  CU_ASSERT_FATAL(rt_params_init(m, w1, 5, &err) == 0);
  for (int64_t k = 0; k < m->params_size; k++) w1[k] += (float)(0.1 * rt_rng_normal(&rng));
  memcpy(w0, w1, sizeof w1), memcpy(w2, w1, sizeof w1), memcpy(w3, w1, sizeof w1);
  step_with(1, in, w1);
  step_with(2, in, w2);
  step_with(3, in, w3);
  double worst = 0;
  int moved = 0;
  for (int64_t k = 0; k < m->params_size; k++) {
    worst = fmax(worst, fabs(w2[k] - w1[k]));
    worst = fmax(worst, fabs(w3[k] - w1[k]));
    moved += w1[k] != w0[k];
  }
  CU_ASSERT(moved > 5);      /* dense weights and several table rows were updated */
  CU_ASSERT(worst < 1e-5);   /* the same update, up to float summation order */
}

void add_step_tests(void) {
  CU_pSuite s = CU_add_suite("threads: pool and data-parallel step", NULL, NULL);
  CU_add_test(s, "the pool runs every thread, every time", test_pool_runs_every_thread);
  CU_add_test(s, "2 and 3 shares give the serial step's update", test_shares_match_the_serial_step);
}
