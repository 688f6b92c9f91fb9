/* encode.c -- parsing one CSV row into a feature's values, and encoding it
 * (the rules are in encoder.h). Nothing here allocates: fields are slices
 * of the reader's record, numbers are copied into one small buffer for
 * strtod, and every feature's scratch row was sized by rt_enc_new.
 */
#include <float.h>
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

/* A finite double: 0, -1 not a number, -2 NaN or infinite (or too large for a double). */
static int parse_num(RtEncoder *e, RtSlice s, double *out) {
  if (!s.len || s.len >= sizeof e->numbuf) return -1;
  memcpy(e->numbuf, s.ptr, s.len);
  e->numbuf[s.len] = '\0';
  char *end;
  double x = strtod(e->numbuf, &end);
  if (end != e->numbuf + s.len) return -1;
  if (!isfinite(x)) return -2;
  *out = x;
  return 0;
}

/* A digit string with an optional sign, of any length. */
static int all_digits(RtSlice s) {
  size_t i = s.len && (s.ptr[0] == '-' || s.ptr[0] == '+');
  if (i == s.len) return 0;
  for (; i < s.len; i++)
    if (s.ptr[i] < '0' || s.ptr[i] > '9') return 0;
  return 1;
}

/* An integer id ("12", or "12.0"): 0, -1 not a number, -2 not an integer, -3 an integer
 * beyond 64 bits (no vocabulary can hold it). */
static int parse_id(RtEncoder *e, RtSlice s, int64_t *out) {
  if (rt_vocab_parse_id(s.ptr, s.len, out) == RT_ID_OK) return 0;
  if (all_digits(s)) return -3;
  double x;
  if (parse_num(e, s, &x)) return -1;
  if (x != floor(x)) return -2;
  if (fabs(x) > 9.0e18) return -3;
  *out = (int64_t)x;
  return 0;
}


/* A group / next_by key: the integer, or a hash of the text. */
static int64_t parse_key(RtSlice s) {
  int64_t v;
  if (rt_vocab_parse_id(s.ptr, s.len, &v) == RT_ID_OK) return v;
  return (int64_t)rt_hash_str(s.ptr, s.len, 0);
}

/* "file:line: column NAME: 'value' what" (the value cut at 40 bytes); returns why. */
static RtBad bad_value_why(RtBad why, const RtCsv *csv, const char *col, RtSlice s, const char *what,
                           RtError *err) {
  int n = s.len > 40 ? 40 : (int)s.len;
  rt_error(err, "%s:%ld: column %s: '%.*s%s' %s", rt_csv_path(csv), rt_csv_line(csv), col, n,
           s.ptr, s.len > 40 ? "..." : "", what);
  return why;
}

static RtBad bad_value(const RtCsv *csv, const char *col, RtSlice s, const char *what, RtError *err) {
  return bad_value_why(RT_BAD_NUMBER, csv, col, s, what, err);
}

/* A float value (a float feature's, a label's, a weight): finite and within float range. */
static RtBad float_value(RtEncoder *e, RtSlice s, int log1p_first, double *out, const char *col,
                         const RtCsv *csv, RtError *err) {
  int r = parse_num(e, s, out);
  if (r == -1) return bad_value(csv, col, s, "is not a number", err);
  if (r == -2) return bad_value_why(RT_BAD_NONFINITE, csv, col, s, "is not a finite number", err);
  if (log1p_first) *out = *out < 0 ? -log1p(-*out) : log1p(*out);
  if (fabs(*out) > FLT_MAX)
    return bad_value_why(RT_BAD_NONFINITE, csv, col, s, "is beyond the range of a 32-bit float", err);
  return RT_BAD_NONE;
}

/* An id item into raw/empty: RT_BAD_NONE (an id beyond 64 bits marked empty 2, counted), or
 * the error. */
static RtBad id_item(RtEncoder *e, int i, int k, RtSlice s, const char *col, const RtCsv *csv,
                     RtError *err) {
  int r = parse_id(e, s, &e->raw[i][k]);
  if (r == -3) {
    e->empty[i][k] = 2;
    e->raw[i][k] = 0;
    e->notes[i].big++;
    return RT_BAD_NONE;
  }
  if (r) return bad_value(csv, col, s, r == -1 ? "is not a number" : "is not an integer id", err);
  return RT_BAD_NONE;
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
    return id_item(e, i, k, s, col, csv, err);
  case DMC_FEAT_HASH:
    e->raw[i][k] = rt_hash_str_bucket(s.ptr, s.len, e->hash_seed, (uint32_t)f->vocab);
    return RT_BAD_NONE;
  case DMC_FEAT_WEIGHTED: {
    if (!s.len) return RT_BAD_NONE;
    char kv = f->kv ? f->kv : ':';
    const char *colon = memchr(s.ptr, kv, s.len);
    RtSlice id = {s.ptr, colon ? (size_t)(colon - s.ptr) : s.len};
    id = trim(id);
    if ((r = id_item(e, i, k, id, col, csv, err))) return (RtBad)r;
    e->rawv[i][k] = 1.0;
    if (colon) {
      RtSlice v = trim((RtSlice){colon + 1, s.len - (size_t)(colon + 1 - s.ptr)});
      return float_value(e, v, 0, &e->rawv[i][k], col, csv, err);
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
      if (f->log1p) x = x < 0 ? -log1p(-x) : log1p(x);
    } else if ((r = float_value(e, s, f->log1p, &x, col, csv, err))) {
      return (RtBad)r;
    }
    e->rawv[i][k] = x;
    return RT_BAD_NONE;
  }
  case DMC_FEAT_LABEL:
    e->empty[i][k] = 0;
    if (!s.len) {
      rt_error(err, "%s:%ld: column %s: empty label", rt_csv_path(csv), rt_csv_line(csv), col);
      return RT_BAD_EMPTY;
    }
    return float_value(e, s, 0, &e->rawv[i][k], col, csv, err);
  case DMC_FEAT_CROSS:
  case DMC_FEAT_NEGATIVE:
    break;
  }
  return RT_BAD_NONE;
}

/* A feature read from one delimited column: its first width items (a longer list is
 * counted with where it was first seen). */
static RtBad parse_list(RtEncoder *e, int i, RtSlice field, const RtCsv *csv, RtError *err) {
  const DmcFeature *f = &e->m->features[i];
  int w = rt_feat_width(f), k = 0;
  int64_t items = 0;
  RtBad r;
  field = trim(field);
  const char *p = field.ptr, *end = field.ptr + field.len;
  e->notes[i].blank += field.len == 0;
  while (field.len && p <= end) {
    const char *q = memchr(p, f->sep, (size_t)(end - p));
    if (!q) q = end;
    if (k < w && (r = parse_item(e, i, k, trim((RtSlice){p, (size_t)(q - p)}), f->columns[0], csv, err)))
      return r;
    if (k < w) k++;
    items++;
    p = q + 1;
  }
  if (items > w) {
    RtEncNotes *n = &e->notes[i];
    if (!n->cut++)
      snprintf(n->cut_at, sizeof n->cut_at, "%s:%ld", rt_csv_path(csv), rt_csv_line(csv));
    if (items > n->cut_len) n->cut_len = items;
  }
  for (; k < w; k++)
    if ((r = parse_item(e, i, k, (RtSlice){"", 0}, f->columns[0], csv, err))) return r;
  return RT_BAD_NONE;
}

/* A pair source (IDCOL:VALCOL): the row's (id, value) into slot 0, the other slots padding.
 * An empty id leaves slot 0 padding too; a present id needs a value. */
static RtBad parse_pair(RtEncoder *e, int i, const RtCsv *csv, RtError *err) {
  const DmcFeature *f = &e->m->features[i];
  int w = rt_feat_width(f);
  RtBad r;
  for (int k = 0; k < w; k++) e->raw[i][k] = 0, e->rawv[i][k] = 0, e->empty[i][k] = 1;
  RtSlice id = trim(rt_csv_field(csv, e->col[e->colbase[i]]));
  if (!id.len) return RT_BAD_NONE;
  e->empty[i][0] = 0;
  if ((r = id_item(e, i, 0, id, f->columns[0], csv, err))) return r;
  if (e->valcol[i] < 0) return RT_BAD_NONE; /* predict: the held-out value column is absent */
  RtSlice v = trim(rt_csv_field(csv, e->valcol[i]));
  if (!v.len) {
    rt_error(err, "%s:%ld: column %s: empty value (feature %s pairs it with %s %.*s)", rt_csv_path(csv),
             rt_csv_line(csv), f->value_column, f->name, f->columns[0], (int)id.len, id.ptr);
    return RT_BAD_EMPTY;
  }
  return float_value(e, v, 0, &e->rawv[i][0], f->value_column, csv, err);
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
  switch (rt_csv_fault(csv, err)) {
  case RT_CSV_FIELDS: return RT_BAD_FIELDS;
  case RT_CSV_LONG: return RT_BAD_LONG;
  default: break;
  }
  for (int i = 0; i < m->nfeatures; i++) {
    const DmcFeature *f = &m->features[i];
    if (!e->active[i] || f->kind == DMC_FEAT_NEGATIVE) continue;
    if (f->kind == DMC_FEAT_CROSS) {
      parse_cross(e, i, csv);
      continue;
    }
    if (f->value_column) {
      if ((r = parse_pair(e, i, csv, err))) return r;
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
      RtSlice v = trim(rt_csv_field(csv, col[k]));
      e->notes[i].blank += f->ncolumns == 1 && !v.len;
      if ((r = parse_item(e, i, k, v, f->columns[k], csv, err))) return r;
    }
  }
  e->row_group = e->group_col >= 0 ? parse_key(trim(rt_csv_field(csv, e->group_col))) : 0;
  if (e->key_col >= 0) {
    RtSlice k = trim(rt_csv_field(csv, e->key_col));
    if (!k.len) {
      rt_error(err, "%s:%ld: column %s: empty group_by key", rt_csv_path(csv), rt_csv_line(csv), m->group_by);
      return RT_BAD_EMPTY;
    }
    e->row_key = parse_key(k);
  }
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
        if (e->empty[i][k] == 1) {
          ids[k] = RT_VOCAB_PAD;
          vals[k] = 0;
          continue;
        }
        /* (2: an id beyond 64 bits, which no vocabulary holds) */
        ids[k] = e->empty[i][k] ? RT_VOCAB_OOV : (int32_t)rt_vocab_lookup(v, e->raw[i][k]);
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
