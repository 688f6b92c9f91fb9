/* encode.c -- parsing one CSV row into a feature's values, and encoding it
 * (the rules are in encoder.h). Nothing here allocates: fields are slices
 * of the reader's record, numbers are copied into one small buffer for
 * strtod, and every feature's scratch row was sized by rt_enc_new.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encoder.h"
#include "hash.h"
#include "model.h"

static RtSlice trim(RtSlice s) {
  while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) s.ptr++, s.len--;
  while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t' || s.ptr[s.len - 1] == '\r'))
    s.len--;
  return s;
}

/* A finite double, or -1. */
static int parse_num(RtEncoder *e, RtSlice s, double *out) {
  if (!s.len || s.len >= sizeof e->numbuf) return -1;
  memcpy(e->numbuf, s.ptr, s.len);
  e->numbuf[s.len] = '\0';
  char *end;
  double x = strtod(e->numbuf, &end);
  if (end != e->numbuf + s.len || !isfinite(x)) return -1;
  *out = x;
  return 0;
}

/* An integer id ("12", or "12.0"): 0, -1 not a number, -2 not an integer. */
static int parse_id(RtEncoder *e, RtSlice s, int64_t *out) {
  if (rt_vocab_parse_id(s.ptr, s.len, out) == RT_ID_OK) return 0;
  double x;
  if (parse_num(e, s, &x)) return -1;
  if (x != floor(x) || fabs(x) > 9.0e18) return -2;
  *out = (int64_t)x;
  return 0;
}

/* A group / next_by key: the integer, or a hash of the text. */
static int64_t parse_key(RtSlice s) {
  int64_t v;
  if (rt_vocab_parse_id(s.ptr, s.len, &v) == RT_ID_OK) return v;
  return (int64_t)rt_hash_str(s.ptr, s.len, 0);
}

/* "file:line: column NAME: 'value' what" (the value cut at 40 bytes). */
static RtBad bad_value(const RtCsv *csv, const char *col, RtSlice s, const char *what, RtError *err) {
  int n = s.len > 40 ? 40 : (int)s.len;
  rt_error(err, "%s:%ld: column %s: '%.*s%s' %s", rt_csv_path(csv), rt_csv_line(csv), col, n,
           s.ptr, s.len > 40 ? "..." : "", what);
  return RT_BAD_NUMBER;
}

/* Item k of feature i from slice s (already trimmed). */
static RtBad parse_item(RtEncoder *e, int i, int k, RtSlice s, const char *col, const RtCsv *csv,
                        RtError *err) {
  const DmcFeature *f = &e->m->features[i];
  int r;
  e->empty[i][k] = s.len == 0;
  e->raw[i][k] = 0;
  e->rawv[i][k] = 0;
  switch (f->kind) {
  case DMC_FEAT_ID:
    if (!s.len) return RT_BAD_NONE;
    if ((r = parse_id(e, s, &e->raw[i][k])))
      return bad_value(csv, col, s, r == -1 ? "is not a number" : "is not an integer id", err);
    return RT_BAD_NONE;
  case DMC_FEAT_HASH:
    e->raw[i][k] = rt_hash_str_bucket(s.ptr, s.len, e->hash_seed, (uint32_t)f->vocab);
    return RT_BAD_NONE;
  case DMC_FEAT_WEIGHTED: {
    if (!s.len) return RT_BAD_NONE;
    char kv = f->kv ? f->kv : ':';
    const char *colon = memchr(s.ptr, kv, s.len);
    RtSlice id = {s.ptr, colon ? (size_t)(colon - s.ptr) : s.len};
    id = trim(id);
    if ((r = parse_id(e, id, &e->raw[i][k])))
      return bad_value(csv, col, id, r == -1 ? "is not a number" : "is not an integer id", err);
    e->rawv[i][k] = 1.0;
    if (colon) {
      RtSlice v = trim((RtSlice){colon + 1, s.len - (size_t)(colon + 1 - s.ptr)});
      if (parse_num(e, v, &e->rawv[i][k])) return bad_value(csv, col, v, "is not a number", err);
    }
    return RT_BAD_NONE;
  }
  case DMC_FEAT_FLOAT: {
    double x;
    e->empty[i][k] = 0;
    if (!s.len) {
      if (!f->has_default) {
        rt_error(err, "%s:%ld: column %s: empty value (feature %s has no default)",
                 rt_csv_path(csv), rt_csv_line(csv), col, f->name);
        return RT_BAD_EMPTY;
      }
      x = f->default_value;
    } else if (parse_num(e, s, &x)) {
      return bad_value(csv, col, s, "is not a number", err);
    }
    if (f->log1p) x = x < 0 ? -log1p(-x) : log1p(x);
    e->rawv[i][k] = x;
    return RT_BAD_NONE;
  }
  case DMC_FEAT_LABEL:
    e->empty[i][k] = 0;
    if (!s.len) {
      rt_error(err, "%s:%ld: column %s: empty label", rt_csv_path(csv), rt_csv_line(csv), col);
      return RT_BAD_EMPTY;
    }
    if (parse_num(e, s, &e->rawv[i][k])) return bad_value(csv, col, s, "is not a number", err);
    return RT_BAD_NONE;
  case DMC_FEAT_CROSS:
  case DMC_FEAT_NEGATIVE:
    break;
  }
  return RT_BAD_NONE;
}

/* A feature read from one delimited column: up to width items. */
static RtBad parse_list(RtEncoder *e, int i, RtSlice field, const RtCsv *csv, RtError *err) {
  const DmcFeature *f = &e->m->features[i];
  int w = rt_feat_width(f), k = 0;
  RtBad r;
  field = trim(field);
  const char *p = field.ptr, *end = field.ptr + field.len;
  while (field.len && p <= end) {
    const char *q = memchr(p, f->sep, (size_t)(end - p));
    if (!q) q = end;
    if (k < w && (r = parse_item(e, i, k, trim((RtSlice){p, (size_t)(q - p)}), f->columns[0], csv, err)))
      return r;
    k++;
    p = q + 1;
  }
  if (k > w) {
    rt_error(err, "%s:%ld: column %s: list of %d items, more than the declared %d",
             rt_csv_path(csv), rt_csv_line(csv), f->columns[0], k, w);
    return RT_BAD_LIST;
  }
  for (; k < w; k++)
    if ((r = parse_item(e, i, k, (RtSlice){"", 0}, f->columns[0], csv, err))) return r;
  return RT_BAD_NONE;
}

static void parse_cross(RtEncoder *e, int i, const RtCsv *csv) {
  const DmcFeature *f = &e->m->features[i];
  uint64_t h = e->hash_seed;
  int blank = 0;
  for (int s = 0; s < f->nsources; s++) {
    RtSlice v = trim(rt_csv_field(csv, e->col[e->colbase[f->sources[s]]]));
    blank |= v.len == 0;
    h = rt_hash_str(v.ptr, v.len, h);
  }
  e->empty[i][0] = (uint8_t)blank;
  e->raw[i][0] = blank ? 0 : rt_hash_to_bucket(h, (uint32_t)f->vocab);
}

RtBad rt_enc_parse(RtEncoder *e, const RtCsv *csv, RtError *err) {
  const DmcModel *m = e->m;
  RtBad r;
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    if (!e->active[i] || f->kind == DMC_FEAT_NEGATIVE) continue;
    if (f->kind == DMC_FEAT_CROSS) {
      parse_cross(e, i, csv);
      continue;
    }
    const int *col = e->col + e->colbase[i];
    if (col[0] < 0) { /* an optional label or retrieval target absent from the file */
      int w = rt_feat_width(f);
      for (int k = 0; k < w; k++) e->raw[i][k] = 0, e->rawv[i][k] = 0, e->empty[i][k] = 1;
      continue;
    }
    if (f->ncolumns == 1 && f->sep && f->kind != DMC_FEAT_LABEL) {
      if ((r = parse_list(e, i, rt_csv_field(csv, col[0]), csv, err))) return r;
      continue;
    }
    for (int k = 0; k < f->ncolumns; k++) {
      if (col[k] < 0) { /* an optional label's column absent from the file */
        e->rawv[i][k] = 0;
        continue;
      }
      if ((r = parse_item(e, i, k, trim(rt_csv_field(csv, col[k])), f->columns[k], csv, err)))
        return r;
    }
  }
  e->row_group = e->group_col >= 0 ? parse_key(trim(rt_csv_field(csv, e->group_col))) : 0;
  if (e->by_col >= 0) {
    RtSlice o = trim(rt_csv_field(csv, e->order_col));
    e->row_by = parse_key(trim(rt_csv_field(csv, e->by_col)));
    if (parse_num(e, o, &e->row_order))
      return bad_value(csv, m->next_order, o, "is not a number", err);
  }
  return RT_BAD_NONE;
}

void rt_enc_encode(RtEncoder *e) {
  const DmcModel *m = e->m;
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    if (!e->active[i]) continue;
    int w = rt_feat_width(f);
    int32_t *ids = e->ids[i];
    float *vals = e->vals[i];
    switch (f->kind) {
    case DMC_FEAT_ID:
    case DMC_FEAT_WEIGHTED: {
      RtVocab *v = e->groups[e->group[i]].v;
      for (int k = 0; k < w; k++) {
        if (e->empty[i][k]) {
          ids[k] = RT_VOCAB_PAD;
          vals[k] = 0;
          continue;
        }
        ids[k] = (int32_t)rt_vocab_lookup(v, e->raw[i][k]);
        vals[k] = (float)e->rawv[i][k];
        e->seen[i]++;
        e->oov[i] += ids[k] == RT_VOCAB_OOV;
      }
      break;
    }
    case DMC_FEAT_HASH:
    case DMC_FEAT_CROSS:
      for (int k = 0; k < w; k++) ids[k] = (int32_t)e->raw[i][k];
      break;
    case DMC_FEAT_FLOAT:
      for (int k = 0; k < w; k++)
        vals[k] = e->norm[i] ? rt_norm_apply(e->norm[i], k, e->rawv[i][k]) : (float)e->rawv[i][k];
      break;
    case DMC_FEAT_LABEL:
      for (int k = 0; k < w; k++) vals[k] = (float)e->rawv[i][k];
      break;
    case DMC_FEAT_NEGATIVE:
      break;
    }
  }
}
