/* test_groups.c -- group_by models (I-AutoRec): rows gathered into one example
 * per key (order of first appearance, pairs in file order, keys across
 * files), the oversize group (an error, or skipped and counted), missing
 * columns and empty keys; held-out rows scored from input groups (the
 * default for unseen keys and ids, clipping, RMSE); the input groups'
 * round trip through a checkpoint and a damaged blob; `--input` refused for
 * a model without groups. The descriptor is built here; its forward pass
 * writes a known function of the input so predictions can be checked.
 */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app.h"
#include "checkpoint.h"
#include "dataset.h"
#include "heldout.h"
#include "model.h"
#include "modelckpt.h"
#include "test.h"

#define V 10 /* users in the vocabulary; the output has one element each */
#define N 3  /* pairs one group holds */

static const char *const g_u[] = {"u"};
static const DmcFeature g_features[] = {
    {.name = "r", .kind = DMC_FEAT_WEIGHTED, .len = N, .ncolumns = 1, .columns = g_u, .vocab = V,
     .min_count = 1, .vocab_of = 0, .input = 0, .weights_input = 1, .value_column = "v"},
};
static const DmcInput g_inputs[] = {{"r", DMC_I32, N}, {"r.w", DMC_F32, N}};
static const DmcOutput g_outputs[] = {{"r_hat", V, 0, 0}}; /* at the start of the workspace */
static int64_t g_ws(int b) { return (int64_t)V * b; }

/* r_hat[j] = (the example's first value) + j / 4: predictions are easy to check. */
static void g_forward(const DmcCtx *c) {
  const float *w = c->inputs[1];
  for (int b = 0; b < c->batch; b++) {
    for (int j = 0; j < V; j++) c->workspace[b * V + j] = w[b * N] + 0.25f * (float)j;
    c->loss[b] = 0;
  }
}
static void g_backward(const DmcCtx *c) { (void)c; }

static DmcModel g_model(void) {
  return (DmcModel){.abi_version = DMC_ABI_VERSION, .name = "grouped", .delimiter = ',', .nfeatures = 1,
                    .features = g_features, .ninputs = 2, .inputs = g_inputs, .noutputs = 1,
                    .outputs = g_outputs, .workspace_floats = g_ws, .forward = g_forward,
                    .backward = g_backward, .batch = 2, .retrieve_output = -1, .retrieve_table = -1,
                    .retrieve_target = -1, .group_by = "g", .heldout_output = 0, .heldout_feature = 0};
}

static const char *put_csv(const char *name, const char *text) {
  const char *path = tmp_path(name);
  write_file(path, text, strlen(text));
  return path;
}

/* The encoder after counting paths (NULL and *err on failure). */
static RtEncoder *counted(const DmcModel *m, const char *const *paths, int n, RtError *err) {
  RtEncoder *e = rt_enc_new(m);
  RtLoadOpts lo = {0, 0, NULL};
  if (!e || rt_data_count(e, paths, n, &lo, err)) {
    rt_enc_free(e);
    return NULL;
  }
  return e;
}

/* Users 1 and 2 twice each, 3 once: indices 2, 3, 4 (frequency, then smaller id). */
static const char *TRAIN_A = "g,u,v\n5,1,4\n7,2,3\n5,3,2.5\n";
static const char *TRAIN_B = "g,u,v\n7,1,1\n9,2,5\n5,,\n";

static void test_gather(void) {
  DmcModel m = g_model();
  RtError err = {""};
  CU_ASSERT_FATAL(rt_model_check(&m, &err) == 0);
  const char *paths[2] = {put_csv("ga.csv", TRAIN_A), put_csv("gb.csv", TRAIN_B)};
  RtEncoder *e = counted(&m, paths, 2, &err);
  CU_ASSERT_FATAL(e != NULL);
  RtLoadOpts lo = {0, 0, NULL};
  RtData *d = rt_data_load(e, paths, 2, &lo, &err);
  CU_ASSERT_FATAL(d != NULL);
  /* keys in order of first appearance; key 7 and key 5 continue in the second file */
  CU_ASSERT_EQUAL(d->n, 3);
  int64_t keys[3] = {5, 7, 9};
  int32_t gathered[3] = {3, 2, 1};
  int32_t ids[3 * N] = {2, 4, 0, 3, 2, 0, 3, 0, 0};   /* the empty user keeps its slot as padding */
  float vals[3 * N] = {4, 2.5f, 0, 3, 1, 0, 5, 0, 0};
  CU_ASSERT(memcmp(d->key, keys, sizeof keys) == 0);
  CU_ASSERT(memcmp(d->gathered, gathered, sizeof gathered) == 0);
  CU_ASSERT(memcmp(d->ids[0], ids, sizeof ids) == 0);
  CU_ASSERT(memcmp(d->vals[0], vals, sizeof vals) == 0);
  /* the same files in the same order give the same examples */
  RtData *again = rt_data_load(e, paths, 2, &lo, &err);
  CU_ASSERT_FATAL(again != NULL);
  CU_ASSERT(again->n == 3 && memcmp(again->ids[0], ids, sizeof ids) == 0);
  rt_data_free(again);
  rt_data_free(d);
  rt_enc_free(e);
}

static void test_oversize_and_columns(void) {
  DmcModel m = g_model();
  RtError err = {""};
  const char *big = put_csv("big.csv", "g,u,v\n5,1,1\n5,2,2\n6,1,3\n5,3,3\n5,4,4\n5,5,5\n");
  RtEncoder *e = counted(&m, &big, 1, &err);
  CU_ASSERT_FATAL(e != NULL);
  RtLoadOpts lo = {0, 0, NULL};
  CU_ASSERT(rt_data_load(e, &big, 1, &lo, &err) == NULL);
  CU_ASSERT(contains(err.msg, "big.csv:6: group g 5 has more than 3 rows: feature r holds 3 (u, v) pairs"));
  CU_ASSERT(contains(err.msg, "HINT:"));
  lo.skip_bad = 1; /* the group keeps its first 3 rows; the others are counted */
  RtData *d = rt_data_load(e, &big, 1, &lo, &err);
  CU_ASSERT_FATAL(d != NULL);
  CU_ASSERT(d->n == 2 && d->gathered[0] == 3 && d->gathered[1] == 1);
  CU_ASSERT_EQUAL(d->bad[RT_BAD_LIST], 2);
  CU_ASSERT(contains(d->first_bad[RT_BAD_LIST], "big.csv:6:"));
  rt_data_free(d);

  const char *nokey = put_csv("nokey.csv", "u,v\n1,2\n");
  lo.skip_bad = 0;
  CU_ASSERT(rt_data_load(e, &nokey, 1, &lo, &err) == NULL);
  CU_ASSERT(contains(err.msg, "nokey.csv: no column 'g' (group_by)"));
  const char *noval = put_csv("noval.csv", "g,u\n1,2\n");
  CU_ASSERT(rt_data_load(e, &noval, 1, &lo, &err) == NULL);
  CU_ASSERT(contains(err.msg, "noval.csv: no column 'v' (values of feature r)"));
  const char *empty = put_csv("emptykey.csv", "g,u,v\n1,2,3\n ,2,3\n");
  CU_ASSERT(rt_data_load(e, &empty, 1, &lo, &err) == NULL);
  CU_ASSERT(contains(err.msg, "emptykey.csv:3: column g: empty group_by key"));
  const char *noval2 = put_csv("emptyval.csv", "g,u,v\n1,2,\n");
  CU_ASSERT(rt_data_load(e, &noval2, 1, &lo, &err) == NULL);
  CU_ASSERT(contains(err.msg, "emptyval.csv:2: column v: empty value (feature r pairs it with u 2)"));
  rt_enc_free(e);
}

static void test_heldout(void) {
  DmcModel m = g_model();
  RtError err = {""};
  const char *paths[2] = {put_csv("ha.csv", TRAIN_A), put_csv("hb.csv", TRAIN_B)};
  RtEncoder *e = counted(&m, paths, 2, &err);
  CU_ASSERT_FATAL(e != NULL);
  RtLoadOpts lo = {0, 0, NULL};
  RtData *in = rt_data_load(e, paths, 2, &lo, &err);
  CU_ASSERT_FATAL(in != NULL);
  /* group 5 starts with value 4, 7 with 3, 9 with 5; users 1, 2, 3 are indices 2, 3, 4 */
  const char *test = put_csv("held.csv", "g,u,v\n"
                                         "7,3,4\n"     /* 3 + 4/4 = 4 */
                                         "8,1,2\n"     /* no group 8: the mean */
                                         "5,99,1\n"    /* user out of the vocabulary: the mean */
                                         "9,3,5\n"     /* 5 + 1 = 6, clipped to the input max 5 */
                                         "5,1,4.5\n"); /* 4 + 0.5 */
  RtHeldout *h = rt_heldout_load(e, &test, 1, &lo, in, &err);
  CU_ASSERT_FATAL(h != NULL);
  double mean = (4 + 3 + 2.5 + 1 + 5) / 5.0;
  CU_ASSERT(h->n == 5 && h->has_value && h->defaulted == 2);
  CU_ASSERT(fabs(h->fallback - mean) < 1e-9 && h->lo == 1 && h->hi == 5);
  CU_ASSERT(h->group[0] == 1 && h->group[1] == -1 && h->id[2] == RT_VOCAB_OOV);
  CU_ASSERT(h->nneeded == 3); /* groups 5, 7, 9 */
  RtScorer *s = rt_scorer_new(&m, e, 2, 2, &err);
  CU_ASSERT_FATAL(s != NULL);
  float pred[5];
  RtEvalResult r;
  CU_ASSERT_FATAL(rt_heldout_eval(h, s, in, NULL, 1, pred, &r, &err) == 0);
  float want[5] = {4, (float)mean, (float)mean, 5, 4.5f};
  for (int i = 0; i < 5; i++) CU_ASSERT(fabsf(pred[i] - want[i]) < 1e-6f);
  double sq = 0, ab = 0, y[5] = {4, 2, 1, 5, 4.5};
  for (int i = 0; i < 5; i++) sq += (want[i] - y[i]) * (want[i] - y[i]), ab += fabs(want[i] - y[i]);
  CU_ASSERT(r.has_heldout && r.has_label && r.rows == 5 && r.defaulted == 2);
  CU_ASSERT(fabs(r.rmse - sqrt(sq / 5)) < 1e-6 && fabs(r.mae - ab / 5) < 1e-6);
  rt_scorer_free(s);
  rt_heldout_free(h);

  /* predict: the value column may be absent; then there is no RMSE */
  const char *novalue = put_csv("held2.csv", "u,g\n3,7\n");
  RtLoadOpts lp = {0, RT_BIND_LABEL_OPTIONAL, NULL};
  h = rt_heldout_load(e, &novalue, 1, &lp, in, &err);
  CU_ASSERT_FATAL(h != NULL);
  s = rt_scorer_new(&m, e, 2, 1, &err);
  CU_ASSERT_FATAL(rt_heldout_eval(h, s, in, NULL, 1, pred, &r, &err) == 0);
  CU_ASSERT(!h->has_value && !r.has_label && isnan(r.rmse) && fabsf(pred[0] - 4) < 1e-6f);
  rt_scorer_free(s);
  rt_heldout_free(h);
  rt_data_free(in);
  rt_enc_free(e);
}

static void test_checkpoint_groups(void) {
  DmcModel m = g_model();
  RtError err = {""};
  const char *paths[2] = {put_csv("ca.csv", TRAIN_A), put_csv("cb.csv", TRAIN_B)};
  RtEncoder *e = counted(&m, paths, 2, &err);
  CU_ASSERT_FATAL(e != NULL);
  RtLoadOpts lo = {0, 0, NULL};
  RtData *d = rt_data_load(e, paths, 2, &lo, &err);
  CU_ASSERT_FATAL(d != NULL);
  const char *ck = tmp_path("g.ckpt");
  RtCkptInfo info = {1, "rmse", 0.9, d};
  CU_ASSERT_FATAL(rt_model_save(&m, NULL, e, &info, ck, &err) == 0);
  RtEncoder *e2 = rt_enc_new(&m);
  CU_ASSERT_FATAL(rt_model_load(&m, NULL, e2, NULL, ck, &err) == 0);
  RtData *back = rt_model_load_inputs(e2, ck, &err);
  CU_ASSERT_FATAL(back != NULL);
  CU_ASSERT(back->n == d->n && memcmp(back->key, d->key, 3 * sizeof *d->key) == 0);
  CU_ASSERT(memcmp(back->gathered, d->gathered, 3 * sizeof *d->gathered) == 0);
  CU_ASSERT(memcmp(back->ids[0], d->ids[0], 3 * N * sizeof(int32_t)) == 0);
  CU_ASSERT(memcmp(back->vals[0], d->vals[0], 3 * N * sizeof(float)) == 0);
  rt_data_free(back);

  /* a checkpoint without groups, and one whose blob claims more groups than it holds */
  info.inputs = NULL;
  CU_ASSERT_FATAL(rt_model_save(&m, NULL, e, &info, ck, &err) == 0);
  CU_ASSERT(rt_model_load_inputs(e2, ck, &err) == NULL);
  CU_ASSERT(contains(err.msg, "holds no input groups") && contains(err.msg, "--input"));
  RtCkptWriter *w = rt_ckpt_writer_new();
  uint8_t blob[20] = {'D', 'M', 'C', 'G', 1, 0, 0, 0, 1, 0, 0, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0};
  CU_ASSERT_FATAL(rt_ckpt_set_blob(w, "dmc.groups", blob, sizeof blob, &err) == 0);
  CU_ASSERT_FATAL(rt_ckpt_write(w, ck, &err) == 0);
  rt_ckpt_writer_free(w);
  CU_ASSERT(rt_model_load_inputs(e2, ck, &err) == NULL);
  CU_ASSERT(contains(err.msg, "1000 groups do not fit") && contains(err.msg, "damaged"));
  rt_enc_free(e2);
  rt_data_free(d);
  rt_enc_free(e);
}

/* rt_main(m, argv) in a child process; its exit status, stdout and stderr in out/err. */
static char out[8192], err_text[8192];
static int run_main(const DmcModel *m, int argc, const char **argv) {
  const char *po = tmp_path("main.out"), *pe = tmp_path("main.err");
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(po, "w", stdout) || !freopen(pe, "w", stderr)) _exit(99);
    int r = rt_main(m, argc, (char **)argv);
    fflush(NULL);
    _exit(r);
  }
  int status = -1;
  waitpid(pid, &status, 0);
  size_t n;
  char *o = read_whole(po, &n), *e = read_whole(pe, &n);
  snprintf(out, sizeof out, "%s", o);
  snprintf(err_text, sizeof err_text, "%s", e);
  free(o);
  free(e);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_program(void) {
  DmcModel m = g_model();
  char train[512], test[512], query[512], ck[512], in[512]; /* tmp_path's buffers rotate */
  snprintf(train, sizeof train, "%s", put_csv("ptrain.csv", TRAIN_A));
  snprintf(test, sizeof test, "%s", put_csv("ptest.csv", "g,u,v\n7,3,4\n8,1,2\n"));
  snprintf(query, sizeof query, "%s", put_csv("pquery.csv", "u,g\n1,5\n3,9\n"));
  snprintf(ck, sizeof ck, "%s", tmp_path("p.ckpt"));
  snprintf(in, sizeof in, "%s", put_csv("pin.csv", TRAIN_B));
  const char *tr[] = {"grouped", "train", train, "--valid", test, "--epochs", "2", "-o", ck, "-q"};
  CU_ASSERT_EQUAL_FATAL(run_main(&m, 10, tr), 0);
  CU_ASSERT(contains(out, "valid rmse") && contains(out, "saved"));
  CU_ASSERT(contains(err_text, "1 of 2 held-out rows have no input group"));
  /* eval without the training file: the groups travel in the checkpoint */
  const char *ev[] = {"grouped", "eval", test, "-c", ck};
  CU_ASSERT_EQUAL(run_main(&m, 5, ev), 0);
  double mean = (4 + 3 + 2.5) / 3.0, rmse = sqrt(((4 - 4.0) * (4 - 4.0) + (2 - mean) * (2 - mean)) / 2);
  char want[64];
  snprintf(want, sizeof want, "rmse     %.4f\n", rmse); /* 7,3: 3 + 4/4 = 4; 8 has no group */
  CU_ASSERT(contains(out, "rows     2\n") && contains(out, want));
  /* predict needs no value column; 5,1: 4 + 2/4, clipped to the input max 4; 9 has no group */
  const char *pr[] = {"grouped", "predict", query, "-c", ck};
  CU_ASSERT_EQUAL(run_main(&m, 5, pr), 0);
  snprintf(want, sizeof want, "4\n%.6g\n", mean);
  CU_ASSERT_STRING_EQUAL(out, want);
  /* --input gives other groups (values 1 and 5): 5 starts with an empty user (value 0):
     0 + 2/4 clipped to 1; 9 now has a group: 5 + 4/4 clipped to 5 */
  const char *pi[] = {"grouped", "predict", query, "-c", ck, "--input", in};
  CU_ASSERT_EQUAL(run_main(&m, 7, pi), 0);
  CU_ASSERT_STRING_EQUAL(out, "1\n5\n");
  const char *st[] = {"grouped", "train", train, "--stream", "-o", ck};
  CU_ASSERT_EQUAL(run_main(&m, 6, st), 1);
  CU_ASSERT(contains(err_text, "--stream: this model gathers the rows of each g into one example"));
}

static void test_input_needs_groups(void) {
  const char *argv[] = {"lr", "eval", "x.csv", "--input", "y.csv"};
  CU_ASSERT_EQUAL(run_main(&dmc_model, 5, argv), 2); /* the fixture has no group_by */
  CU_ASSERT(contains(err_text, "--input gives the input groups of a group_by model"));
}

void add_groups_tests(void) {
  CU_pSuite s = CU_add_suite("groups", NULL, NULL);
  CU_add_test(s, "rows gathered by key, across files", test_gather);
  CU_add_test(s, "oversize group, missing columns, empty key", test_oversize_and_columns);
  CU_add_test(s, "held-out rows from input groups", test_heldout);
  CU_add_test(s, "input groups in the checkpoint", test_checkpoint_groups);
  CU_add_test(s, "train, eval, predict, --input through the program", test_program);
  CU_add_test(s, "--input needs a group_by model", test_input_needs_groups);
}
