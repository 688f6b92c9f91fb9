/* test_encoder.c -- the data pipeline: vocabularies shared through a table
 * (frequency order, OOV, padding), delimited lists, hashing, log1p and
 * z-scores, the `file:line: column` errors and --skip-bad counting, header
 * binding, next-row pairing, crosses, weighted lists, negative sampling,
 * and the encoder's round trip through a checkpoint (with the signature
 * check). The hand-written fixture model (fixtures/lr_model.c) is linked
 * in as dmc_model; the other descriptors are built here.
 */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "hash.h"
#include "model.h"
#include "modelckpt.h"
#include "test.h"

enum { F_USER, F_ITEM, F_HIST, F_GENRE, F_STATS, F_CLICK }; /* the fixture's features */

static const char *HEADER = "userId,itemId,hist,genre,price,count,click\n";

static const char *write_csv(const char *name, const char *rows) {
  const char *path = tmp_path(name);
  size_t h = strlen(HEADER), n = strlen(rows);
  char *buf = malloc(h + n);
  memcpy(buf, HEADER, h);
  memcpy(buf + h, rows, n);
  write_file(path, buf, h + n);
  free(buf);
  return path;
}

/* An encoder for m after counting path; NULL on failure (err filled). */
static RtEncoder *trained(const DmcModel *m, const char *path, RtError *err) {
  RtEncoder *e = rt_enc_new(m);
  RtLoadOpts lo = {0, 0, NULL};
  if (!e || rt_data_count(e, &path, 1, &lo, err)) {
    rt_enc_free(e);
    return NULL;
  }
  return e;
}

static void test_vocab_and_lists(void) {
  const char *path = write_csv("enc.csv",
                               "10,100,100;101,a,1,2,1\n"
                               "10,101,,b,3,4,0\n"
                               "20,100,102; 100 ;100,,5,6,1\n");
  RtError err = {""};
  RtEncoder *e = trained(&dmc_model, path, &err);
  CU_ASSERT_FATAL(e != NULL);
  CU_ASSERT_EQUAL(e->ngroups, 2);
  CU_ASSERT_EQUAL(e->group[F_ITEM], e->group[F_HIST]); /* one table, one vocabulary */
  CU_ASSERT_NOT_EQUAL(e->group[F_USER], e->group[F_ITEM]);
  CU_ASSERT_EQUAL(rt_vocab_len(e->groups[e->group[F_ITEM]].v), 5);
  RtLoadOpts lo = {0, 0, NULL};
  RtData *d = rt_data_load(e, &path, 1, &lo, &err);
  CU_ASSERT_FATAL(d != NULL);
  CU_ASSERT_EQUAL(d->n, 3);
  /* counts over itemId and hist together: 100 x5, 101 x2, 102 x1 */
  int32_t *item = d->ids[F_ITEM], *hist = d->ids[F_HIST], *user = d->ids[F_USER];
  CU_ASSERT(item[0] == 2 && item[1] == 3 && item[2] == 2);
  int32_t want_hist[12] = {2, 3, 0, 0, 0, 0, 0, 0, 4, 2, 2, 0};
  CU_ASSERT(memcmp(hist, want_hist, sizeof want_hist) == 0);
  CU_ASSERT(user[0] == 2 && user[1] == 2 && user[2] == 3);
  /* hashing: one seed for all features, bucket 0 for the empty string */
  int32_t *genre = d->ids[F_GENRE];
  CU_ASSERT_EQUAL(genre[0], (int32_t)rt_hash_str_bucket("a", 1, RT_HASH_SEED, 16));
  CU_ASSERT(genre[1] >= 1 && genre[1] < 16 && genre[2] == 0);
  /* log1p then z-score: each column has mean 0 and std 1 over the training rows */
  float *st = d->vals[F_STATS];
  {
    double m0 = (st[0] + st[2] + st[4]) / 3, m1 = (st[1] + st[3] + st[5]) / 3;
    CU_ASSERT(fabs(m0) < 1e-5 && fabs(m1) < 1e-5);
    double v0 = (st[0] * st[0] + st[2] * st[2] + st[4] * st[4]) / 3;
    CU_ASSERT(fabs(v0 - 1) < 1e-4);
    double x0 = log1p(1), x1 = log1p(3), x2 = log1p(5), mean = (x0 + x1 + x2) / 3;
    double sd = sqrt(((x0 - mean) * (x0 - mean) + (x1 - mean) * (x1 - mean) + (x2 - mean) * (x2 - mean)) / 3);
    CU_ASSERT(fabs(st[0] - (x0 - mean) / sd) < 1e-5);
  }
  CU_ASSERT(d->label_binary && d->has_label);
  CU_ASSERT(d->vals[F_CLICK][0] == 1 && d->vals[F_CLICK][1] == 0);
  CU_ASSERT(d->group != NULL && d->group[2] == 20); /* GAUC groups from userId */
  rt_data_free(d);

  /* unseen ids are 1 and counted; "12.0" is the integer 12 */
  const char *ev = write_csv("enc_eval.csv", "30,100.0,999,a,1,2,0\n10,101,,a,1,2,1\n");
  rt_enc_reset_counts(e);
  d = rt_data_load(e, &ev, 1, &lo, &err);
  CU_ASSERT_FATAL(d != NULL);
  CU_ASSERT(d->ids[F_USER][0] == 1 && d->ids[F_ITEM][0] == 2 && d->ids[F_HIST][0] == 1);
  CU_ASSERT(e->oov[F_USER] == 1 && e->seen[F_USER] == 2 && e->oov[F_HIST] == 1);
  rt_data_free(d);
  rt_enc_free(e);
}

/* The first error loading one bad row (after a good one), with skip_bad off. */
static const char *load_error(const char *rows) {
  static RtError err;
  const char *train = write_csv("good.csv", "10,100,100,a,1,2,1\n");
  const char *bad = write_csv("bad.csv", rows);
  RtEncoder *e = trained(&dmc_model, train, &err);
  CU_ASSERT_FATAL(e != NULL);
  RtLoadOpts lo = {0, 0, NULL};
  RtData *d = rt_data_load(e, &bad, 1, &lo, &err);
  CU_ASSERT(d == NULL);
  rt_data_free(d);
  rt_enc_free(e);
  return err.msg;
}

static void test_bad_values(void) {
  const char *msg = load_error("10,100,100,a,1,2,1\n10,100,100,a\n");
  CU_ASSERT(contains(msg, "bad.csv:3: column price: missing: the row has 4 fields, the header 7"));
  msg = load_error("10,100,100,a,1,2,1,9\n");
  CU_ASSERT(contains(msg, "bad.csv:2: field 8: not in the header: the row has 8 fields, the header 7"));
  msg = load_error("10,100,100,a,1,2,1\n10,100,100,\"a,1,2,1\n");
  CU_ASSERT(contains(msg, "bad.csv:3: column genre: the quote is not closed before the end of the file"));
  msg = load_error("10,100,100,a,abc,2,1\n");
  CU_ASSERT(contains(msg, "bad.csv:2: column price: 'abc' is not a number"));
  msg = load_error("x7,100,100,a,1,2,1\n");
  CU_ASSERT(contains(msg, "bad.csv:2: column userId: 'x7' is not a number"));
  msg = load_error("1.5,100,100,a,1,2,1\n");
  CU_ASSERT(contains(msg, "bad.csv:2: column userId: '1.5' is not an integer id"));
  msg = load_error("10,100,7;z,a,1,2,1\n");
  CU_ASSERT(contains(msg, "bad.csv:2: column hist: 'z' is not a number"));
  msg = load_error("10,100,100,a,,2,1\n");
  CU_ASSERT(contains(msg, "bad.csv:2: column price: empty value (feature stats has no default)"));
  msg = load_error("10,100,100,a,1,2,\n");
  CU_ASSERT(contains(msg, "bad.csv:2: column click: empty label"));
  msg = load_error("10,100,100,a,1,inf,1\n");
  CU_ASSERT(contains(msg, "bad.csv:2: column count: 'inf' is not a finite number"));
  msg = load_error("10,100,100,a,NaN,2,1\n");
  CU_ASSERT(contains(msg, "bad.csv:2: column price: 'NaN' is not a finite number"));
  msg = load_error("10,100,100,a,1,2,-Infinity\n");
  CU_ASSERT(contains(msg, "bad.csv:2: column click: '-Infinity' is not a finite number"));
  msg = load_error("10,100,100,a,1,2,1e39\n"); /* finite as a double, not as a float */
  CU_ASSERT(contains(msg, "bad.csv:2: column click: '1e39' is beyond the range of a 32-bit float"));
  /* 1 MB and one byte: the CSV reader's limit on one field */
  size_t big = RT_CSV_MAX_FIELD + 1;
  char *row = malloc(big + 32);
  memcpy(row, "10,100,100,", 11);
  memset(row + 11, 'g', big);
  strcpy(row + 11 + big, ",1,2,1\n");
  msg = load_error(row);
  free(row);
  char want[200];
  snprintf(want, sizeof want, "bad.csv:2: column genre: longer than %u bytes", RT_CSV_MAX_FIELD);
  CU_ASSERT(contains(msg, want));
}

/* What rt_enc_report_oov prints (malloc'd). */
static char *oov_report(const RtEncoder *e, const char *what) {
  const char *rep = tmp_path("oov_report.txt");
  FILE *f = fopen(rep, "w");
  CU_ASSERT_FATAL(f != NULL);
  rt_enc_report_oov(e, what, f);
  fclose(f);
  size_t n;
  return read_whole(rep, &n);
}

/* A list longer than its N keeps its first N items, counted and reported with where. */
static void test_long_list(void) {
  const char *path = write_csv("longlist.csv", "10,100,100,a,1,2,1\n"
                                               "10,100,101;102;103;104;105;106,a,1,2,1\n"
                                               "10,100,101;102;103;104;105,a,1,2,1\n");
  RtError err = {""};
  RtEncoder *e = rt_enc_new(&dmc_model);
  RtLoadOpts lo = {0, 0, NULL};
  CU_ASSERT_FATAL(rt_data_count(e, &path, 1, &lo, &err) == 0);
  rt_enc_reset_counts(e);
  RtData *d = rt_data_load(e, &path, 1, &lo, &err);
  CU_ASSERT_FATAL(d != NULL);
  CU_ASSERT_EQUAL(d->n, 3);
  RtVocab *v = e->groups[e->group[F_HIST]].v;
  for (int k = 0; k < 4; k++) {  /* rows 2 and 3: 101..104, never 105 or 106 */
    CU_ASSERT_EQUAL(d->ids[F_HIST][4 + k], d->ids[F_HIST][8 + k]);
    int64_t id = -1;
    CU_ASSERT(rt_vocab_id(v, (uint32_t)d->ids[F_HIST][4 + k], &id) == 0 && id == 101 + k);
  }
  CU_ASSERT_EQUAL(e->notes[F_HIST].cut, 2);
  CU_ASSERT_EQUAL(e->notes[F_HIST].cut_len, 6);
  char *text = oov_report(e, "longlist.csv"), want[600];
  snprintf(want, sizeof want, "longlist.csv: feature hist: 2 rows with a list longer than 4 items "
           "(up to 6): the first 4 kept (first at %s:3)\n", path);
  CU_ASSERT(contains(text, want));
  if (!contains(text, want)) fprintf(stderr, "\n  got: %s\n", text);
  free(text);
  rt_data_free(d);
  rt_enc_free(e);
}

/* Adversarial ids: negative, beyond 64 bits, empty, unseen; in id, list and weighted
 * features and hashed ones: each mapped to its documented index, counted, and every index
 * inside its table (this test runs under ASan in tests/san.sh). */
static void test_adversarial_ids(void) {
  const char *train = write_csv("adv_train.csv", "-5,100,-5;100,a,1,2,1\n"
                                                 "-5,101,101,b,2,3,0\n"
                                                 "7,-9223372036854775808,,c,3,4,1\n");
  const char *rows =
      "-5,-9223372036854775808,-5;;100,a,1,2,1\n"                     /* known negatives */
      "99999999999999999999,100,18446744073709551616;-99999999999999999999999,a,1,2,1\n"
      "1e30,-1e300,123456789012345678901234567890,,1,2,0\n"           /* big as floats */
      ",,,,1,2,0\n"                                                   /* all empty */
      "-6,102,  7 ; 8 ;;9,\xff\xfe\x01 binary,1,2,1\n"                 /* unseen */
      "9223372036854775807,-9223372036854775807,9223372036854775808,zz,1,2,0\n";
  const char *ev = write_csv("adv_eval.csv", rows);
  RtError err = {""};
  RtEncoder *e = trained(&dmc_model, train, &err);
  CU_ASSERT_FATAL(e != NULL);
  rt_enc_reset_counts(e);
  RtLoadOpts lo = {0, 0, NULL};
  RtData *d = rt_data_load(e, &ev, 1, &lo, &err);
  if (!d) fprintf(stderr, "\n  %s\n", err.msg);
  CU_ASSERT_FATAL(d != NULL);
  CU_ASSERT_EQUAL(d->n, 6);
  int32_t *user = d->ids[F_USER], *item = d->ids[F_ITEM], *hist = d->ids[F_HIST];
  CU_ASSERT(user[0] >= 2 && item[0] >= 2);                     /* seen in training */
  CU_ASSERT(hist[0] >= 2 && hist[1] == 0 && hist[2] >= 2 && hist[3] == 0);
  CU_ASSERT(user[1] == 1 && hist[4] == 1 && hist[5] == 1);     /* beyond 64 bits: OOV */
  CU_ASSERT(user[2] == 1 && item[2] == 1 && hist[8] == 1);     /* 1e30, -1e300: OOV */
  CU_ASSERT(user[3] == 0 && item[3] == 0 && hist[12] == 0);    /* empty: padding */
  CU_ASSERT(user[4] == 1 && hist[16] == 1 && hist[17] == 1 && hist[18] == 0 && hist[19] == 1);
  CU_ASSERT(user[5] == 1 && item[5] == 1 && hist[20] == 1);
  CU_ASSERT_EQUAL(e->notes[F_USER].big, 2);
  CU_ASSERT_EQUAL(e->notes[F_HIST].big, 4);
  CU_ASSERT_EQUAL(e->notes[F_ITEM].big, 1);
  CU_ASSERT_EQUAL(e->notes[F_USER].blank, 1);
  CU_ASSERT(e->oov[F_USER] == 4 && e->seen[F_USER] == 5);
  for (int64_t r = 0; r < d->n; r++) { /* every index inside its table */
    CU_ASSERT(user[r] >= 0 && user[r] < 50 && item[r] >= 0 && item[r] < 200);
    for (int k = 0; k < 4; k++) CU_ASSERT(hist[4 * r + k] >= 0 && hist[4 * r + k] < 200);
    CU_ASSERT(d->ids[F_GENRE][r] >= 0 && d->ids[F_GENRE][r] < 16);
  }
  CU_ASSERT(d->ids[F_GENRE][2] == 0 && d->ids[F_GENRE][3] == 0 && d->ids[F_GENRE][4] > 0);
  char *text = oov_report(e, "adv_eval.csv");
  CU_ASSERT(contains(text, "adv_eval.csv: feature user: 2 ids beyond 64 bits, taken as out of "
                           "vocabulary\n"));
  CU_ASSERT(contains(text, "adv_eval.csv: feature user: 1 rows with an empty value (padding)\n"));
  CU_ASSERT(contains(text, "adv_eval.csv: feature user: 4 of 5 ids (80.00%) out of vocabulary"));
  free(text);
  rt_data_free(d);
  rt_enc_free(e);
}

static void test_skip_bad(void) {
  const char *path = write_csv("skip.csv",
                               "10,100,100,a,1,2,1\n"
                               "10,100,100,a,abc,2,1\n"
                               "10,100,1;2;3;4;5,a,1,2,1\n"
                               "11,101,,b,3,4,0\n"
                               "10,100,100,a,1,,1\n"
                               "12,x,100,a,1,2,1\n"
                               "12,100,100,a,1,2\n"
                               "12,100,100,a,nan,2,1\n");
  RtError err = {""};
  RtEncoder *e = rt_enc_new(&dmc_model);
  RtLoadOpts lo = {1, 0, NULL};
  CU_ASSERT_FATAL(rt_data_count(e, &path, 1, &lo, &err) == 0);
  RtData *d = rt_data_load(e, &path, 1, &lo, &err);
  CU_ASSERT_FATAL(d != NULL);
  CU_ASSERT_EQUAL(d->n, 3); /* the 5-item list is cut to 4, not skipped */
  CU_ASSERT_EQUAL(d->bad[RT_BAD_NUMBER], 2);
  CU_ASSERT_EQUAL(d->bad[RT_BAD_LIST], 0);
  CU_ASSERT_EQUAL(d->bad[RT_BAD_EMPTY], 1);
  CU_ASSERT_EQUAL(d->bad[RT_BAD_FIELDS], 1);
  CU_ASSERT_EQUAL(d->bad[RT_BAD_NONFINITE], 1);
  CU_ASSERT(contains(d->first_bad[RT_BAD_FIELDS], "skip.csv:8: column click: missing: the row has 6"));
  CU_ASSERT(contains(d->first_bad[RT_BAD_NUMBER], "skip.csv:3: column price"));
  /* the skipped rows did not count: user 12 never made it into the vocabulary */
  CU_ASSERT_EQUAL(rt_vocab_len(e->groups[e->group[F_USER]].v), 4);
  const char *rep = tmp_path("report.txt");
  FILE *f = fopen(rep, "w");
  CU_ASSERT_EQUAL(rt_data_report_bad(d, "skip.csv", f), 5);
  fclose(f);
  size_t n;
  char *text = read_whole(rep, &n);
  CU_ASSERT(contains(text, "skip.csv: skipped 5 bad rows: 2 not a number, 1 empty value, "
                           "1 wrong field count, 1 NaN or Inf\n"));
  free(text);
  rt_data_free(d);
  rt_enc_free(e);
}

static void test_binding(void) {
  const char *path = tmp_path("nogenre.csv");
  const char *text = "userId,itemId,hist,price,count,click\n1,2,3,4,5,1\n";
  write_file(path, text, strlen(text));
  RtError err = {""};
  RtEncoder *e = rt_enc_new(&dmc_model);
  RtLoadOpts lo = {0, 0, NULL};
  CU_ASSERT(rt_data_count(e, &path, 1, &lo, &err) == -1);
  CU_ASSERT(contains(err.msg, "nogenre.csv: no column 'genre' (feature genre)"));
  CU_ASSERT(contains(err.msg, "HINT: the header has: userId, itemId, hist, price, count, click"));
  /* predict: the label may be absent; --group must exist */
  const char *nolabel = tmp_path("nolabel.csv");
  text = "userId,itemId,hist,genre,price,count\n1,2,3,a,4,5\n";
  write_file(nolabel, text, strlen(text));
  RtEncoder *e2 = trained(&dmc_model, write_csv("b.csv", "1,2,3,a,4,5,1\n2,2,3,a,5,6,0\n"), &err);
  CU_ASSERT_FATAL(e2 != NULL);
  RtLoadOpts opt = {0, RT_BIND_LABEL_OPTIONAL, NULL};
  RtData *d = rt_data_load(e2, &nolabel, 1, &opt, &err);
  CU_ASSERT_FATAL(d != NULL);
  CU_ASSERT(!d->has_label && d->n == 1);
  rt_data_free(d);
  RtLoadOpts grp = {0, RT_BIND_LABEL_OPTIONAL, "session"};
  CU_ASSERT(rt_data_load(e2, &nolabel, 1, &grp, &err) == NULL);
  CU_ASSERT(contains(err.msg, "no column 'session' (--group)"));
  rt_enc_free(e);
  rt_enc_free(e2);
}

/* ---- next-row pairing: user (id), v (float), and next() of each ---- */

static const char *const nx_u[] = {"u"}, *const nx_v[] = {"v"};
static const DmcFeature nx_features[] = {
    {.name = "user", .kind = DMC_FEAT_ID, .ncolumns = 1, .columns = nx_u, .vocab = 10, .min_count = 3,
     .vocab_of = 0, .input = 0, .weights_input = -1},
    {.name = "val", .kind = DMC_FEAT_FLOAT, .ncolumns = 1, .columns = nx_v, .has_default = 1,
     .default_value = -1, .vocab_of = -1, .input = 1, .weights_input = -1},
    {.name = "next.user", .kind = DMC_FEAT_ID, .ncolumns = 1, .columns = nx_u, .vocab = 10,
     .min_count = 3, .next_row = 1, .vocab_of = 2, .input = 2, .weights_input = -1},
    {.name = "next.val", .kind = DMC_FEAT_FLOAT, .ncolumns = 1, .columns = nx_v, .has_default = 1,
     .default_value = -1, .next_row = 1, .vocab_of = -1, .input = 3, .weights_input = -1},
};
static const DmcInput nx_inputs[] = {{"user", DMC_I32, 1}, {"val", DMC_F32, 1},
                                     {"next.user", DMC_I32, 1}, {"next.val", DMC_F32, 1}};
static const DmcOutput one_output[] = {{"p", 1, 0, 0}};
static int64_t ws_one(int b) { return b; }
static void nop(const DmcCtx *c) { (void)c; }

static void test_next_rows(void) {
  DmcModel m = {.abi_version = DMC_ABI_VERSION, .name = "nx", .delimiter = ',', .next_by = "u",
                .next_order = "t", .nfeatures = 4, .features = nx_features, .ninputs = 4,
                .inputs = nx_inputs, .noutputs = 1, .outputs = one_output,
                .workspace_floats = ws_one, .forward = nop, .backward = nop,
                .retrieve_output = -1, .retrieve_table = -1, .retrieve_target = -1};
  RtError err = {""};
  CU_ASSERT_FATAL(rt_model_check(&m, &err) == 0);
  const char *path = tmp_path("next.csv");
  const char *text = "u,t,v\n1,30,3\n2,10,7\n1,10,1\n1,20,2\n2,20,8\n";
  write_file(path, text, strlen(text));
  RtEncoder *e = trained(&m, path, &err);
  CU_ASSERT_FATAL(e != NULL);
  CU_ASSERT_EQUAL(e->group[0], e->group[2]); /* next(user) uses user's vocabulary */
  CU_ASSERT_EQUAL(e->owner[2], 0);           /* and does not count the column twice: */
  RtVocab *v = e->groups[e->group[0]].v;     /* user 2 (2 rows) is under min_count 3 */
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, 1), 2);
  CU_ASSERT_EQUAL(rt_vocab_lookup(v, 2), RT_VOCAB_OOV);
  RtLoadOpts lo = {0, 0, NULL};
  RtData *d = rt_data_load(e, &path, 1, &lo, &err);
  CU_ASSERT_FATAL(d != NULL);
  /* user 1 by t: rows 2, 3, 0; user 2: rows 1, 4 */
  float want_val[5] = {-1, 8, 2, 3, -1};
  int32_t want_user[5] = {0, 1, 2, 2, 0};
  for (int i = 0; i < 5; i++) {
    CU_ASSERT_EQUAL(d->vals[3][i], want_val[i]);
    CU_ASSERT_EQUAL(d->ids[2][i], want_user[i]);
  }
  CU_ASSERT_EQUAL(d->vals[1][0], 3); /* the row's own value is untouched */
  rt_data_free(d);
  rt_enc_free(e);
}

/* ---- crosses, weighted lists, negatives ---- */

static const char *const cw_a[] = {"a"}, *const cw_b[] = {"b"}, *const cw_t[] = {"tags"};
static const int cw_src[] = {0, 1}, cw_neg[] = {2};
static const DmcFeature cw_features[] = {
    {.name = "a", .kind = DMC_FEAT_HASH, .ncolumns = 1, .columns = cw_a, .vocab = 50, .vocab_of = 0,
     .input = -1, .weights_input = -1},
    {.name = "b", .kind = DMC_FEAT_ID, .ncolumns = 1, .columns = cw_b, .vocab = 10, .vocab_of = 1,
     .input = -1, .weights_input = -1},
    {.name = "tags", .kind = DMC_FEAT_WEIGHTED, .len = 3, .ncolumns = 1, .columns = cw_t, .sep = ',',
     .kv = ':', .vocab = 10, .vocab_of = 2, .input = 0, .weights_input = 1},
    {.name = "x", .kind = DMC_FEAT_CROSS, .vocab = 1000, .nsources = 2, .sources = cw_src,
     .vocab_of = 3, .input = 2, .weights_input = -1},
    {.name = "neg", .kind = DMC_FEAT_NEGATIVE, .len = 3, .nsources = 1, .sources = cw_neg,
     .vocab_of = 2, .input = 3, .weights_input = -1},
};
static const DmcInput cw_inputs[] = {{"tags", DMC_I32, 3}, {"tags.w", DMC_F32, 3},
                                     {"x", DMC_I32, 1}, {"neg", DMC_I32, 3}};

static void test_cross_weighted_negative(void) {
  DmcModel m = {.abi_version = DMC_ABI_VERSION, .name = "cw", .delimiter = '\t', .nfeatures = 5,
                .features = cw_features, .ninputs = 4, .inputs = cw_inputs, .noutputs = 1,
                .outputs = one_output, .workspace_floats = ws_one, .forward = nop, .backward = nop,
                .retrieve_output = -1, .retrieve_table = -1, .retrieve_target = -1};
  RtError err = {""};
  CU_ASSERT_FATAL(rt_model_check(&m, &err) == 0);
  const char *path = tmp_path("cw.tsv");
  const char *text = "a\tb\ttags\nx\t5\t7:0.5,8\ny\t\t7:2\nx\t5\t\n";
  write_file(path, text, strlen(text));
  RtEncoder *e = trained(&m, path, &err);
  CU_ASSERT_FATAL(e != NULL);
  CU_ASSERT(!e->active[0] && e->needcols[0] && e->needcols[1]); /* cross sources: columns only */
  RtLoadOpts lo = {0, 0, NULL};
  RtData *d = rt_data_load(e, &path, 1, &lo, &err);
  CU_ASSERT_FATAL(d != NULL);
  uint64_t h = rt_hash_str("5", 1, rt_hash_str("x", 1, RT_HASH_SEED));
  CU_ASSERT_EQUAL(d->ids[3][0], (int32_t)rt_hash_to_bucket(h, 1000));
  CU_ASSERT_EQUAL(d->ids[3][1], 0); /* b empty: no cross */
  CU_ASSERT_EQUAL(d->ids[3][2], d->ids[3][0]);
  int32_t want_ids[9] = {2, 3, 0, 2, 0, 0, 0, 0, 0};
  float want_w[9] = {0.5f, 1, 0, 2, 0, 0, 0, 0, 0};
  CU_ASSERT(memcmp(d->ids[2], want_ids, sizeof want_ids) == 0);
  CU_ASSERT(memcmp(d->vals[2], want_w, sizeof want_w) == 0);
  RtBatch *b = rt_batch_new(&m, 4);
  int64_t rows[3] = {2, 0, 1};
  RtRng rng;
  rt_rng_seed(&rng, 1);
  for (int rep = 0; rep < 20; rep++) {
    rt_batch_fill(b, e, d, rows, 3, &rng);
    const int32_t *ids = b->buf[0], *neg = b->buf[3];
    const float *w = b->buf[1];
    CU_ASSERT(ids[3] == 2 && ids[4] == 3 && w[3] == 0.5f && ids[0] == 0);
    for (int k = 0; k < 9; k++)
      CU_ASSERT(ids[k] == 0 ? neg[k] == 0 : neg[k] >= 2 && neg[k] < 4); /* ids in use: 2, 3 */
  }
  rt_batch_free(b);
  rt_data_free(d);
  rt_enc_free(e);
}

static void test_checkpoint_round_trip(void) {
  const char *path = write_csv("rt.csv", "10,100,100;101,a,1,2,1\n11,101,,b,3,4,0\n");
  RtError err = {""};
  RtEncoder *e = trained(&dmc_model, path, &err);
  CU_ASSERT_FATAL(e != NULL);
  float w[719];
  for (int i = 0; i < 719; i++) w[i] = (float)i / 7;
  const char *ck = tmp_path("rt.ckpt");
  RtCkptInfo info = {3, "auc", 0.75, NULL};
  CU_ASSERT_FATAL(rt_model_save(&dmc_model, w, e, &info, ck, &err) == 0);
  RtEncoder *e2 = rt_enc_new(&dmc_model);
  float w2[719] = {0};
  RtCkptInfo got;
  CU_ASSERT_FATAL(rt_model_load(&dmc_model, w2, e2, &got, ck, &err) == 0);
  CU_ASSERT(memcmp(w, w2, sizeof w) == 0);
  CU_ASSERT(got.epoch == 3 && !strcmp(got.metric, "auc") && got.metric_value == 0.75);
  RtLoadOpts lo = {0, 0, NULL};
  RtData *a = rt_data_load(e, &path, 1, &lo, &err), *b = rt_data_load(e2, &path, 1, &lo, &err);
  CU_ASSERT_FATAL(a && b);
  for (int f = 0; f < dmc_model.nfeatures; f++) {
    size_t n = 2 * (size_t)rt_feat_width(&dmc_model.features[f]);
    if (a->ids[f]) CU_ASSERT(memcmp(a->ids[f], b->ids[f], n * 4) == 0);
    if (a->vals[f]) CU_ASSERT(memcmp(a->vals[f], b->vals[f], n * 4) == 0);
  }
  rt_data_free(a);
  rt_data_free(b);
  /* another model (another signature, one table resized) */
  DmcModel other = dmc_model;
  DmcParam ps[5];
  memcpy(ps, dmc_model.params, sizeof ps);
  ps[0].shape[0] = 501;
  other.params = ps;
  other.signature ^= 1;
  other.name = "lr_other";
  CU_ASSERT(rt_model_load(&other, w2, e2, NULL, ck, &err) == -1);
  CU_ASSERT(contains(err.msg, "written for model 'lr_fixture' (signature 1234abcd5678ef00), this "
                              "program is model 'lr_other' (signature 1234abcd5678ef01)"));
  CU_ASSERT(contains(err.msg, "tensor 'user_w' has shape [500,1], this program expects [501,1]"));
  CU_ASSERT(contains(err.msg, "HINT:"));
  rt_enc_free(e);
  rt_enc_free(e2);
}

static void test_model_check(void) {
  RtError err = {""};
  CU_ASSERT(rt_model_check(&dmc_model, &err) == 0);
  DmcModel m = dmc_model;
  m.abi_version = 99;
  CU_ASSERT(rt_model_check(&m, &err) == -1);
  CU_ASSERT(contains(err.msg, "ABI version 99"));
  DmcInput in[6];
  memcpy(in, dmc_model.inputs, sizeof in);
  in[2].size = 5;
  m = dmc_model;
  m.inputs = in;
  CU_ASSERT(rt_model_check(&m, &err) == -1);
  CU_ASSERT(contains(err.msg, "feature 'hist': input 'hist' is i32[5], expected i32[4]"));
}

void add_encoder_tests(void) {
  CU_pSuite s = CU_add_suite("encoder", NULL, NULL);
  CU_add_test(s, "vocabularies, lists, hashing, z-scores", test_vocab_and_lists);
  CU_add_test(s, "bad values: file:line: column messages", test_bad_values);
  CU_add_test(s, "skip-bad counts per reason", test_skip_bad);
  CU_add_test(s, "a list longer than its N: the first N kept, counted", test_long_list);
  CU_add_test(s, "adversarial ids: negative, beyond 64 bits, empty, unseen", test_adversarial_ids);
  CU_add_test(s, "column binding", test_binding);
  CU_add_test(s, "next-row pairing", test_next_rows);
  CU_add_test(s, "cross, weighted, negatives", test_cross_weighted_negative);
  CU_add_test(s, "checkpoint round trip and signature", test_checkpoint_round_trip);
  CU_add_test(s, "descriptor check", test_model_check);
}
