/* dataset.c -- loading encoded rows into memory, gathering groups, next-row
 * pairing, batches (see dataset.h). Arrays grow by doubling while loading;
 * nothing is allocated per batch.
 */
#include "dataset.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "keymap.h"
#include "model.h"

static int stores_ids(const DmcFeature *f) {
  return f->kind == DMC_FEAT_ID || f->kind == DMC_FEAT_HASH || f->kind == DMC_FEAT_WEIGHTED ||
         f->kind == DMC_FEAT_CROSS;
}

static int stores_vals(const DmcFeature *f) {
  return f->kind == DMC_FEAT_FLOAT || f->kind == DMC_FEAT_LABEL || f->kind == DMC_FEAT_WEIGHTED;
}

static int needs_next(const RtEncoder *e) {
  for (int i = 0; i < e->nf; i++)
    if (e->active[i] && e->m->features[i].next_row) return 1;
  return 0;
}

static RtCsv *open_bound(RtEncoder *e, const char *const *paths, int npaths, const RtLoadOpts *o,
                         RtError *err) {
  RtCsv *csv = rt_csv_open(paths, npaths, e->m->delimiter, 0, err);
  if (csv && rt_enc_bind(e, csv, paths[0], o->flags, o->group, err)) {
    rt_csv_close(csv);
    return NULL;
  }
  return csv;
}

/* Pass 1; with tally, also what a load would keep (rows, bad rows, label). */
static int count_pass(RtEncoder *e, const char *const *paths, int npaths, const RtLoadOpts *o,
                      RtData *tally, RtError *err) {
  RtCsv *csv = open_bound(e, paths, npaths, o, err);
  if (!csv) return -1;
  if (tally) tally->has_label = e->has_label;
  int r;
  RtError bad;
  while ((r = rt_csv_next(csv, err)) == 1) {
    RtBad why = rt_enc_parse(e, csv, &bad);
    if (why != RT_BAD_NONE) {
      if (!o->skip_bad) {
        *err = bad;
        r = -1;
        break;
      }
      if (tally && !tally->bad[why]++)
        snprintf(tally->first_bad[why], sizeof tally->first_bad[why], "%s", bad.msg);
      continue; /* without a tally, counted and reported by rt_data_load */
    }
    if (rt_enc_count(e, err)) {
      r = -1;
      break;
    }
    if (tally) {
      tally->n++;
      if (e->label >= 0 && e->has_label) {
        float y = (float)e->rawv[e->label][0]; /* as rt_enc_encode stores it */
        if (y != 0.0f && y != 1.0f) tally->label_binary = 0;
      }
    }
  }
  rt_csv_close(csv);
  return r < 0 ? -1 : rt_enc_freeze(e, err);
}

int rt_data_count(RtEncoder *e, const char *const *paths, int npaths, const RtLoadOpts *o,
                  RtError *err) {
  return count_pass(e, paths, npaths, o, NULL, err);
}

static RtData *data_new(const RtEncoder *e) {
  RtData *d = calloc(1, sizeof *d);
  if (!d || !(d->ids = calloc((size_t)e->nf + 1, sizeof *d->ids)) ||
      !(d->vals = calloc((size_t)e->nf + 1, sizeof *d->vals))) {
    rt_data_free(d);
    return NULL;
  }
  d->m = e->m;
  d->label_binary = 1;
  return d;
}

RtData *rt_data_count_rows(RtEncoder *e, const char *const *paths, int npaths, const RtLoadOpts *o,
                           RtError *err) {
  RtData *d = data_new(e);
  if (!d) {
    rt_error(err, "out of memory");
    return NULL;
  }
  if (count_pass(e, paths, npaths, o, d, err)) {
    rt_data_free(d);
    return NULL;
  }
  return d;
}

int64_t rt_data_row_bytes(const RtEncoder *e) {
  int64_t bytes = (int64_t)sizeof(int64_t); /* the GAUC group */
  if (e->m->group_by) bytes += (int64_t)(sizeof(int64_t) + sizeof(int32_t)); /* key, gathered */
  for (int i = 0; i < e->nf; i++) {
    const DmcFeature *f = &e->m->features[i];
    if (!e->active[i]) continue;
    bytes += (int64_t)rt_feat_width(f) * 4 * (stores_ids(f) + stores_vals(f));
  }
  return bytes;
}

int rt_data_needs_next(const RtEncoder *e) { return needs_next(e); }

static int grow_to(RtData *d, const RtEncoder *e, int want_keys, int64_t cap) {
  for (int i = 0; i < e->nf; i++) {
    const DmcFeature *f = &e->m->features[i];
    size_t w = (size_t)rt_feat_width(f);
    if (!e->active[i]) continue;
    if (stores_ids(f)) {
      int32_t *p = realloc(d->ids[i], (size_t)cap * w * sizeof *p);
      if (!p) return -1;
      d->ids[i] = p;
    }
    if (stores_vals(f)) {
      float *p = realloc(d->vals[i], (size_t)cap * w * sizeof *p);
      if (!p) return -1;
      d->vals[i] = p;
    }
  }
  int64_t *g = realloc(d->group, (size_t)cap * sizeof *g);
  if (!g) return -1;
  d->group = g;
  if (e->m->group_by) {
    int64_t *key = realloc(d->key, (size_t)cap * sizeof *key);
    if (key) d->key = key;
    int32_t *gathered = realloc(d->gathered, (size_t)cap * sizeof *gathered);
    if (gathered) d->gathered = gathered;
    if (!key || !gathered) return -1;
  }
  if (want_keys) {
    int64_t *by = realloc(d->by, (size_t)cap * sizeof *by);
    if (by) d->by = by;
    double *order = realloc(d->order, (size_t)cap * sizeof *order);
    if (order) d->order = order;
    if (!by || !order) return -1;
  }
  d->cap = cap;
  return 0;
}

static int grow(RtData *d, const RtEncoder *e, int want_keys) {
  return grow_to(d, e, want_keys, d->cap ? 2 * d->cap : 1024);
}

/* The encoder's current row into row r (< cap). */
static void store_at(RtData *d, const RtEncoder *e, int64_t r, int want_keys) {
  for (int i = 0; i < e->nf; i++) {
    const DmcFeature *f = &e->m->features[i];
    size_t w = (size_t)rt_feat_width(f);
    if (!e->active[i]) continue;
    if (d->ids[i]) memcpy(d->ids[i] + (size_t)r * w, e->ids[i], w * sizeof(int32_t));
    if (d->vals[i]) memcpy(d->vals[i] + (size_t)r * w, e->vals[i], w * sizeof(float));
  }
  d->group[r] = e->row_group;
  if (want_keys) {
    d->by[r] = e->row_by;
    d->order[r] = e->row_order;
  }
  if (e->label >= 0 && e->has_label) {
    float y = e->vals[e->label][0];
    if (y != 0.0f && y != 1.0f) d->label_binary = 0;
  }
}

static void store_row(RtData *d, const RtEncoder *e, int want_keys) { store_at(d, e, d->n++, want_keys); }

RtData *rt_data_new_rows(const RtEncoder *e, int64_t rows) {
  RtData *d = data_new(e);
  if (d && (rows < 1 || grow_to(d, e, 0, rows))) {
    rt_data_free(d);
    return NULL;
  }
  if (d) d->n = rows;
  return d;
}

void rt_data_put(RtData *d, const RtEncoder *e, int64_t row) { store_at(d, e, row, 0); }

/* ---- next-row pairing ---- */

typedef struct RowKey {
  int64_t by;
  double order;
  int64_t row;
} RowKey;

static int by_key_order(const void *x, const void *y) {
  const RowKey *a = x, *b = y;
  if (a->by != b->by) return a->by < b->by ? -1 : 1;
  if (a->order != b->order) return a->order < b->order ? -1 : 1;
  return (a->row > b->row) - (a->row < b->row);
}

/* The encoded value of an empty float of feature i: its default through log1p and z-score. */
static float empty_float(const RtEncoder *e, int i, int k) {
  const DmcFeature *f = &e->m->features[i];
  if (!f->has_default) return 0.0f;
  double x = f->default_value;
  if (f->log1p) x = x < 0 ? -log1p(-x) : log1p(x);
  return e->norm[i] ? rt_norm_apply(e->norm[i], k, x) : (float)x;
}

void rt_data_clear_next(RtData *d, const RtEncoder *e, int64_t row) {
  for (int i = 0; i < e->nf; i++) {
    const DmcFeature *f = &e->m->features[i];
    size_t w = (size_t)rt_feat_width(f);
    if (!e->active[i] || !f->next_row) continue;
    for (size_t k = 0; k < w; k++) {
      if (d->ids[i]) d->ids[i][(size_t)row * w + k] = 0;
      if (d->vals[i])
        d->vals[i][(size_t)row * w + k] = f->kind == DMC_FEAT_FLOAT ? empty_float(e, i, (int)k) : 0.0f;
    }
  }
}

static int pair_next(RtData *d, const RtEncoder *e, RtError *err) {
  int64_t n = d->n, *next = malloc((size_t)(n ? n : 1) * sizeof *next);
  RowKey *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
  if (!idx || !next) {
    free(idx);
    free(next);
    return rt_error(err, "out of memory pairing next rows");
  }
  for (int64_t i = 0; i < n; i++) idx[i] = (RowKey){d->by[i], d->order[i], i};
  qsort(idx, (size_t)n, sizeof *idx, by_key_order);
  for (int64_t j = 0; j < n; j++)
    next[idx[j].row] = j + 1 < n && idx[j + 1].by == idx[j].by ? idx[j + 1].row : -1;
  int r = 0;
  for (int i = 0; i < e->nf && !r; i++) {
    const DmcFeature *f = &e->m->features[i];
    size_t w = (size_t)rt_feat_width(f);
    if (!e->active[i] || !f->next_row) continue;
    if (d->ids[i]) {
      int32_t *p = malloc((size_t)(n ? n : 1) * w * sizeof *p);
      if (!p) {
        r = rt_error(err, "out of memory pairing next rows");
        break;
      }
      for (int64_t row = 0; row < n; row++)
        for (size_t k = 0; k < w; k++)
          p[(size_t)row * w + k] = next[row] >= 0 ? d->ids[i][(size_t)next[row] * w + k] : 0;
      free(d->ids[i]);
      d->ids[i] = p;
    }
    if (d->vals[i]) {
      float *p = malloc((size_t)(n ? n : 1) * w * sizeof *p);
      if (!p) {
        r = rt_error(err, "out of memory pairing next rows");
        break;
      }
      for (int64_t row = 0; row < n; row++)
        for (size_t k = 0; k < w; k++)
          p[(size_t)row * w + k] = next[row] >= 0 ? d->vals[i][(size_t)next[row] * w + k]
                                   : f->kind == DMC_FEAT_FLOAT ? empty_float(e, i, (int)k) : 0.0f;
      free(d->vals[i]);
      d->vals[i] = p;
    }
  }
  free(idx);
  free(next);
  return r;
}

int rt_data_scan(RtEncoder *e, const char *const *paths, int npaths, const RtLoadOpts *o,
                 RtData *tally, RtTakeRow take, void *ctx, RtError *err) {
  RtCsv *csv = open_bound(e, paths, npaths, o, err);
  if (!csv) return -1;
  tally->has_label = e->has_label;
  int r;
  RtError bad;
  while ((r = rt_csv_next(csv, err)) == 1) {
    int why = (int)rt_enc_parse(e, csv, &bad);
    if (why == RT_BAD_NONE) {
      rt_enc_encode(e);
      why = take(ctx, e, csv, &bad);
    }
    if (why == RT_BAD_NONE) continue;
    if (why < 0 || !o->skip_bad) {
      *err = bad;
      r = -1;
      break;
    }
    if (!tally->bad[why]++) snprintf(tally->first_bad[why], sizeof tally->first_bad[why], "%s", bad.msg);
  }
  rt_csv_close(csv);
  return r < 0 ? -1 : 0;
}

typedef struct Loader {
  RtData *d;
  int keys;           /* next_by keys are kept */
  RtKeyMap *groups;   /* group_by: key -> example; NULL otherwise */
  int room;           /* group_by: rows one example holds (the smallest pair source) */
  const char *path;
} Loader;

/* group_by: the encoder's row joins its key's example. The first row of a key makes the
 * example (every feature); a later one puts its pairs in the example's next slot. */
static int gather(Loader *L, const RtEncoder *e, const RtCsv *csv, RtError *err) {
  RtData *d = L->d;
  int64_t g = rt_keymap_get(L->groups, e->row_key);
  if (g < 0) {
    if ((d->n == d->cap && grow(d, e, 0)) || rt_keymap_put(L->groups, e->row_key, d->n))
      return rt_error(err, "%s: out of memory after %lld groups", L->path, (long long)d->n);
    d->key[d->n] = e->row_key;
    d->gathered[d->n] = 1;
    store_row(d, e, 0);
    return 0;
  }
  int k = d->gathered[g];
  if (k >= L->room) {
    RtSlice key = rt_csv_field(csv, e->key_col);
    for (int i = 0; i < e->nf; i++) {
      const DmcFeature *f = &e->m->features[i];
      if (!e->active[i] || !f->value_column || rt_feat_width(f) != L->room) continue;
      rt_error(err, "%s:%ld: group %s %.*s has more than %d rows: feature %s holds %d (%s, %s) pairs\n"
               "HINT: declare it longer (weighted[N], N at least the largest group), or --skip-bad to "
               "leave the extra rows out", rt_csv_path(csv), rt_csv_line(csv), e->m->group_by,
               (int)(key.len > 40 ? 40 : key.len), key.ptr, L->room, f->name, L->room, f->columns[0],
               f->value_column);
      break;
    }
    return RT_BAD_LIST;
  }
  for (int i = 0; i < e->nf; i++) {
    const DmcFeature *f = &e->m->features[i];
    size_t at = (size_t)g * (size_t)rt_feat_width(f) + (size_t)k;
    if (!e->active[i] || !f->value_column) continue;
    d->ids[i][at] = e->ids[i][0];
    d->vals[i][at] = e->vals[i][0];
  }
  d->gathered[g] = k + 1;
  return 0;
}

static int take_row(void *ctx, const RtEncoder *e, const RtCsv *csv, RtError *err) {
  Loader *L = ctx;
  RtData *d = L->d;
  if (L->groups) return gather(L, e, csv, err);
  if (d->n == d->cap && grow(d, e, L->keys))
    return rt_error(err, "%s: out of memory after %lld rows", L->path, (long long)d->n);
  store_row(d, e, L->keys);
  return 0;
}

RtData *rt_data_load(RtEncoder *e, const char *const *paths, int npaths, const RtLoadOpts *o,
                     RtError *err) {
  RtData *d = data_new(e);
  Loader L = {d, needs_next(e), NULL, INT_MAX, paths[0]};
  if (!d) {
    rt_error(err, "out of memory");
    return NULL;
  }
  if (e->m->group_by) {
    for (int i = 0; i < e->nf; i++)
      if (e->active[i] && e->m->features[i].value_column && rt_feat_width(&e->m->features[i]) < L.room)
        L.room = rt_feat_width(&e->m->features[i]);
    if (!(L.groups = rt_keymap_new())) {
      rt_data_free(d);
      rt_error(err, "out of memory");
      return NULL;
    }
  }
  int r = rt_data_scan(e, paths, npaths, o, d, take_row, &L, err);
  rt_keymap_free(L.groups);
  if (r == 0 && L.keys && pair_next(d, e, err)) r = -1;
  free(d->by);
  free(d->order);
  d->by = NULL;
  d->order = NULL;
  if (r < 0) {
    rt_data_free(d);
    return NULL;
  }
  if (e->group_col < 0) {
    free(d->group);
    d->group = NULL;
  }
  return d;
}

void rt_data_free(RtData *d) {
  if (!d) return;
  for (int i = 0; d->m && i < d->m->nfeatures; i++) {
    if (d->ids) free(d->ids[i]);
    if (d->vals) free(d->vals[i]);
  }
  free(d->ids);
  free(d->vals);
  free(d->group);
  free(d->key);
  free(d->gathered);
  free(d->by);
  free(d->order);
  free(d);
}

uint64_t rt_data_report_bad(const RtData *d, const char *what, FILE *out) {
  uint64_t total = 0;
  for (int i = 1; i < RT_BAD_COUNT; i++) total += d->bad[i];
  if (!total || !out) return total;
  fprintf(out, "%s: skipped %llu bad row%s:", what, (unsigned long long)total, total > 1 ? "s" : "");
  for (int i = 1, first = 1; i < RT_BAD_COUNT; i++)
    if (d->bad[i]) {
      fprintf(out, "%s %llu %s", first ? "" : ",", (unsigned long long)d->bad[i], rt_bad_names[i]);
      first = 0;
    }
  fprintf(out, "\n");
  for (int i = 1; i < RT_BAD_COUNT; i++)
    if (d->bad[i]) fprintf(out, "  first: %s\n", d->first_bad[i]);
  return total;
}

/* ---- batches ---- */

RtBatch *rt_batch_new(const DmcModel *m, int max) {
  RtBatch *b = calloc(1, sizeof *b);
  if (!b || !(b->buf = calloc((size_t)m->ninputs + 1, sizeof *b->buf))) {
    free(b);
    return NULL;
  }
  b->m = m;
  b->max = max;
  for (int i = 0; i < m->ninputs; i++)
    if (!(b->buf[i] = calloc((size_t)max * (size_t)m->inputs[i].size, 4))) {
      rt_batch_free(b);
      return NULL;
    }
  return b;
}

void rt_batch_free(RtBatch *b) {
  if (!b) return;
  for (int i = 0; i < b->m->ninputs; i++) free(b->buf[i]);
  free(b->buf);
  free(b);
}

/* Upper end (exclusive) and lower end of the ids a negative of source s draws. */
static void neg_range(const RtEncoder *e, int s, int32_t *lo, int32_t *hi) {
  const DmcFeature *src = &e->m->features[s];
  if (src->kind == DMC_FEAT_HASH) {
    *lo = 1;
    *hi = (int32_t)src->vocab;
  } else {
    *lo = 2;
    *hi = (int32_t)rt_vocab_len(e->groups[e->group[s]].v);
  }
}

void rt_batch_fill(RtBatch *b, const RtEncoder *e, const RtData *d, const int64_t *rows, int n,
                   RtRng *rng) {
  const DmcModel *m = b->m;
  b->n = n;
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    size_t w = (size_t)rt_feat_width(f);
    if (f->input < 0 && !(f->kind == DMC_FEAT_WEIGHTED && f->weights_input >= 0)) continue;
    if (f->kind == DMC_FEAT_NEGATIVE) {
      int s = f->sources[0];
      int32_t lo, hi, *out = b->buf[f->input];
      neg_range(e, s, &lo, &hi);
      /* a list negative mirrors its source slot by slot; sampled_softmax's rows have
         a single id as their source and fill every slot */
      size_t ws = (size_t)rt_feat_width(&m->features[s]);
      for (int j = 0; j < n; j++) {
        const int32_t *src = d->ids[s] + (size_t)rows[j] * ws;
        for (size_t k = 0; k < w; k++)
          out[(size_t)j * w + k] = !src[ws == w ? k : 0] ? 0
                                   : hi > lo ? lo + (int32_t)rt_rng_below(rng, (uint64_t)(hi - lo))
                                             : RT_VOCAB_OOV;
      }
      continue;
    }
    int in_ids = stores_ids(f) ? f->input : -1;
    int in_vals = f->kind == DMC_FEAT_WEIGHTED ? f->weights_input : stores_vals(f) ? f->input : -1;
    for (int j = 0; j < n; j++) {
      if (in_ids >= 0)
        memcpy((int32_t *)b->buf[in_ids] + (size_t)j * w, d->ids[i] + (size_t)rows[j] * w,
               w * sizeof(int32_t));
      if (in_vals >= 0)
        memcpy((float *)b->buf[in_vals] + (size_t)j * w, d->vals[i] + (size_t)rows[j] * w,
               w * sizeof(float));
    }
  }
}

void rt_shuffle(int64_t *perm, int64_t n, RtRng *rng) {
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)rt_rng_below(rng, (uint64_t)i + 1), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}
