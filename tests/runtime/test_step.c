/* test_step.c -- the thread pool, and the data-parallel training step (step.h)
 * with the optimizer on the same threads (optim.h): two or three shares must
 * give the serial step's update (dense and table rows) on the fixture model
 * and, for every optimizer, on a model whose dense weight is cut into ranges
 * among threads; given the same shares, the optimizer on 2, 3 or 4 threads
 * must be the serial optimizer bit for bit; the pool must run every thread
 * every time, and a request's GEMMs shared among its threads (share.h) must
 * give one thread's result. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dmc_abi.h"
#include "kernels.h"
#include "optim.h"
#include "params.h"
#include "pool.h"
#include "rng.h"
#include "share.h"
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

/* Every tid once per round, sleeping or spinning between rounds (a part may run
 * on any thread, so rounds back to back catch a part run twice or skipped). */
static void test_pool_runs_every_thread(void) {
  for (int spin = 0; spin <= 50; spin += 50)
    for (int n = 1; n <= 4; n++) {
      RtError err;
      RtPool *p = rt_pool_new(n, &err);
      CU_ASSERT_FATAL(p != NULL);
      CU_ASSERT_EQUAL(rt_pool_size(p), n);
      rt_pool_spin(p, spin);
      Count c = {0};
      for (int round = 0; round < 2000; round++) rt_pool_run(p, count_call, &c);
      CU_ASSERT_EQUAL(atomic_load(&c.calls), 2000 * n);
      for (int t = 0; t < n; t++) CU_ASSERT_EQUAL(c.seen[t], 2000);
      rt_pool_free(p);
    }
}

static DmcKShape shape1(int n, int batched) { return (DmcKShape){1, {n, 0, 0, 0}, batched, 0, 0}; }

/* A request's GEMMs shared by a spinning pool (share.h): the
 * result of one thread, bit for bit, for a weight split among 2 and 3 threads
 * (columns not a multiple of the split), read plainly or transposed, and for one
 * row or a few; a weight below the threshold stays on the caller. */
static void test_shared_gemm(void) {
  static const int shapes[][4] = {{1, 429, 400, 0}, {3, 256, 257, 0}, {1, 300, 300, 1}, {2, 40, 80, 0}};
  for (int n = 2; n <= 3; n++) {
    RtError err;
    RtPool *p = rt_pool_new(n, &err);
    CU_ASSERT_FATAL(p != NULL);
    rt_pool_spin(p, 20);
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
      int M = shapes[t][0], K = shapes[t][1], N = shapes[t][2], nt = shapes[t][3];
      float *a = malloc(sizeof(float) * (size_t)M * K), *w = malloc(sizeof(float) * (size_t)K * N);
      float *alone = malloc(sizeof(float) * (size_t)M * N), *shared = malloc(sizeof(float) * (size_t)M * N);
      CU_ASSERT_FATAL(a && w && alone && shared);
      for (int i = 0; i < M * K; i++) a[i] = (float)((i * 31 % 89) - 44) / 44;
      for (int i = 0; i < K * N; i++) w[i] = (float)((i * 53 % 97) - 48) / 48;
      DmcKShape ws = nt ? (DmcKShape){2, {N, K, 0, 0}, 0, 0, 0} : (DmcKShape){2, {K, N, 0, 0}, 0, 0, 0};
      DmcKernel k = {.op = nt ? DMC_OP_MATMUL_NT : DMC_OP_MATMUL, .out = shape1(N, 1), .nin = 2,
                     .in = {shape1(K, 1), ws}};
      const void *in[2] = {a, w};
      dmc_kernel_f32(&k, M, alone, in, 0, 0);
      rt_share_begin(p);
      for (int i = 0; i < M * N; i++) shared[i] = NAN;
      dmc_kernel_f32(&k, M, shared, in, 0, 0);
      rt_share_begin(NULL);
      CU_ASSERT(memcmp(alone, shared, sizeof(float) * (size_t)M * N) == 0);
      free(a), free(w), free(alone), free(shared);
    }
    rt_pool_free(p);
  }
}

enum { B = 9 };   /* not a multiple of 2 or 4: shares of different sizes */

/* `steps` training steps of model m with `threads` shares and the optimizer on
 * their pool; the parameters after them. */
static void steps_with(const DmcModel *m, int threads, int steps, const void *const *in, float *w) {
  RtError err;
  float g[1024] = {0}, loss[B];
  CU_ASSERT_FATAL(m->params_size <= 1024);
  RtOptim *o = rt_optim_new(m, 0, B, &err);
  RtStepper *s = rt_stepper_new(m, threads, B, &err);
  CU_ASSERT_FATAL(o && s);
  CU_ASSERT_FATAL(rt_optim_use_pool(o, rt_stepper_pool(s), &err) == 0);
  CU_ASSERT_EQUAL(rt_stepper_threads(s), threads);
  for (int step = 0; step < steps; step++) {
    const RtGradPart *parts;
    int nparts;
    rt_stepper_run(s, in, B, 7, w, g, loss, &parts, &nparts);
    CU_ASSERT_EQUAL(nparts, threads);
    int rows = 0;
    for (int q = 0; q < nparts; q++) rows += parts[q].batch;
    CU_ASSERT_EQUAL(rows, B);
    rt_optim_step_parts(o, w, g, parts, nparts);
  }
  rt_stepper_free(s);
  rt_optim_free(o);
}

/* The largest difference of 2 and 3 shares from one (w1), starting from w0;
 * *moved counts the parameters the serial steps changed. */
static double shares_vs_serial(const DmcModel *m, int steps, const void *const *in, const float *w0,
                               int *moved) {
  float w1[1024], w2[1024], w3[1024];
  memcpy(w1, w0, sizeof w1), memcpy(w2, w0, sizeof w2), memcpy(w3, w0, sizeof w3);
  steps_with(m, 1, steps, in, w1);
  steps_with(m, 2, steps, in, w2);
  steps_with(m, 3, steps, in, w3);
  double worst = 0;
  *moved = 0;
  for (int64_t k = 0; k < m->params_size; k++) {
    worst = fmax(worst, fabs(w2[k] - w1[k]));
    worst = fmax(worst, fabs(w3[k] - w1[k]));
    *moved += w1[k] != w0[k];
  }
  return worst;
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
  float w0[1024];
  RtError err;
  CU_ASSERT_FATAL(rt_params_init(m, w0, 5, &err) == 0);
  for (int64_t k = 0; k < m->params_size; k++) w0[k] += (float)(0.1 * rt_rng_normal(&rng));
  int moved;
  double worst = shares_vs_serial(m, 1, in, w0, &moved);
  CU_ASSERT(moved > 5);      /* dense weights and several table rows were updated */
  CU_ASSERT(worst < 1e-5);   /* the same update, up to float summation order */
}

/* A model for the parallel optimizer: a dense weight of 40 (cut into ranges
 * among threads) and a table T[64, 3] (rows in 4 blocks of 16) looked up by an
 * id and by a list of 3 ids, so rows are shared by lookups and by shares:
 *   z = wide . x + sum over the 4 lookups of sum_d (d + 1) T[id, d]
 *   loss = (z - y)^2 / 2
 * Workspace: z [B] at 0 | g_one [B,1,3] at B | g_list [B,3,3] at 4B. */
enum { IN_ONE, IN_LIST, IN_X, IN_Y };
enum { WIDE = 40, ROWS = 64, DIM = 3, OFF_T = 0, OFF_WIDE = ROWS * DIM, WSIZE = OFF_WIDE + WIDE };

static const DmcInput w_inputs[] = {{"one", DMC_I32, 1}, {"list", DMC_I32, 3}, {"x", DMC_F32, WIDE}, {"y", DMC_F32, 1}};
static const DmcParam w_params[] = {
    {.name = "T", .rank = 2, .shape = {ROWS, DIM}, .size = ROWS * DIM, .offset = OFF_T, .is_table = 1, .lag_of = -1},
    {.name = "wide", .rank = 1, .shape = {WIDE}, .size = WIDE, .offset = OFF_WIDE, .lag_of = -1},
};
static const DmcSparseGrad w_sparse[] = {{0, IN_ONE, 1, DIM, 0, 1, 0, 0}, {0, IN_LIST, 3, DIM, 0, 4, 0, 0}};

static int64_t w_workspace(int max_batch) { return 13 * (int64_t)max_batch; }

static float row_dot(const float *w, int32_t id) {
  float s = 0;
  for (int d = 0; d < DIM; d++) s += (float)(d + 1) * w[OFF_T + id * DIM + d];
  return s;
}

static void w_forward(const DmcCtx *ctx) {
  const int32_t *one = ctx->inputs[IN_ONE], *list = ctx->inputs[IN_LIST];   /* [B], [B,3] */
  const float *x = ctx->inputs[IN_X], *y = ctx->inputs[IN_Y];               /* [B,WIDE], [B] */
  float *z = ctx->workspace;                                                 /* [B] */
  for (int b = 0; b < ctx->batch; b++) {
    float s = row_dot(ctx->params, one[b]);
    for (int j = 0; j < 3; j++) s += row_dot(ctx->params, list[3 * b + j]);
    for (int k = 0; k < WIDE; k++) s += ctx->params[OFF_WIDE + k] * x[WIDE * b + k];
    z[b] = s;
    ctx->loss[b] = 0.5f * (s - y[b]) * (s - y[b]);
  }
}

static void w_backward(const DmcCtx *ctx) {
  const float *x = ctx->inputs[IN_X], *y = ctx->inputs[IN_Y], *z = ctx->workspace;
  float *g_one = ctx->workspace + ctx->batch, *g_list = ctx->workspace + 4 * ctx->batch;
  memset(ctx->grads + OFF_WIDE, 0, sizeof(float) * WIDE);   /* written, as compiled code does */
  for (int b = 0; b < ctx->batch; b++) {
    float dz = (z[b] - y[b]) / (float)ctx->batch;   /* d(mean loss)/dz */
    for (int k = 0; k < WIDE; k++) ctx->grads[OFF_WIDE + k] += dz * x[WIDE * b + k];
    for (int d = 0; d < DIM; d++) {
      g_one[DIM * b + d] = dz * (float)(d + 1);
      for (int j = 0; j < 3; j++) g_list[DIM * (3 * b + j) + d] = dz * (float)(d + 1);
    }
  }
}

static const DmcModel wide_model = {
    .abi_version = DMC_ABI_VERSION, .name = "wide_fixture",
    .ninputs = 4, .inputs = w_inputs, .nparams = 2, .params = w_params, .params_size = WSIZE,
    .nsparse = 2, .sparse = w_sparse, .batch = B, .epochs = 1, .l2 = 0.01,
    .workspace_floats = w_workspace, .forward = w_forward, .backward = w_backward,
    .retrieve_output = -1, .retrieve_table = -1, .retrieve_target = -1,
};

/* Every optimizer, the same for the dense weight and the table. */
static const char *const k_sgd[] = {"lr", "momentum"}, *const k_lr[] = {"lr"};
static const char *const k_ftrl[] = {"alpha", "l1", "l2"};
static const double v_sgd[] = {0.1, 0.9}, v_lr[] = {0.05}, v_ftrl[] = {0.1, 0.001, 0.01};
static const DmcRecord optimizers[] = {
    {"sgd", 1, k_sgd, v_sgd, NULL},  {"sgd", 2, k_sgd, v_sgd, NULL}, {"adagrad", 1, k_lr, v_lr, NULL},
    {"adam", 1, k_lr, v_lr, NULL},   {"ftrl", 3, k_ftrl, v_ftrl, NULL},
};

/* The wide model's inputs (row 17 in every share's list) and parameters. */
static int32_t one[B], list[3 * B];
static float xs[WIDE * B], ys[B], wide_w0[WSIZE];
static const void *wide_in[] = {one, list, xs, ys};

static void wide_data(void) {
  RtRng rng;
  rt_rng_seed(&rng, 11);
  for (int b = 0; b < B; b++) {
    one[b] = (int32_t)rt_rng_below(&rng, ROWS), ys[b] = (float)rt_rng_normal(&rng);
    list[3 * b] = 17;
    list[3 * b + 1] = (int32_t)rt_rng_below(&rng, ROWS), list[3 * b + 2] = b % 4;
    for (int k = 0; k < WIDE; k++) xs[WIDE * b + k] = (float)rt_rng_normal(&rng);
  }
  for (int k = 0; k < WSIZE; k++) wide_w0[k] = (float)(0.1 * rt_rng_normal(&rng));
}

static void test_every_optimizer_on_shares(void) {
  wide_data();
  for (size_t i = 0; i < sizeof optimizers / sizeof optimizers[0]; i++) {
    DmcModel m = wide_model;
    m.optimizer = m.sparse_optimizer = optimizers[i];
    int moved;
    double worst = shares_vs_serial(&m, 3, wide_in, wide_w0, &moved);
    CU_ASSERT(moved > WIDE + 10 * DIM);   /* every dense weight, and many rows */
    CU_ASSERT(worst < 1e-5);
  }
}

/* Given the same shares, the optimizer on the stepper's 2, 3 or 4 threads, the
 * optimizer on one thread, and the optimizer given the gradient combined first
 * (rt_stepper_combine, as clipping needs) leave the same bits in weights and
 * state. */
static void test_parallel_optimizer_is_the_serial_one(void) {
  wide_data();
  for (size_t i = 0; i < sizeof optimizers / sizeof optimizers[0]; i++) {
    DmcModel m = wide_model;
    m.optimizer = m.sparse_optimizer = optimizers[i];
    for (int n = 2; n <= 4; n++) {
      RtError err;
      float wa[WSIZE], wb[WSIZE], wc[WSIZE], g[WSIZE] = {0}, loss[B];
      memcpy(wa, wide_w0, sizeof wa), memcpy(wb, wide_w0, sizeof wb), memcpy(wc, wide_w0, sizeof wc);
      RtOptim *on_pool = rt_optim_new(&m, 0, B, &err), *alone = rt_optim_new(&m, 0, B, &err),
              *combined = rt_optim_new(&m, 0, B, &err);
      RtStepper *s = rt_stepper_new(&m, n, B, &err);
      CU_ASSERT_FATAL(on_pool && alone && combined && s);
      CU_ASSERT_FATAL(rt_optim_use_pool(on_pool, rt_stepper_pool(s), &err) == 0);
      for (int step = 0; step < 3; step++) {
        const RtGradPart *parts;
        int nparts;
        rt_stepper_run(s, wide_in, B, 7, wa, g, loss, &parts, &nparts);
        CU_ASSERT(parts[1].grads != NULL);   /* left for the optimizer to sum */
        rt_optim_step_parts(on_pool, wa, g, parts, nparts);
        rt_optim_step_parts(alone, wb, g, parts, nparts);
        rt_stepper_combine(s);
        CU_ASSERT(parts[1].grads == NULL);
        rt_optim_step_parts(combined, wc, g, parts, nparts);
      }
      int64_t nstate = (int64_t)rt_opt_nstate(&on_pool->cfg[0]) * WSIZE;
      CU_ASSERT(memcmp(wa, wb, sizeof wa) == 0);
      CU_ASSERT(memcmp(wa, wc, sizeof wa) == 0);
      CU_ASSERT(memcmp(on_pool->state, alone->state, (size_t)nstate * sizeof *wa) == 0);
      CU_ASSERT(memcmp(on_pool->state, combined->state, (size_t)nstate * sizeof *wa) == 0);
      CU_ASSERT(memcmp(on_pool->rowstep, alone->rowstep, ROWS * sizeof *alone->rowstep) == 0);
      CU_ASSERT(memcmp(wa, wide_w0, sizeof wa) != 0);
      rt_stepper_free(s);
      rt_optim_free(on_pool);
      rt_optim_free(alone);
      rt_optim_free(combined);
    }
  }
}

/* Below rt_pool_min_work a step's optimizer stays on the caller (no pool round). */
static void test_small_steps_stay_on_the_caller(void) {
  RtError err;
  DmcModel m = wide_model;
  RtStepper *s = rt_stepper_new(&m, 2, B, &err);
  RtOptim *small = rt_optim_new(&m, 0, B, &err), *big = rt_optim_new(&m, 0, B, &err);
  CU_ASSERT_FATAL(s && small && big);
  rt_pool_min_work = small->work + 1;
  CU_ASSERT(rt_optim_use_pool(small, rt_stepper_pool(s), &err) == 0 && small->pool == NULL);
  rt_pool_min_work = small->work;
  CU_ASSERT(rt_optim_use_pool(big, rt_stepper_pool(s), &err) == 0 && big->pool != NULL);
  rt_pool_min_work = 0;
  rt_optim_free(small);
  rt_optim_free(big);
  rt_stepper_free(s);
}

/* The test models are small: the suite runs the pool paths on them anyway. */
static int pool_for_any_size(void) {
  rt_pool_min_work = 0;
  return 0;
}

static int pool_threshold_back(void) {
  rt_pool_min_work = (int64_t)1 << 16;
  return 0;
}

void add_step_tests(void) {
  CU_pSuite s = CU_add_suite("threads: pool and data-parallel step", pool_for_any_size, pool_threshold_back);
  CU_add_test(s, "the pool runs every thread, every time", test_pool_runs_every_thread);
  CU_add_test(s, "a request's GEMMs shared among threads: one thread's result", test_shared_gemm);
  CU_add_test(s, "2 and 3 shares give the serial step's update", test_shares_match_the_serial_step);
  CU_add_test(s, "every optimizer: 2 and 3 shares give the serial steps", test_every_optimizer_on_shares);
  CU_add_test(s, "the optimizer on 2, 3, 4 threads is the serial one, bit for bit",
              test_parallel_optimizer_is_the_serial_one);
  CU_add_test(s, "a step below rt_pool_min_work stays on the caller", test_small_steps_stay_on_the_caller);
}
