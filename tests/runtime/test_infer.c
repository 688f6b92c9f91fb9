/* test_infer.c -- rt_infer: a batch in forward calls over consecutive rows. A
 * descriptor whose workspace takes 1 MiB per row (so a call takes the fewest
 * rows, RT_INFER_MIN_ROWS) and whose forward writes a known function of each
 * row's input, checking that it stays inside its workspace and recording its
 * calls. The outputs and losses must be those of one call over the batch.
 */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "kernels.h"
#include "test.h"

#define PER_ROW ((int64_t)1 << 18)   /* floats of workspace per row: 1 MiB */
#define OUT 3                        /* output elements per row */

static const DmcInput i_inputs[] = {{"id", DMC_I32, 2}, {"x", DMC_F32, 1}};
static const DmcOutput i_outputs[] = {{"unused", 1, 0, 0}, {"y", OUT, 16, PER_ROW - OUT}};
static int64_t i_ws(int b) { return 16 + PER_ROW * b; }

static int calls, call_rows[16];
static uint64_t call_seed[16], call_version[16];
static int64_t ws_floats;   /* the workspace the caller allocated */

/* y[j] = id0 + 10 id1 + x + j, loss = x / 2, at the outputs' places for c->batch rows */
static void i_forward(const DmcCtx *c) {
  CU_ASSERT_FATAL(i_ws(c->batch) <= ws_floats);
  if (calls < 16) call_rows[calls] = c->batch, call_seed[calls] = c->seed, call_version[calls] = c->params_version;
  calls++;
  const int32_t *id = c->inputs[0];
  const float *x = c->inputs[1];
  float *y = dmc_ws_at(c, i_outputs[1].fixed, i_outputs[1].per_row);
  for (int b = 0; b < c->batch; b++) {
    for (int j = 0; j < OUT; j++) y[b * OUT + j] = (float)(id[2 * b] + 10 * id[2 * b + 1]) + x[b] + (float)j;
    c->loss[b] = x[b] / 2;
  }
}

static DmcModel i_model(void) {
  return (DmcModel){.abi_version = DMC_ABI_VERSION, .name = "chunked", .ninputs = 2, .inputs = i_inputs,
                    .noutputs = 2, .outputs = i_outputs, .workspace_floats = i_ws, .forward = i_forward,
                    .batch = 2, .retrieve_output = -1, .retrieve_table = -1, .retrieve_target = -1,
                    .heldout_output = -1, .heldout_feature = -1};
}

/* version: the caller's params_version (0: none) */
static void run_version(int batch, int want_calls, uint64_t version) {
  DmcModel m = i_model();
  int rows = rt_infer_rows(&m, batch);
  CU_ASSERT(rows == (batch < RT_INFER_MIN_ROWS ? batch : RT_INFER_MIN_ROWS));
  ws_floats = m.workspace_floats(rows);
  float *ws = calloc((size_t)ws_floats, sizeof *ws), *loss = calloc((size_t)batch, sizeof *loss),
        *y = calloc((size_t)batch * OUT, sizeof *y), *x = calloc((size_t)batch, sizeof *x);
  int32_t *id = calloc((size_t)batch * 2, sizeof *id);
  CU_ASSERT_FATAL(ws && loss && y && x && id);
  for (int b = 0; b < batch; b++) id[2 * b] = b % 7, id[2 * b + 1] = b / 7, x[b] = (float)b / 4;
  const void *in[2] = {id, x};
  DmcCtx ctx = {.batch = batch, .training = 0, .seed = 42, .inputs = in, .workspace = ws, .loss = loss,
                .params_version = version};
  calls = 0;
  rt_infer(&m, &ctx, 1, y);
  CU_ASSERT(calls == want_calls);
  int sum = 0;
  for (int c = 0; c < calls && c < 16; c++) {
    sum += call_rows[c];
    CU_ASSERT(call_rows[c] <= rows);
    CU_ASSERT(abs(call_rows[c] - call_rows[0]) <= 1);   /* calls of (nearly) equal size */
    CU_ASSERT(c == 0 ? call_seed[c] == 42 : call_seed[c] != 42 && call_seed[c] != call_seed[c - 1]);
    /* the parameters do not change during the call: its calls share one version, the caller's if any */
    CU_ASSERT(version ? call_version[c] == version : calls == 1 ? call_version[c] == 0
                                                                 : call_version[c] != 0 && call_version[c] == call_version[0]);
  }
  CU_ASSERT(sum == batch);
  int bad = 0;
  for (int b = 0; b < batch; b++) {
    for (int j = 0; j < OUT; j++) bad += y[b * OUT + j] != (float)(b % 7 + 10 * (b / 7)) + (float)b / 4 + (float)j;
    bad += loss[b] != (float)b / 8;
  }
  CU_ASSERT(bad == 0);
  free(ws), free(loss), free(y), free(x), free(id);
}

static void run(int batch, int want_calls) {
  run_version(batch, want_calls, 0);
  run_version(batch, want_calls, 77);
}

static void test_small_batch_one_call(void) { run(100, 1); }

/* rt_infer_version: never the same number twice, never 0 (no version) */
static void test_versions_differ(void) {
  uint64_t a = rt_infer_version(), b = rt_infer_version();
  CU_ASSERT(a != 0 && b != 0 && a != b);
}
static void test_large_batch_in_calls(void) {
  run(RT_INFER_MIN_ROWS, 1);
  run(1024, 1024 / RT_INFER_MIN_ROWS);
  run(3 * RT_INFER_MIN_ROWS + 1, 4);   /* 4 calls of 96 or 97 rows, not 3 of 128 and one of 1 */
}

/* dmc_params_stale: a program's values of the parameters alone are computed again
 * unless the workspace's last call was an inference call on the same block and version */
static void test_params_stale(void) {
  float ws[DMC_STAMP_FLOATS] = {0}, a[1], b[1];
  DmcCtx c = {.batch = 1, .params = a, .workspace = ws, .params_version = 5};
  CU_ASSERT(dmc_params_stale(&c) == 1);
  CU_ASSERT(dmc_params_stale(&c) == 0);
  c.params = b;
  CU_ASSERT(dmc_params_stale(&c) == 1);   /* another block */
  c.params_version = 6;
  CU_ASSERT(dmc_params_stale(&c) == 1);   /* another version */
  c.training = 1;
  CU_ASSERT(dmc_params_stale(&c) == 1);   /* training: always, and the stamp cleared */
  c.training = 0;
  CU_ASSERT(dmc_params_stale(&c) == 1);
  c.params_version = 0;
  CU_ASSERT(dmc_params_stale(&c) == 1);   /* no version: always */
  CU_ASSERT(dmc_params_stale(&c) == 1);
}

void add_infer_tests(void) {
  CU_pSuite s = CU_add_suite("inference in forward calls over consecutive rows", NULL, NULL);
  CU_add_test(s, "a batch within a call's rows: one call", test_small_batch_one_call);
  CU_add_test(s, "a larger batch: calls of equal size, each row's output and loss", test_large_batch_in_calls);
  CU_add_test(s, "parameter versions: fresh ones differ", test_versions_differ);
  CU_add_test(s, "values of the parameters alone: when they are computed again", test_params_stale);
}
