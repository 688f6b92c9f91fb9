/* test_cli.c -- the whole program, end to end: the hand-written fixture
 * model linked with libdmcrt.a (build/tests/lr_fixture, or $DMC_LR_FIXTURE)
 * run as a child process: usage errors and --help, synth, train with a
 * validation set, eval (AUC above 0.65 on held-out synthetic data),
 * predict (one line per row, with or without the label column, the same
 * on 1 or 2 threads), damaged, missing and foreign checkpoints, bad CSV
 * input with its `file:line: column` message and --skip-bad; --stream and
 * --prefetch (the same losses and checkpoint with and without the thread,
 * the same vocabularies and a similar AUC streaming), --max-memory,
 * schedules and --clip through --json. The divergence check (NaN loss) and
 * --stream on a next_by model run in-process on tiny models built here.
 */
#define _GNU_SOURCE /* realpath, memmem */
#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app.h"
#include "modelckpt.h"
#include "normalize.h"
#include "test.h"

#ifndef RT_FIXTURE_BIN
#define RT_FIXTURE_BIN "build/tests/lr_fixture"
#endif

static char fixture[PATH_MAX];
static char out_text[1 << 16], err_text[1 << 16];

static int suite_init(void) {
  const char *p = getenv("DMC_LR_FIXTURE");
  if (!realpath(p && *p ? p : RT_FIXTURE_BIN, fixture)) {
    fprintf(stderr, "test_cli: the fixture program %s is missing (make %s)\n",
            p && *p ? p : RT_FIXTURE_BIN, RT_FIXTURE_BIN);
    return 1;
  }
  return 0;
}

static void slurp(const char *path, char *dst, size_t cap) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(dst, 1, cap - 1, f) : 0;
  dst[n] = '\0';
  if (f) fclose(f);
}

/* Runs `fixture ARGS` in the temporary directory; its exit status. Its
 * stdout and stderr land in out_text and err_text. */
static int run(const char *fmt, ...) {
  char args[2048], cmd[3 * PATH_MAX + 2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", tmp_path("x"));
  dir[strlen(dir) - 2] = '\0';
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s > cli.out 2> cli.err", dir, fixture, args);
  int st = system(cmd);
  slurp(tmp_path("cli.out"), out_text, sizeof out_text);
  slurp(tmp_path("cli.err"), err_text, sizeof err_text);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *out_json(void) {
  json_error_t je;
  json_t *j = json_loads(out_text, 0, &je);
  if (!j) fprintf(stderr, "test_cli: not JSON (%s): %.200s\n", je.text, out_text);
  return j;
}

static double jnum(json_t *j, const char *key) {
  json_t *v = json_object_get(j, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static void test_usage(void) {
  CU_ASSERT_EQUAL(run(""), 2);
  CU_ASSERT(contains(err_text, "usage: lr_fixture COMMAND"));
  CU_ASSERT_EQUAL(run("--help"), 0);
  CU_ASSERT(contains(out_text, "synth N"));
  const char *cmds[] = {"train", "eval", "predict", "info", "synth"};
  for (int i = 0; i < 5; i++) {
    CU_ASSERT_EQUAL(run("%s --help", cmds[i]), 0);
    char want[64];
    snprintf(want, sizeof want, "usage: lr_fixture %s", cmds[i]);
    CU_ASSERT(contains(out_text, want));
  }
  CU_ASSERT_EQUAL(run("train"), 2);
  CU_ASSERT(contains(err_text, "give at least one data file"));
  CU_ASSERT_EQUAL(run("train a.csv --epochs 0"), 2);
  CU_ASSERT(contains(err_text, "--epochs: '0' is not an integer in [1, 1000000]"));
  CU_ASSERT_EQUAL(run("train a.csv --lr -1"), 2);
  CU_ASSERT_EQUAL(run("eval a.csv --lr 0.1"), 2);
  CU_ASSERT(contains(err_text, "option '--lr' does not apply to this command"));
  CU_ASSERT_EQUAL(run("train a.csv --frobnicate"), 2);
  CU_ASSERT(contains(err_text, "unknown option '--frobnicate'"));
  CU_ASSERT_EQUAL(run("fly"), 2);
  CU_ASSERT(contains(err_text, "unknown command 'fly'"));
  CU_ASSERT_EQUAL(run("synth"), 2);
}

static void test_info(void) {
  CU_ASSERT_EQUAL(run("info"), 0);
  CU_ASSERT(contains(out_text, "model lr_fixture  signature 1234abcd5678ef00"));
  CU_ASSERT(contains(out_text, "hist sep ';'"));
  CU_ASSERT_EQUAL(run("info --json"), 0);
  json_t *j = out_json();
  CU_ASSERT_FATAL(j != NULL);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "signature")), "1234abcd5678ef00");
  CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "parameters")), 5);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "features")), 6);
  json_decref(j);
}

static void test_synth(void) {
  CU_ASSERT_EQUAL(run("synth 5 --seed 3"), 0);
  CU_ASSERT(starts_with(out_text, "userId,itemId,hist,genre,price,count,click\n"));
  CU_ASSERT_EQUAL(count_lines(out_text), 6);
  char *first = strdup(out_text);
  CU_ASSERT_EQUAL(run("synth 5 --seed 3"), 0);
  CU_ASSERT_STRING_EQUAL(first, out_text); /* reproducible */
  CU_ASSERT_EQUAL(run("synth 5 --seed 4"), 0);
  CU_ASSERT(strcmp(first, out_text) != 0);
  free(first);
}

static void test_train_eval_predict(void) {
  CU_ASSERT_FATAL(run("synth 5000 --seed 1 -o train.csv") == 0);
  CU_ASSERT_FATAL(run("synth 2000 --seed 2 -o test.csv") == 0);
  CU_ASSERT_EQUAL(run("train train.csv --valid test.csv --epochs 2 -o m.ckpt --json"), 0);
  json_t *j = out_json();
  CU_ASSERT_FATAL(j != NULL);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "epochs")), 2);
  CU_ASSERT_EQUAL(jnum(j, "rows"), 5000);
  double best = jnum(j, "best");
  CU_ASSERT(best > 0.65);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "metric")), "auc");
  json_t *e1 = json_array_get(json_object_get(j, "epochs"), 0);
  CU_ASSERT(jnum(e1, "valid_logloss") > 0 && jnum(e1, "valid_gauc") > 0.5 && jnum(e1, "samples_per_s") > 0);
  json_decref(j);
  CU_ASSERT(contains(err_text, "vocabulary item: +hist"));

  CU_ASSERT_EQUAL(run("eval test.csv -c m.ckpt --json"), 0);
  j = out_json();
  CU_ASSERT_FATAL(j != NULL);
  CU_ASSERT(jnum(j, "auc") > 0.65);
  CU_ASSERT(fabs(jnum(j, "auc") - best) < 1e-9); /* the saved epoch, encoded as in training */
  CU_ASSERT_EQUAL(jnum(j, "rows"), 2000);
  CU_ASSERT(jnum(j, "gauc") > 0.5 && jnum(j, "logloss") > 0);
  json_decref(j);
  CU_ASSERT_EQUAL(run("eval test.csv -c m.ckpt"), 0);
  CU_ASSERT(contains(out_text, "auc      0.") && contains(out_text, "gauc"));

  CU_ASSERT_EQUAL(run("predict test.csv -c m.ckpt --threads 1"), 0);
  CU_ASSERT_EQUAL(count_lines(out_text), 2000);
  char *one = strdup(out_text);
  double p = atof(one);
  CU_ASSERT(p > 0 && p < 1);
  CU_ASSERT_EQUAL(run("predict test.csv -c m.ckpt --threads 2 --batch 7"), 0);
  CU_ASSERT_STRING_EQUAL(one, out_text);
  /* the label column is not needed to predict */
  size_t n;
  char *csv = read_whole(tmp_path("test.csv"), &n), *cut = malloc(n + 1);
  size_t k = 0;
  for (size_t i = 0, commas = 0; i < n; i++) { /* drop the 7th column (no quotes in this file) */
    if (csv[i] == '\n') commas = 0;
    else if (csv[i] == ',' && ++commas == 6) continue;
    if (commas < 6 || csv[i] == '\n') cut[k++] = csv[i];
  }
  write_file(tmp_path("nolabel.csv"), cut, k);
  free(csv);
  free(cut);
  CU_ASSERT_EQUAL(run("predict nolabel.csv -c m.ckpt"), 0);
  CU_ASSERT_STRING_EQUAL(one, out_text);
  free(one);

  /* default checkpoint name: PROG.ckpt where it runs */
  CU_ASSERT_EQUAL(run("train train.csv --epochs 1 -q"), 0);
  CU_ASSERT(contains(out_text, "saved lr_fixture.ckpt: epoch 1"));
  CU_ASSERT(access(tmp_path("lr_fixture.ckpt"), R_OK) == 0);
}

static void test_bad_checkpoints(void) {
  CU_ASSERT_FATAL(run("synth 300 --seed 5 -o small.csv") == 0);
  CU_ASSERT_FATAL(run("train small.csv --epochs 1 -o c.ckpt -q") == 0);
  CU_ASSERT_EQUAL(run("eval small.csv -c missing.ckpt"), 1);
  CU_ASSERT(contains(err_text, "missing.ckpt: cannot open"));
  CU_ASSERT(contains(err_text, "HINT:"));
  /* truncated */
  size_t n;
  char *bytes = read_whole(tmp_path("c.ckpt"), &n);
  write_file(tmp_path("t.ckpt"), bytes, n - 100);
  CU_ASSERT_EQUAL(run("eval small.csv -c t.ckpt"), 1);
  CU_ASSERT(contains(err_text, "t.ckpt:") && contains(err_text, "truncated"));
  CU_ASSERT(contains(err_text, "HINT:"));
  write_file(tmp_path("t.ckpt"), bytes, 5);
  CU_ASSERT_EQUAL(run("predict small.csv -c t.ckpt"), 1);
  CU_ASSERT(contains(err_text, "too short for a checkpoint"));
  /* one flipped bit in the data */
  bytes[n - 3] ^= 1;
  write_file(tmp_path("f.ckpt"), bytes, n);
  CU_ASSERT_EQUAL(run("eval small.csv -c f.ckpt"), 1);
  CU_ASSERT(contains(err_text, "f.ckpt: tensor '") && contains(err_text, "' is damaged: its data"));
  bytes[n - 3] ^= 1;
  /* one flipped bit in the header: the model's name */
  const char *key = "\"dmc.model\":\"lr_fixture\"";
  char *name = memmem(bytes, n, key, strlen(key));
  CU_ASSERT_FATAL(name != NULL);
  name[14] ^= 1;
  write_file(tmp_path("h.ckpt"), bytes, n);
  CU_ASSERT_EQUAL(run("predict small.csv -c h.ckpt"), 1);
  CU_ASSERT(contains(err_text, "h.ckpt: the header is damaged: it hashes to xxh3:"));
  free(bytes);
  /* another model's checkpoint */
  DmcModel other = dmc_model;
  other.name = "other";
  other.signature = 0xfeedULL;
  RtEncoder *e = rt_enc_new(&other);
  static float w[719];
  RtError err;
  CU_ASSERT_FATAL(rt_enc_freeze(e, &err) == 0);
  CU_ASSERT_FATAL(rt_model_save(&other, w, e, NULL, tmp_path("o.ckpt"), &err) == 0);
  rt_enc_free(e);
  CU_ASSERT_EQUAL(run("eval small.csv -c o.ckpt"), 1);
  CU_ASSERT(contains(err_text, "written for model 'other' (signature 000000000000feed), this program "
                               "is model 'lr_fixture'"));
  CU_ASSERT(contains(err_text, "the parameters have the same names and shapes"));
}

static void test_bad_csv(void) {
  const char *head = "userId,itemId,hist,genre,price,count,click\n";
  char text[1024];
  snprintf(text, sizeof text, "%s1,2,3,a,4,5,1\n2,3,4,b,abc,6,0\n3,3,4,b,1,6,0\n", head);
  write_file(tmp_path("bad.csv"), text, strlen(text));
  CU_ASSERT_EQUAL(run("train bad.csv -q"), 1);
  CU_ASSERT(contains(err_text, "bad.csv:3: column price: 'abc' is not a number"));
  CU_ASSERT_EQUAL(run("train bad.csv --skip-bad -q -o s.ckpt"), 0);
  CU_ASSERT(contains(err_text, "bad.csv: skipped 1 bad row: 1 not a number"));
  snprintf(text, sizeof text, "%s1,2,3;4;5;6;7,a,4,5,1\n", head);
  write_file(tmp_path("long.csv"), text, strlen(text));
  CU_ASSERT_EQUAL(run("eval long.csv -c s.ckpt"), 0); /* a list over its N: the first N, said */
  CU_ASSERT(contains(err_text, "long.csv: feature hist: 1 rows with a list longer than 4 items (up "
                               "to 5): the first 4 kept (first at long.csv:2)"));
  snprintf(text, sizeof text, "userId,itemId,genre,price,count,click\n1,2,a,4,5,1\n");
  write_file(tmp_path("nohist.csv"), text, strlen(text));
  CU_ASSERT_EQUAL(run("predict nohist.csv -c s.ckpt"), 1);
  CU_ASSERT(contains(err_text, "nohist.csv: no column 'hist' (feature hist)"));
  snprintf(text, sizeof text, "%s1,2,3,a,4,5\n", head);
  write_file(tmp_path("short.csv"), text, strlen(text));
  CU_ASSERT_EQUAL(run("eval short.csv -c s.ckpt"), 1);
  CU_ASSERT(contains(err_text, "short.csv:2: column click: missing: the row has 6 fields, the header 7"));
  CU_ASSERT_EQUAL(run("eval short.csv bad.csv -c s.ckpt --skip-bad --json"), 0);
  CU_ASSERT(contains(err_text, "short.csv: skipped 2 bad rows: 1 not a number, 1 wrong field count\n"
                               "  first: bad.csv:3: column price: 'abc' is not a number\n"
                               "  first: short.csv:2: column click: missing: the row has 6 fields, "
                               "the header 7\n"));
  CU_ASSERT_EQUAL(run("train nothere.csv"), 1);
  CU_ASSERT(contains(err_text, "nothere.csv"));
}

/* ---- streaming, prefetch, schedules, clipping, end to end ---- */

/* The vocabularies and statistics of a checkpoint, as the bytes they save to. */
static char *vocab_bytes(const char *ckpt, size_t *n) {
  RtEncoder *e = rt_enc_new(&dmc_model);
  static float w[719];
  RtError err;
  CU_ASSERT_FATAL(rt_model_load(&dmc_model, w, e, NULL, ckpt, &err) == 0);
  size_t cap = 1 << 20, k = 0;
  char *buf = malloc(cap);
  for (int g = 0; g < e->ngroups; g++)
    k += rt_vocab_save(e->groups[g].v, (uint8_t *)buf + k, cap - k);
  for (int i = 0; i < e->nf; i++)
    if (e->norm[i] && e->owner[i] == i) k += rt_norm_save(e->norm[i], (uint8_t *)buf + k, cap - k);
  CU_ASSERT_FATAL(k < cap);
  rt_enc_free(e);
  *n = k;
  return buf;
}

static void test_stream_prefetch_schedules(void) {
  CU_ASSERT_FATAL(run("synth 6000 --seed 11 -o big.csv") == 0);
  CU_ASSERT_FATAL(run("synth 2000 --seed 12 -o val.csv") == 0);
  /* in memory, with and without the prefetch thread: the same losses, the same weights */
  CU_ASSERT_EQUAL(run("train big.csv --valid val.csv --epochs 3 --json -o p0.ckpt --prefetch 0"), 0);
  json_t *a = out_json();
  CU_ASSERT_EQUAL(run("train big.csv --valid val.csv --epochs 3 --json -o p3.ckpt --prefetch 3"), 0);
  json_t *b = out_json();
  CU_ASSERT_FATAL(a && b);
  CU_ASSERT(json_is_false(json_object_get(a, "stream")));
  for (int ep = 0; ep < 3; ep++) {
    json_t *ea = json_array_get(json_object_get(a, "epochs"), (size_t)ep);
    json_t *eb = json_array_get(json_object_get(b, "epochs"), (size_t)ep);
    CU_ASSERT(jnum(ea, "train_loss") == jnum(eb, "train_loss"));
    CU_ASSERT(jnum(ea, "valid_auc") == jnum(eb, "valid_auc"));
    CU_ASSERT(jnum(ea, "lr_mult") == 1.0);
  }
  size_t n0, n3;
  char *c0 = read_whole(tmp_path("p0.ckpt"), &n0), *c3 = read_whole(tmp_path("p3.ckpt"), &n3);
  CU_ASSERT(n0 == n3 && memcmp(c0, c3, n0) == 0);
  free(c0);
  free(c3);
  /* streaming: the same vocabularies and statistics, a similar AUC */
  CU_ASSERT_EQUAL(run("train big.csv --valid val.csv --epochs 3 --json -o s.ckpt --stream "
                      "--shuffle-buffer 1000"), 0);
  json_t *c = out_json();
  CU_ASSERT_FATAL(c != NULL);
  CU_ASSERT(json_is_true(json_object_get(c, "stream")));
  CU_ASSERT_EQUAL(jnum(c, "shuffle_buffer"), 1000);
  CU_ASSERT_EQUAL(jnum(c, "rows"), 6000);
  double auc_mem = jnum(a, "best"), auc_stream = jnum(c, "best");
  CU_ASSERT(auc_mem > 0.65 && auc_stream > 0.65);
  CU_ASSERT(fabs(auc_mem - auc_stream) < 0.02);
  CU_ASSERT(contains(err_text, "vocabulary item: +hist"));
  size_t va, vs;
  char *ba = vocab_bytes(tmp_path("p0.ckpt"), &va), *bs = vocab_bytes(tmp_path("s.ckpt"), &vs);
  CU_ASSERT(va > 0 && va == vs && memcmp(ba, bs, va) == 0);
  free(ba);
  free(bs);
  /* streaming with and without the thread: identical too */
  CU_ASSERT_EQUAL(run("train big.csv --epochs 2 --json -o s0.ckpt --stream --shuffle-buffer 300 "
                      "--prefetch 0 -q"), 0);
  json_t *d0 = out_json();
  CU_ASSERT_EQUAL(run("train big.csv --epochs 2 --json -o s2.ckpt --stream --shuffle-buffer 300 "
                      "--prefetch 2 -q"), 0);
  json_t *d2 = out_json();
  CU_ASSERT_FATAL(d0 && d2);
  json_t *l0 = json_array_get(json_object_get(d0, "epochs"), 1), *l2 = json_array_get(json_object_get(d2, "epochs"), 1);
  CU_ASSERT(jnum(l0, "train_loss") == jnum(l2, "train_loss"));
  /* a budget smaller than the data: streamed without being asked */
  CU_ASSERT_EQUAL(run("train big.csv --epochs 1 --json -o m.ckpt --max-memory 0.1"), 0);
  json_t *e = out_json();
  CU_ASSERT_FATAL(e != NULL);
  CU_ASSERT(json_is_true(json_object_get(e, "stream")));
  CU_ASSERT(contains(err_text, "more than the 0.1 MB budget (--max-memory): streaming them"));
  CU_ASSERT_EQUAL(run("train big.csv --epochs 1 --json -o m.ckpt --max-memory 100 -q"), 0);
  json_decref(e);
  e = out_json();
  CU_ASSERT(e && json_is_false(json_object_get(e, "stream")));
  /* schedules: step halves every epoch; cosine with warm-up; clipping counted */
  CU_ASSERT_EQUAL(run("train big.csv --epochs 3 --json -o l.ckpt -q --lr-schedule step --patience 0"), 0);
  json_t *f = out_json();
  CU_ASSERT_FATAL(f != NULL);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "lr_schedule")), "step");
  double want[3] = {1, 0.5, 0.25};
  for (int ep = 0; ep < 3; ep++)
    CU_ASSERT(jnum(json_array_get(json_object_get(f, "epochs"), (size_t)ep), "lr_mult") == want[ep]);
  CU_ASSERT_EQUAL(run("train big.csv --epochs 2 -o l.ckpt -q --lr-schedule cosine --warmup 20 "
                      "--lr-min 0.1 --clip 0.05 --json"), 0);
  json_t *g = out_json();
  CU_ASSERT_FATAL(g != NULL);
  json_t *g2 = json_array_get(json_object_get(g, "epochs"), 1);
  CU_ASSERT(jnum(g2, "lr_mult") > 0.1 && jnum(g2, "lr_mult") < 0.11); /* 94 steps per epoch */
  CU_ASSERT(jnum(g2, "clipped_steps") > 0);
  CU_ASSERT(isfinite(jnum(g2, "train_loss")));
  /* usage errors */
  CU_ASSERT_EQUAL(run("train big.csv --lr-schedule exp"), 2);
  CU_ASSERT(contains(err_text, "--lr-schedule: 'exp' is not one of constant, linear, cosine, step"));
  CU_ASSERT_EQUAL(run("train big.csv --lr-min 2"), 2);
  CU_ASSERT_EQUAL(run("train big.csv --clip 0"), 2);
  CU_ASSERT_EQUAL(run("train big.csv --shuffle-buffer 0"), 2);
  CU_ASSERT_EQUAL(run("train big.csv --prefetch 65"), 2);
  CU_ASSERT_EQUAL(run("eval big.csv --stream"), 2);
  CU_ASSERT(contains(err_text, "option '--stream' does not apply to this command"));
  CU_ASSERT_EQUAL(run("train --help"), 0);
  CU_ASSERT(contains(out_text, "--shuffle-buffer N") && contains(out_text, "(embedding tables are not clipped)"));
  json_decref(a);
  json_decref(b);
  json_decref(c);
  json_decref(d0);
  json_decref(d2);
  json_decref(e);
  json_decref(f);
  json_decref(g);
}

/* ---- divergence: a model whose loss is a * x + b, b initialised to NaN or huge ---- */

static const char *const d_x[] = {"x"}, *const d_y[] = {"y"};
static const DmcFeature d_features[] = {
    {.name = "x", .kind = DMC_FEAT_FLOAT, .ncolumns = 1, .columns = d_x, .vocab_of = -1, .input = 0,
     .weights_input = -1},
    {.name = "y", .kind = DMC_FEAT_LABEL, .ncolumns = 1, .columns = d_y, .vocab_of = -1, .input = 1,
     .weights_input = -1},
};
static const DmcInput d_inputs[] = {{"x", DMC_F32, 1}, {"y", DMC_F32, 1}};
static const char *const d_kv[] = {"value"};
static double d_bval[1];
static DmcParam d_params[] = {
    {.name = "a", .rank = 1, .shape = {1}, .size = 1, .offset = 0, .lag_of = -1},
    {.name = "b", .rank = 1, .shape = {1}, .size = 1, .offset = 1, .init = {"const", 1, d_kv, d_bval, 0},
     .lag_of = -1},
};
static const DmcOutput d_out[] = {{"p", 1, 0, 0}};
static int64_t d_ws(int b) { return b; }
static void d_forward(const DmcCtx *c) {
  const float *x = c->inputs[0];
  for (int i = 0; i < c->batch; i++) {
    c->workspace[i] = c->params[0] * x[i] + c->params[1];
    c->loss[i] = c->workspace[i] * 1e30f * 1e30f;
  }
}
static int d_nan_grad, d_steps; /* d_backward writes a NaN gradient of a at step d_nan_grad */
static void d_backward(const DmcCtx *c) {
  if (++d_steps == d_nan_grad) c->grads[0] = NAN;
}

static int train_captured(const DmcModel *m, const RtOpts *o) {
  fflush(stderr);
  int saved = dup(2), fd = open(tmp_path("div.err"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  close(fd);
  int r = rt_cmd_train(m, o);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  slurp(tmp_path("div.err"), err_text, sizeof err_text);
  return r;
}

/* ---- next_by pairing cannot stream ---- */

static const char *const p_u[] = {"u"}, *const p_y[] = {"y"};
static const DmcFeature p_features[] = {
    {.name = "y", .kind = DMC_FEAT_LABEL, .ncolumns = 1, .columns = p_y, .vocab_of = -1, .input = 0,
     .weights_input = -1},
    {.name = "next.y", .kind = DMC_FEAT_FLOAT, .ncolumns = 1, .columns = p_y, .next_row = 1,
     .vocab_of = -1, .input = 1, .weights_input = -1},
};
static const DmcInput p_inputs[] = {{"y", DMC_F32, 1}, {"next.y", DMC_F32, 1}};


static void test_stream_next_by(void) {
  DmcModel m = {.abi_version = DMC_ABI_VERSION, .name = "pair", .delimiter = ',', .next_by = "u",
                .next_order = "t", .nfeatures = 2, .features = p_features, .ninputs = 2,
                .inputs = p_inputs, .noutputs = 1, .outputs = d_out, .batch = 2, .epochs = 1,
                .workspace_floats = d_ws, .forward = d_forward, .backward = d_backward,
                .retrieve_output = -1, .retrieve_table = -1, .retrieve_target = -1};
  (void)p_u;
  const char *data = tmp_path("pair.csv");
  write_file(data, "u,t,y\n1,1,0\n1,2,1\n", 18);
  RtOpts o = {.prog = "pair", .files = &data, .nfiles = 1, .checkpoint = tmp_path("pair.ckpt"),
              .threads = 1, .quiet = 1, .stream = 1};
  CU_ASSERT_EQUAL(train_captured(&m, &o), 1);
  CU_ASSERT(contains(err_text, "pair: error: --stream: this model pairs each row with the same u's "
                               "next row (next_by), which needs the whole training set in memory"));
  CU_ASSERT(contains(err_text, "HINT: train without --stream"));
}

static void test_divergence(void) {
  DmcModel m = {.abi_version = DMC_ABI_VERSION, .name = "div", .delimiter = ',', .nfeatures = 2,
                .features = d_features, .ninputs = 2, .inputs = d_inputs, .nparams = 2,
                .params = d_params, .params_size = 2, .noutputs = 1, .outputs = d_out,
                .batch = 2, .epochs = 1, .workspace_floats = d_ws, .forward = d_forward,
                .backward = d_backward, .retrieve_output = -1, .retrieve_table = -1,
                .retrieve_target = -1};
  char data_path[512], ckpt_path[512]; /* (tmp_path's buffers are reused) */
  snprintf(data_path, sizeof data_path, "%s", tmp_path("div.csv"));
  snprintf(ckpt_path, sizeof ckpt_path, "%s", tmp_path("div.ckpt"));
  const char *data = data_path;
  write_file(data, "x,y\n1,0\n2,1\n3,0\n", 16);
  RtOpts o = {.prog = "div", .files = &data, .nfiles = 1, .checkpoint = ckpt_path,
              .threads = 1, .quiet = 1};
  d_bval[0] = NAN;
  CU_ASSERT_EQUAL(train_captured(&m, &o), 1);
  CU_ASSERT(contains(err_text, "step 1 (epoch 1): the loss is nan; parameter 'b' holds a "
                               "non-finite value (element 0)"));
  CU_ASSERT(contains(err_text, "HINT: lower the learning rate"));
  d_bval[0] = 1; /* finite weights, an overflow in the batch */
  CU_ASSERT_EQUAL(train_captured(&m, &o), 1);
  CU_ASSERT(contains(err_text, "the loss is inf; every parameter is finite"));
  CU_ASSERT(access(tmp_path("div.ckpt"), F_OK) != 0); /* nothing saved */

  /* --check-numerics: a NaN gradient at step 2 of a finite loss (a = b = 0, so a x + b = 0),
   * caught at that step, naming the parameter; without it, only once the loss goes NaN */
  d_bval[0] = 0;
  write_file(data, "x,y\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n", 28);
  d_nan_grad = 2;
  d_steps = 0;
  o.check_numerics = 1;
  CU_ASSERT_EQUAL(train_captured(&m, &o), 1);
  CU_ASSERT(contains(err_text, "div: error: step 2 (epoch 1): a gradient is not finite "
                               "(--check-numerics); the gradient of parameter 'a' holds a "
                               "non-finite value (element 0)\nHINT: "));
  d_steps = 0;
  o.check_numerics = 0;
  CU_ASSERT_EQUAL(train_captured(&m, &o), 1);
  CU_ASSERT(contains(err_text, "div: error: step 3 (epoch 1): the loss is nan; parameter 'a' holds "
                               "a non-finite value (element 0)"));
  d_nan_grad = 0;
  CU_ASSERT(access(tmp_path("div.ckpt"), F_OK) != 0);
}

void add_cli_tests(void) {
  CU_pSuite s = CU_add_suite("program (fixture model)", suite_init, NULL);
  CU_add_test(s, "usage and --help", test_usage);
  CU_add_test(s, "info", test_info);
  CU_add_test(s, "synth", test_synth);
  CU_add_test(s, "train, eval, predict", test_train_eval_predict);
  CU_add_test(s, "missing, damaged, foreign checkpoints", test_bad_checkpoints);
  CU_add_test(s, "bad CSV input", test_bad_csv);
  CU_add_test(s, "divergence is caught", test_divergence);
  CU_add_test(s, "streaming, prefetch, schedules, clipping", test_stream_prefetch_schedules);
  CU_add_test(s, "--stream refuses next_by models", test_stream_next_by);
}
