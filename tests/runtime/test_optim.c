/* test_optim.c -- optimizers against steps computed by hand (Adam, Adagrad,
 * FTRL, SGD with momentum, l2), the lazy sparse row update (duplicates
 * summed across lookups, masked rows left alone, per-row Adam steps),
 * choosing and overriding optimizers, initialisers, lagged copies, the
 * non-finite scan, learning-rate schedules (the multiplier at chosen
 * steps, and that it scales dense, sparse and per-parameter optimizers)
 * and gradient clipping. Expected values come from the formulas in optim.h,
 * evaluated in double precision (python) and written here.
 */
#include <CUnit/CUnit.h>
#include <math.h>
#include <string.h>

#include "checkpoint.h"
#include "optim.h"
#include "params.h"
#include "test.h"

#define NEAR(a, b, tol) CU_ASSERT(fabs((double)(a) - (double)(b)) < (tol))

static DmcRecord rec(const char *name, int n, const char *const *keys, const double *values) {
  DmcRecord r = {name, n, keys, values, NULL};
  return r;
}

static void test_adam_by_hand(void) {
  static const char *const k[] = {"lr"};
  static const double v[] = {0.1};
  DmcRecord r = rec("adam", 1, k, v);
  RtOptCfg c;
  RtError err;
  CU_ASSERT_FATAL(rt_opt_parse(&r, 0, "t", &c, &err) == 0);
  CU_ASSERT_EQUAL(c.kind, RT_OPT_ADAM);
  CU_ASSERT_EQUAL(rt_opt_nstate(&c), 2);
  float w = 1, m = 0, s = 0, g = 0.5f;
  rt_opt_update(&c, &w, &g, &m, &s, 1, 1, 0);
  NEAR(w, 0.900000002, 1e-6);
  g = -1;
  rt_opt_update(&c, &w, &g, &m, &s, 1, 2, 0);
  NEAR(w, 0.9366103542405654, 1e-6);
}

/* The memo of bias corrections (rt_opt_adam_memo, which rt_optim_new fills)
 * gives the bits of pow at every t it holds and past its end: the pair at
 * bc_one when both have reached 1.0f within it (beta2 0.99 and the default 0.999, from
 * t = 1,725 and 17,321), pow otherwise (0.9999, from t = 173,279); over 257
 * values (vector loops and a scalar tail). */
static void check_adam_memo(double beta2, int64_t bc_one) {
  static const char *const k[] = {"lr", "beta1", "beta2"};
  const double v[] = {0.01, 0.8, beta2};
  DmcRecord r = rec("adam", 3, k, v);
  RtOptCfg plain, memo;
  CU_ASSERT_FATAL(rt_opt_parse(&r, 0, "t", &plain, NULL) == 0);
  memo = plain;
  static float bc[2 * RT_ADAM_MEMO];
  rt_opt_adam_memo(&memo, bc);
  CU_ASSERT_FATAL(memo.bc == bc && plain.bc == NULL);
  CU_ASSERT_EQUAL(memo.bc_one, bc_one);
  static const int64_t ts[] = {1,     2,     3,     100,   1724,  1725,   1726,   RT_ADAM_MEMO - 1, RT_ADAM_MEMO,
                               17320, 17321, 17322, 20000, 32769, 100000, 173278, 173279, 1000000};
  int same = 1;
  for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
    enum { N = 257 };   // many values, so a correction one ulp off changes some weight's bits
    float w[2][N], m[2][N], s[2][N], g[N];
    for (int j = 0; j < N; j++) {
      g[j] = 0.01f * (float)(j - 128), w[0][j] = w[1][j] = 1 + 0.001f * (float)j;
      m[0][j] = m[1][j] = 0.01f, s[0][j] = s[1][j] = 0.02f + 0.0001f * (float)j;
    }
    rt_opt_update(&plain, w[0], g, m[0], s[0], N, ts[i], 0);
    rt_opt_update(&memo, w[1], g, m[1], s[1], N, ts[i], 0);
    same &= !memcmp(w[0], w[1], sizeof w[0]) && !memcmp(m[0], m[1], sizeof m[0]) && !memcmp(s[0], s[1], sizeof s[0]);
  }
  CU_ASSERT(same);
}

static void test_adam_memo(void) {
  static const double beta2[] = {0.99, 0.999, 0.9999};
  static const int64_t one[] = {1725, 17321, 0};
  for (int b = 0; b < 3; b++) check_adam_memo(beta2[b], one[b]);
}

static void test_adagrad_by_hand(void) {
  static const char *const k[] = {"lr"};
  static const double v[] = {0.1};
  DmcRecord r = rec("adagrad", 1, k, v);
  RtOptCfg c;
  CU_ASSERT_FATAL(rt_opt_parse(&r, 0, "t", &c, NULL) == 0);
  float w = 1, acc = rt_opt_state_init(&c), g = 0.5f;
  NEAR(acc, 0.1, 1e-7); /* initial accumulator */
  rt_opt_update(&c, &w, &g, &acc, NULL, 1, 1, 0);
  NEAR(w, 0.9154845745414341, 1e-6);
  g = -1;
  rt_opt_update(&c, &w, &g, &acc, NULL, 1, 2, 0);
  NEAR(w, 1.0015508711164136, 1e-6);
}

static void test_ftrl_by_hand(void) {
  static const char *const k[] = {"alpha", "beta", "l1", "l2"};
  static const double v[] = {0.1, 1.0, 0.01, 0.1};
  DmcRecord r = rec("ftrl", 4, k, v);
  RtOptCfg c;
  CU_ASSERT_FATAL(rt_opt_parse(&r, 0, "t", &c, NULL) == 0);
  float w = 0, z = 0, n = 0, g = 0.5f;
  rt_opt_update(&c, &w, &g, &z, &n, 1, 1, 0);
  NEAR(w, -0.03245033112582781, 1e-6);
  NEAR(z, 0.5, 1e-6);
  g = -0.2f;
  rt_opt_update(&c, &w, &g, &z, &n, 1, 2, 0);
  NEAR(w, -0.019534743691598272, 1e-6);
  NEAR(z, 0.3124987255295303, 1e-6);
  /* |z| <= l1: the weight is exactly 0 (sparsity) */
  float w2 = 0, z2 = 0, n2 = 0, tiny = 0.005f;
  rt_opt_update(&c, &w2, &tiny, &z2, &n2, 1, 1, 0);
  CU_ASSERT_EQUAL(w2, 0.0f);
}

static void test_sgd_momentum_and_l2(void) {
  static const char *const k[] = {"lr", "momentum"};
  static const double v[] = {0.1, 0.9};
  DmcRecord r = rec("sgd", 2, k, v);
  RtOptCfg c;
  CU_ASSERT_FATAL(rt_opt_parse(&r, 0, "t", &c, NULL) == 0);
  float w = 1, b = 0, g = 1;
  rt_opt_update(&c, &w, &g, &b, NULL, 1, 1, 0);
  NEAR(w, 0.9, 1e-6);
  rt_opt_update(&c, &w, &g, &b, NULL, 1, 2, 0);
  NEAR(w, 0.71, 1e-6);
  DmcRecord plain = rec("sgd", 1, k, v);
  CU_ASSERT_FATAL(rt_opt_parse(&plain, 0, "t", &c, NULL) == 0);
  CU_ASSERT_EQUAL(rt_opt_nstate(&c), 0);
  float w2 = 2, zero = 0;
  rt_opt_update(&c, &w2, &zero, NULL, NULL, 1, 1, 0.5f); /* l2: g = 0 + 0.5 * 2 */
  NEAR(w2, 1.9, 1e-6);
}

static void test_parse_errors(void) {
  static const char *const k[] = {"momentum"}, *const klr[] = {"lr"};
  static const double v[] = {0.9}, neg[] = {-1};
  RtOptCfg c;
  RtError err;
  DmcRecord r = rec("rmsprop", 0, NULL, NULL);
  CU_ASSERT(rt_opt_parse(&r, 0, "optimizer of param w", &c, &err) == -1);
  CU_ASSERT(contains(err.msg, "optimizer of param w: unknown optimizer 'rmsprop'"));
  r = rec("adam", 1, k, v);
  CU_ASSERT(rt_opt_parse(&r, 0, "opt", &c, &err) == -1);
  CU_ASSERT(contains(err.msg, "adam() has no option 'momentum' (it takes: lr, beta1, beta2, eps)"));
  r = rec("sgd", 1, klr, neg);
  CU_ASSERT(rt_opt_parse(&r, 0, "opt", &c, &err) == -1);
  /* no name: adam defaults; --lr replaces lr, for ftrl alpha */
  r = rec(NULL, 0, NULL, NULL);
  CU_ASSERT(rt_opt_parse(&r, 0.5, "opt", &c, &err) == 0);
  CU_ASSERT(c.kind == RT_OPT_ADAM && c.lr == 0.5 && c.beta2 == 0.999);
  r = rec("ftrl", 0, NULL, NULL);
  CU_ASSERT(rt_opt_parse(&r, 0.2, "opt", &c, &err) == 0);
  CU_ASSERT(c.lr == 0.2 && c.beta == 1.0);
}

/* ---- a small model for sparse and dense steps: table T[6,2], dense d[3] ---- */

static const DmcInput s_inputs[] = {{"a", DMC_I32, 3}, {"b", DMC_I32, 1}};
static const char *const s_klr[] = {"lr"};
static const double s_lr1[] = {1.0}, s_lr01[] = {0.1};
static const DmcParam s_params[] = {
    {.name = "T", .rank = 2, .shape = {6, 2}, .size = 12, .offset = 0, .is_table = 1, .lag_of = -1},
    {.name = "d", .rank = 1, .shape = {3}, .size = 3, .offset = 12, .lag_of = -1,
     .optimizer = {"sgd", 1, s_klr, s_lr01, NULL}},
    {.name = "T_lag", .rank = 2, .shape = {6, 2}, .size = 12, .offset = 15, .is_table = 1,
     .lag_of = 0, .lag_every = 2},
};
/* lookups of a: [B,3,2] at 0; of b: [B,1,2] at 6B */
static const DmcSparseGrad s_sparse[] = {{0, 0, 3, 2, 0, 0, 0, 0}, {0, 1, 1, 2, 0, 6, 0, 0}};
static int64_t s_ws(int b) { return 8 * (int64_t)b; }
static void s_nop(const DmcCtx *c) { (void)c; }

static DmcModel small_model(const char *sparse_opt) {
  DmcModel m = {.abi_version = DMC_ABI_VERSION, .name = "small", .delimiter = ',',
                .ninputs = 2, .inputs = s_inputs, .nparams = 3, .params = s_params,
                .params_size = 27, .nsparse = 2, .sparse = s_sparse,
                .optimizer = {"adam", 1, s_klr, s_lr1, NULL},
                .sparse_optimizer = {sparse_opt, 1, s_klr, s_lr1, NULL},
                .batch = 2, .workspace_floats = s_ws, .forward = s_nop, .backward = s_nop};
  return m;
}

static void test_sparse_rows(void) {
  DmcModel m = small_model("sgd");
  RtError err;
  RtOptim *o = rt_optim_new(&m, 0, 2, &err);
  CU_ASSERT_FATAL(o != NULL);
  CU_ASSERT_EQUAL(o->cfg[0].kind, RT_OPT_SGD); /* the sparse optimizer */
  CU_ASSERT_EQUAL(o->cfg[1].kind, RT_OPT_SGD); /* d's own override */
  NEAR(o->cfg[1].lr, 0.1, 1e-12);
  float w[27] = {0}, g[27] = {0}, ws[16] = {0};
  int32_t a[6] = {2, 3, 2, 0, 4, 2}, b[2] = {3, 5};
  const void *in[2] = {a, b};
  for (int i = 0; i < 12; i++) ws[i] = (float)(i + 1);          /* a's row gradients */
  ws[6] = ws[7] = 0;                                            /* id 0 is masked */
  ws[12] = 100, ws[13] = 200, ws[14] = 300, ws[15] = 400;       /* b's */
  g[12] = 1, g[13] = 2, g[14] = 3;                              /* d's dense gradient */
  rt_optim_step(o, w, g, ws, in, 2);
  /* row 2: lookups (0,0), (0,2), (1,2): grads (1,2) + (5,6) + (11,12) = (17, 20) */
  NEAR(w[4], -17, 1e-5);
  NEAR(w[5], -20, 1e-5);
  /* row 3: (0,1) of a + (0,0) of b: (3,4) + (100,200) */
  NEAR(w[6], -103, 1e-4);
  NEAR(w[7], -204, 1e-4);
  NEAR(w[8], -9, 1e-5); /* row 4: (9,10) */
  NEAR(w[10], -300, 1e-4); /* row 5: b */
  CU_ASSERT(w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0); /* rows 0 (masked) and 1 */
  NEAR(w[12], -0.1, 1e-6);
  NEAR(w[14], -0.3, 1e-6);
  CU_ASSERT(w[15] == 0); /* the lagged copy is never trained */
  for (int r = 0; r < 6; r++) CU_ASSERT_EQUAL(o->slot[r], -1); /* slots reset */
  rt_optim_free(o);
}

static void test_lazy_adam_rows(void) {
  DmcModel m = small_model("adam");
  RtOptim *o = rt_optim_new(&m, 0, 2, NULL);
  CU_ASSERT_FATAL(o != NULL);
  float w[27] = {0}, g[27] = {0}, ws[16] = {0};
  int32_t a[6] = {2, 2, 2, 2, 2, 2}, b[2] = {3, 3};
  const void *in[2] = {a, b};
  for (int i = 0; i < 16; i++) ws[i] = 1;
  rt_optim_step(o, w, g, ws, in, 2);
  CU_ASSERT_EQUAL(o->rowstep[2], 1);
  CU_ASSERT_EQUAL(o->rowstep[3], 1);
  CU_ASSERT_EQUAL(o->rowstep[4], 0);
  NEAR(w[4], -1.0, 1e-5); /* Adam's first step is lr * sign(g) */
  a[0] = a[1] = a[2] = a[3] = a[4] = a[5] = 4;
  rt_optim_step(o, w, g, ws, in, 2);
  CU_ASSERT_EQUAL(o->rowstep[4], 1); /* row 4's first update, at global step 2 */
  CU_ASSERT_EQUAL(o->rowstep[3], 2);
  NEAR(w[8], -1.0, 1e-5);            /* bias-corrected as a first step */
  rt_optim_free(o);
}

/* A factored lookup (DmcSparseGrad.vec_*: row k of example b is coef[b, k] * vec[b]) updates
 * its rows to the same bits as the rows it stands for, written out. */
static const DmcSparseGrad s_factored[] = {{0, 0, 3, 2, 16, 0, 18, 2}, {0, 1, 1, 2, 0, 6, 0, 0}};

static void test_factored_rows(void) {
  DmcModel rows = small_model("sgd"), fac = small_model("sgd");   /* linear in the rows: any error shows */
  fac.sparse = s_factored;
  RtOptim *o1 = rt_optim_new(&rows, 0, 2, NULL), *o2 = rt_optim_new(&fac, 0, 2, NULL);
  CU_ASSERT_FATAL(o1 != NULL && o2 != NULL);
  float w1[27], w2[27], g[27] = {0}, ws[26] = {0};
  for (int i = 0; i < 27; i++) w1[i] = w2[i] = 0.01f * (float)(i % 7) - 0.02f;
  int32_t a[6] = {2, 3, 2, 1, 4, 2}, b[2] = {3, 5};
  const void *in[2] = {a, b};
  const float coef[6] = {0.3f, -1.7f, 0.11f, 2.5f, -0.01f, 0.7f}, vec[4] = {1.3f, -0.2f, 0.45f, 3.1f};
  for (int step = 0; step < 3; step++) {
    for (int k = 0; k < 6; k++) {
      ws[16 + k] = coef[k] * (float)(step + 1);
      for (int d = 0; d < 2; d++) ws[2 * k + d] = ws[16 + k] * vec[k / 3 * 2 + d];   /* the rows written out */
    }
    for (int d = 0; d < 4; d++) ws[22 + d] = vec[d];
    ws[12] = 1, ws[13] = -2, ws[14] = 0.5f, ws[15] = 4;   /* b's rows, not factored */
    rt_optim_step(o1, w1, g, ws, in, 2);
    rt_optim_step(o2, w2, g, ws, in, 2);
  }
  CU_ASSERT(memcmp(w1, w2, sizeof w1) == 0);
  CU_ASSERT(w1[4] != 0.01f * 4 - 0.02f);   /* the rows moved */
  rt_optim_free(o1);
  rt_optim_free(o2);
}

static void test_init(void) {
  static const char *const kv[] = {"value"}, *const ks[] = {"std", "mean"}, *const ka[] = {"a"};
  static const double v3[] = {3}, vn[] = {2, 5}, va[] = {0.5};
  DmcParam ps[] = {
      {.name = "z", .rank = 1, .shape = {4}, .size = 4, .offset = 0, .init = {"zeros", 0, 0, 0, 0}, .lag_of = -1},
      {.name = "o", .rank = 1, .shape = {4}, .size = 4, .offset = 4, .init = {"ones", 0, 0, 0, 0}, .lag_of = -1},
      {.name = "c", .rank = 1, .shape = {4}, .size = 4, .offset = 8, .init = {"const", 1, kv, v3, 0}, .lag_of = -1},
      {.name = "n", .rank = 1, .shape = {20000}, .size = 20000, .offset = 12, .init = {"normal", 2, ks, vn, 0}, .lag_of = -1},
      {.name = "u", .rank = 1, .shape = {1000}, .size = 1000, .offset = 20012, .init = {"uniform", 1, ka, va, 0}, .lag_of = -1},
      {.name = "x", .rank = 2, .shape = {10, 20}, .size = 200, .offset = 21012, .lag_of = -1},
      {.name = "t", .rank = 2, .shape = {100, 4}, .size = 400, .offset = 21212, .is_table = 1, .lag_of = -1},
      {.name = "b", .rank = 1, .shape = {5}, .size = 5, .offset = 21612, .lag_of = -1},
      {.name = "x_lag", .rank = 2, .shape = {10, 20}, .size = 200, .offset = 21617, .lag_of = 5, .lag_every = 3},
  };
  DmcModel m = {.nparams = 9, .params = ps, .params_size = 21817};
  static float w[21817];
  RtError err;
  CU_ASSERT_FATAL(rt_params_init(&m, w, 42, &err) == 0);
  CU_ASSERT(w[0] == 0 && w[3] == 0 && w[4] == 1 && w[7] == 1 && w[8] == 3 && w[11] == 3);
  double s = 0, s2 = 0;
  for (int i = 0; i < 20000; i++) s += w[12 + i], s2 += (double)w[12 + i] * w[12 + i];
  double mean = s / 20000, sd = sqrt(s2 / 20000 - mean * mean);
  NEAR(mean, 5, 0.05);
  NEAR(sd, 2, 0.05);
  int in_range = 1, spread = 0;
  for (int i = 0; i < 1000; i++) in_range &= fabsf(w[20012 + i]) <= 0.5f, spread |= fabsf(w[20012 + i]) > 0.4f;
  CU_ASSERT(in_range && spread);
  float lim = sqrtf(6.0f / 30.0f);
  in_range = 1;
  for (int i = 0; i < 200; i++) in_range &= fabsf(w[21012 + i]) <= lim;
  CU_ASSERT(in_range); /* xavier by default for a matrix */
  s2 = 0;
  for (int i = 0; i < 400; i++) s2 += (double)w[21212 + i] * w[21212 + i];
  NEAR(sqrt(s2 / 400), 0.01, 0.003); /* normal(0.01) by default for a table */
  CU_ASSERT(w[21612] == 0 && w[21616] == 0); /* zeros by default for a vector */
  CU_ASSERT(memcmp(w + 21617, w + 21012, 200 * sizeof *w) == 0); /* lag starts as a copy */
  /* the same seed gives the same weights; the streams are per name */
  static float w2[21817];
  CU_ASSERT(rt_params_init(&m, w2, 42, &err) == 0);
  CU_ASSERT(memcmp(w, w2, sizeof w) == 0);
  /* lagged copies refresh every 3 steps */
  w[21012] = 77;
  rt_params_lag(&m, w, 4);
  CU_ASSERT(w[21617] != 77);
  rt_params_lag(&m, w, 6);
  CU_ASSERT(w[21617] == 77);
  /* unknown names and options */
  ps[0].init.name = "glorot";
  CU_ASSERT(rt_params_init(&m, w, 1, &err) == -1);
  CU_ASSERT(contains(err.msg, "param z: unknown initialiser 'glorot'"));
  ps[0].init = (DmcRecord){"normal", 1, kv, v3, 0};
  CU_ASSERT(rt_params_init(&m, w, 1, &err) == -1);
  CU_ASSERT(contains(err.msg, "normal() has no option 'value'"));
}

static void test_init_from_checkpoint(void) {
  float src[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[2] = {2, 3};
  RtError err;
  RtCkptWriter *cw = rt_ckpt_writer_new();
  CU_ASSERT(rt_ckpt_add(cw, "emb", src, 2, shape, &err) == 0);
  const char *path = tmp_path("fm.ckpt");
  CU_ASSERT_FATAL(rt_ckpt_write(cw, path, &err) == 0);
  rt_ckpt_writer_free(cw);
  static const char *const keys[] = {NULL, NULL};
  static const double vals[] = {0, 0};
  const char *strs[] = {path, "emb"};
  DmcParam p = {.name = "v", .rank = 2, .shape = {2, 3}, .size = 6, .offset = 0,
                .init = {"checkpoint", 2, keys, vals, strs}, .lag_of = -1};
  DmcModel m = {.nparams = 1, .params = &p, .params_size = 6};
  float w[6] = {0};
  CU_ASSERT(rt_params_init(&m, w, 1, &err) == 0);
  CU_ASSERT(memcmp(w, src, sizeof w) == 0);
  p.shape[1] = 2, p.size = 4;
  CU_ASSERT(rt_params_init(&m, w, 1, &err) == -1);
  CU_ASSERT(contains(err.msg, "param v: init checkpoint("));
  CU_ASSERT(contains(err.msg, "has shape [2,3], this program expects [2,2]"));
  strs[1] = "missing";
  p.shape[1] = 3, p.size = 6;
  CU_ASSERT(rt_params_init(&m, w, 1, &err) == -1);
  CU_ASSERT(contains(err.msg, "no tensor 'missing'"));
}

static void test_nonfinite_scan(void) {
  DmcParam ps[] = {{.name = "a", .rank = 1, .shape = {3}, .size = 3, .offset = 0, .lag_of = -1},
                   {.name = "b", .rank = 1, .shape = {3}, .size = 3, .offset = 3, .lag_of = -1}};
  DmcModel m = {.nparams = 2, .params = ps, .params_size = 6};
  float w[6] = {0};
  int64_t el = -1;
  CU_ASSERT_EQUAL(rt_params_nonfinite(&m, w, &el), -1);
  w[4] = NAN;
  w[5] = INFINITY;
  CU_ASSERT_EQUAL(rt_params_nonfinite(&m, w, &el), 1);
  CU_ASSERT_EQUAL(el, 1);
}

/* ---- learning-rate schedules, the multiplier in every optimizer, clipping ---- */

static void test_schedules(void) {
  RtSchedKind k;
  CU_ASSERT(rt_sched_parse("cosine", &k) == 0 && k == RT_SCHED_COSINE);
  CU_ASSERT(rt_sched_parse("step", &k) == 0 && k == RT_SCHED_STEP);
  CU_ASSERT(rt_sched_parse("exp", &k) == -1);
  CU_ASSERT_STRING_EQUAL(rt_sched_name(RT_SCHED_LINEAR), "linear");
  RtSched s = {RT_SCHED_CONSTANT, 0, 100, 0, 1};
  NEAR(rt_sched_mult(&s, 1, 1), 1, 1e-12);
  NEAR(rt_sched_mult(&s, 100, 9), 1, 1e-12);
  s.warmup = 10; /* linear warm-up from 0: t / W */
  NEAR(rt_sched_mult(&s, 1, 1), 0.1, 1e-12);
  NEAR(rt_sched_mult(&s, 5, 1), 0.5, 1e-12);
  NEAR(rt_sched_mult(&s, 10, 1), 1, 1e-12);
  NEAR(rt_sched_mult(&s, 11, 1), 1, 1e-12);
  /* linear over T = 100 steps to 0: the first step at 1, halfway at 0.5 */
  s = (RtSched){RT_SCHED_LINEAR, 0, 100, 0, 1};
  NEAR(rt_sched_mult(&s, 1, 1), 1, 1e-12);
  NEAR(rt_sched_mult(&s, 51, 1), 0.5, 1e-12);
  NEAR(rt_sched_mult(&s, 100, 1), 0.01, 1e-12);
  NEAR(rt_sched_mult(&s, 150, 1), 0, 1e-12); /* past the plan (cannot happen): the floor */
  /* with a warm-up of 10 and a floor of 0.1 */
  s = (RtSched){RT_SCHED_LINEAR, 10, 110, 0.1, 1};
  NEAR(rt_sched_mult(&s, 5, 1), 0.5, 1e-12);
  NEAR(rt_sched_mult(&s, 10, 1), 1, 1e-12);
  NEAR(rt_sched_mult(&s, 11, 1), 1, 1e-12);
  NEAR(rt_sched_mult(&s, 61, 1), 0.55, 1e-12);
  NEAR(rt_sched_mult(&s, 110, 1), 0.1 + 0.9 * 0.01, 1e-12);
  /* cosine: (1 + cos(pi p)) / 2 */
  s = (RtSched){RT_SCHED_COSINE, 0, 100, 0, 1};
  NEAR(rt_sched_mult(&s, 1, 1), 1, 1e-12);
  NEAR(rt_sched_mult(&s, 26, 1), 0.8535533905932737, 1e-12);
  NEAR(rt_sched_mult(&s, 51, 1), 0.5, 1e-12);
  NEAR(rt_sched_mult(&s, 100, 1), 0.00024671981713420, 1e-12);
  s.min = 0.2;
  NEAR(rt_sched_mult(&s, 51, 1), 0.6, 1e-12);
  /* step: halved every 2 epochs, times the warm-up */
  s = (RtSched){RT_SCHED_STEP, 0, 100, 0, 2};
  NEAR(rt_sched_mult(&s, 1, 1), 1, 1e-12);
  NEAR(rt_sched_mult(&s, 20, 2), 1, 1e-12);
  NEAR(rt_sched_mult(&s, 30, 3), 0.5, 1e-12);
  NEAR(rt_sched_mult(&s, 50, 5), 0.25, 1e-12);
  s.warmup = 4;
  NEAR(rt_sched_mult(&s, 2, 1), 0.5, 1e-12);
}

static void test_lr_mult_every_optimizer(void) {
  DmcModel m = small_model("sgd");
  RtOptim *o = rt_optim_new(&m, 0, 2, NULL);
  CU_ASSERT_FATAL(o != NULL);
  CU_ASSERT_EQUAL(o->lr_mult, 1.0);
  o->lr_mult = 0.25;
  float w[27] = {0}, g[27] = {0}, ws[16] = {0};
  int32_t a[6] = {2, 0, 0, 0, 0, 0}, b[2] = {3, 0};
  const void *in[2] = {a, b};
  ws[0] = 4, ws[1] = 8;       /* row 2 of the table (sparse sgd, lr 1) */
  g[12] = 2;                  /* d (its own sgd, lr 0.1) */
  rt_optim_step(o, w, g, ws, in, 2);
  NEAR(w[4], -1, 1e-6);       /* 0.25 * 1 * 4 */
  NEAR(w[5], -2, 1e-6);
  NEAR(w[12], -0.05, 1e-7);   /* 0.25 * 0.1 * 2 */
  CU_ASSERT(o->cfg[0].lr == 1.0 && o->cfg[1].lr == 0.1); /* the configured lrs are untouched */
  rt_optim_free(o);
  /* adam on the dense side: its first step is lr * mult * sign(g) */
  DmcParam p = {.name = "v", .rank = 1, .shape = {2}, .size = 2, .offset = 0, .lag_of = -1};
  DmcModel dm = {.nparams = 1, .params = &p, .params_size = 2,
                 .optimizer = {"adam", 1, s_klr, s_lr01, NULL}};
  o = rt_optim_new(&dm, 0, 1, NULL);
  CU_ASSERT_FATAL(o != NULL);
  o->lr_mult = 0.5;
  float v[2] = {0, 0}, gv[2] = {1, -3};
  rt_optim_step(o, v, gv, NULL, NULL, 1);
  NEAR(v[0], -0.05, 1e-6);
  NEAR(v[1], 0.05, 1e-6);
  rt_optim_free(o);
}

static void test_clip(void) {
  DmcParam ps[] = {
      {.name = "a", .rank = 1, .shape = {3}, .size = 3, .offset = 0, .lag_of = -1},
      {.name = "T", .rank = 2, .shape = {2, 2}, .size = 4, .offset = 3, .is_table = 1, .lag_of = -1},
      {.name = "b", .rank = 1, .shape = {1}, .size = 1, .offset = 7, .lag_of = -1},
      {.name = "a_lag", .rank = 1, .shape = {3}, .size = 3, .offset = 8, .lag_of = 0, .lag_every = 1},
  };
  DmcModel m = {.nparams = 4, .params = ps, .params_size = 11};
  float g[11] = {3, 0, 0, 100, 100, 100, 100, 4, 50, 50, 50};
  /* the norm over a and b together: 5; tables and lagged copies are not part of it */
  NEAR(rt_grads_clip(&m, g, 10), 5, 1e-12);
  CU_ASSERT(g[0] == 3 && g[7] == 4); /* under the limit: untouched */
  NEAR(rt_grads_clip(&m, g, 2.5), 5, 1e-12);
  NEAR(g[0], 1.5, 1e-6);
  NEAR(g[7], 2, 1e-6);
  CU_ASSERT(g[1] == 0 && g[3] == 100 && g[6] == 100 && g[8] == 50); /* tables are not clipped */
  NEAR(rt_grads_clip(&m, g, 2.5), 2.5, 1e-6);
}

void add_optim_tests(void) {
  CU_pSuite s = CU_add_suite("optim", NULL, NULL);
  CU_add_test(s, "adam by hand", test_adam_by_hand);
  CU_add_test(s, "adam's memo of bias corrections", test_adam_memo);
  CU_add_test(s, "adagrad by hand", test_adagrad_by_hand);
  CU_add_test(s, "ftrl by hand", test_ftrl_by_hand);
  CU_add_test(s, "sgd momentum and l2", test_sgd_momentum_and_l2);
  CU_add_test(s, "optimizer records and errors", test_parse_errors);
  CU_add_test(s, "sparse rows summed, masked rows kept", test_sparse_rows);
  CU_add_test(s, "lazy adam counts steps per row", test_lazy_adam_rows);
  CU_add_test(s, "factored sparse rows update as the rows", test_factored_rows);
  CU_add_test(s, "initialisers and lagged copies", test_init);
  CU_add_test(s, "init from another checkpoint", test_init_from_checkpoint);
  CU_add_test(s, "non-finite parameter scan", test_nonfinite_scan);
  CU_add_test(s, "learning-rate schedules", test_schedules);
  CU_add_test(s, "the lr multiplier reaches every optimizer", test_lr_mult_every_optimizer);
  CU_add_test(s, "gradient clipping: dense only", test_clip);
}
