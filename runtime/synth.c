/* synth.c -- `PROG synth N`: synthetic data in the model's own schema.
 *
 * Writes a header with every column the model binds (plus next_by and
 * next_order), in the model's delimiter, then N rows drawn from a hidden
 * random "teacher", so that a model has something to learn:
 *   - id columns: Zipf(1.1) (--zipf S) over the vocab-2 ids of an id space,
 *     spread over a raw range by an odd multiplier (features of one
 *     vocabulary share a space, as a candidate and its history share items);
 *     1% empty;
 *   - lists: a random length 0..L, items of the same space, joined with the
 *     feature's separator, or spread over its columns; one-column lists of
 *     the same L in a row have the same length (behaviours and their
 *     categories);
 *   - hash columns: tokens "v<k>", Zipf(1.0) over about half the buckets;
 *   - weighted: "id:value" items, value in [0.5, 5];
 *   - group_by models: the key column first, keys 1..K in turn (K = N/8,
 *     or more so that no group outgrows its pair sources: at most N/K
 *     rows, at most half their length), then each pair source's id column
 *     as an id and its value column as a rating in [0.5, 5] in steps of
 *     0.5: 3 + 0.9 (the id's weight + the key's, uniform in [-1, 1]) +
 *     noise; a smaller N (a test set) uses keys of the larger one;
 *   - floats: a latent z ~ N(0, 1), written as offset + scale * z, or as a
 *     count round(exp(2 + 1.5 z)) for `log` features; 2% empty when the
 *     feature has a default;
 *   - the label: Bernoulli(sigmoid(2.5 * (s - mean) / std)), with the
 *     teacher score s = sum of per-id weights (N(0, 1); lists: their mean;
 *     weighted items: value-scaled) + linear weights on the latent z of the
 *     floats + a pairwise interaction of the first two single-id spaces
 *     (u_a * u_b); mean and std come from a first, silent pass.
 * The teacher depends only on the model (signature) or --teacher-seed, the
 * rows on --seed, so `synth 5000 --seed 1` and `synth 1000 --seed 2` are a
 * training and a test set of one problem.
 *
 * Limits: numbers only as ids (string ids would be hash features); columns
 * read by two features take the first feature's kind.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "model.h"
#include "hash.h"
#include "rng.h"
#include "zipf.h"

typedef enum { G_ID, G_HASH, G_WEIGHTED, G_FLOAT, G_LABEL, G_BY, G_ORDER, G_KEY, G_VALUE } GenKind;

typedef struct Space {
  int hash;
  int64_t vocab;           /* the key: hash columns with this many buckets share the space, */
  int owner;               /* ids that of one vocabulary (DmcFeature.vocab_of) */
  int64_t k;               /* distinct values */
  RtZipf z;
  float *w, *u;            /* [k] teacher weight, interaction factor */
  uint64_t base, mask, mult;
} Space;

typedef struct Col {
  const char *name;
  GenKind kind;
  int feat;                /* the feature that fixed its kind, -1 for next_by/order */
  int k;                   /* position in a several-column list, -1 if not one */
  int len;                 /* items of a one-column list (its sep), 0 for one value */
  char sep, kv;
  Space *sp;
  double scale, offset, coef;
  int logc, empty_pct;
} Col;

typedef struct Synth {
  const DmcModel *m;
  Col *col;
  int ncol;
  Space *sp;
  int nsp;
  int ia, ib;              /* columns of the interaction, -1 if none */
  int *flen;               /* [nfeatures] list length drawn for this row, -1 if not yet */
  int *llen;               /* [L + 1] length drawn for one-column lists of L items, -1 if not yet */
  int maxlen;
  double zipf;             /* skew of the id spaces */
  int64_t nkeys;           /* group_by: keys 1..nkeys in turn */
  uint64_t key_salt;       /* group_by: the keys' teacher weights */
  int64_t pair_idx;        /* group_by: the index drawn for the row's pair id, -1 if empty */
  char *line;
  size_t len, cap;
  int64_t row;
} Synth;

static int add_col(Synth *s, const char *name) {
  for (int i = 0; i < s->ncol; i++)
    if (!strcmp(s->col[i].name, name)) return -1;
  Col *c = &s->col[s->ncol++];
  memset(c, 0, sizeof *c);
  c->name = name;
  c->k = -1;
  return s->ncol - 1;
}

/* The space of a hash column (owner -1) or of the ids of vocabulary owner. */
static Space *space(Synth *s, int hash, int64_t vocab, int owner, RtRng *t) {
  for (int i = 0; i < s->nsp; i++)
    if (s->sp[i].hash == hash && s->sp[i].vocab == vocab && s->sp[i].owner == owner) return &s->sp[i];
  Space *p = &s->sp[s->nsp++];
  p->hash = hash;
  p->vocab = vocab;
  p->owner = owner;
  p->k = hash ? (vocab / 2 > 2 ? vocab / 2 : 2) : (vocab - 2 > 1 ? vocab - 2 : 1);
  if (p->k > 1000000) p->k = 1000000;
  p->w = malloc((size_t)p->k * sizeof *p->w);
  p->u = malloc((size_t)p->k * sizeof *p->u);
  if (!p->w || !p->u || rt_zipf_init(&p->z, p->k, hash ? 1.0 : s->zipf)) return NULL;
  for (int64_t i = 0; i < p->k; i++) {
    p->w[i] = (float)rt_rng_normal(t);
    p->u[i] = (float)rt_rng_normal(t);
  }
  uint64_t m = 1;
  while (m < 8 * (uint64_t)p->k) m <<= 1;
  p->mask = m - 1;
  p->mult = (rt_rng_next(t) | 1) & p->mask;
  if (!p->mult) p->mult = 1;
  p->base = 1 + rt_rng_below(t, 1000);
  return p;
}

static int64_t zipf(const Space *p, RtRng *r) { return rt_zipf_draw(&p->z, r); }

static void put(Synth *s, const char *fmt, ...) RT_PRINTF(2, 3);
static void put(Synth *s, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->line + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n >= 0 && s->len + (size_t)n < s->cap) {
      s->len += (size_t)n;
      return;
    }
    size_t cap = 2 * s->cap + (size_t)(n > 0 ? n : 0) + 64;
    char *p = realloc(s->line, cap);
    if (!p) abort(); /* synth is a tool, not the hot path: out of memory ends it */
    s->line = p;
    s->cap = cap;
  }
}

static int plan(Synth *s, RtRng *t) {
  const DmcModel *m = s->m;
  int maxcols = 3;
  for (int i = 0; i < m->nfeatures; i++)
    maxcols += (m->features[i].ncolumns > 0 ? m->features[i].ncolumns : 0) + (m->features[i].value_column != NULL);
  s->col = calloc((size_t)maxcols, sizeof *s->col);
  s->sp = calloc((size_t)maxcols, sizeof *s->sp);
  s->flen = calloc((size_t)m->nfeatures + 1, sizeof *s->flen);
  for (int i = 0; i < m->nfeatures; i++)
    if (rt_feat_width(&m->features[i]) > s->maxlen) s->maxlen = rt_feat_width(&m->features[i]);
  s->llen = calloc((size_t)s->maxlen + 1, sizeof *s->llen);
  if (!s->col || !s->sp || !s->flen || !s->llen) return -1;
  if (m->group_by) {
    int ci = add_col(s, m->group_by);
    s->col[ci].kind = G_KEY;
    s->col[ci].feat = -1;
    s->key_salt = rt_rng_next(t);
  }
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    if (!rt_feat_reads_columns(f)) continue;
    for (int k = 0; k < f->ncolumns; k++) {
      int ci = add_col(s, f->columns[k]);
      if (ci < 0) continue;
      Col *c = &s->col[ci];
      c->feat = i;
      c->sep = f->sep;
      c->kv = f->kv ? f->kv : ':';
      if (f->ncolumns > 1) c->k = k;
      else if (f->sep) c->len = rt_feat_width(f);
      switch (f->kind) {
      case DMC_FEAT_ID: c->kind = G_ID; break;
      case DMC_FEAT_HASH: c->kind = G_HASH; break;
      case DMC_FEAT_WEIGHTED: c->kind = f->value_column ? G_ID : G_WEIGHTED; break;
      case DMC_FEAT_LABEL: c->kind = G_LABEL; break;
      default: c->kind = G_FLOAT; break;
      }
      if (c->kind == G_ID || c->kind == G_HASH || c->kind == G_WEIGHTED)
        if (!(c->sp = space(s, c->kind == G_HASH, f->vocab, c->kind == G_HASH ? -1 : f->vocab_of, t)))
          return -1;
      if (c->kind == G_FLOAT) {
        c->logc = f->log1p;
        c->scale = pow(10, -0.5 + 2 * rt_rng_uniform(t));
        c->offset = c->scale * (3 * rt_rng_uniform(t) - 1);
        c->coef = 0.7 * rt_rng_normal(t);
        c->empty_pct = f->has_default ? 2 : 0;
      }
      c->empty_pct = c->kind == G_ID && c->k < 0 && !c->len ? 1 : c->empty_pct;
    }
    int vi = f->value_column ? add_col(s, f->value_column) : -1;
    if (vi >= 0) { /* a pair source's values: ratings of the id drawn in its column */
      s->col[vi].kind = G_VALUE;
      s->col[vi].feat = i;
      if (!(s->col[vi].sp = space(s, 0, f->vocab, f->vocab_of, t))) return -1;
    }
  }
  if (m->next_by && m->next_order) {
    int ci = add_col(s, m->next_by);
    if (ci >= 0) {
      s->col[ci].kind = G_BY;
      s->col[ci].feat = -1;
      if (!(s->col[ci].sp = space(s, 0, 302, -2, t))) return -1;
    }
    if ((ci = add_col(s, m->next_order)) >= 0) {
      s->col[ci].kind = G_ORDER;
      s->col[ci].feat = -1;
    }
  }
  s->ia = s->ib = -1;
  for (int i = 0; i < s->ncol; i++) {
    const Col *c = &s->col[i];
    if (c->kind != G_ID || c->k >= 0 || c->len) continue;
    if (s->ia < 0) s->ia = i;
    else if (s->ib < 0 && c->sp != s->col[s->ia].sp) s->ib = i;
  }
  return 0;
}

/* The raw id of index i of a space. */
static long long raw_id(const Space *p, int64_t i) {
  return (long long)(p->base + (((uint64_t)i * p->mult) & p->mask));
}

/* One item of column c into the line (its index in *idx); its teacher weight. */
static double item(Synth *s, const Col *c, RtRng *r, int64_t *idx) {
  int64_t i = *idx = zipf(c->sp, r);
  if (c->kind == G_HASH) {
    put(s, "v%lld", (long long)i);
    return 0.8 * c->sp->w[i];
  }
  put(s, "%lld", raw_id(c->sp, i));
  if (c->kind == G_WEIGHTED) {
    double v = 0.5 + 0.1 * (double)rt_rng_below(r, 46);
    put(s, "%c%.1f", c->kv, v);
    return c->sp->w[i] * v / 2.75;
  }
  return c->sp->w[i];
}

/* Column c of the current row into the line; its teacher score. */
static double column(Synth *s, int ci, RtRng *r, int64_t *idx) {
  Col *c = &s->col[ci];
  const DmcModel *m = s->m;
  *idx = -1;
  switch (c->kind) {
  case G_LABEL: return 0;
  case G_ORDER:
    put(s, "%lld", 1500000000LL + (long long)s->row * 37 + (long long)rt_rng_below(r, 30));
    return 0;
  case G_BY:
    put(s, "%lld", raw_id(c->sp, zipf(c->sp, r)));
    return 0;
  case G_KEY:
    put(s, "%lld", 1 + (long long)(s->row % s->nkeys));
    return 0;
  case G_VALUE: {
    int64_t key = s->row % s->nkeys;
    double kw = 2.0 * (double)(rt_hash_int(key, s->key_salt) >> 11) / 9007199254740992.0 - 1.0;
    double uw = s->pair_idx >= 0 ? c->sp->w[s->pair_idx] : 0;
    double v = round(2 * (3.0 + 0.9 * (uw + kw) + 0.3 * rt_rng_normal(r))) / 2;
    put(s, "%.1f", v < 0.5 ? 0.5 : v > 5 ? 5.0 : v);
    return 0;
  }
  case G_FLOAT: {
    double z = rt_rng_normal(r);
    if ((int)rt_rng_below(r, 100) < c->empty_pct) return 0;
    if (c->logc) put(s, "%.0f", floor(exp(2 + 1.5 * z)));
    else put(s, "%.4g", c->offset + c->scale * z);
    return c->coef * z;
  }
  default: break;
  }
  if (c->len) { /* one column holding a list */
    int *n_at = &s->llen[c->len];
    if (*n_at < 0) *n_at = rt_rng_below(r, 10) == 0 ? 0 : 1 + (int)rt_rng_below(r, (uint64_t)c->len);
    int n = *n_at;
    double sc = 0;
    for (int j = 0; j < n; j++) {
      if (j) put(s, "%c", c->sep);
      sc += item(s, c, r, idx);
    }
    *idx = -1;
    return n ? sc / n : 0;
  }
  if (c->k >= 0) { /* one of several columns of a list */
    int f = c->feat, w = rt_feat_width(&m->features[f]);
    if (s->flen[f] < 0) s->flen[f] = (int)rt_rng_below(r, (uint64_t)w + 1);
    return c->k < s->flen[f] ? item(s, c, r, idx) / w : 0;
  }
  if ((int)rt_rng_below(r, 100) < c->empty_pct) return 0;
  return item(s, c, r, idx);
}

/* Quotes field [from, len) of the line in place if it holds the delimiter. */
static void quote_from(Synth *s, size_t from) {
  char d = s->m->delimiter;
  if (!memchr(s->line + from, d, s->len - from) && !memchr(s->line + from, '"', s->len - from)) return;
  size_t n = s->len - from;
  char *copy = malloc(n + 1);
  if (!copy) abort();
  memcpy(copy, s->line + from, n);
  s->len = from;
  put(s, "\"");
  for (size_t i = 0; i < n; i++) {
    if (copy[i] == '"') put(s, "\"");
    put(s, "%c", copy[i]);
  }
  put(s, "\"");
  free(copy);
}

/* Generates one row into the line, each label a byte 1 to be drawn later; its score. */
static double gen_row(Synth *s, RtRng *r) {
  const DmcModel *m = s->m;
  double score = 0;
  int64_t ia = -1, ib = -1;
  s->len = 0;
  for (int f = 0; f < m->nfeatures; f++) s->flen[f] = -1;
  for (int k = 0; k <= s->maxlen; k++) s->llen[k] = -1;
  s->pair_idx = -1;
  for (int ci = 0; ci < s->ncol; ci++) {
    int64_t idx;
    size_t from;
    if (ci) put(s, "%c", m->delimiter);
    from = s->len;
    if (s->col[ci].kind == G_LABEL) put(s, "\001");
    score += column(s, ci, r, &idx);
    if (s->col[ci].kind == G_ID && s->col[ci].feat >= 0 && m->features[s->col[ci].feat].value_column)
      s->pair_idx = idx;
    quote_from(s, from);
    if (ci == s->ia) ia = idx;
    if (ci == s->ib) ib = idx;
  }
  if (ia >= 0 && ib >= 0) score += 0.8 * s->col[s->ia].sp->u[ia] * s->col[s->ib].sp->u[ib];
  return score;
}

static void synth_free(Synth *s) {
  for (int i = 0; i < s->nsp; i++) {
    rt_zipf_free(&s->sp[i].z);
    free(s->sp[i].w);
    free(s->sp[i].u);
  }
  free(s->sp);
  free(s->col);
  free(s->flen);
  free(s->llen);
  free(s->line);
}

int rt_cmd_synth(const DmcModel *m, const RtOpts *o) {
  Synth s = {.m = m, .zipf = o->zipf_set ? o->zipf : 1.1};
  RtRng teacher, rows;
  rt_rng_seed(&teacher, o->teacher_set ? o->teacher_seed : m->signature ^ 0x5eed7eac4e5ULL);
  if (plan(&s, &teacher)) {
    synth_free(&s);
    fprintf(stderr, "%s: error: out of memory\n", o->prog);
    return 1;
  }
  int64_t room = INT32_MAX; /* group_by: the rows a group holds */
  for (int i = 0; i < m->nfeatures; i++)
    if (m->features[i].value_column && rt_feat_width(&m->features[i]) < room) room = rt_feat_width(&m->features[i]);
  s.nkeys = (o->nrows + 7) / 8 > (2 * o->nrows + room - 1) / room ? (o->nrows + 7) / 8 : (2 * o->nrows + room - 1) / room;
  if (s.nkeys < 1) s.nkeys = 1;
  uint64_t seed = o->seed_set ? o->seed : (uint64_t)m->seed;
  /* pass 1: the teacher score's mean and spread */
  double sum = 0, sq = 0;
  int64_t n1 = o->nrows < 20000 ? o->nrows : 20000;
  rt_rng_seed(&rows, seed);
  for (s.row = 0; s.row < n1; s.row++) {
    double x = gen_row(&s, &rows);
    sum += x;
    sq += x * x;
  }
  double mean = n1 ? sum / (double)n1 : 0, var = n1 ? sq / (double)n1 - mean * mean : 1;
  double sd = var > 1e-12 ? sqrt(var) : 1;

  FILE *out = o->out ? fopen(o->out, "w") : stdout;
  if (!out) {
    fprintf(stderr, "%s: error: %s: cannot create the file\n", o->prog, o->out);
    synth_free(&s);
    return 1;
  }
  for (int i = 0; i < s.ncol; i++) {
    if (i) fputc(m->delimiter, out);
    fputs(s.col[i].name, out);
  }
  fputc('\n', out);
  rt_rng_seed(&rows, seed);
  for (s.row = 0; s.row < o->nrows; s.row++) {
    double z = 2.5 * (gen_row(&s, &rows) - mean) / sd;
    double p = 1 / (1 + exp(-z));
    for (size_t i = 0; i < s.len; i++) {
      if (s.line[i] != '\001') {
        fputc(s.line[i], out);
        continue;
      }
      fputc(rt_rng_uniform(&rows) < p ? '1' : '0', out);
    }
    fputc('\n', out);
  }
  int bad = ferror(out);
  if (out != stdout) bad |= fclose(out) != 0;
  else bad |= fflush(out) != 0;
  synth_free(&s);
  if (bad) {
    fprintf(stderr, "%s: error: %s: write failed\n", o->prog, o->out ? o->out : "stdout");
    return 1;
  }
  return 0;
}
